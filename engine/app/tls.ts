/**
 * TLS handshake parser: one `tls` row per connection in the spirit of Zeek's ssl.log, with the
 * JA3/JA3S (Salesforce) and JA4 (FoxIO, client only) fingerprints and the server's leaf
 * certificate for TLS 1.2 and older.
 *
 * Each direction is cut into records (5-byte headers; SSLv2 2/3-byte headers for SSLv2-compatible
 * hellos). Handshake records are reassembled into handshake messages (a message may span records,
 * a record may hold several messages); the ClientHello, ServerHello, Certificate and
 * ServerKeyExchange are decoded, everything else is skipped without copying. Once both directions
 * send encrypted records the row is written and `done` is set, so the ingest stops reassembling
 * the (encrypted, uninteresting) rest of the connection.
 *
 * Deliberate differences from Zeek / Wireshark:
 * - One row per connection, written when both directions are encrypted or at end(); Zeek's
 *   `last_alert`, `ssl_history`, client certificates and the full chain (x509.log) are not kept:
 *   only the leaf's subject, issuer, validity, fingerprints and chain length.
 * - After a HelloRetryRequest the second ClientHello and ServerHello give the negotiated values
 *   (RFC 8446 keeps SNI, ALPN and versions equal in both ClientHellos), but JA3 and JA4 fingerprint
 *   the first ClientHello, the client's unprompted offer, as the JA4 reference tools do.
 * - `ts` is the time of the packet where the first ClientHello began; `client_hello_packet` is the
 *   frame where that (fingerprinted) ClientHello ended and `server_hello_packet` the frame where
 *   the ServerHello that counts ended: the frames where Wireshark shows them.
 * - A second ClientHello without HelloRetryRequest (a duplicate or a replay) is ignored: the first
 *   one counts, as in the JA4 reference tools.
 * - `resumed` for TLS <= 1.2: non-empty session id echoed by the server, or the server's
 *   ChangeCipherSpec came without a Certificate message (session tickets, but also anonymous and
 *   PSK suites); for TLS 1.3: the ServerHello carries pre_shared_key. Zeek uses similar rules.
 * - GREASE values are removed from every JA3/JA4 list, signature algorithms included (the FoxIO
 *   spec; older JA4 tools kept GREASE signature algorithms) and from client_supported_versions.
 * - SSLv2 hellos are decoded (client version, ciphers, server version, chosen cipher, certificate)
 *   but get no JA3/JA4: both fingerprints are defined on the TLS ClientHello.
 * - Unknown cipher suites and groups are named like Zeek does: `unknown-<decimal>`.
 * - JA4's ALPN characters follow JA4.md: hex nibbles when the first or last byte of the first
 *   protocol is not alphanumeric (older FoxIO tools printed "99" for such bytes).
 * - A leaf that X509Certificate rejects gets NULL in every certificate column, fingerprints
 *   included (Zeek hashes the bytes in its file analysis even when they do not parse).
 * - Certificate names use OpenSSL's RFC 2253 rendering as Zeek does (last RDN first, `,` between
 *   RDNs, `+` inside one); attributes OpenSSL has no short name for are printed as dotted OIDs with
 *   their string value, where Zeek would dump the DER as `#hex`.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { TLS } from '../../common/fields.js';
import type { AppSink, Dir, StreamParser } from './types.js';

/** Largest record body accepted: TLSCiphertext's limit (2^14 + 2048, RFC 5246 6.2.3). */
export const MAX_RECORD_LEN = 16384 + 2048;
/** Largest handshake message kept for parsing (long certificate chains); larger ones are skipped. */
export const MAX_HANDSHAKE_LEN = 256 * 1024;
/** A handshake buffer grown above this is dropped after use instead of being kept for the next message. */
const KEEP_BUFFER_LEN = 16 * 1024;

const CT_CHANGE_CIPHER_SPEC = 20;
const CT_HANDSHAKE = 22;
const CT_APPLICATION_DATA = 23;
const CT_HEARTBEAT = 24;

const HS_CLIENT_HELLO = 1;
const HS_SERVER_HELLO = 2;
const HS_CERTIFICATE = 11;
const HS_SERVER_KEY_EXCHANGE = 12;

const EXT_SERVER_NAME = 0;
const EXT_SUPPORTED_GROUPS = 10;
const EXT_EC_POINT_FORMATS = 11;
const EXT_SIGNATURE_ALGORITHMS = 13;
const EXT_ALPN = 16;
/** key_share in TLS 1.3 drafts before 23. */
const EXT_KEY_SHARE_DRAFT = 40;
const EXT_PRE_SHARED_KEY = 41;
const EXT_SUPPORTED_VERSIONS = 43;
const EXT_KEY_SHARE = 51;

const SSL2_CLIENT_HELLO = 1;
const SSL2_CLIENT_MASTER_KEY = 2;
const SSL2_SERVER_HELLO = 4;

const EMPTY = new Uint8Array(0);

/** ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest") (RFC 8446 4.1.3). */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

// ---------------------------------------------------------------------------------------------
// Names

/** GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ..., 0xfafa. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

/** Zeek's version names (SSLv3, TLSv10 ... TLSv13, TLSv13-draftN, unknown-N). */
export function versionName(v: number): string {
  switch (v) {
    case 0x0002:
      return 'SSLv2';
    case 0x0300:
      return 'SSLv3';
    case 0x0301:
      return 'TLSv10';
    case 0x0302:
      return 'TLSv11';
    case 0x0303:
      return 'TLSv12';
    case 0x0304:
      return 'TLSv13';
    case 0xfeff:
      return 'DTLSv10';
    case 0xfefd:
      return 'DTLSv12';
    case 0xfefc:
      return 'DTLSv13';
  }
  if (v >> 8 === 0x7f) return `TLSv13-draft${v & 0xff}`;
  return `unknown-${v}`;
}

/** TLS 1.3 or one of its drafts (IETF 0x7fNN, Facebook 0xfbNN): the handshake after ServerHello is encrypted. */
function isTls13(v: number): boolean {
  return v === 0x0304 || v >> 8 === 0x7f || v >> 8 === 0xfb;
}

