import type { AnomalyName } from '../../common/anomalies.js';
import type { ChunkSource } from './source.js';

/**
 * One packet as read from the evidence. The object is reused by its reader: it is valid until the
 * next call of that reader's `next()` (hot paths allocate nothing per packet). The bytes are
 * `buf[off .. off + caplen)`.
 */
export interface RawPacket {
  buf: Buffer;
  off: number;
  caplen: number;
  origlen: number;
  tsSec: number;
  tsNs: number;
  linkType: number;
  /** Interface index within the file (pcap: always 0). */
  ifIndex: number;
  /** Byte offset of the packet record (its header) in the decompressed file. */
  fileOffset: number;
  /** 1-based frame number within the file, as Wireshark numbers frames. */
  packetNo: number;
  /** pcapng opt_comment of this packet, or null. */
  comment: string | null;
}

export interface ReaderIssue {
  name: AnomalyName;
  offset: number;
  packetNo: number;
  detail: string;
}

export interface InterfaceInfo {
  linkType: number;
  snaplen: number;
  /** Units per second of timestamps (1e6 for microseconds). */
  tsUnits: number;
  tsResolution: string;
  tsOffset: number;
  /** File offset of the pcapng section header of this interface (0 for pcap). */
  sectionOffset: number;
  /** Interface number within its section. */
  localId: number;
  name: string | null;
  description: string | null;
  packets: number;
  dropped: number | null;
}

export function newRawPacket(): RawPacket {
  return {
    buf: Buffer.alloc(0),
    off: 0,
    caplen: 0,
    origlen: 0,
    tsSec: 0,
    tsNs: 0,
    linkType: 0,
    ifIndex: 0,
    fileOffset: 0,
    packetNo: 0,
    comment: null,
  };
}

/**
 * Streaming, memory-bounded framing over a chunk source. Subclasses parse records from
 * `buf[pos..]`; when a record straddles the end of the buffer they return null from `next()` with
 * `needData` set, and the caller awaits `fill()`.
 *
 *   for (;;) { const p = r.next(); if (p) { use(p); continue } if (r.done) break; await r.fill() }
 */
export abstract class FramedReader {
  abstract readonly format: string;
  readonly interfaces: InterfaceInfo[] = [];
  readonly issues: ReaderIssue[] = [];
  /** Section comments (pcapng SHB opt_comment). */
  readonly comments: string[] = [];
  /** Name resolution records (pcapng NRB). */
  readonly names: { address: string; name: string }[] = [];
  /** True when reading stopped before the end or records were skipped. */
  partial = false;
  done = false;
  packets = 0;
  bytes = 0;

  protected buf: Buffer = Buffer.alloc(0);
  protected pos = 0;
  /** Absolute file offset of buf[0]. */
  protected base = 0;
  protected eof = false;
  protected readonly pkt: RawPacket = newRawPacket();

  constructor(
    protected readonly source: ChunkSource,
    readonly path: string,
  ) {}

  abstract next(): RawPacket | null;

  get compressed(): boolean {
    return this.source.compressed;
  }

  /** Format name for the evidence table, e.g. 'pcapng+gzip'. */
  get formatName(): string {
    return this.compressed ? `${this.format}+gzip` : this.format;
  }

  /** Bytes buffered and not yet consumed. */
  protected get avail(): number {
    return this.buf.length - this.pos;
  }

  async fill(): Promise<void> {
    if (this.eof) {
      this.finish();
      return;
    }
    const keep = this.buf.subarray(this.pos);
    let nb: Buffer | null;
    try {
      nb = await this.source.refill(keep);
    } catch (e) {
      const gz = this.source.compressed;
      this.issue(gz ? 'gzip_corrupt' : 'read_error', this.base + this.pos, `${(e as Error).message}`);
      this.partial = true;
      nb = null;
    }
    if (nb === null) {
      this.eof = true;
      return;
    }
    this.base += this.pos;
    this.buf = nb;
    this.pos = 0;
  }

  /** Called when the input ends; a subclass records a truncated trailing record here. */
  protected finish(): void {
    if (this.avail > 0) this.onTrailingBytes();
    this.done = true;
  }

  protected abstract onTrailingBytes(): void;

  issue(name: AnomalyName, offset: number, detail: string, packetNo = 0): void {
    // bounded: a hostile file cannot fill memory with issues
    if (this.issues.length < 10000) this.issues.push({ name, offset, packetNo, detail });
  }

  async close(): Promise<void> {
    await this.source.close();
  }
}
