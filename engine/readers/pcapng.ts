import { FramedReader, type InterfaceInfo, type RawPacket } from './reader.js';
import type { ChunkSource } from './source.js';
import { formatIPv4, formatIPv6 } from '../decode/addr.js';

const SHB = 0x0a0d0d0a;
const IDB = 1;
const OPB = 2;
const SPB = 3;
const NRB = 4;
const ISB = 5;
const EPB = 6;
const BOM = 0x1a2b3c4d;
/** Largest block accepted (Wireshark uses 16 MiB for most blocks). */
const MAX_BLOCK = 16 * 1024 * 1024 + 1024;
const KNOWN_BLOCKS = new Set([SHB, IDB, OPB, SPB, NRB, ISB, EPB, 0x0a, 0xbad, 0x40000bad, 7, 8, 9, 0x80000001]);

/**
 * Splits a timestamp of `hi * 2^32 + lo` units (units per second `u`) into seconds and
 * nanoseconds exactly, without BigInt: the 64-bit value is divided in 32/16/16-bit limbs so every
 * intermediate stays below 2^53.
 */
export function splitTimestamp(hi: number, lo: number, u: number, out: { tsSec: number; tsNs: number }): void {
  if (u === 1e6 && hi < 0x200000) {
    const t = hi * 4294967296 + lo;
    const s = Math.floor(t / 1e6);
    out.tsSec = s;
    out.tsNs = (t - s * 1e6) * 1000;
    return;
  }
  if (u > 4294967295) {
    const t = (BigInt(hi) << 32n) | BigInt(lo);
    const U = BigInt(u);
    out.tsSec = Number(t / U);
    out.tsNs = Number(((t % U) * 1000000000n) / U);
    return;
  }
  const qh = Math.floor(hi / u);
  const rh = hi - qh * u;
  const x1 = rh * 65536 + (lo >>> 16);
  const q1 = Math.floor(x1 / u);
  const r1 = x1 - q1 * u;
  const x2 = r1 * 65536 + (lo & 0xffff);
  const q2 = Math.floor(x2 / u);
  const r2 = x2 - q2 * u;
  out.tsSec = qh * 4294967296 + q1 * 65536 + q2;
  out.tsNs = u === 1e9 ? r2 : Math.floor((r2 * 1e9) / u);
}

/**
 * pcapng: SHB (several sections, either byte order), IDB (per-interface link type, snaplen,
 * if_tsresol, if_tsoffset, name), EPB, SPB, OPB, NRB, ISB; comments; unknown and custom blocks
 * skipped. A corrupt block is reported with its offset and the reader resynchronises on the next
 * plausible block.
 */
export class PcapngReader extends FramedReader {
  format = 'pcapng';
  private le = true;
  private inSection = false;
  /** Index in `interfaces` of this section's interface 0. */
  private ifBase = 0;
  /** Absolute file offset where the scan for the next valid block continues, or -1. */
  private resyncFrom = -1;

  constructor(source: ChunkSource, path: string) {
    super(source, path);
  }

  static sniff(head: Buffer): boolean {
    return head.length >= 4 && head.readUInt32LE(0) === SHB;
  }

  private u32(p: number): number {
    return this.le ? this.buf.readUInt32LE(p) : this.buf.readUInt32BE(p);
  }
  private u16(p: number): number {
    return this.le ? this.buf.readUInt16LE(p) : this.buf.readUInt16BE(p);
  }

