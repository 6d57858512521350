/**
 * Clear-text logins of FTP (RFC 959), POP3 (RFC 1939, AUTH RFC 5034), IMAP (RFC 9051/3501), SMTP
 * AUTH (RFC 4954) and Telnet, written to the `credentials` table: one row per attempt, with the
 * verdict of the server's reply when one is seen (NULL when the connection ends first). Also the
 * cheap first-bytes detector the dispatcher uses on any port (`detectCleartext`).
 *
 * Every protocol shares one line splitter per direction (CRLF or LF; Telnet also ends lines at a
 * bare CR) with a 4 KiB line cap, so a connection keeps at most a few KiB whatever it is sent.
 * Replies are matched to commands in order (FTP, POP3, SMTP: a bounded queue, so pipelined
 * brute-force attempts each get their own verdict) or by tag (IMAP). SASL PLAIN, LOGIN,
 * XOAUTH2 and OAUTHBEARER (RFC 7628; the bearer token is kept as the password: it is the
 * credential sent), CRAM-MD5 and NTLM (user only: the password never crosses the wire) are
 * decoded for POP3, IMAP and SMTP; other mechanisms (SCRAM, GSSAPI...) are skipped.
 *
 * Deliberate differences from the peers:
 * - Zeek's ftp.log repeats the session's current USER/PASS on every command row and its default
 *   logs have no POP3/IMAP/SMTP passwords; Wireshark's credentials tap names the packets, keeps
 *   no verdict and does not decode AUTH PLAIN. Here every
 *   attempt is a row (brute force is counted from them), including a USER the server rejected
 *   before any PASS (password NULL) and a PASS whose USER is outside the capture (username NULL).
 * - A row's ts/packet_no are those of the packet that completed the line carrying the password
 *   (or the username when there is none); success comes from the reply to that command.
 * - POP3/IMAP/SMTP connections are given up after a successful login, STARTTLS/STLS, an IMAP
 *   PREAUTH greeting, or (SMTP) the start of a mail transaction: RFC 4954 forbids AUTH after a
 *   successful one and clients never authenticate after DATA, so message bodies are never split
 *   into lines. FTP control connections are read to the end (more USER commands may follow)
 *   unless AUTH TLS is accepted (234).
 * - Telnet has no protocol for logins; the heuristic (like NetworkMiner and Ettercap) takes the
 *   client's next line after a server prompt ending in "login:", "username:", "user name:" or
 *   "user:" as the username, and after "password:"/"passwd:"/"passcode:" as the password, with
 *   backspace/DEL/^U applied and other control bytes dropped. The verdict is false when a later
 *   server line says "incorrect", "failed", "failure", "denied" or "invalid", or a new prompt asks
 *   again; true on a "Last login" line or when the server's line ends in a shell prompt character
 *   ($ # > %) at the client's next keystroke; otherwise NULL. Telnet connections are read to the
 *   end, so later su/passwd prompts give more rows.
 * - Text is decoded as UTF-8 when it is valid UTF-8, else byte for byte (latin1), so that no byte
 *   of a password is lost.
 */
import { isUtf8 } from 'node:buffer';
import { CREDENTIALS } from '../../common/fields.js';
import type { CREDENTIAL_SERVICE_VALUES } from '../../common/fields.js';
import type { AppSink, Dir, StreamParser } from './types.js';
import { ntlmAuthenticate, ntlmUserName } from './ntlm.js';

/**
 * Longest line kept, counted in bytes up to the LF (a CR included). RFC 5321 limits SMTP command
 * lines to 512 bytes and RFC 959 sets no limit; 4 KiB leaves room for long SASL responses (e.g.
 * XOAUTH2 tokens) while bounding what a connection can make us keep. Longer lines are skipped
 * (`line_too_long`).
 */
export const MAX_LINE = 4096;
/** Largest IMAP literal kept as a LOGIN argument; larger literals are skipped unread. */
export const MAX_LITERAL = 1024;
/** Arguments kept of an IMAP LOGIN (it has two); a longer one is not a login we can read. */
const MAX_LOGIN_ARGS = 4;
/** Commands waiting for their reply (pipelining); beyond this the oldest is forgotten. */
export const MAX_PENDING = 32;
/** Login attempts waiting for a verdict; beyond this the oldest is written with success NULL. */
export const MAX_OPEN_ATTEMPTS = 16;
/** Too-long lines after which a connection is given up on: it is not a line protocol. */
export const MAX_LONG_LINES = 8;
/** Lines read without recognising the protocol (greeting or login command) before giving up. */
export const MAX_UNCONFIRMED_LINES = 32;
/** Telnet subnegotiation bytes skipped before an unterminated IAC SB is abandoned. */
export const MAX_SUBNEGOTIATION = 4096;

type Service = (typeof CREDENTIAL_SERVICE_VALUES)[number];
export type CleartextKind = 'ftp' | 'pop3' | 'imap' | 'smtp' | 'telnet';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

// ---------------------------------------------------------------------------------------------
// Text helpers

function latin1(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
}

/** Bytes as text: UTF-8 when valid, else one character per byte (lossless). */
function text(b: Uint8Array, s: number, e: number): string {
  const v = Buffer.from(b.buffer, b.byteOffset + s, e - s);
  return v.toString(isUtf8(v) ? 'utf8' : 'latin1');
}

/** End of the first space-separated word of `b[s, e)`. */
function wordEnd(b: Uint8Array, s: number, e: number): number {
  let i = s;
  while (i < e && b[i] !== SP) i++;
  return i;
}

/** The word `b[s, e)` in upper case, or '' when it is too long to be a command. */
function upperWord(b: Uint8Array, s: number, e: number): string {
  return e - s > 16 ? '' : latin1(b, s, e).toUpperCase();
}

/** Start of the argument after the word ending at `w` (one space), or `e`. */
function argStart(w: number, e: number): number {
  return w < e ? w + 1 : e;
}

function isB64Char(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
}

/** Strict base64 (padding optional, "=" alone is the empty response); null when not base64. */
export function decodeBase64(b: Uint8Array, s: number, e: number): Buffer | null {
  while (s < e && b[s] === SP) s++;
  while (e > s && b[e - 1] === SP) e--;
  if (e - s === 1 && b[s] === 0x3d) return Buffer.alloc(0);
  let i = s;
  while (i < e && isB64Char(b[i])) i++;
  const data = i - s;
  let pad = 0;
  while (i < e && b[i] === 0x3d && pad < 2) {
    i++;
    pad++;
  }
  if (i !== e || data === 0) return null;
  if (pad > 0 ? (data + pad) % 4 !== 0 : data % 4 === 1) return null;
  return Buffer.from(latin1(b, s, s + data), 'base64');
}

