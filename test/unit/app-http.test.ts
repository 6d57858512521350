/**
 * HTTP/1.x parser: hand-built exchanges for every feature (request/status lines, header fields,
 * Content-Length, chunked, until-close and HTTP/0.9 bodies, pipelining, 1xx, HEAD/204/304,
 * CONNECT and 101, Content-Encoding hashing, Basic auth, gaps, limits, malformed input,
 * onObject), the pure helpers, and real captures checked against tshark 4.0 and Zeek's http.log
 * baselines stored next to them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ENCODED_BODY_LIMIT, HEADER_LIMIT, MAX_PENDING_REQUESTS, RESYNC_LIMIT, codingList, createHttp, looksLikeHttpRequest,
  looksLikeHttpResponse, parseBasicAuth, parseChunkSize, parseContentLength, parseRequestLine, parseStatusLine,
  type HttpObject, type HttpOptions,
} from '../../engine/app/http.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { ntlmAuthenticateMessage, ntlmNegotiate, spnegoWrap } from '../helpers/ntlm.js';
import { tcpConnections as readTcpConnections } from '../helpers/capture.js';

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

/** Data (a string is latin1) or, as a number, a gap of that many bytes. */
type Piece = [Dir, string | Uint8Array | number];

interface Fed {
  sink: RecordingSink;
  done: boolean;
  http: Record<string, unknown>[];
  creds: Record<string, unknown>[];
  anomalies: string[];
  objects: HttpObject[];
}

/** Feeds pieces in order; piece i is "packet" i+1 at time 1000+i+1 s, (i+1)*1000 ns. */
function feed(pieces: Piece[], o: { objects?: boolean; maxDecodedBody?: number; end?: boolean } = {}): Fed {
  const sink = new RecordingSink();
  const objects: HttpObject[] = [];
  const opts: HttpOptions = {};
  if (o.objects) opts.onObject = (x) => objects.push(x);
  if (o.maxDecodedBody !== undefined) opts.maxDecodedBody = o.maxDecodedBody;
  const p = createHttp(sink, opts);
  pieces.forEach(([dir, data], i) => {
    sink.at(1001 + i, (i + 1) * 1000, i + 1);
    if (typeof data === 'number') p.gap(dir, data);
    else {
      const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
      p.data(dir, b, 0, b.length);
    }
  });
  if (o.end !== false) p.end();
  return {
    sink,
    done: p.done,
    http: sink.table('http'),
    creds: sink.table('credentials'),
    anomalies: sink.anomalies.map((a) => a.name),
    objects,
  };
}

const pick = (rows: Record<string, unknown>[], ...cols: string[]) => rows.map((r) => cols.map((c) => r[c]));

const GET = 'GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n\r\n';
const OK_HELLO = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';