  next(): RawPacket | null {
    for (;;) {
      if (this.done) return null;
      if (this.resyncFrom >= 0 && !this.resync()) return null;
      if (this.avail < 12) {
        if (this.eof) {
          if (this.base + this.buf.length === 0) this.issue('file_empty', 0, 'empty file');
          this.finish();
        }
        return null;
      }
      const p = this.pos;
      const b = this.buf;
      let type = this.u32(p);
      if (b.readUInt32LE(p) === SHB) {
        type = SHB;
        if (this.avail < 12) return null;
        const bom = b.readUInt32LE(p + 8);
        if (bom === BOM) this.le = true;
        else if (bom === 0x4d3c2b1a) this.le = false;
        else {
          this.corrupt(p, `section header with bad byte-order magic 0x${bom.toString(16)}`);
          continue;
        }
      } else if (!this.inSection) {
        this.issue('pcapng_no_section_header', this.base + p, 'block before any section header');
        this.corrupt(p, 'no section header');
        continue;
      }
      const len = this.u32(p + 4);
      if (len < 12 || len % 4 !== 0 || len > MAX_BLOCK) {
        this.corrupt(p, `block type 0x${type.toString(16)} with impossible length ${len}`);
        continue;
      }
      if (this.avail < len) {
        if (this.eof) this.finish();
        return null;
      }
      if (this.u32(p + len - 4) !== len) {
        this.corrupt(p, `block type 0x${type.toString(16)} length ${len} does not match its trailer`);
        continue;
      }
      this.pos = p + len;
      let pk: RawPacket | null = null;
      switch (type) {
        case SHB:
          this.section(p, len);
          break;
        case IDB:
          this.idb(p, len);
          break;
        case EPB:
          pk = this.epb(p, len);
          break;
        case SPB:
          pk = this.spb(p, len);
          break;
        case OPB:
          pk = this.opb(p, len);
          break;
        case NRB:
          this.nrb(p, len);
          break;
        case ISB:
          this.isb(p, len);
          break;
        default:
          break; // DSB, custom and unknown blocks: skipped
      }
      if (pk) return pk;
    }
  }

  private corrupt(p: number, detail: string): void {
    this.issue('pcapng_corrupt_block', this.base + p, `${detail} at offset ${this.base + p}; skipping to the next valid block`);
    this.partial = true;
    this.resyncFrom = this.base + p + 4;
  }

  /** Scans forward for a plausible block start. Returns false when more data is needed. */
  private resync(): boolean {
    const b = this.buf;
    let q = Math.max(this.resyncFrom - this.base, this.pos);
    while (q + 12 <= b.length) {
      const tLE = b.readUInt32LE(q);
      const t = this.le ? tLE : b.readUInt32BE(q);
      if (KNOWN_BLOCKS.has(t) || tLE === SHB) {
        const len = tLE === SHB ? this.shbLen(q) : this.u32(q + 4);
        if (len >= 12 && len % 4 === 0 && len <= MAX_BLOCK) {
          if (q + len > b.length) {
            if (this.eof) {
              q += 4;
              continue;
            }
            this.pos = q; // keep candidate buffered
            this.resyncFrom = this.base + q;
            return false;
          }
          const trailer = tLE === SHB ? this.shbTrailer(q, len) : this.u32(q + len - 4);
          if (trailer === len) {
            this.pos = q;
            this.resyncFrom = -1;
            return true;
          }
        }
      }
      q += 4;
    }
    this.pos = Math.max(this.pos, q);
    this.resyncFrom = this.base + this.pos;
    if (this.eof) {
      this.pos = b.length;
      this.resyncFrom = -1;
      this.done = true;
    }
    return false;
  }

  private shbLen(q: number): number {
    const bom = this.buf.readUInt32LE(q + 8);
    if (bom === BOM) return this.buf.readUInt32LE(q + 4);
    if (bom === 0x4d3c2b1a) return this.buf.readUInt32BE(q + 4);
    return 0;
  }
  private shbTrailer(q: number, len: number): number {
    const bom = this.buf.readUInt32LE(q + 8);
    return bom === BOM ? this.buf.readUInt32LE(q + len - 4) : this.buf.readUInt32BE(q + len - 4);
  }

  /** Walks the options between [start, end); returns false if they overrun. */
  private options(start: number, end: number, cb: (code: number, off: number, len: number) => void): void {
    let q = start;
    while (q + 4 <= end) {
      const code = this.u16(q);
      const olen = this.u16(q + 2);
      if (code === 0) return;
      if (q + 4 + olen > end) {
        this.issue('pcapng_bad_option', this.base + q, `option ${code} of length ${olen} runs past its block`);
        return;
      }
      cb(code, q + 4, olen);
      q += 4 + ((olen + 3) & ~3);
    }
  }