// ---------------------------------------------------------------------------------------------
// Line splitting

interface SplitterHooks {
  line(b: Uint8Array, s: number, e: number): void;
  tooLong(): void;
  /** Bytes of a literal announced with expectRaw (IMAP), in pieces. */
  raw(b: Uint8Array, s: number, e: number): void;
  /** The literal is complete; `lost` when a gap took some of it. */
  rawEnd(lost: boolean): void;
}

/**
 * Splits one direction's bytes into lines without the terminator. A line wholly inside one call is
 * handed over in place; only a line cut by a call boundary is copied (into one MAX_LINE buffer).
 * `crEnds`: a bare CR also ends a line, and a LF or NUL right after it is dropped (Telnet's
 * CR LF / CR NUL). `wrap`: instead of skipping a line longer than MAX_LINE, keep its last
 * MAX_LINE-sized piece (Telnet server output, where long lines are normal).
 */
class LineSplitter {
  private buf: Uint8Array | null = null;
  private len = 0;
  /** Discarding up to the next line end (after a too-long line or a gap). */
  private skipping = false;
  private afterCr = false;
  private rawLeft = 0;
  private rawLost = false;
  /** Bumped at every line end or wrap: tells positions of the partial line of different lines apart. */
  serial = 0;
  stopped = false;

  constructor(
    private readonly hooks: SplitterHooks,
    private readonly crEnds: boolean,
    private readonly wrap: boolean,
  ) {}

  push(b: Uint8Array, start: number, end: number): void {
    let i = start;
    while (i < end && !this.stopped) {
      if (this.rawLeft > 0) {
        const n = Math.min(this.rawLeft, end - i);
        this.hooks.raw(b, i, i + n);
        this.rawLeft -= n;
        i += n;
        if (this.rawLeft === 0) this.endRaw();
        continue;
      }
      if (this.afterCr) {
        this.afterCr = false;
        if (b[i] === LF || b[i] === 0) {
          i++;
          continue;
        }
      }
      const j = this.findEnd(b, i, end);
      if (j < 0) {
        if (!this.skipping) this.append(b, i, end);
        return;
      }
      if (b[j] === CR) this.afterCr = true;
      this.complete(b, i, j);
      i = j + 1;
    }
  }

  /** `len` bytes were never captured: drop the partial line and skip to the next line end. */
  gap(len: number): void {
    this.afterCr = false;
    if (this.rawLeft > 0) {
      this.rawLost = true;
      if (len < this.rawLeft) {
        this.rawLeft -= len;
        return;
      }
      len -= this.rawLeft;
      this.rawLeft = 0;
      this.endRaw();
      if (len === 0) return;
    }
    this.len = 0;
    this.skipping = true;
    this.serial++;
  }

  /** The next `n` bytes are a literal, not lines. False (nothing changes) when mid-line. */
  expectRaw(n: number): boolean {
    if (this.len > 0 || this.skipping || n <= 0) return false;
    this.rawLeft = n;
    this.rawLost = false;
    return true;
  }

  /** The line received so far (valid until the next push). */
  get partialLen(): number {
    return this.skipping ? 0 : this.len;
  }
  get partialBuf(): Uint8Array | null {
    return this.buf;
  }

  private findEnd(b: Uint8Array, i: number, end: number): number {
    if (this.crEnds) {
      for (; i < end; i++) if (b[i] === LF || b[i] === CR) return i;
      return -1;
    }
    for (; i < end; i++) if (b[i] === LF) return i;
    return -1;
  }

  private complete(b: Uint8Array, i: number, j: number): void {
    if (this.skipping) {
      this.skipping = false;
      this.len = 0;
      this.serial++;
      return;
    }
    let src = b;
    let s = i;
    let e = j;
    if (this.len > 0) {
      if (!this.append(b, i, j)) {
        this.skipping = false;
        this.serial++;
        return;
      }
      src = this.buf!;
      s = 0;
      e = this.len;
    } else if (j - i > MAX_LINE) {
      if (!this.wrap) {
        this.serial++;
        this.hooks.tooLong();
        return;
      }
      // the same last piece the buffered path keeps
      s = i + MAX_LINE * Math.floor((j - i - 1) / MAX_LINE);
    }
    this.len = 0;
    this.serial++;
    if (!this.crEnds && e > s && src[e - 1] === CR) e--;
    this.hooks.line(src, s, e);
  }

  /** Adds to the partial line; false (and skipping) when it grew past MAX_LINE without `wrap`. */
  private append(b: Uint8Array, i: number, j: number): boolean {
    let n = j - i;
    if (!this.wrap && this.len + n > MAX_LINE) {
      this.len = 0;
      this.skipping = true;
      this.hooks.tooLong();
      return false;
    }
    const buf = (this.buf ??= new Uint8Array(MAX_LINE));
    while (n > 0) {
      if (this.len === MAX_LINE) {
        this.len = 0;
        this.serial++;
      }
      const k = Math.min(n, MAX_LINE - this.len);
      buf.set(b.subarray(i, i + k), this.len);
      this.len += k;
      i += k;
      n -= k;
    }
    return true;
  }

  private endRaw(): void {
    const lost = this.rawLost;
    this.rawLost = false;
    this.hooks.rawEnd(lost);
  }
}

// ---------------------------------------------------------------------------------------------
// Attempts, SASL and the shared parser skeleton

interface Attempt {
  username: string | null;
  password: string | null;
  sec: number;
  ns: number;
  packetNo: number;
  emitted: boolean;
}

/** A SASL exchange (RFC 4422) of POP3 AUTH, IMAP AUTHENTICATE or SMTP AUTH. */
class Sasl {
  attempt: Attempt | null = null;
  /** LOGIN: responses seen so far (the first is the username). */
  step = 0;
  /** LOGIN: what the server's last challenge asked for, when its text says. */
  asks: 'user' | 'pass' | null = null;
  constructor(readonly mech: string) {}
}

abstract class LoginParser implements StreamParser {
  done = false;
  /** Set with done when STARTTLS/STLS/AUTH TLS was accepted: the rest of the stream is TLS. */
  upgrade: 'ssl' | null = null;
  protected readonly client: LineSplitter;
  protected readonly server: LineSplitter;
  private readonly open: Attempt[] = [];
  protected confirmed = false;
  private unconfirmedLines = 0;
  private longLines = 0;

  constructor(
    protected readonly sink: AppSink,
    private readonly service: Service,
    telnet = false,
  ) {
    this.client = new LineSplitter(this.hooks(0), telnet, false);
    this.server = new LineSplitter(this.hooks(1), telnet, telnet);
  }

  data(dir: Dir, bytes: Uint8Array, start: number, end: number): void {
    if (this.done || start >= end) return;
    this.feed(dir, bytes, start, end);
  }

