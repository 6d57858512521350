/**
 * Fuzz/property tests of the capture readers (PcapReader, PcapngReader, openCapture): random and
 * mutated file bytes, served in random chunk sizes so that records straddle chunk boundaries.
 * Readers must never throw, must always terminate (bounded next/fill turns), must hand out only
 * packets whose bytes lie inside their buffer, and must report only named issues at offsets
 * inside the file. Reading must not depend on how the bytes are chunked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openCapture, NotACaptureError } from '../../engine/readers/open.js';
import { ANOMALY_NAMES } from '../../common/anomalies.js';
import { PCAPS, Ng, readAll, readBytes, type ReadAllResult, eth, ipv4, tcp, udp } from '../fixtures/build.js';

const SEED = 777;
const KNOWN = new Set(Object.keys(ANOMALY_NAMES));

const PCAP_FILES = [
  'protocols/dns/zeek_dns-svcb.pcap',
  'protocols/linktypes/zeek_radiotap.pcap',
  'protocols/pcapng/arkime_bigendian.pcap',
  'protocols/pcapng/zeek_get-to-ssh-server-nsec.pcap',
  'protocols/linktypes/td_nflog.pcap',
];
const PCAPNG_FILES = [
  'protocols/pcapng/zeek_pcapng-multi-interface.pcapng',
  'protocols/pcapng/pcapng-test-generator/be/advanced-test102.pcapng',
  'protocols/pcapng/pcapng-test-generator/le/difficult-test202.pcapng',
  'protocols/pcapng/brimcap_ng-interfaces.pcapng',
  'protocols/pcapng/pcapng-test-generator/le/basic-test006.pcapng',
];

/** A pcapng built here with every block type, both byte orders (two sections). */
function allBlocks(): Buffer {
  const a = new Ng(true);
  const b = new Ng(false);
  const frame = eth(ipv4(tcp(Buffer.from('hello'), { seq: 1 })));
  return Buffer.concat([
    a.shb([a.comment('section one')]),
    a.idb(1, 65535, [a.ifName('eth0'), a.tsresol(9)]),
    a.idb(101, 128, [a.tsresol(0x8a)]),
    a.epb(0, 1_700_000_000_123_456_789n, frame, [a.comment('first')]),
    a.spb(frame),
    a.opb(1, 0, 5n << 10n, ipv4(udp(Buffer.from('x')))),
    a.nrb([{ type: 1, addr: Buffer.from([10, 0, 0, 1]), names: ['a.example'] }]),
    a.isb(0, 0n, [a.ifdrop(7n)]),
    b.shb([b.comment('section two')]),
    b.idb(1),
    b.epb(0, 1_700_000_000_000_000n, frame),
  ]);
}

/** Offsets of a valid pcapng file that can change without breaking block framing. */
function bodyBytes(b: Buffer): number[] {
  const out: number[] = [];
  let le = true;
  let p = 0;
  while (p + 12 <= b.length) {
    const isShb = b.readUInt32LE(p) === 0x0a0d0d0a;
    if (isShb) le = b.readUInt32LE(p + 8) === 0x1a2b3c4d;
    const type = le ? b.readUInt32LE(p) : b.readUInt32BE(p);
    const len = le ? b.readUInt32LE(p + 4) : b.readUInt32BE(p + 4);
    for (let i = p + 8; i < p + len - 4; i++) {
      if (isShb && i < p + 12) continue;
      if ((type === 6 || type === 2) && i >= p + 20 && i < p + 24) continue;
      out.push(i);
    }
    p += len;
  }
  return out;
}

let corpus: { name: string; bytes: Buffer }[] = [];
let tmp = '';

