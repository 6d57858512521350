/**
 * Flow tracker: synthetic conversations (frames built in code, decoded by decodePacket) and the
 * Zeek conn.log values they must produce: conn_state, history, orig/resp roles and flips,
 * sequence-space byte counts, packet and IP byte counts, timers (inactivity, attempt, reuse).
 */
import { describe, expect, it } from 'vitest';
import { Decoded, decodePacket } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { DEFAULT_FLOW_CONFIG, FlowTracker, type Flow, type FlowConfig } from '../../engine/flows/tracker.js';
import { tcpConnState, udpConnState, icmpCounterpart, TcpState } from '../../engine/flows/connstate.js';
import { F, eth, icmp, ipv4, ipv6, rawPacket, tcp, udp } from '../fixtures/build.js';

const CLIENT = '10.0.0.1';
const SERVER = '10.0.0.2';
const CPORT = 40000;

/** A conversation between CLIENT:CPORT and SERVER:sport, fed packet by packet to one tracker. */
class Conv {
  readonly flows: Flow[] = [];
  readonly tracker: FlowTracker;
  private readonly d = new Decoded();
  private readonly ctx = { frag: new Reassembler(), now: 0 };
  /** Packet time in nanoseconds since the epoch. */
  t = 1_700_000_000_000_000_000n;
  readonly ids: number[] = [];
  constructor(
    readonly sport = 80,
    cfg: Partial<FlowConfig> = {},
    readonly v6 = false,
  ) {
    this.tracker = new FlowTracker((f) => this.flows.push(f), 1, { ...DEFAULT_FLOW_CONFIG, ...cfg });
  }

  private ip(l4: Buffer, fromClient: boolean, proto: number): Buffer {
    if (this.v6) {
      return eth(ipv6(l4, { src: fromClient ? '2001:db8::1' : '2001:db8::2', dst: fromClient ? '2001:db8::2' : '2001:db8::1', nh: proto }), 0x86dd, {
        src: fromClient ? '02:00:00:00:00:01' : '02:00:00:00:00:02',
      });
    }
    return eth(ipv4(l4, { src: fromClient ? CLIENT : SERVER, dst: fromClient ? SERVER : CLIENT, proto }), 0x0800, {
      src: fromClient ? '02:00:00:00:00:01' : '02:00:00:00:00:02',
      tags: [{ tpid: 0x8100, vid: 42 }],
    });
  }

  feed(frame: Buffer, dtSec: number): number {
    this.t += BigInt(Math.round(dtSec * 1e9));
    const sec = Number(this.t / 1_000_000_000n);
    const ns = Number(this.t % 1_000_000_000n);
    this.ctx.now = sec;
    expect(decodePacket(rawPacket(frame), this.d, this.ctx)).toBe(true);
    const id = this.tracker.packet(this.d, sec, ns, 1, this.ids.length + 1, frame);
    this.ids.push(id);
    return id;
  }

  /** A TCP segment from the client (`c`) or the server; payload of `len` bytes. */
  tcp(fromClient: boolean, flags: number, seq: number, ack: number, len = 0, dt = 0.01, win = 65535): number {
    const l4 = tcp(Buffer.alloc(len, 0x61), {
      sport: fromClient ? CPORT : this.sport,
      dport: fromClient ? this.sport : CPORT,
      seq,
      ack,
      flags,
      win,
    });
    return this.feed(this.ip(l4, fromClient, 6), dt);
  }

  udp(fromClient: boolean, len: number, dt = 0.01): number {
    const l4 = udp(Buffer.alloc(len, 0x62), { sport: fromClient ? CPORT : this.sport, dport: fromClient ? this.sport : CPORT });
    return this.feed(this.ip(l4, fromClient, 17), dt);
  }

  icmp(fromClient: boolean, type: number, len: number, dt = 0.01): number {
    return this.feed(this.ip(icmp(this.v6 ? type : type, 0, Buffer.alloc(len)), fromClient, this.v6 ? 58 : 1), dt);
  }

  finish(): Flow[] {
    this.tracker.finish();
    return this.flows;
  }
}

