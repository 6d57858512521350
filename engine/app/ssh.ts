/**
 * SSH: identification lines, the two SSH_MSG_KEXINIT packets, HASSH fingerprints and the algorithms
 * both sides agree on. One `ssh` row per connection, like Zeek's ssh.log.
 *
 * Each direction goes through: identification line (RFC 4253 4.2; the server may send other lines
 * first) -> binary packets (RFC 4253 6) until its KEXINIT (RFC 4253 7.1). After both KEXINITs the
 * rest of the connection is encrypted, so the parser sets `done` and the ingest stops reassembling.
 *
 * Deliberate differences from Zeek:
 * - `mac_alg` is NULL when the agreed cipher is an AEAD one (chacha20-poly1305@openssh.com,
 *   *-gcm@openssh.com, AEAD_AES_*_GCM): the MAC list is not used then (RFC 5647, OpenSSH PROTOCOL).
 *   Zeek logs the MAC the lists would agree on (e.g. hmac-sha2-512-etm@openssh.com next to
 *   chacha20-poly1305@openssh.com in its curve25519 baseline).
 * - Agreed algorithms are client-to-server only (the columns say so); Zeek writes
 *   "To server: X, to client: Y" when the directions differ, and "Algorithm negotiation failed"
 *   where we write NULL.
 * - `version` with a single banner is that banner's version (2 for 2.0 and 1.99); Zeek leaves it
 *   unset. Banners that contradict each other (1.x against 2.0) give NULL (Zeek: 0).
 * - No authentication inference (Zeek's auth_success/auth_attempts from encrypted packet sizes)
 *   and no host key fingerprint: both need parsing past KEXINIT.
 * - `ts` is the time of the first byte of the first identification line (Zeek: the time the first
 *   line was complete).
 * - The client must start with "SSH-" (RFC 4253 allows other lines only from the server); Zeek
 *   takes whatever the first line is.
 */
import { createHash } from 'node:crypto';
import { SSH } from '../../common/fields.js';
import type { AppSink, Dir, StreamParser } from './types.js';

/** RFC 4253 4.2: an identification line is at most 255 bytes, CR LF included. */
const MAX_IDENT_LINE = 255;
/** Other lines a server may send before its identification line; more means this is not SSH. */
const MAX_PRE_IDENT_LINES = 16;
/** Bytes of such lines before giving up (bounds the work on streams that are not SSH). */
const MAX_PRE_IDENT_BYTES = 8192;
/**
 * RFC 4253 6.1: every implementation handles packets of 35000 bytes in total; before keys are
 * exchanged there is no reason to send more. This also caps the one packet buffer kept per side.
 */
const MAX_PACKET_LENGTH = 35000;
/** SSH_MSG_IGNORE/DEBUG/UNIMPLEMENTED packets tolerated before a KEXINIT. */
const MAX_PRE_KEX_PACKETS = 8;
/**
 * Bytes held while a side that announced "1.99" waits for its peer's banner to know whether it
 * speaks SSH-1 or SSH-2 framing: one largest packet.
 */
const MAX_HELD = MAX_PACKET_LENGTH + 4;

const MSG_DISCONNECT = 1;
const MSG_IGNORE = 2;
const MSG_UNIMPLEMENTED = 3;
const MSG_DEBUG = 4;
const MSG_KEXINIT = 20;

const PREFIX = [0x53, 0x53, 0x48, 0x2d]; // "SSH-"
const LF = 0x0a;
const CR = 0x0d;

/** Ciphers whose integrity is built in: the negotiated MAC is not used with them. */
const AEAD_CIPHERS = new Set([
  'chacha20-poly1305@openssh.com',
  'aes128-gcm@openssh.com',
  'aes256-gcm@openssh.com',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
]);

/** The fields of SSH_MSG_KEXINIT (RFC 4253 7.1); name-lists exactly as sent. */
export interface Kexinit {
  kex: string;
  hostKey: string;
  encC2s: string;
  encS2c: string;
  macC2s: string;
  macS2c: string;
  compC2s: string;
  compS2c: string;
  langC2s: string;
  langS2c: string;
  firstKexPacketFollows: boolean;
}

/** Protocol version classes of an identification line; Zeek's SSH1/SSH199/SSH2. */
export type ProtoClass = 'v1' | 'v199' | 'v2';

