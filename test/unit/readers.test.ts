/**
 * Readers: classic pcap (both byte orders, micro/nano), pcapng (every block type, two sections,
 * options), damage handling (truncation, corrupt blocks, gzip), openCapture's format detection,
 * random access re-reads (EvidenceReader) and the capture writer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openCapture, NotACaptureError } from '../../engine/readers/open.js';
import { PcapReader } from '../../engine/readers/pcap.js';
import { PcapngReader } from '../../engine/readers/pcapng.js';
import { EvidenceReader, tsUnitsOf } from '../../engine/readers/random.js';
import { writeCapture } from '../../engine/readers/writer.js';
import { linkTypeName } from '../../engine/readers/linktypes.js';
import { CHUNK_SIZE, PlainSource, READ_AHEAD } from '../../engine/readers/source.js';
import { MemorySource, Ng, eth, ip6, ipv4, pcapFile, pcapHeader, pcapRecord, readAll, readBytes, tcp, udp } from '../fixtures/build.js';

let tmp = '';
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'instacap-readers-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});
let fileNo = 0;
function tmpFile(bytes: Buffer, ext = '.pcap'): string {
  const p = join(tmp, `f${fileNo++}${ext}`);
  writeFileSync(p, bytes);
  return p;
}
async function readFile(path: string) {
  const r = await openCapture(path);
  try {
    const res = await readAll(r);
    expect(res.violations).toEqual([]);
    return { ...res, reader: r };
  } finally {
    await r.close();
  }
}

const f1 = eth(ipv4(tcp(Buffer.from('GET / HTTP/1.1\r\n'), { seq: 100, flags: 0x18 })));
const f2 = eth(ipv4(udp(Buffer.from('query'), { sport: 5353, dport: 53 }), { proto: 17 }));
const f3 = Buffer.alloc(61, 0x42); // odd length: exercises padding

describe('classic pcap', () => {
  for (const le of [true, false]) {
    for (const nano of [false, true]) {
      it(`${le ? 'little' : 'big'}-endian, ${nano ? 'nanosecond' : 'microsecond'}: packets, timestamps, link type, offsets`, async () => {
        const frac = nano ? [123456789, 999999999, 0] : [123456, 999999, 0];
        const bytes = pcapFile({ le, nano, linkType: 1, snaplen: 262144 }, [
          { tsSec: 1700000000, tsFrac: frac[0], data: f1 },
          { tsSec: 1700000001, tsFrac: frac[1], data: f2, origlen: 1500 },
          { tsSec: 4294967295, tsFrac: frac[2], data: f3 },
        ]);
        const res = await readFile(tmpFile(bytes));
        const r = res.reader;
        expect(r.format).toBe(nano ? 'pcap-ns' : 'pcap');
        expect(r.formatName).toBe(nano ? 'pcap-ns' : 'pcap');
        expect(res.issues).toEqual([]);
        expect(res.partial).toBe(false);
        expect(r.packets).toBe(3);
        expect(r.bytes).toBe(f1.length + f2.length + f3.length);
        expect(r.interfaces).toEqual([
          { linkType: 1, snaplen: 262144, tsUnits: nano ? 1e9 : 1e6, tsResolution: nano ? '1e-9' : '1e-6', tsOffset: 0, sectionOffset: 0, localId: 0, name: null, description: null, packets: 3, dropped: null },
        ]);
        expect(res.packets.map((p) => [p.tsSec, p.tsNs])).toEqual([
          [1700000000, 123456789 - (nano ? 0 : 789)],
          [1700000001, 999999999 - (nano ? 0 : 999)],
          [4294967295, 0],
        ]);
        expect(res.packets.map((p) => p.fileOffset)).toEqual([24, 24 + 16 + f1.length, 24 + 32 + f1.length + f2.length]);
        expect(res.packets.map((p) => p.packetNo)).toEqual([1, 2, 3]);
        expect(res.packets.map((p) => p.origlen)).toEqual([f1.length, 1500, f3.length]);
        expect(res.packets[0].data.equals(f1)).toBe(true);
        expect(res.packets[1].data.equals(f2)).toBe(true);
        expect(res.packets[2].data.equals(f3)).toBe(true);
        expect(res.packets.every((p) => p.linkType === 1 && p.ifIndex === 0 && p.comment === null)).toBe(true);
      });
    }
  }

  it('link type field: FCS bits in the upper half are ignored', async () => {
    const bytes = pcapFile({ linkType: 0x1000_0000 | 113 }, [{ tsSec: 1, tsFrac: 0, data: f3 }]);
    const res = await readBytes(bytes);
    expect(res.reader.interfaces[0].linkType).toBe(113);
    expect(res.packets[0].linkType).toBe(113);
    expect(linkTypeName(113)).toBe('LINUX_SLL');
    expect(linkTypeName(12)).toBe('RAW');
    expect(linkTypeName(4242)).toBe('UNKNOWN(4242)');
  });

  it('a microsecond field of 1e6 or more carries into the seconds', async () => {
    const res = await readBytes(pcapFile({}, [{ tsSec: 10, tsFrac: 2_500_000, data: f3 }]));
    expect([res.packets[0].tsSec, res.packets[0].tsNs]).toEqual([12, 500_000_000]);
  });

  it('caplen > origlen: pcap_caplen_exceeds_origlen, packet kept, not partial', async () => {
    const res = await readBytes(pcapFile({}, [{ tsSec: 1, tsFrac: 0, data: f3, origlen: 10 }]));
    expect(res.packets.length).toBe(1);
    expect(res.issues.map((i) => [i.name, i.offset, i.packetNo])).toEqual([['pcap_caplen_exceeds_origlen', 24, 1]]);
    expect(res.partial).toBe(false);
  });

  it('truncated last record (inside its data): packets before it, pcap_truncated_record at its offset, partial', async () => {
    const full = pcapFile({}, [
      { tsSec: 1, tsFrac: 0, data: f1 },
      { tsSec: 2, tsFrac: 0, data: f2 },
    ]);
    const cut = full.subarray(0, full.length - 5);
    for (const sizes of [undefined, [1], [7, 3]]) {
      const res = await readBytes(cut, sizes);
      expect(res.packets.length).toBe(1);
      expect(res.partial).toBe(true);
      expect(res.issues.map((i) => [i.name, i.offset, i.packetNo])).toEqual([['pcap_truncated_record', 24 + 16 + f1.length, 2]]);
      expect(res.issues[0].detail).toContain(String(24 + 16 + f1.length));
    }
    const res = await readFile(tmpFile(cut));
    expect(res.packets.length).toBe(1);
    expect(res.issues[0].name).toBe('pcap_truncated_record');
  });

  it('truncated inside a record header and inside the file header', async () => {
    const full = pcapFile({}, [{ tsSec: 1, tsFrac: 0, data: f1 }]);
    const a = await readBytes(Buffer.concat([full, Buffer.alloc(9)]));
    expect(a.packets.length).toBe(1);
    expect(a.issues.map((i) => [i.name, i.offset])).toEqual([['pcap_truncated_record', full.length]]);
    expect(a.partial).toBe(true);
    const b = await readBytes(pcapHeader().subarray(0, 10));
    expect(b.packets.length).toBe(0);
    expect(b.issues.map((i) => [i.name, i.offset])).toEqual([['pcap_truncated_record', 0]]);
    expect(b.partial).toBe(true);
  });

  it('a header-only file is complete with no packets; an empty file is file_empty', async () => {
    const a = await readFile(tmpFile(pcapHeader()));
    expect([a.packets.length, a.partial, a.issues.length]).toEqual([0, false, 0]);
    const b = await readFile(tmpFile(Buffer.alloc(0)));
    expect(b.packets.length).toBe(0);
    expect(b.issues.map((i) => i.name)).toEqual(['file_empty']);
  });

  it('an impossible record length stops reading with pcap_bad_record_length', async () => {
    const bad = pcapRecord({ tsSec: 1, tsFrac: 0, data: Buffer.alloc(0), incl: 0x7fffffff });
    const bytes = Buffer.concat([pcapFile({}, [{ tsSec: 1, tsFrac: 0, data: f1 }]), bad, pcapRecord({ tsSec: 3, tsFrac: 0, data: f2 })]);
    const res = await readBytes(bytes);
    expect(res.packets.length).toBe(1);
    expect(res.issues.map((i) => [i.name, i.offset, i.packetNo])).toEqual([['pcap_bad_record_length', 24 + 16 + f1.length, 2]]);
    expect(res.partial).toBe(true);
  });

  it('records straddling chunks of every size read identically', async () => {
    const bytes = pcapFile({ nano: true }, [
      { tsSec: 1, tsFrac: 5, data: f1 },
      { tsSec: 2, tsFrac: 6, data: f2 },
      { tsSec: 3, tsFrac: 7, data: f3 },
    ]);
    const ref = await readBytes(bytes);
    for (let n = 1; n <= 40; n++) {
      const res = await readBytes(bytes, [n]);
      expect(res.packets).toEqual(ref.packets);
      expect(res.issues).toEqual([]);
    }
  });
});

/** Two sections, every block type; the first in byte order `le`, the second in the other one. */
function bigPcapng(le: boolean): Buffer {
  const a = new Ng(le);
  const b = new Ng(!le);
  const spbData = Buffer.alloc(80, 0x33);
  return Buffer.concat([
    a.shb([a.comment('section one comment')]),
    a.idb(1, 64, [a.ifName('eth0'), a.tsresol(9)]),
    a.idb(101, 96, [a.ifDescription('raw tap'), a.tsresol(0x80 | 10)]),
    a.epb(0, 1_700_000_000_123_456_789n, f1, [a.comment('first packet')]),
    a.epb(1, (1_700_000_001n << 10n) + 512n, ipv4(udp(Buffer.from('r')), { proto: 17 })),
    a.block(0x0bad, Buffer.from('custom block, skipped')),
    a.spb(spbData),
    a.opb(1, 0, (3n << 10n) | 256n, f3, [a.comment('obsolete')]),
    a.nrb([
      { type: 1, addr: Buffer.from([10, 0, 0, 1]), names: ['host-a', 'alias-a'] },
      { type: 2, addr: ip6('2001:db8::1'), names: ['host6'] },
    ]),
    a.isb(0, 0n, [a.ifdrop(42n)]),
    b.shb([b.comment('section two')]),
    b.idb(113, 65535, [b.tsoffset(100n)]),
    b.epb(0, 5_000_001n, f2),
    b.isb(0, 0n, [b.ifdrop(7n)]),
  ]);
}

