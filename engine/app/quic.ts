/**
 * QUIC Initial packets: the TLS ClientHello and ServerHello they carry, as one `tls` row per UDP
 * connection (the same table and columns as TLS over TCP, JA4 with the QUIC letter 'q').
 *
 * Initial packets are encrypted with keys anyone can derive from the Destination Connection ID
 * of the client's first Initial (RFC 9001 5.2; QUIC v2: RFC 9369 3.3). Each datagram is walked
 * packet by packet (coalesced long-header packets, using their Length field; a short header ends
 * the walk); Initial packets get their header protection removed (RFC 9001 5.4) and are
 * decrypted with AES-128-GCM, then their PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE frames
 * are read. CRYPTO data is reassembled per direction by offset into a bounded buffer; the first
 * handshake message of each direction is the hello that gets parsed with the TLS module's helpers.
 *
 * The `quic` table is Zeek's quic.log: per QUIC connection on the UDP flow, the version, the
 * connection ids and a history of the packets (see QUIC in common/fields.ts). Every datagram of
 * the flow is walked for it (headers only, once the hellos are in); a Retry, a CONNECTION_CLOSE
 * in an Initial or a version we cannot read ends a row, as in Zeek. Zeek reads a direction's
 * Initials only until its hello is complete, and stops reading a datagram at bytes without the
 * fixed bit: the history follows the same rules (`test/golden/zeek-quic.test.ts`).
 *
 * Deliberate differences from Zeek / Wireshark:
 * - The hellos' fields go to the TLS table, where Zeek writes QUIC handshakes to ssl.log too.
 * - Keys are tried, not tracked: a packet is opened with the keys of the client DCIDs seen so far
 *   (newest first), and a client Initial that none of them opens gets keys from its own DCID (the
 *   new DCID after a Retry). Wireshark follows Retry and version negotiation explicitly; trying a
 *   handful of key sets costs a few failed GCM tags and also covers compatible version
 *   negotiation (a v1 ClientHello answered by a v2 ServerHello under the same DCID).
 * - `next_protocol` stays NULL: the server's ALPN is in EncryptedExtensions, which Initial
 *   packets do not carry. `established` is false: the end of the handshake is encrypted.
 * - `resumed` is the ServerHello's pre_shared_key, as for TLS 1.3 over TCP.
 * - Draft versions: drafts 23-28 (draft-23 salt), 29-32 (draft-29 salt) and 33-34 (v1 salt) are
 *   decrypted; Google QUIC (Q0xx/T0xx) is not.
 * - Packets after both hellos, and Handshake/0-RTT/1-RTT packets, are never decrypted.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { QUIC, TLS } from '../../common/fields.js';
import {
  cipherName,
  groupName,
  isGrease,
  ja3Hash,
  ja3sHash,
  ja4,
  parseClientHello,
  parseServerHello,
  versionName,
  type ClientHelloInfo,
  type ServerHelloInfo,
} from './tls.js';
import type { AppSink, DatagramParser, Dir } from './types.js';

export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;

/** CRYPTO bytes kept per direction: a ClientHello with post-quantum key shares is ~2 KiB, and Chrome spreads it over several Initials. */
export const MAX_CRYPTO_BYTES = 64 * 1024;
/** Disjoint CRYPTO ranges tracked per direction before new out-of-order pieces are dropped. */
const MAX_CRYPTO_RANGES = 64;
/** Client DCIDs whose keys are tried (the first one, after a Retry the new one). */
const MAX_CLIENT_DCIDS = 4;
/** Derived key sets kept per connection (per version and DCID). */
const MAX_KEY_SETS = 8;
/** Datagrams in a row that bring no new CRYPTO bytes before the parser gives up. */
const MAX_IDLE_DATAGRAMS = 20;
/** Long-header packets walked per datagram (a datagram holds at most a few). */
const MAX_PACKETS_PER_DATAGRAM = 16;

const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const GCM_TAG_LEN = 16;
const HP_SAMPLE_LEN = 16;
const MAX_CID_LEN = 20;

// ---------------------------------------------------------------------------------------------
// Versions and keys

export interface VersionParams {
  salt: Buffer;
  /** Prefix of the key/iv/hp labels: 'quic ' for v1 and drafts, 'quicv2 ' for v2. */
  labelPrefix: string;
  /** Long-header type bits (0..3) of Initial and Retry packets in this version. */
  initialType: number;
  retryType: number;
}

const SALT_V1 = Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex');
const SALT_V2 = Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex');
const SALT_DRAFT_29 = Buffer.from('afbfec289993d24c9e9786f19c6111e04390a899', 'hex');
const SALT_DRAFT_23 = Buffer.from('c3eef712c72ebb5a11a7d2432bb46365bef9f502', 'hex');

