/**
 * Reading captures for parser tests: the TCP payload segments of each connection, in capture
 * order, per direction, as the ingest would deliver them to a parser when nothing is reordered.
 * The originator is the sender of the SYN (or the peer of a SYN-ACK), else the first sender.
 * Zero-length segments are skipped and exact duplicates (same sequence number and length in the
 * same direction) dropped.
 */
import { openCapture } from '../../engine/readers/open.js';
import { Decoded, decodePacket } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import type { Dir } from '../../engine/app/types.js';

export interface TcpSegment {
  dir: Dir;
  seq: number;
  bytes: Buffer;
  sec: number;
  ns: number;
  packetNo: number;
}

export interface TcpConnection {
  /** "address:port" of the originator and the responder. */
  orig: string;
  resp: string;
  segments: TcpSegment[];
}

export async function tcpConnections(path: string): Promise<TcpConnection[]> {
  const r = await openCapture(path);
  const d = new Decoded();
  const frag = new Reassembler();
  const conns = new Map<string, TcpConnection & { seen: Set<string>[] }>();
  try {
    for (;;) {
      const pk = r.next();
      if (!pk) {
        if (r.done) break;
        await r.fill();
        continue;
      }
      if (!decodePacket(pk, d, { frag, now: 0 }) || d.proto !== 6 || !d.hasL4) continue;
      const fmt = d.ipVersion === 4 ? formatIPv4 : formatIPv6;
      const src = `${fmt(d.nb, d.srcOff)}:${d.sport}`;
      const dst = `${fmt(d.nb, d.dstOff)}:${d.dport}`;
      const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
      let c = conns.get(key);
      if (!c) {
        const synAck = (d.tcpFlags & 0x12) === 0x12;
        c = { orig: synAck ? dst : src, resp: synAck ? src : dst, segments: [], seen: [new Set(), new Set()] };
        conns.set(key, c);
      }
      if (d.payloadCaptured === 0) continue;
      const dir: Dir = src === c.orig ? 0 : 1;
      const id = `${d.seq}/${d.payloadCaptured}`;
      if (c.seen[dir].has(id)) continue;
      c.seen[dir].add(id);
      const bytes = Buffer.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured));
      c.segments.push({ dir, seq: d.seq, bytes, sec: pk.tsSec, ns: pk.tsNs, packetNo: pk.packetNo });
    }
  } finally {
    await r.close();
  }
  return [...conns.values()].map(({ orig, resp, segments }) => ({ orig, resp, segments }));
}