describe('pcapng', () => {
  for (const le of [true, false]) {
    it(`every block type, two sections (${le ? 'LE then BE' : 'BE then LE'}): packets, timestamps, interfaces, comments, names, drops`, async () => {
      const bytes = bigPcapng(le);
      for (const sizes of [undefined, [1], [5, 11, 29]]) {
        const res = await readBytes(bytes, sizes);
        const r = res.reader;
        expect(res.violations).toEqual([]);
        expect(r.format).toBe('pcapng');
        expect(res.partial).toBe(false);
        if (sizes) expect(res.issues).toEqual([]);
        expect(r.packets).toBe(5);
        expect(res.packets.map((p) => [p.tsSec, p.tsNs, p.linkType, p.ifIndex, p.caplen, p.origlen, p.comment])).toEqual([
          [1_700_000_000, 123_456_789, 1, 0, f1.length, f1.length, 'first packet'],
          [1_700_000_001, 500_000_000, 101, 1, 29, 29, null],
          [0, 0, 1, 0, 64, 80, null], // SPB: no timestamp, cut to the interface snaplen
          [3, 250_000_000, 101, 1, f3.length, f3.length, 'obsolete'],
          [105, 1000, 113, 2, f2.length, f2.length, null], // if_tsoffset 100 s; 1e-6 default resolution
        ]);
        expect(res.packets[0].data.equals(f1)).toBe(true);
        expect(res.packets[2].data.equals(Buffer.alloc(64, 0x33))).toBe(true);
        expect(res.packets[3].data.equals(f3)).toBe(true);
        expect(res.packets[4].data.equals(f2)).toBe(true);
        expect(r.comments).toEqual(['section one comment', 'section two']);
        expect(r.names).toEqual([
          { address: '10.0.0.1', name: 'host-a' },
          { address: '10.0.0.1', name: 'alias-a' },
          { address: '2001:db8::1', name: 'host6' },
        ]);
        expect(r.interfaces.map((i) => [i.linkType, i.snaplen, i.tsUnits, i.tsResolution, i.name, i.description, i.packets, i.dropped, i.tsOffset])).toEqual([
          [1, 64, 1e9, '1e-9', 'eth0', null, 2, 42, 0],
          [101, 96, 1024, '2^-10', null, 'raw tap', 2, null, 0],
          [113, 65535, 1e6, '1e-6', null, null, 1, 7, 100],
        ]);
      }
    });
  }

  it('reads the same from a file through openCapture', async () => {
    const res = await readFile(tmpFile(bigPcapng(true), '.pcapng'));
    expect(res.reader.formatName).toBe('pcapng');
    expect(res.packets.length).toBe(5);
    expect(res.partial).toBe(false);
  });

  // BUG: PcapngReader.next() reports 'file_empty' whenever it reaches the end of input while
  // `base === 0`, i.e. for every pcapng file that fits in one read chunk (< 4 MiB): a valid file
  // gets a spurious file_empty anomaly in the case's anomalies table.
  it('BUG: a valid pcapng file read in one chunk reports no issues (no spurious file_empty)', async () => {
    const res = await readFile(tmpFile(bigPcapng(true), '.pcapng'));
    expect(res.issues).toEqual([]);
  });

  it('a corrupt block in the middle: packets before and after it are read, pcapng_corrupt_block at its offset', async () => {
    const a = new Ng(true);
    const head = Buffer.concat([a.shb(), a.idb(1), a.epb(0, 1n, f1)]);
    const bad = a.epb(0, 2n, f2);
    bad.writeUInt32LE(bad.length + 8, bad.length - 4); // trailer does not match the length
    const tail = Buffer.concat([a.epb(0, 3n, f3), a.epb(0, 4n, f1)]);
    const bytes = Buffer.concat([head, bad, tail]);
    const res = await readBytes(bytes);
    expect(res.packets.map((p) => p.tsNs / 1000)).toEqual([1, 3, 4]);
    expect(res.packets[1].data.equals(f3)).toBe(true);
    expect(res.issues.filter((i) => i.name !== 'file_empty').map((i) => [i.name, i.offset])).toEqual([['pcapng_corrupt_block', head.length]]);
    expect(res.issues[0].detail).toContain(`offset ${head.length}`);
    expect(res.partial).toBe(true);
  });

  it('a block with an impossible length: reader resynchronises on the next valid block', async () => {
    const a = new Ng(true);
    const head = Buffer.concat([a.shb(), a.idb(1), a.epb(0, 1n, f1)]);
    const bytes = Buffer.concat([head, Buffer.from('GARBAGE!garbage!'), a.epb(0, 2n, f2)]);
    const res = await readBytes(bytes);
    expect(res.packets.map((p) => p.data.length)).toEqual([f1.length, f2.length]);
    expect(res.issues.filter((i) => i.name !== 'file_empty').map((i) => [i.name, i.offset])).toEqual([['pcapng_corrupt_block', head.length]]);
  });

  // BUG: PcapngReader.resync() leaves `resyncFrom` pointing into the previous buffer after fill()
  // rebases it, so when the scan for the next valid block crosses a chunk boundary it skips bytes:
  // packets after a corrupt block are lost or kept depending on the read chunk size (with 4 MiB
  // chunks: whenever a corrupt block lies near a chunk boundary).
  it('BUG: a corrupt block in the middle, read in small chunks: the packets after it are still read', async () => {
    const a = new Ng(true);
    const head = Buffer.concat([a.shb(), a.idb(1), a.epb(0, 1n, f1)]);
    const bad = a.epb(0, 2n, f2);
    bad.writeUInt32LE(bad.length + 8, bad.length - 4);
    const bytes = Buffer.concat([head, bad, a.epb(0, 3n, f3), a.epb(0, 4n, f1)]);
    for (let n = 1; n <= 64; n++) {
      const res = await readBytes(bytes, [n]);
      expect(res.packets.map((p) => p.tsNs / 1000), `chunk size ${n}`).toEqual([1, 3, 4]);
    }
  });

  it('truncated last block: pcapng_truncated_block at its offset, partial', async () => {
    const a = new Ng(true);
    const head = Buffer.concat([a.shb(), a.idb(1), a.epb(0, 1n, f1)]);
    const last = a.epb(0, 2n, f2);
    const res = await readBytes(Buffer.concat([head, last.subarray(0, last.length - 10)]));
    expect(res.packets.length).toBe(1);
    expect(res.issues.filter((i) => i.name !== 'file_empty').map((i) => [i.name, i.offset, i.packetNo])).toEqual([['pcapng_truncated_block', head.length, 2]]);
    expect(res.partial).toBe(true);
  });

  it('a packet on an undescribed interface: pcapng_unknown_interface, other packets kept', async () => {
    const a = new Ng(true);
    const bytes = Buffer.concat([a.shb(), a.idb(1), a.epb(3, 1n, f1), a.epb(0, 2n, f2)]);
    const res = await readBytes(bytes);
    expect(res.packets.map((p) => p.data.length)).toEqual([f2.length]);
    expect(res.issues.map((i) => i.name)).toContain('pcapng_unknown_interface');
    expect(res.partial).toBe(true);
  });

  it('an option running past its block: pcapng_bad_option, packet kept', async () => {
    const a = new Ng(true);
    const epb = a.epb(0, 1n, f3, [a.comment('ok')]);
    // option header sits right after the padded data: claim 200 bytes
    epb.writeUInt16LE(200, 28 + ((f3.length + 3) & ~3) + 2);
    const res = await readBytes(Buffer.concat([a.shb(), a.idb(1), epb]));
    expect(res.packets.length).toBe(1);
    expect(res.packets[0].comment).toBeNull();
    expect(res.issues.map((i) => i.name)).toContain('pcapng_bad_option');
  });

  // BUG: PcapngReader.epb() pads caplen with (caplen + 3) & ~3 in 32-bit signed arithmetic; a caplen
  // of 0x80000000 gives a negative padded length, passes the size check and the reader throws a
  // RangeError from options() (a hostile file aborts the whole ingest).
  it('BUG: an EPB claiming a caplen of 2^31 is reported as corrupt, not thrown', async () => {
    const a = new Ng(true);
    const epb = a.epb(0, 1n, f3, [a.comment('x')]);
    epb.writeUInt32LE(0x80000000, 20);
    const res = await readBytes(Buffer.concat([a.shb(), a.idb(1), epb, a.epb(0, 2n, f1)]));
    expect(res.packets.map((p) => p.data.length)).toEqual([f1.length]);
    expect(res.issues.map((i) => i.name)).toContain('pcapng_corrupt_block');
  });
});