const PARAMS_V1: VersionParams = { salt: SALT_V1, labelPrefix: 'quic ', initialType: 0, retryType: 3 };
const PARAMS_V2: VersionParams = { salt: SALT_V2, labelPrefix: 'quicv2 ', initialType: 1, retryType: 0 };
const PARAMS_DRAFT_29: VersionParams = { ...PARAMS_V1, salt: SALT_DRAFT_29 };
const PARAMS_DRAFT_23: VersionParams = { ...PARAMS_V1, salt: SALT_DRAFT_23 };

/** Initial-packet parameters of a QUIC version, or null for versions whose Initials we cannot open. */
export function quicVersionParams(version: number): VersionParams | null {
  if (version === QUIC_V1) return PARAMS_V1;
  if (version === QUIC_V2) return PARAMS_V2;
  if (version >= 0xff000017 && version <= 0xff00001c) return PARAMS_DRAFT_23;
  if (version >= 0xff00001d && version <= 0xff000020) return PARAMS_DRAFT_29;
  if (version >= 0xff000021 && version <= 0xff000022) return PARAMS_V1;
  return null;
}

/** Zeek's name of a QUIC version in quic.log. */
export function quicVersionName(version: number): string {
  if (version === QUIC_V1) return '1';
  if (version === QUIC_V2) return 'quicv2';
  if (version >= 0xff000016 && version <= 0xff000022) return `draft-${version & 0xff}`;
  if ((version >>> 8) === 0xfaceb0) return `mvfst (${version.toString(16)})`;
  return `unknown-${version.toString(16)}`;
}

/**
 * Long-header packet type bits of a version: [Initial, 0-RTT, Handshake, Retry], or null for a
 * version whose packets cannot be read (v1 layout for v1, drafts 22-34 and mvfst; v2 its own).
 */
function packetTypes(version: number): readonly [number, number, number, number] | null {
  if (version === QUIC_V2) return V2_TYPES;
  if (version === QUIC_V1 || (version >= 0xff000016 && version <= 0xff000022) || (version >>> 8) === 0xfaceb0) return V1_TYPES;
  return null;
}
const V1_TYPES = [0, 1, 2, 3] as const;
const V2_TYPES = [1, 2, 3, 0] as const;

export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

/** HKDF-Expand-Label of TLS 1.3 (RFC 8446 7.1) with an empty context, SHA-256. */
export function hkdfExpandLabel(secret: Uint8Array, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.alloc(4 + full.length);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  full.copy(info, 3);
  info[3 + full.length] = 0; // context length
  const out = Buffer.alloc(length);
  let prev = Buffer.alloc(0);
  for (let i = 1, at = 0; at < length; i++) {
    prev = createHmac('sha256', secret).update(prev).update(info).update(Buffer.of(i)).digest();
    at += prev.copy(out, at);
  }
  return out;
}

export interface PacketKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

export interface InitialKeys {
  client: PacketKeys;
  server: PacketKeys;
}

function packetKeys(secret: Buffer, p: VersionParams): PacketKeys {
  return {
    key: hkdfExpandLabel(secret, `${p.labelPrefix}key`, 16),
    iv: hkdfExpandLabel(secret, `${p.labelPrefix}iv`, 12),
    hp: hkdfExpandLabel(secret, `${p.labelPrefix}hp`, 16),
  };
}

/** Client and server Initial keys for a version and the client's DCID, or null for an unknown version. */
export function initialKeys(version: number, dcid: Uint8Array): InitialKeys | null {
  const p = quicVersionParams(version);
  if (p === null) return null;
  const initial = hkdfExtract(p.salt, dcid);
  return {
    client: packetKeys(hkdfExpandLabel(initial, 'client in', 32), p),
    server: packetKeys(hkdfExpandLabel(initial, 'server in', 32), p),
  };
}

// ---------------------------------------------------------------------------------------------
// Packet headers

