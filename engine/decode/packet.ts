/**
 * Packet decoding: link layer -> VLAN -> IPv4/IPv6 (extension headers, fragments reassembled,
 * IP-in-IP and GRE decapsulated) -> TCP/UDP/ICMP/ICMPv6; tunnels inside UDP (VXLAN, Geneve,
 * GTP-U, Teredo) are decoded into a second `Decoded` by `decodeUdpTunnel`, since the outer
 * datagram is a flow of its own. Pure over its inputs apart from the
 * fragment reassembler; never throws: malformed input becomes named anomalies on `Decoded`.
 *
 * Hot path: one reused `Decoded` object, offsets into the original buffer, no per-packet
 * allocation except for IP fragments.
 */
import { i32be, u16be, u16le, u32be, u32le } from './bytes.js';
import type { AnomalyName } from '../../common/anomalies.js';
import type { RawPacket } from '../readers/reader.js';
import { Reassembler } from './frag.js';

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;
export const ETH_ARP = 0x0806;
export const ETH_VLAN = 0x8100;
export const ETH_QINQ = 0x88a8;
export const ETH_QINQ_OLD = 0x9100;
export const ETH_TEB = 0x6558; // transparent Ethernet bridging (GRE)

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** Decoding result; reused for every packet. Offsets refer to `nb` (network) and `tb` (transport). */
export class Decoded {
  /** Offset of the Ethernet destination MAC in the packet buffer (source MAC follows), or -1. */
  macOff = -1;
  vlan = -1;
  innerVlan = -1;
  etherType = 0;
  isArp = false;
  /** 0 when no IP layer was decoded, else 4 or 6 (innermost). */
  ipVersion = 0;
  nb: Buffer = EMPTY;
  srcOff = 0;
  dstOff = 0;
  /** IP datagram length (header + payload) as the header says: Zeek's ip_bytes. */
  ipLen = 0;
  ipHdrLen = 0;
  /** Upper-layer protocol after extension headers; -1 when none. */
  proto = -1;
  /** The packet was an IP fragment kept for reassembly (no transport layer yet). */
  fragHeld = false;
  tunnelDepth = 0;
  tb: Buffer = EMPTY;
  l4Off = 0;
  /** Transport bytes available in the capture (header + payload). */
  l4Avail = 0;
  /** Transport length per the IP header (header + payload). */
  l4Len = 0;
  hasL4 = false;
  sport = 0;
  dport = 0;
  tcpFlags = 0;
  /**
   * Sequence and acknowledgement numbers as signed 32-bit values: unsigned values above 2^31 are
   * not small integers in V8, and storing one in an object field allocates a heap number per
   * packet. Use the unsigned getters `seq` and `ack`.
   */
  seqI = 0;
  ackI = 0;
  get seq(): number {
    return this.seqI >>> 0;
  }
  get ack(): number {
    return this.ackI >>> 0;
  }
  win = 0;
  tcpHdrLen = 0;
  /** Payload bytes per the headers (IP length minus headers), even when the capture is cut short. */
  payloadLen = 0;
  /** Offset and length of payload bytes actually captured, in `tb`. */
  payloadOff = 0;
  payloadCaptured = 0;
  mss = -1;
  wscale = -1;
  sackOk = false;
  /** TCP timestamp value as a signed 32-bit number (see seqI); -1 also when absent (check hasTsOpt). */
  tsValI = -1;
  hasTsOpt = false;
  icmpType = -1;
  icmpCode = -1;
  /** Anomalies of this packet (usually none). */
  readonly anomalies: AnomalyName[] = [];
  readonly details: string[] = [];

  reset(): void {
    this.macOff = -1;
    this.vlan = -1;
    this.innerVlan = -1;
    this.etherType = 0;
    this.isArp = false;
    this.ipVersion = 0;
    this.proto = -1;
    this.fragHeld = false;
    this.tunnelDepth = 0;
    this.hasL4 = false;
    this.sport = 0;
    this.dport = 0;
    this.tcpFlags = 0;
    this.payloadLen = 0;
    this.payloadCaptured = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.mss = -1;
    this.wscale = -1;
    this.sackOk = false;
    this.tsValI = -1;
    this.hasTsOpt = false;
    if (this.anomalies.length) {
      this.anomalies.length = 0;
      this.details.length = 0;
    }
  }

  /** `anomaly` bound to this object, created once (a closure made per packet would allocate). */
  readonly onAnomaly = (name: AnomalyName, detail: string): void => this.anomaly(name, detail);