export interface Ident {
  /** protoversion, e.g. "2.0", or null when the line has no second '-' field. */
  proto: string | null;
  software: string | null;
  cls: ProtoClass | null;
  /** RFC 4253 form "SSH-<digits>.<digits>-<software>[ SP comments]". */
  wellFormed: boolean;
}

/** True when a stream starts with "SSH-": protocol detection on any port. */
export function looksLikeSsh(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 4) return false;
  return b[start] === 0x53 && b[start + 1] === 0x53 && b[start + 2] === 0x48 && b[start + 3] === 0x2d;
}

/** Splits an identification line (without CR LF) into protoversion and softwareversion. */
export function parseIdent(line: string): Ident {
  if (!line.startsWith('SSH-')) return { proto: null, software: null, cls: null, wellFormed: false };
  const dash = line.indexOf('-', 4);
  const proto = dash < 0 ? line.slice(4) : line.slice(4, dash);
  let software: string | null = null;
  if (dash >= 0) {
    const sp = line.indexOf(' ', dash + 1);
    software = sp < 0 ? line.slice(dash + 1) : line.slice(dash + 1, sp);
  }
  const cls = protoClass(proto);
  const wellFormed = /^\d+\.\d+$/.test(proto) && software !== null && software.length > 0;
  return { proto, software, cls, wellFormed };
}

function protoClass(proto: string): ProtoClass | null {
  if (proto === '1.99') return 'v199';
  if (proto.startsWith('2.')) return 'v2';
  if (proto.startsWith('1.')) return 'v1';
  return null;
}

/** SSH major version of a connection from its banners' classes, as Zeek's update_version decides. */
export function connectionVersion(client: ProtoClass | null, server: ProtoClass | null): number | null {
  if (client === null && server === null) return null;
  if (client === null || server === null) return (client ?? server) === 'v1' ? 1 : 2;
  if (client === server) return client === 'v1' ? 1 : 2;
  if (client === 'v199' || server === 'v199') return client === 'v1' || server === 'v1' ? 1 : 2;
  return null; // 1.x against 2.0: the connection cannot work
}

/**
 * Parses a KEXINIT payload: `b[start]` is the message number (20), `end` is the end of the payload
 * (padding excluded). Returns null when the fields run past `end` or a name-list holds bytes that
 * are not printable US-ASCII (RFC 4251 6: algorithm names are).
 */
export function parseKexinit(b: Uint8Array, start: number, end: number): Kexinit | null {
  if (start < 0 || end > b.length || b[start] !== MSG_KEXINIT) return null;
  let p = start + 1 + 16; // message number, cookie
  const lists: string[] = [];
  for (let n = 0; n < 10; n++) {
    if (p + 4 > end) return null;
    const len = u32(b, p);
    p += 4;
    if (len > end - p || !printable(b, p, p + len)) return null;
    lists.push(latin1(b, p, len));
    p += len;
  }
  if (p + 5 > end) return null; // first_kex_packet_follows, reserved
  return {
    kex: lists[0],
    hostKey: lists[1],
    encC2s: lists[2],
    encS2c: lists[3],
    macC2s: lists[4],
    macS2c: lists[5],
    compC2s: lists[6],
    compS2c: lists[7],
    langC2s: lists[8],
    langS2c: lists[9],
    firstKexPacketFollows: b[p] !== 0,
  };
}

/** The string HASSH hashes: client lists c2s, server lists s2c (salesforce/hassh). */
export function hasshAlgorithms(k: Kexinit, role: 'client' | 'server'): string {
  return role === 'client'
    ? `${k.kex};${k.encC2s};${k.macC2s};${k.compC2s}`
    : `${k.kex};${k.encS2c};${k.macS2c};${k.compS2c}`;
}

/** HASSH (role 'client') or HASSHServer (role 'server'): MD5 hex of hasshAlgorithms. */
export function hassh(k: Kexinit, role: 'client' | 'server'): string {
  return createHash('md5').update(hasshAlgorithms(k, role), 'latin1').digest('hex');
}

/** RFC 4253 7.1: the first algorithm of the client's name-list that the server also lists. */
export function negotiate(client: string, server: string): string | null {
  const offered = new Set(server.split(',').filter((s) => s.length > 0));
  for (const name of client.split(',')) if (name.length > 0 && offered.has(name)) return name;
  return null;
}

export function isAeadCipher(name: string): boolean {
  return AEAD_CIPHERS.has(name);
}

export function createSsh(sink: AppSink): StreamParser {
  return new SshParser(sink);
}