describe('openCapture: gzip and format detection', () => {
  it('a gzip-compressed pcap and pcapng read the same packets as the plain files', async () => {
    for (const [bytes, ext, fmt] of [
      [pcapFile({ nano: true }, [{ tsSec: 5, tsFrac: 6, data: f1 }, { tsSec: 7, tsFrac: 8, data: f2 }]), '.pcap', 'pcap-ns'],
      [bigPcapng(false), '.pcapng', 'pcapng'],
    ] as const) {
      const plain = await readFile(tmpFile(bytes, ext));
      const gz = await readFile(tmpFile(gzipSync(bytes), ext + '.gz'));
      expect(gz.reader.formatName).toBe(`${fmt}+gzip`);
      expect(gz.reader.compressed).toBe(true);
      expect(plain.reader.compressed).toBe(false);
      expect(gz.packets).toEqual(plain.packets);
      expect(gz.packets.length).toBeGreaterThan(1);
      expect(gz.partial).toBe(false);
    }
  });

  it('a gzip file larger than one inflate chunk reads every packet', async () => {
    const records = Array.from({ length: 3000 }, (_, i) => ({ tsSec: i, tsFrac: 0, data: Buffer.alloc(1400, i & 0xff) }));
    const bytes = pcapFile({}, records);
    const res = await readFile(tmpFile(gzipSync(bytes), '.pcap.gz'));
    expect(res.packets.length).toBe(3000);
    expect(res.packets[2999].data.equals(Buffer.alloc(1400, 2999 & 0xff))).toBe(true);
    expect(res.packets[2999].fileOffset).toBe(24 + 2999 * 1416);
    expect(res.issues).toEqual([]);
  });

  // BUG: GzipSource.refill() accumulates up to 4 MiB of inflated output and throws it all away when
  // the gzip stream then fails (here: the 8-byte CRC/size trailer is cut). Every packet is lost and,
  // because PcapReader's header path resets `partial`, the file is even reported complete with a
  // 'file_empty' issue. anomalies.ts promises "packets before the damage are kept".
  it('BUG: a truncated gzip capture keeps the packets before the damage and is partial', async () => {
    const bytes = pcapFile({}, [{ tsSec: 1, tsFrac: 0, data: f1 }, { tsSec: 2, tsFrac: 0, data: f2 }]);
    const z = gzipSync(bytes);
    const res = await readFile(tmpFile(z.subarray(0, z.length - 4), '.pcap.gz'));
    expect(res.issues.map((i) => i.name)).toContain('gzip_corrupt');
    expect(res.partial).toBe(true);
    expect(res.packets.length).toBe(2);
  });

  it('a truncated gzip capture is reported with gzip_corrupt (never thrown)', async () => {
    const bytes = pcapFile({}, [{ tsSec: 1, tsFrac: 0, data: f1 }]);
    const z = gzipSync(bytes);
    const res = await readFile(tmpFile(z.subarray(0, z.length - 4), '.pcap.gz'));
    expect(res.issues.map((i) => i.name)).toContain('gzip_corrupt');
    expect(res.done).toBe(true);
  });

  it('a non-capture file: NotACaptureError naming the file and the magic', async () => {
    const p = tmpFile(Buffer.from('this is not a capture file\n'), '.txt');
    await expect(openCapture(p)).rejects.toBeInstanceOf(NotACaptureError);
    await expect(openCapture(p)).rejects.toThrow(`${p}: not a pcap or pcapng capture (magic 74686973 at offset 0)`);
    const g = tmpFile(gzipSync(Buffer.from('plain text, gzipped')), '.gz');
    await expect(openCapture(g)).rejects.toThrow(/after gunzip/);
    await expect(openCapture(join(tmp, 'missing.pcap'))).rejects.toThrow(/ENOENT/);
  });

  it('sniffing: magic numbers select the reader', () => {
    expect(PcapReader.sniff(Buffer.from('d4c3b2a1', 'hex'))).toBe(true);
    expect(PcapReader.sniff(Buffer.from('a1b2c3d4', 'hex'))).toBe(true);
    expect(PcapReader.sniff(Buffer.from('4d3cb2a1', 'hex'))).toBe(true);
    expect(PcapReader.sniff(Buffer.from('a1b23c4d', 'hex'))).toBe(true);
    expect(PcapReader.sniff(Buffer.from('0a0d0d0a', 'hex'))).toBe(false);
    expect(PcapngReader.sniff(Buffer.from('0a0d0d0a', 'hex'))).toBe(true);
    expect(PcapngReader.sniff(Buffer.from('0a0d0d', 'hex'))).toBe(false);
  });
});

