/**
 * Properties of the QUIC Initial parser: random datagrams, mutated real datagrams (bit flips,
 * truncation, splices) and correctly protected Initials around random or mutated plaintext never
 * throw and write at most one row per connection; feeding a connection's datagrams twice gives
 * the same single row as feeding them once; a ClientHello/ServerHello cut into CRYPTO frames at
 * random points, spread over packets and datagrams in any order, gives the same row as whole
 * hellos; and the CRYPTO reassembly matches a first-copy-wins model.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import { CryptoStream, createQuic, initialKeys, protectInitial, QUIC_V1, QUIC_V2 } from '../../engine/app/quic.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { forEachDecoded } from '../helpers/capture.js';
import { PCAPS } from '../fixtures/build.js';

type Datagram = [dir: 0 | 1, bytes: Uint8Array];

const QUIC_DIR = `${PCAPS}/protocols/quic`;

/** Datagrams of every UDP connection of the QUIC captures, copied, direction by first sender. */
let conns: Datagram[][] = [];

async function connections(path: string): Promise<Datagram[][]> {
  const byKey = new Map<string, { orig: string; list: Datagram[] }>();
  await forEachDecoded(path, (_pk, d) => {
    if (!d.hasL4 || d.proto !== 17) return;
    const fmt = d.ipVersion === 4 ? formatIPv4 : formatIPv6;
    const src = `${fmt(d.nb, d.srcOff)}:${d.sport}`;
    const dst = `${fmt(d.nb, d.dstOff)}:${d.dport}`;
    const key = src < dst ? `${src} ${dst}` : `${dst} ${src}`;
    let c = byKey.get(key);
    if (!c) byKey.set(key, (c = { orig: src, list: [] }));
    c.list.push([src === c.orig ? 0 : 1, Uint8Array.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured))]);
  });
  return [...byKey.values()].map((c) => c.list);
}

beforeAll(async () => {
  const files = readdirSync(QUIC_DIR).filter((f) => /\.pcap(ng)?$/.test(f));
  conns = (await Promise.all(files.map((f) => connections(`${QUIC_DIR}/${f}`)))).flat();
  expect(conns.length).toBeGreaterThanOrEqual(15);
});

function feed(list: readonly Datagram[], times = 1): RecordingSink {
  const sink = new RecordingSink('udp');
  const p = createQuic(sink);
  for (let t = 0; t < times; t++) {
    list.forEach(([dir, b], i) => {
      sink.at(1_700_000_000 + i, 0, i + 1);
      p.datagram(dir, b, 0, b.length);
    });
  }
  p.end();
  p.end();
  return sink;
}

function checkSink(sink: RecordingSink): void {
  expect(sink.table('tls').length).toBeLessThanOrEqual(1);
  expect(sink.services.length).toBeLessThanOrEqual(1);
  for (const a of sink.anomalies) {
    expect(a.name).toBe('tls_malformed_handshake');
    expect(a.detail).toMatch(/^quic: /);
  }
}

const dir = fc.constantFrom<0 | 1>(0, 1);
/** Bytes that often start like a long header of a version we read, so the walk gets past the first check. */
const longHeaderish = fc
  .tuple(fc.integer({ min: 0xc0, max: 0xff }), fc.constantFrom(QUIC_V1, QUIC_V2, 0xff00001d, 0xff00001c), fc.uint8Array({ maxLength: 1400 }))
  .map(([b0, v, rest]) => {
    const out = new Uint8Array(5 + rest.length);
    out[0] = b0;
    new DataView(out.buffer).setUint32(1, v);
    out.set(rest, 5);
    return out;
  });

describe('createQuic never throws', () => {
  it('on random datagrams', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(dir, fc.oneof(fc.uint8Array({ maxLength: 1500 }), longHeaderish)), { maxLength: 30 }), (list) => {
        checkSink(feed(list));
      }),
      { seed: 0x51c0, numRuns: 300 },
    );
  });

  it('on real connections with one datagram bit-flipped, truncated or spliced', () => {
    const mutation = fc.record({
      conn: fc.nat(),
      at: fc.nat(),
      kind: fc.constantFrom('flip', 'truncate', 'splice', 'drop-first'),
      pos: fc.nat(),
      bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    });
    fc.assert(
      fc.property(mutation, (m) => {
        const list = conns[m.conn % conns.length].map(([d, b]): Datagram => [d, b]);
        const i = m.at % list.length;
        const [d, orig] = list[i];
        let b = Uint8Array.from(orig);
        if (m.kind === 'flip') for (const bit of m.bits) if (b.length > 0) b[(m.pos + bit) % b.length] ^= 1 << (bit % 8);
        if (m.kind === 'truncate') b = b.subarray(0, m.pos % (b.length + 1));
        if (m.kind === 'splice') b = Uint8Array.from([...b.subarray(0, m.pos % (b.length + 1)), ...(list[(i + 1) % list.length][1] ?? [])]);
        if (m.kind === 'drop-first') list.shift();
        else list[i] = [d, b];
        checkSink(feed(list));
      }),
      { seed: 0x51c1, numRuns: 300 },
    );
  });

  it('on correctly protected Initials around random plaintext (frames and hellos fuzzed after decryption)', () => {
    const dcid = Buffer.from('8394c8f03e515708', 'hex');
    const keys = initialKeys(QUIC_V1, dcid)!;
    const frameish = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 600 }),
      // A CRYPTO frame at a small offset around random handshake bytes that start like a hello.
      fc.tuple(fc.integer({ min: 0, max: 63 }), fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 300 })).map(([off, type, body]) => {
        const msg = Uint8Array.from([type, 0, (body.length >> 8) & 0xff, body.length & 0xff, ...body]);
        return Uint8Array.from([0x06, off, 0x40 | (msg.length >> 8), msg.length & 0xff, ...msg]);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(dir, frameish), { minLength: 1, maxLength: 8 }), (packets) => {
        const list: Datagram[] = packets.map(([d, payload], pn) => [
          d,
          protectInitial({ version: QUIC_V1, dcid: d === 0 ? dcid : Buffer.of(1, 2, 3, 4), scid: Buffer.alloc(0), pn, pnLen: 2, payload, keys: d === 0 ? keys.client : keys.server }),
        ]);
        checkSink(feed(list));
      }),
      { seed: 0x51c2, numRuns: 300 },
    );
  });
});

