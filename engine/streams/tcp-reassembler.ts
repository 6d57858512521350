/**
 * TCP stream reassembly, one direction of one connection at a time.
 *
 * Segments arrive in capture order; the receiver gets the direction's bytes in sequence order,
 * each byte once. In-order segments (the common case) are handed over without a copy; only
 * segments that arrive ahead of a hole are copied and kept until the hole fills.
 *
 * - Retransmissions of bytes already delivered are dropped (they are not kept, so a retransmission
 *   that differs from what was delivered cannot be noticed: Wireshark and Zeek keep the first
 *   copy too, and Zeek reports a difference only while it still holds the data).
 * - Overlaps among held segments: the copy that arrived first wins; differing bytes are reported
 *   as `tcp_overlap_inconsistent` (a classic evasion, or corruption).
 * - Holes (capture loss): when the held data exceeds the per-stream limit or the shared total,
 *   or when the stream ends, the receiver is told `gap(len)` and delivery resumes after the hole
 *   (`tcp_reassembly_limit`, `tcp_content_gap`).
 *
 * Sequence numbers are 32-bit and wrap; positions here are stream offsets (bytes since the start),
 * exact up to 2^53, computed from the signed 32-bit distance to the next expected sequence number.
 */
import type { AnomalyName } from '../../common/anomalies.js';

export interface StreamReceiver {
  /** In-order bytes: `bytes[start, end)`, valid only during the call. */
  data(bytes: Uint8Array, start: number, end: number): void;
  /** `len` bytes at this point of the stream were never seen. */
  gap(len: number): void;
}

export interface ReassemblyLimits {
  /** Bytes held ahead of a hole per direction of a connection. */
  perStream: number;
  /** Bytes held ahead of holes over all connections. */
  total: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: ReassemblyLimits = { perStream: 1 << 20, total: 64 << 20 };

/** Accounting of held bytes shared by all streams of an ingest. */
export class ReassemblyBudget {
  held = 0;
  constructor(readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY_LIMITS) {}
}

/** Shared empty list: most streams never hold anything (never written to: hold() replaces it). */
const NO_HELD: Held[] = [];

interface Held {
  /** Stream offset of data[0]. */
  at: number;
  data: Uint8Array;
}

export type AnomalyFn = (name: AnomalyName, detail: string) => void;

export class TcpStream {
  /** Stream offset of the next byte to deliver, or -1 until the first sequence number is known. */
  private next = -1;
  /** Sequence number of stream offset `next`. */
  private nextSeq = 0;
  /** Segments ahead of a hole, sorted by offset, never overlapping (made on first use). */
  private held: Held[] = NO_HELD;
  private heldBytes = 0;
  /** Bytes delivered, bytes of retransmissions dropped, bytes declared missing. */
  delivered = 0;
  retransmitted = 0;
  missing = 0;
  /** Set by `close()`: later segments are ignored. */
  private closed = false;

  constructor(
    private readonly rx: StreamReceiver,
    private readonly budget: ReassemblyBudget,
    private readonly anomaly: AnomalyFn,
  ) {}

  /** The direction's SYN: its data starts at isn + 1. Ignored once the start is known. */
  syn(isn: number): void {
    if (this.next >= 0) return;
    this.next = 0;
    this.nextSeq = (isn + 1) >>> 0;
  }

  /** Continues a stream whose first `offset` bytes were delivered elsewhere (a follow-stream page). */
  resume(seq: number, offset: number): void {
    this.next = offset;
    this.nextSeq = seq >>> 0;
  }

  /** Sequence number expected next, or -1 before the stream started. */
  get nextSequence(): number {
    return this.next < 0 ? -1 : this.nextSeq;
  }

  /** Stream offset expected next, or -1 before the stream started. */
  get startedOffset(): number {
    return this.next;
  }

  /** Bytes held ahead of holes. */
  get pendingBytes(): number {
    return this.heldBytes;
  }

  /** Stream offset of the next byte expected (0 before any data). */
  get offset(): number {
    return Math.max(0, this.next);
  }

