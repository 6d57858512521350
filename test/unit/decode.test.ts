/**
 * Decoders on hand-built frames: link layers (Ethernet, 802.1Q/QinQ, SLL, SLL2, NULL/LOOP, PPP,
 * C-HDLC, raw IP, PKTAP, NFLOG, 802.11/radiotap), IPv4 (options, fragments), IPv6 (extension
 * headers, fragments), TCP options, UDP, ICMP/ICMPv6, GRE and IP-in-IP tunnels, and the named
 * anomalies of malformed variants.
 */
import { describe, expect, it } from 'vitest';
import { Decoded, decodePacket, decodeUdpTunnel, type DecodeContext } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { formatIPv4, formatIPv6, formatMac } from '../../engine/decode/addr.js';
import type { AnomalyName } from '../../common/anomalies.js';
import {
  F, MAC_A, eth, ext8, frag6, gre, icmp, ipv4, ipv6, mac, nullLoop, rawPacket, sll, sll2, tcp, udp,
} from '../fixtures/build.js';

function ctxOf(frag = new Reassembler()): DecodeContext {
  return { frag, now: 1000 };
}

function decode(frame: Buffer, linkType = 1, o: { ctx?: DecodeContext; origlen?: number } = {}): Decoded {
  const d = new Decoded();
  const ok = decodePacket(rawPacket(frame, linkType, o.origlen ? { origlen: o.origlen } : {}), d, o.ctx ?? ctxOf());
  expect(ok).toBe(true);
  return d;
}

function src(d: Decoded): string {
  return d.ipVersion === 4 ? formatIPv4(d.nb, d.srcOff) : formatIPv6(d.nb, d.srcOff);
}
function dst(d: Decoded): string {
  return d.ipVersion === 4 ? formatIPv4(d.nb, d.dstOff) : formatIPv6(d.nb, d.dstOff);
}
/** TCP timestamp value, or -1 (the field has been a plain number and a signed int + flag). */
function tsVal(d: Decoded): number {
  const x = d as unknown as { tsVal?: number; tsValI?: number; hasTsOpt?: boolean };
  if (x.tsValI !== undefined) return x.hasTsOpt ? x.tsValI >>> 0 : -1;
  return x.tsVal ?? -1;
}
function payload(d: Decoded): string {
  return d.tb.toString('latin1', d.payloadOff, d.payloadOff + d.payloadCaptured);
}

const HELLO = Buffer.from('hello, world');