describe('determinism', () => {
  it('feeding every real connection twice gives the same single row as once', () => {
    let withRows = 0;
    for (const list of conns) {
      const once = feed(list);
      const twice = feed(list, 2);
      expect(twice.table('tls')).toEqual(once.table('tls'));
      expect(twice.services).toEqual(once.services);
      if (once.table('tls').length === 1) withRows++;
    }
    expect(withRows).toBe(16);
  });

  it('hellos cut into CRYPTO frames at random points, in any packet order, give the same row', () => {
    const dcid = Buffer.from('8394c8f03e515708', 'hex');
    const keys = initialKeys(QUIC_V1, dcid)!;
    const ch = clientHello();
    const sh = serverHello();
    const packetsOf = (msg: Buffer, cuts: number[], order: number[], d: 0 | 1): Datagram[] => {
      const points = [...new Set(cuts.map((c) => c % msg.length))].filter((c) => c > 0).sort((a, b) => a - b);
      const edges = [0, ...points, msg.length];
      const frames = edges.slice(0, -1).map((s, i) => cryptoFrame(s, msg.subarray(s, edges[i + 1])));
      const perm = frames.map((f, i) => ({ f, k: order[i % order.length] ?? 0, i })).sort((a, b) => a.k - b.k || a.i - b.i);
      return perm.map(({ f }, pn): Datagram => [
        d,
        protectInitial({ version: QUIC_V1, dcid: d === 0 ? dcid : Buffer.alloc(0), scid: Buffer.alloc(0), pn, pnLen: 2, payload: Buffer.concat([f, Buffer.alloc(20)]), keys: d === 0 ? keys.client : keys.server }),
      ]);
    };
    const whole = feed([...packetsOf(ch, [], [0], 0), ...packetsOf(sh, [], [0], 1)]).table('tls')[0];
    expect(whole.server_name).toBe('example.com');
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 12 }), (cc, sc, order) => {
        const client = packetsOf(ch, cc, order, 0);
        const server = packetsOf(sh, sc, order, 1);
        // Client packets go before the server's: the server's keys come from the client's DCID.
        const rows = feed([...client, ...server]).table('tls');
        expect(rows).toHaveLength(1);
        expect({ ...rows[0], ts: null, client_hello_packet: null, server_hello_packet: null }).toEqual({ ...whole, ts: null, client_hello_packet: null, server_hello_packet: null });
      }),
      { seed: 0x51c3, numRuns: 150 },
    );
  });
});

describe('CryptoStream', () => {
  it('matches a first-copy-wins model for random pieces', () => {
    const piece = fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 255 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const s = new CryptoStream();
        const model = new Int16Array(3400).fill(-1);
        for (const [off, len, fill] of pieces) {
          const data = new Uint8Array(len).fill(fill);
          let fresh = 0;
          for (let i = off; i < off + len; i++) {
            if (model[i] >= 0) continue;
            model[i] = fill;
            fresh++;
          }
          expect(s.add(off, data, 0, len)).toBe(fresh);
        }
        let contiguous = 0;
        while (contiguous < model.length && model[contiguous] >= 0) contiguous++;
        expect(s.contiguous()).toBe(contiguous);
        expect(Array.from(s.bytes().subarray(0, contiguous))).toEqual(Array.from(model.subarray(0, contiguous)));
      }),
      { seed: 0x51c4, numRuns: 300 },
    );
  });
});

// The RFC 9001 A.2/A.3 hellos.
function clientHello(): Buffer {
  return Buffer.from(
    '010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c000004130113020100' +
      '00c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d0017001800100007000504616c' +
      '706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e9' +
      '94ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c0002400100390032' +
      '0408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff',
    'hex',
  );
}

function serverHello(): Buffer {
  return Buffer.from(
    '020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e003300' +
      '24001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304',
    'hex',
  );
}

function cryptoFrame(offset: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.of(0x06, 0x40 | (offset >> 8), offset & 0xff, 0x40 | (data.length >> 8), data.length & 0xff), data]);
}
