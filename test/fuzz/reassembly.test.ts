/**
 * Properties of TCP stream reassembly: whatever the order, duplication, overlap and splitting of
 * segments, each stream position is delivered once, in order, with the bytes of the first segment
 * that carried it; positions no segment carried are reported as gaps of the right size.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReassemblyBudget, TcpStream, type StreamReceiver } from '../../engine/streams/tcp-reassembler.js';
import type { AnomalyName } from '../../common/anomalies.js';

class Collect implements StreamReceiver {
  out: (number | null)[] = [];
  data(b: Uint8Array, s: number, e: number): void {
    for (let i = s; i < e; i++) this.out.push(b[i]);
  }
  gap(len: number): void {
    for (let i = 0; i < len; i++) this.out.push(null);
  }
}

interface Seg {
  off: number;
  len: number;
  fill: number; // byte value offset: segments with different fills carry different bytes
}

const seg = (max: number) =>
  fc.record({ off: fc.integer({ min: 0, max: max - 1 }), len: fc.integer({ min: 1, max: 300 }), fill: fc.integer({ min: 0, max: 3 }) });

function bytesOf(s: Seg, base: Uint8Array): Uint8Array {
  const b = new Uint8Array(s.len);
  for (let i = 0; i < s.len; i++) b[i] = (base[(s.off + i) % base.length] + s.fill) & 255;
  return b;
}

/** First arrival of each position wins; positions never carried are null (a gap) up to the last carried one. */
function reference(segs: Seg[], base: Uint8Array, start: number): (number | null)[] {
  const ref = new Map<number, number>();
  let last = -1;
  for (const s of segs) {
    const b = bytesOf(s, base);
    for (let i = 0; i < s.len; i++) {
      const p = s.off + i;
      if (p < start) continue;
      if (!ref.has(p)) ref.set(p, b[i]);
      last = Math.max(last, p);
    }
  }
  const out: (number | null)[] = [];
  for (let p = start; p <= last; p++) out.push(ref.has(p) ? ref.get(p)! : null);
  return out;
}

describe('TcpStream properties', () => {
  const base = Uint8Array.from({ length: 997 }, (_, i) => (i * 31 + 7) & 255);

  it('delivers first-arrival bytes in order, gaps where nothing arrived, across sequence wrap', () => {
    fc.assert(
      fc.property(fc.array(seg(4000), { minLength: 1, maxLength: 60 }), fc.integer({ min: 0, max: 0xffffffff }), (segs, isn) => {
        const rx = new Collect();
        const anomalies: AnomalyName[] = [];
        const st = new TcpStream(rx, new ReassemblyBudget({ perStream: 1 << 30, total: 1 << 30 }), (n) => anomalies.push(n));
        st.syn(isn);
        for (const s of segs) {
          const b = bytesOf(s, base);
          st.segment((isn + 1 + s.off) >>> 0, b, 0, b.length);
        }
        st.close();
        // with a SYN, the stream starts at offset 0
        expect(rx.out).toEqual(reference(segs, base, 0));
        const inconsistent = anomalies.includes('tcp_overlap_inconsistent');
        if (!segs.some((a) => a.fill !== segs[0].fill)) expect(inconsistent).toBe(false);
      }),
      { seed: 0x7c9, numRuns: 400 },
    );
  });

  it('without a SYN the stream starts at the first segment seen', () => {
    fc.assert(
      fc.property(fc.array(seg(3000), { minLength: 1, maxLength: 40 }), (segs) => {
        const rx = new Collect();
        const st = new TcpStream(rx, new ReassemblyBudget(), () => undefined);
        const isn = 0xfffff000;
        for (const s of segs) {
          const b = bytesOf(s, base);
          st.segment((isn + s.off) >>> 0, b, 0, b.length);
        }
        st.close();
        expect(rx.out).toEqual(reference(segs, base, segs[0].off));
      }),
      { seed: 0x7ca, numRuns: 300 },
    );
  });

  it('held bytes never exceed the per-stream limit by more than one segment, and the budget returns to 0', () => {
    fc.assert(
      fc.property(fc.array(seg(20000), { minLength: 1, maxLength: 80 }), (segs) => {
        const rx = new Collect();
        const budget = new ReassemblyBudget({ perStream: 2000, total: 1 << 30 });
        const st = new TcpStream(rx, budget, () => undefined);
        st.syn(100);
        for (const s of segs) {
          const b = bytesOf(s, base);
          st.segment((101 + s.off) >>> 0, b, 0, b.length);
          expect(st.pendingBytes).toBeLessThanOrEqual(2000);
        }
        st.close();
        expect(budget.held).toBe(0);
        expect(st.pendingBytes).toBe(0);
        // every position is delivered at most once and in order: output length = last offset + 1
        const last = Math.max(...segs.map((s) => s.off + s.len - 1));
        expect(rx.out.length).toBeLessThanOrEqual(last + 1);
      }),
      { seed: 0x7cb, numRuns: 300 },
    );
  });
});
