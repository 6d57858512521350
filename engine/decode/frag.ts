/**
 * IP fragment reassembly (IPv4 and IPv6), bounded in datagrams, bytes and time. First fragment
 * data wins on overlap; an overlap with different bytes is reported as fragment_overlap.
 */
import type { AnomalyName } from '../../common/anomalies.js';

interface Pending {
  parts: { off: number; data: Buffer }[];
  /** Evidence id and packet number of each fragment's packet, flattened (see Reassembler.current*). */
  refs: number[];
  totalLen: number; // -1 until the last fragment is seen
  bytes: number;
  firstSeen: number; // packet time, seconds
  firstHeader: Buffer | null; // copy of the IP header of the offset-0 fragment
}

export interface FragLimits {
  maxDatagrams: number;
  maxBytes: number;
  timeoutSec: number;
}

export const DEFAULT_FRAG_LIMITS: FragLimits = { maxDatagrams: 8192, maxBytes: 64 * 1024 * 1024, timeoutSec: 60 };

export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  private bytes = 0;
  private lastSweep = 0;
  /**
   * The packet whose fragments are being added (the ingest sets them before decoding a packet);
   * when a datagram completes, `completed` lists the (evidence id, packet number) pairs of all its
   * fragments, flattened.
   */
  currentEvidence = 0;
  currentPacket = 0;
  completed: number[] | null = null;
  constructor(private readonly limits: FragLimits = DEFAULT_FRAG_LIMITS) {}

  get size(): number {
    return this.pending.size;
  }

  /** (evidence id, packet number) of the earliest fragment held, or null when nothing is held. */
  oldestFragment(): [number, number] | null {
    let best: [number, number] | null = null;
    for (const p of this.pending.values()) {
      for (let i = 0; i < p.refs.length; i += 2) {
        const ev = p.refs[i];
        const no = p.refs[i + 1];
        if (best === null || ev < best[0] || (ev === best[0] && no < best[1])) best = [ev, no];
      }
    }
    return best;
  }

  /**
   * Adds one fragment. Returns the reassembled payload (transport header onward) when the
   * datagram is complete, else null. `anomaly` receives problems.
   */
  add(
    key: string,
    fragOff: number,
    more: boolean,
    data: Uint8Array,
    header: Uint8Array | null,
    now: number,
    anomaly: (n: AnomalyName, detail: string) => void,
  ): { payload: Buffer; header: Buffer | null } | null {
    if (now - this.lastSweep > 5) this.sweep(now, anomaly);
    let p = this.pending.get(key);
    if (!p) {
      if (this.pending.size >= this.limits.maxDatagrams || this.bytes + data.length > this.limits.maxBytes) {
        this.evictOldest(anomaly);
      }
      p = { parts: [], refs: [], totalLen: -1, bytes: 0, firstSeen: now, firstHeader: null };
      this.pending.set(key, p);
    }
    const end = fragOff + data.length;
    if (end > 65535) {
      anomaly('fragment_too_large', `fragment ends at ${end}`);
      this.drop(key, p);
      return null;
    }
    if (!more) p.totalLen = end;
    if (fragOff === 0 && header) p.firstHeader = Buffer.from(header);
    // overlap check (first wins)
    for (const q of p.parts) {
      const s = Math.max(q.off, fragOff);
      const e = Math.min(q.off + q.data.length, end);
      if (s < e) {
        const a = q.data.subarray(s - q.off, e - q.off);
        const b = data.subarray(s - fragOff, e - fragOff);
        if (Buffer.compare(a, b) !== 0) anomaly('fragment_overlap', `bytes ${s}-${e} differ between fragments`);
      }
    }
    // the byte limit holds for every fragment: evict other datagrams, or drop this fragment
    while (this.bytes + data.length > this.limits.maxBytes && this.pending.size > 1) {
      const first = this.pending.entries().next().value!;
      if (first[0] === key) break;
      anomaly('fragment_limit_reached', `dropped an incomplete datagram to stay within ${this.limits.maxBytes} bytes`);
      this.drop(first[0], first[1]);
    }
    if (this.bytes + data.length > this.limits.maxBytes) {
      anomaly('fragment_limit_reached', `fragment dropped: ${this.limits.maxBytes} bytes already held`);
      if (p.parts.length === 0) this.pending.delete(key);
      return null;
    }
    const copy = Buffer.from(data);
    p.parts.push({ off: fragOff, data: copy });
    p.refs.push(this.currentEvidence, this.currentPacket);
    p.bytes += copy.length;
    this.bytes += copy.length;
    if (p.totalLen < 0) return null;
    // complete when [0, totalLen) is covered
    const sorted = p.parts.slice().sort((x, y) => x.off - y.off);
    let covered = 0;
    for (const q of sorted) {
      if (q.off > covered) return null;
      covered = Math.max(covered, q.off + q.data.length);
    }
    if (covered < p.totalLen) return null;
    const out = Buffer.alloc(p.totalLen);
    // write later fragments first so that earlier-received (first) data wins on overlap
    for (let i = p.parts.length - 1; i >= 0; i--) {
      const q = p.parts[i];
      q.data.copy(out, q.off, 0, Math.min(q.data.length, p.totalLen - q.off));
    }
    this.drop(key, p);
    // an outer and an inner datagram may both complete with one packet (a fragmented tunnel)
    if (this.completed === null) this.completed = p.refs;
    else for (const x of p.refs) this.completed.push(x);
    return { payload: out, header: p.firstHeader };
  }

  private drop(key: string, p: Pending): void {
    this.bytes -= p.bytes;
    this.pending.delete(key);
  }

  private evictOldest(anomaly: (n: AnomalyName, detail: string) => void): void {
    const first = this.pending.entries().next();
    if (!first.done) {
      anomaly('fragment_limit_reached', `dropped an incomplete datagram to stay within ${this.limits.maxDatagrams} datagrams / ${this.limits.maxBytes} bytes`);
      this.drop(first.value[0], first.value[1]);
    }
  }

  private sweep(now: number, anomaly: (n: AnomalyName, detail: string) => void): void {
    this.lastSweep = now;
    for (const [k, p] of this.pending) {
      if (now - p.firstSeen > this.limits.timeoutSec) {
        anomaly('fragment_incomplete', `datagram timed out with ${p.bytes} bytes`);
        this.drop(k, p);
      }
    }
  }

  /** End of input: everything still pending is incomplete. */
  flush(anomaly: (n: AnomalyName, detail: string) => void): void {
    for (const [k, p] of this.pending) {
      anomaly('fragment_incomplete', `datagram incomplete at end of input with ${p.bytes} bytes`);
      this.drop(k, p);
    }
  }
}