  anomaly(name: AnomalyName, detail = ''): void {
    if (this.anomalies.length < 16) {
      this.anomalies.push(name);
      this.details.push(detail);
    }
  }
}

const EMPTY = Buffer.alloc(0);

export interface DecodeContext {
  frag: Reassembler;
  /** Packet time in seconds, for fragment timeouts. */
  now: number;
}

/** Decodes one packet into `d` (reset first). Returns false when the link type is not decodable. */
export function decodePacket(pk: RawPacket, d: Decoded, ctx: DecodeContext): boolean {
  d.reset();
  const b = pk.buf;
  const start = pk.off;
  const end = pk.off + pk.caplen;
  // snaplen cut: payload shorter than the headers say is expected, not an anomaly
  const snapped = pk.caplen < pk.origlen;
  switch (pk.linkType) {
    case 1: // ETHERNET
      return ethernet(b, start, end, d, ctx, snapped);
    case 113: {
      // LINUX_SLL: 16-byte header, protocol at 14
      if (end - start < 16) return linkShort(d, 'Linux cooked header');
      const hatype = u16be(b, start + 2);
      const proto = u16be(b, start + 14);
      if (hatype === 1 && u16be(b, start + 4) === 6) d.macOff = -1;
      return ethertype(b, start + 16, end, proto, d, ctx, snapped);
    }
    case 276: {
      // LINUX_SLL2: 20-byte header, protocol at 0
      if (end - start < 20) return linkShort(d, 'Linux cooked v2 header');
      return ethertype(b, start + 20, end, u16be(b, start), d, ctx, snapped);
    }
    case 101:
    case 12:
    case 14:
    case 228:
    case 229:
      return rawIp(b, start, end, d, ctx, snapped);
    case 0:
    case 108: {
      // NULL / LOOP: 4-byte address family, host order (NULL) or network order (LOOP)
      if (end - start < 4) return linkShort(d, 'loopback header');
      let fam = pk.linkType === 108 ? u32be(b, start) : u32le(b, start);
      if (fam > 0xffff) fam = u32be(b, start); // written on a host of the other byte order
      if (fam === 2) return ip4(b, start + 4, end, d, ctx, snapped);
      if (fam === 24 || fam === 28 || fam === 30 || fam === 10) return ip6(b, start + 4, end, d, ctx, snapped);
      return rawIp(b, start + 4, end, d, ctx, snapped);
    }
    case 9: {
      // PPP (RFC 1661), optional address/control ff 03
      let p = start;
      if (end - p >= 2 && b[p] === 0xff && b[p + 1] === 0x03) p += 2;
      if (end - p < 2) return linkShort(d, 'PPP header');
      const proto = u16be(b, p);
      if (proto === 0x0021) return ip4(b, p + 2, end, d, ctx, snapped);
      if (proto === 0x0057) return ip6(b, p + 2, end, d, ctx, snapped);
      return true;
    }
    case 104: {
      // Cisco HDLC: address, control, ethertype
      if (end - start < 4) return linkShort(d, 'Cisco HDLC header');
      return ethertype(b, start + 4, end, u16be(b, start + 2), d, ctx, snapped);
    }
    case 127: {
      // radiotap: little-endian length at 2, then 802.11
      if (end - start < 8) return linkShort(d, 'radiotap header');
      const rl = u16le(b, start + 2);
      if (rl > end - start) {
        d.anomaly('radiotap_bad_length', `radiotap length ${rl}`);
        return true;
      }
      return wlan(b, start + rl, end, d, ctx, snapped);
    }
    case 105:
      return wlan(b, start, end, d, ctx, snapped);
    case 10:
      // FDDI: frame control, destination and source (bit order not canonical: MACs not recorded), then LLC
      if (end - start < 13) return linkShort(d, 'FDDI header');
      return llc(b, start + 13, end, d, ctx, snapped);
    case 239:
      return nflog(b, start, end, d, ctx, snapped);
    case 258: {
      // PKTAP (Apple): header length (LE u32) at 0, inner DLT at 4
      if (end - start < 8) return linkShort(d, 'PKTAP header');
      const hl = u32le(b, start);
      const dlt = u32le(b, start + 4);
      if (hl < 8 || hl > end - start) return linkShort(d, 'PKTAP header');
      if (dlt === 1) return ethernet(b, start + hl, end, d, ctx, snapped);
      if (dlt === 12 || dlt === 101) return rawIp(b, start + hl, end, d, ctx, snapped);
      return true;
    }
    default:
      return false;
  }
}