// IANA names of the cipher suites seen in practice (and all of the corpus): code, name.
const CIPHER_LIST = `
0000 NULL_WITH_NULL_NULL|0001 RSA_WITH_NULL_MD5|0002 RSA_WITH_NULL_SHA|0003 RSA_EXPORT_WITH_RC4_40_MD5
0004 RSA_WITH_RC4_128_MD5|0005 RSA_WITH_RC4_128_SHA|0006 RSA_EXPORT_WITH_RC2_CBC_40_MD5|0007 RSA_WITH_IDEA_CBC_SHA
0008 RSA_EXPORT_WITH_DES40_CBC_SHA|0009 RSA_WITH_DES_CBC_SHA|000a RSA_WITH_3DES_EDE_CBC_SHA
000b DH_DSS_EXPORT_WITH_DES40_CBC_SHA|000c DH_DSS_WITH_DES_CBC_SHA|000d DH_DSS_WITH_3DES_EDE_CBC_SHA
000e DH_RSA_EXPORT_WITH_DES40_CBC_SHA|000f DH_RSA_WITH_DES_CBC_SHA|0010 DH_RSA_WITH_3DES_EDE_CBC_SHA
0011 DHE_DSS_EXPORT_WITH_DES40_CBC_SHA|0012 DHE_DSS_WITH_DES_CBC_SHA|0013 DHE_DSS_WITH_3DES_EDE_CBC_SHA
0014 DHE_RSA_EXPORT_WITH_DES40_CBC_SHA|0015 DHE_RSA_WITH_DES_CBC_SHA|0016 DHE_RSA_WITH_3DES_EDE_CBC_SHA
0017 DH_anon_EXPORT_WITH_RC4_40_MD5|0018 DH_anon_WITH_RC4_128_MD5|0019 DH_anon_EXPORT_WITH_DES40_CBC_SHA
001a DH_anon_WITH_DES_CBC_SHA|001b DH_anon_WITH_3DES_EDE_CBC_SHA
002f RSA_WITH_AES_128_CBC_SHA|0030 DH_DSS_WITH_AES_128_CBC_SHA|0031 DH_RSA_WITH_AES_128_CBC_SHA
0032 DHE_DSS_WITH_AES_128_CBC_SHA|0033 DHE_RSA_WITH_AES_128_CBC_SHA|0034 DH_anon_WITH_AES_128_CBC_SHA
0035 RSA_WITH_AES_256_CBC_SHA|0036 DH_DSS_WITH_AES_256_CBC_SHA|0037 DH_RSA_WITH_AES_256_CBC_SHA
0038 DHE_DSS_WITH_AES_256_CBC_SHA|0039 DHE_RSA_WITH_AES_256_CBC_SHA|003a DH_anon_WITH_AES_256_CBC_SHA
003b RSA_WITH_NULL_SHA256|003c RSA_WITH_AES_128_CBC_SHA256|003d RSA_WITH_AES_256_CBC_SHA256
003e DH_DSS_WITH_AES_128_CBC_SHA256|003f DH_RSA_WITH_AES_128_CBC_SHA256|0040 DHE_DSS_WITH_AES_128_CBC_SHA256
0041 RSA_WITH_CAMELLIA_128_CBC_SHA|0042 DH_DSS_WITH_CAMELLIA_128_CBC_SHA|0043 DH_RSA_WITH_CAMELLIA_128_CBC_SHA
0044 DHE_DSS_WITH_CAMELLIA_128_CBC_SHA|0045 DHE_RSA_WITH_CAMELLIA_128_CBC_SHA|0046 DH_anon_WITH_CAMELLIA_128_CBC_SHA
0067 DHE_RSA_WITH_AES_128_CBC_SHA256|0068 DH_DSS_WITH_AES_256_CBC_SHA256|0069 DH_RSA_WITH_AES_256_CBC_SHA256
006a DHE_DSS_WITH_AES_256_CBC_SHA256|006b DHE_RSA_WITH_AES_256_CBC_SHA256|006c DH_anon_WITH_AES_128_CBC_SHA256
006d DH_anon_WITH_AES_256_CBC_SHA256|0084 RSA_WITH_CAMELLIA_256_CBC_SHA|0085 DH_DSS_WITH_CAMELLIA_256_CBC_SHA
0086 DH_RSA_WITH_CAMELLIA_256_CBC_SHA|0087 DHE_DSS_WITH_CAMELLIA_256_CBC_SHA|0088 DHE_RSA_WITH_CAMELLIA_256_CBC_SHA
0089 DH_anon_WITH_CAMELLIA_256_CBC_SHA|008a PSK_WITH_RC4_128_SHA|008b PSK_WITH_3DES_EDE_CBC_SHA
008c PSK_WITH_AES_128_CBC_SHA|008d PSK_WITH_AES_256_CBC_SHA|008e DHE_PSK_WITH_RC4_128_SHA
008f DHE_PSK_WITH_3DES_EDE_CBC_SHA|0090 DHE_PSK_WITH_AES_128_CBC_SHA|0091 DHE_PSK_WITH_AES_256_CBC_SHA
0092 RSA_PSK_WITH_RC4_128_SHA|0093 RSA_PSK_WITH_3DES_EDE_CBC_SHA|0094 RSA_PSK_WITH_AES_128_CBC_SHA
0095 RSA_PSK_WITH_AES_256_CBC_SHA|0096 RSA_WITH_SEED_CBC_SHA|0097 DH_DSS_WITH_SEED_CBC_SHA
0098 DH_RSA_WITH_SEED_CBC_SHA|0099 DHE_DSS_WITH_SEED_CBC_SHA|009a DHE_RSA_WITH_SEED_CBC_SHA|009b DH_anon_WITH_SEED_CBC_SHA
009c RSA_WITH_AES_128_GCM_SHA256|009d RSA_WITH_AES_256_GCM_SHA384|009e DHE_RSA_WITH_AES_128_GCM_SHA256
009f DHE_RSA_WITH_AES_256_GCM_SHA384|00a0 DH_RSA_WITH_AES_128_GCM_SHA256|00a1 DH_RSA_WITH_AES_256_GCM_SHA384
00a2 DHE_DSS_WITH_AES_128_GCM_SHA256|00a3 DHE_DSS_WITH_AES_256_GCM_SHA384|00a4 DH_DSS_WITH_AES_128_GCM_SHA256
00a5 DH_DSS_WITH_AES_256_GCM_SHA384|00a6 DH_anon_WITH_AES_128_GCM_SHA256|00a7 DH_anon_WITH_AES_256_GCM_SHA384
00a8 PSK_WITH_AES_128_GCM_SHA256|00a9 PSK_WITH_AES_256_GCM_SHA384|00aa DHE_PSK_WITH_AES_128_GCM_SHA256
00ab DHE_PSK_WITH_AES_256_GCM_SHA384|00ac RSA_PSK_WITH_AES_128_GCM_SHA256|00ad RSA_PSK_WITH_AES_256_GCM_SHA384
00ae PSK_WITH_AES_128_CBC_SHA256|00af PSK_WITH_AES_256_CBC_SHA384
00ba RSA_WITH_CAMELLIA_128_CBC_SHA256|00bd DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256|00be DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
00c0 RSA_WITH_CAMELLIA_256_CBC_SHA256|00c3 DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256|00c4 DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256
00ff EMPTY_RENEGOTIATION_INFO_SCSV|5600 FALLBACK_SCSV
1301 AES_128_GCM_SHA256|1302 AES_256_GCM_SHA384|1303 CHACHA20_POLY1305_SHA256|1304 AES_128_CCM_SHA256
1305 AES_128_CCM_8_SHA256
c001 ECDH_ECDSA_WITH_NULL_SHA|c002 ECDH_ECDSA_WITH_RC4_128_SHA|c003 ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA
c004 ECDH_ECDSA_WITH_AES_128_CBC_SHA|c005 ECDH_ECDSA_WITH_AES_256_CBC_SHA|c006 ECDHE_ECDSA_WITH_NULL_SHA
c007 ECDHE_ECDSA_WITH_RC4_128_SHA|c008 ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA|c009 ECDHE_ECDSA_WITH_AES_128_CBC_SHA
c00a ECDHE_ECDSA_WITH_AES_256_CBC_SHA|c00b ECDH_RSA_WITH_NULL_SHA|c00c ECDH_RSA_WITH_RC4_128_SHA
c00d ECDH_RSA_WITH_3DES_EDE_CBC_SHA|c00e ECDH_RSA_WITH_AES_128_CBC_SHA|c00f ECDH_RSA_WITH_AES_256_CBC_SHA
c010 ECDHE_RSA_WITH_NULL_SHA|c011 ECDHE_RSA_WITH_RC4_128_SHA|c012 ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
c013 ECDHE_RSA_WITH_AES_128_CBC_SHA|c014 ECDHE_RSA_WITH_AES_256_CBC_SHA|c015 ECDH_anon_WITH_NULL_SHA
c016 ECDH_anon_WITH_RC4_128_SHA|c017 ECDH_anon_WITH_3DES_EDE_CBC_SHA|c018 ECDH_anon_WITH_AES_128_CBC_SHA
c019 ECDH_anon_WITH_AES_256_CBC_SHA
c023 ECDHE_ECDSA_WITH_AES_128_CBC_SHA256|c024 ECDHE_ECDSA_WITH_AES_256_CBC_SHA384|c025 ECDH_ECDSA_WITH_AES_128_CBC_SHA256
c026 ECDH_ECDSA_WITH_AES_256_CBC_SHA384|c027 ECDHE_RSA_WITH_AES_128_CBC_SHA256|c028 ECDHE_RSA_WITH_AES_256_CBC_SHA384
c029 ECDH_RSA_WITH_AES_128_CBC_SHA256|c02a ECDH_RSA_WITH_AES_256_CBC_SHA384|c02b ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
c02c ECDHE_ECDSA_WITH_AES_256_GCM_SHA384|c02d ECDH_ECDSA_WITH_AES_128_GCM_SHA256|c02e ECDH_ECDSA_WITH_AES_256_GCM_SHA384
c02f ECDHE_RSA_WITH_AES_128_GCM_SHA256|c030 ECDHE_RSA_WITH_AES_256_GCM_SHA384|c031 ECDH_RSA_WITH_AES_128_GCM_SHA256
c032 ECDH_RSA_WITH_AES_256_GCM_SHA384|c033 ECDHE_PSK_WITH_RC4_128_SHA|c034 ECDHE_PSK_WITH_3DES_EDE_CBC_SHA
c035 ECDHE_PSK_WITH_AES_128_CBC_SHA|c036 ECDHE_PSK_WITH_AES_256_CBC_SHA|c037 ECDHE_PSK_WITH_AES_128_CBC_SHA256
c038 ECDHE_PSK_WITH_AES_256_CBC_SHA384
c072 ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256|c073 ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384
c076 ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256|c077 ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384
c09c RSA_WITH_AES_128_CCM|c09d RSA_WITH_AES_256_CCM|c09e DHE_RSA_WITH_AES_128_CCM|c09f DHE_RSA_WITH_AES_256_CCM
c0a0 RSA_WITH_AES_128_CCM_8|c0a1 RSA_WITH_AES_256_CCM_8|c0a2 DHE_RSA_WITH_AES_128_CCM_8|c0a3 DHE_RSA_WITH_AES_256_CCM_8
c0ac ECDHE_ECDSA_WITH_AES_128_CCM|c0ad ECDHE_ECDSA_WITH_AES_256_CCM|c0ae ECDHE_ECDSA_WITH_AES_128_CCM_8
c0af ECDHE_ECDSA_WITH_AES_256_CCM_8
cc13 ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD|cc14 ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256_OLD
cc15 DHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD
cca8 ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256|cca9 ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
ccaa DHE_RSA_WITH_CHACHA20_POLY1305_SHA256|ccab PSK_WITH_CHACHA20_POLY1305_SHA256
ccac ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256|ccad DHE_PSK_WITH_CHACHA20_POLY1305_SHA256
ccae RSA_PSK_WITH_CHACHA20_POLY1305_SHA256`;

