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
import type { RawPacket } from '../../engine/readers/reader.js';

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

/**
 * With `serverPort`, only connections with that port on one side are read, and the originator is
 * the other side (right also for captures that start in the middle of a connection).
 */
export async function tcpConnections(path: string, opts: { serverPort?: number } = {}): Promise<TcpConnection[]> {
  const conns = new Map<string, TcpConnection & { seen: Set<string>[] }>();
  const port = opts.serverPort;
  await forEachDecoded(path, (pk, d) => {
    if (d.proto !== 6 || !d.hasL4) return;
    if (port !== undefined && d.sport !== port && d.dport !== port) return;
    const fmt = d.ipVersion === 4 ? formatIPv4 : formatIPv6;
    const src = `${fmt(d.nb, d.srcOff)}:${d.sport}`;
    const dst = `${fmt(d.nb, d.dstOff)}:${d.dport}`;
    const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
    let c = conns.get(key);
    if (!c) {
      const fromResp = port !== undefined ? d.sport === port : (d.tcpFlags & 0x12) === 0x12;
      c = { orig: fromResp ? dst : src, resp: fromResp ? src : dst, segments: [], seen: [new Set(), new Set()] };
      conns.set(key, c);
    }
    if (d.payloadCaptured === 0) return;
    const dir: Dir = src === c.orig ? 0 : 1;
    const id = `${d.seq}/${d.payloadCaptured}`;
    if (c.seen[dir].has(id)) return;
    c.seen[dir].add(id);
    const bytes = Buffer.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured));
    c.segments.push({ dir, seq: d.seq, bytes, sec: pk.tsSec, ns: pk.tsNs, packetNo: pk.packetNo });
  });
  return [...conns.values()].map(({ orig, resp, segments }) => ({ orig, resp, segments }));
}

/**
 * Calls `fn` for every packet of a capture that decodes, with the packet and its decoding (both
 * reused: copy what you keep).
 */
export async function forEachDecoded(path: string, fn: (pk: RawPacket, d: Decoded) => void): Promise<void> {
  const r = await openCapture(path);
  const d = new Decoded();
  const frag = new Reassembler();
  try {
    for (;;) {
      const pk = r.next();
      if (!pk) {
        if (r.done) break;
        await r.fill();
        continue;
      }
      // packet time as the ingest gives it (fragment timeouts)
      if (decodePacket(pk, d, { frag, now: pk.tsSec })) fn(pk, d);
    }
  } finally {
    await r.close();
  }
}