function linkShort(d: Decoded, what: string): boolean {
  d.anomaly('link_truncated', `frame shorter than the ${what}`);
  return true;
}

function ethernet(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (end - p < 14) return linkShort(d, 'Ethernet header');
  if (d.tunnelDepth === 0) d.macOff = p;
  const type = u16be(b, p + 12);
  if (type <= 1500) {
    // 802.3 length field: LLC/SNAP
    return llc(b, p + 14, end, d, ctx, snapped);
  }
  return ethertype(b, p + 14, end, type, d, ctx, snapped);
}

function llc(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  // SNAP: aa aa 03 + OUI(3) + type(2)
  if (end - p >= 8 && b[p] === 0xaa && b[p + 1] === 0xaa && b[p + 2] === 0x03) {
    return ethertype(b, p + 8, end, u16be(b, p + 6), d, ctx, snapped);
  }
  return true; // STP, NetBIOS over LLC, ...: not decoded further
}

function ethertype(b: Buffer, p: number, end: number, type: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  let tags = 0;
  while (type === ETH_VLAN || type === ETH_QINQ || type === ETH_QINQ_OLD) {
    if (end - p < 4) {
      d.anomaly('vlan_truncated');
      return true;
    }
    const id = u16be(b, p) & 0x0fff;
    if (tags === 0) d.vlan = id;
    else if (tags === 1) d.innerVlan = id;
    type = u16be(b, p + 2);
    p += 4;
    if (++tags > 8) {
      d.anomaly('vlan_too_many_tags');
      return true;
    }
  }
  d.etherType = type;
  if (type === ETH_IPV4) return ip4(b, p, end, d, ctx, snapped);
  if (type === ETH_IPV6) return ip6(b, p, end, d, ctx, snapped);
  if (type === ETH_ARP) {
    d.isArp = true;
    if (end - p < 8) d.anomaly('arp_truncated');
    return true;
  }
  if (type === 0x8903) {
    // Cisco FabricPath: FTag/TTL, then the original Ethernet frame
    if (end - p < 2 + 14) return linkShort(d, 'FabricPath header');
    return ethernet(b, p + 2, end, d, ctx, snapped);
  }
  if (type === 0x8864 && end - p >= 8) {
    // PPPoE session: 6-byte header + PPP protocol
    const proto = u16be(b, p + 6);
    if (proto === 0x0021) return ip4(b, p + 8, end, d, ctx, snapped);
    if (proto === 0x0057) return ip6(b, p + 8, end, d, ctx, snapped);
  }
  if (type === 0x8847 || type === 0x8848) {
    // MPLS: skip labels to bottom of stack, guess IP version
    let q = p;
    for (let i = 0; i < 8 && end - q >= 4; i++) {
      const bos = b[q + 2] & 1;
      q += 4;
      if (bos) {
        if (q < end) {
          const v = b[q] >> 4;
          if (v === 4) return ip4(b, q, end, d, ctx, snapped);
          if (v === 6) return ip6(b, q, end, d, ctx, snapped);
        }
        break;
      }
    }
  }
  return true;
}

function rawIp(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (end - p < 1) return linkShort(d, 'IP version');
  const v = b[p] >> 4;
  if (v === 4) return ip4(b, p, end, d, ctx, snapped);
  if (v === 6) return ip6(b, p, end, d, ctx, snapped);
  d.anomaly('ip_bad_version', `version ${v}`);
  return true;
}

function wlan(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (end - p < 24) {
    d.anomaly('wlan_truncated');
    return true;
  }
  const fc0 = b[p];
  const fc1 = b[p + 1];
  const type = (fc0 >> 2) & 3;
  if (type !== 2) return true; // management/control frames: not decoded
  const subtype = (fc0 >> 4) & 0xf;
  if (fc1 & 0x40) return true; // protected (encrypted) frame
  let hl = 24;
  if ((fc1 & 3) === 3) hl += 6; // four addresses
  if (subtype & 0x8) hl += 2; // QoS
  if (subtype & 0x4) return true; // null data
  if (fc1 & 0x80 && subtype & 0x8) hl += 4; // HT control
  if (end - p < hl) {
    d.anomaly('wlan_truncated');
    return true;
  }
  return llc(b, p + hl, end, d, ctx, snapped);
}