// SSLv2 cipher kinds (3 bytes), with Zeek's names.
const SSL2_CIPHERS: ReadonlyMap<number, string> = new Map([
  [0x010080, 'SSLv20_CK_RC4_128_WITH_MD5'],
  [0x020080, 'SSLv20_CK_RC4_128_EXPORT40_WITH_MD5'],
  [0x030080, 'SSLv20_CK_RC2_128_CBC_WITH_MD5'],
  [0x040080, 'SSLv20_CK_RC2_128_CBC_EXPORT40_WITH_MD5'],
  [0x050080, 'SSLv20_CK_IDEA_128_CBC_WITH_MD5'],
  [0x060040, 'SSLv20_CK_DES_64_CBC_WITH_MD5'],
  [0x0700c0, 'SSLv20_CK_DES_192_EDE3_CBC_WITH_MD5'],
]);

const CIPHERS: ReadonlyMap<number, string> = new Map(
  CIPHER_LIST.split(/[|\n]/)
    .filter((s) => s.length > 0)
    .map((s) => [parseInt(s.slice(0, 4), 16), `TLS_${s.slice(5)}`] as [number, string]),
);

/** IANA name of a cipher suite (SSLv2 cipher kinds above 0xffff too); unknown ones as Zeek prints them. */
export function cipherName(code: number): string {
  return (code > 0xffff ? SSL2_CIPHERS.get(code) : CIPHERS.get(code)) ?? `unknown-${code}`;
}

// Supported groups (named curves), Zeek's names.
const GROUPS: ReadonlyMap<number, string> = new Map([
  ...'sect163k1 sect163r1 sect163r2 sect193r1 sect193r2 sect233k1 sect233r1 sect239k1 sect283k1 sect283r1 sect409k1 sect409r1 sect571k1 sect571r1 secp160k1 secp160r1 secp160r2 secp192k1 secp192r1 secp224k1 secp224r1 secp256k1 secp256r1 secp384r1 secp521r1 brainpoolP256r1 brainpoolP384r1 brainpoolP512r1 x25519 x448 brainpoolP256r1tls13 brainpoolP384r1tls13 brainpoolP512r1tls13 GC256A GC256B GC256C GC256D GC512A GC512B GC512C curveSM2'
    .split(' ')
    .map((n, i) => [i + 1, n] as [number, string]),
  [256, 'ffdhe2048'],
  [257, 'ffdhe3072'],
  [258, 'ffdhe4096'],
  [259, 'ffdhe6144'],
  [260, 'ffdhe8192'],
  [512, 'MLKEM512'],
  [513, 'MLKEM768'],
  [514, 'MLKEM1024'],
  [4587, 'SecP256r1MLKEM768'],
  [4588, 'X25519MLKEM768'],
  [4589, 'SecP384r1MLKEM1024'],
  [4590, 'curveSM2MLKEM768'],
  [16696, 'CECPQ2'],
  [25497, 'X25519Kyber768Draft00'],
  [25498, 'SecP256r1Kyber768Draft00'],
  [0xff01, 'arbitrary_explicit_prime_curves'],
  [0xff02, 'arbitrary_explicit_char2_curves'],
]);

/** Name of a supported group / named curve, as Zeek prints it. */
export function groupName(code: number): string {
  return GROUPS.get(code) ?? `unknown-${code}`;
}

/** Whether a TLS <= 1.2 suite's ServerKeyExchange starts with ECDH parameters (after a PSK hint for ECDHE_PSK). */
function ecdhKind(cipher: number): 'ecdh' | 'ecdhe_psk' | null {
  const name = CIPHERS.get(cipher);
  if (name === undefined) return null;
  if (name.startsWith('TLS_ECDHE_PSK_')) return 'ecdhe_psk';
  if (name.startsWith('TLS_ECDHE_') || name.startsWith('TLS_ECDH_anon_')) return 'ecdh';
  return null;
}