/** A QUIC variable-length integer at `p` (RFC 9000 16): value and size, or null past `end`. */
export function readVarint(b: Uint8Array, p: number, end: number): { value: number; size: number } | null {
  if (p >= end) return null;
  const size = 1 << (b[p] >> 6);
  if (p + size > end) return null;
  let value = b[p] & 0x3f;
  for (let i = 1; i < size; i++) value = value * 256 + b[p + i];
  return { value, size };
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

export interface LongHeader {
  version: number;
  /** Packet type normalised across versions. */
  kind: 'initial' | 'other';
  dcidStart: number;
  dcidEnd: number;
  /** Offset of the (protected) packet number. */
  pnOffset: number;
  /** End of this packet (start of the next coalesced one). */
  end: number;
}

/** True for a first byte with the long-header form bit and the fixed bit (0b11xxxxxx). */
function isLongWithFixedBit(b0: number): boolean {
  return (b0 & 0xc0) === 0xc0;
}

/**
 * The long header of the packet at `start`, or null when the walk must stop there: a short
 * header, version negotiation, a Retry (it has no Length), a version we cannot read, or a header
 * that runs past the datagram.
 */
export function parseLongHeader(b: Uint8Array, start: number, end: number): LongHeader | null {
  if (end - start < 7 || (b[start] & 0x80) === 0) return null;
  const version = u32(b, start + 1);
  const params = quicVersionParams(version);
  if (params === null) return null;
  const type = (b[start] >> 4) & 3;
  if (type === params.retryType) return null;
  const dcidLen = b[start + 5];
  if (dcidLen > MAX_CID_LEN) return null;
  const dcidStart = start + 6;
  let p = dcidStart + dcidLen;
  if (p >= end) return null;
  const scidLen = b[p];
  if (scidLen > MAX_CID_LEN) return null;
  p += 1 + scidLen;
  const initial = type === params.initialType;
  if (initial) {
    const token = readVarint(b, p, end);
    if (token === null || p + token.size + token.value > end) return null;
    p += token.size + token.value;
  }
  const length = readVarint(b, p, end);
  if (length === null) return null;
  p += length.size;
  if (p + length.value > end) return null;
  return { version, kind: initial ? 'initial' : 'other', dcidStart, dcidEnd: dcidStart + dcidLen, pnOffset: p, end: p + length.value };
}

/** Cheap recognition of a QUIC Initial packet at the start of a UDP payload. */
export function looksLikeQuicInitial(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 7 || !isLongWithFixedBit(b[start])) return false;
  const params = quicVersionParams(u32(b, start + 1));
  if (params === null || ((b[start] >> 4) & 3) !== params.initialType) return false;
  const dcidLen = b[start + 5];
  if (dcidLen > MAX_CID_LEN) return false;
  const scidAt = start + 6 + dcidLen;
  return scidAt < end && b[scidAt] <= MAX_CID_LEN && scidAt + 1 + b[scidAt] < end;
}

// ---------------------------------------------------------------------------------------------
// Packet protection

export interface OpenedPacket {
  /** Full (reconstructed) packet number. */
  pn: number;
  payload: Buffer;
}

/** RFC 9000 A.3: the full packet number closest to the one after `largest`. */
export function decodePacketNumber(largest: number, truncated: number, pnLen: number): number {
  const expected = largest + 1;
  const win = 2 ** (pnLen * 8);
  const half = win / 2;
  const candidate = expected - (expected % win) + truncated;
  if (candidate <= expected - half && candidate < 2 ** 62 - win) return candidate + win;
  if (candidate > expected + half && candidate >= win) return candidate - win;
  return candidate;
}

function headerMask(hp: Buffer, sample: Uint8Array): Buffer {
  const c = createCipheriv('aes-128-ecb', hp, null);
  c.setAutoPadding(false);
  return c.update(sample);
}

/**
 * Removes header protection and decrypts one long-header packet with `keys`; null when the packet
 * is too short to sample or its tag does not verify (other keys, corruption, not QUIC).
 * `largestPn` is the largest packet number opened so far in this direction (-1: none).
 */
export function openPacket(b: Uint8Array, start: number, h: LongHeader, keys: PacketKeys, largestPn = -1): OpenedPacket | null {
  const sampleAt = h.pnOffset + 4;
  if (sampleAt + HP_SAMPLE_LEN > h.end) return null;
  const mask = headerMask(keys.hp, b.subarray(sampleAt, sampleAt + HP_SAMPLE_LEN));
  const first = b[start] ^ (mask[0] & 0x0f);
  const pnLen = (first & 3) + 1;
  const payloadAt = h.pnOffset + pnLen;
  if (payloadAt + GCM_TAG_LEN > h.end) return null;
  // The associated data is the header with protection removed: a copy, the input stays untouched.
  const aad = Buffer.from(b.subarray(start, payloadAt));
  aad[0] = first;
  let truncated = 0;
  for (let i = 0; i < pnLen; i++) {
    const v = b[h.pnOffset + i] ^ mask[1 + i];
    aad[h.pnOffset - start + i] = v;
    truncated = truncated * 256 + v;
  }
  const pn = decodePacketNumber(largestPn, truncated, pnLen);
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 6; i++) nonce[11 - i] ^= Math.floor(pn / 2 ** (8 * i)) & 0xff;
  const d = createDecipheriv('aes-128-gcm', keys.key, nonce);
  d.setAAD(aad);
  d.setAuthTag(b.subarray(h.end - GCM_TAG_LEN, h.end));
  const plain = d.update(b.subarray(payloadAt, h.end - GCM_TAG_LEN));
  try {
    d.final(); // throws exactly when the authentication tag does not verify
  } catch {
    return null;
  }
  return { pn, payload: plain };
}

function encodeVarint(v: number): Buffer {
  if (v < 0x40) return Buffer.of(v);
  if (v < 0x4000) return Buffer.of(0x40 | (v >> 8), v & 0xff);
  const b = Buffer.alloc(4);
  b.writeUInt32BE((0x80000000 | v) >>> 0);
  return b;
}