function nflog(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (end - p < 4) return linkShort(d, 'NFLOG header');
  const family = b[p];
  let q = p + 4;
  while (end - q >= 4) {
    const len = u16le(b, q);
    const type = u16le(b, q + 2);
    if (len < 4 || q + len > end) break;
    if (type === 9) {
      if (family === 10) return ip6(b, q + 4, q + len, d, ctx, snapped);
      return ip4(b, q + 4, q + len, d, ctx, snapped);
    }
    q += (len + 3) & ~3;
  }
  return true;
}

function ip4(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  const avail = end - p;
  if (avail < 20) {
    d.anomaly('ipv4_truncated_header', `${avail} bytes`);
    return true;
  }
  const vihl = b[p];
  if (vihl >> 4 !== 4) {
    if (vihl >> 4 === 6) return ip6(b, p, end, d, ctx, snapped);
    d.anomaly('ip_bad_version', `version ${vihl >> 4}`);
    return true;
  }
  const ihl = (vihl & 15) * 4;
  if (ihl < 20) {
    d.anomaly('ipv4_bad_ihl', `IHL ${ihl / 4}`);
    return true;
  }
  if (avail < ihl) {
    d.anomaly('ipv4_truncated_header', `header ${ihl} bytes, ${avail} captured`);
    return true;
  }
  let total = u16be(b, p + 2);
  if (total === 0 && avail > ihl) {
    total = avail; // TSO: total length 0 on offloaded captures, as Wireshark handles it
  }
  if (total < ihl) {
    d.anomaly('ipv4_bad_total_length', `total length ${total} < header ${ihl}`);
    return true;
  }
  d.ipVersion = 4;
  d.nb = b;
  d.srcOff = p + 12;
  d.dstOff = p + 16;
  d.ipLen = total;
  d.ipHdrLen = ihl;
  const proto = b[p + 9];
  d.proto = proto;
  if (ihl > 20) ip4Options(b, p + 20, p + ihl, d);
  let availL4 = Math.min(avail, total) - ihl;
  if (avail < total && !snapped) {
    d.anomaly('ipv4_truncated_payload', `total length ${total}, ${avail} bytes in frame`);
  }
  const ff = u16be(b, p + 6);
  const more = (ff & 0x2000) !== 0;
  const fragOff = (ff & 0x1fff) * 8;
  if (more || fragOff) {
    d.fragHeld = true;
    if (availL4 < total - ihl) return true; // incomplete fragment capture: cannot reassemble
    const key = `4${b.toString('latin1', p + 12, p + 20)}${u16be(b, p + 4)}/${proto}`;
    const r = ctx.frag.add(key, fragOff, more, b.subarray(p + ihl, p + ihl + availL4), fragOff === 0 ? b.subarray(p, p + ihl) : null, ctx.now, d.onAnomaly);
    if (!r) return true;
    d.fragHeld = false;
    // addresses stay valid in this packet's buffer (same for all fragments)
    d.ipLen = ihl + r.payload.length;
    availL4 = r.payload.length;
    return transport(r.payload, 0, availL4, r.payload.length, proto, d, ctx, false);
  }
  return transport(b, p + ihl, availL4, total - ihl, proto, d, ctx, snapped);
}

/** Walks IPv4 options only to validate their lengths (ipv4_bad_options). */
function ip4Options(b: Buffer, p: number, end: number, d: Decoded): void {
  while (p < end) {
    const t = b[p];
    if (t === 0) return;
    if (t === 1) {
      p++;
      continue;
    }
    if (p + 1 >= end || b[p + 1] < 2 || p + b[p + 1] > end) {
      d.anomaly('ipv4_bad_options', `option ${t} with length ${p + 1 < end ? b[p + 1] : 'missing'}`);
      return;
    }
    p += b[p + 1];
  }
}