const C = true;
const S = false;
const A = F.ACK;
const PA = F.PSH | F.ACK;
const FA = F.FIN | F.ACK;

function one(c: Conv): Flow {
  const fl = c.finish();
  expect(fl.length).toBe(1);
  return fl[0];
}

describe('TCP conn_state and history (Zeek conn.log)', () => {
  it('handshake, data both ways, FIN both ways -> SF, history ShADadFf, byte counts from sequence numbers', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(C, PA, 1001, 5001, 100);
    c.tcp(S, A, 5001, 1101);
    c.tcp(S, PA, 5001, 1101, 200);
    c.tcp(C, FA, 1101, 5201);
    c.tcp(S, FA, 5201, 1102);
    c.tcp(C, A, 1102, 5202);
    const f = one(c);
    expect(f.history).toBe('ShADadFf');
    expect(f.connState).toBe('SF');
    expect([f.proto, f.origH, f.origP, f.respH, f.respP]).toEqual(['tcp', CLIENT, CPORT, SERVER, 80]);
    expect([f.origBytes, f.respBytes]).toEqual([100, 200]);
    expect([f.o.pkts, f.r.pkts]).toEqual([5, 4]);
    expect([f.o.ipBytes, f.r.ipBytes]).toEqual([40 * 4 + 140, 40 * 3 + 240]);
    expect([f.vlan, f.o.mac, f.r.mac]).toEqual([42, '02:00:00:00:00:01', '02:00:00:00:00:02']);
    // the last ACK after both FINs does not extend the connection (Zeek stops updating last_time once both sides closed)
    expect(f.duration).toBeCloseTo(0.07, 9);
    expect([f.synCount, f.finCount, f.ackCount]).toEqual([2, 2, 8]);
    expect(new Set(c.ids)).toEqual(new Set([f.id]));
  });

  it('SYN only -> S0, history S', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    const f = one(c);
    expect([f.connState, f.history, f.origBytes, f.respBytes, f.r.pkts]).toEqual(['S0', 'S', 0, 0, 0]);
  });

  it('SYN answered by RST-ACK -> REJ, history Sr', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.RST | A, 0, 1001);
    const f = one(c);
    expect([f.connState, f.history, f.origBytes, f.respBytes]).toEqual(['REJ', 'Sr', 0, 0]);
  });

  it('handshake then originator RST -> RSTO (ShAR); responder RST -> RSTR (ShAr)', () => {
    const a = new Conv();
    a.tcp(C, F.SYN, 1000, 0);
    a.tcp(S, F.SYN | A, 5000, 1001);
    a.tcp(C, A, 1001, 5001);
    a.tcp(C, F.RST, 1001, 0);
    const fa = one(a);
    expect([fa.connState, fa.history]).toEqual(['RSTO', 'ShAR']);
    const b = new Conv();
    b.tcp(C, F.SYN, 1000, 0);
    b.tcp(S, F.SYN | A, 5000, 1001);
    b.tcp(C, A, 1001, 5001);
    b.tcp(S, F.RST | A, 5001, 1001);
    const fb = one(b);
    expect([fb.connState, fb.history]).toEqual(['RSTR', 'ShAr']);
  });

  it('SYN then originator RST, no answer -> RSTOS0 (SR); SYN then FIN -> SH (SF)', () => {
    const a = new Conv();
    a.tcp(C, F.SYN, 1000, 0);
    a.tcp(C, F.RST, 1001, 0);
    expect([one(a).connState, a.flows[0].history]).toEqual(['RSTOS0', 'SR']);
    const b = new Conv();
    b.tcp(C, F.SYN, 1000, 0);
    b.tcp(C, F.FIN, 1001, 0);
    expect([one(b).connState, b.flows[0].history]).toEqual(['SH', 'SF']);
  });

  it('established with no close -> S1 (ShA); originator closes only -> S2; responder closes only -> S3', () => {
    const a = new Conv();
    a.tcp(C, F.SYN, 1000, 0);
    a.tcp(S, F.SYN | A, 5000, 1001);
    a.tcp(C, A, 1001, 5001);
    expect([one(a).connState, a.flows[0].history]).toEqual(['S1', 'ShA']);
    const b = new Conv();
    b.tcp(C, F.SYN, 1000, 0);
    b.tcp(S, F.SYN | A, 5000, 1001);
    b.tcp(C, A, 1001, 5001);
    b.tcp(C, FA, 1001, 5001);
    expect([one(b).connState, b.flows[0].history]).toEqual(['S2', 'ShAF']);
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(S, FA, 5001, 1001);
    expect([one(c).connState, c.flows[0].history]).toEqual(['S3', 'ShAf']);
  });

  it('mid-stream pickup (no SYN seen) -> OTH, history Da, bytes still counted', () => {
    const c = new Conv();
    c.tcp(C, PA, 777_000, 888_000, 50);
    c.tcp(S, A, 888_000, 777_050);
    const f = one(c);
    expect([f.connState, f.history, f.origH, f.origP]).toEqual(['OTH', 'Da', CLIENT, CPORT]);
    expect(f.origBytes).toBe(50);
  });

  it('a SYN-ACK seen first from port 80 flips the roles: history ^h, the client is the originator', () => {
    const c = new Conv();
    c.tcp(S, F.SYN | A, 5000, 1001);
    const f = one(c);
    expect([f.history, f.connState, f.origH, f.origP, f.respH, f.respP]).toEqual(['^h', 'OTH', CLIENT, CPORT, SERVER, 80]);
    expect([f.o.pkts, f.r.pkts]).toEqual([0, 1]);
  });

  it('responder SYN-ACK then RST, no SYN seen -> RSTRH (^hr); SYN-ACK then FIN -> SHR (^hf)', () => {
    const a = new Conv();
    a.tcp(S, F.SYN | A, 5000, 1001);
    a.tcp(S, F.RST | A, 5001, 1001);
    const fa = one(a);
    expect([fa.connState, fa.history, fa.origH]).toEqual(['RSTRH', '^hr', CLIENT]);
    const b = new Conv();
    b.tcp(S, F.SYN | A, 5000, 1001);
    b.tcp(S, FA, 5001, 1001);
    const fb = one(b);
    expect([fb.connState, fb.history]).toEqual(['SHR', '^hf']);
  });

  it('a SYN-ACK first between two unknown ports is not flipped (H)', () => {
    const c = new Conv(5555);
    c.tcp(S, F.SYN | A, 5000, 1001);
    const f = one(c);
    expect([f.history, f.origH, f.origP]).toEqual(['H', SERVER, 5555]);
  });

  it('orig_bytes is the acknowledged sequence span, not the captured payload (a 100-byte gap counts)', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(C, PA, 1001, 5001, 100); // bytes 1..100
    c.tcp(C, PA, 1201, 5001, 100); // bytes 201..300: 101..200 never captured
    c.tcp(S, A, 5001, 1301);
    c.tcp(C, FA, 1301, 5001);
    c.tcp(S, FA, 5001, 1302);
    const f = one(c);
    expect(f.connState).toBe('SF');
    expect([f.origBytes, f.respBytes]).toEqual([300, 0]);
  });

  it('a retransmitted segment adds T to the history and does not count twice', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(C, PA, 1001, 5001, 100);
    c.tcp(C, PA, 1001, 5001, 100);
    c.tcp(S, A, 5001, 1101);
    const f = one(c);
    expect(f.history).toBe('ShADTa');
    expect(f.origBytes).toBe(100);
  });

  it('a zero window adds W', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(S, A, 5001, 1001, 0, 0.01, 0);
    expect(one(c).history).toBe('ShAaw');
  });

  it('IPv6 TCP flow: addresses in RFC 5952 form', () => {
    const c = new Conv(443, {}, true);
    c.tcp(C, F.SYN, 1, 0);
    c.tcp(S, F.SYN | A, 9, 2);
    const f = one(c);
    expect([f.ipVersion, f.origH, f.respH, f.respP, f.history, f.vlan]).toEqual([6, '2001:db8::1', '2001:db8::2', 443, 'Sh', -1]);
  });
});

