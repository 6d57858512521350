#!/usr/bin/env node
// GeoIP/ASN lookup benchmark: time to load each database on first use, memory it adds, and
// lookups per second on random global addresses. Run: node --expose-gc bench/geoip-lookup.mjs [n]
//
// engine/geo/geoip.ts and the engine files it imports are transpiled into bench/out/ first (no
// type check, no dist/ build), so the script measures the current sources.
//
// Measured on the 2-core shared build VM, Node 20.20, load average about 3 (100k-300k addresses):
//   IPv4: first lookup 340 ms (city MMDB 40 ms, ASN CSV parse 300 ms); +66 MiB external
//         (60 MiB MMDB file, 6 MiB ranges), +4 MiB heap (75 k AS names, record cache);
//         255-290 k lookups/s.
//   IPv6: first lookup 220 ms (city 50 ms, ASN 170 ms); +72 MiB external, +2.5 MiB heap;
//         410-470 k lookups/s. close() gives the external memory back.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'bench', 'out', 'ts');
const ts = createRequire(import.meta.url)('typescript');

/** Transpile a source file and every relative import it reaches into outDir, same layout. */
function transpileClosure(file, seen = new Set()) {
  if (seen.has(file)) return;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  const target = join(outDir, relative(root, file)).replace(/\.ts$/, '.js');
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, outputText);
  for (const m of source.matchAll(/from '(\.\.?\/[^']+)\.js'/g)) transpileClosure(join(dirname(file), `${m[1]}.ts`), seen);
}

transpileClosure(join(root, 'engine', 'geo', 'geoip.ts'));
const { GeoIp, isGlobalAddress } = await import(pathToFileURL(join(outDir, 'engine', 'geo', 'geoip.js')).href);

const n = Number(process.argv[2] ?? 100_000);
const gc = globalThis.gc ?? (() => {});
const MiB = (b) => (b / 1048576).toFixed(1);

/** Deterministic PRNG (mulberry32) so runs compare. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomAddresses(family, count, rand) {
  const out = [];
  while (out.length < count) {
    let ip;
    if (family === 4) ip = [0, 0, 0, 0].map(() => Math.floor(rand() * 256)).join('.');
    else {
      // Allocated global unicast space is mostly 2001::/16 .. 2c0f::/16; random bits elsewhere.
      const first = 0x2001 + Math.floor(rand() * (0x2c0f - 0x2001));
      const rest = Array.from({ length: 7 }, () => Math.floor(rand() * 65536).toString(16));
      ip = [first.toString(16), ...rest].join(':');
    }
    if (isGlobalAddress(ip)) out.push(ip);
  }
  return out;
}

/** After a full GC and a pause: V8 frees ArrayBuffer memory (the MMDB file) on a background sweep. */
async function memory() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external };
}

const rand = rng(20260605);
const geo = GeoIp.open();
console.log(`| family | first lookup ms, wall (CPU) | loads (ms) | RSS added MiB | heap added MiB | external added MiB | lookups/s | found |`);
console.log(`|---|---|---|---|---|---|---|---|`);
for (const family of [4, 6]) {
  const addrs = randomAddresses(family, n, rand);
  const before = await memory();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  geo.lookup(addrs[0]);
  const first = performance.now() - t0;
  const c0d = process.cpuUsage(c0);
  const after = await memory();
  const loads = geo
    .loadTimings()
    .filter((t) => t.database.endsWith(`ipv${family}`))
    .map((t) => `${t.database} ${t.ms.toFixed(0)}`)
    .join(', ');
  let found = 0;
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  for (const ip of addrs) if (geo.lookup(ip) !== null) found++;
  const c2 = process.cpuUsage(c1);
  const rate = addrs.length / ((performance.now() - t1) / 1000);
  const cpuRate = addrs.length / ((c2.user + c2.system) / 1e6);
  console.log(
    `| IPv${family} | ${first.toFixed(0)} (CPU ${((c0d.user + c0d.system) / 1000).toFixed(0)}) | ${loads} | ${MiB(after.rss - before.rss)} | ${MiB(after.heap - before.heap)} | ` +
      `${MiB(after.external - before.external)} | ${Math.round(rate).toLocaleString('en')} (${Math.round(cpuRate).toLocaleString('en')} per CPU second) | ${found}/${addrs.length} |`,
  );
}
const end = await memory();
geo.close();
const closed = await memory();
console.log(`\nafter close(): RSS ${MiB(closed.rss)} MiB (was ${MiB(end.rss)}), heap ${MiB(closed.heap)} MiB (was ${MiB(end.heap)}), external ${MiB(closed.external)} MiB (was ${MiB(end.external)})`);