function ip6(b: Buffer, p: number, end: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  const avail = end - p;
  if (avail < 40) {
    d.anomaly('ipv6_truncated_header', `${avail} bytes`);
    return true;
  }
  if (b[p] >> 4 !== 6) {
    if (b[p] >> 4 === 4) return ip4(b, p, end, d, ctx, snapped);
    d.anomaly('ip_bad_version', `version ${b[p] >> 4}`);
    return true;
  }
  // payload length 0 is taken as it is (as Zeek); jumbograms (hop-by-hop option) are not decoded
  const plen = u16be(b, p + 4);
  d.ipVersion = 6;
  d.nb = b;
  d.srcOff = p + 8;
  d.dstOff = p + 24;
  d.ipLen = 40 + plen;
  if (avail < 40 + plen && !snapped) d.anomaly('ipv6_truncated_payload', `payload length ${plen}, ${avail - 40} bytes in frame`);
  const dataEnd = p + Math.min(avail, 40 + plen);
  let nh = b[p + 6];
  let q = p + 40;
  let n = 0;
  let fragOff = 0;
  let more = false;
  let fragId = -1;
  for (;;) {
    if (nh === 0 || nh === 43 || nh === 60 || nh === 135 || nh === 139 || nh === 140 || nh === 51 || nh === 44) {
      if (++n > 16) {
        d.anomaly('ipv6_too_many_ext_headers');
        return true;
      }
      if (dataEnd - q < 8) {
        d.anomaly('ipv6_truncated_ext_header', `next header ${nh}`);
        return true;
      }
      const next = b[q];
      let hl: number;
      if (nh === 44) {
        hl = 8;
        const fo = u16be(b, q + 2);
        fragOff = fo & 0xfff8;
        more = (fo & 1) !== 0;
        fragId = u32be(b, q + 4);
      } else if (nh === 51) hl = (b[q + 1] + 2) * 4;
      else hl = (b[q + 1] + 1) * 8;
      if (q + hl > dataEnd) {
        d.anomaly('ipv6_truncated_ext_header', `next header ${nh}, ${hl} bytes`);
        return true;
      }
      nh = next;
      q += hl;
      continue;
    }
    break;
  }
  d.proto = nh;
  d.ipHdrLen = q - p;
  if (fragId >= 0 && (more || fragOff)) {
    d.fragHeld = true;
    const plAvail = dataEnd - q;
    if (p + 40 + plen > end) return true;
    const key = `6${b.toString('latin1', p + 8, p + 40)}${fragId}`;
    const r = ctx.frag.add(key, fragOff, more, b.subarray(q, q + plAvail), fragOff === 0 ? b.subarray(p, q) : null, ctx.now, d.onAnomaly);
    if (!r) return true;
    d.fragHeld = false;
    d.ipLen = q - p + r.payload.length;
    return transport(r.payload, 0, r.payload.length, r.payload.length, nh, d, ctx, false);
  }
  if (fragId >= 0) {
    // atomic fragment (offset 0, no more): just skip the header
  }
  const l4Len = p + 40 + plen - q;
  return transport(b, q, dataEnd - q, l4Len, nh, d, ctx, snapped);
}

function transport(b: Buffer, p: number, avail: number, l4Len: number, proto: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  d.tb = b;
  d.l4Off = p;
  d.l4Avail = avail;
  d.l4Len = l4Len;
  switch (proto) {
    case PROTO_TCP:
      return tcp(b, p, avail, l4Len, d, snapped);
    case PROTO_UDP:
      return udp(b, p, avail, l4Len, d, ctx, snapped);
    case PROTO_ICMP:
    case PROTO_ICMPV6:
      if (avail < 4) {
        if (!snapped || avail < 2) d.anomaly('icmp_truncated', `${avail} bytes`);
        if (avail >= 2) {
          d.icmpType = b[p];
          d.icmpCode = b[p + 1];
          d.hasL4 = true;
        }
        return true;
      }
      d.icmpType = b[p];
      d.icmpCode = b[p + 1];
      d.hasL4 = true;
      d.payloadLen = Math.max(0, l4Len - 8);
      d.payloadOff = p + 8;
      d.payloadCaptured = Math.max(0, avail - 8);
      return true;
    case 4: // IP-in-IP
    case 41: // IPv6-in-IP
      if (++d.tunnelDepth > 4) {
        d.anomaly('tunnel_too_deep');
        return true;
      }
      return proto === 4 ? ip4(b, p, p + avail, d, ctx, snapped) : ip6(b, p, p + avail, d, ctx, snapped);
    case 47:
      return gre(b, p, avail, d, ctx, snapped);
    default:
      d.payloadLen = l4Len;
      return true;
  }
}