/** Bytes as text: printable ASCII kept, anything else (and ',' and '\') as \xNN, like Zeek's escaping. */
export function escapeBytes(b: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = b[i];
    s += c >= 0x20 && c < 0x7f && c !== 0x2c && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

function hex(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Message decoding (pure functions over a byte range)

/** A bounds-checked reader: reads past the end return 0 and set `bad` instead of throwing. */
class Cursor {
  bad = false;
  constructor(
    readonly b: Uint8Array,
    public p: number,
    readonly e: number,
  ) {}
  left(): number {
    return this.e - this.p;
  }
  private need(n: number): boolean {
    if (this.p + n <= this.e) return true;
    this.bad = true;
    this.p = this.e;
    return false;
  }
  u8(): number {
    return this.need(1) ? this.b[this.p++] : 0;
  }
  u16(): number {
    if (!this.need(2)) return 0;
    const v = (this.b[this.p] << 8) | this.b[this.p + 1];
    this.p += 2;
    return v;
  }
  u24(): number {
    if (!this.need(3)) return 0;
    const v = (this.b[this.p] << 16) | (this.b[this.p + 1] << 8) | this.b[this.p + 2];
    this.p += 3;
    return v;
  }
  /** Start offset of the next `n` bytes, which are skipped (-1 when they are not all there). */
  take(n: number): number {
    const at = this.p;
    return this.need(n) ? ((this.p += n), at) : -1;
  }
  /** A reader over the next `n` bytes; this one moves past them. */
  sub(n: number): Cursor {
    const at = this.p;
    const ok = this.need(n);
    const c = new Cursor(this.b, at, ok ? at + n : at);
    if (ok) this.p += n;
    else c.bad = true;
    return c;
  }
}

function u16List(c: Cursor, out: number[]): void {
  while (c.left() >= 2) out.push(c.u16());
  if (c.left() !== 0) c.bad = true;
}

export interface ClientHelloInfo {
  /** legacy_version of the hello (SSLv2-compatible hellos: their version field). */
  version: number;
  /** Session id as hex ('' when empty). */
  sessionId: string;
  ciphers: number[];
  compressions: number[];
  /** Extension types in order (GREASE included; the fingerprints remove it). */
  extensions: number[];
  serverName: string | null;
  groups: number[];
  pointFormats: number[];
  sigAlgs: number[];
  /** ALPN protocols offered, escaped text. */
  alpn: string[];
  /** Raw bytes of the first ALPN protocol (JA4 looks at its first and last byte). */
  alpnFirst: Uint8Array | null;
  /** supported_versions, or null without the extension. */
  supportedVersions: number[] | null;
  keyShareGroups: number[];
  /** An SSLv2-compatible hello (no extensions, no fingerprints). */
  ssl2: boolean;
}

export interface Parsed<T> {
  value: T | null;
  /** Why the message (or part of it) did not parse; null when it did. */
  problem: string | null;
}

function newClientHello(version: number, ssl2: boolean): ClientHelloInfo {
  return {
    version,
    sessionId: '',
    ciphers: [],
    compressions: [],
    extensions: [],
    serverName: null,
    groups: [],
    pointFormats: [],
    sigAlgs: [],
    alpn: [],
    alpnFirst: null,
    supportedVersions: null,
    keyShareGroups: [],
    ssl2,
  };
}

/** Decodes a ClientHello body (after the 4-byte handshake header). Extensions that do not parse are reported, the rest is kept. */
export function parseClientHello(b: Uint8Array, start: number, end: number): Parsed<ClientHelloInfo> {
  const c = new Cursor(b, start, end);
  const h = newClientHello(c.u16(), false);
  c.take(32); // random
  const sid = c.sub(c.u8());
  const suites = c.sub(c.u16());
  const comp = c.sub(c.u8());
  if (c.bad || suites.left() % 2 !== 0) return { value: null, problem: 'ClientHello shorter than its fixed fields' };
  h.sessionId = hex(b, sid.p, sid.e);
  u16List(suites, h.ciphers);
  while (comp.left() > 0) h.compressions.push(comp.u8());
  if (c.left() === 0) return { value: h, problem: null }; // no extensions block (SSLv3 / old TLS)
  const exts = c.sub(c.u16());
  if (c.bad) return { value: h, problem: 'ClientHello extensions run past the message' };
  const problem = clientExtensions(exts, h);
  return { value: h, problem };
}

function clientExtensions(exts: Cursor, h: ClientHelloInfo): string | null {
  let problem: string | null = null;
  while (exts.left() > 0) {
    const type = exts.u16();
    const body = exts.sub(exts.u16());
    if (exts.bad) return `ClientHello extension ${type} runs past the extensions block`;
    h.extensions.push(type);
    if (!clientExtension(type, body) && problem === null) problem = `ClientHello extension ${type} does not parse`;
  }
  return problem;

  function clientExtension(type: number, e: Cursor): boolean {
    switch (type) {
      case EXT_SERVER_NAME: {
        const list = e.sub(e.u16());
        while (list.left() > 0) {
          const nameType = list.u8();
          const name = list.sub(list.u16());
          if (nameType === 0 && h.serverName === null && !name.bad) h.serverName = escapeBytes(name.b, name.p, name.e);
        }
        return !e.bad && !list.bad;
      }
      case EXT_SUPPORTED_GROUPS: {
        const list = e.sub(e.u16());
        u16List(list, h.groups);
        return !e.bad && !list.bad;
      }
      case EXT_EC_POINT_FORMATS: {
        const list = e.sub(e.u8());
        while (list.left() > 0) h.pointFormats.push(list.u8());
        return !e.bad;
      }
      case EXT_SIGNATURE_ALGORITHMS: {
        const list = e.sub(e.u16());
        u16List(list, h.sigAlgs);
        return !e.bad && !list.bad;
      }
      case EXT_ALPN: {
        const list = e.sub(e.u16());
        while (list.left() > 0) {
          const p = list.sub(list.u8());
          if (p.bad) break;
          if (h.alpnFirst === null) h.alpnFirst = p.b.slice(p.p, p.e);
          h.alpn.push(escapeBytes(p.b, p.p, p.e));
        }
        return !e.bad && !list.bad;
      }
      case EXT_SUPPORTED_VERSIONS: {
        const list = e.sub(e.u8());
        h.supportedVersions = [];
        u16List(list, h.supportedVersions);
        return !e.bad && !list.bad;
      }
      case EXT_KEY_SHARE: {
        const list = e.sub(e.u16());
        while (list.left() > 0) {
          const group = list.u16();
          list.sub(list.u16());
          if (!list.bad) h.keyShareGroups.push(group);
        }
        return !e.bad && !list.bad;
      }
      default:
        return true;
    }
  }
}

/** Decodes an SSLv2 CLIENT-HELLO record body (starting at its message type byte). */
export function parseSsl2ClientHello(b: Uint8Array, start: number, end: number): Parsed<ClientHelloInfo> {
  const c = new Cursor(b, start, end);
  if (c.u8() !== SSL2_CLIENT_HELLO) return { value: null, problem: 'SSLv2 record is not a CLIENT-HELLO' };
  const h = newClientHello(c.u16(), true);
  const specLen = c.u16();
  const sidLen = c.u16();
  const challengeLen = c.u16();
  const specs = c.sub(specLen);
  const sid = c.sub(sidLen);
  c.take(challengeLen);
  if (c.bad || specLen % 3 !== 0) return { value: null, problem: 'SSLv2 CLIENT-HELLO runs past its record' };
  while (specs.left() >= 3) h.ciphers.push(specs.u24());
  h.sessionId = hex(b, sid.p, sid.e);
  return { value: h, problem: null };
}

export interface ServerHelloInfo {
  legacyVersion: number;
  /** Negotiated version: supported_versions when present, else legacy_version. */
  version: number;
  helloRetry: boolean;
  sessionId: string;
  cipher: number;
  extensions: number[];
  alpn: string | null;
  keyShareGroup: number | null;
  preSharedKey: boolean;
}

/** Decodes a ServerHello body (after the 4-byte handshake header), HelloRetryRequest included. */
export function parseServerHello(b: Uint8Array, start: number, end: number): Parsed<ServerHelloInfo> {
  const c = new Cursor(b, start, end);
  const legacyVersion = c.u16();
  const random = c.take(32);
  // TLS 1.3 drafts before 22 had neither session id nor compression method.
  const oldDraft = legacyVersion >> 8 === 0x7f && (legacyVersion & 0xff) < 22;
  const sid = oldDraft ? c.sub(0) : c.sub(c.u8());
  const cipher = c.u16();
  if (!oldDraft) c.u8(); // compression method
  if (c.bad) return { value: null, problem: 'ServerHello shorter than its fixed fields' };
  const s: ServerHelloInfo = {
    legacyVersion,
    version: legacyVersion,
    helloRetry: random >= 0 && HRR_RANDOM.equals(b.subarray(random, random + 32)),
    sessionId: hex(b, sid.p, sid.e),
    cipher,
    extensions: [],
    alpn: null,
    keyShareGroup: null,
    preSharedKey: false,
  };
  if (c.left() === 0) return { value: s, problem: null };
  const exts = c.sub(c.u16());
  if (c.bad) return { value: s, problem: 'ServerHello extensions run past the message' };
  while (exts.left() > 0) {
    const type = exts.u16();
    const e = exts.sub(exts.u16());
    if (exts.bad) return { value: s, problem: `ServerHello extension ${type} runs past the extensions block` };
    s.extensions.push(type);
    if (type === EXT_SUPPORTED_VERSIONS && e.left() >= 2) s.version = e.u16();
    else if ((type === EXT_KEY_SHARE || type === EXT_KEY_SHARE_DRAFT) && e.left() >= 2) s.keyShareGroup = e.u16();
    else if (type === EXT_PRE_SHARED_KEY) s.preSharedKey = true;
    else if (type === EXT_ALPN) {
      const list = e.sub(e.u16());
      const p = list.sub(list.u8());
      if (!p.bad) s.alpn = escapeBytes(p.b, p.p, p.e);
    }
  }
  return { value: s, problem: null };
}

/** Offsets of the DER certificates of a TLS <= 1.2 Certificate message body. */
export function parseCertificateList(b: Uint8Array, start: number, end: number): Parsed<{ start: number; end: number }[]> {
  const c = new Cursor(b, start, end);
  const list = c.sub(c.u24());
  const certs: { start: number; end: number }[] = [];
  while (!list.bad && list.left() > 0) {
    const len = list.u24();
    const at = list.take(len);
    if (at >= 0) certs.push({ start: at, end: at + len });
  }
  if (c.bad || list.bad) return { value: certs, problem: 'Certificate list runs past the message' };
  return { value: certs, problem: null };
}

/** Named curve of an ECDHE ServerKeyExchange (curve_type 3 = named_curve), or null. */
export function serverKeyExchangeCurve(cipher: number, b: Uint8Array, start: number, end: number): number | null {
  const kind = ecdhKind(cipher);
  if (kind === null) return null;
  const c = new Cursor(b, start, end);
  if (kind === 'ecdhe_psk') c.sub(c.u16()); // psk_identity_hint
  if (c.u8() !== 3) return null;
  const curve = c.u16();
  return c.bad ? null : curve;
}

// ---------------------------------------------------------------------------------------------
// Fingerprints

function md5(s: string): string {
  return createHash('md5').update(s).digest('hex');
}

function sha256Prefix12(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 12);
}

function dropGrease(list: readonly number[]): number[] {
  return list.filter((v) => !isGrease(v));
}

/** JA3 input: "SSLVersion,Ciphers,Extensions,EllipticCurves,EllipticCurvePointFormats", decimal, '-' joined, GREASE removed. */
export function ja3String(h: ClientHelloInfo): string {
  return [
    String(h.version),
    dropGrease(h.ciphers).join('-'),
    dropGrease(h.extensions).join('-'),
    dropGrease(h.groups).join('-'),
    h.pointFormats.join('-'),
  ].join(',');
}

/** A fingerprint's inputs: lists of numbers (null: a list the hello did not have). */
type FingerprintKey = (ArrayLike<number> | null)[];

/**
 * Fingerprints already computed, by the lists they are computed from. Clients of one kind send
 * the same lists on every connection, while building and hashing the fingerprint strings costs
 * about 10 µs per handshake (1 GB workload: 7,000 handshakes, about 70 ms of the ingest thread);
 * a hit hashes and compares the lists. Hits are exact: an entry keeps its lists and they are
 * compared element by element, so a collision of the numeric hash only costs a miss.
 */
export class FingerprintCache {
  private readonly map = new Map<number, { key: number[][]; value: string }[]>();
  private size = 0;
  /** Numbers kept in the entries' lists. */
  private kept = 0;
  /**
   * `limit`: entries; `maxNumbers`: numbers kept in all entries (a hostile hello may carry tens of
   * thousands of ciphers: the cache is cleared when full); keys longer than `maxKey` numbers are
   * computed and not kept (real hellos have fewer than 200).
   */
  constructor(
    private readonly limit = 4096,
    private readonly maxNumbers = 1 << 19,
    private readonly maxKey = 1024,
  ) {}

  get(key: FingerprintKey, make: () => string): string {
    let n = 0;
    for (const l of key) n += l === null ? 1 : l.length;
    if (n > this.maxKey) return make();
    const h = hashLists(key);
    const bucket = this.map.get(h);
    if (bucket !== undefined) for (const e of bucket) if (sameLists(e.key, key)) return e.value;
    const value = make();
    if (this.size >= this.limit || this.kept + n > this.maxNumbers) {
      this.map.clear();
      this.size = 0;
      this.kept = 0;
    }
    const entry = { key: key.map((l) => (l === null ? [-1] : Array.from(l))), value };
    const same = this.map.get(h); // looked up again: the map may have been cleared
    if (same !== undefined) same.push(entry);
    else this.map.set(h, [entry]);
    this.size++;
    this.kept += n;
    return value;
  }
}

/** The lists as kept in a cache entry: a null list is [-1] (values are never negative). */
function sameLists(kept: number[][], key: FingerprintKey): boolean {
  for (let i = 0; i < key.length; i++) {
    const a = kept[i];
    const b = key[i];
    if (b === null) {
      if (a.length !== 1 || a[0] !== -1) return false;
      continue;
    }
    if (a.length !== b.length) return false;
    for (let j = 0; j < b.length; j++) if (a[j] !== b[j]) return false;
  }
  return true;
}

/** FNV-1a over the lists (exported for tests). */
export function hashLists(key: FingerprintKey): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    const l = key[i];
    h = Math.imul(h ^ (l === null ? 0xffffffff : l.length), 0x01000193);
    if (l !== null) for (let j = 0; j < l.length; j++) h = Math.imul(h ^ l[j], 0x01000193);
  }
  return h >>> 0;
}

