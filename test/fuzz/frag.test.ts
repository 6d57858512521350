/**
 * Property tests of the IP fragment Reassembler: random fragment streams never throw, the number
 * of pending datagrams never exceeds maxDatagrams, completed datagrams equal a first-wins model,
 * and overlaps with different bytes are reported.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Reassembler, type FragLimits } from '../../engine/decode/frag.js';
import { ANOMALY_NAMES, type AnomalyName } from '../../common/anomalies.js';

const SEED = 4242;
const KNOWN = new Set(Object.keys(ANOMALY_NAMES));

const fragment = fc.record({
  key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
  off: fc.oneof(fc.integer({ min: 0, max: 64 }).map((x) => x * 8), fc.constantFrom(0, 65528, 65520, 1480)),
  more: fc.boolean(),
  data: fc.uint8Array({ maxLength: 120 }),
  header: fc.boolean(),
  dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 20 }), fc.integer({ min: -3, max: 0 })),
});

const limits = fc.record({
  maxDatagrams: fc.integer({ min: 1, max: 5 }),
  maxBytes: fc.integer({ min: 1, max: 2000 }),
  timeoutSec: fc.integer({ min: 1, max: 60 }),
});

function bytesOf(r: Reassembler): number {
  return (r as unknown as { bytes: number }).bytes;
}

describe('Reassembler', () => {
  it('random fragments: never throws, pending datagrams never exceed maxDatagrams, outputs are whole', () => {
    fc.assert(
      fc.property(limits, fc.array(fragment, { maxLength: 80 }), (lim: FragLimits, frags) => {
        const r = new Reassembler(lim);
        const seen: AnomalyName[] = [];
        const an = (n: AnomalyName) => {
          seen.push(n);
        };
        let now = 1000;
        for (const f of frags) {
          now += f.dt;
          const out = r.add(f.key, f.off, f.more, f.data, f.header && f.off === 0 ? Buffer.from([0x45, 0, 0, 0]) : null, now, an);
          expect(r.size).toBeLessThanOrEqual(lim.maxDatagrams);
          expect(bytesOf(r)).toBeGreaterThanOrEqual(0);
          if (out) {
            // a completed datagram ends with the last fragment (M=0) or an earlier one's end
            expect(out.payload.length).toBeLessThanOrEqual(65535);
            if (!f.more) expect(out.payload.length).toBe(f.off + f.data.length);
          }
        }
        r.flush(an);
        expect(r.size).toBe(0);
        expect(bytesOf(r)).toBe(0);
        for (const n of seen) expect(KNOWN.has(n)).toBe(true);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('without limits or timeouts, completed datagrams equal a first-wins model and overlaps are reported', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 40 }), (frags) => {
        const r = new Reassembler({ maxDatagrams: 1000, maxBytes: 1e9, timeoutSec: 1e9 });
        // model: fragments per key since the datagram was last completed or dropped
        const model = new Map<string, { off: number; data: Uint8Array; more: boolean }[]>();
        for (const f of frags) {
          const names: AnomalyName[] = [];
          const out = r.add(f.key, f.off, f.more, f.data, null, 0, (n) => names.push(n));
          const end = f.off + f.data.length;
          if (end > 65535) {
            expect(names).toContain('fragment_too_large');
            expect(out).toBeNull();
            model.delete(f.key);
            continue;
          }
          const parts = model.get(f.key) ?? [];
          // overlap with different bytes is reported
          let differs = false;
          for (const q of parts) {
            const s = Math.max(q.off, f.off);
            const e = Math.min(q.off + q.data.length, end);
            for (let i = s; i < e; i++) if (q.data[i - q.off] !== f.data[i - f.off]) differs = true;
          }
          expect(names.includes('fragment_overlap')).toBe(differs);
          parts.push({ off: f.off, data: f.data, more: f.more });
          model.set(f.key, parts);
          // complete when the last fragment is known and [0, total) is covered
          const last = parts.filter((q) => !q.more);
          if (last.length === 0) {
            expect(out).toBeNull();
            continue;
          }
          const total = last[last.length - 1].off + last[last.length - 1].data.length;
          const covered = new Uint8Array(total);
          const expected = Buffer.alloc(total);
          for (let k = parts.length - 1; k >= 0; k--) {
            const q = parts[k];
            for (let i = 0; i < q.data.length && q.off + i < total; i++) {
              covered[q.off + i] = 1;
              expected[q.off + i] = q.data[i];
            }
          }
          // (the engine also requires fragments beyond a conflicting, shorter end to be contiguous)
          const sorted = parts.slice().sort((x, y) => x.off - y.off);
          let reach = 0;
          let gap = false;
          for (const q of sorted) {
            if (q.off > reach) gap = true;
            reach = Math.max(reach, q.off + q.data.length);
          }
          if (!gap && covered.every((x) => x === 1)) {
            expect(out).not.toBeNull();
            expect(out!.payload.equals(expected)).toBe(true);
            model.delete(f.key);
          } else expect(out).toBeNull();
        }
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  // BUG: Reassembler checks maxBytes only when a new datagram starts; fragments added to an existing
  // datagram (including endless duplicates of the same fragment) are never counted against the
  // limit, so a hostile capture can make one incomplete datagram hold unbounded memory until its
  // timeout. The documented bound ("bounded in datagrams, bytes and time") does not hold.
  it('BUG: bytes held never exceed maxBytes', () => {
    fc.assert(
      fc.property(limits, fc.array(fragment, { maxLength: 80 }), (lim: FragLimits, frags) => {
        const r = new Reassembler(lim);
        let now = 1000;
        for (const f of frags) {
          now += f.dt;
          r.add(f.key, f.off, f.more, f.data, null, now, () => {});
          expect(bytesOf(r)).toBeLessThanOrEqual(lim.maxBytes);
        }
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('the oldest datagram is evicted with fragment_limit_reached, and timed-out ones with fragment_incomplete', () => {
    const r = new Reassembler({ maxDatagrams: 2, maxBytes: 1e6, timeoutSec: 10 });
    const names: string[] = [];
    const an = (n: AnomalyName) => names.push(n);
    r.add('a', 0, true, Buffer.alloc(8), null, 100, an);
    r.add('b', 0, true, Buffer.alloc(8), null, 100, an);
    r.add('c', 0, true, Buffer.alloc(8), null, 100, an);
    expect(names).toEqual(['fragment_limit_reached']);
    expect(r.size).toBe(2);
    // 'a' was evicted: its last fragment alone does not complete it
    expect(r.add('a', 8, false, Buffer.alloc(8), null, 100, an)).toBeNull();
    names.length = 0;
    r.add('z', 0, true, Buffer.alloc(8), null, 200, an); // sweep at t=200: b, c, a are older than 10 s
    expect(names.filter((n) => n === 'fragment_incomplete').length).toBeGreaterThanOrEqual(2);
    expect(r.size).toBe(1);
  });
});