describe('request and response basics', () => {
  it('GET + 200 with Content-Length: every column of the row, service once', () => {
    const f = feed([
      [0, 'GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: ua/1\r\nReferer: http://r/\r\nOrigin: http://o\r\n\r\n'],
      [1, OK_HELLO],
    ]);
    expect(f.http).toEqual([
      {
        ts: { sec: 1001, ns: 1000 }, trans_depth: 1, method: 'GET', host: 'example.com', uri: '/a?b=1',
        referrer: 'http://r/', version: '1.1', user_agent: 'ua/1', origin: 'http://o', request_body_len: 0,
        response_body_len: 5, status_code: 200, status_msg: 'OK', username: null, password_seen: false,
        request_content_type: null, response_content_type: 'text/plain', response_content_encoding: null,
        request_sha256: null, response_sha256: sha('hello'), request_packet: 1, response_packet: 2,
      },
    ]);
    expect(f.sink.services).toEqual(['http']);
    expect(f.anomalies).toEqual([]);
    expect(f.done).toBe(true); // after end()
  });

  it('honours start/end offsets into a larger buffer', () => {
    const sink = new RecordingSink();
    const p = createHttp(sink);
    const req = Buffer.from(`XXXX${GET}YYYY`, 'latin1');
    p.data(0, req, 4, req.length - 4);
    const resp = Buffer.from(`ZZ${OK_HELLO}ZZ`, 'latin1');
    p.data(1, resp, 2, resp.length - 2);
    p.end();
    expect(pick(sink.table('http'), 'uri', 'status_code', 'response_sha256')).toEqual([['/index.html', 200, sha('hello')]]);
  });

  it('the message time and packet are those of its first byte; a message can span packets', () => {
    const f = feed([
      [0, 'GET / HT'],
      [0, 'TP/1.1\r\nHost: h\r\n'],
      [0, '\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n'],
      [1, 'ab'],
      [1, 'c'],
    ]);
    expect(pick(f.http, 'ts', 'request_packet', 'response_packet', 'response_body_len')).toEqual([[{ sec: 1001, ns: 1000 }, 1, 4, 3]]);
  });

  it('LF-only line ends, case-insensitive names, obsolete folding, blank lines before a request', () => {
    const f = feed([
      [0, '\r\n\nPOST /f HTTP/1.0\nhOsT: h.example\nuser-agent: a\n  b\n\tc\nCONTENT-length: 3\ncontent-TYPE: x/y\n\nabc'],
      [1, 'HTTP/1.0 201 Created\nContent-Length: 2\n\nok'],
    ]);
    expect(pick(f.http, 'method', 'host', 'user_agent', 'request_body_len', 'request_content_type', 'request_sha256', 'status_code', 'version', 'response_body_len'))
      .toEqual([['POST', 'h.example', 'a b c', 3, 'x/y', sha('abc'), 201, '1.0', 2]]);
    expect(f.anomalies).toEqual([]);
  });

  it('a folded Transfer-Encoding still means chunked', () => {
    const f = feed([[0, 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n']]);
    expect(pick(f.http, 'trans_depth', 'uri', 'request_body_len')).toEqual([[1, '/', 3], [2, '/next', 0]]);
  });

  it('a status line without reason phrase, a target with spaces, "Name : value" and a bad header line', () => {
    const f = feed([
      [0, 'GET /a b HTTP/1.1\r\nHost : h\r\nno colon here\r\n\r\n'],
      [1, 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(pick(f.http, 'uri', 'host', 'status_code', 'status_msg')).toEqual([['/a b', 'h', 404, null]]);
    expect(f.anomalies).toEqual(['http_malformed_request']);
  });

  it('version is the response\'s when there is one (as Zeek), else the request\'s', () => {
    const f = feed([[0, GET], [1, 'HTTP/1.0 304 Not Modified\r\n\r\n'], [0, GET]]);
    expect(pick(f.http, 'version', 'status_code')).toEqual([['1.0', 304], ['1.1', null]]);
  });
});

describe('message bodies', () => {
  it('chunked bodies with extensions and trailers, in both directions', () => {
    const f = feed([
      [0, 'POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;name=val\r\nWiki\r\n5 ; x="y"\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\nA\r\n0123456789\r\n'],
      [1, '0\r\n\r\n'],
    ]);
    expect(pick(f.http, 'request_body_len', 'request_sha256', 'response_body_len', 'response_sha256'))
      .toEqual([[9, sha('Wikipedia'), 10, sha('0123456789')]]);
    expect(f.anomalies).toEqual([]);
  });

  it('Transfer-Encoding: chunked wins over Content-Length (RFC 9112; Zeek agrees on te_cl_desync)', () => {
    const f = feed([[0, 'POST / HTTP/1.1\r\nHost: target\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: target\r\n\r\n']]);
    expect(pick(f.http, 'trans_depth', 'method', 'uri')).toEqual([[1, 'POST', '/'], [2, 'GET', '/smuggled']]);
    expect(f.anomalies).toEqual(['http_malformed_request']);
  });

  it('a Transfer-Encoding whose last coding is not chunked: requests fall back to Content-Length, responses read to the close', () => {
    const f = feed([
      [0, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\nContent-Length: 2\r\n\r\nab'],
      [1, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw bytes'],
    ]);
    expect(pick(f.http, 'request_body_len', 'response_body_len', 'response_sha256')).toEqual([[2, 9, sha('raw bytes')]]);
    expect(f.anomalies).toEqual(['http_malformed_request']);
  });

  it('a response without length is read until the connection closes; a cut Content-Length body has no hash', () => {
    const f = feed([[0, GET], [1, 'HTTP/1.0 200 OK\r\n\r\nall of'], [1, ' this']]);
    expect(pick(f.http, 'response_body_len', 'response_sha256')).toEqual([[11, sha('all of this')]]);
    const g = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort']]);
    expect(pick(g.http, 'response_body_len', 'response_sha256', 'status_code')).toEqual([[5, null, 200]]);
  });

  it('HEAD, 204 and 304 responses have no body even with Content-Length', () => {
    const f = feed([
      [0, 'HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\nGET /m HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n'],
      [1, 'HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n'],
    ]);
    expect(pick(f.http, 'uri', 'status_code', 'response_body_len')).toEqual([['/h', 200, 0], ['/n', 204, 0], ['/m', 304, 0]]);
    expect(f.anomalies).toEqual([]);
  });

  it('an empty body has NULL hashes; Content-Length: 0 ends the message', () => {
    const f = feed([[0, 'POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n'], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']]);
    expect(pick(f.http, 'request_body_len', 'request_sha256', 'response_sha256')).toEqual([[0, null, null]]);
  });

  it('a bad Content-Length: in a request the parser stops, in a response the body runs to the close', () => {
    const f = feed([[0, 'POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\nhello'], [1, OK_HELLO]]);
    expect(f.done).toBe(true);
    expect(pick(f.http, 'status_code')).toEqual([[null]]);
    expect(f.anomalies).toEqual(['http_malformed_request']);
    const g = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc']]);
    expect(pick(g.http, 'response_body_len')).toEqual([[3]]);
    expect(g.anomalies).toEqual(['http_malformed_response']);
    const h = feed([[0, 'POST / HTTP/1.1\r\nContent-Length: 4, 4\r\n\r\nabcd'], [1, OK_HELLO]]);
    expect(pick(h.http, 'request_body_len', 'status_code')).toEqual([[4, 200]]);
  });

  it('a bad chunk size ends the body (Zeek: HTTP_bad_chunk_size, 2^64 included) and parsing goes on', () => {
    const f = feed([[0, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n10000000000000000\r\n\r\nGET /after HTTP/1.1\r\n\r\n']]);
    expect(pick(f.http, 'uri', 'request_body_len', 'request_sha256')).toEqual([['/', 2, null], ['/after', 0, null]]);
    expect(f.anomalies).toEqual(['http_bad_chunk']);
    const g = feed([[0, 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n']]);
    expect(pick(g.http, 'request_body_len', 'request_sha256')).toEqual([[3, sha('abc')]]);
    expect(g.anomalies).toEqual(['http_bad_chunk']); // data between the chunk and its line end
  });
});

describe('pairing', () => {
  it('pipelined requests pair FIFO with their responses; trans_depth counts from 1', () => {
    const f = feed([
      [0, 'GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nPOST /3 HTTP/1.1\r\nContent-Length: 2\r\n\r\nxy'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nbb'],
      [1, 'HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nccc'],
    ]);
    expect(pick(f.http, 'trans_depth', 'uri', 'status_code', 'response_body_len', 'request_packet', 'response_packet'))
      .toEqual([[1, '/1', 200, 1, 1, 2], [2, '/2', 404, 2, 1, 2], [3, '/3', 500, 3, 1, 3]]);
  });

  it('100 Continue is skipped; the final response pairs with the same request', () => {
    const f = feed([
      [0, 'POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n'],
      [1, 'HTTP/1.1 100 Continue\r\n\r\n'],
      [0, 'data'],
      [1, 'HTTP/1.1 102 Processing\r\nX: y\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ]);
    expect(pick(f.http, 'trans_depth', 'status_code', 'request_body_len', 'response_body_len', 'response_packet')).toEqual([[1, 200, 4, 2, 4]]);
  });

  it('a response complete before its request body waits for the request', () => {
    const f = feed([
      [0, 'POST /big HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc'],
      [1, 'HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n'],
      [0, 'def'],
    ], { end: false });
    expect(pick(f.http, 'status_code', 'request_body_len', 'request_sha256')).toEqual([[413, 6, sha('abcdef')]]);
  });

  it('a request without response is written at end() with status NULL', () => {
    const f = feed([[0, GET], [0, 'GET /two HTTP/1.1\r\n\r\n'], [1, OK_HELLO]]);
    expect(pick(f.http, 'uri', 'status_code', 'response_packet')).toEqual([['/index.html', 200, 3], ['/two', null, null]]);
  });

  it('a response without request: method NULL and http_unmatched_response', () => {
    const f = feed([[1, OK_HELLO], [0, GET], [1, 'HTTP/1.1 304 Not Modified\r\n\r\n']]);
    expect(pick(f.http, 'trans_depth', 'method', 'status_code', 'version', 'ts', 'request_packet', 'response_packet'))
      .toEqual([[1, null, 200, '1.1', { sec: 1001, ns: 1000 }, null, 1], [2, 'GET', 304, '1.1', { sec: 1002, ns: 2000 }, 2, 3]]);
    expect(f.anomalies).toEqual(['http_unmatched_response']);
  });

  it(`at most ${MAX_PENDING_REQUESTS} requests wait for a response; older ones are written unanswered`, () => {
    const many = Array.from({ length: MAX_PENDING_REQUESTS + 1 }, (_, i) => `GET /${i + 1} HTTP/1.1\r\n\r\n`).join('');
    const f = feed([[0, many]], { end: false });
    expect(pick(f.http, 'uri', 'status_code')).toEqual([['/1', null]]);
  });

  it('CONNECT + 2xx makes the rest a tunnel (done); a refused CONNECT lets the client go on', () => {
    const f = feed([
      [0, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01 optimistic tunnel bytes'],
      [1, 'HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 tls'],
    ], { end: false });
    expect(f.done).toBe(true);
    expect(pick(f.http, 'method', 'uri', 'status_code', 'response_body_len')).toEqual([['CONNECT', 'example.com:443', 200, 0]]);
    expect(f.anomalies).toEqual([]);
    const g = feed([
      [0, 'CONNECT h:443 HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 4\r\n\r\ndeny'],
      [0, 'CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic eDp5\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\n\r\n'],
    ], { end: false });
    expect(pick(g.http, 'trans_depth', 'status_code')).toEqual([[1, 407], [2, 200]]);
    expect(g.done).toBe(true);
  });

  it('101 Switching Protocols ends HTTP parsing', () => {
    const f = feed([
      [0, 'GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
      [1, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello'],
      [0, '\x81\x85junk'],
    ], { end: false });
    expect(f.done).toBe(true);
    expect(pick(f.http, 'status_code', 'status_msg')).toEqual([[101, 'Switching Protocols']]);
    expect(f.anomalies).toEqual([]);
  });

  it('HTTP/0.9: "GET /path" and a raw answer up to the close; a later versionless line is malformed', () => {
    const f = feed([[0, 'GET /zeek.html\r\n'], [1, '<html>hi</html>\n']]);
    expect(pick(f.http, 'method', 'uri', 'version', 'status_code', 'response_body_len', 'response_sha256', 'response_packet'))
      .toEqual([['GET', '/zeek.html', '0.9', null, 16, sha('<html>hi</html>\n'), 2]]);
    const g = feed([[0, 'GET /x\r\n'], [1, 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok']]);
    expect(pick(g.http, 'version', 'status_code', 'response_body_len')).toEqual([['1.0', 200, 2]]);
    // Whether the answer is raw is decided on "HTTP/", however the first bytes arrive.
    const raw = feed([[0, 'GET /x\r\n'], [1, 'H'], [1, 'TT'], [1, 'P is not a status line\n']]);
    expect(pick(raw.http, 'status_code', 'response_body_len')).toEqual([[null, 26]]);
    const st = feed([[0, 'GET /x\r\n'], [1, 'HTT'], [1, 'P/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']]);
    expect(pick(st.http, 'status_code', 'version')).toEqual([[200, '1.1']]);
    const h = feed([[0, `${GET}GET /x\r\n`]]);
    expect(h.anomalies).toEqual(['http_malformed_request']);
    expect(h.done).toBe(true);
    const i = feed([[0, 'POST /zeek.html\r\n'], [1, 'bad method\n']]);
    expect(pick(i.http, 'method', 'version', 'response_body_len')).toEqual([['POST', '0.9', 11]]);
    expect(i.anomalies).toEqual(['http_malformed_request']); // as Zeek's invalid_http_09_request_method
  });

  it('an HTTP/2 prior-knowledge preface stops the parser without rows', () => {
    const f = feed([[0, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00']], { end: false });
    expect(f.done).toBe(true);
    expect(f.http).toEqual([]);
    expect(f.anomalies).toEqual([]);
  });
});

describe('Content-Encoding and hashes', () => {
  const body = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(50));
  const cases: [string, Buffer][] = [
    ['gzip', gzipSync(body)],
    ['x-gzip', gzipSync(body)],
    ['deflate', deflateSync(body)],
    ['deflate', deflateRawSync(body)], // raw deflate sent as "deflate" by some servers
    ['br', brotliCompressSync(body)],
    ['gzip, br', brotliCompressSync(gzipSync(body))],
    ['identity', body],
  ];
  for (const [enc, wire] of cases) {
    it(`${enc} (${wire.length} bytes on the wire): length before decoding, hash after`, () => {
      const half = wire.length >> 1;
      const f = feed([
        [0, GET],
        [1, `HTTP/1.1 200 OK\r\nContent-Encoding: ${enc}\r\nContent-Length: ${wire.length}\r\n\r\n`],
        [1, wire.subarray(0, half)],
        [1, wire.subarray(half)],
      ]);
      expect(pick(f.http, 'response_body_len', 'response_content_encoding', 'response_sha256')).toEqual([[wire.length, enc, sha(body)]]);
      expect(f.anomalies).toEqual([]);
    });
  }

  it('a gzip request body is hashed decoded too', () => {
    const z = gzipSync('{"a":1}');
    const f = feed([[0, `POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: ${z.length}\r\n\r\n`], [0, z]]);
    expect(pick(f.http, 'request_body_len', 'request_sha256')).toEqual([[z.length, sha('{"a":1}')]]);
  });

  it('corrupt or unsupported encodings: NULL hash and http_body_decode_error', () => {
    const z = gzipSync(body);
    z[20] ^= 0xff;
    const f = feed([[0, GET], [1, `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${z.length}\r\n\r\n`], [1, z]]);
    expect(pick(f.http, 'response_body_len', 'response_sha256')).toEqual([[z.length, null]]);
    expect(f.anomalies).toEqual(['http_body_decode_error']);
    const g = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Encoding: zstd\r\nContent-Length: 3\r\n\r\nabc']]);
    expect(pick(g.http, 'response_body_len', 'response_sha256')).toEqual([[3, null]]);
    expect(g.anomalies).toEqual(['http_body_decode_error']);
  });

  it('a body that decodes to nothing has a NULL hash', () => {
    const z = gzipSync(Buffer.alloc(0));
    const f = feed([[0, GET], [1, `HTTP/1.1 302 Found\r\nContent-Encoding: gzip\r\nContent-Length: ${z.length}\r\n\r\n`], [1, z]], { objects: true });
    expect(pick(f.http, 'response_body_len', 'response_sha256')).toEqual([[z.length, null]]);
    expect(f.objects).toEqual([]);
  });

  it(`an encoded body over ${ENCODED_BODY_LIMIT} bytes is not buffered: NULL hash and http_body_decode_error`, () => {
    const n = ENCODED_BODY_LIMIT + 10;
    const f = feed([[0, GET], [1, `HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${n}\r\n\r\n`], [1, Buffer.alloc(n)]]);
    expect(pick(f.http, 'response_body_len', 'response_sha256')).toEqual([[n, null]]);
    expect(f.anomalies).toEqual(['http_body_decode_error']);
  });
});

describe('Basic authentication', () => {
  const auth = (user: string) => `GET /p HTTP/1.1\r\nAuthorization: Basic ${Buffer.from(user).toString('base64')}\r\n\r\n`;
  it('username, password_seen and one credentials row; success from the status', () => {
    const f = feed([[0, auth('alice:s3cr:et')], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n']]);
    expect(pick(f.http, 'username', 'password_seen')).toEqual([['alice', true]]);
    expect(f.creds).toEqual([{ ts: { sec: 1001, ns: 1000 }, service: 'http', username: 'alice', password: 's3cr:et', success: true, packet_no: 1 }]);
    const statuses: [string, boolean | null][] = [['302 Found', true], ['401 Unauthorized', false], ['403 Forbidden', false], ['404 Not Found', null]];
    for (const [st, success] of statuses) {
      const g = feed([[0, auth('bob:pw')], [1, `HTTP/1.1 ${st}\r\nContent-Length: 0\r\n\r\n`]]);
      expect(pick(g.creds, 'success')).toEqual([[success]]);
    }
    const h = feed([[0, auth('carol:pw')]]);
    expect(pick(h.creds, 'username', 'password', 'success')).toEqual([['carol', 'pw', null]]);
  });

  it('no colon: a user without password; other schemes are ignored', () => {
    const f = feed([[0, auth('token-only')], [0, 'GET / HTTP/1.1\r\nAuthorization: Bearer abc.def\r\n\r\n']]);
    expect(pick(f.http, 'username', 'password_seen')).toEqual([['token-only', false], [null, false]]);
    expect(pick(f.creds, 'username', 'password')).toEqual([['token-only', null]]);
  });
});

describe('NTLM authentication', () => {
  it('the AUTHENTICATE message names the user (DOMAIN\\user, no password); the 401 of the NEGOTIATE round is no verdict on it', () => {
    const t1 = ntlmNegotiate().toString('base64');
    const t3 = ntlmAuthenticateMessage({ domain: 'CORP', user: 'jdoe', workstation: 'WS-17' }).toString('base64');
    const f = feed([
      [0, `GET /intranet HTTP/1.1\r\nAuthorization: NTLM ${t1}\r\n\r\n`],
      [1, 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM TlRMTVNTUAACAAAA\r\nContent-Length: 0\r\n\r\n'],
      [0, `GET /intranet HTTP/1.1\r\nAuthorization: NTLM ${t3}\r\n\r\n`],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ]);
    expect(pick(f.http, 'username', 'password_seen', 'status_code')).toEqual([[null, false, 401], ['CORP\\jdoe', false, 200]]);
    expect(pick(f.creds, 'username', 'password', 'success', 'packet_no')).toEqual([['CORP\\jdoe', null, true, 3]]);
    const wrapped = spnegoWrap(ntlmAuthenticateMessage({ domain: 'CORP', user: 'kim', workstation: 'W' })).toString('base64');
    const g = feed([[0, `GET / HTTP/1.1\r\nAuthorization: Negotiate ${wrapped}\r\n\r\n`], [1, 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n']]);
    expect(pick(g.creds, 'username', 'success')).toEqual([['CORP\\kim', false]]);
  });
});

describe('limits, gaps and malformed input', () => {
  it(`a header block over ${HEADER_LIMIT} bytes: http_header_limit, done, the request still written`, () => {
    const f = feed([[0, `GET /big HTTP/1.1\r\nX-Long: ${'a'.repeat(HEADER_LIMIT)}\r\n\r\n`]], { end: false });
    expect(f.done).toBe(true);
    expect(f.anomalies).toEqual(['http_header_limit']);
    expect(pick(f.http, 'uri', 'status_code')).toEqual([['/big', null]]);
    // Many short lines count too, and so do lines split over packets.
    const lines = Array.from({ length: 3000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}\r\n`).join('');
    const g = feed([[0, 'GET / HTTP/1.1\r\n'], ...[...lines].reduce<Piece[]>((a, _, i) => (i % 1000 === 0 ? [...a, [0, lines.slice(i, i + 1000)] as Piece] : a), [])], { end: false });
    expect(g.anomalies).toEqual(['http_header_limit']);
    const ok = feed([[0, `GET / HTTP/1.1\r\nX: ${'a'.repeat(HEADER_LIMIT - 100)}\r\n\r\n`]]);
    expect(ok.anomalies).toEqual([]);
  });

  it('a bad first request line: anomaly, then the next request line is found (stream picked up mid-message)', () => {
    const f = feed([
      [0, 'ding: gzip\r\nAccept: */*\r\n\r\n'],
      [1, 'tail of an earlier body\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'],
      [0, GET],
      [1, OK_HELLO],
    ]);
    expect(pick(f.http, 'method', 'status_code', 'uri')).toEqual([[null, 200, null], ['GET', 200, '/index.html']]);
    expect(f.anomalies).toEqual(['http_malformed_request', 'http_malformed_response', 'http_unmatched_response']);
  });

  it('a bad request line after a good one stops the parser; so does a bad status line', () => {
    const f = feed([[0, `${GET}\x16\x03\x01\x02\x00 junk\r\n`], [1, OK_HELLO]]);
    expect(f.done).toBe(true);
    expect(f.anomalies).toEqual(['http_malformed_request']);
    expect(pick(f.http, 'status_code')).toEqual([[null]]);
    const g = feed([[0, GET + GET], [1, `${OK_HELLO}garbage\r\n`]]);
    expect(g.anomalies).toEqual(['http_malformed_response']);
    expect(pick(g.http, 'status_code')).toEqual([[200], [null]]);
  });

  it(`non-HTTP bytes: the parser gives up after looking for a start line for a while`, () => {
    const junk = Buffer.alloc(200_000, 0x41);
    for (let i = 100; i < junk.length; i += 100) junk[i] = 0x0a;
    const f = feed([[0, junk]], { end: false });
    expect(f.done).toBe(true);
    expect(f.http).toEqual([]);
    expect(f.anomalies).toEqual(['http_malformed_request']);
  });

  it('the resynchronisation budget is checked at line ends, so a start line across it still counts', () => {
    const junk = `${'j'.repeat(99)}\n`.repeat(Math.floor(RESYNC_LIMIT / 100) - 1);
    const line = 'x'.repeat(RESYNC_LIMIT - junk.length - 5);
    const req = `GET /late HTTP/1.1\r\n\r\n`;
    const whole = feed([[0, `${line}\n${junk}${req}`]]);
    const bytewise = feed([[0, `${line}\n${junk}`], ...[...req].map((c): Piece => [0, c])]);
    expect(pick(whole.http, 'uri')).toEqual([['/late']]);
    expect(pick(bytewise.http, 'uri')).toEqual([['/late']]);
    const over = feed([[0, `${junk}${junk}${req}`]]);
    expect(over.http).toEqual([]);
  });

  it('a gap before the first response while requests wait stops the parser (pairing would be lost)', () => {
    const f = feed([[0, GET], [1, 200], [1, OK_HELLO]], { end: false });
    expect(f.done).toBe(true);
    expect(pick(f.http, 'status_code')).toEqual([[null]]);
  });

  it('a gap inside a body: length counts it, hash NULL, parsing goes on', () => {
    const f = feed([
      [0, 'GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n'],
      [1, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'],
      [1, 4],
      [1, 'xyzHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab'],
      [1, 2],
      [1, 'c\r\n0\r\n\r\n'],
    ]);
    expect(pick(f.http, 'uri', 'response_body_len', 'response_sha256')).toEqual([['/1', 10, null], ['/2', 5, null]]);
    expect(f.done).toBe(true);
  });

  it('a gap in an until-close body; a gap running past the body stops the parser', () => {
    const f = feed([[0, GET], [1, 'HTTP/1.0 200 OK\r\n\r\nab'], [1, 100], [1, 'cd']]);
    expect(pick(f.http, 'response_body_len', 'response_sha256')).toEqual([[104, null]]);
    const g = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\na'], [1, 50]], { end: false });
    expect(g.done).toBe(true);
    expect(pick(g.http, 'response_body_len', 'response_sha256')).toEqual([[3, null]]); // only the body's share of the gap
  });

  it('a gap in headers or between messages stops the parser; at the very start it resynchronises', () => {
    const f = feed([[0, 'GET / HTTP/1.1\r\nHost: a\r\n'], [0, 30]], { end: false });
    expect(f.done).toBe(true);
    expect(pick(f.http, 'host', 'status_code')).toEqual([['a', null]]);
    const g = feed([[0, GET], [0, 30]], { end: false });
    expect(g.done).toBe(true);
    const h = feed([[0, 500], [0, 'rest of a lost request\r\n\r\n'], [0, GET], [1, OK_HELLO]]);
    expect(pick(h.http, 'uri', 'status_code')).toEqual([['/index.html', 200]]);
    expect(h.anomalies).toEqual([]);
  });

  it('end() is idempotent and data after done is ignored', () => {
    const sink = new RecordingSink();
    const p = createHttp(sink);
    const b = Buffer.from(GET);
    p.data(0, b, 0, b.length);
    p.end();
    p.end();
    p.data(0, b, 0, b.length);
    p.gap(1, 10);
    expect(sink.table('http').length).toBe(1);
  });
});

describe('onObject', () => {
  it('gives de-chunked, decoded bodies with their request context', () => {
    const z = gzipSync('decoded text');
    const f = feed([
      [0, 'POST /form HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Length: 3\r\n\r\nxyz'],
      [1, `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n${z.length.toString(16)}\r\n`],
      [1, z],
      [1, '\r\n0\r\n\r\n'],
    ], { objects: true });
    expect(f.objects).toEqual([
      { transDepth: 1, dir: 0, contentType: 'a/b', contentEncoding: null, uri: '/form', host: 'h', body: Buffer.from('xyz'), sha256: sha('xyz'), complete: true },
      { transDepth: 1, dir: 1, contentType: 'text/plain', contentEncoding: 'gzip', uri: '/form', host: 'h', body: Buffer.from('decoded text'), sha256: sha('decoded text'), complete: true },
    ]);
  });

  it('cuts bodies at maxDecodedBody, zero-fills gaps, and marks both incomplete', () => {
    const f = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789']], { objects: true, maxDecodedBody: 4 });
    expect(f.objects.map((o) => [Buffer.from(o.body).toString(), o.complete, o.sha256])).toEqual([['0123', false, sha('0123')]]);
    expect(pick(f.http, 'response_sha256')).toEqual([[sha('0123456789')]]); // the row still hashes everything
    const g = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'], [1, 2], [1, 'ef']], { objects: true });
    expect(g.objects.map((o) => [Buffer.from(o.body).toString('latin1'), o.complete])).toEqual([['ab\0\0ef', false]]);
  });

  it('an undecodable body is given raw and incomplete', () => {
    const f = feed([[0, GET], [1, 'HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope']], { objects: true });
    expect(f.objects.map((o) => [Buffer.from(o.body).toString(), o.complete])).toEqual([['nope', false]]);
  });
});

describe('pure helpers', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  const rl = (s: string) => parseRequestLine(b(s), 0, s.length);
  const st = (s: string) => parseStatusLine(b(s), 0, s.length);

  it('parseRequestLine', () => {
    expect(rl('GET / HTTP/1.1')).toEqual({ method: 'GET', uri: '/', version: '1.1' });
    expect(rl('OPTIONS  *\tHTTP/1.0  ')).toEqual({ method: 'OPTIONS', uri: '*', version: '1.0' });
    expect(rl('CONNECT host:443 HTTP/1.1')?.uri).toBe('host:443');
    expect(rl('GET /zeek.html')).toEqual({ method: 'GET', uri: '/zeek.html', version: '0.9' });
    for (const bad of ['GET ', 'GET HTTP/1.1', 'T /zeek.html', 'FOO bar', '/path HTTP/1.1', 'GET /a\x01b HTTP/1.1', 'G(ET / HTTP/1.1', '']) {
      expect(rl(bad)).toBeNull();
    }
  });

  it('parseStatusLine', () => {
    expect(st('HTTP/1.1 200 OK')).toEqual({ version: '1.1', code: 200, reason: 'OK' });
    expect(st('HTTP/1.0 404  Not  Found ')).toEqual({ version: '1.0', code: 404, reason: 'Not  Found' });
    expect(st('HTTP/1.1 204')).toEqual({ version: '1.1', code: 204, reason: null });
    for (const bad of ['HTTP/1.1 2000 x', 'HTTP/1.1 20', 'HTTP/1.1200 OK', 'HTTP/1.1 099 x', 'http/1.1 200 OK', 'HTTP/x.1 200 OK', 'missing uri']) {
      expect(st(bad)).toBeNull();
    }
  });

  it('parseChunkSize, parseContentLength, codingList, parseBasicAuth', () => {
    const cs = (s: string) => parseChunkSize(b(s), 0, s.length);
    expect([cs('0'), cs('1a'), cs('FF ;ext=1'), cs('fffffffffffff'), cs('10000000000000000'), cs(''), cs('x'), cs('5 x'), cs('-1')])
      .toEqual([0, 26, 255, 2 ** 52 - 1, -1, -1, -1, -1, -1]);
    expect([parseContentLength('12'), parseContentLength(' 7 , 7'), parseContentLength('7, 8'), parseContentLength('-1'), parseContentLength(''), parseContentLength('1e3')])
      .toEqual([12, 7, -1, -1, -1, -1]);
    expect(codingList(',\tchunked,')).toEqual(['chunked']);
    expect(codingList('GZIP;q=1, Br')).toEqual(['gzip', 'br']);
    expect(parseBasicAuth('Basic dXNlcjpwYXNz')).toEqual({ username: 'user', password: 'pass' });
    expect(parseBasicAuth('basic   dXNlcg==')).toEqual({ username: 'user', password: null });
    expect(parseBasicAuth('Digest username="x"')).toBeNull();
  });

  it('looksLikeHttpRequest / looksLikeHttpResponse', () => {
    const req = (s: string) => looksLikeHttpRequest(b(`..${s}..`), 2, s.length + 2);
    const resp = (s: string) => looksLikeHttpResponse(b(s), 0, s.length);
    for (const yes of ['GET / HTTP/1.1\r\nHost: x', 'POST /a', 'CONNECT example.com:443 HTTP/1.1\r\n', 'OPTIONS * HTTP/1.1\r\n', 'M-SEARCH * HTTP/1.1\r\n', 'GET /zeek.html\r\n', 'PROPFIND /d']) {
      expect(req(yes), yes).toBe(true);
    }
    for (const no of ['GE', 'GET', 'GET  /', 'get / HTTP/1.1', 'FOO / HTTP/1.1', 'OPTIONS rtsp://h/ RTSP/1.0\r\n', 'INVITE sip:a@b SIP/2.0\r\n', '\x16\x03\x01', 'SSH-2.0-x']) {
      expect(req(no), no).toBe(false);
    }
    expect([resp('HTTP/1.1 200 OK'), resp('HTTP/1.0 404'), resp('HTTP/2 200'), resp('HTTP/1.1'), resp('RTSP/1.0 200 OK'), resp('ICY 200 OK')])
      .toEqual([true, true, false, false, false, false]);
  });
});

// ---- real captures ----

const HTTP_DIR = '/work/shared/pcaps/protocols/http/';

interface Seg { dir: Dir; bytes: Buffer; sec: number; ns: number; packetNo: number }

/** TCP payloads per connection in capture order (zero-length and exact duplicate segments skipped). */
async function tcpConnections(path: string): Promise<{ orig: string; segs: Seg[] }[]> {
  return (await readTcpConnections(path)).map((c) => ({ orig: c.orig, segs: c.segments.map(({ dir, bytes, sec, ns, packetNo }) => ({ dir, bytes, sec, ns, packetNo })) }));
}

interface CaptureResult { orig: string; sink: RecordingSink; objects: HttpObject[] }

async function runCapture(path: string): Promise<CaptureResult[]> {
  const out: CaptureResult[] = [];
  for (const c of await tcpConnections(path)) {
    const sink = new RecordingSink();
    const objects: HttpObject[] = [];
    const p = createHttp(sink, { onObject: (o) => objects.push(o) });
    for (const s of c.segs) {
      sink.at(s.sec, s.ns, s.packetNo);
      p.data(s.dir, s.bytes, 0, s.bytes.length);
    }
    p.end();
    out.push({ orig: c.orig, sink, objects });
  }
  return out;
}

async function httpRows(path: string): Promise<Record<string, unknown>[]> {
  return (await runCapture(path)).flatMap((c) => c.sink.table('http'));
}

describe('real captures (expected values from tshark 4.0 and the Zeek baselines next to the files)', () => {
  const COLS = ['trans_depth', 'method', 'host', 'uri', 'user_agent', 'status_code', 'request_body_len', 'response_body_len', 'request_packet', 'response_packet'];

  it('zeek_http_get.pcap', async () => {
    // tshark: frame 4 GET bro.org /download/CHANGES.bro-aux.txt "Wget/1.14 (darwin12.2.0)", frame 9 (from 6) 200;
    // Zeek reassembly-known-ports http.log: 0 / 4705 bytes, 200 OK, 1.1. SHA-256: tshark --export-objects http.
    const rows = await httpRows(`${HTTP_DIR}zeek_http_get.pcap`);
    expect(pick(rows, ...COLS, 'status_msg', 'version', 'response_content_type', 'response_sha256')).toEqual([
      [1, 'GET', 'bro.org', '/download/CHANGES.bro-aux.txt', 'Wget/1.14 (darwin12.2.0)', 200, 0, 4705, 4, 6, 'OK', '1.1',
        'text/plain; charset=UTF-8', '4e7c7ef0984119447e743e3ec77e1de52713e345cde03fe7df753a35849bed18'],
    ]);
  });

  it('arkime_http-simple-get.pcap', async () => {
    // tshark: frame 4 GET xxxxxxxxxxxxx.xxx.com / curl/7.24.0 ...; frame 11 (from 6) 403, Content-Length 5039.
    const rows = await httpRows(`${HTTP_DIR}arkime_http-simple-get.pcap`);
    expect(pick(rows, ...COLS, 'status_msg')).toEqual([
      [1, 'GET', 'xxxxxxxxxxxxx.xxx.com', '/', 'curl/7.24.0 (x86_64-apple-darwin12.0) libcurl/7.24.0 OpenSSL/0.9.8y zlib/1.2.5', 403, 0, 5039, 4, 6, 'Forbidden'],
    ]);
  });

  it('arkime_http-basicauth.pcap: username, credentials, 304 counts as success', async () => {
    // tshark: frame 4 GET 10.000.000.001:1234 ..., frame 6 304; tshark -e http.authbasic: "userrrrr:passworddddd".
    const res = await runCapture(`${HTTP_DIR}arkime_http-basicauth.pcap`);
    const rows = res.flatMap((c) => c.sink.table('http'));
    expect(pick(rows, 'method', 'host', 'uri', 'status_code', 'username', 'password_seen', 'response_body_len')).toEqual([
      ['GET', '10.000.000.001:1234', '/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx/xxx/xxxxxxxxxxxxxxxxxxxx.js', 304, 'userrrrr', true, 0],
    ]);
    expect(pick(res.flatMap((c) => c.sink.table('credentials')), 'service', 'username', 'password', 'success', 'packet_no'))
      .toEqual([['http', 'userrrrr', 'passworddddd', true, 4]]);
  });

  it('arkime_http-content-gzip.pcap: response_sha256 is the SHA-256 of the gunzipped body', async () => {
    // tshark: frame 6 200, Content-Length 190, Content-Encoding gzip (frame 7 is a retransmission).
    // tshark --export-objects http writes crossdomain.xml (272 bytes), SHA-256 67f737ad...; recomputed
    // here from the raw capture bytes with zlib.
    const conns = await tcpConnections(`${HTTP_DIR}arkime_http-content-gzip.pcap`);
    const resp = Buffer.concat(conns[0].segs.filter((s) => s.dir === 1).map((s) => s.bytes));
    const bodyAt = resp.indexOf('\r\n\r\n') + 4;
    const plain = gunzipSync(resp.subarray(bodyAt));
    expect(plain.length).toBe(272);
    const rows = await httpRows(`${HTTP_DIR}arkime_http-content-gzip.pcap`);
    expect(pick(rows, 'uri', 'status_code', 'response_body_len', 'response_content_encoding', 'response_content_type', 'response_sha256')).toEqual([
      ['/crossdomain.xml', 200, 190, 'gzip', 'application/xml', sha(plain)],
    ]);
    expect(rows[0].response_sha256).toBe('67f737adf804542ac15aedee7014ee7aee8f9ae2bd345fb5fa56a86f008a2b1e');
  });

  it('arkime_http-no-length.pcap: the response body runs to the close', async () => {
    // tshark: frame 4 GET xxxxxxx.xxxxxx.xx /js/xxxxxx.js, frame 7 200 without Content-Length;
    // tshark --export-objects http: 165 bytes.
    const rows = await httpRows(`${HTTP_DIR}arkime_http-no-length.pcap`);
    expect(pick(rows, 'host', 'uri', 'status_code', 'response_body_len', 'response_sha256')).toEqual([
      ['xxxxxxx.xxxxxx.xx', '/js/xxxxxx.js', 200, 165, 'be86ba67700e1e23003ee9899119995d2babebbf6d753aafdd4a63017e6cb7b7'],
    ]);
  });

  it('sv_http-chunked.pcap: "Transfer-Encoding: ,<tab>chunked," is chunked; the HEAD has no response', async () => {
    // tshark: frame 4 HEAD localhost /resources/fonts/SourceSansPro-Regular.ttf, no response in the capture.
    const res = await runCapture(`${HTTP_DIR}sv_http-chunked.pcap`);
    const rows = res.flatMap((c) => c.sink.table('http'));
    expect(pick(rows, 'method', 'host', 'uri', 'status_code', 'request_body_len', 'response_packet')).toEqual([
      ['HEAD', 'localhost', '/resources/fonts/SourceSansPro-Regular.ttf', null, 0, null],
    ]);
    expect(res[0].sink.anomalies.map((a) => a.name)).toEqual(['http_malformed_request']); // Content-Length and chunked
  });

  it('zeek_http_100-continue.pcap', async () => {
    // Zeek 100-continue http.log: POST www.osu.edu /, 2001 / 60731 bytes, 200 OK (info 100 Continue).
    // tshark: request reassembled from frames 4,8,10; 100 in frame 6; the 200 from frame 12 on.
    // SHA-256 of both bodies: tshark --export-objects http.
    const rows = await httpRows(`${HTTP_DIR}zeek_http_100-continue.pcap`);
    expect(pick(rows, ...COLS, 'status_msg', 'request_content_type', 'request_sha256', 'response_sha256')).toEqual([
      [1, 'POST', 'www.osu.edu', '/', 'curl/7.17.1 (i386-apple-darwin8.11.1) libcurl/7.17.1 zlib/1.2.3', 200, 2001, 60731, 4, 12, 'OK',
        'application/x-www-form-urlencoded', '4cd5e6ce1f3c8b5529d20966343b518bb7ba0f098f16c50ecc02834d2c5da44f',
        '65faf1719a4e8676e1588f1e18115f53b4bb3bfbdc2954104414afc36cf36881'],
    ]);
  });

  it('zeek_http-te_obs_fold.pcap, zeek_http-te_cl_desync.pcap, zeek_http-chunk_2pow64_overflow.pcap: the smuggled request is seen', async () => {
    // Zeek obsolete-line-fold / te-cl-desync / chunk-2pow64-overflow http.log: POST target / (depth 1) and
    // GET target /smuggled-... (depth 2). tshark shows only the POST (it does not unfold the header).
    const expectRows = (uri: string) => [[1, 'POST', 'target', '/'], [2, 'GET', 'target', uri]];
    expect(pick(await httpRows(`${HTTP_DIR}zeek_http-te_obs_fold.pcap`), 'trans_depth', 'method', 'host', 'uri')).toEqual(expectRows('/smuggled-obsfold'));
    expect(pick(await httpRows(`${HTTP_DIR}zeek_http-te_cl_desync.pcap`), 'trans_depth', 'method', 'host', 'uri')).toEqual(expectRows('/smuggled-te-cl'));
    const ov = await runCapture(`${HTTP_DIR}zeek_http-chunk_2pow64_overflow.pcap`);
    expect(pick(ov.flatMap((c) => c.sink.table('http')), 'trans_depth', 'method', 'host', 'uri')).toEqual(expectRows('/smuggled-chunk-2pow64'));
    expect(ov[0].sink.anomalies).toEqual([{ name: 'http_bad_chunk', detail: 'bad chunk size: 10000000000000000' }]); // Zeek: HTTP_bad_chunk_size
  });

  it('zeek_http_http_09.pcap', async () => {
    // Zeek http-09 http.log: GET /zeek.html 0.9 -> 51 bytes; POST /zeek.html 0.9 -> 11 bytes (weird
    // invalid_http_09_request_method); the other three connections are bad_HTTP_request and not logged.
    // Differences: status_code NULL here (Zeek 0), and Zeek's extra empty depth-2 rows are not written.
    const res = await runCapture(`${HTTP_DIR}zeek_http_http_09.pcap`);
    expect(pick(res.flatMap((c) => c.sink.table('http')), 'trans_depth', 'method', 'uri', 'version', 'status_code', 'request_body_len', 'response_body_len')).toEqual([
      [1, 'GET', '/zeek.html', '0.9', null, 0, 51],
      [1, 'POST', '/zeek.html', '0.9', null, 0, 11],
    ]);
    expect(res.map((c) => c.sink.anomalies.map((a) => a.name))).toEqual([
      [], ['http_malformed_request'],
      ['http_malformed_request', 'http_malformed_response'], ['http_malformed_request', 'http_malformed_response'], ['http_malformed_request', 'http_malformed_response'],
    ]);
  });

  it('cs_http_post.pcapng: POST then GET on one connection, gzip responses', async () => {
    // tshark: frame 4 POST www.chrissanders.org /wp-comments-post.php, frame 6 302 (Content-Length 20, gzip);
    // frame 7 GET /?p=310&cpage=1, frame 18 (from 9) 200 (Content-Length 8388, gzip).
    // tshark --export-objects http: wp-comments-post.php (179 bytes, the request body), an empty
    // object for the 302 (so NULL here) and 40327 decoded bytes for the 200.
    const res = await runCapture(`${HTTP_DIR}cs_http_post.pcapng`);
    const rows = res.flatMap((c) => c.sink.table('http'));
    const ua = 'Mozilla/5.0 (Windows; U; Windows NT 6.1; en-US; rv:1.9.1.7) Gecko/20091221 Firefox/3.5.7';
    expect(pick(rows, ...COLS, 'request_sha256', 'response_sha256')).toEqual([
      [1, 'POST', 'www.chrissanders.org', '/wp-comments-post.php', ua, 302, 179, 20, 4, 6, '45babd0145eefdbbcc4dd5672cfce2ed841217f35f27aa9c7a91f037cf1993d8', null],
      [2, 'GET', 'www.chrissanders.org', '/?p=310&cpage=1', ua, 200, 0, 8388, 7, 9, null, '2a255c423028e434bbb2fc9cffcffdaea5ba7a8a4e256d47fcb75bbf6771431c'],
    ]);
    expect(res[0].objects.map((o) => [o.transDepth, o.dir, o.body.length, o.complete])).toEqual([[1, 0, 179, true], [2, 1, 40327, true]]);
  });

  it('zeek_http_pipelined-requests.pcap: five pipelined GETs; encoded lengths differ from Zeek by design', async () => {
    // Zeek http-pipelining http.log: depths 1-5, URIs and referrers as below, all 200, response_body_len
    // 2675, 21421, 94, 2349, 27579. The first two are gzip: tshark shows Content-Length 946 and 6716,
    // which is what response_body_len counts here (before Content-Encoding); their SHA-256 is of the
    // decoded bodies, equal to tshark --export-objects http (enhanced.css 2675 bytes, urchin.js 21421).
    const rows = await httpRows(`${HTTP_DIR}zeek_http_pipelined-requests.pcap`);
    expect(pick(rows, 'trans_depth', 'host', 'uri', 'referrer', 'status_code', 'response_body_len', 'response_content_encoding', 'response_sha256')).toEqual([
      [1, 'www.mozilla.org', '/style/enhanced.css', 'http://www.mozilla.org/projects/calendar/', 200, 946, 'gzip', '5b037a2c5e36f56e63a3012c73e46a04b27741d8ff8f8b62c832fb681fc60f42'],
      [2, 'www.mozilla.org', '/script/urchin.js', 'http://www.mozilla.org/projects/calendar/', 200, 6716, 'gzip', '6a509fd05aa7c8fa05080198894bb19e638554ffcee0e0b3d7bc8ff54afee1da'],
      [3, 'www.mozilla.org', '/images/template/screen/bullet_utility.png', 'http://www.mozilla.org/style/screen.css', 200, 94, null, '6fb22aa9d780ea63bd7a2e12b92b16fcbf1c4874f1d3e11309a5ba984433c315'],
      [4, 'www.mozilla.org', '/images/template/screen/key-point-top.png', 'http://www.mozilla.org/style/screen.css', 200, 2349, null, 'e0b4500c1fd1d675da4137461cbe64d3c8489f4180d194e47683b20e7fb876f4'],
      [5, 'www.mozilla.org', '/projects/calendar/images/header-sunbird.png', 'http://www.mozilla.org/projects/calendar/calendar.css', 200, 27579, null, 'eb482bda230a215b90aedbfe1eee72b8193608df76a319aaf11fb85511579a1e'],
    ]);
    // tshark: requests in frames 4, 6, 14, 16, 20 (all sent before the first response ended).
    expect(rows.map((r) => r.request_packet)).toEqual([4, 6, 14, 16, 20]);
  });

  it('zeek_http_websocket.pcap and zeek_http_multipart-form-data.pcap', async () => {
    // Zeek 101-switching-protocols http.log: GET sandbox.kaazing.net /echo?.kl=Y, origin http://kaazing.org,
    // 0/0 bytes, 101 "Web Socket Protocol Handshake". Zeek multipart-body-length http.log: POST
    // localhost:8000 /, origin "null", request_body_len 767, no response.
    const ws = await runCapture(`${HTTP_DIR}zeek_http_websocket.pcap`);
    expect(pick(ws.flatMap((c) => c.sink.table('http')), 'method', 'host', 'uri', 'origin', 'request_body_len', 'response_body_len', 'status_code', 'status_msg'))
      .toEqual([['GET', 'sandbox.kaazing.net', '/echo?.kl=Y', 'http://kaazing.org', 0, 0, 101, 'Web Socket Protocol Handshake']]);
    const mp = await httpRows(`${HTTP_DIR}zeek_http_multipart-form-data.pcap`);
    expect(pick(mp, 'method', 'host', 'uri', 'origin', 'request_body_len', 'status_code')).toEqual([['POST', 'localhost:8000', '/', 'null', 767, null]]);
  });

  it('zeek_wikipedia.pcap: every row of Zeek\'s http.log, plus the connection Zeek skips', async () => {
    // Reference: the Zeek basic http.log next to the capture (14 rows). Zeek does not analyse the
    // connection from port 35634, which starts without a handshake; tshark shows its GET / (frame 6)
    // and 304 (frame 7), and so do we.
    const zeekLog = readFileSync('/work/shared/pcaps/reference/zeek/zeek_wikipedia.pcap.zeek.basic.http.log', 'utf8');
    const fields = zeekLog.split('\n').find((l) => l.startsWith('#fields'))!.split('\t').slice(1);
    const zeek = zeekLog.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => {
      const v = l.split('\t');
      const get = (n: string) => v[fields.indexOf(n)];
      const opt = (n: string) => (get(n) === '-' ? null : get(n));
      return [Number(get('id.orig_p')), Number(get('trans_depth')), opt('method'), opt('host'), opt('uri'), opt('referrer'), opt('version'), opt('user_agent'),
        Number(get('request_body_len')), Number(get('response_body_len')), Number(get('status_code')), opt('status_msg')];
    });
    expect(zeek.length).toBe(14);
    const res = await runCapture('/work/shared/pcaps/reference/zeek/zeek_wikipedia.pcap');
    const ours = res.flatMap((c) => c.sink.table('http').map((r) => [Number(c.orig.split(':')[1]), r.trans_depth, r.method, r.host, r.uri, r.referrer, r.version,
      r.user_agent, r.request_body_len, r.response_body_len, r.status_code, r.status_msg]));
    const key = (r: unknown[]) => `${r[0]}/${r[1]}`;
    const sort = (a: unknown[][]) => [...a].sort((x, y) => (key(x) < key(y) ? -1 : 1));
    expect(sort(ours.filter((r) => r[0] !== 35634))).toEqual(sort(zeek));
    expect(ours.filter((r) => r[0] === 35634).map((r) => r.slice(1, 5).concat(r[10]))).toEqual([[1, 'GET', 'www.wikipedia.org', '/', 304]]);
    expect(res.flatMap((c) => c.sink.anomalies)).toEqual([]);
  });
});