const ja3Cache = new FingerprintCache();
const ja3sCache = new FingerprintCache();
const ja4Cache = new FingerprintCache();

export function ja3Hash(h: ClientHelloInfo): string {
  return ja3Cache.get([[h.version], h.ciphers, h.extensions, h.groups, h.pointFormats], () => md5(ja3String(h)));
}

/** JA3S input: "SSLVersion,Cipher,Extensions" of the ServerHello (legacy version field). */
export function ja3sString(s: ServerHelloInfo): string {
  return [String(s.legacyVersion), String(s.cipher), dropGrease(s.extensions).join('-')].join(',');
}

export function ja3sHash(s: ServerHelloInfo): string {
  return ja3sCache.get([[s.legacyVersion, s.cipher], s.extensions], () => md5(ja3sString(s)));
}

const JA4_VERSIONS: ReadonlyMap<number, string> = new Map([
  [0x0304, '13'],
  [0x0303, '12'],
  [0x0302, '11'],
  [0x0301, '10'],
  [0x0300, 's3'],
  [0x0002, 's2'],
  [0xfeff, 'd1'],
  [0xfefd, 'd2'],
  [0xfefc, 'd3'],
]);

function isAlnum(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** JA4's two ALPN characters: first and last byte of the first protocol, or hex nibbles when either is not alphanumeric. */
export function ja4Alpn(first: Uint8Array | null): string {
  if (first === null || first.length === 0) return '00';
  const a = first[0];
  const z = first[first.length - 1];
  if (isAlnum(a) && isAlnum(z)) return String.fromCharCode(a, z);
  return (a >> 4).toString(16) + (z & 0x0f).toString(16);
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

function twoDigits(n: number): string {
  return String(Math.min(n, 99)).padStart(2, '0');
}

interface Ja4Parts {
  a: string;
  ciphers: string;
  extsSigs: string;
  noExtensions: boolean;
}

function ja4Parts(h: ClientHelloInfo, transport: 't' | 'q' | 'd'): Ja4Parts {
  const ciphers = dropGrease(h.ciphers);
  const exts = dropGrease(h.extensions);
  const versions = h.supportedVersions === null ? [] : dropGrease(h.supportedVersions);
  const version = versions.length > 0 ? Math.max(...versions) : h.version;
  const a =
    transport +
    (JA4_VERSIONS.get(version) ?? '00') +
    (exts.includes(EXT_SERVER_NAME) ? 'd' : 'i') +
    twoDigits(ciphers.length) +
    twoDigits(exts.length) +
    ja4Alpn(h.alpnFirst);
  const sortedExts = exts.filter((e) => e !== EXT_SERVER_NAME && e !== EXT_ALPN).sort((x, y) => x - y);
  const sigs = dropGrease(h.sigAlgs).map(hex4).join(',');
  return {
    a,
    ciphers: [...ciphers].sort((x, y) => x - y).map(hex4).join(','),
    extsSigs: sortedExts.map(hex4).join(',') + (sigs.length > 0 ? `_${sigs}` : ''),
    noExtensions: sortedExts.length === 0,
  };
}

/** JA4 (FoxIO) of a ClientHello, e.g. t13d1516h2_8daaf6152771_b186095e22b6. */
export function ja4(h: ClientHelloInfo, transport: 't' | 'q' | 'd' = 't'): string {
  const key = [[h.version, transport.charCodeAt(0)], h.ciphers, h.extensions, h.supportedVersions, h.sigAlgs, h.alpnFirst];
  return ja4Cache.get(key, () => ja4Uncached(h, transport));
}

function ja4Uncached(h: ClientHelloInfo, transport: 't' | 'q' | 'd'): string {
  const p = ja4Parts(h, transport);
  const b = p.ciphers.length === 0 ? '000000000000' : sha256Prefix12(p.ciphers);
  const c = p.noExtensions ? '000000000000' : sha256Prefix12(p.extsSigs);
  return `${p.a}_${b}_${c}`;
}

/** JA4_r: the unhashed form, for checking against the reference tools' raw output. */
export function ja4Raw(h: ClientHelloInfo, transport: 't' | 'q' | 'd' = 't'): string {
  const p = ja4Parts(h, transport);
  return `${p.a}_${p.ciphers}_${p.extsSigs}`;
}

// ---------------------------------------------------------------------------------------------
// Certificates

export interface LeafInfo {
  subject: string | null;
  issuer: string | null;
  notValidBefore: { sec: number; ns: number } | null;
  notValidAfter: { sec: number; ns: number } | null;
  selfSigned: boolean | null;
  sha1: string | null;
  sha256: string | null;
}

/**
 * OpenSSL's RFC 2253 form (what Zeek logs) from Node's multi-line form: Node prints RDNs in
 * certificate order one per line, multi-valued RDNs joined by " + "; RFC 2253 reverses all
 * attributes and joins RDNs with ',' and the attributes of one RDN with '+'. Values are escaped
 * the same way by both (RFC 2253 specials and control characters).
 */
export function rfc2253(multiline: string): string {
  if (multiline === '') return '';
  return multiline
    .split('\n')
    .reverse()
    .map((rdn) => rdn.split(' + ').reverse().join('+'))
    .join(',');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Parses OpenSSL's ASN1_TIME_print form ("Jul 24 16:08:25 2018 GMT", optionally with fractional seconds). */
export function parseCertTime(s: string): { sec: number; ns: number } | null {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(\.\d+)? (\d{4}) GMT$/.exec(s);
  if (m === null) return null;
  const month = MONTHS.indexOf(m[1]);
  if (month < 0) return null;
  const ms = Date.UTC(Number(m[7]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  if (!Number.isFinite(ms)) return null;
  const ns = m[6] === undefined ? 0 : Math.round(Number(`0${m[6]}`) * 1e9);
  return { sec: Math.floor(ms / 1000), ns: Math.min(ns, 999_999_999) };
}

/**
 * Certificates already described, by SHA-256 of their DER: a server presents the same leaf on
 * every connection, and parsing it (X509Certificate, signature check) costs far more than the hash.
 */
const described = new Map<string, LeafInfo | null>();
const DESCRIBED_LIMIT = 4096;

/** Describes a DER certificate; null when X509Certificate rejects it. */
export function describeCertificate(der: Uint8Array): LeafInfo | null {
  const sha256 = createHash('sha256').update(der).digest('hex');
  const known = described.get(sha256);
  if (known !== undefined) return known;
  const info = describeUncached(der, sha256);
  if (described.size >= DESCRIBED_LIMIT) described.clear();
  described.set(sha256, info);
  return info;
}

function describeUncached(der: Uint8Array, sha256: string): LeafInfo | null {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return null; // not DER X.509 (OpenSSL's reason is not useful to the user)
  }
  // Node gives undefined (despite its typings) for an empty name; Zeek logs it as an empty string.
  const subject = rfc2253((cert.subject as string | undefined) ?? '');
  const issuer = rfc2253((cert.issuer as string | undefined) ?? '');
  return {
    subject,
    issuer,
    notValidBefore: parseCertTime(cert.validFrom),
    notValidAfter: parseCertTime(cert.validTo),
    selfSigned: subject === issuer && verifiesWithOwnKey(cert),
    sha1: createHash('sha1').update(der).digest('hex'),
    sha256,
  };
}

function verifiesWithOwnKey(cert: X509Certificate): boolean {
  try {
    return cert.verify(cert.publicKey);
  } catch {
    return false; // key type OpenSSL cannot load (e.g. explicit curve parameters)
  }
}

// ---------------------------------------------------------------------------------------------
// Detection

/**
 * Whether a stream's first bytes look like a TLS (or SSLv2-compatible) ClientHello or a TLS
 * ServerHello. Needs at least 6 bytes (the record header and the handshake type); fewer -> false.
 */
export function looksLikeTls(b: Uint8Array, start: number, end: number): boolean {
  if (end - start < 6) return false;
  const b0 = b[start];
  if (b0 === CT_HANDSHAKE) {
    if (b[start + 1] !== 3 || b[start + 2] > 4) return false;
    const len = (b[start + 3] << 8) | b[start + 4];
    if (len < 4 || len > MAX_RECORD_LEN) return false;
    const type = b[start + 5];
    if (type !== HS_CLIENT_HELLO && type !== HS_SERVER_HELLO) return false;
    if (end - start >= 9) {
      const hsLen = (b[start + 6] << 16) | (b[start + 7] << 8) | b[start + 8];
      if (hsLen < 36) return false; // smaller than any hello (a TLS 1.3 draft ServerHello has 36 fixed bytes)
    }
    return true;
  }
  if ((b0 & 0x80) !== 0) {
    // SSLv2-compatible CLIENT-HELLO: 2-byte header, type 1, version 0x0002 or 0x0300-0x0304
    const len = ((b0 & 0x7f) << 8) | b[start + 1];
    const version = (b[start + 3] << 8) | b[start + 4];
    return len >= 9 && b[start + 2] === SSL2_CLIENT_HELLO && (version === 0x0002 || (version >= 0x0300 && version <= 0x0304));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The stream parser

/** Per-direction record and handshake reassembly state. */
class Side {
  /** Record header bytes gathered so far (5 for TLS, 2 or 3 for SSLv2). */
  readonly hdr = new Uint8Array(5);
  hdrLen = 0;
  inRecord = false;
  recType = 0;
  /** Bytes of the current record body still to come. */
  recLeft = 0;
  records = 0;
  /** The current record is SSLv2-framed; its body is gathered in `hs` when `ssl2Keep`. */
  ssl2Record = false;
  ssl2Keep = false;
  /** Handshake reassembly buffer (at most 4 + MAX_HANDSHAKE_LEN bytes) and its fill. */
  hs: Uint8Array = EMPTY;
  hsLen = 0;
  /** Bytes of an oversized handshake message still to skip. */
  hsSkip = 0;
  /** Handshake records of this direction are still cleartext and parsed. */
  hsOn = true;
  /** ChangeCipherSpec seen (TLS <= 1.2): later records are encrypted. */
  ccs = false;
  /** Sent an encrypted record (after ChangeCipherSpec, or application_data). */
  encrypted = false;
  stopped = false;
  /** Time of the packet where the handshake message being gathered began. */
  msgSec = 0;
  msgNs = 0;
}

class TlsParser implements StreamParser {
  done = false;
  private readonly sides: [Side, Side] = [new Side(), new Side()];
  private client: ClientHelloInfo | null = null;
  /** The first ClientHello: JA3/JA4 fingerprint it even after a HelloRetryRequest, as the JA4 tools do. */
  private fingerprinted: ClientHelloInfo | null = null;
  private server: ServerHelloInfo | null = null;
  /** The ServerHello seen was a HelloRetryRequest: the next ClientHello replaces the first. */
  private helloRetry = false;
  private secondClientHello = false;
  private ssl2Server = false;
  private ssl2Cipher: number | null = null;
  private ssl2SessionHit = false;
  private firstSec = 0;
  private firstNs = 0;
  private clientPkt: number | null = null;
  private serverPkt: number | null = null;
  private curve: number | null = null;
  private certSeen = false;
  private chainLen = 0;
  private leaf: LeafInfo | null = null;
  private resumedNoCert = false;
  private serviced = false;

  constructor(private readonly sink: AppSink) {}

  data(dir: Dir, b: Uint8Array, start: number, end: number): void {
    const s = this.sides[dir];
    let p = start;
    while (p < end && !this.done && !s.stopped) {
      if (!s.inRecord) p = this.header(dir, s, b, p, end);
      else p = this.body(dir, s, b, p, end);
    }
  }

  gap(dir: Dir, len: number): void {
    const s = this.sides[dir];
    if (this.done || s.stopped || len <= 0) return;
    if (s.inRecord && len <= s.recLeft) {
      // Framing survives a hole inside a record body; a handshake message in it is lost.
      s.recLeft -= len;
      if (s.recType === CT_HANDSHAKE || s.ssl2Keep) this.stopHandshake(s);
      if (s.recLeft === 0) this.recordEnd(dir, s);
    } else {
      this.stop(dir); // record boundaries are lost
    }
  }

  end(): void {
    this.finish();
  }

  // --- records ---------------------------------------------------------------------------

  /** Gathers a record header; returns the new position. */
  private header(dir: Dir, s: Side, b: Uint8Array, p: number, end: number): number {
    if (s.hdrLen === 0) s.ssl2Record = this.ssl2Framed(dir, s, b[p]);
    const first = s.hdrLen > 0 ? s.hdr[0] : b[p];
    const need = !s.ssl2Record ? 5 : (first & 0x80) !== 0 ? 2 : 3;
    while (s.hdrLen < need && p < end) s.hdr[s.hdrLen++] = b[p++];
    if (s.hdrLen < need) return p;
    s.hdrLen = 0;
    if (s.ssl2Record) this.ssl2Header(dir, s);
    else this.tlsHeader(dir, s);
    return p;
  }

  /** SSLv2 framing: the client's first record with the high bit set, and everything once the server answered in SSLv2. */
  private ssl2Framed(dir: Dir, s: Side, first: number): boolean {
    if (this.ssl2Server) return true;
    return s.records === 0 && (first & 0x80) !== 0 && (dir === 0 || this.client?.ssl2 === true);
  }

  private tlsHeader(dir: Dir, s: Side): void {
    const h = s.hdr;
    const type = h[0];
    const len = (h[3] << 8) | h[4];
    const typeOk = type >= CT_CHANGE_CIPHER_SPEC && type <= CT_HEARTBEAT;
    if (!typeOk || h[1] !== 3 || h[2] > 4 || len > MAX_RECORD_LEN) {
      const what = !typeOk ? `content type ${type}` : len > MAX_RECORD_LEN ? `length ${len}` : `version 0x${hex4((h[1] << 8) | h[2])}`;
      this.malformedRecord(dir, `bad record header (${what}) after ${s.records} records`);
      return;
    }
    s.records++;
    s.recType = type;
    s.recLeft = len;
    s.inRecord = true;
    s.ssl2Keep = false;
    this.recordStart(dir, s, type);
    if (!this.done && len === 0) this.recordEnd(dir, s);
  }

  private ssl2Header(dir: Dir, s: Side): void {
    const h = s.hdr;
    const len = h[0] & 0x80 ? ((h[0] & 0x7f) << 8) | h[1] : ((h[0] & 0x3f) << 8) | h[1];
    s.records++;
    s.recType = 0;
    s.recLeft = len;
    s.inRecord = true;
    // The hellos and the CLIENT-MASTER-KEY (chosen cipher) are read; later records are encrypted.
    s.ssl2Keep = s.records <= (dir === 0 ? 2 : 1) && s.hsOn;
    s.hsLen = 0;
    if (s.ssl2Keep) {
      this.ensure(s, len);
      this.markMessageStart(s);
    }
    // SSLv2: the server's records after SERVER-HELLO and the client's after CLIENT-MASTER-KEY are encrypted.
    if (this.ssl2Server && s.records >= (dir === 0 ? 3 : 2)) this.markEncrypted(s);
    if (!this.done && len === 0) this.recordEnd(dir, s);
  }

  /** Record-level bookkeeping: ChangeCipherSpec, encrypted records, establishment. */
  private recordStart(dir: Dir, s: Side, type: number): void {
    const tls13 = this.server !== null && isTls13(this.server.version);
    if (type === CT_APPLICATION_DATA) this.markEncrypted(s);
    else if (s.ccs && !tls13) this.markEncrypted(s);
    if (type === CT_CHANGE_CIPHER_SPEC && !tls13 && !s.ccs) {
      // TLS 1.3's middlebox-compatibility ChangeCipherSpec is ignored: records stay as they are.
      s.ccs = true;
      s.hsOn = false;
      if (dir === 1 && this.server !== null && !this.certSeen) this.resumedNoCert = true;
    }
  }

  private markEncrypted(s: Side): void {
    s.encrypted = true;
    if (this.sides[0].encrypted && this.sides[1].encrypted) this.finish();
  }

  private body(dir: Dir, s: Side, b: Uint8Array, p: number, end: number): number {
    const n = Math.min(s.recLeft, end - p);
    if (s.ssl2Keep) {
      s.hs.set(b.subarray(p, p + n), s.hsLen);
      s.hsLen += n;
    } else if (s.recType === CT_HANDSHAKE && s.hsOn) {
      this.handshakeBytes(dir, s, b, p, p + n);
    }
    s.recLeft -= n;
    if (s.recLeft === 0 && !this.done) this.recordEnd(dir, s);
    return p + n;
  }

  private recordEnd(dir: Dir, s: Side): void {
    s.inRecord = false;
    if (s.ssl2Keep) {
      s.ssl2Keep = false;
      this.ssl2Message(dir, s.hs, 0, s.hsLen);
      s.hsLen = 0;
      this.trimBuffer(s);
    }
  }

  // --- handshake messages ----------------------------------------------------------------

  /** Feeds bytes of handshake records; complete messages are decoded, from the input when whole, else from the buffer. */
  private handshakeBytes(dir: Dir, s: Side, b: Uint8Array, p: number, end: number): void {
    while (p < end && s.hsOn && !this.done) {
      if (s.hsSkip > 0) {
        const n = Math.min(s.hsSkip, end - p);
        s.hsSkip -= n;
        p += n;
        continue;
      }
      if (s.hsLen === 0 && end - p >= 4) {
        const len = (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
        if (len <= end - p - 4) {
          this.markMessageStart(s);
          this.message(dir, s, b[p], b, p + 4, p + 4 + len);
          p += 4 + len;
          continue;
        }
      }
      if (s.hsLen === 0) this.markMessageStart(s);
      if (s.hsLen < 4) {
        this.ensure(s, 4);
        while (s.hsLen < 4 && p < end) s.hs[s.hsLen++] = b[p++];
        if (s.hsLen < 4) return;
      }
      const len = (s.hs[1] << 16) | (s.hs[2] << 8) | s.hs[3];
      if (len > MAX_HANDSHAKE_LEN) {
        this.sink.anomaly('tls_malformed_handshake', `handshake message type ${s.hs[0]} of ${len} bytes exceeds ${MAX_HANDSHAKE_LEN}; skipped`);
        s.hsSkip = len;
        s.hsLen = 0;
        continue;
      }
      this.ensure(s, 4 + len);
      const n = Math.min(4 + len - s.hsLen, end - p);
      s.hs.set(b.subarray(p, p + n), s.hsLen);
      s.hsLen += n;
      p += n;
      if (s.hsLen === 4 + len) {
        s.hsLen = 0;
        this.message(dir, s, s.hs[0], s.hs, 4, 4 + len);
        this.trimBuffer(s);
      }
    }
  }

  private markMessageStart(s: Side): void {
    s.msgSec = this.sink.tsSec;
    s.msgNs = this.sink.tsNs;
  }

  private message(dir: Dir, s: Side, type: number, b: Uint8Array, start: number, end: number): void {
    if (dir === 0 && type === HS_CLIENT_HELLO) this.clientHello(s, parseClientHello(b, start, end));
    else if (dir === 1 && type === HS_SERVER_HELLO) this.serverHello(s, b, start, end);
    else if (dir === 1 && type === HS_CERTIFICATE) this.certificate(b, start, end);
    else if (dir === 1 && type === HS_SERVER_KEY_EXCHANGE && this.server !== null) {
      const curve = serverKeyExchangeCurve(this.server.cipher, b, start, end);
      if (curve !== null) this.curve = curve;
    }
  }

  private clientHello(s: Side, r: Parsed<ClientHelloInfo>): void {
    if (r.problem !== null) this.sink.anomaly('tls_malformed_handshake', r.problem);
    if (r.value === null) return;
    if (this.client !== null) {
      // Only the ClientHello answering a HelloRetryRequest replaces the first one.
      if (!this.helloRetry || this.secondClientHello) return;
      this.secondClientHello = true;
    } else {
      this.firstSec = s.msgSec;
      this.firstNs = s.msgNs;
      this.fingerprinted = r.value;
      this.clientPkt = this.sink.packetNo;
    }
    this.client = r.value;
    this.serviceOnce();
  }

  private serverHello(s: Side, b: Uint8Array, start: number, end: number): void {
    const r = parseServerHello(b, start, end);
    if (r.problem !== null) this.sink.anomaly('tls_malformed_handshake', r.problem);
    const sh = r.value;
    if (sh === null) return;
    if (this.server !== null && !this.server.helloRetry) return; // a duplicate: the first counts
    if (this.client === null && this.server === null) {
      this.firstSec = s.msgSec;
      this.firstNs = s.msgNs;
    }
    this.server = sh;
    this.serverPkt = this.sink.packetNo;
    if (sh.helloRetry) this.helloRetry = true;
    else if (isTls13(sh.version)) {
      s.hsOn = false; // the rest of the server's handshake is encrypted
      if (sh.keyShareGroup !== null) this.curve = sh.keyShareGroup;
    }
    this.serviceOnce();
  }

  private certificate(b: Uint8Array, start: number, end: number): void {
    if (this.certSeen || (this.server !== null && isTls13(this.server.version))) return;
    this.certSeen = true;
    const r = parseCertificateList(b, start, end);
    if (r.problem !== null) this.sink.anomaly('tls_malformed_handshake', r.problem);
    const certs = r.value ?? [];
    this.chainLen = certs.length;
    if (certs.length > 0) this.leafCertificate(b.subarray(certs[0].start, certs[0].end));
  }

  private leafCertificate(der: Uint8Array): void {
    this.leaf = describeCertificate(der);
    if (this.leaf === null) this.sink.anomaly('tls_bad_certificate', `leaf certificate of ${der.length} bytes is not DER X.509`);
  }

  // --- SSLv2 -----------------------------------------------------------------------------

  private ssl2Message(dir: Dir, b: Uint8Array, start: number, end: number): void {
    if (end <= start) return;
    const type = b[start];
    if (dir === 0 && type === SSL2_CLIENT_HELLO && this.client === null) {
      this.clientHello(this.sides[0], parseSsl2ClientHello(b, start, end));
    } else if (dir === 1 && type === SSL2_SERVER_HELLO) {
      this.ssl2ServerHello(b, start, end);
    } else if (dir === 0 && type === SSL2_CLIENT_MASTER_KEY && end - start >= 4) {
      this.ssl2Cipher = (b[start + 1] << 16) | (b[start + 2] << 8) | b[start + 3];
    } else if (dir === 0 && this.client === null) {
      this.sink.anomaly('tls_malformed_handshake', `SSLv2 record with message type ${type} where a CLIENT-HELLO was expected`);
      this.stopHandshake(this.sides[0]);
    }
  }

  /** SSLv2 SERVER-HELLO: session-id-hit, certificate type, version, lengths, certificate, cipher specs, connection id. */
  private ssl2ServerHello(b: Uint8Array, start: number, end: number): void {
    const c = new Cursor(b, start + 1, end);
    const hit = c.u8();
    const certType = c.u8();
    c.u16(); // server version (0x0002)
    const certLen = c.u16();
    const specLen = c.u16();
    c.u16(); // connection id length
    const cert = c.take(certLen);
    const specs = c.sub(specLen);
    if (c.bad) {
      this.sink.anomaly('tls_malformed_handshake', 'SSLv2 SERVER-HELLO runs past its record');
      return;
    }
    this.ssl2Server = true;
    this.ssl2SessionHit = hit !== 0;
    this.serverPkt = this.sink.packetNo;
    if (specs.left() >= 3) this.ssl2Cipher = specs.u24(); // replaced by the client's choice in CLIENT-MASTER-KEY
    if (certType === 1 && certLen > 0) {
      this.certSeen = true;
      this.chainLen = 1;
      this.leafCertificate(b.subarray(cert, cert + certLen));
    }
    this.serviceOnce();
  }

  // --- state -----------------------------------------------------------------------------

  private ensure(s: Side, n: number): void {
    if (s.hs.length >= n) return;
    const grown = new Uint8Array(Math.min(Math.max(n, s.hs.length * 2, 512), 4 + MAX_HANDSHAKE_LEN));
    grown.set(s.hs.subarray(0, s.hsLen));
    s.hs = grown;
  }

  private trimBuffer(s: Side): void {
    if (s.hsLen === 0 && s.hs.length > KEEP_BUFFER_LEN) s.hs = EMPTY;
  }

  private stopHandshake(s: Side): void {
    s.hsOn = false;
    s.ssl2Keep = false;
    s.hsLen = 0;
    s.hsSkip = 0;
    s.hs = EMPTY;
  }

  private malformedRecord(dir: Dir, detail: string): void {
    this.sink.anomaly('tls_malformed_record', detail);
    if (this.client === null && this.server === null) {
      this.done = true; // not TLS at all
      this.release();
      return;
    }
    this.stop(dir);
  }

  private stop(dir: Dir): void {
    const s = this.sides[dir];
    s.stopped = true;
    this.stopHandshake(s);
    if (this.sides[0].stopped && this.sides[1].stopped) this.finish();
  }

  private serviceOnce(): void {
    if (this.serviced) return;
    this.serviced = true;
    this.sink.service('ssl');
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.client !== null || this.server !== null || this.ssl2Server) this.sink.emit(TLS, this.row());
    this.release();
  }

  private release(): void {
    for (const s of this.sides) this.stopHandshake(s);
  }

  private resumed(): boolean {
    const ch = this.client;
    const sh = this.server;
    if (this.ssl2Server) return this.ssl2SessionHit;
    if (sh === null || sh.helloRetry) return false;
    if (isTls13(sh.version)) return sh.preSharedKey;
    if (this.resumedNoCert) return true;
    return ch !== null && sh.sessionId !== '' && sh.sessionId === ch.sessionId;
  }

  private row(): Record<string, unknown> {
    const ch = this.client;
    const sh = this.server;
    const fp = this.fingerprinted !== null && !this.fingerprinted.ssl2 ? this.fingerprinted : null;
    const leaf = this.leaf;
    let version: string | null = null;
    let cipher: string | null = null;
    if (this.ssl2Server) {
      version = versionName(0x0002);
      cipher = this.ssl2Cipher === null ? null : cipherName(this.ssl2Cipher);
    } else if (sh !== null) {
      version = versionName(sh.version);
      cipher = cipherName(sh.cipher);
    }
    const clientVersions = ch?.supportedVersions ?? null;
    return {
      ts: { sec: this.firstSec, ns: this.firstNs },
      version,
      cipher,
      curve: this.curve === null ? null : groupName(this.curve),
      server_name: ch?.serverName ?? null,
      resumed: this.resumed(),
      next_protocol: sh?.alpn ?? null,
      established: this.sides[0].encrypted && this.sides[1].encrypted,
      client_version: ch === null ? null : versionName(ch.version),
      client_supported_versions: clientVersions === null ? null : dropGrease(clientVersions).map(versionName).join(','),
      client_alpn: ch === null || ch.alpn.length === 0 ? null : ch.alpn.join(','),
      ja3: fp === null ? null : ja3Hash(fp),
      ja3s: sh !== null ? ja3sHash(sh) : null,
      ja4: fp === null ? null : ja4(fp),
      subject: leaf?.subject ?? null,
      issuer: leaf?.issuer ?? null,
      not_valid_before: leaf?.notValidBefore ?? null,
      not_valid_after: leaf?.notValidAfter ?? null,
      self_signed: leaf?.selfSigned ?? null,
      cert_sha1: leaf?.sha1 ?? null,
      cert_sha256: leaf?.sha256 ?? null,
      cert_chain_len: Math.min(this.chainLen, 255),
      client_hello_packet: this.clientPkt,
      server_hello_packet: this.serverPkt,
    };
  }
}

/** A TLS parser for one TCP connection. */
export function createTls(sink: AppSink): StreamParser {
  return new TlsParser(sink);
}