describe('link layers', () => {
  it('Ethernet + IPv4 + TCP: addresses, ports, flags, sequence numbers, payload', () => {
    const f = eth(ipv4(tcp(HELLO, { sport: 1234, dport: 80, seq: 0xdeadbeef, ack: 7, flags: F.PSH | F.ACK, win: 512 }), { src: '192.0.2.1', dst: '198.51.100.7', ttl: 3 }));
    const d = decode(f);
    expect([d.macOff, d.etherType, d.ipVersion, d.proto, d.ipHdrLen, d.ipLen]).toEqual([0, 0x0800, 4, 6, 20, 20 + 20 + HELLO.length]);
    expect([src(d), dst(d)]).toEqual(['192.0.2.1', '198.51.100.7']);
    expect([d.sport, d.dport, d.seq, d.ack, d.tcpFlags, d.win, d.tcpHdrLen]).toEqual([1234, 80, 0xdeadbeef, 7, F.PSH | F.ACK, 512, 20]);
    expect([d.payloadLen, d.payloadCaptured, payload(d)]).toEqual([HELLO.length, HELLO.length, 'hello, world']);
    expect(formatMac(f, d.macOff + 6)).toBe(MAC_A);
    expect([d.vlan, d.innerVlan, d.tunnelDepth, d.hasL4, d.fragHeld]).toEqual([-1, -1, 0, true, false]);
    expect(d.anomalies).toEqual([]);
  });

  it('FDDI (10): frame control, addresses, LLC/SNAP, then IP; MACs not recorded (bit order)', () => {
    const ip = ipv4(udp(HELLO), { proto: 17, src: '192.0.2.1', dst: '198.51.100.7' });
    const f = Buffer.concat([Buffer.from([0x50]), Buffer.alloc(12, 0x11), Buffer.from('aaaa03000000', 'hex'), Buffer.from('0800', 'hex'), ip]);
    const d = decode(f, 10);
    expect([d.macOff, d.ipVersion, d.proto, src(d), dst(d), payload(d)]).toEqual([-1, 4, 17, '192.0.2.1', '198.51.100.7', 'hello, world']);
    expect(decode(f.subarray(0, 12), 10).anomalies).toEqual(['link_truncated']);
  });

  it('802.1Q tag: VLAN id (priority bits masked)', () => {
    const d = decode(eth(ipv4(udp(HELLO), { proto: 17 }), 0x0800, { tags: [{ tpid: 0x8100, vid: 0xe000 | 100 }] }));
    expect([d.vlan, d.innerVlan, d.etherType, d.proto, d.dport]).toEqual([100, -1, 0x0800, 17, 53]);
  });

  it('QinQ (802.1ad outer, 802.1Q inner) and the old 0x9100 TPID', () => {
    const d = decode(eth(ipv6(udp(HELLO), { nh: 17 }), 0x86dd, { tags: [{ tpid: 0x88a8, vid: 200 }, { tpid: 0x8100, vid: 300 }] }));
    expect([d.vlan, d.innerVlan, d.etherType, d.ipVersion, d.proto]).toEqual([200, 300, 0x86dd, 6, 17]);
    const e = decode(eth(ipv4(udp(), { proto: 17 }), 0x0800, { tags: [{ tpid: 0x9100, vid: 7 }, { tpid: 0x8100, vid: 8 }, { tpid: 0x8100, vid: 9 }] }));
    expect([e.vlan, e.innerVlan, e.proto]).toEqual([7, 8, 17]);
  });

  it('VLAN anomalies: vlan_truncated, vlan_too_many_tags', () => {
    const t = eth(Buffer.from([0x00, 0x64]), 0x8100); // tag cut after the TCI
    expect(decode(t).anomalies).toEqual(['vlan_truncated']);
    const many = eth(ipv4(udp(), { proto: 17 }), 0x0800, { tags: Array.from({ length: 9 }, (_, i) => ({ tpid: 0x8100, vid: i + 1 })) });
    const d = decode(many);
    expect(d.anomalies).toEqual(['vlan_too_many_tags']);
    expect(d.ipVersion).toBe(0);
  });

  it('ARP, arp_truncated, 802.3 + LLC/SNAP, MPLS, PPPoE', () => {
    expect(decode(eth(Buffer.alloc(28), 0x0806)).isArp).toBe(true);
    expect(decode(eth(Buffer.alloc(4), 0x0806)).anomalies).toEqual(['arp_truncated']);
    const ip = ipv4(udp(HELLO), { proto: 17 });
    const snap = Buffer.concat([Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]), ip]);
    expect(decode(eth(snap, snap.length)).proto).toBe(17);
    const stp = decode(eth(Buffer.from([0x42, 0x42, 0x03, 0, 0, 0]), 6));
    expect([stp.ipVersion, stp.anomalies.length]).toEqual([0, 0]);
    const mpls = Buffer.concat([Buffer.from([0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40]), ip]); // two labels, S bit on the second
    expect(decode(eth(mpls, 0x8847)).proto).toBe(17);
    const pppoe = Buffer.concat([Buffer.from([0x11, 0x00, 0x00, 0x01, 0x00, ip.length + 2, 0x00, 0x21]), ip]);
    expect(decode(eth(pppoe, 0x8864)).proto).toBe(17);
  });

  it('Linux SLL (113) and SLL2 (276)', () => {
    const ip = ipv4(tcp(HELLO, { sport: 5, dport: 6 }));
    const a = decode(sll(ip), 113);
    expect([a.ipVersion, a.sport, a.dport, a.macOff, payload(a)]).toEqual([4, 5, 6, -1, 'hello, world']);
    const b = decode(sll2(ipv6(udp(HELLO), { nh: 17 }), 0x86dd), 276);
    expect([b.ipVersion, b.proto, b.payloadLen]).toEqual([6, 17, HELLO.length]);
    expect(decode(Buffer.alloc(10), 113).anomalies).toEqual(['link_truncated']);
    expect(decode(Buffer.alloc(19), 276).anomalies).toEqual(['link_truncated']);
  });

  it('NULL (0) and LOOP (108) loopback: host-order and network-order families, IPv6 families', () => {
    const ip = ipv4(udp(HELLO), { proto: 17 });
    expect(decode(nullLoop(ip, 2), 0).ipVersion).toBe(4);
    expect(decode(nullLoop(ip, 2, true), 0).ipVersion).toBe(4); // written on a big-endian host
    expect(decode(nullLoop(ip, 2, true), 108).ipVersion).toBe(4);
    for (const fam of [24, 28, 30, 10]) expect(decode(nullLoop(ipv6(udp(), { nh: 17 }), fam), 0).ipVersion).toBe(6);
    expect(decode(nullLoop(ipv6(udp(), { nh: 17 }), 30, true), 108).ipVersion).toBe(6);
    expect(decode(Buffer.alloc(3), 0).anomalies).toEqual(['link_truncated']);
    expect(decode(Buffer.alloc(2), 108).anomalies).toEqual(['link_truncated']);
  });

  it('raw IP link types 101, 12, 14, 228, 229; ip_bad_version', () => {
    for (const lt of [101, 12, 14, 228, 229]) {
      expect(decode(ipv4(udp(HELLO), { proto: 17 }), lt).ipVersion).toBe(4);
      expect(decode(ipv6(udp(HELLO), { nh: 17 }), lt).ipVersion).toBe(6);
    }
    const bad = decode(Buffer.from([0x55, 0, 0, 0]), 101);
    expect([bad.ipVersion, bad.anomalies]).toEqual([0, ['ip_bad_version']]);
    expect(decode(Buffer.alloc(0), 101).anomalies).toEqual(['link_truncated']);
  });

  it('PPP (9) with and without address/control, Cisco HDLC (104)', () => {
    const ip = ipv4(udp(HELLO), { proto: 17 });
    expect(decode(Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), ip]), 9).proto).toBe(17);
    expect(decode(Buffer.concat([Buffer.from([0x00, 0x57]), ipv6(udp(), { nh: 17 })]), 9).ipVersion).toBe(6);
    const lcp = decode(Buffer.from([0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4]), 9);
    expect([lcp.ipVersion, lcp.anomalies.length]).toEqual([0, 0]);
    expect(decode(Buffer.from([0xff, 0x03, 0x00]), 9).anomalies).toEqual(['link_truncated']);
    expect(decode(Buffer.concat([Buffer.from([0x0f, 0x00, 0x08, 0x00]), ip]), 104).proto).toBe(17);
    expect(decode(Buffer.from([0x0f, 0x00, 0x08]), 104).anomalies).toEqual(['link_truncated']);
  });

  it('PKTAP (258) carrying Ethernet; NFLOG (239) payload TLV', () => {
    const hdr = Buffer.alloc(108);
    hdr.writeUInt32LE(108, 0);
    hdr.writeUInt32LE(1, 4);
    expect(decode(Buffer.concat([hdr, eth(ipv4(udp(HELLO), { proto: 17 }))]), 258).proto).toBe(17);
    expect(decode(Buffer.alloc(7), 258).anomalies).toEqual(['link_truncated']);
    const ip = ipv4(tcp(HELLO));
    const tlvPrefix = Buffer.from([8, 0, 1, 0, 0x08, 0x00, 0, 0]); // NFULA_PACKET_HDR (len 8)
    const payloadTlv = Buffer.alloc(4);
    payloadTlv.writeUInt16LE(4 + ip.length, 0);
    payloadTlv.writeUInt16LE(9, 2);
    const nflog = Buffer.concat([Buffer.from([2, 0, 0, 0]), tlvPrefix, payloadTlv, ip]);
    const d = decode(nflog, 239);
    expect([d.ipVersion, d.proto, payload(d)]).toEqual([4, 6, 'hello, world']);
  });

  it('802.11 data frame (105) and radiotap (127); radiotap_bad_length, wlan_truncated', () => {
    const ip = ipv4(udp(HELLO), { proto: 17 });
    const wlanHdr = Buffer.alloc(24);
    wlanHdr[0] = 0x08; // data
    wlanHdr[1] = 0x01; // to DS
    const frame = Buffer.concat([wlanHdr, Buffer.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]), ip]);
    expect(decode(frame, 105).proto).toBe(17);
    const rt = Buffer.alloc(8);
    rt.writeUInt16LE(8, 2);
    expect(decode(Buffer.concat([rt, frame]), 127).proto).toBe(17);
    const badRt = Buffer.from(rt);
    badRt.writeUInt16LE(400, 2);
    expect(decode(Buffer.concat([badRt, frame]), 127).anomalies).toEqual(['radiotap_bad_length']);
    expect(decode(Buffer.alloc(20), 105).anomalies).toEqual(['wlan_truncated']);
  });

  it('an unknown link type is not decodable', () => {
    const d = new Decoded();
    expect(decodePacket(rawPacket(eth(ipv4(udp(), { proto: 17 })), 147), d, ctxOf())).toBe(false);
    expect(d.ipVersion).toBe(0);
  });

  it('Ethernet shorter than its header: link_truncated', () => {
    const d = decode(Buffer.alloc(13));
    expect(d.anomalies).toEqual(['link_truncated']);
    expect(d.details[0]).toContain('Ethernet');
  });
});