export interface InitialSpec {
  version: number;
  dcid: Uint8Array;
  scid: Uint8Array;
  token?: Uint8Array;
  pn: number;
  /** Bytes of the encoded packet number (1..4). */
  pnLen: number;
  /** Frames; must be at least 4 - pnLen bytes for the header-protection sample. */
  payload: Uint8Array;
  keys: PacketKeys;
}

/**
 * Builds a protected Initial packet (RFC 9001 5.3, 5.4), the inverse of openPacket. The parser
 * never sends anything: this exists so tests and fixtures can make Initials, and it is checked
 * byte for byte against the RFC's sample packets.
 */
export function protectInitial(s: InitialSpec): Buffer {
  const p = quicVersionParams(s.version) ?? PARAMS_V1;
  const length = s.pnLen + s.payload.length + GCM_TAG_LEN;
  const pnBytes = Buffer.alloc(s.pnLen);
  for (let i = 0; i < s.pnLen; i++) pnBytes[s.pnLen - 1 - i] = Math.floor(s.pn / 2 ** (8 * i)) & 0xff;
  const first = Buffer.of(0xc0 | (p.initialType << 4) | (s.pnLen - 1));
  const version = Buffer.alloc(4);
  version.writeUInt32BE(s.version >>> 0);
  const token = s.token ?? new Uint8Array(0);
  const header = Buffer.concat([
    first,
    version,
    Buffer.of(s.dcid.length),
    s.dcid,
    Buffer.of(s.scid.length),
    s.scid,
    encodeVarint(token.length),
    token,
    length < 0x40 ? Buffer.of(0x40, length) : encodeVarint(length), // two bytes at least, as the RFC samples
    pnBytes,
  ]);
  const nonce = Buffer.from(s.keys.iv);
  for (let i = 0; i < 6; i++) nonce[11 - i] ^= Math.floor(s.pn / 2 ** (8 * i)) & 0xff;
  const c = createCipheriv('aes-128-gcm', s.keys.key, nonce);
  c.setAAD(header);
  const body = Buffer.concat([c.update(s.payload), c.final(), c.getAuthTag()]);
  const out = Buffer.concat([header, body]);
  const pnOffset = header.length - s.pnLen;
  const mask = headerMask(s.keys.hp, out.subarray(pnOffset + 4, pnOffset + 4 + HP_SAMPLE_LEN));
  out[0] ^= mask[0] & 0x0f;
  for (let i = 0; i < s.pnLen; i++) out[pnOffset + i] ^= mask[1 + i];
  return out;
}

// ---------------------------------------------------------------------------------------------
// Frames

export interface CryptoFrame {
  offset: number;
  /** The data: payload[start, end). */
  start: number;
  end: number;
}

function skipVarints(b: Uint8Array, p: number, end: number, n: number): number {
  for (let i = 0; i < n; i++) {
    const v = readVarint(b, p, end);
    if (v === null) return -1;
    p += v.size;
  }
  return p;
}

/**
 * CRYPTO frames of a decrypted Initial payload, in order. Reading stops at the first frame type
 * an Initial should not carry, or at a frame that runs past the payload (what came before is kept).
 */
export function initialCryptoFrames(b: Uint8Array, start: number, end: number, seen?: { close: boolean }): CryptoFrame[] {
  const out: CryptoFrame[] = [];
  let p = start;
  while (p < end) {
    const type = b[p];
    p++;
    if (type === 0x00 || type === 0x01) continue; // PADDING, PING
    if (type === 0x02 || type === 0x03) p = skipAck(b, p, end, type === 0x03);
    else if (type === 0x06) p = cryptoFrame(b, p, end, out);
    else if (type === 0x1c || type === 0x1d) {
      p = skipConnectionClose(b, p, end, type === 0x1c);
      if (seen !== undefined) seen.close = true;
    } else break;
    if (p < 0) break;
  }
  return out;
}

function skipAck(b: Uint8Array, p: number, end: number, ecn: boolean): number {
  // Largest Acknowledged, ACK Delay, ACK Range Count, First ACK Range.
  const largest = skipVarints(b, p, end, 2);
  const count = readVarint(b, largest, end);
  if (largest < 0 || count === null) return -1;
  p = skipVarints(b, largest + count.size, end, 1);
  // Each further range is a Gap and a Range Length; a count larger than the bytes left fails fast.
  if (p < 0 || count.value > end - p) return -1;
  p = skipVarints(b, p, end, count.value * 2);
  return p < 0 || !ecn ? p : skipVarints(b, p, end, 3);
}

function cryptoFrame(b: Uint8Array, p: number, end: number, out: CryptoFrame[]): number {
  const offset = readVarint(b, p, end);
  if (offset === null) return -1;
  const len = readVarint(b, p + offset.size, end);
  if (len === null) return -1;
  const at = p + offset.size + len.size;
  if (len.value > end - at) return -1;
  out.push({ offset: offset.value, start: at, end: at + len.value });
  return at + len.value;
}