describe('random access (EvidenceReader) and the capture writer', () => {
  it('pcap: every packet re-read at its file offset equals the streamed packet', async () => {
    for (const le of [true, false]) {
      const bytes = pcapFile({ le, nano: !le, linkType: 101 }, [
        { tsSec: 10, tsFrac: 20, data: ipv4(udp(), { proto: 17 }) },
        { tsSec: 11, tsFrac: 21, data: f3, origlen: 999 },
      ]);
      const path = tmpFile(bytes);
      const streamed = await readFile(path);
      const er = await EvidenceReader.open(path, streamed.reader.formatName, [{ interfaceId: 0, linkType: 101, tsUnits: le ? 1e6 : 1e9 }]);
      try {
        for (const p of streamed.packets) {
          const q = await er.packetAt(p.fileOffset);
          expect(q.data.equals(p.data)).toBe(true);
          expect([q.tsSec, q.tsNs, q.origlen, q.linkType]).toEqual([p.tsSec, p.tsNs, p.origlen, 101]);
        }
      } finally {
        await er.close();
      }
    }
  });

  it('pcapng (one section, two interfaces, gzip too): re-read packets equal the streamed ones', async () => {
    const a = new Ng(false);
    const bytes = Buffer.concat([
      a.shb(),
      a.idb(1, 65535, [a.tsresol(9)]),
      a.idb(101, 65535, [a.tsresol(0x8a)]),
      a.epb(0, 1_700_000_000_000_000_001n, f1),
      a.epb(1, (77n << 10n) + 1n, ipv4(udp(), { proto: 17 })),
      a.spb(f3),
    ]);
    for (const gz of [false, true]) {
      const path = tmpFile(gz ? gzipSync(bytes) : bytes, gz ? '.pcapng.gz' : '.pcapng');
      const streamed = await readFile(path);
      const ifs = streamed.reader.interfaces.map((i, k) => ({ interfaceId: k, linkType: i.linkType, tsUnits: tsUnitsOf(i.tsResolution) }));
      expect(ifs.map((i) => i.tsUnits)).toEqual([1e9, 1024]);
      const er = await EvidenceReader.open(path, streamed.reader.formatName, ifs);
      try {
        for (const p of streamed.packets) {
          const q = await er.packetAt(p.fileOffset);
          expect(q.data.equals(p.data)).toBe(true);
          expect([q.tsSec, q.tsNs, q.origlen, q.linkType]).toEqual([p.tsSec, p.tsNs, p.origlen, p.linkType]);
        }
      } finally {
        await er.close();
      }
    }
  });

  // Packet blocks name their interface by its number within the section: the reader must use the
  // section of the block (interfaces.section_offset / local_id) and apply if_tsoffset.
  it('pcapng with two sections: re-read packets of the second section keep their link type and time', async () => {
    const path = tmpFile(bigPcapng(true), '.pcapng');
    const streamed = await readFile(path);
    const ifs = streamed.reader.interfaces.map((i, k) => ({
      interfaceId: k,
      linkType: i.linkType,
      tsUnits: tsUnitsOf(i.tsResolution),
      tsOffset: i.tsOffset,
      sectionOffset: i.sectionOffset,
      localId: i.localId,
    }));
    const er = await EvidenceReader.open(path, 'pcapng', ifs);
    try {
      const last = streamed.packets[4];
      const q = await er.packetAt(last.fileOffset);
      expect(q.data.equals(last.data)).toBe(true);
      expect([q.linkType, q.tsSec, q.tsNs]).toEqual([113, 105, 1000]);
    } finally {
      await er.close();
    }
  });

  it('writeCapture: one link type -> nanosecond pcap; mixed -> pcapng; both re-read exactly', async () => {
    const one = [
      { data: f1, origlen: 1514, tsSec: 1_700_000_000, tsNs: 999_999_999, linkType: 1 },
      { data: f2, origlen: f2.length, tsSec: 1_700_000_001, tsNs: 1, linkType: 1 },
    ];
    const p1 = join(tmp, 'w1.pcap');
    expect(writeCapture(p1, one)).toBe('pcap');
    const r1 = await readFile(p1);
    expect(r1.reader.formatName).toBe('pcap-ns');
    expect(r1.packets.map((p) => [p.data.toString('hex'), p.origlen, p.tsSec, p.tsNs, p.linkType])).toEqual(
      one.map((p) => [p.data.toString('hex'), p.origlen, p.tsSec, p.tsNs, p.linkType]),
    );
    const mixed = [...one, { data: ipv4(udp(), { proto: 17 }), origlen: 28, tsSec: 5, tsNs: 6, linkType: 101 }];
    const p2 = join(tmp, 'w2.pcapng');
    expect(writeCapture(p2, mixed)).toBe('pcapng');
    const r2 = await readFile(p2);
    expect(r2.reader.formatName).toBe('pcapng');
    expect(r2.packets.map((p) => [p.data.toString('hex'), p.origlen, p.tsSec, p.tsNs, p.linkType])).toEqual(
      mixed.map((p) => [p.data.toString('hex'), p.origlen, p.tsSec, p.tsNs, p.linkType]),
    );
    expect(r2.reader.interfaces.map((i) => [i.linkType, i.tsResolution])).toEqual([
      [1, '1e-9'],
      [101, '1e-9'],
    ]);
  });

  it('MemorySource serves the bytes it was given, in the chunk sizes asked for', async () => {
    const s = new MemorySource(Buffer.from('abcdefg'), [2, 3]);
    const a = await s.refill(Buffer.alloc(0));
    const b = await s.refill(a!.subarray(1));
    expect([a!.toString(), b!.toString()]).toEqual(['ab', 'bcde']);
    expect((await s.refill(Buffer.alloc(0)))!.toString()).toBe('fg');
    expect(await s.refill(Buffer.alloc(0))).toBeNull();
  });
});