function gre(b: Buffer, p: number, avail: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (avail < 4) {
    d.anomaly('gre_truncated');
    return true;
  }
  const flags = u16be(b, p);
  const ver = flags & 7;
  const type = u16be(b, p + 2);
  let hl = 4;
  if (flags & 0x8000) hl += 4; // checksum + reserved
  if (flags & 0x2000) hl += 4; // key
  if (flags & 0x1000) hl += 4; // sequence
  if (ver === 1 && flags & 0x0080) hl += 4; // PPTP ack
  if (avail < hl) {
    d.anomaly('gre_truncated');
    return true;
  }
  if (ver !== 0 && ver !== 1) return true;
  if (++d.tunnelDepth > 4) {
    d.anomaly('tunnel_too_deep');
    return true;
  }
  const end = p + avail;
  if (type === ETH_TEB) return ethernet(b, p + hl, end, d, ctx, snapped);
  if (ver === 1 && type === 0x880b) {
    // PPTP enhanced GRE carrying PPP
    let q = p + hl;
    if (end - q >= 2 && b[q] === 0xff && b[q + 1] === 0x03) q += 2;
    if (end - q >= 2) {
      const pp = u16be(b, q);
      if (pp === 0x0021) return ip4(b, q + 2, end, d, ctx, snapped);
      if (pp === 0x0057) return ip6(b, q + 2, end, d, ctx, snapped);
    }
    d.tunnelDepth--;
    return true;
  }
  if (type === ETH_IPV4 || type === ETH_IPV6) return ethertype(b, p + hl, end, type, d, ctx, snapped);
  d.tunnelDepth--;
  return true;
}

function tcp(b: Buffer, p: number, avail: number, l4Len: number, d: Decoded, snapped: boolean): boolean {
  if (avail < 20) {
    if (!snapped || avail < 14) d.anomaly('tcp_truncated_header', `${avail} bytes`);
    if (avail >= 14) {
      // ports, sequence numbers and flags are still usable (snaplen cut inside the header)
      d.sport = u16be(b, p);
      d.dport = u16be(b, p + 2);
      d.seqI = i32be(b, p + 4);
      d.ackI = i32be(b, p + 8);
      d.tcpFlags = b[p + 13];
      d.hasL4 = true;
      d.tcpHdrLen = 20;
      d.payloadLen = Math.max(0, l4Len - ((b[p + 12] >> 4) * 4 || 20));
    }
    return true;
  }
  d.sport = u16be(b, p);
  d.dport = u16be(b, p + 2);
  d.seqI = i32be(b, p + 4);
  d.ackI = i32be(b, p + 8);
  const off = (b[p + 12] >> 4) * 4;
  d.tcpFlags = b[p + 13];
  d.win = u16be(b, p + 14);
  d.hasL4 = true;
  if (off < 20) {
    d.anomaly('tcp_bad_data_offset', `data offset ${off / 4}`);
    d.tcpHdrLen = 20;
    d.payloadLen = 0;
    return true;
  }
  d.tcpHdrLen = off;
  d.payloadLen = Math.max(0, l4Len - off);
  if (avail < off) {
    if (!snapped) d.anomaly('tcp_truncated_header', `data offset ${off}, ${avail} bytes`);
    d.payloadCaptured = 0;
    d.payloadOff = p + avail;
  } else {
    d.payloadOff = p + off;
    d.payloadCaptured = Math.min(avail, l4Len) - off;
    if (d.payloadCaptured < 0) d.payloadCaptured = 0;
    if (off > 20) tcpOptions(b, p + 20, p + off, d);
  }
  const fl = d.tcpFlags;
  if (fl & TCP_SYN && d.payloadLen > 0) d.anomaly('tcp_syn_with_data', `${d.payloadLen} bytes`);
  if ((fl & 0x3f) === 0) d.anomaly('tcp_flags_null');
  else if ((fl & (TCP_FIN | TCP_PSH | TCP_URG)) === (TCP_FIN | TCP_PSH | TCP_URG)) d.anomaly('tcp_flags_xmas');
  if ((fl & (TCP_SYN | TCP_FIN)) === (TCP_SYN | TCP_FIN)) d.anomaly('tcp_syn_fin');
  return true;
}

function tcpOptions(b: Buffer, p: number, end: number, d: Decoded): void {
  while (p < end) {
    const kind = b[p];
    if (kind === 0) return;
    if (kind === 1) {
      p++;
      continue;
    }
    if (p + 1 >= end) {
      d.anomaly('tcp_bad_option', `option ${kind} without length`);
      return;
    }
    const len = b[p + 1];
    if (len < 2 || p + len > end) {
      d.anomaly('tcp_bad_option', `option ${kind} length ${len}`);
      return;
    }
    if (kind === 2 && len === 4) d.mss = u16be(b, p + 2);
    else if (kind === 3 && len === 3) d.wscale = b[p + 2];
    else if (kind === 4) d.sackOk = true;
    else if (kind === 8 && len === 10) {
      d.tsValI = i32be(b, p + 2);
      d.hasTsOpt = true;
    }
    p += len;
  }
}