  gap(dir: Dir, len: number): void {
    if (this.done) return;
    (dir === 0 ? this.client : this.server).gap(len);
    this.afterGap(dir);
  }

  end(): void {
    if (this.done) return;
    this.beforeEnd();
    this.stop();
  }

  protected feed(dir: Dir, b: Uint8Array, s: number, e: number): void {
    (dir === 0 ? this.client : this.server).push(b, s, e);
  }

  protected abstract clientLine(b: Uint8Array, s: number, e: number): void;
  protected abstract serverLine(b: Uint8Array, s: number, e: number): void;
  protected afterGap(_dir: Dir): void {}
  protected beforeEnd(): void {}
  protected clientRaw(_b: Uint8Array, _s: number, _e: number): void {}
  protected clientRawEnd(_lost: boolean): void {}
  /** Telnet needs no confirmation: it may have no negotiation at all. */
  protected get needsConfirmation(): boolean {
    return true;
  }

  private hooks(dir: Dir): SplitterHooks {
    return {
      line: (b, s, e) => this.onLine(dir, b, s, e),
      tooLong: () => this.onTooLong(dir),
      raw: (b, s, e) => {
        if (dir === 0) this.clientRaw(b, s, e);
      },
      rawEnd: (lost) => {
        if (dir === 0) this.clientRawEnd(lost);
      },
    };
  }

  private onLine(dir: Dir, b: Uint8Array, s: number, e: number): void {
    if (this.done) return;
    if (!this.confirmed && this.needsConfirmation && ++this.unconfirmedLines > MAX_UNCONFIRMED_LINES) {
      this.stop(); // nothing so far looked like this protocol
      return;
    }
    if (dir === 0) this.clientLine(b, s, e);
    else this.serverLine(b, s, e);
  }

  private onTooLong(dir: Dir): void {
    this.sink.anomaly('line_too_long', `${this.service} ${dir === 0 ? 'client' : 'server'} line longer than ${MAX_LINE} bytes`);
    if (++this.longLines >= MAX_LONG_LINES) this.stop();
  }

  /** Names the connection's service once the protocol has shown itself. */
  protected confirm(): void {
    if (this.confirmed) return;
    this.confirmed = true;
    this.sink.service(this.service);
  }

  /** The server accepted a switch to TLS: stop, and ask the ingest to go on with the TLS parser. */
  protected startTls(): void {
    this.upgrade = 'ssl';
    this.stop();
  }

  /** Writes what is pending and reads no more of this connection. */
  protected stop(): void {
    while (this.open.length > 0) this.finish(this.open[0], null);
    this.done = true;
    this.client.stopped = true;
    this.server.stopped = true;
  }

  protected newAttempt(username: string | null, password: string | null): Attempt {
    const s = this.sink;
    const a: Attempt = { username, password, sec: s.tsSec, ns: s.tsNs, packetNo: s.packetNo, emitted: false };
    this.open.push(a);
    if (this.open.length > MAX_OPEN_ATTEMPTS) this.finish(this.open[0], null);
    return a;
  }

  /** The row's time and frame become those of the packet that carried the password. */
  protected setPassword(a: Attempt, password: string): void {
    const s = this.sink;
    a.password = password;
    a.sec = s.tsSec;
    a.ns = s.tsNs;
    a.packetNo = s.packetNo;
  }

  protected finish(a: Attempt | null, success: boolean | null): void {
    if (a === null || a.emitted) return;
    a.emitted = true;
    const k = this.open.indexOf(a);
    if (k >= 0) this.open.splice(k, 1);
    this.sink.emit(CREDENTIALS, {
      ts: { sec: a.sec, ns: a.ns },
      service: this.service,
      username: a.username,
      password: a.password,
      success,
      packet_no: a.packetNo,
    });
  }

  // --- SASL (shared by POP3, IMAP, SMTP)

  /** Starts an exchange; `b[s, e)` is the initial response (SASL-IR) when s < e. */
  protected saslStart(mech: string, b: Uint8Array, s: number, e: number): Sasl {
    const x = new Sasl(mech);
    if (s < e) this.saslResponse(x, b, s, e);
    return x;
  }

  /** A server challenge (base64 text in `b[s, e)`); LOGIN challenges say what they ask for. */
  protected saslChallenge(x: Sasl, b: Uint8Array, s: number, e: number): void {
    if (x.mech !== 'LOGIN') return;
    const d = decodeBase64(b, s, e);
    const t = (d !== null ? d.toString('latin1') : latin1(b, s, e)).toLowerCase();
    x.asks = t.includes('pass') ? 'pass' : t.includes('user') || t.includes('name') ? 'user' : null;
  }

  /** The server's challenge (334 / "+") made the next client line a SASL response. */
  protected saslTurn = false;

  /**
   * Ends the client's turn: when it was one and `x` is the exchange under way, the line is its
   * SASL response (returns true).
   */
  protected answerChallenge(x: Sasl | null | undefined, b: Uint8Array, s: number, e: number): boolean {
    const turn = this.saslTurn;
    this.saslTurn = false;
    if (!turn || x === null || x === undefined) return false;
    this.saslResponse(x, b, s, e);
    return true;
  }

  /** One client response line of the exchange ("*" cancels it). */
  protected saslResponse(x: Sasl, b: Uint8Array, s: number, e: number): void {
    if (e - s === 1 && b[s] === 0x2a) return;
    const d = decodeBase64(b, s, e);
    if (d === null) return;
    switch (x.mech) {
      case 'PLAIN':
        this.saslPlain(x, d);
        break;
      case 'LOGIN':
        this.saslLogin(x, d);
        break;
      case 'CRAM-MD5':
        this.saslCramMd5(x, d);
        break;
      case 'XOAUTH2':
      case 'OAUTHBEARER':
        this.saslBearer(x, d);
        break;
      case 'NTLM':
        this.saslNtlm(x, d);
        break;
      default:
        break; // SCRAM, GSSAPI...: no clear-text credential to keep
    }
  }

  /**
   * XOAUTH2 ("user=U^Aauth=Bearer T^A^A") and OAUTHBEARER (RFC 7628: "n,a=U,^A...auth=Bearer T^A^A",
   * the user in the GS2 header with "=2C" and "=3D" escapes): the user and the bearer token.
   */
  private saslBearer(x: Sasl, d: Buffer): void {
    if (x.attempt !== null) return;
    const parts = d.toString('latin1').split('\x01');
    let user: string | null = null;
    let token: string | null = null;
    for (const [i, p] of parts.entries()) {
      if (i === 0 && x.mech === 'OAUTHBEARER') {
        const a = /(?:^|,)a=([^,]*)/.exec(p);
        if (a) user = a[1].replace(/=2C/gi, ',').replace(/=3D/gi, '=');
      } else if (p.startsWith('user=')) user = p.slice(5);
      else if (/^auth=/i.test(p)) token = p.slice(5).replace(/^bearer\s+/i, '');
    }
    if (user === null && token === null) return;
    // the parts were split as Latin-1: their bytes are decoded as text like every other credential
    const asText = (v: string | null) => (v === null ? null : text(Buffer.from(v, 'latin1'), 0, v.length));
    x.attempt = this.newAttempt(asText(user), asText(token));
  }