  private str(off: number, len: number): string {
    let e = off + len;
    while (e > off && this.buf[e - 1] === 0) e--;
    return this.buf.toString('utf8', off, e);
  }

  private sectionOffset = 0;

  private section(p: number, len: number): void {
    this.inSection = true;
    this.ifBase = this.interfaces.length;
    this.sectionOffset = this.base + p;
    if (len > 28) {
      this.options(p + 24, p + len - 4, (code, off, olen) => {
        if (code === 1) this.comments.push(this.str(off, olen));
      });
    }
  }

  private idb(p: number, len: number): void {
    if (len < 20) {
      this.corruptSkip(p, 'interface description block too short');
      return;
    }
    const info: InterfaceInfo = {
      linkType: this.u16(p + 8),
      snaplen: this.u32(p + 12),
      tsUnits: 1e6,
      tsResolution: '1e-6',
      tsOffset: 0,
      sectionOffset: this.sectionOffset,
      localId: this.interfaces.length - this.ifBase,
      name: null,
      description: null,
      packets: 0,
      dropped: null,
    };
    this.options(p + 16, p + len - 4, (code, off, olen) => {
      if (code === 9 && olen >= 1) {
        const r = this.buf[off];
        const n = r & 0x7f;
        if (r & 0x80) {
          info.tsUnits = 2 ** n;
          info.tsResolution = `2^-${n}`;
        } else {
          info.tsUnits = 10 ** n;
          info.tsResolution = `1e-${n}`;
        }
        if (!(info.tsUnits >= 1) || !Number.isFinite(info.tsUnits)) {
          info.tsUnits = 1e6;
          info.tsResolution = '1e-6';
        }
      } else if (code === 14 && olen >= 8) {
        const lo = this.u32(off + (this.le ? 0 : 4));
        const hi = this.le ? this.buf.readInt32LE(off + 4) : this.buf.readInt32BE(off);
        info.tsOffset = hi * 4294967296 + lo;
      } else if (code === 2) {
        info.name = this.str(off, olen);
      } else if (code === 3) {
        info.description = this.str(off, olen);
      }
    });
    this.interfaces.push(info);
  }

  private corruptSkip(p: number, detail: string): void {
    this.issue('pcapng_corrupt_block', this.base + p, `${detail} at offset ${this.base + p}`);
    this.partial = true;
  }

  private iface(p: number, id: number): InterfaceInfo | null {
    const i = this.ifBase + id;
    if (id >= this.interfaces.length - this.ifBase || i >= this.interfaces.length) {
      this.issue('pcapng_unknown_interface', this.base + p, `packet block at offset ${this.base + p} names interface ${id}, which was not described`);
      this.partial = true;
      return null;
    }
    this.pkt.ifIndex = i;
    return this.interfaces[i];
  }

  private emit(p: number, dataOff: number, caplen: number, origlen: number, info: InterfaceInfo): RawPacket {
    const pk = this.pkt;
    pk.buf = this.buf;
    pk.off = dataOff;
    pk.caplen = caplen;
    pk.origlen = origlen;
    pk.linkType = info.linkType;
    pk.fileOffset = this.base + p;
    pk.packetNo = ++this.packets;
    pk.comment = null;
    info.packets++;
    this.bytes += caplen;
    return pk;
  }

  private epb(p: number, len: number): RawPacket | null {
    if (len < 32) {
      this.corruptSkip(p, 'enhanced packet block too short');
      return null;
    }
    const info = this.iface(p, this.u32(p + 8));
    if (!info) return null;
    const caplen = this.u32(p + 20);
    const origlen = this.u32(p + 24);
    const padded = caplen > len ? len + 4 : caplen + ((4 - (caplen % 4)) % 4);
    if (28 + padded + 4 > len) {
      this.corruptSkip(p, `enhanced packet block claims ${caplen} captured bytes in a ${len}-byte block`);
      return null;
    }
    const pk = this.emit(p, p + 28, caplen, origlen, info);
    splitTimestamp(this.u32(p + 12), this.u32(p + 16), info.tsUnits, pk);
    if (info.tsOffset) pk.tsSec += info.tsOffset;
    if (28 + padded + 4 < len) {
      this.options(p + 28 + padded, p + len - 4, (code, off, olen) => {
        if (code === 1) pk.comment = this.str(off, olen);
      });
    }
    return pk;
  }

