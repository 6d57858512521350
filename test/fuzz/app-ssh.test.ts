/**
 * Properties of the SSH parser: random bytes and mutated real handshakes never throw, give at most
 * one row and leave the parser done after end(); and splitting the same streams at any points
 * (1-byte pieces included) gives exactly the same rows and anomalies as feeding them whole.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createSsh, looksLikeSsh, parseKexinit } from '../../engine/app/ssh.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { tcpConnections } from '../helpers/capture.js';

const PCAPS = new URL('../../../shared/pcaps/', import.meta.url).pathname;

interface Seg {
  dir: Dir;
  bytes: Uint8Array;
  sec: number;
}

/**
 * The TCP payloads of a capture's first SSH connection (the first whose payload starts with
 * "SSH-"), in packet order, duplicates by seq dropped. Direction 0 is the side that sent the SYN.
 */
async function firstConnection(path: string): Promise<Seg[]> {
  const c = (await tcpConnections(path)).find((x) => x.segments.length > 0 && looksLikeSsh(x.segments[0].bytes, 0, x.segments[0].bytes.length));
  if (!c) throw new Error(`${path}: no SSH connection`);
  return c.segments.map((g) => ({ dir: g.dir, bytes: Uint8Array.from(g.bytes), sec: g.sec }));
}

/** Feeds segments, each split at the given cut points (fractions of its length). */
function run(segs: Seg[], cuts: number[][] = [], gaps: { at: number; dir: Dir }[] = []) {
  const sink = new RecordingSink();
  const p = createSsh(sink);
  segs.forEach((s, n) => {
    sink.at(s.sec, 0);
    for (const g of gaps) if (g.at === n) p.gap(g.dir, 10);
    const points = [...new Set((cuts[n] ?? []).map((f) => Math.floor(f * s.bytes.length)))].sort((a, b) => a - b);
    let prev = 0;
    for (const c of [...points, s.bytes.length]) {
      if (c <= prev) continue;
      // a fresh copy per piece: the parser must not keep views of bytes it was handed
      const piece = Uint8Array.from(s.bytes.subarray(prev, c));
      p.data(s.dir, piece, 0, piece.length);
      piece.fill(0xee);
      prev = c;
    }
  });
  p.end();
  expect(p.done).toBe(true);
  return { rows: sink.table('ssh'), anomalies: sink.anomalies, services: sink.services };
}

function bytewise(segs: Seg[]) {
  return run(segs, segs.map((s) => Array.from({ length: s.bytes.length }, (_, i) => i / s.bytes.length)));
}

const HANDSHAKES = [
  'protocols/ssh/sv_ssh-hassh.pcap',
  'protocols/ssh/td_ssh.pcap',
  'protocols/ssh/zeek_ssh_single-conn.pcap',
  'protocols/ssh/ja4_sshv1.pcap',
];

describe('ssh parser properties', () => {
  const real: Seg[][] = [];
  beforeAll(async () => {
    for (const f of HANDSHAKES) {
      // only the clear-text start matters; keep the tests quick
      real.push((await firstConnection(PCAPS + f)).slice(0, 12));
    }
  });

  it('real handshakes fed one byte at a time give the same rows as whole segments', () => {
    for (const segs of real) {
      const whole = run(segs);
      expect(whole.rows).toHaveLength(1);
      expect(bytewise(segs)).toEqual(whole);
    }
  });

  it('random split points never change the result', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: HANDSHAKES.length - 1 }),
        fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), { maxLength: 12 }),
        (which, cuts) => {
          const segs = real[which];
          expect(run(segs, cuts)).toEqual(run(segs));
        },
      ),
      { seed: 0x55a1, numRuns: 200 },
    );
  });

  it('mutated real handshakes never throw, give at most one row, and split the same way', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: HANDSHAKES.length - 1 }),
        fc.array(fc.record({ seg: fc.nat(11), pos: fc.nat(), val: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 6 }),
        fc.option(fc.record({ seg: fc.nat(11), keep: fc.double({ min: 0, max: 1, noNaN: true }) })),
        fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }), { maxLength: 12 }),
        fc.array(fc.record({ at: fc.nat(11), dir: fc.constantFrom<Dir>(0, 1) }), { maxLength: 2 }),
        (which, flips, cut, cuts, gaps) => {
          const segs = real[which].map((s) => ({ ...s, bytes: Uint8Array.from(s.bytes) }));
          for (const f of flips) {
            const s = segs[f.seg % segs.length];
            if (s.bytes.length > 0) s.bytes[f.pos % s.bytes.length] = f.val;
          }
          if (cut) {
            const s = segs[cut.seg % segs.length];
            s.bytes = s.bytes.subarray(0, Math.floor(cut.keep * s.bytes.length));
          }
          const whole = run(segs, [], gaps);
          expect(whole.rows.length).toBeLessThanOrEqual(1);
          expect(run(segs, cuts, gaps)).toEqual(whole);
        },
      ),
      { seed: 0x55a2, numRuns: 400 },
    );
  });

  it('random bytes in both directions never throw and split the same way', () => {
    const seg = fc.record({
      dir: fc.constantFrom<Dir>(0, 1),
      // half of the streams start like SSH so that the packet parser gets random input too
      bytes: fc.tuple(fc.boolean(), fc.uint8Array({ maxLength: 600 })).map(([ssh, b]) =>
        ssh ? Uint8Array.from([...Buffer.from('SSH-2.0-x\r\n'), ...b]) : b,
      ),
      sec: fc.constant(1),
    });
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }), { maxLength: 8 }), (segs, cuts) => {
        const whole = run(segs);
        expect(whole.rows.length).toBeLessThanOrEqual(1);
        expect(run(segs, cuts)).toEqual(whole);
      }),
      { seed: 0x55a3, numRuns: 400 },
    );
  });

  it('random streams shaped as banner + length-prefixed packets never throw', () => {
    const pkt = fc.tuple(fc.integer({ min: 0, max: 40000 }), fc.uint8Array({ maxLength: 300 })).map(([len, body]) => {
      const b = Buffer.alloc(4 + body.length);
      b.writeUInt32BE(len);
      b.set(body, 4);
      return b;
    });
    fc.assert(
      fc.property(fc.constantFrom('SSH-2.0-a\r\n', 'SSH-1.99-a\r\n', 'SSH-1.5-a\n'), fc.array(pkt, { maxLength: 4 }), (banner, pkts) => {
        const segs: Seg[] = [
          { dir: 1, bytes: Buffer.concat([Buffer.from(banner), ...pkts]), sec: 1 },
          { dir: 0, bytes: Buffer.concat([Buffer.from('SSH-2.0-b\r\n'), ...pkts.reverse()]), sec: 2 },
        ];
        expect(run(segs, [[0.3, 0.6], [0.5]])).toEqual(run(segs));
      }),
      { seed: 0x55a4, numRuns: 300 },
    );
  });

  it('parseKexinit and looksLikeSsh never throw on random bytes and ranges', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.integer({ min: -5, max: 405 }), fc.integer({ min: -5, max: 405 }), (b, s, e) => {
        const k = parseKexinit(b, s, e);
        if (k !== null) expect(typeof k.kex).toBe('string');
        expect(typeof looksLikeSsh(b, s, e)).toBe('boolean');
      }),
      { seed: 0x55a5, numRuns: 500 },
    );
  });
});