// --- parser -------------------------------------------------------------------------------

const IDENT = 0; // reading lines until the identification line
const WAIT = 1; // "1.99" sent; holding bytes until the peer's banner tells the framing
const PACKETS = 2; // binary packets until KEXINIT
const FINISHED = 3; // nothing more to learn from this direction

const utf8 = new TextDecoder('utf-8');

class Side {
  phase = IDENT;
  /** Bytes of the current line so far (all of them, kept or not). */
  lineLen = 0;
  /** The current line cannot be the identification line (does not start with "SSH-"). */
  lineOther = false;
  /** Start of the current identification line (MAX_IDENT_LINE bytes), allocated on first use. */
  line: Uint8Array | null = null;
  lineTsSec = 0;
  lineTsNs = 0;
  preLines = 0;
  preBytes = 0;

  ident: string | null = null;
  cls: ProtoClass | null = null;
  tsSec = 0;
  tsNs = 0;

  /** Packet length field being read across chunks. */
  readonly hdr = new Uint8Array(4);
  hdrLen = 0;
  /** Packet (after its length field) being read across chunks, or null. */
  pkt: Uint8Array | null = null;
  pktHave = 0;
  preKexPackets = 0;
  kex: Kexinit | null = null;

  held: Uint8Array | null = null;
  heldLen = 0;

  constructor(readonly name: 'client' | 'server') {}
}

class SshParser implements StreamParser {
  done = false;
  private readonly sides: [Side, Side] = [new Side('client'), new Side('server')];
  private serviceNamed = false;
  private emitted = false;

  constructor(private readonly sink: AppSink) {}

  data(dir: Dir, b: Uint8Array, start: number, end: number): void {
    if (this.done) return;
    const s = this.sides[dir];
    let i = Math.max(0, start);
    end = Math.min(end, b.length);
    while (i < end && !this.done) {
      if (s.phase === IDENT) i = this.identBytes(dir, b, i, end);
      else if (s.phase === WAIT) i = this.hold(dir, b, i, end);
      else if (s.phase === PACKETS) i = this.packetBytes(dir, b, i, end);
      else break;
    }
  }

  gap(dir: Dir, _len: number): void {
    if (this.done) return;
    const s = this.sides[dir];
    // A lost banner or KEXINIT cannot be recovered: what follows is unframed or encrypted.
    if (s.phase !== FINISHED) this.finish(dir);
  }

  end(): void {
    if (this.done) return;
    for (const dir of [0, 1] as const) {
      const s = this.sides[dir];
      if (s.phase === WAIT) this.release(dir, 'v2'); // the peer never said; SSH-2 is the likely one
    }
    this.emitRow();
    this.done = true;
  }

  // --- identification lines ---

  private identBytes(dir: Dir, b: Uint8Array, i: number, end: number): number {
    const s = this.sides[dir];
    if (s.lineLen === 0) {
      s.lineTsSec = this.sink.tsSec;
      s.lineTsNs = this.sink.tsNs;
    }
    const lf = indexOfLf(b, i, end);
    const complete = lf >= 0;
    const stop = complete ? lf + 1 : end;
    const n = stop - i;
    for (let k = 0; !s.lineOther && k < n && s.lineLen + k < 4; k++) {
      if (b[i + k] !== PREFIX[s.lineLen + k]) s.lineOther = true;
    }
    if (s.lineOther) return this.otherLine(dir, n, complete, stop);
    if (s.lineLen + n > MAX_IDENT_LINE) {
      this.malformedBanner(dir, `identification line longer than ${MAX_IDENT_LINE} bytes`);
      return end;
    }
    s.line ??= new Uint8Array(MAX_IDENT_LINE);
    s.line.set(b.subarray(i, stop), s.lineLen);
    s.lineLen += n;
    if (complete) this.identLine(dir);
    return stop;
  }

  /** A line before the identification line: allowed from the server only (RFC 4253 4.2). */
  private otherLine(dir: Dir, n: number, complete: boolean, stop: number): number {
    const s = this.sides[dir];
    if (dir === 0) {
      this.malformedBanner(dir, 'client stream does not start with SSH-');
      return stop;
    }
    s.preBytes += n;
    s.lineLen += n;
    if (complete) {
      s.preLines++;
      s.lineLen = 0;
      s.lineOther = false;
    }
    if (s.preLines > MAX_PRE_IDENT_LINES || s.preBytes > MAX_PRE_IDENT_BYTES) {
      this.malformedBanner(dir, `no SSH- line within ${MAX_PRE_IDENT_LINES} lines / ${MAX_PRE_IDENT_BYTES} bytes`);
    }
    return stop;
  }