describe('IPv4', () => {
  it('options: IHL 6 with Router Alert; transport found after the options', () => {
    const f = eth(ipv4(tcp(HELLO, { sport: 9, dport: 10 }), { options: Buffer.from([0x94, 0x04, 0x00, 0x00]) }));
    const d = decode(f);
    expect([d.ipHdrLen, d.ipLen, d.sport, d.dport, payload(d)]).toEqual([24, 24 + 20 + HELLO.length, 9, 10, 'hello, world']);
    expect(d.anomalies).toEqual([]);
  });

  // BUG: 'ipv4_bad_options' is declared in common/anomalies.ts ("Malformed IPv4 option") but the
  // decoder never parses IPv4 options, so an option whose length runs past the header is silent.
  it('BUG: a malformed IPv4 option (length past the header) is reported as ipv4_bad_options', () => {
    const d = decode(eth(ipv4(udp(), { proto: 17, options: Buffer.from([0x07, 0x27, 0x04, 0x00]) })));
    expect(d.anomalies).toContain('ipv4_bad_options');
  });

  it('malformed headers: ipv4_truncated_header, ipv4_bad_ihl, ipv4_bad_total_length, ip_bad_version', () => {
    expect(decode(eth(Buffer.alloc(19, 0x45))).anomalies).toEqual(['ipv4_truncated_header']);
    const ihl = ipv4(udp(), { ihl: 4 });
    expect(decode(eth(ihl)).anomalies).toEqual(['ipv4_bad_ihl']);
    const longIhl = ipv4(Buffer.alloc(0), { ihl: 15, proto: 17 }); // 60-byte header, 20 present
    expect(decode(eth(longIhl)).anomalies).toEqual(['ipv4_truncated_header']);
    const tl = ipv4(udp(), { totalLen: 12 });
    expect(decode(eth(tl)).anomalies).toEqual(['ipv4_bad_total_length']);
    const v = ipv4(udp(), { version: 5 });
    expect(decode(eth(v)).anomalies).toEqual(['ip_bad_version']);
  });

  it('payload shorter than total length: ipv4_truncated_payload, but not when the snaplen cut it', () => {
    const full = eth(ipv4(udp(Buffer.alloc(100)), { proto: 17 }));
    const cut = full.subarray(0, full.length - 40);
    const a = decode(cut);
    expect(a.anomalies).toEqual(['ipv4_truncated_payload']);
    expect([a.payloadLen, a.payloadCaptured, a.ipLen]).toEqual([100, 60, 128]);
    const b = decode(cut, 1, { origlen: full.length });
    expect(b.anomalies).toEqual([]);
    expect([b.payloadLen, b.payloadCaptured]).toEqual([100, 60]);
  });

  it('TSO: total length 0 is taken from the frame', () => {
    const d = decode(eth(ipv4(tcp(HELLO), { totalLen: 0 })));
    expect([d.ipLen, d.payloadLen, d.anomalies]).toEqual([20 + 20 + HELLO.length, HELLO.length, []]);
  });

  it('fragments out of order are reassembled; the held ones carry no transport layer', () => {
    const data = Buffer.from('A'.repeat(16) + 'B'.repeat(16) + 'C'.repeat(10));
    const dgram = udp(data, { sport: 1111, dport: 2222 }); // 50 bytes
    const frags = [
      ipv4(dgram.subarray(40), { proto: 17, id: 77, fragOff: 40 }),
      ipv4(dgram.subarray(0, 24), { proto: 17, id: 77, mf: true }),
      ipv4(dgram.subarray(24, 40), { proto: 17, id: 77, fragOff: 24, mf: true }),
    ];
    const ctx = ctxOf();
    const d1 = decode(eth(frags[0]), 1, { ctx });
    expect([d1.fragHeld, d1.hasL4, d1.ipVersion]).toEqual([true, false, 4]);
    const d2 = decode(eth(frags[1]), 1, { ctx });
    expect(d2.fragHeld).toBe(true);
    expect(ctx.frag.size).toBe(1);
    const d3 = decode(eth(frags[2]), 1, { ctx });
    expect([d3.fragHeld, d3.hasL4, d3.sport, d3.dport, d3.payloadLen, d3.ipLen]).toEqual([false, true, 1111, 2222, 42, 20 + 50]);
    expect(payload(d3)).toBe(data.toString('latin1'));
    expect([src(d3), dst(d3)]).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(d3.anomalies).toEqual([]);
    expect(ctx.frag.size).toBe(0);
  });

  it('overlapping fragments with different data: fragment_overlap, first data wins', () => {
    const dgram = udp(Buffer.from('0123456789abcdef'), { sport: 1, dport: 2 }); // 24 bytes
    const ctx = ctxOf();
    decode(eth(ipv4(dgram.subarray(0, 16), { proto: 17, id: 5, mf: true })), 1, { ctx });
    const evil = Buffer.from(dgram.subarray(8, 24));
    evil.fill(0x58, 0, 8); // bytes 8..16 overlap the first fragment with different content
    const d = decode(eth(ipv4(evil, { proto: 17, id: 5, fragOff: 8 })), 1, { ctx });
    expect(d.anomalies).toEqual(['fragment_overlap']);
    expect(payload(d)).toBe('0123456789abcdef');
    // the same overlap with identical bytes is not an anomaly
    const ctx2 = ctxOf();
    decode(eth(ipv4(dgram.subarray(0, 16), { proto: 17, id: 6, mf: true })), 1, { ctx: ctx2 });
    const ok = decode(eth(ipv4(dgram.subarray(8, 24), { proto: 17, id: 6, fragOff: 8 })), 1, { ctx: ctx2 });
    expect(ok.anomalies).toEqual([]);
    expect(payload(ok)).toBe('0123456789abcdef');
  });

  it('fragment_too_large, fragment_limit_reached, fragment_incomplete', () => {
    const ctx = ctxOf();
    const big = decode(eth(ipv4(Buffer.alloc(100), { proto: 17, id: 9, fragOff: 65528 })), 1, { ctx });
    expect(big.anomalies).toEqual(['fragment_too_large']);
    const small = ctxOf(new Reassembler({ maxDatagrams: 1, maxBytes: 1e6, timeoutSec: 60 }));
    decode(eth(ipv4(Buffer.alloc(8), { proto: 17, id: 1, mf: true })), 1, { ctx: small });
    const second = decode(eth(ipv4(Buffer.alloc(8), { proto: 17, id: 2, mf: true })), 1, { ctx: small });
    expect(second.anomalies).toEqual(['fragment_limit_reached']);
    const names: AnomalyName[] = [];
    small.frag.flush((n) => names.push(n));
    expect(names).toEqual(['fragment_incomplete']);
  });

  // BUG: Reassembler enforces maxBytes only when a new datagram is created; fragments added to a
  // pending datagram are never counted against it. 1000 copies of one 1000-byte fragment make one
  // datagram hold ~1 MB although maxBytes is 10 kB.
  it('BUG: duplicate fragments of one datagram cannot exceed the reassembler byte limit', () => {
    const r = new Reassembler({ maxDatagrams: 8, maxBytes: 10_000, timeoutSec: 60 });
    const frag = Buffer.alloc(1000, 1);
    for (let i = 0; i < 1000; i++) r.add('k', 0, true, frag, null, 1, () => {});
    expect((r as unknown as { bytes: number }).bytes).toBeLessThanOrEqual(10_000);
  });
});