beforeAll(() => {
  corpus = [...PCAP_FILES, ...PCAPNG_FILES].map((f) => ({ name: f, bytes: readFileSync(`${PCAPS}/${f}`) }));
  corpus.push({ name: 'built-all-blocks.pcapng', bytes: allBlocks() });
  tmp = mkdtempSync(join(tmpdir(), 'instacap-fuzz-'));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Checks everything that must hold for any input; returns a comparable digest. */
function checkResult(res: ReadAllResult, fileLen: number, maxIter: number): string {
  expect(res.violations).toEqual([]);
  expect(res.done, 'reader reached its end').toBe(true);
  expect(res.iterations).toBeLessThan(maxIter);
  for (const is of res.issues) {
    expect(KNOWN.has(is.name), `unknown issue ${is.name}`).toBe(true);
    expect(is.offset).toBeGreaterThanOrEqual(0);
    expect(is.offset).toBeLessThanOrEqual(fileLen);
  }
  let total = 0;
  for (const p of res.packets) {
    expect(p.fileOffset).toBeGreaterThanOrEqual(0);
    expect(p.fileOffset + p.caplen).toBeLessThanOrEqual(fileLen);
    expect(p.data.length).toBe(p.caplen);
    total += p.caplen;
  }
  expect(total).toBeLessThanOrEqual(fileLen);
  return JSON.stringify({
    packets: res.packets.map((p) => [p.packetNo, p.fileOffset, p.caplen, p.origlen, p.tsSec, p.tsNs, p.linkType, p.ifIndex, p.comment, p.data.toString('hex')]),
    // file_empty is left out: PcapngReader reports a spurious one at the end of any file read in a
    // single chunk (pinned by the BUG test in test/unit/readers.test.ts)
    issues: res.issues.filter((i) => i.name !== 'file_empty').map((i) => [i.name, i.offset, i.packetNo]),
    partial: res.partial,
  });
}

const chunkSizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 17, max: 300 }), fc.constant(4096)), { minLength: 1, maxLength: 12 });

async function readChecked(bytes: Buffer, sizes?: number[]): Promise<{ digest: string; res: ReadAllResult }> {
  const maxIter = 4 * (bytes.length + 16);
  const res = await readBytes(bytes, sizes);
  return { digest: checkResult(res, bytes.length, maxIter), res };
}

const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 6 }),
  sets: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
  /** 32-bit words overwritten with interesting values (lengths, caplens). */
  // (values of 2^31-3 and above are left out here: as a pcapng caplen they make the reader throw,
  // see the BUG test 'pcapng packet blocks with any 32-bit caplen' below)
  words: fc.array(fc.tuple(fc.nat(), fc.constantFrom(0, 1, 12, 0x10000, 0x1000000, 0x7ffffff0)), { maxLength: 2 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  extend: fc.uint8Array({ maxLength: 48 }),
});

function mutate(src: Buffer, m: { flips: [number, number][]; sets: [number, number][]; words: [number, number][]; cut?: number; extend: Uint8Array }): Buffer {
  let b = Buffer.from(src);
  for (const [i, bit] of m.flips) b[i % b.length] ^= 1 << bit;
  for (const [i, v] of m.sets) b[i % b.length] = v;
  for (const [i, v] of m.words) {
    const at = ((i % b.length) & ~3) >>> 0;
    if (at + 4 <= b.length) b.writeUInt32LE(v >>> 0, at);
  }
  if (m.cut !== undefined) b = b.subarray(0, m.cut % (b.length + 1));
  return Buffer.concat([b, Buffer.from(m.extend)]);
}