function skipConnectionClose(b: Uint8Array, p: number, end: number, transport: boolean): number {
  p = skipVarints(b, p, end, transport ? 2 : 1); // error code (and frame type for 0x1c)
  if (p < 0) return -1;
  const reason = readVarint(b, p, end);
  if (reason === null || reason.value > end - p - reason.size) return -1;
  return p + reason.size + reason.value;
}

// ---------------------------------------------------------------------------------------------
// CRYPTO stream reassembly

/**
 * One direction's CRYPTO stream, from offset 0 up to MAX_CRYPTO_BYTES. Received ranges are kept
 * sorted and merged; where pieces overlap the first copy wins (retransmissions repeat the data).
 */
export class CryptoStream {
  private buf: Uint8Array | null = null;
  /** Sorted, disjoint, non-adjacent [start, end) pairs, flattened. */
  private ranges: number[] = [];

  /** Adds data at `offset`; returns the number of bytes that were new. */
  add(offset: number, b: Uint8Array, start: number, end: number): number {
    const from = offset;
    const to = Math.min(offset + (end - start), MAX_CRYPTO_BYTES);
    if (from >= to) return 0;
    if (this.ranges.length >= MAX_CRYPTO_RANGES * 2 && !this.touches(from, to)) return 0;
    this.grow(to);
    const buf = this.buf as Uint8Array;
    let added = 0;
    let at = from;
    for (let i = 0; i < this.ranges.length && at < to; i += 2) {
      const rs = this.ranges[i];
      const re = this.ranges[i + 1];
      if (re <= at) continue;
      if (rs >= to) break;
      if (rs > at) {
        buf.set(b.subarray(start + (at - offset), start + (rs - offset)), at);
        added += rs - at;
      }
      at = Math.max(at, re);
    }
    if (at < to) {
      buf.set(b.subarray(start + (at - offset), start + (to - offset)), at);
      added += to - at;
    }
    if (added > 0) this.insert(from, to);
    return added;
  }

  /** Bytes available from offset 0 without a hole. */
  contiguous(): number {
    return this.ranges.length > 0 && this.ranges[0] === 0 ? this.ranges[1] : 0;
  }

  /** The stored bytes (valid up to contiguous()). */
  bytes(): Uint8Array {
    return this.buf ?? new Uint8Array(0);
  }

  release(): void {
    this.buf = null;
    this.ranges = [];
  }

  private touches(from: number, to: number): boolean {
    for (let i = 0; i < this.ranges.length; i += 2) if (this.ranges[i] <= to && this.ranges[i + 1] >= from) return true;
    return false;
  }

  private grow(to: number): void {
    const have = this.buf?.length ?? 0;
    if (to <= have) return;
    const next = new Uint8Array(Math.min(Math.max(to, have * 2, 4096), MAX_CRYPTO_BYTES));
    if (this.buf !== null) next.set(this.buf);
    this.buf = next;
  }

  private insert(from: number, to: number): void {
    const merged: number[] = [];
    let s = from;
    let e = to;
    let placed = false;
    for (let i = 0; i < this.ranges.length; i += 2) {
      const rs = this.ranges[i];
      const re = this.ranges[i + 1];
      if (re < s) merged.push(rs, re);
      else if (rs > e) {
        if (!placed) merged.push(s, e);
        placed = true;
        merged.push(rs, re);
      } else {
        s = Math.min(s, rs);
        e = Math.max(e, re);
      }
    }
    if (!placed) merged.push(s, e);
    this.ranges = merged;
  }
}

// ---------------------------------------------------------------------------------------------
// The per-connection parser

interface KeySet {
  version: number;
  dcid: string;
  keys: InitialKeys;
}

interface Side {
  crypto: CryptoStream;
  /** Offset in the CRYPTO stream of the next handshake message. */
  parsedTo: number;
  /** False once this direction's hellos are all in (or it went wrong). */
  on: boolean;
  largestPn: number;
}

function hex(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('hex');
}

function versionHex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

/** Letters kept in a quic.log history (Zeek's QUIC::max_history_length). */
const MAX_HISTORY = 100;

interface QuicEntry {
  ts: { sec: number; ns: number };
  version: string;
  clientInitialDcid: string | null;
  clientScid: string | null;
  serverScid: string | null;
  serverName: string | null;
  clientProtocol: string | null;
  history: string;
}

