/**
 * Fuzz/property tests of the HTTP/1.x parser: random bytes, HTTP-shaped token soup and mutated
 * real exchanges (hand-built ones and every connection of the HTTP captures) never throw, only
 * report named anomalies, write well-formed rows and finish; and feeding a stream cut at random
 * points (1-byte pieces included) gives exactly the same rows, anomalies and objects as feeding
 * it whole.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { ANOMALY_NAMES } from '../../common/anomalies.js';
import { createHttp, headerKind, HEADER_KIND, type HttpObject } from '../../engine/app/http.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { tcpConnections as readTcpConnections } from '../helpers/capture.js';

const SEED = 20250611;

/** Bytes of one direction, or (a number) a gap of that many bytes. */
type Piece = [Dir, Uint8Array | number];

const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const gz = gzipSync('compressed body '.repeat(20)).toString('latin1');

/** Hand-built exchanges covering each state of the parser. */
const EXCHANGES: Piece[][] = [
  [[0, enc('GET /a HTTP/1.1\r\nHost: h\r\nUser-Agent: u\r\n\r\n')], [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello')]],
  [
    [0, enc('POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n4;x=y\r\nWiki\r\n5\r\npedia\r\n0\r\nT: 1\r\n\r\n')],
    [1, enc(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n${gz.length.toString(16)}\r\n${gz}\r\n0\r\n\r\n`)],
  ],
  [
    [0, enc('GET /1 HTTP/1.1\r\n\r\nHEAD /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.0\nAuthorization: Basic dXNlcjpwYXNz\n\n')],
    [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 401 No\r\n\r\nbody to the close')],
  ],
  [
    [0, enc('POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n')],
    [1, enc('HTTP/1.1 100 Continue\r\n\r\n')],
    [0, enc('data')],
    [1, enc('HTTP/1.1 204 No Content\r\n\r\n')],
  ],
  [[0, enc('CONNECT h:443 HTTP/1.1\r\n\r\n')], [1, enc('HTTP/1.1 407 Auth\r\nContent-Length: 2\r\n\r\nno')], [0, enc('CONNECT h:443 HTTP/1.1\r\n\r\n\x16\x03')], [1, enc('HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03')]],
  [[0, enc('GET /zeek.html\r\n')], [1, enc('<html>raw</html>\n')]],
  [[0, enc('GET /h\r\n')], [1, enc('HTTP is not here\n')]],
  [[0, enc('GET /h\r\n')], [1, enc('HTTP/1.0 200 OK\r\n\r\nbody')]],
  [[0, enc('GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n')], [1, enc('HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x02hi')]],
  [[0, enc('GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n')], [1, enc('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc')], [1, 4], [1, enc('xyz')]],
  [[1, enc('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.0 500 x\r\n\r\ntail')]],
  [[0, enc('tail of something\r\n\r\nGET /again HTTP/1.1\r\n\r\n')], [1, enc('junk\nHTTP/1.1 304 Not Modified\r\n\r\n')]],
];


/** TCP payloads per connection in capture order (zero-length and exact duplicates skipped). */
async function tcpConnections(path: string): Promise<Piece[][]> {
  return (await readTcpConnections(path)).filter((c) => c.segments.length > 0).map((c) => c.segments.map((g): Piece => [g.dir, g.bytes]));
}

/** Runs pieces through one parser; the sink's time and packet number never change. */
function run(pieces: Piece[], split?: (len: number) => number[]): { sink: RecordingSink; objects: HttpObject[]; done: boolean } {
  const sink = new RecordingSink();
  const objects: HttpObject[] = [];
  const p = createHttp(sink, { onObject: (o) => objects.push(o), maxDecodedBody: 1 << 20 });
  for (const [dir, data] of pieces) {
    if (typeof data === 'number') {
      p.gap(dir, data);
      continue;
    }
    let at = 0;
    for (const n of split ? split(data.length) : [data.length]) {
      p.data(dir, data, at, at + n);
      at += n;
    }
  }
  p.end();
  return { sink, objects, done: p.done };
}

/** Everything a run produced, as comparable text. */
function signature(r: ReturnType<typeof run>): string {
  return JSON.stringify({
    http: r.sink.table('http'),
    creds: r.sink.table('credentials'),
    anomalies: r.sink.anomalies,
    services: r.sink.services,
    objects: r.objects.map((o) => ({ ...o, body: `${o.body.length}` })),
  });
}

const HEX64 = /^[0-9a-f]{64}$/;

function checkInvariants(r: ReturnType<typeof run>): void {
  expect(r.done).toBe(true);
  for (const a of r.sink.anomalies) expect(ANOMALY_NAMES).toHaveProperty(a.name);
  const rows = r.sink.table('http');
  const depths = rows.map((x) => x.trans_depth as number);
  expect(new Set(depths).size).toBe(depths.length);
  for (const x of rows) {
    expect(Number.isInteger(x.trans_depth) && (x.trans_depth as number) >= 1).toBe(true);
    for (const c of ['request_body_len', 'response_body_len']) expect(Number.isSafeInteger(x[c]) && (x[c] as number) >= 0).toBe(true);
    for (const c of ['request_sha256', 'response_sha256']) expect(x[c] === null || HEX64.test(x[c] as string)).toBe(true);
    expect(x.status_code === null || ((x.status_code as number) >= 100 && (x.status_code as number) <= 999)).toBe(true);
    expect(typeof x.password_seen).toBe('boolean');
    if (x.method === null) expect(r.sink.anomalies.some((a) => a.name === 'http_unmatched_response')).toBe(true);
  }
  for (const o of r.objects) expect(o.body.length).toBeLessThanOrEqual(1 << 20);
}

/** Cut points: mostly small random pieces, sometimes all 1-byte. */
function splitter(seed: number): (len: number) => number[] {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  const ones = rnd() < 0.3;
  return (len) => {
    const out: number[] = [];
    let left = len;
    while (left > 0) {
      const n = ones ? 1 : Math.min(left, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8 : 400)));
      out.push(n);
      left -= n;
    }
    return out;
  };
}

const TOKENS = [
  'GET ', 'POST ', 'HEAD ', 'CONNECT ', '/', '/x', '*', ' HTTP/1.1', ' HTTP/1.0', 'HTTP/1.1 ', '200 OK', '100 Continue', '101 S', '204', '304',
  '\r\n', '\n', '\r\n\r\n', ': ', ' ', '\t', 'Host', 'Content-Length', 'Transfer-Encoding', 'chunked', 'Content-Encoding', 'gzip', 'br',
  'Authorization', 'Basic dTpw', '0', '5', 'ff', ';e=1', 'hello', ',', '\x00', '\xff', gz.slice(0, 40),
  // whole lines, so that the soup often forms messages
  'GET / HTTP/1.1\r\n', 'HEAD /h HTTP/1.1\r\n', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', 'Content-Length: 5\r\n',
  'Transfer-Encoding: chunked\r\n', '5\r\nhello\r\n', '0\r\n\r\n', 'Content-Encoding: gzip\r\n', 'Authorization: Basic dTpw\r\n',
];

const pieceArb = (maxLen: number) => fc.tuple(
  fc.constantFrom<Dir>(0, 1),
  fc.oneof(
    { weight: 6, arbitrary: fc.uint8Array({ maxLength: maxLen }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }) },
  ),
) as fc.Arbitrary<Piece>;

const soupArb = fc.array(
  fc.tuple(fc.constantFrom<Dir>(0, 1), fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }).map((t) => enc(t.join('')))) as fc.Arbitrary<Piece>,
  { maxLength: 8 },
);

type Mutation = { piece: number; at: number; kind: number; value: number };
const mutationsArb = fc.array(
  fc.record({ piece: fc.nat(), at: fc.nat(), kind: fc.integer({ min: 0, max: 5 }), value: fc.nat(255) }),
  { minLength: 1, maxLength: 6 },
);
const INSERTS = ['\r\n', '\r\n\r\n', 'Content-Length: 99\r\n', 'Transfer-Encoding: chunked\r\n', '0\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n', ':', ' '];

function mutate(conv: Piece[], muts: Mutation[]): Piece[] {
  const out: Piece[] = conv.map(([d, b]) => [d, typeof b === 'number' ? b : Buffer.from(b)]);
  for (const m of muts) {
    const i = m.piece % out.length;
    const [dir, b] = out[i];
    if (typeof b === 'number') continue;
    const at = b.length ? m.at % b.length : 0;
    let nb: Uint8Array;
    switch (m.kind) {
      case 0: // flip a byte
        nb = Buffer.from(b);
        if (nb.length) nb[at] = m.value;
        break;
      case 1: // insert a token
        nb = Buffer.concat([b.subarray(0, at), enc(INSERTS[m.value % INSERTS.length]), b.subarray(at)]);
        break;
      case 2: // delete a stretch
        nb = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + (m.value % 16))]);
        break;
      case 3: // cut the piece short
        nb = b.subarray(0, at);
        break;
      case 4: // replace the piece by a gap
        out[i] = [dir, 1 + m.value * 7];
        continue;
      default: // swap the piece's direction
        out[i] = [dir === 0 ? 1 : 0, b];
        continue;
    }
    out[i] = [dir, nb];
  }
  return out;
}

describe('HTTP parser fuzz', () => {
  let corpus: Piece[][] = [];
  beforeAll(async () => {
    const dir = '/work/shared/pcaps/protocols/http/';
    const files = readdirSync(dir).filter((f) => /\.(pcap|pcapng)$/.test(f) && !f.includes('espn')).map((f) => dir + f);
    files.push('/work/shared/pcaps/reference/zeek/zeek_wikipedia.pcap');
    const real: Piece[][] = [];
    for (const f of files) real.push(...(await tcpConnections(f)));
    corpus = [...EXCHANGES, ...real];
    expect(real.length).toBeGreaterThan(20);
  });

  it('random bytes and gaps never throw', () => {
    fc.assert(
      fc.property(fc.array(pieceArb(600), { maxLength: 12 }), (pieces) => {
        checkInvariants(run(pieces));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('HTTP-shaped token soup never throws and does not depend on where the stream is cut', () => {
    fc.assert(
      fc.property(soupArb, fc.integer(), (pieces, cut) => {
        const whole = run(pieces);
        checkInvariants(whole);
        expect(signature(run(pieces, splitter(cut)))).toBe(signature(whole));
      }),
      { seed: SEED + 1, numRuns: 1500 },
    );
  });

  it('mutated real exchanges never throw', () => {
    fc.assert(
      fc.property(fc.nat(), mutationsArb, (which, muts) => {
        checkInvariants(run(mutate(corpus[which % corpus.length], muts)));
      }),
      { seed: SEED + 2, numRuns: 1500 },
    );
  });

  it('mutated real exchanges give the same result whole and cut at random points', () => {
    fc.assert(
      fc.property(fc.nat(), fc.option(mutationsArb, { nil: undefined }), fc.integer(), (which, muts, cut) => {
        const conv = corpus[which % corpus.length];
        const pieces = muts ? mutate(conv, muts) : conv;
        expect(signature(run(pieces, splitter(cut)))).toBe(signature(run(pieces)));
      }),
      { seed: SEED + 3, numRuns: 800 },
    );
  });

  it('every real connection fed one byte at a time gives the same rows as fed whole', () => {
    for (const conv of corpus) {
      const whole = run(conv);
      checkInvariants(whole);
      expect(signature(run(conv, (len) => Array.from({ length: len }, () => 1)))).toBe(signature(whole));
    }
  });
});

describe('header field names are matched on their bytes, ignoring case', () => {
  it('agrees with a lowercase lookup for the known names in any case and for any token name', () => {
    const TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const known = [...HEADER_KIND.keys()];
    const anyCase = fc
      .tuple(fc.constantFrom(...known), fc.array(fc.boolean(), { minLength: 17, maxLength: 17 }))
      .map(([n, up]) => [...n].map((ch, i) => (up[i] ? ch.toUpperCase() : ch)).join(''));
    const token = fc.string({ unit: fc.constantFrom(...TOKEN), minLength: 1, maxLength: 18 });
    fc.assert(
      fc.property(fc.oneof(anyCase, token), fc.nat(8), (name, pad) => {
        // the name somewhere inside a larger buffer, as in a header line
        const b = Buffer.from(`${'x'.repeat(pad)}${name}: v`, 'latin1');
        expect(headerKind(b, pad, pad + name.length)).toBe(HEADER_KIND.get(name.toLowerCase()) ?? 0);
      }),
      { seed: SEED, numRuns: 3000 },
    );
    // one byte off is another name
    expect(headerKind(Buffer.from('Hosu'), 0, 4)).toBe(0);
    expect(headerKind(Buffer.from('Content_Type'), 0, 12)).toBe(0);
  });
});