  private identLine(dir: Dir): void {
    const s = this.sides[dir];
    let len = s.lineLen - 1; // LF
    if (len > 0 && s.line![len - 1] === CR) len--;
    const text = utf8.decode(s.line!.subarray(0, len));
    s.line = null;
    s.lineLen = 0;
    const id = parseIdent(text);
    s.ident = text;
    s.cls = id.cls;
    s.tsSec = s.lineTsSec;
    s.tsNs = s.lineTsNs;
    if (!id.wellFormed) this.sink.anomaly('ssh_malformed_banner', `${s.name}: ${text.slice(0, 80)}`);
    else if (!this.serviceNamed) {
      this.serviceNamed = true;
      this.sink.service('ssh');
    }
    if (id.cls === null) {
      this.finish(dir); // unknown protocol version: its framing is unknown too
      return;
    }
    s.phase = PACKETS;
    const framing = this.framing(dir);
    if (framing === 'v1') this.finish(dir);
    else if (framing === 'wait') s.phase = WAIT;
    const peer = (1 - dir) as Dir;
    if (this.sides[peer].phase === WAIT) this.release(peer, this.framing(peer));
  }

  /** The packet format a side will use: SSH-1 ('v1'), SSH-2 ('v2'), or unknown yet ('wait'). */
  private framing(dir: Dir): 'v1' | 'v2' | 'wait' {
    const own = this.sides[dir].cls;
    if (own === 'v1') return 'v1';
    if (own !== 'v199') return 'v2';
    const peer = this.sides[1 - dir];
    if (peer.cls !== null) return peer.cls === 'v1' ? 'v1' : 'v2';
    return peer.phase === IDENT ? 'wait' : 'v2';
  }

  private malformedBanner(dir: Dir, detail: string): void {
    this.sink.anomaly('ssh_malformed_banner', `${this.sides[dir].name}: ${detail}`);
    this.finish(dir);
  }

  // --- "1.99" waiting for the peer ---

  private hold(dir: Dir, b: Uint8Array, i: number, end: number): number {
    const s = this.sides[dir];
    const n = end - i;
    if (s.heldLen + n > MAX_HELD) {
      this.release(dir, 'v2');
      return i; // the caller continues with these bytes as packets
    }
    if (s.held === null || s.held.length < s.heldLen + n) {
      const grown = new Uint8Array(Math.min(MAX_HELD, Math.max(2 * (s.heldLen + n), 1024)));
      if (s.held !== null) grown.set(s.held.subarray(0, s.heldLen));
      s.held = grown;
    }
    s.held.set(b.subarray(i, end), s.heldLen);
    s.heldLen += n;
    return end;
  }

  /** Ends a side's wait: drops its held bytes for SSH-1, parses them as packets for SSH-2. */
  private release(dir: Dir, framing: 'v1' | 'v2' | 'wait'): void {
    const s = this.sides[dir];
    if (framing === 'wait') return;
    const held = s.held;
    const len = s.heldLen;
    s.held = null;
    s.heldLen = 0;
    if (framing === 'v1') {
      this.finish(dir);
      return;
    }
    s.phase = PACKETS;
    if (held !== null && len > 0) this.data(dir, held, 0, len);
  }

  // --- binary packets ---

  private packetBytes(dir: Dir, b: Uint8Array, i: number, end: number): number {
    const s = this.sides[dir];
    if (s.pkt === null) {
      let len: number;
      if (s.hdrLen === 0 && end - i >= 4) {
        len = u32(b, i);
        i += 4;
      } else {
        const k = Math.min(4 - s.hdrLen, end - i);
        s.hdr.set(b.subarray(i, i + k), s.hdrLen);
        s.hdrLen += k;
        i += k;
        if (s.hdrLen < 4) return i;
        len = u32(s.hdr, 0);
      }
      s.hdrLen = 0;
      if (len < 2 || len > MAX_PACKET_LENGTH) {
        this.malformedKex(dir, `packet_length ${len}`);
        return end;
      }
      if (end - i >= len) {
        this.packet(dir, b, i, i + len); // whole packet in this chunk: no copy
        return i + len;
      }
      s.pkt = new Uint8Array(len);
      s.pktHave = 0;
    }
    const k = Math.min(s.pkt.length - s.pktHave, end - i);
    s.pkt.set(b.subarray(i, i + k), s.pktHave);
    s.pktHave += k;
    i += k;
    if (s.pktHave === s.pkt.length) {
      const p = s.pkt;
      s.pkt = null;
      this.packet(dir, p, 0, p.length);
    }
    return i;
  }