describe('PcapReader / PcapngReader on random bytes', () => {
  const magics = [
    Buffer.from('d4c3b2a1', 'hex'),
    Buffer.from('a1b2c3d4', 'hex'),
    Buffer.from('4d3cb2a1', 'hex'),
    Buffer.from('a1b23c4d', 'hex'),
    Buffer.from('0a0d0d0a', 'hex'),
  ];
  it('random bytes after a capture magic: no throw, terminates, framing invariants hold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...magics), fc.uint8Array({ maxLength: 600 }), chunkSizes, async (magic, body, sizes) => {
        const bytes = Buffer.concat([magic, Buffer.from(body)]);
        await readChecked(bytes, sizes);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });

  it('a pcapng SHB followed by random blocks with plausible headers', async () => {
    const ng = new Ng(true);
    const block = fc.tuple(fc.constantFrom(1, 2, 3, 4, 5, 6, 0x0a0d0d0a, 0xbad, 99), fc.uint8Array({ maxLength: 80 }), fc.boolean()).map(([t, body, breakTrailer]) => {
      const b = ng.block(t, Buffer.from(body));
      if (breakTrailer) b.writeUInt32LE(b.length + 4, b.length - 4);
      return b;
    });
    await fc.assert(
      fc.asyncProperty(fc.array(block, { maxLength: 10 }), chunkSizes, async (blocks, sizes) => {
        const bytes = Buffer.concat([ng.shb(), ng.idb(1), ...blocks]);
        await readChecked(bytes, sizes);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });
});

describe('pcapng timestamps through the reader', () => {
  it('any if_tsresol (10^-n, 2^-n) and if_tsoffset: tsSec/tsNs equal the BigInt reference', async () => {
    const res = fc.oneof(fc.integer({ min: 0, max: 19 }), fc.integer({ min: 0, max: 63 }).map((n) => 0x80 | n));
    await fc.assert(
      fc.asyncProperty(fc.boolean(), res, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), async (le, r, raw, off) => {
        const ng = new Ng(le);
        const U = r & 0x80 ? 2n ** BigInt(r & 0x7f) : 10n ** BigInt(r);
        // keep the seconds below 2^44 so that they (and the offset sum) are exact doubles
        const ts = raw % (U * 2n ** 44n);
        const bytes = Buffer.concat([ng.shb(), ng.idb(1, 65535, [ng.tsresol(r), ng.tsoffset(BigInt(off))]), ng.epb(0, ts, Buffer.alloc(4))]);
        const { res: out } = await readChecked(bytes);
        expect(out.packets.length).toBe(1);
        expect(out.packets[0].tsSec).toBe(Number(ts / U) + off);
        expect(out.packets[0].tsNs).toBe(Number(((ts % U) * 1_000_000_000n) / U));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('readers on mutated real captures', () => {
  it('every corpus file reads cleanly in one chunk and in 1-byte chunks alike', async () => {
    for (const { name, bytes } of corpus) {
      const whole = await readChecked(bytes);
      const tiny = await readChecked(bytes, [1]);
      expect(tiny.digest, name).toBe(whole.digest);
      expect(whole.res.packets.length, name).toBeGreaterThan(0);
      expect(tiny.res.issues, name).toEqual([]);
      expect(whole.res.partial, name).toBe(false);
    }
  });

  // BUG: PcapngReader.epb()/opb() compute the padded length as (caplen + 3) & ~3 in int32
  // arithmetic; for caplen >= 2^31 - 3 it is negative (or 0), the "block too short" check passes,
  // and the reader either throws a RangeError (reading options at a negative offset) or hands out
  // a packet whose caplen runs past its buffer.
  it('BUG: pcapng packet blocks with any 32-bit caplen: no throw, caplen inside the buffer', async () => {
    const ng = new Ng(true);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), fc.boolean(), async (caplen, opb, withOpt) => {
        const blk = opb ? ng.opb(0, 0, 1n, Buffer.alloc(8, 1), withOpt ? [ng.comment('c')] : []) : ng.epb(0, 1n, Buffer.alloc(8, 1), withOpt ? [ng.comment('c')] : []);
        blk.writeUInt32LE(caplen >>> 0, 20);
        await readChecked(Buffer.concat([ng.shb(), ng.idb(1), blk]));
      }),
      { seed: SEED, numRuns: 300, examples: [[0x80000000, false, true], [0xfffffffd, false, false]] },
    );
  });

  it('mutated files: no throw, terminates, packets inside their buffers and the file', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, chunkSizes, async (pick, m, sizes) => {
        const { bytes } = corpus[pick % corpus.length];
        await readChecked(mutate(bytes, m), sizes);
      }),
      { seed: SEED, numRuns: 1500 },
    );
  });

  it('classic pcap: the result does not depend on chunk sizes (mutated files)', async () => {
    const pcaps = corpus.filter((c) => !c.name.endsWith('.pcapng'));
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, chunkSizes, async (pick, m, sizes) => {
        const bytes = mutate(pcaps[pick % pcaps.length].bytes, m);
        fc.pre(bytes.length >= 4 && bytes.readUInt32LE(0) !== 0x0a0d0d0a);
        const whole = await readChecked(bytes);
        const chunked = await readChecked(bytes, sizes);
        expect(chunked.digest).toBe(whole.digest);
      }),
      { seed: SEED, numRuns: 800 },
    );
  });

  it('pcapng: the result does not depend on chunk sizes (mutations that keep block framing intact)', async () => {
    // byte flips inside block bodies only: never the block type/length/trailer, the SHB byte-order
    // magic or a packet block's caplen, so every block stays framed and no resync is needed
    const ngs = corpus.filter((c) => c.name.endsWith('.pcapng')).map((c) => ({ bytes: c.bytes, mutable: bodyBytes(c.bytes) }));
    for (const n of ngs) expect(n.mutable.length).toBeGreaterThan(100);
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }), chunkSizes, async (pick, flips, sizes) => {
        const { bytes: src, mutable } = ngs[pick % ngs.length];
        const bytes = Buffer.from(src);
        for (const [i, x] of flips) bytes[mutable[i % mutable.length]] ^= x;
        const whole = await readChecked(bytes);
        const chunked = await readChecked(bytes, sizes);
        expect(chunked.digest).toBe(whole.digest);
        expect(whole.res.issues.map((i) => i.name)).not.toContain('pcapng_corrupt_block');
      }),
      { seed: SEED, numRuns: 800 },
    );
  });

  // BUG: PcapngReader.resync() keeps `resyncFrom` as an index into the old buffer across fill():
  // after a refill the buffer is rebased (pos -> 0) but resyncFrom is not, so the scan for the next
  // valid block starts too far ahead and skips valid blocks that straddled the chunk boundary.
  // Whether packets after a corrupt block are recovered then depends on the chunk size.
  it('BUG: pcapng with a corrupt block: the result does not depend on chunk sizes', async () => {
    const ngs = corpus.filter((c) => c.name.endsWith('.pcapng'));
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, chunkSizes, async (pick, m, sizes) => {
        const bytes = mutate(ngs[pick % ngs.length].bytes, m);
        const whole = await readChecked(bytes);
        const chunked = await readChecked(bytes, sizes);
        expect(chunked.digest).toBe(whole.digest);
      }),
      { seed: SEED, numRuns: 800 },
    );
  });
});