function udp(b: Buffer, p: number, avail: number, l4Len: number, d: Decoded, ctx: DecodeContext, snapped: boolean): boolean {
  if (avail < 8) {
    if (!snapped || avail < 4) d.anomaly('udp_truncated_header', `${avail} bytes`);
    if (avail >= 4) {
      d.sport = u16be(b, p);
      d.dport = u16be(b, p + 2);
      d.hasL4 = true;
      d.payloadLen = Math.max(0, l4Len - 8);
    }
    return true;
  }
  d.sport = u16be(b, p);
  d.dport = u16be(b, p + 2);
  d.hasL4 = true;
  const ulen = u16be(b, p + 4);
  let plen = l4Len - 8;
  if (ulen < 8 || ulen > l4Len) {
    if (ulen !== 0) d.anomaly('udp_bad_length', `UDP length ${ulen}, IP payload ${l4Len}`);
  } else plen = ulen - 8;
  d.payloadLen = plen;
  d.payloadOff = p + 8;
  d.payloadCaptured = Math.max(0, Math.min(avail - 8, plen));
  void ctx;
  return true;
}

// ---- tunnels inside UDP ------------------------------------------------------------------------

/** UDP ports of the tunnels decapsulated (Zeek's defaults). */
export const UDP_TUNNEL_PORTS: ReadonlySet<number> = new Set([4789, 6081, 2152, 3544]);

/** Zeek's service names of the outer UDP connections. */
export type UdpTunnel = 'vxlan' | 'geneve' | 'gtpv1' | 'teredo';

/**
 * The packet inside a UDP tunnel, when `outer` (a decoded UDP datagram) carries one: VXLAN (UDP
 * 4789: 8-byte header with the I flag, then Ethernet), Geneve (6081: version 0, options, then
 * Ethernet or IP), GTP-U (2152: GTPv1 T-PDU with optional fields and extension headers, then IP)
 * or Teredo (3544, either port: optional authentication and origin-indication headers, then an
 * IPv6 header whose lengths fit the datagram; on other ports, between a client and its relays or
 * peers, an IPv6 header with a Teredo address 2001:0::/32). Teredo bubbles open NAT state only
 * and are left in the outer flow. The inner packet is decoded into `inner` (its
 * link-layer addresses and VLANs are the outer packet's) and the tunnel's name is returned; null
 * when the payload is not such a tunnel. Bytes are checked before use: a payload that only
 * looks like a tunnel by its port is left alone, never an error.
 */
export function decodeUdpTunnel(outer: Decoded, inner: Decoded, ctx: DecodeContext): UdpTunnel | null {
  if (outer.proto !== PROTO_UDP || outer.payloadCaptured === 0 || outer.tunnelDepth >= 4) return null;
  const sp = outer.sport;
  const dp = outer.dport;
  const b = outer.tb;
  const p = outer.payloadOff;
  const end = p + outer.payloadCaptured;
  // Teredo peers other than the server talk on any port: recognised by the packet itself
  const anyPort = !UDP_TUNNEL_PORTS.has(dp) && !UDP_TUNNEL_PORTS.has(sp);
  if (anyPort && (b[p] >> 4 !== 6 || !teredoAddresses(b, p, end, p + outer.payloadLen))) return null;
  const snapped = outer.payloadCaptured < outer.payloadLen;
  let kind: UdpTunnel | null = null;
  let at = -1;
  let next = 0; // 1: Ethernet, 4: IPv4, 6: IPv6
  if (dp === 4789) {
    // VXLAN (RFC 7348): flags (I = 0x08), 3 reserved, VNI (3), reserved
    if (end - p >= 8 && (b[p] & 0x08) !== 0) {
      kind = 'vxlan';
      at = p + 8;
      next = 1;
    }
  } else if (dp === 6081) {
    // Geneve (RFC 8926): version (2 bits) and option length in 4-byte words, flags, protocol type
    if (end - p >= 8 && b[p] >> 6 === 0) {
      const hl = 8 + (b[p] & 0x3f) * 4;
      const type = u16be(b, p + 2);
      if (end - p >= hl && (type === ETH_TEB || type === ETH_IPV4 || type === ETH_IPV6)) {
        kind = 'geneve';
        at = p + hl;
        next = type === ETH_TEB ? 1 : type === ETH_IPV4 ? 4 : 6;
      }
    }
  } else if (dp === 2152 || sp === 2152) {
    at = gtpU(b, p, end);
    if (at >= 0 && at < end) {
      const v = b[at] >> 4;
      if (v === 4 || v === 6) {
        kind = 'gtpv1';
        next = v;
      }
    }
  } else if (dp === 3544 || sp === 3544 || anyPort) {
    // lengths are checked against the datagram as sent (a snaplen may have cut the capture)
    at = teredo(b, p, end, p + outer.payloadLen);
    if (at >= 0) {
      kind = 'teredo';
      next = 6;
    }
  }
  if (kind === null) return null;
  inner.reset();
  inner.tunnelDepth = outer.tunnelDepth + 1;
  inner.macOff = outer.macOff;
  inner.vlan = outer.vlan;
  inner.innerVlan = outer.innerVlan;
  if (next === 1) ethernet(b, at, end, inner, ctx, snapped);
  else if (next === 4) ip4(b, at, end, inner, ctx, snapped);
  else ip6(b, at, end, inner, ctx, snapped);
  return kind;
}