  /** NTLM: the NEGOTIATE message first, then the AUTHENTICATE message, which names the user. */
  private saslNtlm(x: Sasl, d: Buffer): void {
    if (x.attempt !== null) return;
    const login = ntlmAuthenticate(d);
    if (login !== null) x.attempt = this.newAttempt(ntlmUserName(login), null);
  }

  /** RFC 4616: authzid NUL authcid NUL passwd. */
  private saslPlain(x: Sasl, d: Buffer): void {
    if (x.attempt !== null) return;
    const n1 = d.indexOf(0);
    const n2 = n1 < 0 ? -1 : d.indexOf(0, n1 + 1);
    if (n2 < 0) return;
    const authcid = n2 > n1 + 1 ? text(d, n1 + 1, n2) : n1 > 0 ? text(d, 0, n1) : null;
    x.attempt = this.newAttempt(authcid, text(d, n2 + 1, d.length));
  }

  /** The LOGIN mechanism: base64 username, then base64 password, each answering a challenge. */
  private saslLogin(x: Sasl, d: Buffer): void {
    const field = x.asks ?? (x.step === 0 ? 'user' : 'pass');
    x.step++;
    x.asks = null;
    const v = text(d, 0, d.length);
    if (field === 'user') {
      if (x.attempt === null) x.attempt = this.newAttempt(v, null);
      else if (x.attempt.password === null) x.attempt.username = v;
    } else if (x.attempt === null) x.attempt = this.newAttempt(null, v);
    else if (x.attempt.password === null) this.setPassword(x.attempt, v);
  }

  /** RFC 2195: "username SP hex-digest"; the password itself never crosses the wire. */
  private saslCramMd5(x: Sasl, d: Buffer): void {
    if (x.attempt !== null) return;
    const sp = d.lastIndexOf(SP);
    if (sp > 0) x.attempt = this.newAttempt(text(d, 0, sp), null);
  }
}

// ---------------------------------------------------------------------------------------------
// Reply codes and the command queue (FTP, POP3, SMTP)

/** "ddd" at the start of a line, followed by SP, "-" or the end; -1 otherwise. */
function replyCode(b: Uint8Array, s: number, e: number): number {
  if (e - s < 3) return -1;
  const c0 = b[s] - 0x30;
  const c1 = b[s + 1] - 0x30;
  const c2 = b[s + 2] - 0x30;
  if (c0 < 1 || c0 > 5 || c1 < 0 || c1 > 9 || c2 < 0 || c2 > 9) return -1;
  if (s + 3 < e && b[s + 3] !== SP && b[s + 3] !== 0x2d) return -1;
  return c0 * 100 + c1 * 10 + c2;
}

/** Multi-line replies (RFC 959 4.2, RFC 5321 4.2.1): "ddd-" lines up to a "ddd " line. */
class ReplyReader {
  private multi = -1;

  /** The code when this line ends a reply, else -1 (continuation line or not a reply). */
  final(b: Uint8Array, s: number, e: number): number {
    const code = replyCode(b, s, e);
    const dash = code >= 0 && s + 3 < e && b[s + 3] === 0x2d;
    if (this.multi >= 0) {
      if (code !== this.multi || dash) return -1;
      this.multi = -1;
      return code;
    }
    if (code < 0) return -1;
    if (dash) {
      this.multi = code;
      return -1;
    }
    return code;
  }
}

type Kind = 'user' | 'pass' | 'acct' | 'apop' | 'auth' | 'tls' | 'other';

interface Pending {
  kind: Kind;
  attempt: Attempt | null;
  sasl: Sasl | null;
}

/** Commands awaiting their reply, oldest first; replies come back in command order. */
class CommandQueue {
  private readonly q: Pending[] = [];

  push(kind: Kind, attempt: Attempt | null = null, sasl: Sasl | null = null): void {
    this.q.push({ kind, attempt, sasl });
    if (this.q.length > MAX_PENDING) this.q.shift();
  }
  head(): Pending | undefined {
    return this.q[0];
  }
  pop(): Pending | undefined {
    return this.q.shift();
  }
  clear(): void {
    this.q.length = 0;
  }
  get length(): number {
    return this.q.length;
  }
}