describe('IPv6', () => {
  it('hop-by-hop + TCP', () => {
    const d = decode(eth(ipv6(Buffer.concat([ext8(6), tcp(HELLO, { sport: 7, dport: 443 })]), { nh: 0, src: 'fe80::1', dst: 'ff02::1:2' }), 0x86dd));
    expect([d.ipVersion, d.proto, d.ipHdrLen, d.sport, d.dport, payload(d)]).toEqual([6, 6, 48, 7, 443, 'hello, world']);
    expect([src(d), dst(d)]).toEqual(['fe80::1', 'ff02::1:2']);
  });

  it('hop-by-hop + fragment headers: two fragments reassembled into UDP', () => {
    const dgram = udp(Buffer.from('x'.repeat(40)), { sport: 5353, dport: 5353 }); // 48 bytes
    const ctx = ctxOf();
    const p1 = ipv6(Buffer.concat([ext8(44), frag6(17, 0, true, 0xabcdef), dgram.subarray(0, 24)]), { nh: 0 });
    const p2 = ipv6(Buffer.concat([ext8(44), frag6(17, 24, false, 0xabcdef), dgram.subarray(24)]), { nh: 0 });
    const a = decode(eth(p2, 0x86dd), 1, { ctx });
    expect([a.fragHeld, a.hasL4, a.proto, a.ipHdrLen]).toEqual([true, false, 17, 56]);
    const b = decode(eth(p1, 0x86dd), 1, { ctx });
    expect([b.fragHeld, b.hasL4, b.sport, b.dport, b.payloadLen, b.ipLen]).toEqual([false, true, 5353, 5353, 40, 56 + 48]);
    expect(payload(b)).toBe('x'.repeat(40));
    expect(b.anomalies).toEqual([]);
  });

  it('an atomic fragment (offset 0, M=0) is decoded directly', () => {
    const d = decode(eth(ipv6(Buffer.concat([frag6(6, 0, false, 1), tcp(HELLO)]), { nh: 44 }), 0x86dd));
    expect([d.fragHeld, d.hasL4, d.proto, payload(d)]).toEqual([false, true, 6, 'hello, world']);
  });

  it('malformed: ipv6_truncated_header, ipv6_truncated_ext_header, ipv6_too_many_ext_headers, ipv6_truncated_payload', () => {
    expect(decode(eth(Buffer.alloc(39, 0x60), 0x86dd)).anomalies).toEqual(['ipv6_truncated_header']);
    expect(decode(eth(ipv6(Buffer.from([6, 0, 0, 0]), { nh: 0 }), 0x86dd)).anomalies).toEqual(['ipv6_truncated_ext_header']);
    const longExt = Buffer.from([6, 3, 0, 0, 0, 0, 0, 0, ...new Array(8).fill(0)]); // claims 32 bytes, has 16
    expect(decode(eth(ipv6(longExt, { nh: 60 }), 0x86dd)).anomalies).toEqual(['ipv6_truncated_ext_header']);
    const chain = Buffer.concat([...Array.from({ length: 17 }, () => ext8(60)), udp()]);
    expect(decode(eth(ipv6(chain, { nh: 60 }), 0x86dd)).anomalies).toEqual(['ipv6_too_many_ext_headers']);
    const full = eth(ipv6(udp(Buffer.alloc(50)), { nh: 17 }), 0x86dd);
    expect(decode(full.subarray(0, full.length - 20)).anomalies).toEqual(['ipv6_truncated_payload']);
    expect(decode(full.subarray(0, full.length - 20), 1, { origlen: full.length }).anomalies).toEqual([]);
  });
});