class QuicParser implements DatagramParser {
  done = false;
  private readonly sides: [Side, Side] = [newSide(), newSide()];
  private clientDcids: string[] = [];
  private keySets: KeySet[] = [];
  private client: ClientHelloInfo | null = null;
  private fingerprinted: ClientHelloInfo | null = null;
  private server: ServerHelloInfo | null = null;
  private helloRetry = false;
  private secondClientHello = false;
  private firstSec = 0;
  private firstNs = 0;
  private sawClientInitial = false;
  private clientPkt: number | null = null;
  private serverPkt: number | null = null;
  private idle = 0;
  private undecryptableReported = false;
  private emitted = false;
  /** The TLS part is over (its row written): Initials are no longer opened. */
  private tlsDone = false;
  // quic.log: the entry being built, and per-connection counters (kept across entries, as Zeek)
  private entry: QuicEntry | null = null;
  private decrypted = 0;
  private readonly shortSeen = [0, 0];
  private readonly shortNext = [1, 1];
  private datagrams = 0;
  private sawLong = false;
  private readonly frameSeen = { close: false };
  /** A direction's first hello is in (quic.log counts one hello and its frames per handshake). */
  private readonly helloSeen = [false, false];

  constructor(private readonly sink: AppSink) {}

  /**
   * One datagram: its packets in order (coalesced long-header packets by their Length; a short
   * header, a Retry or bytes without QUIC's fixed bit take the rest of the datagram). Each adds to
   * the quic.log history; Initial packets are opened for their hellos until both are in.
   */
  datagram(dir: Dir, bytes: Uint8Array, start: number, end: number): void {
    if (this.done) return;
    let progress = false;
    let p = start;
    let logging = true;
    for (let n = 0; n < MAX_PACKETS_PER_DATAGRAM && p < end; n++) {
      const b0 = bytes[p];
      if (!logging || (b0 & 0x40) === 0) {
        // Without QUIC's fixed bit (padding after the packets, or a peer greasing the bit, RFC
        // 9287) Zeek stops reading the datagram ("discarded"); Initials in it still give hellos
        if (logging && this.decrypted > 0) this.letter(dir, 'X');
        logging = false;
        const h = parseLongHeader(bytes, p, end);
        if (h === null) break;
        if (h.kind === 'initial' && !this.tlsDone && this.initialPacket(dir, bytes, p, h)) progress = true;
        p = h.end;
        continue;
      }
      if ((b0 & 0x80) === 0) {
        // a short header: counted, letters at 1, 2, 4, 8, ... per direction
        if (++this.shortSeen[dir] === this.shortNext[dir]) {
          this.shortNext[dir] *= 2;
          this.letter(dir, 'O');
        }
        break;
      }
      if (end - p < 7) break;
      const version = u32(bytes, p + 1);
      const dcidLen = bytes[p + 5];
      const scidAt = p + 6 + dcidLen;
      if (dcidLen > MAX_CID_LEN || scidAt >= end || bytes[scidAt] > MAX_CID_LEN || scidAt + 1 + bytes[scidAt] > end) break;
      const dcid = hex(bytes, p + 6, scidAt);
      const scid = hex(bytes, scidAt + 1, scidAt + 1 + bytes[scidAt]);
      const types = packetTypes(version);
      const type = (b0 >> 4) & 3;
      // a Retry's connection ids are not the entry's (Zeek takes them only when it opens one)
      if (types === null || type !== types[3] || this.entry === null) this.session(dir, version, dcid, scid);
      if (types === null) {
        // a version we cannot read (or version negotiation): the entry ends here, as Zeek; before
        // any Initial was opened this is no QUIC we know, and the flow is left alone (as Zeek's
        // protocol detection drops an analyzer that failed before confirming its protocol)
        this.letter(dir, 'U');
        this.logEntry();
        if (this.decrypted === 0) {
          this.finishTls();
          this.done = true;
          return;
        }
        break;
      }
      this.sawLong = true;
      if (type === types[3]) {
        // Retry: the entry ends; the client starts over with a new DCID (keys and hellos anew)
        this.letter(dir, 'R');
        this.logEntry();
        this.restartHandshake();
        break;
      }
      this.letter(dir, type === types[0] ? 'I' : type === types[1] ? 'Z' : 'H');
      const h = parseLongHeader(bytes, p, end);
      if (h === null) break;
      if (h.kind === 'initial' && !this.tlsDone) {
        this.frameSeen.close = false;
        // as Zeek, only frames read before this direction's hello was complete count for quic.log
        const reading = !this.helloSeen[dir];
        if (this.initialPacket(dir, bytes, p, h)) progress = true;
        if (this.frameSeen.close && reading) {
          this.letter(dir, 'C');
          this.logEntry();
        }
      }
      p = h.end;
    }
    if (!this.tlsDone) {
      this.idle = progress ? 0 : this.idle + 1;
      if (this.idle >= MAX_IDLE_DATAGRAMS) this.finishTls();
    }
    // UDP 443 that never shows a QUIC long header is not QUIC: stop looking
    if (++this.datagrams >= MAX_IDLE_DATAGRAMS && !this.sawLong) {
      this.finishTls();
      this.done = true;
    }
  }

  end(): void {
    this.finishTls();
    this.logEntry();
  }

