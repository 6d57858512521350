/**
 * Writes packets to a new capture file: classic pcap with nanosecond timestamps when all packets
 * share one link type, pcapng (one interface per link type) otherwise.
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import type { ReadPacket } from './random.js';

export function writeCapture(path: string, packets: ReadPacket[]): 'pcap' | 'pcapng' {
  const links = [...new Set(packets.map((p) => p.linkType))];
  const fd = openSync(path, 'w');
  try {
    if (links.length <= 1) {
      const h = Buffer.alloc(24);
      h.writeUInt32LE(0xa1b23c4d, 0);
      h.writeUInt16LE(2, 4);
      h.writeUInt16LE(4, 6);
      h.writeUInt32LE(262144, 16);
      h.writeUInt32LE(links[0] ?? 1, 20);
      writeSync(fd, h);
      for (const p of packets) {
        const r = Buffer.alloc(16);
        r.writeUInt32LE(p.tsSec >>> 0, 0);
        r.writeUInt32LE(p.tsNs, 4);
        r.writeUInt32LE(p.data.length, 8);
        r.writeUInt32LE(p.origlen, 12);
        writeSync(fd, r);
        writeSync(fd, p.data);
      }
      return 'pcap';
    }
    const shb = Buffer.alloc(28);
    shb.writeUInt32LE(0x0a0d0d0a, 0);
    shb.writeUInt32LE(28, 4);
    shb.writeUInt32LE(0x1a2b3c4d, 8);
    shb.writeUInt16LE(1, 12);
    shb.writeInt32LE(-1, 16);
    shb.writeInt32LE(-1, 20);
    shb.writeUInt32LE(28, 24);
    writeSync(fd, shb);
    for (const lt of links) {
      const idb = Buffer.alloc(32);
      idb.writeUInt32LE(1, 0);
      idb.writeUInt32LE(32, 4);
      idb.writeUInt16LE(lt, 8);
      idb.writeUInt32LE(262144, 12);
      idb.writeUInt16LE(9, 16); // if_tsresol
      idb.writeUInt16LE(1, 18);
      idb.writeUInt8(9, 20); // nanoseconds
      idb.writeUInt32LE(32, 28); // (end-of-options left as zero at 24)
      writeSync(fd, idb);
    }
    for (const p of packets) {
      const pad = (4 - (p.data.length % 4)) % 4;
      const len = 32 + p.data.length + pad;
      const b = Buffer.alloc(len);
      b.writeUInt32LE(6, 0);
      b.writeUInt32LE(len, 4);
      b.writeUInt32LE(links.indexOf(p.linkType), 8);
      const t = BigInt(p.tsSec) * 1000000000n + BigInt(p.tsNs);
      b.writeUInt32LE(Number(t >> 32n), 12);
      b.writeUInt32LE(Number(t & 0xffffffffn), 16);
      b.writeUInt32LE(p.data.length, 20);
      b.writeUInt32LE(p.origlen, 24);
      p.data.copy(b, 28);
      b.writeUInt32LE(len, len - 4);
      writeSync(fd, b);
    }
    return 'pcapng';
  } finally {
    closeSync(fd);
  }
}
