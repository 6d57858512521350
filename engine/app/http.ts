/**
 * HTTP/1.x over a reassembled TCP connection: one `http` row per request/response pair (Zeek's
 * http.log), one `credentials` row per HTTP Basic login (and per NTLM login, user only: NTLM sends
 * no password), and optionally whole message bodies for object extraction.
 *
 * Each direction is a small state machine (start line, header fields, body by Content-Length,
 * chunked or until the connection closes). Requests wait in a FIFO queue; each final response
 * pairs with the oldest request that has none, so pipelined requests pair correctly. A row is
 * written once both its request and its response are complete, or at end() (status NULL for an
 * unanswered request; method NULL and `http_unmatched_response` for a response without request).
 *
 * Bodies are never kept unless they carry a Content-Encoding (the encoded bytes are buffered up
 * to ENCODED_BODY_LIMIT to hash the decoded body) or the caller asked for objects (`onObject`).
 * Identity bodies are hashed as their bytes arrive.
 *
 * Like Zeek: `version` is the response's when there is one (Zeek's http_reply overwrites it);
 * when Transfer-Encoding: chunked and Content-Length are both present chunked wins (RFC 9112 6.3;
 * Zeek logs HTTP_content_length_and_chunked, here http_malformed_*); a chunk-size line that does
 * not parse (e.g. 2^64) ends the body as if it were the last chunk, so a request smuggled after
 * it is still seen; 101 Switching Protocols and a 2xx answer to CONNECT end HTTP parsing.
 *
 * Deliberate differences from Zeek:
 * - request_body_len/response_body_len count bytes before Content-Encoding (Zeek counts after
 *   its own gzip/deflate decoding); the SHA-256 columns are of the decoded body (br included).
 * - Chunked transfer coding is honoured for any HTTP version (Zeek: only 1.1), as Wireshark does.
 * - An HTTP/0.9 response (no status line) has status_code NULL (Zeek: 0 and "<empty>"), and no
 *   extra empty transaction is written after it. HTTP/0.9 is accepted only for the first request
 *   of a connection, with a known method and a target starting with "/".
 * - A direction whose first bytes are not a start line (a connection picked up mid-message) is
 *   scanned for the next start line, up to RESYNC_LIMIT bytes; Zeek does not analyse connections
 *   without a handshake, and gives up on a direction after a bad first line.
 * - A tunnel starts on any 2xx answer to CONNECT (Zeek: 200 only).
 */
import { createHash, type Hash } from 'node:crypto';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { AnomalyName } from '../../common/anomalies.js';
import { CREDENTIALS, HTTP } from '../../common/fields.js';
import type { AppSink, Dir, StreamParser, Ts } from './types.js';
import { ntlmAuthenticate, ntlmUserName } from './ntlm.js';

/** Largest header block (start line and header fields, or a chunked trailer section) accepted. */
export const HEADER_LIMIT = 64 * 1024;
/** Encoded (compressed) body bytes buffered per message to hash the decoded body. */
export const ENCODED_BODY_LIMIT = 8 * 1024 * 1024;
/** Largest decoded body zlib may produce when hashing: the bound against decompression bombs. */
export const DECODED_BODY_LIMIT = 64 * 1024 * 1024;
/** Default cap of a body handed to onObject. */
export const DEFAULT_MAX_DECODED_BODY = 64 * 1024 * 1024;
/** Requests kept waiting for a response; beyond this the oldest is written as unanswered. */
export const MAX_PENDING_REQUESTS = 100;
/** Bytes skipped looking for the first start line of a direction before giving up. */
export const RESYNC_LIMIT = 64 * 1024;
/** Longest chunk-size line (with chunk extensions), and longest line kept while resynchronising. */
const SHORT_LINE_LIMIT = 8 * 1024;

export interface HttpObject {
  transDepth: number;
  dir: Dir;
  contentType: string | null;
  contentEncoding: string | null;
  uri: string | null;
  host: string | null;
  /**
   * De-chunked and decompressed body. When it is incomplete (a gap, the connection ended early,
   * longer than maxDecodedBody, or a Content-Encoding that could not be decoded: then the raw,
   * de-chunked bytes) `complete` is false. Gaps are filled with zero bytes.
   */
  body: Uint8Array;
  /** SHA-256 (hex) of `body` as given. */
  sha256: string;
  complete: boolean;
}

export interface HttpOptions {
  /** Called for every message with a non-empty body, when the body ends. */
  onObject?: (o: HttpObject) => void;
  /** Cap of a body given to onObject (default 64 MiB); longer bodies are cut (complete = false). */
  maxDecodedBody?: number;
}

// ---- pure helpers ----

/** Request methods recognised by looksLikeHttpRequest (RFC 9110, WebDAV, CalDAV, UPnP, caches). */
export const HTTP_METHODS: readonly string[] = [
  'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH',
  'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'UNLOCK', 'SEARCH', 'REPORT',
  'MKCALENDAR', 'MKACTIVITY', 'CHECKOUT', 'MERGE', 'ACL', 'BIND', 'UNBIND', 'REBIND', 'UPDATE',
  'LABEL', 'VERSION-CONTROL', 'MKWORKSPACE', 'NOTIFY', 'SUBSCRIBE', 'UNSUBSCRIBE', 'M-SEARCH',
  'PURGE', 'LINK', 'UNLINK',
];
const METHOD_SET = new Set(HTTP_METHODS);

const NO_BYTES = new Uint8Array(0);
const HTTP_SLASH = Uint8Array.from([0x48, 0x54, 0x54, 0x50, 0x2f]);
const SP = 0x20;
const HT = 0x09;
const CR = 0x0d;
const LF = 0x0a;

function isWs(c: number): boolean {
  return c === SP || c === HT;
}

/** RFC 9110 tchar: the characters of a method or header field name. */
const TCHAR = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** `b` as a Buffer: itself when it is one (the reader's chunks and the reassembler's copies are). */
function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

function latin1(b: Uint8Array, s: number, e: number): string {
  return asBuffer(b).toString('latin1', s, e);
}

/** Text of a header value or target: UTF-8 (invalid sequences replaced), NUL replaced too (DuckDB text). */
function text(b: Uint8Array, s: number, e: number): string {
  const t = asBuffer(b).toString('utf8', s, e);
  return t.includes('\0') ? t.replace(/\0/g, '\uFFFD') : t;
}