  // ---- quic.log ----

  private session(dir: Dir, version: number, dcid: string, scid: string): void {
    let e = this.entry;
    if (e === null) {
      e = this.entry = {
        ts: { sec: this.sink.tsSec, ns: this.sink.tsNs },
        version: quicVersionName(version),
        clientInitialDcid: null,
        clientScid: null,
        serverScid: null,
        serverName: null,
        clientProtocol: null,
        history: '',
      };
    }
    if (dir === 0) {
      if (dcid !== '' && e.clientInitialDcid === null) e.clientInitialDcid = dcid;
      e.clientScid = scid;
    } else e.serverScid = scid;
  }

  private letter(dir: Dir, c: string): void {
    const e = this.entry;
    if (e === null || e.history.length >= MAX_HISTORY) return;
    e.history += dir === 0 ? c : c.toLowerCase();
  }

  private logEntry(): void {
    const e = this.entry;
    if (e === null) return;
    this.entry = null;
    this.sink.emit(QUIC, {
      ts: e.ts,
      version: e.version,
      client_initial_dcid: e.clientInitialDcid,
      client_scid: e.clientScid,
      server_scid: e.serverScid,
      server_name: e.serverName,
      client_protocol: e.clientProtocol,
      history: e.history,
    });
  }

  /** After a Retry: the CRYPTO streams start again, so the next ClientHello is read again. */
  private restartHandshake(): void {
    if (this.tlsDone) return;
    for (let i = 0; i < 2; i++) {
      this.sides[i].crypto.release();
      this.sides[i] = newSide();
      this.helloSeen[i] = false;
    }
  }

  /** Opens one Initial packet and feeds its CRYPTO frames; true when it brought new bytes. */
  private initialPacket(dir: Dir, b: Uint8Array, start: number, h: LongHeader): boolean {
    const side = this.sides[dir];
    if (!side.on) return false;
    const opened = this.open(dir, b, start, h);
    if (opened === null) {
      if (dir === 0 && this.client === null && !this.undecryptableReported) {
        this.undecryptableReported = true;
        this.sink.anomaly(
          'tls_malformed_handshake',
          `quic: client Initial (version ${versionHex(h.version)}, ${h.end - start} bytes) does not decrypt with the Initial keys of its connection`,
        );
      }
      return false;
    }
    if (dir === 0 && !this.sawClientInitial) {
      this.sawClientInitial = true;
      this.firstSec = this.sink.tsSec;
      this.firstNs = this.sink.tsNs;
    }
    this.decrypted++;
    side.largestPn = Math.max(side.largestPn, opened.pn);
    let added = 0;
    for (const f of initialCryptoFrames(opened.payload, 0, opened.payload.length, this.frameSeen)) {
      added += side.crypto.add(f.offset, opened.payload, f.start, f.end);
    }
    if (added > 0) this.messages(dir, side);
    return added > 0;
  }

  /** Tries the known client DCIDs' keys (newest first), then for a client packet its own DCID's. */
  private open(dir: Dir, b: Uint8Array, start: number, h: LongHeader): ReturnType<typeof openPacket> {
    const side = this.sides[dir];
    for (let i = this.clientDcids.length - 1; i >= 0; i--) {
      const ks = this.keySet(h.version, this.clientDcids[i]);
      if (ks === null) continue;
      const opened = openPacket(b, start, h, dir === 0 ? ks.keys.client : ks.keys.server, side.largestPn);
      if (opened !== null) return opened;
    }
    if (dir !== 0 || this.clientDcids.length >= MAX_CLIENT_DCIDS) return null;
    const dcid = hex(b, h.dcidStart, h.dcidEnd);
    if (this.clientDcids.includes(dcid)) return null;
    const ks = this.keySet(h.version, dcid);
    if (ks === null) return null;
    const opened = openPacket(b, start, h, ks.keys.client, side.largestPn);
    if (opened !== null) this.clientDcids.push(dcid);
    return opened;
  }

  private keySet(version: number, dcid: string): KeySet | null {
    for (const ks of this.keySets) if (ks.version === version && ks.dcid === dcid) return ks;
    if (this.keySets.length >= MAX_KEY_SETS) return null;
    const keys = initialKeys(version, Buffer.from(dcid, 'hex'));
    if (keys === null) return null;
    const ks = { version, dcid, keys };
    this.keySets.push(ks);
    return ks;
  }