describe('TCP', () => {
  it('options: MSS, SACK-permitted, window scale, timestamps (with NOP padding)', () => {
    const opts = Buffer.from([2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x30, 0x39, 0, 0, 0, 0, 1, 3, 3, 7]);
    const d = decode(eth(ipv4(tcp(Buffer.alloc(0), { flags: F.SYN, options: opts }))));
    expect([d.mss, d.sackOk, tsVal(d), d.wscale, d.tcpHdrLen, d.payloadLen]).toEqual([1460, true, 12345, 7, 40, 0]);
    expect(d.anomalies).toEqual([]);
  });

  it('tcp_bad_option: zero length, and a length past the header', () => {
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { options: Buffer.from([2, 0, 0, 0]) })))).anomalies).toEqual(['tcp_bad_option']);
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { options: Buffer.from([1, 1, 8, 10]) })))).anomalies).toEqual(['tcp_bad_option']);
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { options: Buffer.from([1, 1, 1, 2]) })))).anomalies).toEqual(['tcp_bad_option']);
  });

  it('tcp_bad_data_offset, tcp_truncated_header (and ports still read from 14 bytes)', () => {
    const bad = decode(eth(ipv4(tcp(HELLO, { dataOffset: 4 }))));
    expect(bad.anomalies).toEqual(['tcp_bad_data_offset']);
    expect(bad.payloadLen).toBe(0);
    const t = ipv4(tcp(), { totalLen: 20 + 16 });
    const short = decode(eth(t.subarray(0, 36)));
    expect(short.anomalies).toEqual(['tcp_truncated_header']);
    expect([short.hasL4, short.sport, short.dport]).toEqual([true, 40000, 80]);
    const offPast = decode(eth(ipv4(tcp(Buffer.alloc(0), { dataOffset: 10 }))));
    expect(offPast.anomalies).toEqual(['tcp_truncated_header']);
  });

  it('flag anomalies: tcp_flags_null, tcp_flags_xmas, tcp_syn_fin', () => {
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { flags: 0 })))).anomalies).toEqual(['tcp_flags_null']);
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { flags: F.FIN | F.PSH | F.URG })))).anomalies).toEqual(['tcp_flags_xmas']);
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { flags: F.SYN | F.FIN })))).anomalies).toEqual(['tcp_syn_fin']);
    expect(decode(eth(ipv4(tcp(Buffer.alloc(0), { flags: F.SYN | F.ACK })))).anomalies).toEqual([]);
  });

  // BUG: 'tcp_syn_with_data' is declared in common/anomalies.ts ("SYN segment carrying payload") but
  // the TCP decoder never emits it.
  it('BUG: a SYN carrying payload is reported as tcp_syn_with_data', () => {
    expect(decode(eth(ipv4(tcp(HELLO, { flags: F.SYN })))).anomalies).toContain('tcp_syn_with_data');
  });
});