/** "HTTP/d.d" at b[i..i+8)? */
function isVersionAt(b: Uint8Array, i: number, e: number): boolean {
  return (
    i + 8 <= e && b[i] === 0x48 && b[i + 1] === 0x54 && b[i + 2] === 0x54 && b[i + 3] === 0x50 &&
    b[i + 4] === 0x2f && isDigit(b[i + 5]) && b[i + 6] === 0x2e && isDigit(b[i + 7])
  );
}

export interface RequestLine {
  method: string;
  uri: string;
  /** "1.1", "1.0", "0.9", ... */
  version: string;
}

/**
 * Parses a request line `b[s, e)` (without its line end): METHOD SP target SP HTTP/d.d, or the
 * HTTP/0.9 form METHOD SP /target. Runs of spaces and tabs are tolerated and a target may contain
 * spaces when a version ends the line (broken clients send them). Returns null when it does not
 * parse, or for HTTP/0.9 when the method is not a known one or the target does not start with "/".
 */
export function parseRequestLine(b: Uint8Array, s: number, e: number): RequestLine | null {
  let i = s;
  while (i < e && TCHAR[b[i]]) i++;
  if (i === s || i >= e || !isWs(b[i])) return null;
  const method = latin1(b, s, i);
  while (i < e && isWs(b[i])) i++;
  let j = e;
  while (j > i && isWs(b[j - 1])) j--;
  if (i >= j) return null;
  let version: string | null = null;
  let tEnd = j;
  if (j - i >= 9 && isVersionAt(b, j - 8, j) && isWs(b[j - 9])) {
    version = `${b[j - 3] - 0x30}.${b[j - 1] - 0x30}`;
    tEnd = j - 9;
    while (tEnd > i && isWs(b[tEnd - 1])) tEnd--;
  } else {
    if (!METHOD_SET.has(method) || b[i] !== 0x2f) return null;
    for (let p = i; p < j; p++) if (isWs(b[p])) return null;
    version = '0.9';
  }
  for (let p = i; p < tEnd; p++) if (b[p] < 0x20 || b[p] === 0x7f) return null;
  return { method, uri: text(b, i, tEnd), version };
}

export interface StatusLine {
  version: string;
  code: number;
  /** Reason phrase, or null when absent or empty. */
  reason: string | null;
}

/** Parses a status line `b[s, e)`: HTTP/d.d SP 3DIGIT [SP reason]. Null when it does not parse. */
export function parseStatusLine(b: Uint8Array, s: number, e: number): StatusLine | null {
  if (!isVersionAt(b, s, e)) return null;
  let i = s + 8;
  if (i >= e || !isWs(b[i])) return null;
  while (i < e && isWs(b[i])) i++;
  if (i + 3 > e || !isDigit(b[i]) || !isDigit(b[i + 1]) || !isDigit(b[i + 2])) return null;
  const code = (b[i] - 0x30) * 100 + (b[i + 1] - 0x30) * 10 + (b[i + 2] - 0x30);
  if (code < 100) return null;
  i += 3;
  if (i < e && !isWs(b[i])) return null;
  while (i < e && isWs(b[i])) i++;
  let j = e;
  while (j > i && isWs(b[j - 1])) j--;
  return { version: `${b[s + 5] - 0x30}.${b[s + 7] - 0x30}`, code, reason: j > i ? text(b, i, j) : null };
}

/** Chunk size of a chunk-size line `b[s, e)` (hex, optional whitespace and ;extensions), or -1. */
export function parseChunkSize(b: Uint8Array, s: number, e: number): number {
  let i = s;
  let n = 0;
  while (i < e) {
    const c = b[i];
    const v = isDigit(c) ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
    if (v < 0) break;
    // 13 hex digits (2^52) keep the size an exact JS number; longer sizes are bogus anyway.
    if (i - s >= 13) return -1;
    n = n * 16 + v;
    i++;
  }
  if (i === s) return -1;
  while (i < e && isWs(b[i])) i++;
  if (i < e && b[i] !== 0x3b /* ; */) return -1;
  return n;
}

/** Content-Length value: the length, or -1 when invalid (not digits, or a list of different values). */
export function parseContentLength(value: string): number {
  let n = -1;
  for (const part of value.split(',')) {
    const t = part.trim();
    if (!/^[0-9]{1,15}$/.test(t)) return -1;
    const v = Number(t);
    if (n >= 0 && v !== n) return -1;
    n = v;
  }
  return n;
}

/** Codings of a Transfer-Encoding or Content-Encoding value, lower case, without parameters or empties. */
export function codingList(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = part.split(';')[0].trim().toLowerCase();
    if (t) out.push(t);
  }
  return out;
}

/**
 * The user of an `Authorization: NTLM ...` or `Negotiate ...` value carrying an NTLM AUTHENTICATE
 * message (DOMAIN\user), or null. The password is not in it (challenge-response).
 */