/**
 * Decodes a packet as the flow table sees it: the packet inside a UDP tunnel when there is one
 * (decoded into `inner`), else the packet itself (in `d`). Null when the link type is not
 * decodable.
 */
export function decodeInnermost(pk: RawPacket, d: Decoded, inner: Decoded, ctx: DecodeContext): Decoded | null {
  if (!decodePacket(pk, d, ctx)) return null;
  if (d.proto === PROTO_UDP && d.payloadCaptured > 0 && decodeUdpTunnel(d, inner, ctx) !== null) return inner;
  return d;
}

/** Where a GTPv1-U T-PDU's payload starts in b[p, end), or -1 (another message or not GTP). */
function gtpU(b: Buffer, p: number, end: number): number {
  if (end - p < 8) return -1;
  const flags = b[p];
  // version 1, protocol type GTP, message type 255 (T-PDU)
  if (flags >> 5 !== 1 || (flags & 0x10) === 0 || b[p + 1] !== 0xff) return -1;
  let q = p + 8;
  if ((flags & 0x07) !== 0) {
    // sequence number, N-PDU number and next extension header type are present together (any of
    // S, PN, E set); the next-type byte means something only with E
    if (end - q < 4) return -1;
    let ext = (flags & 0x04) !== 0 ? b[q + 3] : 0;
    q += 4;
    for (let n = 0; ext !== 0; n++) {
      if (n >= 16 || end - q < 4) return -1;
      const len = b[q] * 4;
      if (len === 0 || end - q < len) return -1;
      ext = b[q + len - 1];
      q += len;
    }
  }
  return q;
}

/** Where a Teredo datagram's IPv6 packet starts in b[p, end), or -1 (`full`: where the datagram as sent ends). */
function teredo(b: Buffer, p: number, end: number, full: number): number {
  let q = p;
  // authentication header (RFC 4380 5.1.1): 00 01, id length, auth length, id, auth, nonce (8), confirmation (1)
  if (end - q >= 4 && b[q] === 0 && b[q + 1] === 1) {
    q += 4 + b[q + 2] + b[q + 3] + 9;
    if (q > end) return -1;
  }
  // origin indication: 00 00, port and address (8 bytes in all)
  if (end - q >= 8 && b[q] === 0 && b[q + 1] === 0) q += 8;
  // an IPv6 header whose payload length is what the datagram holds (Zeek checks the same)
  if (end - q < 40 || b[q] >> 4 !== 6) return -1;
  const plen = u16be(b, q + 4);
  if (40 + plen !== full - q) return -1;
  // a bubble (no next header, no payload) only opens NAT state: no inner connection, as Zeek
  if (plen === 0 && b[q + 6] === 59) return -1;
  return q;
}

/**
 * An IPv6 header at b[p] whose payload fills the datagram and with an address in the Teredo
 * prefix 2001:0::/32 (Zeek's Teredo signature looks for the same).
 */
function teredoAddresses(b: Buffer, p: number, end: number, full: number): boolean {
  if (end - p < 40 || 40 + u16be(b, p + 4) !== full - p) return false;
  const pre = (o: number) => b[o] === 0x20 && b[o + 1] === 0x01 && b[o + 2] === 0 && b[o + 3] === 0;
  return pre(p + 8) || pre(p + 24);
}