  /** Handles every complete handshake message now available in this direction. */
  private messages(dir: Dir, side: Side): void {
    const avail = side.crypto.contiguous();
    const buf = side.crypto.bytes();
    while (side.on && avail - side.parsedTo >= 4) {
      const at = side.parsedTo;
      const type = buf[at];
      const len = (buf[at + 1] << 16) | (buf[at + 2] << 8) | buf[at + 3];
      if (at + 4 + len > MAX_CRYPTO_BYTES) {
        this.giveUp(side, `quic: handshake message of ${len} bytes exceeds the ${MAX_CRYPTO_BYTES}-byte CRYPTO buffer`);
        return;
      }
      if (at + 4 + len > avail) return;
      side.parsedTo = at + 4 + len;
      if (dir === 0) this.clientMessage(side, type, buf, at + 4, at + 4 + len);
      else this.serverMessage(side, type, buf, at + 4, at + 4 + len);
    }
    if (this.client !== null && this.server !== null && !this.server.helloRetry) this.finishTls();
  }

  private clientMessage(side: Side, type: number, b: Uint8Array, start: number, end: number): void {
    if (type !== HS_CLIENT_HELLO) {
      if (this.client === null) this.giveUp(side, `quic: client CRYPTO stream starts with handshake message type ${type}, not a ClientHello`);
      else side.on = false;
      return;
    }
    const r = parseClientHello(b, start, end);
    if (r.value !== null && !this.helloSeen[0]) {
      this.helloSeen[0] = true;
      this.letter(0, 'S');
      if (this.entry !== null) {
        this.entry.serverName = r.value.serverName ?? null;
        this.entry.clientProtocol = r.value.alpn.length > 0 ? r.value.alpn[0] : null;
      }
    }
    if (this.client !== null && (!this.helloRetry || this.secondClientHello)) return;
    if (r.problem !== null) this.sink.anomaly('tls_malformed_handshake', `quic: ${r.problem}`);
    if (r.value === null) {
      if (this.client === null) side.on = false;
      return;
    }
    if (this.client === null) {
      this.fingerprinted = r.value;
      this.clientPkt = this.sink.packetNo;
      this.sink.service('quic');
    } else this.secondClientHello = true;
    this.client = r.value;
  }

  private serverMessage(side: Side, type: number, b: Uint8Array, start: number, end: number): void {
    if (type !== HS_SERVER_HELLO) {
      if (this.server === null) this.giveUp(side, `quic: server CRYPTO stream starts with handshake message type ${type}, not a ServerHello`);
      else side.on = false;
      return;
    }
    const r = parseServerHello(b, start, end);
    if (r.value !== null && !this.helloSeen[1]) {
      this.helloSeen[1] = true;
      this.letter(1, 'S');
    }
    if (r.problem !== null) this.sink.anomaly('tls_malformed_handshake', `quic: ${r.problem}`);
    if (r.value === null) {
      side.on = false;
      return;
    }
    this.server = r.value;
    this.serverPkt = this.sink.packetNo;
    if (r.value.helloRetry) this.helloRetry = true;
    else side.on = false;
  }

  private giveUp(side: Side, detail: string): void {
    this.sink.anomaly('tls_malformed_handshake', detail);
    side.on = false;
    side.crypto.release();
  }

  /** The TLS part is over: its row is written (once) and the CRYPTO buffers are dropped. */
  private finishTls(): void {
    if (this.tlsDone) return;
    this.tlsDone = true;
    for (const s of this.sides) s.crypto.release();
    this.keySets = [];
    if (this.fingerprinted !== null && !this.emitted) {
      this.emitted = true;
      this.sink.emit(TLS, this.row());
    }
  }

  private row(): Record<string, unknown> {
    const ch = this.client;
    const fp = this.fingerprinted;
    const sh = this.server;
    const versions = ch?.supportedVersions ?? null;
    return {
      ts: { sec: this.firstSec, ns: this.firstNs },
      version: sh === null ? null : versionName(sh.version),
      cipher: sh === null ? null : cipherName(sh.cipher),
      curve: sh?.keyShareGroup == null ? null : groupName(sh.keyShareGroup),
      server_name: ch?.serverName ?? null,
      resumed: sh !== null && !sh.helloRetry && sh.preSharedKey,
      next_protocol: null,
      established: false,
      client_version: ch === null ? null : versionName(ch.version),
      client_supported_versions: versions === null ? null : versions.filter((v) => !isGrease(v)).map(versionName).join(','),
      client_alpn: ch === null || ch.alpn.length === 0 ? null : ch.alpn.join(','),
      ja3: fp === null ? null : ja3Hash(fp),
      ja3s: sh === null ? null : ja3sHash(sh),
      ja4: fp === null ? null : ja4(fp, 'q'),
      subject: null,
      issuer: null,
      not_valid_before: null,
      not_valid_after: null,
      self_signed: null,
      cert_sha1: null,
      cert_sha256: null,
      cert_chain_len: 0,
      client_hello_packet: this.clientPkt,
      server_hello_packet: this.serverPkt,
    };
  }
}

function newSide(): Side {
  return { crypto: new CryptoStream(), parsedTo: 0, on: true, largestPn: -1 };
}

/** A QUIC Initial parser for one UDP connection (dir 0: the client). */
export function createQuic(sink: AppSink): DatagramParser {
  return new QuicParser(sink);
}