/** 2xx accepted, 4xx/5xx refused, 1xx/3xx: not decided yet. */
function codeVerdict(code: number): boolean | undefined {
  if (code >= 200 && code < 300) return true;
  if (code >= 400) return false;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// FTP

class FtpParser extends LoginParser {
  private readonly queue = new CommandQueue();
  private readonly replies = new ReplyReader();
  /** The attempt the last USER opened, waiting for its PASS. */
  private current: Attempt | null = null;
  private lastUser: string | null = null;

  constructor(sink: AppSink) {
    super(sink, 'ftp');
  }

  protected clientLine(b: Uint8Array, s: number, e: number): void {
    const w = wordEnd(b, s, e);
    const a = argStart(w, e);
    switch (upperWord(b, s, w)) {
      case 'USER': {
        this.confirm();
        this.lastUser = text(b, a, e);
        this.current = this.newAttempt(this.lastUser, null);
        this.queue.push('user', this.current);
        break;
      }
      case 'PASS': {
        this.confirm();
        const c = this.current;
        const at = c !== null && !c.emitted && c.password === null ? c : this.newAttempt(this.lastUser, null);
        this.setPassword(at, text(b, a, e));
        this.current = at;
        this.queue.push('pass', at);
        break;
      }
      case 'ACCT':
        this.queue.push('acct', this.current);
        break;
      case 'AUTH': {
        // RFC 4217: AUTH TLS/SSL answered 234 turns the control connection into TLS
        const mech = upperWord(b, a, e);
        this.queue.push(mech.startsWith('TLS') || mech === 'SSL' ? 'tls' : 'other');
        break;
      }
      default:
        this.queue.push('other');
    }
  }

  protected serverLine(b: Uint8Array, s: number, e: number): void {
    const code = this.replies.final(b, s, e);
    if (code < 200) return; // not a reply, a continuation, or a 1xx preliminary reply
    const p = this.queue.pop();
    if (p === undefined) {
      if (code === 220) this.confirm(); // the greeting
      return;
    }
    const v = codeVerdict(code);
    switch (p.kind) {
      case 'user':
      case 'pass':
      case 'acct':
        // 331/332 after USER or PASS: the login goes on (PASS, ACCT)
        if (v !== undefined) this.finish(p.attempt, v);
        break;
      case 'tls':
        if (code === 234) this.startTls();
        break;
      default:
        break;
    }
  }

  protected override afterGap(): void {
    this.queue.clear(); // a lost command or reply would shift every verdict after it
  }
}

// ---------------------------------------------------------------------------------------------
// POP3

/** +OK: 1, -ERR: 0, "+ " continuation: 2, anything else (multi-line data): -1. */
function popStatus(b: Uint8Array, s: number, e: number): number {
  if (e - s >= 3 && b[s] === 0x2b && (b[s + 1] | 0x20) === 0x6f && (b[s + 2] | 0x20) === 0x6b) return 1;
  if (e - s >= 4 && b[s] === 0x2d && upperWord(b, s + 1, s + 4) === 'ERR') return 0;
  if (e > s && b[s] === 0x2b && (e - s === 1 || b[s + 1] === SP)) return 2;
  return -1;
}

class Pop3Parser extends LoginParser {
  private readonly queue = new CommandQueue();
  private current: Attempt | null = null;
  private lastUser: string | null = null;
  private greeted = false;

  constructor(sink: AppSink) {
    super(sink, 'pop3');
  }

  protected clientLine(b: Uint8Array, s: number, e: number): void {
    if (this.answerChallenge(this.queue.head()?.sasl, b, s, e)) return;
    const w = wordEnd(b, s, e);
    const a = argStart(w, e);
    switch (upperWord(b, s, w)) {
      case 'USER':
        this.confirm();
        this.lastUser = text(b, a, e);
        this.current = this.newAttempt(this.lastUser, null);
        this.queue.push('user', this.current);
        break;
      case 'PASS': {
        this.confirm();
        const c = this.current;
        const at = c !== null && !c.emitted && c.password === null ? c : this.newAttempt(this.lastUser, null);
        this.setPassword(at, text(b, a, e));
        this.current = at;
        this.queue.push('pass', at);
        break;
      }
      case 'APOP': {
        // "APOP name digest": the digest is MD5(timestamp + secret), not the password
        this.confirm();
        let sp = e;
        while (sp > a && b[sp - 1] !== SP) sp--;
        const name = sp > a ? text(b, a, sp - 1) : text(b, a, e);
        this.queue.push('apop', this.newAttempt(name, null));
        break;
      }
      case 'AUTH': {
        const mw = wordEnd(b, a, e);
        if (mw === a) {
          this.queue.push('other'); // bare AUTH lists the mechanisms
          break;
        }
        this.confirm();
        this.queue.push('auth', null, this.saslStart(upperWord(b, a, mw), b, argStart(mw, e), e));
        break;
      }
      case 'STLS':
        this.queue.push('tls');
        break;
      case 'CAPA':
        this.confirm();
        this.queue.push('other');
        break;
      default:
        this.queue.push('other');
    }
  }

  protected serverLine(b: Uint8Array, s: number, e: number): void {
    const st = popStatus(b, s, e);
    if (st < 0) return;
    const h = this.queue.head();
    if (st === 2) {
      if (h !== undefined && h.kind === 'auth' && h.sasl !== null) {
        this.saslChallenge(h.sasl, b, Math.min(s + 2, e), e);
        this.saslTurn = true;
      }
      return;
    }
    if (h === undefined) {
      if (!this.greeted && st === 1) this.confirm();
      this.greeted = true;
      return;
    }
    this.greeted = true;
    this.queue.pop();
    this.saslTurn = false;
    const ok = st === 1;
    switch (h.kind) {
      case 'user':
        if (!ok) this.finish(h.attempt, false);
        break;
      case 'pass':
      case 'apop':
      case 'auth':
        this.finish(h.kind === 'auth' ? h.sasl!.attempt : h.attempt, ok);
        if (ok) this.stop(); // logged in: the rest is mail
        break;
      case 'tls':
        if (ok) this.startTls();
        break;
      default:
        break;
    }
  }

  protected override afterGap(): void {
    this.queue.clear();
    this.saslTurn = false;
  }
}

// ---------------------------------------------------------------------------------------------
// IMAP

interface Tagged {
  tag: string;
  kind: 'login' | 'auth' | 'tls';
  attempt: Attempt | null;
  sasl: Sasl | null;
}

/** A client command whose arguments continue after a literal. */
interface OpenCommand {
  tag: string;
  login: boolean;
  args: (string | null)[];
}

/** `{n}` / `{n+}` / `~{n}` ending `b[s, e)`: its size and where it starts, or null. */
function trailingLiteral(b: Uint8Array, s: number, e: number): { n: number; sync: boolean; at: number } | null {
  if (e - s < 3 || b[e - 1] !== 0x7d) return null;
  let i = e - 2;
  const sync = b[i] !== 0x2b;
  if (!sync) i--;
  let n = 0;
  let digits = 0;
  let mul = 1;
  for (; i >= s && b[i] >= 0x30 && b[i] <= 0x39; i--, digits++) {
    n += (b[i] - 0x30) * mul;
    mul *= 10;
  }
  if (digits === 0 || digits > 10 || i < s || b[i] !== 0x7b || n > 0xffffffff) return null;
  const at = i > s && b[i - 1] === 0x7e ? i - 1 : i;
  return { n, sync, at };
}

/** IMAP astrings of `b[s, e)`: atoms and quoted strings (with \" and \\ escapes). */
function imapArgs(b: Uint8Array, s: number, e: number, out: (string | null)[]): void {
  let i = s;
  while (i < e) {
    while (i < e && b[i] === SP) i++;
    if (i >= e) return;
    if (b[i] !== DQUOTE) {
      const j = wordEnd(b, i, e);
      out.push(text(b, i, j));
      i = j;
      continue;
    }
    const q = new Uint8Array(e - i);
    let n = 0;
    i++;
    while (i < e && b[i] !== DQUOTE) {
      if (b[i] === BACKSLASH && i + 1 < e) i++;
      q[n++] = b[i++];
    }
    out.push(text(q, 0, n));
    i++; // the closing quote (or past the end when it is missing)
  }
}

class ImapParser extends LoginParser {
  private readonly tags: Tagged[] = [];
  private cmd: OpenCommand | null = null;
  /** Size of a synchronizing literal waiting for the server's "+", or -1. */
  private litWait = -1;
  private lit: Uint8Array | null = null;
  private litLen = 0;
  private litKeep = false;
  /** The AUTHENTICATE in progress, and whether the server's "+" made it the client's turn. */
  private auth: Tagged | null = null;
  private greeted = false;

  constructor(sink: AppSink) {
    super(sink, 'imap');
  }

  protected clientLine(b: Uint8Array, s: number, e: number): void {
    if (this.litWait >= 0) {
      // the client went on without waiting for the "+": the literal never came as announced
      this.litWait = -1;
      this.cmd = null;
    }
    if (this.saslTurn && this.auth !== null) {
      this.saslTurn = false;
      this.saslResponse(this.auth.sasl!, b, s, e);
      return;
    }
    if (this.cmd !== null) {
      this.continueCommand(b, s, e);
      return;
    }
    const t = wordEnd(b, s, e);
    if (t === s || t >= e) return;
    const tag = latin1(b, s, t);
    const w = wordEnd(b, t + 1, e);
    const a = argStart(w, e);
    switch (upperWord(b, t + 1, w)) {
      case 'LOGIN':
        this.confirm();
        this.cmd = { tag, login: true, args: [] };
        this.continueCommand(b, a, e);
        return;
      case 'AUTHENTICATE': {
        this.confirm();
        const mw = wordEnd(b, a, e);
        const x = this.saslStart(upperWord(b, a, mw), b, argStart(mw, e), e);
        this.auth = this.track({ tag, kind: 'auth', attempt: null, sasl: x });
        return;
      }
      case 'STARTTLS':
        this.track({ tag, kind: 'tls', attempt: null, sasl: null });
        return;
      case 'CAPABILITY':
        this.confirm();
        break;
      default:
        break;
    }
    // other commands matter only for their literals, which must not be read as lines
    this.cmd = { tag, login: false, args: [] };
    this.continueCommand(b, a, e);
  }

  /** Arguments of the open command up to a trailing literal, or the end of the command. */
  private continueCommand(b: Uint8Array, s: number, e: number): void {
    const c = this.cmd!;
    const lit = trailingLiteral(b, s, e);
    if (c.login) imapArgs(b, s, lit !== null ? lit.at : e, c.args);
    if (c.args.length > MAX_LOGIN_ARGS) {
      // continuation after continuation: keep skipping its literals, keep nothing
      c.login = false;
      c.args.length = 0;
    }
    if (lit === null) {
      this.cmd = null;
      if (c.login) this.endLogin(c);
      return;
    }
    this.litKeep = c.login && lit.n <= MAX_LITERAL;
    this.litLen = 0;
    if (lit.sync) this.litWait = lit.n;
    else this.startLiteral(lit.n);
  }

  private startLiteral(n: number): void {
    if (n === 0) this.clientRawEnd(false);
    else if (!this.client.expectRaw(n)) this.cmd = null;
  }

  protected override clientRaw(b: Uint8Array, s: number, e: number): void {
    if (!this.litKeep) return;
    const buf = (this.lit ??= new Uint8Array(MAX_LITERAL));
    const n = Math.min(e - s, MAX_LITERAL - this.litLen);
    buf.set(b.subarray(s, s + n), this.litLen);
    this.litLen += n;
  }

  protected override clientRawEnd(lost: boolean): void {
    const c = this.cmd;
    if (c === null) return;
    if (c.login) {
      if (!this.litKeep) this.sink.anomaly('line_too_long', `imap LOGIN literal longer than ${MAX_LITERAL} bytes`);
      c.args.push(this.litKeep && !lost ? text(this.lit ?? new Uint8Array(0), 0, this.litLen) : null);
    }
    this.litKeep = false;
  }

  private endLogin(c: OpenCommand): void {
    if (c.args.length < 2 || (c.args[0] === null && c.args[1] === null)) return;
    this.track({ tag: c.tag, kind: 'login', attempt: this.newAttempt(c.args[0], c.args[1]), sasl: null });
  }

  private track(t: Tagged): Tagged {
    this.tags.push(t);
    if (this.tags.length > MAX_PENDING) this.tags.shift();
    return t;
  }

  protected serverLine(b: Uint8Array, s: number, e: number): void {
    if (e > s && b[s] === 0x2b && (e - s === 1 || b[s + 1] === SP)) {
      this.continuation(b, Math.min(s + 2, e), e);
      return;
    }
    const lit = trailingLiteral(b, s, e);
    if (lit !== null) this.server.expectRaw(lit.n); // server literals (FETCH bodies) are skipped
    const t = wordEnd(b, s, e);
    if (t === s || t >= e) return;
    const w = wordEnd(b, t + 1, e);
    const status = upperWord(b, t + 1, w);
    if (t - s === 1 && b[s] === 0x2a) {
      this.untagged(status);
      return;
    }
    if (status !== 'OK' && status !== 'NO' && status !== 'BAD') return;
    this.tagged(latin1(b, s, t), status === 'OK');
  }

  private continuation(b: Uint8Array, s: number, e: number): void {
    if (this.litWait >= 0) {
      const n = this.litWait;
      this.litWait = -1;
      this.startLiteral(n);
    } else if (this.auth !== null) {
      this.saslChallenge(this.auth.sasl!, b, s, e);
      this.saslTurn = true;
    }
  }

  private untagged(status: string): void {
    if (this.greeted) return;
    this.greeted = true;
    if (status === 'OK') this.confirm();
    else if (status === 'PREAUTH') {
      this.confirm();
      this.stop(); // already authenticated: no login will cross this connection
    }
  }

  private tagged(tag: string, ok: boolean): void {
    if (this.cmd !== null && this.cmd.tag === tag) {
      // the server refused a command whose literal it was asked to accept
      this.cmd = null;
      this.litWait = -1;
    }
    const k = this.tags.findIndex((x) => x.tag === tag);
    if (k < 0) return;
    const t = this.tags[k];
    this.tags.splice(k, 1);
    if (t === this.auth) {
      this.auth = null;
      this.saslTurn = false;
    }
    if (t.kind === 'tls') {
      if (ok) this.startTls();
      return;
    }
    this.finish(t.kind === 'auth' ? t.sasl!.attempt : t.attempt, ok);
    if (ok) this.stop();
  }

  protected override afterGap(dir: Dir): void {
    if (dir === 0) {
      this.cmd = null;
      this.litWait = -1;
    }
    this.saslTurn = false;
  }
}

// ---------------------------------------------------------------------------------------------
// SMTP

class SmtpParser extends LoginParser {
  private readonly queue = new CommandQueue();
  private readonly replies = new ReplyReader();
  private greeted = false;

  constructor(sink: AppSink) {
    super(sink, 'smtp');
  }

  protected clientLine(b: Uint8Array, s: number, e: number): void {
    if (this.answerChallenge(this.queue.head()?.sasl, b, s, e)) return;
    const w = wordEnd(b, s, e);
    const a = argStart(w, e);
    switch (upperWord(b, s, w)) {
      case 'EHLO':
      case 'HELO':
        this.confirm();
        this.queue.push('other');
        break;
      case 'AUTH': {
        this.confirm();
        const mw = wordEnd(b, a, e);
        this.queue.push('auth', null, this.saslStart(upperWord(b, a, mw), b, argStart(mw, e), e));
        break;
      }
      case 'STARTTLS':
        this.queue.push('tls');
        break;
      case 'DATA':
      case 'BDAT':
        // a mail transaction: no AUTH follows in practice, and the body is not ours to split
        this.stop();
        break;
      default:
        this.queue.push('other');
    }
  }

  protected serverLine(b: Uint8Array, s: number, e: number): void {
    const code = this.replies.final(b, s, e);
    if (code < 0) return;
    const h = this.queue.head();
    if (h === undefined) {
      if (!this.greeted && code === 220) this.confirm();
      this.greeted = true;
      return;
    }
    this.greeted = true;
    if (code === 334 && h.kind === 'auth' && h.sasl !== null) {
      this.saslChallenge(h.sasl, b, Math.min(s + 4, e), e);
      this.saslTurn = true;
      return;
    }
    this.queue.pop();
    this.saslTurn = false;
    if (h.kind === 'auth') {
      const v = codeVerdict(code);
      if (v !== undefined) this.finish(h.sasl!.attempt, v);
      if (v === true) this.stop();
    } else if (h.kind === 'tls' && code === 220) this.startTls();
  }

  protected override afterGap(): void {
    this.queue.clear();
    this.saslTurn = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Telnet

const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const WILL = 0xfb;
const IAC_DATA = Uint8Array.of(IAC);

const ST_DATA = 0;
const ST_IAC = 1;
const ST_OPTION = 2;
const ST_SUB = 3;
const ST_SUB_IAC = 4;

/**
 * Removes Telnet commands (RFC 854/855) from one direction: IAC IAC is a data 0xFF, IAC
 * WILL/WONT/DO/DONT take one option byte, IAC SB ... IAC SE is skipped (at most
 * MAX_SUBNEGOTIATION bytes), other IAC commands are two bytes. Data goes to the line splitter.
 */
class IacFilter {
  private state = ST_DATA;
  private subLen = 0;

  constructor(
    private readonly out: LineSplitter,
    private readonly onNegotiation: () => void,
  ) {}

  push(b: Uint8Array, s: number, e: number): void {
    let i = s;
    while (i < e) {
      switch (this.state) {
        case ST_DATA: {
          let j = i;
          while (j < e && b[j] !== IAC) j++;
          if (j > i) this.out.push(b, i, j);
          if (j < e) {
            this.state = ST_IAC;
            j++;
          }
          i = j;
          break;
        }
        case ST_IAC: {
          const c = b[i++];
          if (c === IAC) {
            this.out.push(IAC_DATA, 0, 1);
            this.state = ST_DATA;
          } else if (c >= WILL) {
            this.state = ST_OPTION;
            this.onNegotiation();
          } else if (c === SB) {
            this.state = ST_SUB;
            this.subLen = 0;
            this.onNegotiation();
          } else this.state = ST_DATA;
          break;
        }
        case ST_OPTION:
          i++;
          this.state = ST_DATA;
          break;
        case ST_SUB: {
          const stop = Math.min(e, i + (MAX_SUBNEGOTIATION - this.subLen));
          let j = i;
          while (j < stop && b[j] !== IAC) j++;
          this.subLen += j - i;
          i = j;
          if (j < stop) {
            i++;
            this.state = ST_SUB_IAC;
          } else if (this.subLen >= MAX_SUBNEGOTIATION) this.state = ST_DATA; // never terminated
          break;
        }
        default: {
          // ST_SUB_IAC: IAC SE ends, IAC IAC is data inside; anything else is a command after a
          // subnegotiation that was not terminated
          const c = b[i];
          if (c === SE) {
            i++;
            this.state = ST_DATA;
          } else if (c === IAC) {
            i++;
            this.subLen++;
            this.state = ST_SUB;
          } else this.state = ST_IAC;
        }
      }
    }
  }

  reset(): void {
    this.state = ST_DATA;
  }
}

const PROMPT_WORDS: readonly [string, 'user' | 'pass'][] = [
  ['password', 'pass'],
  ['passwd', 'pass'],
  ['passcode', 'pass'],
  ['username', 'user'],
  ['user name', 'user'],
  ['login', 'user'],
  ['user', 'user'],
];

const FAILURE_WORDS = ['incorrect', 'failed', 'failure', 'denied', 'invalid'];

function isLetterOrSpace(c: number): boolean {
  return c === SP || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
}

/** What a prompt asks for: the last colon in `b[from, len)` preceded by a prompt word. */
function promptKind(b: Uint8Array, from: number, len: number): 'user' | 'pass' | null {
  for (let p = len - 1; p >= from; p--) {
    if (b[p] !== 0x3a) continue;
    let q = p;
    while (q > from && p - q < 16 && isLetterOrSpace(b[q - 1])) q--;
    const w = latin1(b, q, p).trim().toLowerCase();
    for (const [word, kind] of PROMPT_WORDS) if (w.endsWith(word)) return kind;
  }
  return null;
}

/** The server's line ends (spaces aside) in a shell prompt character. */
function endsInShellPrompt(b: Uint8Array, len: number): boolean {
  let i = len;
  while (i > 0 && b[i - 1] === SP) i--;
  if (i === 0) return false;
  const c = b[i - 1];
  return c === 0x24 || c === 0x23 || c === 0x3e || c === 0x25;
}

class TelnetParser extends LoginParser {
  private readonly iac: [IacFilter, IacFilter];
  private cur: Attempt | null = null;
  /** A password was sent and the server has not said yet whether it worked. */
  private awaiting = false;
  /** Where in the server's partial line the last prompt was answered (serial, position). */
  private usedSerial = -1;
  private usedAt = 0;
  /** The password line's server serial: a shell prompt must come on a later line. */
  private passSerial = -1;
  private edit: Uint8Array | null = null;

  constructor(sink: AppSink) {
    super(sink, 'telnet', true);
    this.iac = [new IacFilter(this.client, () => this.confirm()), new IacFilter(this.server, () => this.confirm())];
  }

  protected override get needsConfirmation(): boolean {
    return false;
  }

  protected override feed(dir: Dir, b: Uint8Array, s: number, e: number): void {
    if (dir === 0) this.checkShellPrompt();
    this.iac[dir].push(b, s, e);
  }

  protected clientLine(b: Uint8Array, s: number, e: number): void {
    const srv = this.server;
    const buf = srv.partialBuf;
    const len = srv.partialLen;
    const from = srv.serial === this.usedSerial ? this.usedAt : 0;
    const kind = buf === null ? null : promptKind(buf, from, len);
    if (kind === null) return;
    this.usedSerial = srv.serial;
    this.usedAt = len;
    this.confirm();
    const line = this.typed(b, s, e);
    const c = this.cur !== null && !this.cur.emitted ? this.cur : null;
    if (kind === 'user') {
      if (line === '') return;
      // asked to log in again: a pending attempt with a password failed
      if (c !== null) this.finish(c, c.password !== null ? false : null);
      this.cur = this.newAttempt(line, null);
      this.awaiting = false;
      return;
    }
    if (c !== null && c.password === null) this.setPassword(c, line);
    else {
      // asked for a password again: the previous one was refused
      if (c !== null) this.finish(c, false);
      this.cur = this.newAttempt(c !== null ? c.username : null, line);
    }
    this.awaiting = true;
    this.passSerial = srv.serial;
  }

  /** The line as typed: BS/DEL remove a character, ^U the line, other control bytes are dropped. */
  private typed(b: Uint8Array, s: number, e: number): string {
    const out = (this.edit ??= new Uint8Array(MAX_LINE));
    let n = 0;
    for (let i = s; i < e; i++) {
      const c = b[i];
      if (c === 0x08 || c === 0x7f) {
        while (n > 0 && (out[n - 1] & 0xc0) === 0x80) n--; // a whole UTF-8 character
        if (n > 0) n--;
      } else if (c === 0x15) n = 0;
      else if (c >= 0x20 || c === 0x09) out[n++] = c;
    }
    return text(out, 0, n);
  }

  protected serverLine(b: Uint8Array, s: number, e: number): void {
    const c = this.cur;
    if (!this.awaiting || c === null || c.emitted) return;
    const t = latin1(b, s, Math.min(e, s + 256)).toLowerCase();
    if (FAILURE_WORDS.some((w) => t.includes(w))) this.verdict(false);
    else if (t.trimStart().startsWith('last login')) this.verdict(true);
  }

  private checkShellPrompt(): void {
    if (!this.awaiting || this.server.serial === this.passSerial) return;
    const buf = this.server.partialBuf;
    if (buf !== null && endsInShellPrompt(buf, this.server.partialLen)) this.verdict(true);
  }

  private verdict(ok: boolean): void {
    this.awaiting = false;
    this.finish(this.cur, ok);
  }

  protected override afterGap(dir: Dir): void {
    this.iac[dir].reset();
  }

  protected override beforeEnd(): void {
    this.checkShellPrompt();
  }
}

// ---------------------------------------------------------------------------------------------
// Factories and detection

export function createFtp(sink: AppSink): StreamParser {
  return new FtpParser(sink);
}
export function createPop3(sink: AppSink): StreamParser {
  return new Pop3Parser(sink);
}
export function createImap(sink: AppSink): StreamParser {
  return new ImapParser(sink);
}
export function createSmtp(sink: AppSink): StreamParser {
  return new SmtpParser(sink);
}
export function createTelnet(sink: AppSink): StreamParser {
  return new TelnetParser(sink);
}

/** How many first bytes the detector looks at. */
const DETECT_BYTES = 512;

/** The first line (or the first DETECT_BYTES) as latin1 text. */
function firstLine(b: Uint8Array, start: number, end: number): string {
  const stop = Math.min(end, start + DETECT_BYTES);
  let i = start;
  while (i < stop && b[i] !== CR && b[i] !== LF) i++;
  return latin1(b, start, i);
}

/** IAC WILL/WONT/DO/DONT with a registered option number (RFC 855 registry: below 50). */
function looksLikeTelnet(b: Uint8Array, start: number, end: number): boolean {
  return end - start >= 3 && b[start] === IAC && b[start + 1] >= WILL && b[start + 2] < 50;
}

const IMAP_CLIENT = /^[A-Za-z0-9._-]{1,32} (CAPABILITY|LOGIN|AUTHENTICATE|STARTTLS|ID|NOOP)( |$)/i;
/** First words that are FTP/POP3/SMTP commands, never IMAP tags ("USER login" is an FTP login). */
const NOT_IMAP_TAGS = new Set(['USER', 'PASS', 'APOP', 'AUTH', 'ACCT', 'HELO', 'EHLO', 'MAIL', 'RCPT', 'CAPA', 'STLS']);

/**
 * The protocol a connection's first payload shows, or null when unsure (the port then decides).
 * Server greetings: "+OK" POP3, "* OK"/"* PREAUTH" IMAP, "220" with "SMTP" (ESMTP) or "FTP" in
 * its text (neither or both: null), IAC negotiation Telnet. Client commands: EHLO/HELO SMTP,
 * CAPA/STLS/APOP POP3, AUTH TLS/SSL FTP, "tag CAPABILITY/LOGIN/..." IMAP. USER is both FTP and
 * POP3: it decides only with the server's first bytes (`serverFirst`: "220" FTP, "+OK" POP3).
 */
export function detectCleartext(dir: Dir, b: Uint8Array, start: number, end: number, serverFirst?: Uint8Array): CleartextKind | null {
  if (end <= start) return null;
  if (b[start] === IAC) return looksLikeTelnet(b, start, end) ? 'telnet' : null;
  const line = firstLine(b, start, end);
  if (dir === 1) {
    if (/^\+OK( |$)/i.test(line)) return 'pop3';
    if (/^\* (OK|PREAUTH)( |$)/i.test(line)) return 'imap';
    if (!/^220[ -]/.test(line)) return null;
    const t = line.toUpperCase();
    const smtp = t.includes('SMTP');
    const ftp = t.includes('FTP');
    return smtp === ftp ? null : smtp ? 'smtp' : 'ftp';
  }
  const cmd = (/^[A-Za-z]{4}(?= |$)/.exec(line)?.[0] ?? '').toUpperCase();
  if (cmd === 'EHLO' || cmd === 'HELO') return 'smtp';
  if (cmd === 'CAPA' || cmd === 'STLS' || cmd === 'APOP') return 'pop3';
  if (cmd === 'AUTH' && /^AUTH (TLS|SSL)/i.test(line)) return 'ftp';
  if (cmd === 'USER') {
    const srv = serverFirst !== undefined ? firstLine(serverFirst, 0, serverFirst.length) : '';
    return srv.startsWith('220') ? 'ftp' : /^\+OK/i.test(srv) ? 'pop3' : null;
  }
  if (IMAP_CLIENT.test(line) && !NOT_IMAP_TAGS.has(cmd)) return 'imap';
  return null;
}