describe('openCapture on files (plain and gzip)', () => {
  let n = 0;
  it('mutated files on disk: NotACaptureError or a reader that terminates cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), mutation, fc.boolean(), async (pick, m, gz) => {
        const { bytes: src } = corpus[pick % corpus.length];
        const bytes = mutate(src, m);
        const path = join(tmp, `f${n++}${gz ? '.gz' : ''}`);
        writeFileSync(path, gz ? gzipSync(bytes) : bytes);
        let r;
        try {
          r = await openCapture(path);
        } catch (e) {
          expect(e).toBeInstanceOf(NotACaptureError);
          expect((e as Error).message).toContain(path);
          return;
        }
        try {
          const res = await readAll(r, 4 * (bytes.length + 16));
          checkResult(res, bytes.length, 4 * (bytes.length + 16));
          expect(r.compressed).toBe(gz);
        } finally {
          await r.close();
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('damaged gzip streams: gzip_corrupt, never a throw, terminates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.nat(), fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { nil: undefined }), async (pick, cut, flip) => {
        const { bytes } = corpus[pick % corpus.length];
        const z = Buffer.from(gzipSync(bytes));
        if (flip) z[10 + (flip[0] % (z.length - 10))] ^= flip[1];
        const damaged = z.subarray(0, 10 + (cut % (z.length - 9)));
        const path = join(tmp, `g${n++}.gz`);
        writeFileSync(path, damaged);
        let r;
        try {
          r = await openCapture(path);
        } catch (e) {
          expect(e).toBeInstanceOf(NotACaptureError);
          return;
        }
        try {
          const res = await readAll(r, 4 * (bytes.length + 64));
          expect(res.violations).toEqual([]);
          expect(res.done).toBe(true);
          for (const is of res.issues) expect(KNOWN.has(is.name)).toBe(true);
          // a cut stream reports gzip_corrupt after the data inflated before the cut; a flipped bit may
          // instead inflate to garbage that the framing rejects first (zlib only notices at the CRC)
          if (damaged.length < z.length && !flip) expect(res.issues.map((i) => i.name)).toContain('gzip_corrupt');
          if (damaged.length < z.length || flip) expect(res.issues.length).toBeGreaterThan(0);
        } finally {
          await r.close();
        }
      }),
      { seed: SEED, numRuns: 120 },
    );
  });

  // BUG: GzipSource.refill() gathers up to 4 MiB of inflated data per call and drops all of it when
  // the gzip stream then fails, so a truncated .gz capture loses every packet of its last (for small
  // files: only) chunk; PcapReader then also resets `partial` to false ('file_empty' + complete).
  it('BUG: truncated gzip streams keep the packets before the damage and are partial', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 8 }), async (pick, cut) => {
        const { bytes } = corpus[pick % corpus.length];
        const z = gzipSync(bytes);
        const path = join(tmp, `h${n++}.gz`);
        writeFileSync(path, z.subarray(0, z.length - cut)); // only the CRC/size trailer is damaged
        const r = await openCapture(path);
        try {
          const res = await readAll(r);
          const ref = await readBytes(bytes);
          expect(res.partial).toBe(true);
          expect(res.packets.length).toBe(ref.packets.length);
        } finally {
          await r.close();
        }
      }),
      { seed: SEED, numRuns: 20 },
    );
  });
});