describe('TCP flow boundaries', () => {
  it('a new SYN with another ISN after a closed connection starts a new flow (reuse)', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    c.tcp(C, FA, 1001, 5001);
    c.tcp(S, FA, 5001, 1002);
    const id1 = c.ids[0];
    const id2 = c.tcp(C, F.SYN, 90_000, 0, 0, 1);
    expect(id2).not.toBe(id1);
    const fl = c.finish();
    expect(fl.map((f) => [f.id, f.connState, f.history, f.endReason])).toEqual([
      [id1, 'SF', 'ShAFf', 'reuse'],
      [id2, 'S0', 'S', 'eof'],
    ]);
  });

  it('an unanswered SYN ends as an attempt after the attempt delay', () => {
    const c = new Conv();
    const a = c.tcp(C, F.SYN, 1000, 0);
    const b = c.tcp(C, F.SYN, 1000, 0, 0, 6); // retransmitted SYN 6 s later
    expect(b).not.toBe(a);
    const fl = c.finish();
    expect(fl.map((f) => [f.connState, f.endReason])).toEqual([
      ['S0', 'attempt'],
      ['S0', 'eof'],
    ]);
  });

  it('inactivity timeout splits a TCP connection only after tcpInactivitySec once established', () => {
    const c = new Conv(80, { tcpInactivitySec: 100 });
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    const same = c.tcp(C, PA, 1001, 5001, 10, 99);
    expect(same).toBe(c.ids[0]);
    const next = c.tcp(C, PA, 1011, 5001, 10, 101);
    expect(next).not.toBe(c.ids[0]);
    const fl = c.finish();
    expect(fl.map((f) => f.endReason)).toEqual(['idle', 'eof']);
    expect(fl[1].history).toBe('D');
  });
});