  /** One packet after its length field: padding_length, payload, padding (no MAC before NEWKEYS). */
  private packet(dir: Dir, b: Uint8Array, start: number, end: number): void {
    const s = this.sides[dir];
    const padding = b[start];
    const payloadEnd = end - padding;
    if (payloadEnd < start + 2) {
      this.malformedKex(dir, `padding_length ${padding} leaves no payload`);
      return;
    }
    const msg = b[start + 1];
    if (msg === MSG_KEXINIT) {
      const k = parseKexinit(b, start + 1, payloadEnd);
      if (k === null) {
        this.malformedKex(dir, 'fields run past the packet or hold non-ASCII bytes');
        return;
      }
      s.kex = k;
      this.finish(dir);
    } else if (msg === MSG_DISCONNECT) {
      this.finish(dir); // e.g. a server refusing the client before key exchange: valid, just over
    } else if ((msg === MSG_IGNORE || msg === MSG_DEBUG || msg === MSG_UNIMPLEMENTED) && ++s.preKexPackets <= MAX_PRE_KEX_PACKETS) {
      // allowed at any time (RFC 4253 11); keep looking for the KEXINIT
    } else {
      this.malformedKex(dir, `message ${msg} where KEXINIT was expected`);
    }
  }

  private malformedKex(dir: Dir, detail: string): void {
    this.sink.anomaly('ssh_malformed_kexinit', `${this.sides[dir].name}: ${detail}`);
    this.finish(dir);
  }

  // --- end of a direction, the row ---

  private finish(dir: Dir): void {
    const s = this.sides[dir];
    s.phase = FINISHED;
    s.line = null;
    s.pkt = null;
    s.held = null;
    const peer = (1 - dir) as Dir;
    if (this.sides[peer].phase === WAIT) this.release(peer, this.framing(peer));
    if (this.sides[0].phase === FINISHED && this.sides[1].phase === FINISHED) {
      this.emitRow();
      this.done = true;
    }
  }

  private emitRow(): void {
    if (this.emitted) return;
    const [c, sv] = this.sides;
    if (c.ident === null && sv.ident === null) return; // not SSH as far as we saw: Zeek logs nothing either
    this.emitted = true;
    const first = c.ident !== null && (sv.ident === null || c.tsSec < sv.tsSec || (c.tsSec === sv.tsSec && c.tsNs <= sv.tsNs)) ? c : sv;
    const row: Record<string, unknown> = {
      ts: { sec: first.tsSec, ns: first.tsNs },
      version: connectionVersion(c.cls, sv.cls),
      client: c.ident,
      server: sv.ident,
      hassh: c.kex ? hassh(c.kex, 'client') : null,
      hassh_server: sv.kex ? hassh(sv.kex, 'server') : null,
      kex_alg: null,
      host_key_alg: null,
      cipher_alg: null,
      mac_alg: null,
      compression_alg: null,
    };
    if (c.kex && sv.kex) {
      const cipher = negotiate(c.kex.encC2s, sv.kex.encC2s);
      row.kex_alg = negotiate(c.kex.kex, sv.kex.kex);
      row.host_key_alg = negotiate(c.kex.hostKey, sv.kex.hostKey);
      row.cipher_alg = cipher;
      row.mac_alg = cipher !== null && isAeadCipher(cipher) ? null : negotiate(c.kex.macC2s, sv.kex.macC2s);
      row.compression_alg = negotiate(c.kex.compC2s, sv.kex.compC2s);
    }
    this.sink.emit(SSH, row);
  }
}

function u32(b: Uint8Array, p: number): number {
  return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
}

/** Position of the first LF in b[start, end), or -1. (Uint8Array.indexOf would scan past `end`.) */
function indexOfLf(b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === LF) return i;
  return -1;
}

function printable(b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (b[i] < 0x20 || b[i] > 0x7e) return false;
  return true;
}

function latin1(b: Uint8Array, start: number, len: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, len).toString('latin1');
}