describe('PlainSource (reads ahead into a ring of buffers)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ic-src-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  /** Deterministic bytes (xorshift), so that a misplaced chunk shows. */
  const bytes = (n: number, seed: number) => {
    const b = Buffer.allocUnsafe(n);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 255;
    }
    return b;
  };

  it('hands out the file in order across many chunks, whatever tail each refill keeps (also tails over the head room)', async () => {
    const data = bytes(5 * CHUNK_SIZE + 4321, 7);
    const path = join(dir, 'big.bin');
    writeFileSync(path, data);
    let bigKeeps = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const s = await PlainSource.open(path, 0, seed % 2 === 0 ? 1 : READ_AHEAD);
      let rnd = seed;
      const next = () => ((rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32);
      const parts: Buffer[] = [];
      let buf: Buffer = Buffer.alloc(0);
      let pos = 0;
      for (;;) {
        const keep = buf.subarray(pos);
        if (keep.length > CHUNK_SIZE) bigKeeps++;
        // the buffer that holds `keep` is read into again once the refill has copied the tail
        const kept = Buffer.from(keep);
        const nb = await s.refill(keep);
        if (nb === null) break;
        expect(nb.subarray(0, kept.length).equals(kept)).toBe(true);
        buf = nb;
        // consume a random part: sometimes little, so that the next tail is larger than the head room
        const take = next() < 0.3 ? Math.floor(next() * 0.4 * buf.length) : Math.floor((0.5 + next() * 0.5) * buf.length);
        // a buffer handed out is read into again by the next refill: what was consumed is copied
        parts.push(Buffer.from(buf.subarray(0, take)));
        pos = take;
      }
      parts.push(Buffer.from(buf.subarray(pos)));
      await s.close();
      expect(Buffer.concat(parts).equals(data)).toBe(true);
    }
    expect(bigKeeps).toBeGreaterThan(0);
  });

  it('read one chunk ahead (many inputs open at once), a source allocates two buffers only', async () => {
    const data = bytes(4 * CHUNK_SIZE, 11);
    const path = join(dir, 'two.bin');
    writeFileSync(path, data);
    const buffers = async (readAhead: number) => {
      const s = await PlainSource.open(path, 0, readAhead);
      const parts: Buffer[] = [];
      for (let b = await s.refill(Buffer.alloc(0)); b !== null; b = await s.refill(Buffer.alloc(0))) parts.push(Buffer.from(b));
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      const n = (s as unknown as { slots: { buf: Buffer | null }[] }).slots.filter((x) => x.buf !== null).length;
      await s.close();
      return n;
    };
    expect(await buffers(1)).toBe(2);
    expect(await buffers(READ_AHEAD)).toBe(READ_AHEAD + 1);
  });

  it('a file that grows after its end was read yields the new bytes on the next refill', async () => {
    const path = join(dir, 'growing.bin');
    const first = bytes(CHUNK_SIZE + 100, 3);
    writeFileSync(path, first);
    const s = await PlainSource.open(path);
    const a = await s.refill(Buffer.alloc(0));
    const b = await s.refill(Buffer.alloc(0));
    expect(Buffer.concat([a!, b!]).equals(first)).toBe(true);
    expect(await s.refill(Buffer.alloc(0))).toBeNull();
    const more = bytes(50, 9);
    appendFileSync(path, more);
    const c = await s.refill(Buffer.from('kept'));
    expect(c!.equals(Buffer.concat([Buffer.from('kept'), more]))).toBe(true);
    expect(await s.refill(Buffer.alloc(0))).toBeNull();
    await s.close();
  });

  it('starts at the given offset and closes with reads still running', async () => {
    const data = bytes(3 * CHUNK_SIZE, 5);
    const path = join(dir, 'offset.bin');
    writeFileSync(path, data);
    const s = await PlainSource.open(path, 1000);
    const a = await s.refill(Buffer.alloc(0));
    expect(a!.equals(data.subarray(1000, 1000 + CHUNK_SIZE))).toBe(true);
    await s.close();
  });
});
