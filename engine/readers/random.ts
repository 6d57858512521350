/**
 * Random access to packets by the packet index: re-reads one record at a known file offset from
 * the original (read-only) evidence. Plain files are read with positioned reads; gzip files are
 * inflated sequentially up to each offset (offsets must be given in increasing order).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { GzipSource, type ChunkSource } from './source.js';
import { splitTimestamp } from './pcapng.js';

export interface IndexedInterface {
  interfaceId: number;
  linkType: number;
  tsUnits: number;
  /** Seconds added to timestamps (pcapng if_tsoffset). */
  tsOffset?: number;
  /** File offset of the interface's pcapng section header. */
  sectionOffset?: number;
  /** Interface number within its section. */
  localId?: number;
}

export interface ReadPacket {
  data: Buffer;
  origlen: number;
  tsSec: number;
  tsNs: number;
  linkType: number;
}

interface ByteReader {
  read(offset: number, len: number): Promise<Buffer>;
  close(): Promise<void>;
}

class PlainBytes implements ByteReader {
  constructor(private readonly fh: FileHandle) {}
  async read(offset: number, len: number): Promise<Buffer> {
    const b = Buffer.alloc(len);
    const { bytesRead } = await this.fh.read(b, 0, len, offset);
    return b.subarray(0, bytesRead);
  }
  async close(): Promise<void> {
    await this.fh.close();
  }
}

class GzipBytes implements ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private base = 0;
  constructor(private readonly src: ChunkSource) {}
  async read(offset: number, len: number): Promise<Buffer> {
    if (offset < this.base) throw new Error('gzip evidence must be read in increasing offset order');
    for (;;) {
      if (offset + len <= this.base + this.buf.length) return Buffer.from(this.buf.subarray(offset - this.base, offset - this.base + len));
      // drop what lies before the offset, keep the rest
      const keepFrom = Math.max(0, Math.min(offset - this.base, this.buf.length));
      const keep = this.buf.subarray(keepFrom);
      this.base += keepFrom;
      const nb = await this.src.refill(keep);
      if (nb === null) return Buffer.from(this.buf.subarray(offset - this.base));
      this.buf = nb;
    }
  }
  async close(): Promise<void> {
    await this.src.close();
  }
}

export class EvidenceReader {
  private le = true;
  private nano = false;
  private linkType = 1;
  private constructor(
    private readonly bytes: ByteReader,
    readonly format: string,
    private readonly interfaces: IndexedInterface[],
  ) {}

  static async open(path: string, format: string, interfaces: IndexedInterface[]): Promise<EvidenceReader> {
    const gz = format.endsWith('+gzip');
    const bytes: ByteReader = gz ? new GzipBytes(GzipSource.open(path)) : new PlainBytes(await open(path, constants.O_RDONLY));
    const r = new EvidenceReader(bytes, format.replace('+gzip', ''), interfaces);
    if (r.format.startsWith('pcap') && r.format !== 'pcapng') {
      const h = await bytes.read(0, 24);
      const m = h.readUInt32LE(0);
      r.le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
      r.nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
      r.linkType = (r.le ? h.readUInt32LE(20) : h.readUInt32BE(20)) & 0xffff;
    }
    return r;
  }

  async packetAt(offset: number): Promise<ReadPacket> {
    if (this.format !== 'pcapng') {
      const h = await this.bytes.read(offset, 16);
      if (h.length < 16) throw new Error(`no pcap record at offset ${offset}`);
      const u = (o: number) => (this.le ? h.readUInt32LE(o) : h.readUInt32BE(o));
      const incl = u(8);
      const data = await this.bytes.read(offset + 16, incl);
      return { data, origlen: u(12), tsSec: u(0), tsNs: this.nano ? u(4) : u(4) * 1000, linkType: this.linkType };
    }
    const h = await this.bytes.read(offset, 8);
    if (h.length < 8) throw new Error(`no pcapng block at offset ${offset}`);
    // the block's byte order: its length must be repeated in its trailer
    for (const le of [true, false]) {
      const len = le ? h.readUInt32LE(4) : h.readUInt32BE(4);
      if (len < 12 || len > 16 * 1024 * 1024 + 1024) continue;
      const blk = await this.bytes.read(offset, len);
      if (blk.length < len) continue;
      const u32 = (o: number) => (le ? blk.readUInt32LE(o) : blk.readUInt32BE(o));
      if (u32(len - 4) !== len) continue;
      const type = u32(0);
      if (type === 6 || type === 2) {
        const ifId = type === 6 ? u32(8) : le ? blk.readUInt16LE(8) : blk.readUInt16BE(8);
        const info = this.interfaceAt(offset, ifId);
        const caplen = u32(20);
        const out = { tsSec: 0, tsNs: 0 };
        splitTimestamp(u32(12), u32(16), info.tsUnits, out);
        return {
          data: blk.subarray(28, 28 + Math.min(caplen, len - 32)),
          origlen: u32(24),
          tsSec: out.tsSec + (info.tsOffset ?? 0),
          tsNs: out.tsNs,
          linkType: info.linkType,
        };
      }
      if (type === 3) {
        const info = this.interfaceAt(offset, 0);
        const origlen = u32(8);
        return { data: blk.subarray(12, 12 + Math.min(origlen, len - 16)), origlen, tsSec: 0, tsNs: 0, linkType: info.linkType };
      }
    }
    throw new Error(`no packet block at offset ${offset}`);
  }

  /** The interface `localId` of the pcapng section that contains `offset`. */
  private interfaceAt(offset: number, localId: number): IndexedInterface {
    let section = -1;
    for (const i of this.interfaces) {
      const so = i.sectionOffset ?? 0;
      if (so <= offset && so > section) section = so;
    }
    const inSection = this.interfaces.filter((i) => (i.sectionOffset ?? 0) === section);
    return inSection.find((i) => (i.localId ?? i.interfaceId) === localId) ?? inSection[localId] ?? { interfaceId: localId, linkType: 1, tsUnits: 1e6 };
  }

  async close(): Promise<void> {
    await this.bytes.close();
  }
}

/** Parses an interfaces.ts_resolution string back to units per second. */
export function tsUnitsOf(res: string): number {
  if (res.startsWith('2^-')) return 2 ** Number(res.slice(3));
  if (res.startsWith('1e-')) return 10 ** Number(res.slice(3));
  return 1e6;
}