describe('UDP and ICMP', () => {
  it('UDP request and response -> SF, history Dd, payload bytes', () => {
    const c = new Conv(53);
    c.udp(C, 30);
    c.udp(S, 120);
    const f = one(c);
    expect([f.proto, f.connState, f.history, f.origBytes, f.respBytes, f.origP, f.respP]).toEqual(['udp', 'SF', 'Dd', 30, 120, CPORT, 53]);
    expect([f.o.ipBytes, f.r.ipBytes]).toEqual([20 + 8 + 30, 20 + 8 + 120]);
  });

  it('one-way UDP -> S0, history D; a lone response from a server port is flipped -> SHR, ^d', () => {
    const a = new Conv(53);
    a.udp(C, 30);
    a.udp(C, 30);
    const fa = one(a);
    expect([fa.connState, fa.history, fa.o.pkts, fa.origBytes]).toEqual(['S0', 'D', 2, 60]);
    const b = new Conv(53);
    b.udp(S, 100);
    const fb = one(b);
    expect([fb.connState, fb.history, fb.origH, fb.origP, fb.respP]).toEqual(['SHR', '^d', CLIENT, CPORT, 53]);
  });

  it('UDP inactivity timeout splits a flow (60 s default)', () => {
    const c = new Conv(5000);
    c.udp(C, 10);
    c.udp(S, 10, 59);
    c.udp(C, 10, 61);
    const fl = c.finish();
    expect(fl.map((f) => [f.history, f.connState, f.o.pkts + f.r.pkts, f.endReason])).toEqual([
      ['Dd', 'SF', 2, 'idle'],
      ['D', 'S0', 1, 'eof'],
    ]);
    expect(fl[1].startSec - fl[0].startSec).toBe(120);
  });

  it('ICMP echo request and reply share one flow: orig_p 8, resp_p 0, payload bytes', () => {
    const c = new Conv();
    const a = c.icmp(C, 8, 56);
    const b = c.icmp(S, 0, 56);
    expect(a).toBe(b);
    const f = one(c);
    expect([f.proto, f.origH, f.origP, f.respH, f.respP, f.connState, f.history]).toEqual(['icmp', CLIENT, 8, SERVER, 0, 'OTH', '']);
    expect([f.o.pkts, f.r.pkts, f.origBytes, f.respBytes]).toEqual([1, 1, 56, 56]);
  });

  it('ICMPv6 echo request/reply (128/129) share a flow; one-way messages (destination unreachable) do not pair', () => {
    const c = new Conv(80, {}, true);
    c.icmp(C, 128, 8);
    c.icmp(S, 129, 8);
    c.icmp(S, 1, 8);
    const fl = c.finish();
    expect(fl.map((f) => [f.origP, f.respP, f.o.pkts, f.r.pkts]).sort()).toEqual([
      [1, 0, 1, 0],
      [128, 129, 1, 1],
    ]);
  });

  it('packets without a flow (ARP, held fragments) return 0', () => {
    const c = new Conv();
    expect(c.feed(eth(Buffer.alloc(28), 0x0806), 0)).toBe(0);
    expect(c.feed(eth(ipv4(Buffer.alloc(16), { proto: 17, mf: true })), 0)).toBe(0);
    expect(c.finish()).toEqual([]);
  });
});

