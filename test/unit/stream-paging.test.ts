/**
 * Follow-stream pages: whatever the page size, the pages put together are the whole stream. A page
 * ends only where nothing is held: no out-of-order TCP bytes, and no fragments of an IP datagram
 * still waiting for the rest (the next page starts a fresh reassembler after the cursor).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { followStream } from '../../engine/services/stream.js';
import { F, eth, ipv4, pcapFile, tcp } from '../fixtures/build.js';

const C = { src: '10.0.0.1', dst: '10.0.0.2' };
const S = { src: '10.0.0.2', dst: '10.0.0.1' };
const toServer = (payload: Buffer, seq: number, flags: number = F.ACK | F.PSH) => tcp(payload, { sport: 40000, dport: 80, seq, ack: 5001, flags });
const toClient = (payload: Buffer, seq: number, flags: number = F.ACK | F.PSH) => tcp(payload, { sport: 80, dport: 40000, seq, ack: 1001, flags });

/**
 * A connection whose client sends one segment as two IP fragments, with a server segment between
 * them: a page boundary after that server segment would fall inside the datagram.
 */
function capture(between = 1): Buffer {
  const big = toServer(Buffer.alloc(200, 0x43), 1101); // "C" x 200, split below
  const frag1 = big.subarray(0, 80);
  const frag2 = big.subarray(80);
  // "D" x 30 per server segment between the fragments
  const middle = Array.from({ length: between }, (_, i) => ipv4(toClient(Buffer.alloc(30, 0x44), 5051 + 30 * i), S));
  const frames = [
    ipv4(tcp(Buffer.alloc(0), { sport: 40000, dport: 80, seq: 1000, flags: F.SYN }), C),
    ipv4(tcp(Buffer.alloc(0), { sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: F.SYN | F.ACK }), S),
    ipv4(toServer(Buffer.alloc(0), 1001, F.ACK), C),
    ipv4(toServer(Buffer.alloc(100, 0x41), 1001), C), // "A" x 100
    ipv4(toClient(Buffer.alloc(50, 0x42), 5001), S), // "B" x 50
    ipv4(frag1, { ...C, id: 0x99, mf: true, fragOff: 0 }),
    ...middle,
    ipv4(frag2, { ...C, id: 0x99, fragOff: 80 }),
    ipv4(toClient(Buffer.alloc(10, 0x45), 5051 + 30 * between), S), // "E" x 10
  ];
  return pcapFile({}, frames.map((f, i) => ({ tsSec: 1_700_000_000, tsFrac: i * 1000, data: eth(f) })));
}

async function follow(store: CaseStore, uid: string, maxBytes: number): Promise<{ text: string[]; pages: number }> {
  const parts: string[][] = [[], []];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page = await followStream(store, uid, { maxBytes, cursor });
    for (const c of page.chunks) parts[c.dir].push(c.data ? c.data.toString('latin1') : `[gap ${c.gap}]`);
    cursor = page.next;
    pages++;
  } while (cursor !== null && pages < 1000);
  return { text: parts.map((p) => p.join('')), pages };
}

describe('follow-stream pages', () => {
  it('never split a fragmented datagram: every page size gives the whole stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-pages-'));
    const file = join(dir, 'frag-between.pcap');
    writeFileSync(file, capture());
    await analyze({ files: [file], caseDir: join(dir, 'case') });
    const store = await CaseStore.openReadOnly(join(dir, 'case'));
    try {
      const flows = await store.query(`SELECT uid FROM flows WHERE proto = 'tcp'`);
      expect(flows.rows).toHaveLength(1);
      const uid = String(flows.rows[0].uid);
      const whole = await follow(store, uid, 1 << 20);
      expect(whole.pages).toBe(1);
      expect(whole.text).toEqual(['A'.repeat(100) + 'C'.repeat(200), 'B'.repeat(50) + 'D'.repeat(30) + 'E'.repeat(10)]);
      for (const maxBytes of [1, 30, 50, 100, 120, 150, 180, 200]) {
        const paged = await follow(store, uid, maxBytes);
        expect({ maxBytes, text: paged.text }).toEqual({ maxBytes, text: whole.text });
      }
    } finally {
      await store.close();
    }
  });

  it('fragments far apart (300 and 1,000 packets): the next page starts at the first fragment, nothing is lost', async () => {
    for (const between of [300, 1000]) {
      const dir = mkdtempSync(join(tmpdir(), 'ic-pages-'));
      const file = join(dir, 'frag-far.pcap');
      writeFileSync(file, capture(between));
      await analyze({ files: [file], caseDir: join(dir, 'case') });
      const store = await CaseStore.openReadOnly(join(dir, 'case'));
      try {
        const uid = String((await store.query(`SELECT uid FROM flows WHERE proto = 'tcp'`)).rows[0].uid);
        const whole = await follow(store, uid, 1 << 20);
        expect(whole.text).toEqual(['A'.repeat(100) + 'C'.repeat(200), 'B'.repeat(50) + 'D'.repeat(30 * between) + 'E'.repeat(10)]);
        for (const maxBytes of [1, 100, 1000]) {
          const paged = await follow(store, uid, maxBytes);
          expect({ between, maxBytes, text: paged.text }).toEqual({ between, maxBytes, text: whole.text });
        }
      } finally {
        await store.close();
      }
    }
  });

  it('a fragment that never completes is not in the flow (packet index flow 0), so pages keep their size', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-pages-'));
    const file = join(dir, 'stray.pcap');
    const frames = [
      ipv4(tcp(Buffer.alloc(0), { sport: 40000, dport: 80, seq: 1000, flags: F.SYN }), C),
      ipv4(tcp(Buffer.alloc(0), { sport: 80, dport: 40000, seq: 5000, ack: 1001, flags: F.SYN | F.ACK }), S),
      // the first fragment of a datagram whose rest never comes
      ipv4(toServer(Buffer.alloc(100, 0x58), 1001).subarray(0, 40), { ...C, id: 0x77, mf: true, fragOff: 0 }),
    ];
    for (let i = 0; i < 600; i++) frames.push(ipv4(toClient(Buffer.alloc(10, 0x61 + (i % 26)), 5001 + 10 * i), S));
    writeFileSync(file, pcapFile({}, frames.map((f, i) => ({ tsSec: 1_700_000_000, tsFrac: i, data: eth(f) }))));
    await analyze({ files: [file], caseDir: join(dir, 'case') });
    const store = await CaseStore.openReadOnly(join(dir, 'case'));
    try {
      const uid = String((await store.query(`SELECT uid FROM flows WHERE proto = 'tcp'`)).rows[0].uid);
      const whole = await follow(store, uid, 1 << 20);
      const paged = await follow(store, uid, 100);
      expect(paged.text).toEqual(whole.text);
      expect(whole.text[1]).toHaveLength(6000);
      expect(paged.pages).toBe(60);
      expect(await store.query(`SELECT flow_id::INT AS f FROM packets WHERE packet_no = 3`)).toMatchObject({ rows: [{ f: 0 }] });
    } finally {
      await store.close();
    }
  });
});
