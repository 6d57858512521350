import { describe, expect, it } from 'vitest';
import { ReassemblyBudget, TcpStream, type StreamReceiver } from '../../engine/streams/tcp-reassembler.js';
import type { AnomalyName } from '../../common/anomalies.js';

class Rx implements StreamReceiver {
  parts: string[] = [];
  copies = 0;
  data(b: Uint8Array, s: number, e: number): void {
    this.parts.push(Buffer.from(b.subarray(s, e)).toString('latin1'));
  }
  gap(len: number): void {
    this.parts.push(`<gap ${len}>`);
  }
  get text(): string {
    return this.parts.join('');
  }
}

function setup(limits = { perStream: 1 << 20, total: 1 << 26 }) {
  const rx = new Rx();
  const anomalies: AnomalyName[] = [];
  const budget = new ReassemblyBudget(limits);
  const st = new TcpStream(rx, budget, (n) => anomalies.push(n));
  const send = (seq: number, s: string) => st.segment(seq, Buffer.from(s, 'latin1'), 0, s.length);
  return { rx, anomalies, budget, st, send };
}

describe('TcpStream', () => {
  it('in-order segments are handed over as they are (no copy)', () => {
    const { rx, st } = setup();
    st.syn(999);
    const a = Buffer.from('hello ');
    st.segment(1000, a, 0, a.length);
    st.segment(1006, Buffer.from('world'), 0, 5);
    expect(rx.text).toBe('hello world');
    expect(st.pendingBytes).toBe(0);
  });

  it('reorders out-of-order segments and drops retransmissions', () => {
    const { rx, st, send, anomalies } = setup();
    st.syn(0);
    send(7, 'world');
    send(1, 'hello ');
    send(1, 'hello ');
    send(4, 'lo wo');
    expect(rx.text).toBe('hello world');
    expect(st.retransmitted).toBe(11);
    expect(anomalies).toEqual([]);
  });

  it('first copy wins on an inconsistent overlap, and says so', () => {
    const { rx, st, send, anomalies } = setup();
    st.syn(0);
    send(5, 'EVIL!'); // held: offsets 4..8
    send(5, 'xxxxx'); // differs from the held copy
    send(1, 'abcd');
    expect(rx.text).toBe('abcdEVIL!');
    expect(anomalies).toEqual(['tcp_overlap_inconsistent']);
  });

  it('an in-order segment overlapping held data keeps the held bytes and delivers what lies beyond', () => {
    const { rx, st, send } = setup();
    st.syn(0);
    send(4, 'CD');
    send(1, 'abcdefgh');
    expect(rx.text).toBe('abcCDfgh');
  });

  it('holes become gaps at close', () => {
    const { rx, st, send, anomalies } = setup();
    st.syn(0);
    send(1, 'ab');
    send(6, 'fg');
    st.close();
    expect(rx.text).toBe('ab<gap 3>fg');
    expect(anomalies).toEqual(['tcp_content_gap']);
    expect(st.missing).toBe(3);
  });

  it('over the per-stream limit the hole is skipped early', () => {
    const { rx, st, send, anomalies, budget } = setup({ perStream: 8, total: 1000 });
    st.syn(0);
    send(1, 'ab');
    send(11, '12345');
    send(16, '6789'); // 9 bytes held > 8
    expect(rx.text).toBe('ab<gap 8>123456789');
    expect(anomalies).toEqual(['tcp_reassembly_limit']);
    expect(budget.held).toBe(0);
  });

  it('the total limit is shared by all streams', () => {
    const budget = new ReassemblyBudget({ perStream: 1000, total: 10 });
    const a = new Rx();
    const b = new Rx();
    const sa = new TcpStream(a, budget, () => undefined);
    const sb = new TcpStream(b, budget, () => undefined);
    sa.syn(0);
    sb.syn(0);
    sa.segment(11, Buffer.from('AAAAAA'), 0, 6);
    expect(budget.held).toBe(6);
    sb.segment(11, Buffer.from('BBBBBB'), 0, 6); // 12 > 10: b's own hole is skipped
    expect(b.text).toBe('<gap 10>BBBBBB');
    expect(budget.held).toBe(6);
  });

  it('follows the sequence space across the 2^32 wrap', () => {
    const { rx, st, send } = setup();
    st.syn(0xfffffffd);
    send(0xfffffffe, 'ab');
    send(2, 'ef');
    send(0, 'cd');
    expect(rx.text).toBe('abcdef');
  });
});