describe('UDP, ICMP, ICMPv6', () => {
  it('UDP: ports, payload; udp_bad_length; length 0 accepted; udp_truncated_header', () => {
    const d = decode(eth(ipv4(udp(HELLO, { sport: 68, dport: 67 }), { proto: 17 })));
    expect([d.sport, d.dport, d.payloadLen, payload(d), d.anomalies]).toEqual([68, 67, HELLO.length, 'hello, world', []]);
    expect(decode(eth(ipv4(udp(HELLO, { len: 4 }), { proto: 17 }))).anomalies).toEqual(['udp_bad_length']);
    expect(decode(eth(ipv4(udp(HELLO, { len: 100 }), { proto: 17 }))).anomalies).toEqual(['udp_bad_length']);
    const z = decode(eth(ipv4(udp(HELLO, { len: 0 }), { proto: 17 })));
    expect([z.anomalies, z.payloadLen]).toEqual([[], HELLO.length]);
    const shorter = decode(eth(ipv4(udp(HELLO, { len: 10 }), { proto: 17 })));
    expect([shorter.payloadLen, shorter.payloadCaptured]).toEqual([2, 2]);
    expect(decode(eth(ipv4(Buffer.alloc(6), { proto: 17 }))).anomalies).toEqual(['udp_truncated_header']);
  });

  it('ICMP echo request and ICMPv6 echo reply; icmp_truncated', () => {
    const d = decode(eth(ipv4(icmp(8, 0, Buffer.alloc(56)), { proto: 1 })));
    expect([d.proto, d.icmpType, d.icmpCode, d.payloadLen, d.hasL4]).toEqual([1, 8, 0, 56, true]);
    const v6 = decode(eth(ipv6(icmp(129, 0, Buffer.alloc(32)), { nh: 58 }), 0x86dd));
    expect([v6.proto, v6.icmpType, v6.icmpCode, v6.payloadLen]).toEqual([58, 129, 0, 32]);
    expect(decode(eth(ipv4(Buffer.from([8, 0, 0]), { proto: 1 }))).anomalies).toEqual(['icmp_truncated']);
  });
});

