import { FramedReader, type RawPacket } from './reader.js';
import { u32be, u32le } from '../decode/bytes.js';
import type { ChunkSource } from './source.js';

/** Largest record we accept, as Wireshark (WTAP_MAX_PACKET_SIZE_STANDARD); some files use more for USB. */
const MAX_RECORD = 262144 * 4;

/**
 * Classic libpcap format: both byte orders, microsecond (a1b2c3d4) and nanosecond (a1b23c4d)
 * timestamps. Streaming: records are framed out of chunk buffers, never the whole file.
 */
export class PcapReader extends FramedReader {
  format = 'pcap';
  private le = true;
  private nano = false;
  private linkType = 1;
  private snaplen = 0;
  private headerDone = false;

  constructor(source: ChunkSource, path: string) {
    super(source, path);
  }

  /** Magic numbers as read little-endian from the first 4 bytes. */
  static sniff(head: Buffer): boolean {
    if (head.length < 4) return false;
    const m = head.readUInt32LE(0);
    return m === 0xa1b2c3d4 || m === 0xd4c3b2a1 || m === 0xa1b23c4d || m === 0x4d3cb2a1;
  }

  private header(): boolean {
    if (this.avail < 24) return false;
    const b = this.buf;
    const p = this.pos;
    const m = b.readUInt32LE(p);
    this.le = m === 0xa1b2c3d4 || m === 0xa1b23c4d;
    this.nano = m === 0xa1b23c4d || m === 0x4d3cb2a1;
    this.format = this.nano ? 'pcap-ns' : 'pcap';
    this.snaplen = this.le ? b.readUInt32LE(p + 16) : b.readUInt32BE(p + 16);
    const ltField = this.le ? b.readUInt32LE(p + 20) : b.readUInt32BE(p + 20);
    // the upper bits may carry FCS length info (LINKTYPE_ + FCS flag); the type is the low 16 bits
    this.linkType = ltField & 0xffff;
    this.interfaces.push({
      linkType: this.linkType,
      snaplen: this.snaplen,
      tsUnits: this.nano ? 1e9 : 1e6,
      tsResolution: this.nano ? '1e-9' : '1e-6',
      tsOffset: 0,
      sectionOffset: 0,
      localId: 0,
      name: null,
      description: null,
      packets: 0,
      dropped: null,
    });
    this.pkt.linkType = this.linkType;
    this.pos += 24;
    this.headerDone = true;
    return true;
  }

  next(): RawPacket | null {
    if (this.done) return null;
    if (!this.headerDone && !this.header()) {
      if (this.eof) {
        if (this.avail > 0 || this.base > 0) {
          this.issue('pcap_truncated_record', this.base + this.pos, 'file ends inside the pcap file header');
          this.partial = true;
        } else if (!this.partial) this.issue('file_empty', 0, 'empty file');
        this.done = true;
      }
      return null;
    }
    if (this.avail < 16) {
      if (this.eof) this.finish();
      return null;
    }
    const b = this.buf;
    const p = this.pos;
    let sec: number, frac: number, incl: number, orig: number;
    if (this.le) {
      sec = u32le(b, p);
      frac = u32le(b, p + 4);
      incl = u32le(b, p + 8);
      orig = u32le(b, p + 12);
    } else {
      sec = u32be(b, p);
      frac = u32be(b, p + 4);
      incl = u32be(b, p + 8);
      orig = u32be(b, p + 12);
    }
    if (incl > MAX_RECORD) {
      this.issue(
        'pcap_bad_record_length',
        this.base + p,
        `record at offset ${this.base + p} claims ${incl} captured bytes (limit ${MAX_RECORD}); reading stopped`,
        this.packets + 1,
      );
      this.partial = true;
      this.done = true;
      return null;
    }
    if (this.avail < 16 + incl) {
      if (this.eof) this.finish();
      return null;
    }
    const pk = this.pkt;
    pk.buf = b;
    pk.off = p + 16;
    pk.caplen = incl;
    pk.origlen = orig;
    pk.tsSec = sec;
    pk.tsNs = this.nano ? frac : frac * 1000;
    if (pk.tsNs >= 1e9) {
      // out-of-range fraction (seen in hand-made files): carry it into seconds as Wireshark does
      pk.tsSec += Math.floor(pk.tsNs / 1e9);
      pk.tsNs %= 1e9;
    }
    pk.fileOffset = this.base + p;
    pk.packetNo = ++this.packets;
    this.bytes += incl;
    this.interfaces[0].packets++;
    if (incl > orig) this.issue('pcap_caplen_exceeds_origlen', pk.fileOffset, `caplen ${incl} > origlen ${orig}`, pk.packetNo);
    this.pos = p + 16 + incl;
    return pk;
  }

  protected onTrailingBytes(): void {
    this.issue(
      'pcap_truncated_record',
      this.base + this.pos,
      `file ends inside the record at offset ${this.base + this.pos} (${this.avail} bytes left over)`,
      this.packets + 1,
    );
    this.partial = true;
  }
}
