/**
 * Follow stream: a TCP connection's conversation, rebuilt on demand from the original evidence
 * through the packet index (payloads are never stored in the case). The same reassembler as the
 * ingest puts each direction in order; chunks come out in the order their bytes became
 * deliverable, as Wireshark's "Follow TCP Stream" shows them.
 *
 * Paged: a page ends at the first packet boundary after `maxBytes` where neither direction holds
 * out-of-order data, and returns a cursor to continue from; a 1 GB stream is never loaded whole.
 * Packets are taken in frame order per evidence file (as tshark does).
 */
import type { CaseStore } from '../store/case-store.js';
import type { EvidenceReader } from '../readers/random.js';
import { flowByUid, openEvidence } from './packets.js';
import { Decoded, decodeInnermost, PROTO_TCP, TCP_SYN } from '../decode/packet.js';
import { Reassembler } from '../decode/frag.js';
import { formatIPv4, formatIPv6 } from '../decode/addr.js';
import { ReassemblyBudget, TcpStream, type StreamReceiver } from '../streams/tcp-reassembler.js';
import type { Dir } from '../app/types.js';

export interface StreamChunk {
  /** 0: client to server, 1: server to client. */
  dir: Dir;
  /** Frame number and evidence of the packet that completed this chunk. */
  packetNo: number;
  evidenceId: number;
  /** Offset of the chunk in its direction's byte stream. */
  offset: number;
  /** The bytes, or null for a gap (bytes never captured) of `gap` bytes. */
  data: Buffer | null;
  gap: number;
}

export interface StreamPage {
  uid: string;
  client: string;
  server: string;
  chunks: StreamChunk[];
  /** Bytes per direction delivered so far (up to the end of this page). */
  clientBytes: number;
  serverBytes: number;
  /** Pass as `cursor` to get the next page, or null at the end of the stream. */
  next: string | null;
}

export interface FollowOptions {
  /** Page size in bytes of conversation (default 1 MiB). */
  maxBytes?: number;
  /** Cursor from a previous page. */
  cursor?: string | null;
}

interface Cursor {
  /** Resume at this (evidence, frame) in index order. */
  ev: number;
  pno: number;
  /** Next sequence number and stream offset per direction (-1: not started). */
  seq: [number, number];
  off: [number, number];
}

const INDEX_PAGE = 4096;

function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

function decodeCursor(s: string): Cursor {
  let c: Cursor;
  try {
    c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw new Error('invalid stream cursor');
  }
  const ok = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= -1;
  if (!c || !ok(c.ev) || !ok(c.pno) || !Array.isArray(c.seq) || !Array.isArray(c.off) || ![...c.seq, ...c.off].every(ok)) {
    throw new Error('invalid stream cursor');
  }
  return c;
}

class Collector implements StreamReceiver {
  packetNo = 0;
  evidenceId = 0;
  constructor(
    private readonly dir: Dir,
    private readonly out: StreamChunk[],
    private readonly stream: () => TcpStream,
    private readonly total: { bytes: number },
  ) {}
  data(bytes: Uint8Array, start: number, end: number): void {
    this.total.bytes += end - start;
    const offset = this.stream().offset - (end - start);
    this.out.push({ dir: this.dir, packetNo: this.packetNo, evidenceId: this.evidenceId, offset, data: Buffer.from(bytes.subarray(start, end)), gap: 0 });
  }
  gap(len: number): void {
    this.out.push({ dir: this.dir, packetNo: this.packetNo, evidenceId: this.evidenceId, offset: this.stream().offset - len, data: null, gap: len });
  }
}

/** Packets a page runs on past its size, waiting for a half-reassembled IP datagram, before it starts the next page at the datagram. */
const FRAGMENT_WAIT = 256;
/** Bytes past the page size after which a page ends even with a datagram still held (bounds a page whatever the capture). */
const PAGE_OVERRUN = 64 << 20;

