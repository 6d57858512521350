#!/usr/bin/env node
// DNS message parser benchmark: parseDnsMessage over every UDP payload of a capture (ports are not
// checked: use a capture of DNS traffic), best of 12 passes. Measures the compiled dist/ (run
// `npm run build` first); pass another checkout's root as REPO to compare two versions.
//
//   node bench/dns-parse.mjs FILE.pcap [REPO]
//
// Measured on the 2-core shared build VM, Node 20.20, on the DNS part of the 1 GB workload
// (`tcpdump -r workload-1g.pcap -w dns.pcap 'udp port 53'`, 115,440 messages): 306-321 ns a
// message before record owners that point to the question took its text, 277-287 ns after
// (commit c7d1cea).
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const [file, repoArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/dns-parse.mjs FILE.pcap [REPO]');
  process.exit(2);
}
const repo = resolve(repoArg ?? join(dirname(fileURLToPath(import.meta.url)), '..'));
const load = (p) => import(pathToFileURL(join(repo, 'dist', p)).href);
const { parseDnsMessage } = await load('engine/app/dns.js');
const { openCapture } = await load('engine/readers/open.js');
const { decodePacket, Decoded } = await load('engine/decode/packet.js');
const { Reassembler } = await load('engine/decode/frag.js');

const r = await openCapture(file);
const d = new Decoded();
const ctx = { frag: new Reassembler(), now: 0 };
const msgs = [];
for (;;) {
  const p = r.next();
  if (p === null) {
    if (r.done) break;
    await r.fill();
    continue;
  }
  if (decodePacket(p, d, ctx) && d.proto === 17 && d.payloadCaptured > 0) msgs.push(Uint8Array.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured)));
}
await r.close();
const ignore = () => {};
let best = Infinity;
for (let pass = 0; pass < 12; pass++) {
  const t = performance.now();
  for (const m of msgs) parseDnsMessage(m, 0, m.length, ignore);
  best = Math.min(best, performance.now() - t);
}
console.log(`${repo}: ${msgs.length} messages, best pass ${best.toFixed(1)} ms, ${((best * 1e6) / Math.max(1, msgs.length)).toFixed(0)} ns a message`);