describe('tunnels', () => {
  it('GRE carrying IPv4: inner addresses and ports, tunnelDepth 1; GRE with key and sequence', () => {
    const inner = ipv4(tcp(HELLO, { sport: 3333, dport: 22 }), { src: '172.16.0.1', dst: '172.16.0.2' });
    for (const g of [gre(inner), gre(inner, 0x0800, { key: 42, seq: 7, csum: true })]) {
      const d = decode(eth(ipv4(g, { proto: 47, src: '203.0.113.1', dst: '203.0.113.2' })));
      expect([d.tunnelDepth, src(d), dst(d), d.sport, d.dport, payload(d), d.anomalies]).toEqual([1, '172.16.0.1', '172.16.0.2', 3333, 22, 'hello, world', []]);
      expect(d.macOff).toBe(0);
    }
  });

  it('GRE transparent Ethernet bridging; gre_truncated', () => {
    const innerEth = eth(ipv4(udp(), { src: '10.9.9.9', proto: 17 }), 0x0800, { src: '02:00:00:00:00:09' });
    const d = decode(eth(ipv4(gre(innerEth, 0x6558), { proto: 47 })));
    expect([d.tunnelDepth, src(d), d.proto]).toEqual([1, '10.9.9.9', 17]);
    expect(d.macOff).toBe(0); // the outer Ethernet header
    expect(decode(eth(ipv4(Buffer.from([0x20, 0x00, 0x08, 0x00, 0, 0]), { proto: 47 }))).anomalies).toEqual(['gre_truncated']);
  });

  it('IP-in-IP (4) and IPv6-in-IPv4 (41); tunnel_too_deep after 4 levels', () => {
    const innermost = ipv4(udp(HELLO), { src: '1.1.1.1', proto: 17 });
    const d = decode(eth(ipv4(innermost, { proto: 4 })));
    expect([d.tunnelDepth, src(d), d.proto]).toEqual([1, '1.1.1.1', 17]);
    const six = decode(eth(ipv4(ipv6(udp(), { nh: 17, src: '2001:db8::99' }), { proto: 41 })));
    expect([six.tunnelDepth, six.ipVersion, src(six)]).toEqual([1, 6, '2001:db8::99']);
    let p = innermost;
    for (let i = 0; i < 5; i++) p = ipv4(p, { proto: 4 });
    const deep = decode(eth(p));
    expect(deep.anomalies).toEqual(['tunnel_too_deep']);
    expect(deep.hasL4).toBe(false);
  });
});

describe('Decoded reuse', () => {
  it('reset() clears the previous packet', () => {
    const d = new Decoded();
    const ctx = ctxOf();
    decodePacket(rawPacket(eth(ipv4(tcp(Buffer.alloc(0), { flags: 0 })), 0x0800, { tags: [{ tpid: 0x8100, vid: 5 }] })), d, ctx);
    expect([d.vlan, d.anomalies.length, d.hasL4]).toEqual([5, 1, true]);
    decodePacket(rawPacket(eth(Buffer.alloc(28), 0x0806)), d, ctx);
    expect([d.vlan, d.anomalies.length, d.hasL4, d.ipVersion, d.isArp, d.proto]).toEqual([-1, 0, false, 0, true, -1]);
    expect(mac(MAC_A).length).toBe(6);
  });
});