describe('flow table limit', () => {
  it('beyond maxFlows the oldest flow is ended early (evicted)', () => {
    const c = new Conv(53, { maxFlows: 2 });
    const d = new Decoded();
    const ctx = { frag: new Reassembler(), now: 0 };
    for (let i = 0; i < 3; i++) {
      decodePacket(rawPacket(eth(ipv4(udp(Buffer.alloc(4), { sport: 1000 + i, dport: 53 }), { proto: 17 }))), d, ctx);
      c.tracker.packet(d, 100 + i, 0, 1, i + 1, null);
    }
    expect(c.tracker.evicted).toBe(1);
    const fl = c.finish();
    expect(fl.map((f) => [f.origP, f.endReason])).toEqual([
      [1000, 'evicted'],
      [1001, 'eof'],
      [1002, 'eof'],
    ]);
  });
});

describe('conn_state functions', () => {
  it('tcpConnState covers every Zeek state', () => {
    expect(tcpConnState(TcpState.SynSent, TcpState.Inactive, 0, 0, 'S')).toBe('S0');
    expect(tcpConnState(TcpState.Established, TcpState.Established, 1, 1, 'ShAD')).toBe('S1');
    expect(tcpConnState(TcpState.Closed, TcpState.Closed, 1, 1, 'ShAFf')).toBe('SF');
    expect(tcpConnState(TcpState.SynSent, TcpState.Reset, 0, 0, 'Sr')).toBe('REJ');
    expect(tcpConnState(TcpState.Closed, TcpState.Established, 0, 0, 'ShAF')).toBe('S2');
    expect(tcpConnState(TcpState.Established, TcpState.Closed, 0, 0, 'ShAf')).toBe('S3');
    expect(tcpConnState(TcpState.Reset, TcpState.Established, 0, 0, 'ShAR')).toBe('RSTO');
    expect(tcpConnState(TcpState.Established, TcpState.Reset, 0, 0, 'ShAr')).toBe('RSTR');
    expect(tcpConnState(TcpState.Reset, TcpState.Inactive, 0, 0, 'SR')).toBe('RSTOS0');
    expect(tcpConnState(TcpState.Partial, TcpState.Reset, 0, 0, 'Hr')).toBe('RSTRH');
    expect(tcpConnState(TcpState.Closed, TcpState.Inactive, 0, 0, 'SF')).toBe('SH');
    expect(tcpConnState(TcpState.Inactive, TcpState.Closed, 0, 0, 'Hf')).toBe('SHR');
    expect(tcpConnState(TcpState.Partial, TcpState.Partial, 1, 1, 'Dd')).toBe('OTH');
    expect(udpConnState(true, true)).toBe('SF');
    expect(udpConnState(true, false)).toBe('S0');
    expect(udpConnState(false, true)).toBe('SHR');
    expect(icmpCounterpart(false, 8)).toBe(0);
    expect(icmpCounterpart(true, 135)).toBe(136);
    expect(icmpCounterpart(false, 3)).toBe(-1);
  });
});