  /** One segment's payload `bytes[start, end)` with sequence number `seq`. */
  segment(seq: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.closed || end <= start) return;
    if (this.next < 0) {
      this.next = 0;
      this.nextSeq = seq >>> 0;
    }
    let at = this.next + ((seq - this.nextSeq) | 0);
    if (at + (end - start) <= this.next) {
      this.retransmitted += end - start;
      return;
    }
    if (at < this.next) {
      start += this.next - at;
      at = this.next;
    }
    if (at === this.next && this.held.length === 0) {
      this.deliver(bytes, start, end);
      return;
    }
    this.hold(at, bytes, start, end);
    this.drain();
    this.enforceLimits();
  }

  /** End of the stream: whatever is held is delivered, holes become gaps. */
  close(): void {
    if (this.closed) return;
    while (this.held.length > 0) this.skipHole('tcp_content_gap');
    this.closed = true;
  }

  /** Stops the stream without delivering what is held (its parser needs nothing more). */
  discard(): void {
    this.budget.held -= this.heldBytes;
    this.heldBytes = 0;
    this.held = NO_HELD;
    this.closed = true;
  }

  private deliver(bytes: Uint8Array, start: number, end: number): void {
    const n = end - start;
    this.next += n;
    this.nextSeq = (this.nextSeq + n) >>> 0;
    this.delivered += n;
    this.rx.data(bytes, start, end);
  }

  /**
   * Keeps a copy of the parts of [at, at + (end - start)) that no held segment covers yet; where
   * one does, the held (earlier) bytes win and are compared with the new ones.
   */
  private hold(at: number, bytes: Uint8Array, start: number, end: number): void {
    if (this.held === NO_HELD) this.held = [];
    const held = this.held;
    let pos = at;
    const stop = at + (end - start);
    let i = 0;
    while (i < held.length && held[i].at + held[i].data.length <= pos) i++;
    let inconsistent = false;
    while (pos < stop) {
      const h = i < held.length ? held[i] : null;
      if (h === null || h.at >= stop) {
        this.insertCopy(i, pos, bytes, start + (pos - at), end);
        return this.reportOverlap(inconsistent, at);
      }
      if (h.at > pos) {
        this.insertCopy(i, pos, bytes, start + (pos - at), start + (h.at - at));
        i++;
        pos = h.at;
        continue;
      }
      // [pos, min(stop, h end)) is covered by h
      const e = Math.min(stop, h.at + h.data.length);
      if (!inconsistent) {
        for (let k = pos; k < e; k++) {
          if (h.data[k - h.at] !== bytes[start + (k - at)]) {
            inconsistent = true;
            break;
          }
        }
      }
      pos = e;
      i++;
    }
    this.reportOverlap(inconsistent, at);
  }

  private reportOverlap(inconsistent: boolean, at: number): void {
    if (inconsistent) this.anomaly('tcp_overlap_inconsistent', `stream offset ${at}: overlapping segment differs; first copy kept`);
  }

  private insertCopy(i: number, at: number, bytes: Uint8Array, start: number, end: number): void {
    const data = bytes.slice(start, end);
    this.held.splice(i, 0, { at, data });
    this.heldBytes += data.length;
    this.budget.held += data.length;
  }

  /** Delivers held segments that start at the next expected offset. */
  private drain(): void {
    const held = this.held;
    while (held.length > 0 && held[0].at === this.next) {
      const h = held.shift()!;
      this.heldBytes -= h.data.length;
      this.budget.held -= h.data.length;
      this.deliver(h.data, 0, h.data.length);
    }
  }

  /** Declares the hole before the first held segment missing and delivers what follows it. */
  private skipHole(why: AnomalyName): void {
    const h = this.held[0];
    const len = h.at - this.next;
    if (len > 0) {
      this.anomaly(why, `${len} bytes missing at stream offset ${this.next}`);
      this.missing += len;
      this.next = h.at;
      this.nextSeq = (this.nextSeq + len) >>> 0;
      this.rx.gap(len);
    }
    this.drain();
  }

  private enforceLimits(): void {
    const lim = this.budget.limits;
    while (this.held.length > 0 && (this.heldBytes > lim.perStream || this.budget.held > lim.total)) this.skipHole('tcp_reassembly_limit');
  }
}