export async function followStream(store: CaseStore, uid: string, opts: FollowOptions = {}): Promise<StreamPage> {
  const maxBytes = opts.maxBytes ?? 1 << 20;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new Error('maxBytes must be a positive integer');
  const flow = await flowByUid(store, uid, 'flow_id, proto::VARCHAR AS proto, orig_h, orig_p, resp_h, resp_p');
  if (flow.proto !== 'tcp') throw new Error(`flow ${uid} is ${String(flow.proto)}, not tcp: only TCP streams can be followed`);
  const flowId = Number(flow.flow_id);
  const origH = String(flow.orig_h);
  const origP = Number(flow.orig_p);
  const cur: Cursor = opts.cursor ? decodeCursor(opts.cursor) : { ev: 0, pno: 0, seq: [-1, -1], off: [-1, -1] };

  const chunks: StreamChunk[] = [];
  const budget = new ReassemblyBudget({ perStream: 16 << 20, total: 32 << 20 });
  const streams: TcpStream[] = [];
  const total = { bytes: 0 };
  const collectors = ([0, 1] as Dir[]).map((dir) => new Collector(dir, chunks, () => streams[dir], total));
  for (const dir of [0, 1] as Dir[]) {
    const st = new TcpStream(collectors[dir], budget, () => undefined);
    if (cur.seq[dir] >= 0) st.resume(cur.seq[dir], cur.off[dir]);
    streams.push(st);
  }

  const d = new Decoded();
  const inner = new Decoded();
  const ctx = { frag: new Reassembler(), now: 0 };
  let reader: EvidenceReader | null = null;
  let readerEv = -1;
  let next: Cursor | null = null;
  let after = { ev: cur.ev, pno: cur.pno - 1 };
  /** Packets read past a possible page end while fragments were held. */
  let waited = 0;
  try {
    outer: for (;;) {
      const idx = await store.query(
        `SELECT p.evidence_id, p.packet_no, p.file_offset, e.path, e.format FROM packets p JOIN evidence e USING (evidence_id)
          WHERE p.flow_id = ${flowId} AND (p.evidence_id > ${after.ev} OR (p.evidence_id = ${after.ev} AND p.packet_no > ${after.pno}))
          ORDER BY p.evidence_id, p.packet_no LIMIT ${INDEX_PAGE}`,
      );
      if (idx.rows.length === 0) break;
      for (const r of idx.rows) {
        const ev = Number(r.evidence_id);
        const pno = Number(r.packet_no);
        if (ev !== readerEv) {
          if (reader) await reader.close();
          reader = await openEvidence(store, ev, String(r.path), String(r.format));
          readerEv = ev;
        }
        // a page may end here: enough bytes, nothing held out of order, and no IP datagram half
        // reassembled (the next page starts a fresh reassembler at the cursor, so its earlier
        // fragments would be lost)
        if (total.bytes >= maxBytes && streams[0].pendingBytes === 0 && streams[1].pendingBytes === 0) {
          const seq: [number, number] = [streams[0].nextSequence, streams[1].nextSequence];
          const off: [number, number] = [streams[0].startedOffset, streams[1].startedOffset];
          if (ctx.frag.size === 0 || total.bytes >= maxBytes + PAGE_OVERRUN) {
            next = { ev, pno, seq, off };
            break outer;
          }
          // a datagram's fragments are far apart: after FRAGMENT_WAIT packets the next page
          // starts at its first fragment instead (the bytes delivered since come again and are
          // dropped as already seen); when that is where this page began, the page runs on until
          // the datagram completes (all its fragments are in the flow's index)
          const first = ctx.frag.oldestFragment();
          if (++waited >= FRAGMENT_WAIT && first !== null && (first[0] > cur.ev || (first[0] === cur.ev && first[1] > cur.pno))) {
            next = { ev: first[0], pno: first[1], seq, off };
            break outer;
          }
        }
        const p = await reader!.packetAt(Number(r.file_offset));
        ctx.frag.currentEvidence = ev;
        ctx.frag.currentPacket = pno;
        const raw = { buf: p.data, off: 0, caplen: p.data.length, origlen: p.origlen, tsSec: p.tsSec, tsNs: p.tsNs, linkType: p.linkType, ifIndex: 0, fileOffset: 0, packetNo: pno, comment: null };
        ctx.now = p.tsSec;
        // the connection may be inside a UDP tunnel (VXLAN, Geneve, GTP-U, Teredo)
        const x = decodeInnermost(raw, d, inner, ctx);
        ctx.frag.completed = null; // which packets completed a datagram is the ingest's concern
        if (x === null || x.proto !== PROTO_TCP || !x.hasL4) continue;
        const src = x.ipVersion === 4 ? formatIPv4(x.nb, x.srcOff) : formatIPv6(x.nb, x.srcOff);
        const dir: Dir = src === origH && x.sport === origP ? 0 : 1;
        collectors[dir].packetNo = pno;
        collectors[dir].evidenceId = ev;
        if (x.tcpFlags & TCP_SYN) streams[dir].syn(x.seq);
        if (x.payloadCaptured > 0) streams[dir].segment(x.tcpFlags & TCP_SYN ? x.seq + 1 : x.seq, x.tb, x.payloadOff, x.payloadOff + x.payloadCaptured);
      }
      const last = idx.rows[idx.rows.length - 1];
      after = { ev: Number(last.evidence_id), pno: Number(last.packet_no) };
      if (idx.rows.length < INDEX_PAGE) break;
    }
    if (next === null) for (const st of streams) st.close();
  } finally {
    if (reader) await reader.close();
  }
  return {
    uid,
    client: `${origH}:${origP}`,
    server: `${String(flow.resp_h)}:${Number(flow.resp_p)}`,
    chunks,
    clientBytes: streams[0].offset,
    serverBytes: streams[1].offset,
    next: next ? encodeCursor(next) : null,
  };
}