describe('history length is bounded', () => {
  it('a RST storm with changing sequence numbers keeps at most 256 history letters', async () => {
    const { FlowTracker } = await import('../../engine/flows/tracker.js');
    const { Decoded } = await import('../../engine/decode/packet.js');
    const recs: { history: string }[] = [];
    const t = new FlowTracker((f) => recs.push(f));
    const d = new Decoded();
    const nb = Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]);
    for (let i = 0; i < 2000; i++) {
      d.reset();
      d.ipVersion = 4;
      d.nb = nb;
      d.srcOff = i % 2 ? 4 : 0;
      d.dstOff = i % 2 ? 0 : 4;
      d.proto = 6;
      d.hasL4 = true;
      d.sport = i % 2 ? 80 : 40000;
      d.dport = i % 2 ? 40000 : 80;
      d.tcpFlags = 0x04; // RST
      d.seqI = i * 1000;
      d.ipLen = 40;
      t.packet(d, 1000, i, 1, i + 1, null);
    }
    t.finish();
    expect(recs.length).toBe(1);
    expect(recs[0].history.length).toBe(256);
    expect(recs[0].history.startsWith('Rr')).toBe(true);
  });
});

describe('flow table limit after slot reuse', () => {
  it('evicts the oldest live flow, also after a slot was freed and reused', async () => {
    const { FlowTracker, DEFAULT_FLOW_CONFIG } = await import('../../engine/flows/tracker.js');
    const { Decoded } = await import('../../engine/decode/packet.js');
    const ended: { origP: number; endReason: string }[] = [];
    const t = new FlowTracker((f) => ended.push({ origP: f.origP, endReason: f.endReason }), 1, { ...DEFAULT_FLOW_CONFIG, maxFlows: 2 });
    const d = new Decoded();
    const nb = Buffer.from([10, 0, 0, 1, 10, 0, 0, 2]);
    const tcp = (sport: number, toServer: boolean, flags: number, seq: number, ns: number) => {
      d.reset();
      d.ipVersion = 4;
      d.nb = nb;
      d.srcOff = toServer ? 0 : 4;
      d.dstOff = toServer ? 4 : 0;
      d.proto = 6;
      d.hasL4 = true;
      d.sport = toServer ? sport : 80;
      d.dport = toServer ? 80 : sport;
      d.tcpFlags = flags;
      d.seqI = seq;
      d.ackI = toServer ? 0 : seq + 1;
      d.ipLen = 40;
      t.packet(d, 100, ns, 1, ns, null);
    };
    const SYN = 0x02;
    const RST_ACK = 0x14;
    tcp(1001, true, SYN, 1000, 1); // A
    tcp(1001, false, RST_ACK, 0, 2); // A rejected (closed)
    tcp(1002, true, SYN, 5000, 3); // B
    tcp(1001, true, SYN, 9000, 4); // a new SYN on A's ports: A ends (reuse), A' takes A's freed slot
    tcp(1003, true, SYN, 7000, 5); // table full (B, A'): the oldest, B, is evicted
    expect(ended).toEqual([
      { origP: 1001, endReason: 'reuse' },
      { origP: 1002, endReason: 'evicted' },
    ]);
    expect(t.evicted).toBe(1);
  });
});