describe('tunnels inside UDP (decodeUdpTunnel)', () => {
  const inner4 = () => ipv4(icmp(8, 0, Buffer.from('ping')), { proto: 1, src: '10.9.0.1', dst: '10.9.0.2' });
  const innerTcp6 = () => ipv6(tcp(Buffer.from('GET / HTTP/1.1\r\n\r\n'), { sport: 1286, dport: 80, flags: 0x18 }), { src: '2001:0:4137:9e50::1', dst: '2001:4860::68' });
  function tunnel(payload: Buffer, sport: number, dport: number): { kind: string | null; outer: Decoded; inner: Decoded } {
    const ctx = ctxOf();
    const outer = decode(eth(ipv4(udp(payload, { sport, dport }), { proto: 17, src: '192.0.2.1', dst: '192.0.2.2' })), 1, { ctx });
    const inner = new Decoded();
    return { kind: decodeUdpTunnel(outer, inner, ctx), outer, inner };
  }

  it('VXLAN: 8-byte header with the I flag, then Ethernet', () => {
    const { kind, inner } = tunnel(Buffer.concat([Buffer.from('0800000000007b00', 'hex'), eth(inner4())]), 39924, 4789);
    expect(kind).toBe('vxlan');
    expect([src(inner), dst(inner), inner.proto, inner.icmpType, inner.tunnelDepth]).toEqual(['10.9.0.1', '10.9.0.2', 1, 8, 1]);
  });

  it('Geneve: options skipped, Ethernet or IP inside', () => {
    const opt = Buffer.alloc(8, 0xee);
    const eth0 = tunnel(Buffer.concat([Buffer.from('0200655800000100', 'hex'), opt, eth(inner4())]), 1000, 6081);
    expect(eth0.kind).toBe('geneve');
    expect(src(eth0.inner)).toBe('10.9.0.1');
    const ip = tunnel(Buffer.concat([Buffer.from('0000080000000100', 'hex'), inner4()]), 1000, 6081);
    expect([ip.kind, dst(ip.inner)]).toEqual(['geneve', '10.9.0.2']);
    // version 1 is not Geneve as defined: left alone
    expect(tunnel(Buffer.concat([Buffer.from('4000655800000100', 'hex'), eth(inner4())]), 1000, 6081).kind).toBeNull();
  });

  it('GTP-U: T-PDUs with optional fields and extension headers; other messages are not tunnels', () => {
    const plain = tunnel(Buffer.concat([Buffer.from('30ff002400000001', 'hex'), inner4()]), 2152, 2152);
    expect([plain.kind, src(plain.inner), plain.inner.proto]).toEqual(['gtpv1', '10.9.0.1', 1]);
    // E flag: sequence, N-PDU, next type 0x85 (PDU session container, 1 word), another one, then none
    const ext = tunnel(Buffer.concat([Buffer.from('34ff00000000000100000085', 'hex'), Buffer.from('01aabb85', 'hex'), Buffer.from('01ccdd00', 'hex'), inner4()]), 2152, 2152);
    expect([ext.kind, dst(ext.inner)]).toEqual(['gtpv1', '10.9.0.2']);
    // only S set: the next-extension byte is not to be read (here non-zero)
    const sOnly = tunnel(Buffer.concat([Buffer.from('32ff00000000000100070085', 'hex'), inner4()]), 2152, 2152);
    expect([sOnly.kind, src(sOnly.inner)]).toEqual(['gtpv1', '10.9.0.1']);
    // echo request (message type 1)
    expect(tunnel(Buffer.concat([Buffer.from('3201000400000000', 'hex'), Buffer.alloc(4)]), 2152, 2152).kind).toBeNull();
  });

  it('Teredo: origin indication and authentication headers, peers on any port by the Teredo prefix, bubbles left in the outer flow', () => {
    const withOrigin = tunnel(Buffer.concat([Buffer.from('0000f12a4137b9c8', 'hex'), innerTcp6()]), 3544, 3797);
    expect([withOrigin.kind, withOrigin.inner.ipVersion, withOrigin.inner.sport, withOrigin.inner.dport]).toEqual(['teredo', 6, 1286, 80]);
    expect(payload(withOrigin.inner)).toBe('GET / HTTP/1.1\r\n\r\n');
    const auth = Buffer.concat([Buffer.from('00010000', 'hex'), Buffer.alloc(9)]);
    expect(tunnel(Buffer.concat([auth, innerTcp6()]), 3797, 3544).kind).toBe('teredo');
    // a relay on another port: recognised by the 2001:0::/32 address
    expect(tunnel(innerTcp6(), 32900, 3797).kind).toBe('teredo');
    // the same IPv6 packet without a Teredo address on an ordinary port is not a tunnel
    const plain6 = ipv6(tcp(Buffer.from('x'), { sport: 1, dport: 2 }), { src: '2001:db8::1', dst: '2001:db8::2' });
    expect(tunnel(plain6, 32900, 3797).kind).toBeNull();
    // a bubble: IPv6 with no next header and no payload
    expect(tunnel(ipv6(Buffer.alloc(0), { nh: 59, src: 'fe80::1', dst: '2001:0:4137:9e50::1' }), 3544, 3797).kind).toBeNull();
    // lengths that do not fit the datagram
    expect(tunnel(Buffer.concat([innerTcp6(), Buffer.alloc(3)]), 3544, 3797).kind).toBeNull();
    // a capture cut by its snaplen: the lengths are those of the datagram as sent
    const ctx = ctxOf();
    const frame = eth(ipv4(udp(Buffer.concat([Buffer.from('0000f12a4137b9c8', 'hex'), innerTcp6()]), { sport: 3544, dport: 3797 }), { proto: 17 }));
    const cut = decode(frame.subarray(0, frame.length - 10), 1, { ctx, origlen: frame.length });
    const inner = new Decoded();
    expect(decodeUdpTunnel(cut, inner, ctx)).toBe('teredo');
    expect([inner.sport, inner.dport]).toEqual([1286, 80]);
  });

  it('VXLAN without the I flag, and other UDP, are not tunnels', () => {
    expect(tunnel(Buffer.concat([Buffer.from('0000000000007b00', 'hex'), eth(inner4())]), 39924, 4789).kind).toBeNull();
    expect(tunnel(Buffer.from('hello'), 5000, 53).kind).toBeNull();
  });
});