export function parseNtlmAuth(value: string): string | null {
  const m = /^(?:ntlm|negotiate)[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(value);
  if (!m) return null;
  const login = ntlmAuthenticate(Buffer.from(m[1], 'base64'));
  return login === null ? null : ntlmUserName(login);
}

/** User and password of an `Authorization: Basic ...` value, or null for another scheme. */
export function parseBasicAuth(value: string): { username: string; password: string | null } | null {
  const m = /^basic[ \t]+([A-Za-z0-9+/=._~-]+)[ \t]*$/i.exec(value);
  if (!m) return null;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8').replace(/\0/g, '\uFFFD');
  const colon = decoded.indexOf(':');
  if (colon < 0) return { username: decoded, password: null };
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Whether `b[start, end)` (the first bytes of a stream) looks like an HTTP request: a known
 * method, one space and the start of a target ("/", "*", or a letter for absolute and authority
 * forms). When the first line end is within reach, the line must also end in " HTTP/d.d" (or be
 * an HTTP/0.9 "GET /..."), which tells HTTP from RTSP and SIP.
 */
export function looksLikeHttpRequest(b: Uint8Array, start: number, end: number): boolean {
  let i = start;
  const limit = Math.min(end, start + 20);
  while (i < limit) {
    const c = b[i];
    if ((c >= 0x41 && c <= 0x5a) || (c === 0x2d && i > start)) i++;
    else break;
  }
  if (i === start || i + 1 >= end || b[i] !== SP) return false;
  if (!METHOD_SET.has(latin1(b, start, i))) return false;
  const t = b[i + 1];
  if (!(t === 0x2f || t === 0x2a || (t >= 0x41 && t <= 0x5a) || (t >= 0x61 && t <= 0x7a) || isDigit(t))) return false;
  const reach = Math.min(end, start + 4096);
  for (let p = i + 1; p < reach; p++) {
    if (b[p] !== LF) continue;
    const e = p > start && b[p - 1] === CR ? p - 1 : p;
    return parseRequestLine(b, start, e) !== null;
  }
  return true;
}

/** Whether `b[start, end)` begins like an HTTP/1.x response: "HTTP/1.d" followed by whitespace. */
export function looksLikeHttpResponse(b: Uint8Array, start: number, end: number): boolean {
  return end - start >= 9 && isVersionAt(b, start, end) && b[start + 5] === 0x31 && isWs(b[start + 8]);
}

/** Decodes a body encoded with `codings` (applied in order, undone in reverse). Throws zlib's errors. */
function decodeBody(raw: Buffer, codings: readonly string[], limit: number): Buffer {
  let out = raw;
  for (let k = codings.length - 1; k >= 0; k--) {
    const c = codings[k];
    if (c === 'br') out = brotliDecompressSync(out, { maxOutputLength: limit });
    else if (c === 'deflate') out = inflateEither(out, limit);
    else out = gunzipSync(out, { maxOutputLength: limit });
  }
  return out;
}

/** "deflate" should be zlib-wrapped, but some servers send raw deflate (Zeek copes with both too). */
function inflateEither(raw: Buffer, limit: number): Buffer {
  try {
    return inflateSync(raw, { maxOutputLength: limit });
  } catch (err) {
    if (err instanceof RangeError) throw err; // over the limit: raw inflate would be too
    return inflateRawSync(raw, { maxOutputLength: limit });
  }
}

const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

function sha256Hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

// ---- parser state ----

/** One request/response pair (one http row). */
class Tx {
  method: string | null = null;
  uri: string | null = null;
  version: string | null = null;
  host: string | null = null;
  referrer: string | null = null;
  userAgent: string | null = null;
  origin: string | null = null;
  username: string | null = null;
  password: string | null = null;
  passwordSeen = false;
  reqContentType: string | null = null;
  reqBodyLen = 0;
  reqSha: string | null = null;
  reqPacket: number | null = null;
  status: number | null = null;
  statusMsg: string | null = null;
  respVersion: string | null = null;
  respContentType: string | null = null;
  respContentEncoding: string | null = null;
  respBodyLen = 0;
  respSha: string | null = null;
  respPacket: number | null = null;
  reqDone = false;
  respBegun = false;
  respDone = false;
  /** A response seen without any outstanding request. */
  orphan = false;
  emitted = false;
  constructor(
    readonly depth: number,
    readonly ts: Ts,
  ) {}
}

// Direction states.
const S_START = 0; // expecting a start line (empty lines before it are skipped)
const S_HEADERS = 1;
const S_BODY = 2; // Content-Length body, `remaining` bytes to go
const S_CHUNK_SIZE = 3;
const S_CHUNK_DATA = 4;
const S_CHUNK_END = 5; // the line end after a chunk's data
const S_TRAILERS = 6;
const S_UNTIL_CLOSE = 7;
const S_RESYNC = 8; // skipping lines until one is a start line
const S_IGNORE = 9; // client bytes after CONNECT, before the proxy's answer
const S_HTTP09 = 10; // server side after an HTTP/0.9 request: a status line or raw data?
const S_DEAD = 11;

// Header fields the parser uses.
const H_OTHER = 0;
const H_HOST = 1;
const H_REFERER = 2;
const H_UA = 3;
const H_ORIGIN = 4;
const H_CTYPE = 5;
const H_CENC = 6;
const H_CLEN = 7;
const H_TE = 8;
const H_AUTH = 9;
export const HEADER_KIND = new Map<string, number>([
  ['host', H_HOST],
  ['referer', H_REFERER],
  ['user-agent', H_UA],
  ['origin', H_ORIGIN],
  ['content-type', H_CTYPE],
  ['content-encoding', H_CENC],
  ['content-length', H_CLEN],
  ['transfer-encoding', H_TE],
  ['authorization', H_AUTH],
]);
/** The names of HEADER_KIND by length, as bytes: a field name is matched without making strings. */
const HEADER_NAMES: { name: Uint8Array; kind: number }[][] = [];
for (const [name, kind] of HEADER_KIND) (HEADER_NAMES[name.length] ??= []).push({ name: Buffer.from(name, 'latin1'), kind });
for (let n = 0; n < HEADER_NAMES.length; n++) HEADER_NAMES[n] ??= [];

/**
 * The kind of the field named b[s, e) (token characters only), ignoring case: `| 0x20` lowers a
 * letter and leaves '-' alone; no other token character becomes a letter or '-' by it.
 */
export function headerKind(b: Uint8Array, s: number, e: number): number {
  const n = e - s;
  if (n >= HEADER_NAMES.length) return H_OTHER;
  for (const { name, kind } of HEADER_NAMES[n]) {
    let i = 0;
    while (i < n && (b[s + i] | 0x20) === name[i]) i++;
    if (i === n) return kind;
  }
  return H_OTHER;
}

/** State of one direction: the message being parsed and its body. */
class Half {
  state = S_START;
  /** The partial line carried over from earlier data() calls (grows up to the line's limit). */
  buf = new Uint8Array(0);
  bufLen = 0;
  /** The rest of a line too long to keep (while resynchronising, or a chunk line) is being skipped. */
  skipLine = false;
  /** Set by nextLine: the line found, as b[lineS, lineE) without its line end. */
  line: Uint8Array = NO_BYTES;
  lineS = 0;
  lineE = 0;
  /** Set by nextLine: the line is longer than the limit given. */
  overflow = false;
  /** Bytes of the current header block (or trailer section). */
  block = 0;
  resyncBytes = 0;
  /** A start line has parsed in this direction. */
  seenStart = false;
  startPacket = 0;
  startTs: Ts = { sec: 0, ns: 0 };

  tx: Tx | null = null;
  /** The current response is informational (1xx other than 101): its headers are skipped. */
  info = false;
  // Header fields of the current message; `pend*` is the field being read (folded lines join it).
  pendKind = -1;
  pendValue = '';
  host: string | null = null;
  referrer: string | null = null;
  userAgent: string | null = null;
  origin: string | null = null;
  contentType: string | null = null;
  contentEncoding: string | null = null;
  contentLength: string | null = null;
  transferEncoding: string | null = null;
  authorization: string | null = null;

  // Body of the current message.
  remaining = 0;
  bodyLen = 0;
  hash: Hash | null = null;
  /** Content codings to undo (null: identity). */
  codings: string[] | null = null;
  /** A Content-Encoding this parser cannot decode, or null. */
  unsupported: string | null = null;
  gapped = false;
  /** Encoded body bytes (copies), or the identity body kept for onObject. */
  kept: Buffer[] = [];
  keptLen = 0;
  keptCut = false;

  constructor(readonly dir: Dir) {}

  resetHeaders(): void {
    this.block = 0;
    this.pendKind = -1;
    this.pendValue = '';
    this.host = this.referrer = this.userAgent = this.origin = null;
    this.contentType = this.contentEncoding = this.contentLength = null;
    this.transferEncoding = this.authorization = null;
  }

  resetBody(): void {
    this.remaining = 0;
    this.bodyLen = 0;
    this.hash = null;
    this.codings = null;
    this.unsupported = null;
    this.gapped = false;
    this.kept = [];
    this.keptLen = 0;
    this.keptCut = false;
  }

  append(b: Uint8Array, s: number, e: number): void {
    const n = e - s;
    // A buffer grown by one long line is not kept for the connection's lifetime.
    if (this.bufLen === 0 && this.buf.length > 4096 && n <= 4096) this.buf = new Uint8Array(0);
    if (this.bufLen + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.bufLen + n, this.buf.length * 2, 256));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    this.buf.set(b.subarray(s, e), this.bufLen);
    this.bufLen += n;
  }

  /** Drops a carried-over partial line and lets a buffer grown by a long line go. */
  clearLine(): void {
    this.bufLen = 0;
    if (this.buf.length > 4096) this.buf = new Uint8Array(0);
  }
}

class HttpParser implements StreamParser {
  private readonly halves: [Half, Half] = [new Half(0), new Half(1)];
  /** Requests without a complete final response (or whose request is still arriving), oldest first. */
  private readonly pending: Tx[] = [];
  private depth = 0;
  private serviceSent = false;
  private stopped = false;
  private readonly onObject: ((o: HttpObject) => void) | null;
  private readonly maxObject: number;

  constructor(
    private readonly sink: AppSink,
    opts: HttpOptions = {},
  ) {
    this.onObject = opts.onObject ?? null;
    this.maxObject = Math.max(0, opts.maxDecodedBody ?? DEFAULT_MAX_DECODED_BODY);
  }

  get done(): boolean {
    return this.stopped;
  }

  data(dir: Dir, bytes: Uint8Array, start: number, end: number): void {
    const h = this.halves[dir];
    let pos = Math.max(0, start);
    end = Math.min(end, bytes.length);
    while (pos < end && !this.stopped) {
      if (h.skipLine) {
        pos = this.skipRestOfLine(h, bytes, pos, end);
        continue;
      }
      switch (h.state) {
        case S_START:
          pos = this.onStart(h, bytes, pos, end);
          break;
        case S_HEADERS:
        case S_TRAILERS:
          pos = this.onHeaderLine(h, bytes, pos, end);
          break;
        case S_BODY:
        case S_CHUNK_DATA:
          pos = this.onSizedBody(h, bytes, pos, end);
          break;
        case S_CHUNK_SIZE:
        case S_CHUNK_END:
          pos = this.onChunkLine(h, bytes, pos, end);
          break;
        case S_UNTIL_CLOSE:
          this.bodyData(h, bytes, pos, end);
          pos = end;
          break;
        case S_RESYNC:
          pos = this.onResync(h, bytes, pos, end);
          break;
        case S_HTTP09:
          pos = this.onHttp09(h, bytes, pos, end);
          break;
        default: // S_IGNORE, S_DEAD
          pos = end;
      }
    }
    h.line = NO_BYTES; // not to pin the caller's (reused, possibly large) read buffer
  }

  gap(dir: Dir, len: number): void {
    if (this.stopped || !(len > 0)) return;
    const h = this.halves[dir];
    switch (h.state) {
      case S_BODY:
      case S_CHUNK_DATA: {
        const n = Math.min(len, h.remaining);
        this.bodyGap(h, n);
        h.remaining -= n;
        if (n < len) {
          // The gap runs past the body: where the next message starts is unknown.
          this.finishBody(h, false);
          this.messageDone(h);
          this.stop();
        } else if (h.remaining === 0) {
          if (h.state === S_BODY) {
            this.finishBody(h, false);
            this.messageDone(h);
          } else h.state = S_CHUNK_END;
        }
        return;
      }
      case S_UNTIL_CLOSE:
        this.bodyGap(h, len);
        return;
      case S_HTTP09:
        if (h.bufLen === 0) this.markStart(h);
        this.beginRaw09(h);
        this.bodyGap(h, len);
        return;
      case S_IGNORE:
        return;
      case S_RESYNC:
        h.clearLine();
        h.skipLine = true; // the line the gap cut is not a start line
        return;
      case S_START:
        // Nothing parsed yet in this direction (and, for responses, no request the lost bytes may
        // have answered): look for the next start line. Otherwise whole messages may have been
        // lost, and with them the pairing of requests and responses.
        if (!h.seenStart && h.bufLen === 0 && (dir === 0 || this.firstUnanswered() === null)) {
          h.state = S_RESYNC;
          h.skipLine = true;
          return;
        }
        this.stop();
        return;
      default:
        this.stop();
    }
  }

  end(): void {
    if (this.stopped) return;
    this.closeHalf(this.halves[0], true);
    this.closeHalf(this.halves[1], true);
    this.flush();
  }

  // ---- lines ----

  /**
   * Finds the next line in b[pos, end), joined to a partial line carried over; sets h.line* when
   * one is complete (without CR LF or LF), or h.overflow when the line exceeds `limit` bytes.
   * Returns the new position.
   */
  private nextLine(h: Half, b: Uint8Array, pos: number, end: number, limit: number): number {
    h.overflow = false;
    h.lineS = h.lineE = -1;
    // a loop, not indexOf on a view made per line (lines are short; the search never passes end)
    let stop = pos;
    while (stop < end && b[stop] !== LF) stop++;
    const rel = stop < end ? stop - pos : -1;
    if (h.bufLen + (stop - pos) > limit) {
      h.overflow = true;
      return stop;
    }
    if (rel < 0) {
      h.append(b, pos, end);
      return end;
    }
    let src = b;
    let s = pos;
    let e = stop;
    if (h.bufLen > 0) {
      h.append(b, pos, stop);
      src = h.buf;
      s = 0;
      e = h.bufLen;
      h.bufLen = 0; // the line is used before anything is appended again
    }
    if (e > s && src[e - 1] === CR) e--;
    h.line = src;
    h.lineS = s;
    h.lineE = e;
    return stop + 1;
  }

  private markStart(h: Half): void {
    h.startPacket = this.sink.packetNo;
    h.startTs = { sec: this.sink.tsSec, ns: this.sink.tsNs };
  }

  // ---- start lines ----

  private onStart(h: Half, b: Uint8Array, pos: number, end: number): number {
    if (h.bufLen === 0) this.markStart(h);
    const carried = h.bufLen;
    const next = this.nextLine(h, b, pos, end, HEADER_LIMIT);
    if (h.overflow) {
      this.headerLimit(h);
      return end;
    }
    if (h.lineS < 0) return next;
    h.block = carried + (next - pos);
    if (h.lineE === h.lineS) return next; // empty lines between messages are tolerated
    if (h.dir === 0) {
      const rl = parseRequestLine(h.line, h.lineS, h.lineE);
      if (rl && this.acceptRequest(rl)) this.beginRequest(h, rl);
      else if (!this.stopped) this.badStartLine(h, 'http_malformed_request', 'request line');
    } else {
      const st = parseStatusLine(h.line, h.lineS, h.lineE);
      if (st) this.beginResponse(h, st);
      else this.badStartLine(h, 'http_malformed_response', 'status line');
    }
    return next;
  }

  /** Rejects HTTP/0.9 after the first request, and stops at an HTTP/2 prior-knowledge preface. */
  private acceptRequest(rl: RequestLine): boolean {
    if (rl.method === 'PRI' && rl.version === '2.0') {
      this.stop(); // HTTP/2 over cleartext: not this parser's
      return false;
    }
    return rl.version !== '0.9' || this.depth === 0;
  }

  private badStartLine(h: Half, name: AnomalyName, what: string): void {
    const snippet = latin1(h.line, h.lineS, Math.min(h.lineE, h.lineS + 64)).replace(/[^\x20-\x7e]/g, '.');
    if (h.seenStart) {
      this.sink.anomaly(name, `bad ${what}: ${snippet}`);
      this.stop();
      return;
    }
    // Nothing parsed yet in this direction: probably picked up in the middle of a message.
    this.sink.anomaly(name, `bad ${what} at stream start, looking for the next message: ${snippet}`);
    h.state = S_RESYNC;
    h.resyncBytes = h.block;
  }

  /** Skips up to and including the next line end (the rest of a line too long to keep). */
  private skipRestOfLine(h: Half, b: Uint8Array, pos: number, end: number): number {
    const rel = b.subarray(pos, end).indexOf(LF);
    const next = rel < 0 ? end : pos + rel + 1;
    if (rel >= 0) h.skipLine = false;
    if (h.state === S_RESYNC) {
      h.resyncBytes += next - pos;
      if (h.resyncBytes > RESYNC_LIMIT) this.stop();
    }
    return next;
  }

  private onResync(h: Half, b: Uint8Array, pos: number, end: number): number {
    if (h.bufLen === 0) this.markStart(h);
    const next = this.nextLine(h, b, pos, end, SHORT_LINE_LIMIT);
    h.resyncBytes += next - pos;
    if (h.overflow) {
      h.clearLine();
      h.skipLine = true; // too long for a start line
      if (h.resyncBytes > RESYNC_LIMIT) this.stop();
      return next;
    }
    // The budget is checked at line ends only, so that where the data is cut does not matter.
    if (h.lineS < 0) return next;
    if (h.lineE > h.lineS) {
      if (h.dir === 0) {
        const rl = parseRequestLine(h.line, h.lineS, h.lineE);
        if (rl && rl.version.startsWith('1.')) {
          h.block = h.lineE - h.lineS;
          this.beginRequest(h, rl);
          return next;
        }
      } else {
        const st = parseStatusLine(h.line, h.lineS, h.lineE);
        if (st && st.version.startsWith('1.')) {
          h.block = h.lineE - h.lineS;
          this.beginResponse(h, st);
          return next;
        }
      }
    }
    if (h.resyncBytes > RESYNC_LIMIT) this.stop();
    return next;
  }

  private serviceOnce(): void {
    if (this.serviceSent) return;
    this.serviceSent = true;
    this.sink.service('http');
  }

  private beginRequest(h: Half, rl: RequestLine): void {
    this.serviceOnce();
    h.seenStart = true;
    if (this.pending.length >= MAX_PENDING_REQUESTS) this.emit(this.pending.shift()!);
    const tx = new Tx(++this.depth, h.startTs);
    tx.method = rl.method;
    tx.uri = rl.uri;
    tx.version = rl.version;
    tx.reqPacket = h.startPacket;
    this.pending.push(tx);
    h.tx = tx;
    h.resetHeaders();
    h.resetBody();
    if (rl.version === '0.9') {
      if (rl.method !== 'GET') this.sink.anomaly('http_malformed_request', `HTTP/0.9 request with method ${rl.method}`);
      // No header fields, no body; the answer is raw data up to the close.
      this.messageDone(h);
      const srv = this.halves[1];
      if (srv.state === S_START && !srv.seenStart && srv.bufLen === 0) srv.state = S_HTTP09;
      return;
    }
    h.state = S_HEADERS;
  }

  private firstUnanswered(): Tx | null {
    for (const tx of this.pending) if (!tx.respBegun) return tx;
    return null;
  }

  private beginResponse(h: Half, st: StatusLine): void {
    this.serviceOnce();
    h.seenStart = true;
    h.resetHeaders();
    h.resetBody();
    h.state = S_HEADERS;
    h.info = st.code < 200 && st.code !== 101;
    if (h.info) return; // 100 Continue and friends: the final response follows
    let tx = this.firstUnanswered();
    if (!tx) {
      tx = new Tx(++this.depth, h.startTs);
      tx.orphan = true;
      tx.reqDone = true;
    }
    tx.respBegun = true;
    tx.status = st.code;
    tx.statusMsg = st.reason;
    tx.respVersion = st.version;
    tx.respPacket = h.startPacket;
    h.tx = tx;
  }

  /**
   * Server bytes after an HTTP/0.9 request: a status line if they start with "HTTP/", else the
   * raw answer. Up to four bytes that may still become "HTTP/" are held until the next call.
   */
  private onHttp09(h: Half, b: Uint8Array, pos: number, end: number): number {
    if (h.bufLen === 0) this.markStart(h);
    let k = h.bufLen;
    let p = pos;
    while (k < HTTP_SLASH.length && p < end && b[p] === HTTP_SLASH[k]) {
      k++;
      p++;
    }
    if (k < HTTP_SLASH.length && p === end) {
      h.append(b, pos, end);
      return end;
    }
    if (k === HTTP_SLASH.length) {
      h.state = S_START; // the held bytes begin the status line
      return pos;
    }
    this.beginRaw09(h);
    return pos;
  }

  private beginRaw09(h: Half): void {
    if (h.state !== S_HTTP09) return;
    this.serviceOnce();
    h.seenStart = true;
    h.resetHeaders();
    h.resetBody();
    const tx = this.firstUnanswered();
    if (tx) {
      tx.respBegun = true;
      tx.respPacket = h.startPacket;
    }
    h.tx = tx;
    h.state = S_UNTIL_CLOSE;
    if (h.bufLen > 0) {
      const held = h.buf.subarray(0, h.bufLen);
      h.bufLen = 0;
      this.bodyData(h, held, 0, held.length);
    }
  }

  // ---- header fields ----

  private onHeaderLine(h: Half, b: Uint8Array, pos: number, end: number): number {
    // The budget left for new bytes is what the block has not used yet (carried bytes are counted).
    const next = this.nextLine(h, b, pos, end, HEADER_LIMIT - h.block + h.bufLen);
    h.block += next - pos;
    if (h.overflow || h.block > HEADER_LIMIT) {
      this.headerLimit(h);
      return end;
    }
    if (h.lineS < 0) return next;
    const trailers = h.state === S_TRAILERS;
    if (h.lineE === h.lineS) {
      if (trailers) this.messageDone(h);
      else this.endHeaders(h);
      return next;
    }
    if (trailers) return next; // trailer fields are not used
    const l = h.line;
    if (isWs(l[h.lineS])) {
      // Obsolete line folding: the line continues the previous field's value.
      if (h.pendKind < 0) this.badHeader(h, 'continuation line without a field');
      else if (h.pendKind !== H_OTHER) {
        const more = this.fieldValue(l, h.lineS, h.lineE);
        h.pendValue = h.pendValue ? (more ? `${h.pendValue} ${more}` : h.pendValue) : more;
      }
      return next;
    }
    this.commitField(h);
    let c = h.lineS;
    while (c < h.lineE && TCHAR[l[c]]) c++;
    let colon = c;
    while (colon < h.lineE && isWs(l[colon])) colon++; // "Name : value" is tolerated
    if (c === h.lineS || colon >= h.lineE || l[colon] !== 0x3a) {
      this.badHeader(h, 'header line without a field name and colon');
      return next;
    }
    const kind = headerKind(l, h.lineS, c);
    h.pendKind = kind;
    h.pendValue = kind === H_OTHER ? '' : this.fieldValue(l, colon + 1, h.lineE);
    return next;
  }

  private fieldValue(l: Uint8Array, s: number, e: number): string {
    while (s < e && isWs(l[s])) s++;
    while (e > s && isWs(l[e - 1])) e--;
    return text(l, s, e);
  }

  private badHeader(h: Half, detail: string): void {
    this.sink.anomaly(h.dir === 0 ? 'http_malformed_request' : 'http_malformed_response', detail);
  }

  /** Stores the field being read; repeated fields keep their first value, except list-valued ones. */
  private commitField(h: Half): void {
    const v = h.pendValue;
    switch (h.pendKind) {
      case H_HOST:
        h.host ??= v;
        break;
      case H_REFERER:
        h.referrer ??= v;
        break;
      case H_UA:
        h.userAgent ??= v;
        break;
      case H_ORIGIN:
        h.origin ??= v;
        break;
      case H_CTYPE:
        h.contentType ??= v;
        break;
      case H_AUTH:
        h.authorization ??= v;
        break;
      case H_CENC:
        h.contentEncoding = h.contentEncoding === null ? v : `${h.contentEncoding}, ${v}`;
        break;
      case H_CLEN:
        h.contentLength = h.contentLength === null ? v : `${h.contentLength}, ${v}`;
        break;
      case H_TE:
        h.transferEncoding = h.transferEncoding === null ? v : `${h.transferEncoding}, ${v}`;
        break;
    }
    h.pendKind = -1;
    h.pendValue = '';
  }

  private headerLimit(h: Half): void {
    this.sink.anomaly('http_header_limit', `${h.dir === 0 ? 'request' : 'response'} header block over ${HEADER_LIMIT} bytes`);
    this.stop();
  }

  /** Copies the header fields read so far into the transaction. */
  private applyHeaders(h: Half, tx: Tx): void {
    this.commitField(h);
    if (h.dir === 0) {
      tx.host = h.host;
      tx.referrer = h.referrer;
      tx.userAgent = h.userAgent;
      tx.origin = h.origin;
      tx.reqContentType = h.contentType;
      const auth = h.authorization === null ? null : parseBasicAuth(h.authorization);
      if (auth) {
        tx.username = auth.username;
        tx.password = auth.password;
        tx.passwordSeen = auth.password !== null;
      } else if (h.authorization !== null) {
        tx.username = parseNtlmAuth(h.authorization);
      }
    } else {
      tx.respContentType = h.contentType;
      tx.respContentEncoding = h.contentEncoding;
    }
  }

  private endHeaders(h: Half): void {
    const tx = h.tx;
    if (h.dir === 1 && h.info) {
      h.state = S_START;
      return;
    }
    if (!tx) {
      h.state = S_START;
      return;
    }
    this.applyHeaders(h, tx);
    this.setCodings(h);
    if (h.dir === 0) this.requestFraming(h);
    else this.responseFraming(h, tx);
  }

  private setCodings(h: Half): void {
    if (h.contentEncoding === null) return;
    const list = codingList(h.contentEncoding).filter((c) => c !== 'identity');
    if (list.length === 0) return;
    const bad = list.find((c) => !DECODABLE.has(c));
    if (bad !== undefined) h.unsupported = bad;
    else h.codings = list;
  }

  /** RFC 9112 6.3 for requests: chunked, else Content-Length, else no body. */
  private requestFraming(h: Half): void {
    const te = h.transferEncoding === null ? null : codingList(h.transferEncoding);
    const cl = h.contentLength === null ? -2 : parseContentLength(h.contentLength);
    if (te !== null && te.length > 0) {
      if (te[te.length - 1] === 'chunked') {
        if (cl !== -2) this.sink.anomaly('http_malformed_request', 'both Content-Length and Transfer-Encoding: chunked; chunked used');
        h.state = S_CHUNK_SIZE;
        return;
      }
      this.sink.anomaly('http_malformed_request', `Transfer-Encoding without chunked: ${h.transferEncoding}`);
    }
    if (cl === -1) {
      this.sink.anomaly('http_malformed_request', `bad Content-Length: ${h.contentLength}`);
      this.messageDone(h);
      this.stop(); // where the next request starts is unknown
      return;
    }
    if (cl > 0) {
      h.remaining = cl;
      h.state = S_BODY;
      return;
    }
    this.messageDone(h);
  }

  /** RFC 9112 6.3 for responses. */
  private responseFraming(h: Half, tx: Tx): void {
    const code = tx.status ?? 0;
    if (tx.method === 'CONNECT' && code >= 200 && code < 300) {
      this.messageDone(h);
      this.stop(); // a tunnel from here on
      return;
    }
    if (code === 101) {
      this.messageDone(h);
      this.stop(); // another protocol from here on
      return;
    }
    if (tx.method === 'HEAD' || code === 204 || code === 304) {
      this.messageDone(h);
      return;
    }
    const te = h.transferEncoding === null ? null : codingList(h.transferEncoding);
    const cl = h.contentLength === null ? -2 : parseContentLength(h.contentLength);
    if (te !== null && te.length > 0) {
      if (te[te.length - 1] === 'chunked') {
        if (cl !== -2) this.sink.anomaly('http_malformed_response', 'both Content-Length and Transfer-Encoding: chunked; chunked used');
        h.state = S_CHUNK_SIZE;
      } else h.state = S_UNTIL_CLOSE;
      return;
    }
    if (cl === -1) {
      this.sink.anomaly('http_malformed_response', `bad Content-Length: ${h.contentLength}; body read to the close`);
      h.state = S_UNTIL_CLOSE;
      return;
    }
    if (cl === 0) {
      this.messageDone(h);
      return;
    }
    if (cl > 0) {
      h.remaining = cl;
      h.state = S_BODY;
      return;
    }
    h.state = S_UNTIL_CLOSE;
  }

  // ---- bodies ----

  private onSizedBody(h: Half, b: Uint8Array, pos: number, end: number): number {
    const n = Math.min(h.remaining, end - pos);
    this.bodyData(h, b, pos, pos + n);
    h.remaining -= n;
    if (h.remaining === 0) {
      if (h.state === S_BODY) {
        this.finishBody(h, true);
        this.messageDone(h);
      } else h.state = S_CHUNK_END;
    }
    return pos + n;
  }

  private onChunkLine(h: Half, b: Uint8Array, pos: number, end: number): number {
    const next = this.nextLine(h, b, pos, end, SHORT_LINE_LIMIT);
    if (h.overflow) {
      h.clearLine();
      this.badChunk(h, 'chunk line too long');
      h.skipLine = true;
      return next;
    }
    if (h.lineS < 0) return next;
    if (h.state === S_CHUNK_END) {
      if (h.lineE > h.lineS) this.sink.anomaly('http_bad_chunk', 'data after the chunk, before its line end');
      h.state = S_CHUNK_SIZE;
      return next;
    }
    const size = parseChunkSize(h.line, h.lineS, h.lineE);
    if (size < 0) {
      const snippet = latin1(h.line, h.lineS, Math.min(h.lineE, h.lineS + 32)).replace(/[^\x20-\x7e]/g, '.');
      this.badChunk(h, `bad chunk size: ${snippet}`);
    } else if (size === 0) {
      this.finishBody(h, true);
      h.block = 0;
      h.state = S_TRAILERS;
    } else {
      h.remaining = size;
      h.state = S_CHUNK_DATA;
    }
    return next;
  }

  /** Like Zeek, a chunk size that does not parse ends the body (incomplete); trailers may follow. */
  private badChunk(h: Half, detail: string): void {
    this.sink.anomaly('http_bad_chunk', detail);
    this.finishBody(h, false);
    h.block = 0;
    h.state = S_TRAILERS;
  }

  private bodyData(h: Half, b: Uint8Array, s: number, e: number): void {
    if (e <= s) return;
    h.bodyLen += e - s;
    if (h.codings !== null) {
      this.keep(h, b, s, e, Math.max(ENCODED_BODY_LIMIT, this.onObject ? this.maxObject : 0));
      return;
    }
    if (h.unsupported === null && !h.gapped) (h.hash ??= createHash('sha256')).update(b.subarray(s, e));
    if (this.onObject) this.keep(h, b, s, e, this.maxObject);
  }

  /** Copies body bytes up to `cap` (a null `b` stands for the zero bytes of a gap). */
  private keep(h: Half, b: Uint8Array | null, s: number, e: number, cap: number): void {
    const room = cap - h.keptLen;
    const n = Math.min(e - s, room);
    if (n < e - s) h.keptCut = true;
    if (n <= 0) return;
    h.kept.push(b ? Buffer.from(b.subarray(s, s + n)) : Buffer.alloc(n));
    h.keptLen += n;
  }

  private bodyGap(h: Half, len: number): void {
    if (len <= 0) return;
    h.bodyLen += len;
    h.gapped = true;
    if (h.codings !== null) this.keep(h, null, 0, len, Math.max(ENCODED_BODY_LIMIT, this.onObject ? this.maxObject : 0));
    else if (this.onObject) this.keep(h, null, 0, len, this.maxObject);
  }

  /** Ends the current body: lengths and hashes into the transaction, the object to onObject. */
  private finishBody(h: Half, complete: boolean): void {
    const tx = h.tx;
    const len = h.bodyLen;
    let sha: string | null = null;
    let decoded: Buffer | null = null;
    const whole = complete && !h.gapped;
    if (len > 0 && whole) {
      if (h.codings === null && h.unsupported === null) sha = h.hash ? h.hash.digest('hex') : null;
      else if (h.unsupported !== null) this.decodeError(h, `unsupported Content-Encoding ${h.unsupported}`);
      else if (h.keptCut) this.decodeError(h, `encoded body over ${ENCODED_BODY_LIMIT} bytes`);
      else {
        decoded = this.decode(h);
        if (decoded && decoded.length > 0) sha = sha256Hex(decoded);
      }
    }
    if (tx) {
      if (h.dir === 0) {
        tx.reqBodyLen = len;
        tx.reqSha = sha;
      } else {
        tx.respBodyLen = len;
        tx.respSha = sha;
      }
    }
    if (this.onObject && len > 0 && (decoded === null || decoded.length > 0)) this.deliverObject(h, tx, whole, sha, decoded);
    h.resetBody();
  }

  private decode(h: Half): Buffer | null {
    const raw = h.kept.length === 1 ? h.kept[0] : Buffer.concat(h.kept, h.keptLen);
    const limit = Math.max(DECODED_BODY_LIMIT, this.onObject ? this.maxObject : 0);
    try {
      return decodeBody(raw, h.codings ?? [], limit);
    } catch (err) {
      // zlib reports corrupt input and output over maxOutputLength by throwing; nothing else is in the try.
      this.decodeError(h, `${(h.codings ?? []).join(', ')}: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
  }

  private decodeError(h: Half, detail: string): void {
    this.sink.anomaly('http_body_decode_error', `${h.dir === 0 ? 'request' : 'response'} body: ${detail}`);
  }

  private deliverObject(h: Half, tx: Tx | null, whole: boolean, sha: string | null, decoded: Buffer | null): void {
    let body: Buffer;
    let complete: boolean;
    if (decoded) {
      complete = decoded.length <= this.maxObject;
      body = complete ? decoded : decoded.subarray(0, this.maxObject);
    } else {
      body = h.kept.length === 1 ? h.kept[0] : Buffer.concat(h.kept, h.keptLen);
      if (body.length > this.maxObject) body = body.subarray(0, this.maxObject);
      complete = whole && sha !== null && !h.keptCut;
    }
    this.onObject!({
      transDepth: tx?.depth ?? 0,
      dir: h.dir,
      contentType: h.contentType,
      contentEncoding: h.contentEncoding,
      uri: tx?.uri ?? null,
      host: tx?.host ?? null,
      body,
      sha256: complete && sha !== null ? sha : sha256Hex(body),
      complete,
    });
  }

  // ---- transactions and rows ----

  /** The current message of `h` is complete (or given up): mark its side done and write what is ready. */
  private messageDone(h: Half): void {
    const tx = h.tx;
    h.tx = null;
    h.state = S_START;
    h.info = false;
    if (!tx) return;
    if (h.dir === 0) {
      tx.reqDone = true;
      // Bytes sent after a CONNECT before the proxy answers belong to the tunnel.
      if (tx.method === 'CONNECT' && !tx.respDone) h.state = S_IGNORE;
    } else {
      tx.respDone = true;
      // A CONNECT that was refused: the client goes on speaking HTTP.
      const client = this.halves[0];
      if (tx.method === 'CONNECT' && client.state === S_IGNORE) client.state = S_START;
      if (tx.orphan) {
        this.emit(tx);
        return;
      }
    }
    this.emitReady();
  }

  private emitReady(): void {
    while (this.pending.length > 0 && this.pending[0].reqDone && this.pending[0].respDone) this.emit(this.pending.shift()!);
  }

  private emit(tx: Tx): void {
    if (tx.emitted) return;
    tx.emitted = true;
    if (tx.orphan) this.sink.anomaly('http_unmatched_response', `status ${tx.status ?? '?'}`);
    this.sink.emit(HTTP, {
      ts: tx.ts,
      trans_depth: tx.depth,
      method: tx.method,
      host: tx.host,
      uri: tx.uri,
      referrer: tx.referrer,
      version: tx.respVersion ?? tx.version,
      user_agent: tx.userAgent,
      origin: tx.origin,
      request_body_len: tx.reqBodyLen,
      response_body_len: tx.respBodyLen,
      status_code: tx.status,
      status_msg: tx.statusMsg,
      username: tx.username,
      password_seen: tx.passwordSeen,
      request_content_type: tx.reqContentType,
      response_content_type: tx.respContentType,
      response_content_encoding: tx.respContentEncoding,
      request_sha256: tx.reqSha,
      response_sha256: tx.respSha,
      request_packet: tx.reqPacket,
      response_packet: tx.respPacket,
    });
    if (tx.username !== null && tx.reqPacket !== null) {
      const s = tx.status;
      this.sink.emit(CREDENTIALS, {
        ts: tx.ts,
        service: 'http',
        username: tx.username,
        password: tx.password,
        success: s === null ? null : s >= 200 && s < 400 ? true : s === 401 || s === 403 ? false : null,
        packet_no: tx.reqPacket,
      });
    }
  }

  /**
   * Ends whatever message `h` is in. At the end of the connection a body read to the close is
   * complete; anything else cut short is incomplete (its hash NULL).
   */
  private closeHalf(h: Half, atEnd: boolean): void {
    const tx = h.tx;
    switch (h.state) {
      case S_HEADERS:
        if (tx && !h.info) {
          this.applyHeaders(h, tx);
          this.messageDone(h);
        }
        break;
      case S_BODY:
      case S_CHUNK_SIZE:
      case S_CHUNK_DATA:
      case S_CHUNK_END:
        this.finishBody(h, false);
        this.messageDone(h);
        break;
      case S_UNTIL_CLOSE:
        this.finishBody(h, atEnd);
        this.messageDone(h);
        break;
      case S_TRAILERS:
        this.messageDone(h);
        break;
    }
    h.state = S_DEAD;
    h.tx = null;
    h.clearLine();
  }

  /** Stops parsing: messages in progress end incomplete, every transaction still held is written. */
  private stop(): void {
    if (this.stopped) return;
    this.closeHalf(this.halves[0], false);
    this.closeHalf(this.halves[1], false);
    this.flush();
  }

  private flush(): void {
    this.stopped = true;
    for (const h of this.halves) h.state = S_DEAD;
    while (this.pending.length > 0) this.emit(this.pending.shift()!);
  }
}

/** Starts an HTTP/1.x parser for one TCP connection. */
export function createHttp(sink: AppSink, opts?: HttpOptions): StreamParser {
  return new HttpParser(sink, opts);
}