  private opb(p: number, len: number): RawPacket | null {
    if (len < 32) {
      this.corruptSkip(p, 'packet block too short');
      return null;
    }
    const info = this.iface(p, this.u16(p + 8));
    if (!info) return null;
    const caplen = this.u32(p + 20);
    const origlen = this.u32(p + 24);
    const padded = caplen > len ? len + 4 : caplen + ((4 - (caplen % 4)) % 4);
    if (28 + padded + 4 > len) {
      this.corruptSkip(p, `packet block claims ${caplen} captured bytes in a ${len}-byte block`);
      return null;
    }
    const pk = this.emit(p, p + 28, caplen, origlen, info);
    splitTimestamp(this.u32(p + 12), this.u32(p + 16), info.tsUnits, pk);
    if (info.tsOffset) pk.tsSec += info.tsOffset;
    if (28 + padded + 4 < len) {
      this.options(p + 28 + padded, p + len - 4, (code, off, olen) => {
        if (code === 1) pk.comment = this.str(off, olen);
      });
    }
    return pk;
  }

  private spb(p: number, len: number): RawPacket | null {
    if (len < 16) {
      this.corruptSkip(p, 'simple packet block too short');
      return null;
    }
    const info = this.iface(p, 0);
    if (!info) return null;
    const origlen = this.u32(p + 8);
    let caplen = Math.min(origlen, len - 16);
    if (info.snaplen > 0) caplen = Math.min(caplen, info.snaplen);
    const pk = this.emit(p, p + 12, caplen, origlen, info);
    // SPBs carry no timestamp; Wireshark shows them at time 0
    pk.tsSec = 0;
    pk.tsNs = 0;
    return pk;
  }

  private nrb(p: number, len: number): void {
    let q = p + 8;
    const end = p + len - 4;
    while (q + 4 <= end) {
      const t = this.u16(q);
      const rl = this.u16(q + 2);
      if (t === 0) break;
      if (q + 4 + rl > end) {
        this.issue('pcapng_bad_option', this.base + q, 'name resolution record runs past its block');
        break;
      }
      const v = q + 4;
      const alen = t === 1 ? 4 : t === 2 ? 16 : 0;
      if (alen && rl > alen) {
        const address = alen === 4 ? formatIPv4(this.buf, v) : formatIPv6(this.buf, v);
        let s = v + alen;
        const e = v + rl;
        while (s < e) {
          let z = s;
          while (z < e && this.buf[z] !== 0) z++;
          if (z > s && this.names.length < 100000) this.names.push({ address, name: this.buf.toString('utf8', s, z) });
          s = z + 1;
        }
      }
      q += 4 + ((rl + 3) & ~3);
    }
  }

  private isb(p: number, len: number): void {
    if (len < 24) return;
    const id = this.u32(p + 8);
    const i = this.ifBase + id;
    if (i >= this.interfaces.length) return;
    const info = this.interfaces[i];
    this.options(p + 20, p + len - 4, (code, off, olen) => {
      if (code === 5 && olen >= 8) {
        const lo = this.u32(off + (this.le ? 0 : 4));
        const hi = this.u32(off + (this.le ? 4 : 0));
        info.dropped = hi * 4294967296 + lo;
      }
    });
  }

  protected onTrailingBytes(): void {
    this.issue(
      'pcapng_truncated_block',
      this.base + this.pos,
      `file ends inside the block at offset ${this.base + this.pos} (${this.avail} bytes left over)`,
      this.packets + 1,
    );
    this.partial = true;
  }
}