describe('content gaps (Zeek missed_bytes and history G/g)', () => {
  it('in-order data, retransmissions and reordering that fills in: no gap', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, PA, 1001, 5001, 100);
    c.tcp(C, PA, 1201, 5001, 100); // ahead of a hole...
    c.tcp(C, PA, 1101, 5001, 100); // ...filled before the server acknowledges
    c.tcp(S, A, 5001, 1301);
    c.tcp(C, PA, 1101, 5001, 100); // a retransmission
    c.tcp(C, FA, 1301, 5001);
    c.tcp(S, FA, 5001, 1302);
    c.tcp(C, A, 1302, 5002);
    const f = one(c);
    expect(f.missedBytes).toBe(0);
    expect(f.history).not.toMatch(/[Gg]/);
  });

  it('bytes the peer acknowledges but the capture never had are missed, with one G for the originator', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, PA, 1001, 5001, 100);
    // 1101..1200 lost; 1201..1300 seen ahead of the hole
    c.tcp(C, PA, 1201, 5001, 100);
    c.tcp(S, A, 5001, 1301);
    // a second hole of 50 bytes, acknowledged
    c.tcp(C, PA, 1351, 5001, 50);
    c.tcp(S, A, 5001, 1401);
    const f = one(c);
    expect(f.missedBytes).toBe(150);
    // the gap is found while the server's ACK is read, before its own letter (as Zeek's 'g' before 'F')
    expect(f.history).toBe('ShDGa');
  });

  it('the responder: lowercase g, letters scaled like T and W (1, 10, 100 gaps)', () => {
    const c = new Conv();
    c.tcp(C, F.SYN, 1000, 0);
    c.tcp(S, F.SYN | A, 5000, 1001);
    c.tcp(C, A, 1001, 5001);
    let seq = 5001;
    for (let i = 0; i < 10; i++) {
      seq += 10; // 10 bytes never seen
      c.tcp(S, PA, seq, 1001, 10);
      seq += 10;
      c.tcp(C, A, 1001, seq);
    }
    const f = one(c);
    expect(f.missedBytes).toBe(100);
    expect(f.history).toBe('ShAdgg');
  });

  it('a capture that starts mid-connection misses nothing before its first packets; acknowledged data after them is', () => {
    const c = new Conv();
    // first packet seen: the server acknowledges client data up to 2001
    c.tcp(S, PA, 9001, 2001, 100);
    c.tcp(C, PA, 2001, 9101, 100);
    c.tcp(S, A, 9101, 2101);
    expect(one(c).missedBytes).toBe(0);
    const d = new Conv();
    d.tcp(C, PA, 2001, 9001, 100);
    d.tcp(S, A, 9001, 2201); // 2101..2200 never seen
    expect(one(d).missedBytes).toBe(100);
  });

  it('a bulk transfer with one segment lost: only that segment is missed, however much follows it', () => {
    for (const filled of [false, true]) {
      const c = new Conv();
      c.tcp(C, F.SYN, 1000, 0);
      c.tcp(S, F.SYN | A, 5000, 1001);
      c.tcp(C, A, 1001, 5001);
      let seq = 5001;
      c.tcp(S, PA, seq, 1001, 1000);
      seq += 1000;
      const hole = seq;
      seq += 1000; // never captured (or captured late, as a retransmission)
      for (let i = 0; i < 200; i++) {
        c.tcp(S, PA, seq, 1001, 1000);
        seq += 1000;
      }
      if (filled) c.tcp(S, PA, hole, 1001, 1000);
      c.tcp(C, A, 1001, seq);
      expect(one(c).missedBytes).toBe(filled ? 0 : 1000);
    }
  });

  it('a late duplicate SYN-ACK, or one with another sequence number, invents no gap', () => {
    for (const isn of [5000, 0x30000000]) {
      const c = new Conv();
      c.tcp(C, F.SYN, 1000, 0);
      c.tcp(S, F.SYN | A, 5000, 1001);
      c.tcp(C, A, 1001, 5001);
      c.tcp(S, PA, 5001, 1001, 500);
      c.tcp(S, F.SYN | A, isn, 1001);
      c.tcp(C, A, 1001, 5501);
      expect(one(c).missedBytes).toBe(0);
    }
  });

  it('across the sequence number wrap, and a wild acknowledgement number is no gap', () => {
    const c = new Conv();
    const isn = 0xffffff00;
    c.tcp(C, F.SYN, isn, 0);
    c.tcp(S, F.SYN | A, 5000, (isn + 1) >>> 0);
    c.tcp(C, PA, (isn + 1) >>> 0, 5001, 200); // crosses 2^32
    c.tcp(S, A, 5001, (isn + 201) >>> 0);
    c.tcp(S, A, 5001, (isn + 201 + 0x7000_0000) >>> 0); // far beyond anything sent
    expect(one(c).missedBytes).toBe(0);
  });
});
