/**
 * TLS parser: record layer, handshake reassembly, ClientHello/ServerHello/Certificate/
 * ServerKeyExchange decoding, JA3/JA3S/JA4, the leaf certificate and the one-row-per-connection
 * life cycle, on hand-built bytes and on the public captures in ../shared/pcaps.
 *
 * Where the expected values of real captures come from (each test says which it uses):
 * - Zeek ssl.log baselines next to the captures (the Zeek ja3 package's logs for ja3_*.pcap);
 * - tshark 4.0: `-Y tls.handshake.type==1 -T fields -e tls.handshake.extensions_server_name -e
 *   tls.handshake.ja3`, `-Y tls.handshake.type==2 -e tls.handshake.ciphersuite -e
 *   tls.handshake.ja3s` (with `-o tcp.reassemble_out_of_order:TRUE` where segments arrive out of
 *   order), and `-e tls.handshake.certificate` for the DER of the leaf, whose SHA-1/SHA-256 were
 *   computed with sha1sum/sha256sum and whose names/dates were printed by
 *   `openssl x509 -inform der -nameopt RFC2253 -subject -issuer -dates`;
 * - the FoxIO JA4 tool's *.ja4.json next to the ja4_* captures, and nDPI's *.ndpi.out.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { TCP_ACK, TCP_SYN } from '../../engine/decode/packet.js';
import { ReassemblyBudget, TcpStream } from '../../engine/streams/tcp-reassembler.js';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import {
  FingerprintCache, MAX_HANDSHAKE_LEN, MAX_RECORD_LEN, cipherName, createTls, describeCertificate, escapeBytes, groupName, hashLists, isGrease,
  ja3Hash, ja3String, ja3sHash, ja3sString, ja4, ja4Alpn, ja4Raw, looksLikeTls, parseCertTime, parseClientHello, parseServerHello, rfc2253, versionName,
  type ClientHelloInfo,
} from '../../engine/app/tls.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { forEachDecoded } from '../helpers/capture.js';

const PCAPS = new URL('../../../shared/pcaps/', import.meta.url).pathname;

// --- builders -------------------------------------------------------------------------------

const bytes = (...parts: (Buffer | number[])[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer): Buffer => bytes([b.length], b);
const vec16 = (b: Buffer): Buffer => bytes(u16(b.length), b);
const vec24 = (b: Buffer): Buffer => bytes(u24(b.length), b);
const list16 = (vals: number[]): Buffer => Buffer.concat(vals.map(u16));

const ext = (type: number, body: Buffer): Buffer => bytes(u16(type), vec16(body));
const extSni = (name: string): Buffer => ext(0, vec16(bytes([0], vec16(Buffer.from(name, 'latin1')))));
const extGroups = (g: number[]): Buffer => ext(10, vec16(list16(g)));
const extPointFormats = (f: number[]): Buffer => ext(11, vec8(Buffer.from(f)));
const extSigAlgs = (s: number[]): Buffer => ext(13, vec16(list16(s)));
const extAlpn = (protos: (string | Buffer)[]): Buffer =>
  ext(16, vec16(Buffer.concat(protos.map((p) => vec8(typeof p === 'string' ? Buffer.from(p, 'latin1') : p)))));
const extVersionsClient = (v: number[]): Buffer => ext(43, vec8(list16(v)));
const extVersionServer = (v: number): Buffer => ext(43, u16(v));
const extKeyShareClient = (groups: number[]): Buffer => ext(51, vec16(Buffer.concat(groups.map((g) => bytes(u16(g), vec16(Buffer.alloc(32, 7)))))));
const extKeyShareServer = (group: number): Buffer => ext(51, bytes(u16(group), vec16(Buffer.alloc(32, 9))));
const extKeyShareHrr = (group: number): Buffer => ext(51, u16(group));
const extPsk = (): Buffer => ext(41, u16(0));

interface ChOpts {
  version?: number;
  sid?: Buffer;
  ciphers?: number[];
  comp?: number[];
  exts?: Buffer[] | null;
}
function clientHelloBody(o: ChOpts = {}): Buffer {
  const exts = o.exts === undefined ? [extSni('example.com')] : o.exts;
  return bytes(
    u16(o.version ?? 0x0303),
    Buffer.alloc(32, 0x11),
    vec8(o.sid ?? Buffer.alloc(0)),
    vec16(list16(o.ciphers ?? [0xc02f, 0x1301])),
    vec8(Buffer.from(o.comp ?? [0])),
    exts === null ? Buffer.alloc(0) : vec16(Buffer.concat(exts)),
  );
}

const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

interface ShOpts {
  version?: number;
  random?: Buffer;
  sid?: Buffer;
  cipher?: number;
  exts?: Buffer[] | null;
}
function serverHelloBody(o: ShOpts = {}): Buffer {
  const exts = o.exts === undefined ? [] : o.exts;
  return bytes(
    u16(o.version ?? 0x0303),
    o.random ?? Buffer.alloc(32, 0x22),
    vec8(o.sid ?? Buffer.alloc(0)),
    u16(o.cipher ?? 0xc02f),
    [0],
    exts === null ? Buffer.alloc(0) : vec16(Buffer.concat(exts)),
  );
}

const hs = (type: number, body: Buffer): Buffer => bytes([type], u24(body.length), body);
const record = (type: number, body: Buffer, version = 0x0303): Buffer => bytes([type], u16(version), u16(body.length), body);
const hsRecord = (...msgs: Buffer[]): Buffer => record(22, Buffer.concat(msgs));
const CH = (o?: ChOpts): Buffer => hs(1, clientHelloBody(o));
const SH = (o?: ShOpts): Buffer => hs(2, serverHelloBody(o));
const CERT = (ders: Buffer[]): Buffer => hs(11, vec24(Buffer.concat(ders.map(vec24))));
const SKE_ECDHE = (curve: number): Buffer => hs(12, bytes([3], u16(curve), vec8(Buffer.alloc(65, 4)), u16(0x0403), vec16(Buffer.alloc(70, 1))));
const SHD = hs(14, Buffer.alloc(0));
const CKE = hs(16, vec8(Buffer.alloc(65, 4)));
const CCS = record(20, Buffer.from([1]));
const FINISHED_ENC = record(22, Buffer.alloc(40, 0xee)); // encrypted Finished after ChangeCipherSpec
const APP = (n = 30): Buffer => record(23, Buffer.alloc(n, 0xaa));

// Test certificates made with openssl 3.0 (EC P-256); names and dates from
// `openssl x509 -nameopt RFC2253 -subject -issuer -dates`, hashes from sha1sum/sha256sum.
// ROOT: self-signed. LEAF: signed by ROOT. SAME_NAME: subject = issuer = ROOT's name, but signed by ROOT's key (not its own).
const ROOT_DER = Buffer.from(
  'MIIB2jCCAX+gAwIBAgIUOfqXu7CdkJDakBDF2RAKhoDYTqAwCgYIKoZIzj0EAwIwQjELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUluc3RhY2FwIFRlc3QxGzAZBgNVBAMMEkluc3RhY2FwIFRlc3QgUm9vdDAeFw0yNjExMjUyMDAxNDNaFw0zNjExMjIyMDAxNDNaMEIxCzAJBgNVBAYTAlVTMRYwFAYDVQQKDA1JbnN0YWNhcCBUZXN0MRswGQYDVQQDDBJJbnN0YWNhcCBUZXN0IFJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQzn868F1GvznJTnWZs5MJ9MaQxoai7yJX8i4u6w4k91WpFaE+Y0cqrnlSpjknMr/JZ929IThincrIgtReLsaFNo1MwUTAdBgNVHQ4EFgQUhpCNBReqkdLodp6z7EmV3y91R9swHwYDVR0jBBgwFoAUhpCNBReqkdLodp6z7EmV3y91R9swDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEA6mifBAQVAwTiIV2IxqLKcEnIsiNgA1x7tX8T22xFV5cCIQCk2IHdVWFoFs8GBLfwYm747qDkbPlTbWNQahonnOOnuw==',
  'base64',
);
const LEAF_DER = Buffer.from(
  'MIIBfTCCASQCAQcwCgYIKoZIzj0EAwIwQjELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUluc3RhY2FwIFRlc3QxGzAZBgNVBAMMEkluc3RhY2FwIFRlc3QgUm9vdDAeFw0yNjExMjUyMDAxNDNaFw0yNzExMjUyMDAxNDNaMFQxCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlhMRYwFAYDVQQKDA1FeGFtcGxlLCBJbmMuMRgwFgYDVQQDDA93d3cuZXhhbXBsZS5jb20wWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATibS/ZZtj0qODYX2xHWrR8BYqkcIURYJV44s144uUyS89gBQXklpl9+JxFxeCLpxUziAOKVJZbVfdvkf/8EGcmMAoGCCqGSM49BAMCA0cAMEQCIAcyiXftDK8uDc9Z43kxIslolZWEzUrNP9JYjpqlFE6FAiBRnfbMEx4Z8lnKn0cN5OG/E8PoblAJSQRIPY6c1MOZyg==',
  'base64',
);
const SAME_NAME_DER = Buffer.from(
  'MIIBbDCCARICAQkwCgYIKoZIzj0EAwIwQjELMAkGA1UEBhMCVVMxFjAUBgNVBAoMDUluc3RhY2FwIFRlc3QxGzAZBgNVBAMMEkluc3RhY2FwIFRlc3QgUm9vdDAeFw0yNjExMjUyMDAxNDdaFw0yNzExMjUyMDAxNDdaMEIxCzAJBgNVBAYTAlVTMRYwFAYDVQQKDA1JbnN0YWNhcCBUZXN0MRswGQYDVQQDDBJJbnN0YWNhcCBUZXN0IFJvb3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATImwlhtIm5/ZvQ0ivAuO7tCYNBjrtHNUVHFzXBF0BhEY4nIi5r1kvvw+cWGubfY2mzh84GK37S/VEjI1ZD1uC3MAoGCCqGSM49BAMCA0gAMEUCIQCnxmpSa+juH05F0zsVPdtZ8kQJOq0xwmqczv0X8iJd0QIgFxvLCZATqWJkTyz7jYTizX8fXOQcNR6/hq78Igqtd7o=',
  'base64',
);
const LEAF_INFO = {
  subject: 'CN=www.example.com,O=Example\\, Inc.,ST=California,C=US',
  issuer: 'CN=Instacap Test Root,O=Instacap Test,C=US',
  not_valid_before: { sec: 1795636903, ns: 0 }, // Nov 25 20:01:43 2026 GMT
  not_valid_after: { sec: 1827172903, ns: 0 }, // Nov 25 20:01:43 2027 GMT
  self_signed: false,
  cert_sha1: '746d5804ab75764020868aa378efe50bf3af6360',
  cert_sha256: '9193dc6840bf4736e4c1a3175176e4f997d4aa6ca72918d3928ca3087d6061fe',
};

function feed(parts: [Dir, Buffer][], sink = new RecordingSink()) {
  const p = createTls(sink);
  for (const [dir, data] of parts) {
    sink.at(sink.tsSec + 1, 0, sink.packetNo + 1);
    p.data(dir, data, 0, data.length);
  }
  return { p, sink };
}

function rowOf(sink: RecordingSink): Record<string, unknown> {
  const rows = sink.table('tls');
  expect(rows).toHaveLength(1);
  return rows[0];
}

/** A TLS 1.2 handshake with a two-certificate chain and ECDHE on secp256r1, completed in both directions. */
function tls12Handshake(): [Dir, Buffer][] {
  return [
    [0, hsRecord(CH({ exts: [extSni('www.example.com'), extGroups([29, 23]), extPointFormats([0]), extAlpn(['h2', 'http/1.1'])] }))],
    [1, hsRecord(SH({ exts: [extAlpn(['h2'])] }), CERT([LEAF_DER, ROOT_DER]), SKE_ECDHE(23), SHD)],
    [0, bytes(hsRecord(CKE), CCS, FINISHED_ENC)],
    [1, bytes(CCS, FINISHED_ENC)],
  ];
}

// --- pure helpers ---------------------------------------------------------------------------

describe('tls names', () => {
  it('GREASE is 0x?a?a with equal bytes', () => {
    for (let i = 0; i < 16; i++) expect(isGrease((i << 12) | 0x0a00 | (i << 4) | 0x0a)).toBe(true);
    expect(isGrease(0x0a1a)).toBe(false);
    expect(isGrease(0x1301)).toBe(false);
    expect(isGrease(0xaaab)).toBe(false);
  });

  it('versionName uses Zeek names, drafts and unknown-N', () => {
    expect([0x0002, 0x0300, 0x0301, 0x0302, 0x0303, 0x0304].map(versionName)).toEqual(['SSLv2', 'SSLv3', 'TLSv10', 'TLSv11', 'TLSv12', 'TLSv13']);
    expect(versionName(0x7f1c)).toBe('TLSv13-draft28');
    expect(versionName(0xfb1a)).toBe('unknown-64282');
    expect(versionName(0xfefd)).toBe('DTLSv12');
  });

  it('cipherName: IANA names, SSLv2 kinds, Zeek rendering of unknown suites', () => {
    expect(cipherName(0x1301)).toBe('TLS_AES_128_GCM_SHA256');
    expect(cipherName(0x1303)).toBe('TLS_CHACHA20_POLY1305_SHA256');
    expect(cipherName(0xc02f)).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    expect(cipherName(0xcca9)).toBe('TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256');
    expect(cipherName(0x0088)).toBe('TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA'); // Zeek dhe ssl.log
    expect(cipherName(0xc011)).toBe('TLS_ECDHE_RSA_WITH_RC4_128_SHA'); // Zeek tls-conn-with-extensions ssl.log
    expect(cipherName(0x0004)).toBe('TLS_RSA_WITH_RC4_128_MD5'); // Zeek tls1.2 ssl.log
    expect(cipherName(0x00ff)).toBe('TLS_EMPTY_RENEGOTIATION_INFO_SCSV');
    expect(cipherName(0x0700c0)).toBe('SSLv20_CK_DES_192_EDE3_CBC_WITH_MD5');
    expect(cipherName(0x1399)).toBe('unknown-5017');
  });

  it('groupName: Zeek names', () => {
    expect([23, 24, 25, 29, 30, 256, 4588, 25497].map(groupName)).toEqual([
      'secp256r1', 'secp384r1', 'secp521r1', 'x25519', 'x448', 'ffdhe2048', 'X25519MLKEM768', 'X25519Kyber768Draft00',
    ]);
    expect(groupName(0x1234)).toBe('unknown-4660');
  });

  it('escapeBytes keeps printable ASCII and escapes the rest, commas and backslashes', () => {
    const b = Buffer.from([0x68, 0x32, 0x00, 0xba, 0x2c, 0x5c, 0x7e]);
    expect(escapeBytes(b, 0, b.length)).toBe('h2\\x00\\xba\\x2c\\x5c~');
  });
});

describe('ja3 / ja3s', () => {
  it('ja3String drops GREASE from ciphers, extensions and groups and keeps order', () => {
    const r = parseClientHello(
      ...range(
        clientHelloBody({
          version: 0x0303,
          ciphers: [0x0a0a, 0xc02b, 0x1301, 0x00ff],
          exts: [ext(0x1a1a, Buffer.alloc(0)), extSni('a.example'), extGroups([0x2a2a, 29, 23]), extPointFormats([0, 1]), ext(23, Buffer.alloc(0))],
        }),
      ),
    );
    expect(r.problem).toBeNull();
    expect(ja3String(r.value!)).toBe('771,49195-4865-255,0-10-11-23,29-23,0-1');
    expect(ja3Hash(r.value!)).toBe(createHash('md5').update('771,49195-4865-255,0-10-11-23,29-23,0-1').digest('hex'));
  });

  it('ja3String with no extensions leaves the last three fields empty', () => {
    const r = parseClientHello(...range(clientHelloBody({ version: 0x0301, ciphers: [0x2f, 0x35], exts: null })));
    expect(ja3String(r.value!)).toBe('769,47-53,,,');
  });

  it('ja3sString uses the legacy version, the cipher and the extensions in order', () => {
    const r = parseServerHello(...range(serverHelloBody({ cipher: 0x1301, exts: [extKeyShareServer(29), extVersionServer(0x0304)] })));
    expect(r.value!.version).toBe(0x0304);
    expect(ja3sString(r.value!)).toBe('771,4865,51-43');
  });
});

describe('ja4', () => {
  // The worked example of FoxIO's JA4.md: cipher and extension lists in wire order, h2, TLS 1.3.
  const SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035];
  const SPEC_EXTS = [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015];
  const SPEC_SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
  const specHello = (o: Partial<ClientHelloInfo> = {}): ClientHelloInfo => ({
    version: 0x0303,
    sessionId: '',
    ciphers: [0x5a5a, ...SPEC_CIPHERS],
    compressions: [0],
    extensions: [0x3a3a, ...SPEC_EXTS, 0xfafa],
    serverName: 'example.com',
    groups: [],
    pointFormats: [],
    sigAlgs: SPEC_SIGS,
    alpn: ['h2'],
    alpnFirst: Buffer.from('h2'),
    supportedVersions: [0x7a7a, 0x0304, 0x0303],
    keyShareGroups: [],
    ssl2: false,
    ...o,
  });

  it('matches the spec example (JA4.md): t13d1516h2_8daaf6152771_e5627efa2ab1', () => {
    expect(ja4(specHello())).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
    expect(ja4Raw(specHello())).toBe(
      't13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601',
    );
  });

  it('without signature algorithms the extension list is hashed without "_" (JA4.md: 6d807ffa2a79)', () => {
    expect(ja4(specHello({ sigAlgs: [] })).split('_')[2]).toBe('6d807ffa2a79');
  });

  it('GREASE signature algorithms are ignored like every other GREASE value', () => {
    expect(ja4(specHello({ sigAlgs: [0x8a8a, ...SPEC_SIGS] }))).toBe('t13d1516h2_8daaf6152771_e5627efa2ab1');
  });

  it('empty cipher or extension lists give 000000000000; no SNI gives i; no supported_versions uses legacy_version', () => {
    const h = specHello({ ciphers: [], extensions: [0x0010], supportedVersions: null, serverName: null });
    expect(ja4(h)).toBe('t12i0001h2_000000000000_000000000000');
  });

  it('counts are capped at 99 and unknown versions print 00', () => {
    const many = Array.from({ length: 120 }, (_, i) => 0x0100 + i);
    expect(ja4(specHello({ ciphers: many, supportedVersions: [0x7f1c] })).slice(0, 10)).toBe('t00d9916h2');
  });

  it('ALPN characters follow JA4.md, hex nibbles when not alphanumeric', () => {
    expect(ja4Alpn(null)).toBe('00');
    expect(ja4Alpn(Buffer.alloc(0))).toBe('00');
    expect(ja4Alpn(Buffer.from('http/1.1'))).toBe('h1');
    expect(ja4Alpn(Buffer.from('h'))).toBe('hh');
    // the examples of JA4.md "ALPN Extension Value"
    expect(ja4Alpn(Buffer.from([0xab]))).toBe('ab');
    expect(ja4Alpn(Buffer.from([0xab, 0xcd]))).toBe('ad');
    expect(ja4Alpn(Buffer.from([0x30, 0xab]))).toBe('3b');
    expect(ja4Alpn(Buffer.from([0x30, 0x31, 0xab, 0xcd]))).toBe('3d');
    expect(ja4Alpn(Buffer.from([0x30, 0xab, 0xcd, 0x31]))).toBe('01');
  });
});

describe('certificate helpers', () => {
  it('rfc2253 reverses RDNs and the attributes of a multi-valued RDN', () => {
    // Node's X509Certificate.subject of `openssl req -multivalue-rdn -subj "/C=US/O=Acme, Inc./OU=Unit+CN=host/emailAddress=a@b.c"`,
    // and what `openssl x509 -nameopt RFC2253` printed for it
    expect(rfc2253('C=US\nO=Acme\\, Inc.\nOU=Unit + CN=host\nemailAddress=a@b.c')).toBe('emailAddress=a@b.c,CN=host+OU=Unit,O=Acme\\, Inc.,C=US');
    expect(rfc2253('')).toBe('');
  });

  it('parseCertTime reads OpenSSL time strings', () => {
    expect(parseCertTime('Jul 24 16:08:25 2018 GMT')).toEqual({ sec: 1532448505, ns: 0 });
    expect(parseCertTime('Oct  2 16:00:00 2018 GMT')).toEqual({ sec: 1538496000, ns: 0 });
    expect(parseCertTime('Dec 31 23:59:59.5 9999 GMT')).toEqual({ sec: 253402300799, ns: 500_000_000 });
    expect(parseCertTime('Jan  1 00:00:00 1950 GMT')).toEqual({ sec: -631152000, ns: 0 });
    expect(parseCertTime('Bad time value')).toBeNull();
  });

  it('describeCertificate: names, validity, fingerprints, self-signed only when the own key verifies', () => {
    const leaf = describeCertificate(LEAF_DER)!;
    expect(leaf).toEqual({
      subject: LEAF_INFO.subject,
      issuer: LEAF_INFO.issuer,
      notValidBefore: LEAF_INFO.not_valid_before,
      notValidAfter: LEAF_INFO.not_valid_after,
      selfSigned: false,
      sha1: LEAF_INFO.cert_sha1,
      sha256: LEAF_INFO.cert_sha256,
    });
    const root = describeCertificate(ROOT_DER)!;
    expect(root.selfSigned).toBe(true);
    expect(root.sha1).toBe('d0954fd05fbe349e98f7580421949ec80ed35910');
    expect(root.notValidAfter).toEqual({ sec: 2110996903, ns: 0 }); // Nov 22 20:01:43 2036 GMT
    const same = describeCertificate(SAME_NAME_DER)!;
    expect(same.subject).toBe(same.issuer);
    expect(same.selfSigned).toBe(false);
    expect(describeCertificate(Buffer.from('not a certificate'))).toBeNull();
    expect(describeCertificate(LEAF_DER.subarray(0, 200))).toBeNull();
  });
});

describe('looksLikeTls', () => {
  const ch = hsRecord(CH());
  const sh = hsRecord(SH());
  it('recognises ClientHello and ServerHello records, with record versions 0x0300-0x0304', () => {
    expect(looksLikeTls(ch, 0, ch.length)).toBe(true);
    expect(looksLikeTls(sh, 0, sh.length)).toBe(true);
    const old = record(22, CH(), 0x0301);
    expect(looksLikeTls(old, 0, old.length)).toBe(true);
    const padded = bytes([9, 9], ch);
    expect(looksLikeTls(padded, 2, padded.length)).toBe(true);
    expect(looksLikeTls(ch, 0, 9)).toBe(true); // header and handshake header are enough
  });

  it('recognises an SSLv2-compatible ClientHello', () => {
    const v2 = ssl2ClientHello(0x0301);
    expect(looksLikeTls(v2, 0, v2.length)).toBe(true);
  });

  it('rejects other protocols, other handshake types, bad versions and lengths, and too few bytes', () => {
    const http = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    expect(looksLikeTls(http, 0, http.length)).toBe(false);
    expect(looksLikeTls(ch, 0, 5)).toBe(false);
    const cert = hsRecord(CERT([ROOT_DER]));
    expect(looksLikeTls(cert, 0, cert.length)).toBe(false);
    const badVersion = Buffer.from(ch);
    badVersion[2] = 5;
    expect(looksLikeTls(badVersion, 0, badVersion.length)).toBe(false);
    const huge = Buffer.from(ch);
    huge.writeUInt16BE(MAX_RECORD_LEN + 1, 3);
    expect(looksLikeTls(huge, 0, huge.length)).toBe(false);
    const tiny = Buffer.from(ch);
    tiny.writeUIntBE(10, 6, 3); // a 10-byte "hello" cannot be one
    expect(looksLikeTls(tiny, 0, tiny.length)).toBe(false);
    const dns = Buffer.from('abcd01000001000000000000', 'hex');
    expect(looksLikeTls(dns, 0, dns.length)).toBe(false);
  });
});

// --- the parser on hand-built streams ------------------------------------------------------------

/** An SSLv2-compatible CLIENT-HELLO record (2-byte header). */
function ssl2ClientHello(version: number): Buffer {
  const specs = Buffer.from([0x00, 0xc0, 0x2f, 0x07, 0x00, 0xc0, 0x00, 0x00, 0x35]);
  const body = bytes([1], u16(version), u16(specs.length), u16(0), u16(16), specs, Buffer.alloc(16, 0x5c));
  return bytes([0x80 | (body.length >> 8), body.length & 0xff], body);
}

describe('tls parser: TLS 1.2', () => {
  it('writes one full row when both directions are encrypted, then is done', () => {
    const { p, sink } = feed(tls12Handshake());
    expect(p.done).toBe(true);
    const ch = parseClientHello(...range(clientHelloBody({ exts: [extSni('www.example.com'), extGroups([29, 23]), extPointFormats([0]), extAlpn(['h2', 'http/1.1'])] }))).value!;
    const sh = parseServerHello(...range(serverHelloBody({ exts: [extAlpn(['h2'])] }))).value!;
    expect(rowOf(sink)).toEqual({
      ts: { sec: 1_700_000_001, ns: 0 },
      version: 'TLSv12',
      cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      curve: 'secp256r1',
      server_name: 'www.example.com',
      resumed: false,
      next_protocol: 'h2',
      established: true,
      client_version: 'TLSv12',
      client_supported_versions: null,
      client_alpn: 'h2,http/1.1',
      ja3: ja3Hash(ch),
      ja3s: createHash('md5').update(ja3sString(sh)).digest('hex'),
      ja4: ja4(ch),
      ...LEAF_INFO,
      cert_chain_len: 2,
      client_hello_packet: 2,
      server_hello_packet: 3,
    });
    expect(ja3String(ch)).toBe('771,49199-4865,0-10-11-16,29-23,0');
    expect(sink.services).toEqual(['ssl']);
    expect(sink.anomalies).toEqual([]);
  });

  it('ignores bytes after done', () => {
    const { p, sink } = feed(tls12Handshake());
    p.data(0, Buffer.from('garbage'), 0, 7);
    p.end();
    expect(sink.table('tls')).toHaveLength(1);
    expect(sink.anomalies).toEqual([]);
  });

  it('gives the same row for every split of the byte streams, down to single bytes', () => {
    const whole = rowOf(feed(tls12Handshake()).sink);
    for (const size of [1, 2, 3, 5, 7, 64, 333]) {
      const sink = new RecordingSink();
      const p = createTls(sink);
      let n = 0;
      for (const [dir, data] of tls12Handshake()) {
        sink.at(sink.tsSec + 1, 0, ++n + 1);
        for (let i = 0; i < data.length; i += size) p.data(dir, data, i, Math.min(i + size, data.length));
      }
      p.end();
      expect(rowOf(sink)).toEqual(whole);
    }
  });

  it('reassembles a handshake message spread over several records and several messages in one record', () => {
    const flight = Buffer.concat([SH(), CERT([LEAF_DER, ROOT_DER]), SKE_ECDHE(24), SHD]);
    const records = [0, 3, 100, 101, 700, flight.length].slice(1).map((end, i, a) => record(22, flight.subarray(i === 0 ? 0 : a[i - 1], end)));
    const { sink } = feed([[0, hsRecord(CH())], [1, Buffer.concat(records)], [0, bytes(CCS, FINISHED_ENC)], [1, bytes(CCS, FINISHED_ENC)]]);
    expect(rowOf(sink)).toMatchObject({ curve: 'secp384r1', cert_chain_len: 2, subject: LEAF_INFO.subject, established: true });
  });

  it('a certificate chain of ~140 KiB over many records: the leaf, and the chain length capped at 255', () => {
    const flight = Buffer.concat([SH(), CERT([LEAF_DER, ...Array.from({ length: 299 }, () => ROOT_DER)]), SHD]);
    expect(flight.length).toBeGreaterThan(140_000);
    const records: Buffer[] = [];
    for (let i = 0; i < flight.length; i += 16384) records.push(record(22, flight.subarray(i, i + 16384)));
    const { p, sink } = feed([[0, hsRecord(CH())], [1, Buffer.concat(records)]]);
    p.end();
    expect(rowOf(sink)).toMatchObject({ cert_chain_len: 255, subject: LEAF_INFO.subject, cert_sha1: LEAF_INFO.cert_sha1 });
    expect(sink.anomalies).toEqual([]);
  });

  it('ts is the packet where the ClientHello began; the hello packets are where each ended', () => {
    const ch = hsRecord(CH());
    const sink = new RecordingSink();
    const p = createTls(sink);
    sink.at(100, 5, 10);
    p.data(0, ch, 0, 20);
    sink.at(101, 6, 11);
    p.data(0, ch, 20, ch.length);
    sink.at(102, 7, 12);
    const sh = hsRecord(SH());
    p.data(1, sh, 0, sh.length);
    p.end();
    expect(rowOf(sink)).toMatchObject({ ts: { sec: 100, ns: 5 }, client_hello_packet: 11, server_hello_packet: 12, established: false });
  });

  it('resumed: the server echoes a non-empty session id', () => {
    const sid = Buffer.alloc(32, 0x42);
    const { sink } = feed([[0, hsRecord(CH({ sid }))], [1, bytes(hsRecord(SH({ sid })), CCS, FINISHED_ENC)], [0, bytes(CCS, FINISHED_ENC)]]);
    expect(rowOf(sink)).toMatchObject({ resumed: true, established: true, cert_chain_len: 0 });
  });

  it('resumed: the server changes cipher spec without a Certificate (session ticket, empty session id)', () => {
    const { sink } = feed([[0, hsRecord(CH())], [1, bytes(hsRecord(SH()), CCS, FINISHED_ENC)], [0, bytes(CCS, FINISHED_ENC)]]);
    expect(rowOf(sink)).toMatchObject({ resumed: true });
  });

  it('not resumed: a different session id and a Certificate before the ChangeCipherSpec', () => {
    const { sink } = feed([
      [0, hsRecord(CH({ sid: Buffer.alloc(32, 1) }))],
      [1, hsRecord(SH({ sid: Buffer.alloc(32, 2) }), CERT([LEAF_DER]), SHD)],
      [0, bytes(hsRecord(CKE), CCS, FINISHED_ENC)],
      [1, bytes(CCS, FINISHED_ENC)],
    ]);
    expect(rowOf(sink)).toMatchObject({ resumed: false, cert_chain_len: 1 });
  });

  it('DHE suites have no curve; unknown suites are named unknown-N', () => {
    const dhe = feed([[0, hsRecord(CH())], [1, hsRecord(SH({ cipher: 0x009e }), hs(12, bytes(vec16(Buffer.alloc(256, 3)), vec16(Buffer.from([2])))))]]);
    dhe.p.end();
    expect(rowOf(dhe.sink)).toMatchObject({ cipher: 'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256', curve: null });
    const unk = feed([[0, hsRecord(CH())], [1, hsRecord(SH({ cipher: 0xabcd }))]]);
    unk.p.end();
    expect(rowOf(unk.sink)).toMatchObject({ cipher: 'unknown-43981' });
  });

  it('a certificate that is not X.509 -> tls_bad_certificate and NULL certificate columns', () => {
    const { p, sink } = feed([[0, hsRecord(CH())], [1, hsRecord(SH(), CERT([Buffer.from('junk junk junk'), ROOT_DER]), SHD)]]);
    p.end();
    expect(rowOf(sink)).toMatchObject({ subject: null, issuer: null, not_valid_before: null, self_signed: null, cert_sha1: null, cert_chain_len: 2 });
    expect(sink.anomalies.map((a) => a.name)).toEqual(['tls_bad_certificate']);
  });

  it('a self-signed leaf', () => {
    const { p, sink } = feed([[0, hsRecord(CH())], [1, hsRecord(SH(), CERT([ROOT_DER]), SHD)]]);
    p.end();
    expect(rowOf(sink)).toMatchObject({ subject: 'CN=Instacap Test Root,O=Instacap Test,C=US', self_signed: true });
  });

  it('client ALPN, SNI and supported versions are escaped text with GREASE removed', () => {
    const { p, sink } = feed([
      [0, hsRecord(CH({ exts: [extSni('x\u00e9.test'), extAlpn([Buffer.from([0xba, 0xad]), 'h2']), extVersionsClient([0x4a4a, 0x0304, 0x0303])] }))],
    ]);
    p.end();
    expect(rowOf(sink)).toMatchObject({
      server_name: 'x\\xe9.test',
      client_alpn: '\\xba\\xad,h2',
      client_supported_versions: 'TLSv13,TLSv12',
      version: null,
      cipher: null,
      ja3s: null,
      server_hello_packet: null,
    });
    expect(String(rowOf(sink).ja4).slice(0, 10)).toBe('t13d0203bd');
  });
});

describe('tls parser: TLS 1.3', () => {
  const ch13 = () => CH({ exts: [extSni('tls13.example'), extGroups([29, 23]), extSigAlgs([0x0403]), extVersionsClient([0x0304, 0x0303]), extKeyShareClient([29])] });
  const sh13 = (o: ShOpts = {}) => SH({ cipher: 0x1302, exts: [extVersionServer(0x0304), extKeyShareServer(29)], ...o });

  it('version from supported_versions, curve from key_share, no certificate, established on application data both ways', () => {
    const { p, sink } = feed([
      [0, hsRecord(ch13())],
      [1, bytes(hsRecord(sh13()), CCS, APP(500), APP(300))],
      [0, bytes(CCS, APP(50))],
    ]);
    expect(p.done).toBe(true);
    expect(rowOf(sink)).toMatchObject({
      version: 'TLSv13',
      cipher: 'TLS_AES_256_GCM_SHA384',
      curve: 'x25519',
      server_name: 'tls13.example',
      resumed: false,
      established: true,
      client_version: 'TLSv12',
      client_supported_versions: 'TLSv13,TLSv12',
      cert_chain_len: 0,
      subject: null,
      next_protocol: null,
    });
  });

  it('the middlebox-compatibility ChangeCipherSpec alone does not make a direction encrypted', () => {
    const { p, sink } = feed([[0, hsRecord(ch13())], [1, bytes(hsRecord(sh13()), CCS, APP())], [0, CCS]]);
    expect(p.done).toBe(false);
    p.end();
    expect(rowOf(sink)).toMatchObject({ established: false });
  });

  it('resumed when the ServerHello carries pre_shared_key; a 1.3 session id echo is not resumption', () => {
    const sid = Buffer.alloc(32, 3);
    const a = feed([[0, hsRecord(CH({ sid, exts: [extVersionsClient([0x0304])] }))], [1, bytes(hsRecord(sh13({ sid })), APP())], [0, APP()]]);
    expect(rowOf(a.sink)).toMatchObject({ resumed: false });
    const b = feed([[0, hsRecord(ch13())], [1, bytes(hsRecord(SH({ cipher: 0x1301, exts: [extVersionServer(0x0304), extKeyShareServer(23), extPsk()] })), APP())], [0, APP()]]);
    expect(rowOf(b.sink)).toMatchObject({ resumed: true, curve: 'secp256r1' });
  });

  it('HelloRetryRequest: the second ServerHello counts, JA3/JA4 keep the first ClientHello', () => {
    // As in ja4_tls-handshake.pcapng: the first hello has a padding extension, the second not
    const first = CH({ exts: [extSni('tls13.example'), extGroups([29, 23]), extSigAlgs([0x0403]), extVersionsClient([0x0304, 0x0303]), extKeyShareClient([29]), ext(21, Buffer.alloc(40))] });
    const second = CH({ exts: [extSni('tls13.example'), extGroups([29, 23]), extSigAlgs([0x0403]), extVersionsClient([0x0304, 0x0303]), extKeyShareClient([23])] });
    const hrr = SH({ random: HRR_RANDOM, cipher: 0x1301, exts: [extVersionServer(0x0304), extKeyShareHrr(23)] });
    const { sink } = feed([
      [0, hsRecord(first)],
      [1, bytes(hsRecord(hrr), CCS)],
      [0, bytes(CCS, hsRecord(second))],
      [1, bytes(hsRecord(sh13({ cipher: 0x1301, exts: [extVersionServer(0x0304), extKeyShareServer(23)] })), APP())],
      [0, APP()],
    ]);
    const firstInfo = parseClientHello(...range(first.subarray(4))).value!;
    const secondInfo = parseClientHello(...range(second.subarray(4))).value!;
    expect(ja3Hash(firstInfo)).not.toBe(ja3Hash(secondInfo));
    expect(rowOf(sink)).toMatchObject({
      version: 'TLSv13',
      cipher: 'TLS_AES_128_GCM_SHA256',
      curve: 'secp256r1',
      established: true,
      ja3: ja3Hash(firstInfo),
      ja4: ja4(firstInfo),
      client_hello_packet: 2,
      server_hello_packet: 5,
    });
  });

  it('a second ClientHello without HelloRetryRequest is ignored', () => {
    const { p, sink } = feed([[0, hsRecord(CH({ exts: [extSni('first.example')] }))], [0, hsRecord(CH({ exts: [extSni('second.example')] }))]]);
    p.end();
    expect(rowOf(sink)).toMatchObject({ server_name: 'first.example', client_hello_packet: 2 });
  });

  it('TLS 1.3 draft versions by name; drafts before 22 have no session id in the ServerHello', () => {
    const draft16 = bytes(u16(0x7f10), Buffer.alloc(32, 1), u16(0x1301), vec16(Buffer.concat([ext(40, bytes(u16(29), vec16(Buffer.alloc(32))))])));
    const { p, sink } = feed([[0, hsRecord(CH())], [1, bytes(hsRecord(hs(2, draft16)), APP())], [0, APP()]]);
    expect(p.done).toBe(true);
    expect(rowOf(sink)).toMatchObject({ version: 'TLSv13-draft16', cipher: 'TLS_AES_128_GCM_SHA256', curve: 'x25519' });
  });
});

describe('tls parser: SSLv2', () => {
  it('an SSLv2-compatible ClientHello answered in TLS: client version and the TLS handshake, no fingerprints', () => {
    const { p, sink } = feed([[0, ssl2ClientHello(0x0301)], ...tls12Handshake().slice(1)]);
    expect(p.done).toBe(true);
    expect(rowOf(sink)).toMatchObject({ client_version: 'TLSv10', version: 'TLSv12', ja3: null, ja4: null, established: true, server_name: null });
    expect(sink.anomalies).toEqual([]);
  });

  it('a full SSLv2 handshake: SERVER-HELLO certificate, the cipher chosen in CLIENT-MASTER-KEY', () => {
    const serverHello = (() => {
      const specs = Buffer.from([0x07, 0x00, 0xc0, 0x01, 0x00, 0x80]);
      const body = bytes([4, 0, 1], u16(0x0002), u16(ROOT_DER.length), u16(specs.length), u16(16), ROOT_DER, specs, Buffer.alloc(16, 1));
      return bytes([0x80 | (body.length >> 8), body.length & 0xff], body);
    })();
    const cmk = bytes([0x80, 10], [2, 0x01, 0x00, 0x80], Buffer.alloc(6));
    const enc = bytes([0x80, 20], Buffer.alloc(20, 0xee));
    const enc3 = bytes([0x00, 20, 4], Buffer.alloc(20, 0xee)); // 3-byte header with padding
    const { p, sink } = feed([[0, ssl2ClientHello(0x0002)], [1, serverHello], [0, bytes(cmk, enc)], [1, enc3]]);
    expect(p.done).toBe(true);
    expect(rowOf(sink)).toMatchObject({
      version: 'SSLv2',
      cipher: 'SSLv20_CK_RC4_128_WITH_MD5',
      client_version: 'SSLv2',
      established: true,
      cert_chain_len: 1,
      self_signed: true,
      ja3: null,
    });
  });
});

describe('tls parser: bad input', () => {
  it('not TLS at all: tls_malformed_record, done, no row', () => {
    const { p, sink } = feed([[0, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]]);
    expect(p.done).toBe(true);
    p.end();
    expect(sink.table('tls')).toEqual([]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['tls_malformed_record']);
    expect(sink.services).toEqual([]);
  });

  it('a bad record header later stops that direction; the row is written at end()', () => {
    const { p, sink } = feed([[0, hsRecord(CH())], [1, bytes(hsRecord(SH()), Buffer.from([99, 3, 3, 0, 1, 0]))], [1, hsRecord(CERT([ROOT_DER]))]]);
    expect(p.done).toBe(false);
    p.end();
    expect(rowOf(sink)).toMatchObject({ version: 'TLSv12', cert_chain_len: 0 });
    expect(sink.anomalies).toEqual([{ name: 'tls_malformed_record', detail: 'bad record header (content type 99) after 1 records' }]);
  });

  it('a record longer than 2^14 + 2048 is malformed', () => {
    const { sink } = feed([[0, hsRecord(CH())], [1, bytes([23, 3, 3], u16(MAX_RECORD_LEN + 1))]]);
    expect(sink.anomalies.map((a) => a.detail)).toEqual([`bad record header (length ${MAX_RECORD_LEN + 1}) after 0 records`]);
  });

  it('both directions broken: the row is written at once and the parser is done', () => {
    const bad = Buffer.from([1, 2, 3, 4, 5, 6]);
    const { p, sink } = feed([[0, hsRecord(CH())], [0, bad], [1, bad]]);
    expect(p.done).toBe(true);
    expect(sink.table('tls')).toHaveLength(1);
  });

  it('a handshake message larger than 256 KiB is skipped with tls_malformed_handshake; the next one parses', () => {
    const big = MAX_HANDSHAKE_LEN + 10;
    const stream = Buffer.concat([bytes([99], u24(big)), Buffer.alloc(big, 0x33), SH({ cipher: 0x1302 })]);
    const records: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 16384) records.push(record(22, stream.subarray(i, i + 16384)));
    const { p, sink } = feed([[0, hsRecord(CH())], [1, Buffer.concat(records)]]);
    p.end();
    expect(rowOf(sink)).toMatchObject({ cipher: 'TLS_AES_256_GCM_SHA384' });
    expect(sink.anomalies.map((a) => a.name)).toEqual(['tls_malformed_handshake']);
  });

  it('a ClientHello too short for its fixed fields -> tls_malformed_handshake, no hello', () => {
    const { p, sink } = feed([[0, hsRecord(hs(1, Buffer.from([3, 3, 1, 2])))]]);
    p.end();
    expect(sink.table('tls')).toEqual([]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['tls_malformed_handshake']);
  });

  it('an extension running past the extensions block keeps what parsed before it', () => {
    const body = clientHelloBody({ exts: [extSni('kept.example'), Buffer.from([0, 5, 0, 40, 1])] }); // extension 5 claims 40 bytes, has 1
    const r = parseClientHello(...range(body));
    expect(r.value!.serverName).toBe('kept.example');
    expect(r.value!.extensions).toEqual([0]);
    expect(r.problem).toBe('ClientHello extension 5 runs past the extensions block');
  });

  it('a gap inside an encrypted record keeps the framing; a gap at a record boundary stops the direction', () => {
    const app = APP(1000);
    const sink = new RecordingSink();
    const p = createTls(sink);
    const ch = hsRecord(CH());
    p.data(0, ch, 0, ch.length);
    const sh = hsRecord(SH());
    p.data(1, sh, 0, sh.length);
    p.data(0, CCS, 0, CCS.length);
    p.data(0, app, 0, 100);
    p.gap(0, 800);
    p.data(0, app, 900, app.length);
    p.data(0, app, 0, app.length); // parses as a record only if the framing was kept (its bytes are 0xaa)
    expect(sink.anomalies).toEqual([]);
    p.gap(1, 10); // between records: the server's record boundaries are lost
    const cert = hsRecord(CERT([ROOT_DER]));
    p.data(1, cert, 0, cert.length);
    expect(p.done).toBe(false);
    p.end();
    expect(rowOf(sink)).toMatchObject({ established: false, cert_chain_len: 0, version: 'TLSv12' });
    expect(sink.anomalies).toEqual([]);
  });
});

// --- real captures ------------------------------------------------------------------------------

type Step = { kind: 'data'; dir: Dir; bytes: Buffer; sec: number; ns: number; pkt: number } | { kind: 'gap'; dir: Dir; len: number };

interface CapConn {
  origPort: number;
  respPort: number;
  steps: Step[];
}

/**
 * TCP connections of a capture, in the order they start, as per-direction in-order steps: the
 * ingest's own reassembler (TcpStream) orders the segments, and holes left at the end become gaps.
 */
async function tcpConnections(rel: string): Promise<CapConn[]> {
  interface Open {
    orig: string | null;
    first: string;
    at: { sec: number; ns: number; pkt: number };
    streams: TcpStream[];
    steps: Step[];
  }
  const budget = new ReassemblyBudget();
  const conns = new Map<string, Open>();
  await forEachDecoded(PCAPS + rel, (pk, d) => {
    if (d.proto !== 6 || !d.hasL4) return;
    const fmt = d.ipVersion === 4 ? formatIPv4 : formatIPv6;
    const src = `${fmt(d.nb, d.srcOff)}|${d.sport}`;
    const dst = `${fmt(d.nb, d.dstOff)}|${d.dport}`;
    const key = src < dst ? `${src}-${dst}` : `${dst}-${src}`;
    let c = conns.get(key);
    if (!c) {
      const o: Open = { orig: null, first: src, at: { sec: 0, ns: 0, pkt: 0 }, streams: [], steps: [] };
      o.streams = ([0, 1] as Dir[]).map(
        (dir) =>
          new TcpStream(
            {
              data: (b, st, e) => o.steps.push({ kind: 'data', dir, bytes: Buffer.from(b.subarray(st, e)), sec: o.at.sec, ns: o.at.ns, pkt: o.at.pkt }),
              gap: (len) => o.steps.push({ kind: 'gap', dir, len }),
            },
            budget,
            () => undefined,
          ),
      );
      conns.set(key, (c = o));
    }
    if (c.orig === null && d.tcpFlags & TCP_SYN) c.orig = d.tcpFlags & TCP_ACK ? dst : src;
    const dir: Dir = src === (c.orig ?? c.first) ? 0 : 1;
    c.at = { sec: pk.tsSec, ns: pk.tsNs, pkt: pk.packetNo };
    if (d.tcpFlags & TCP_SYN) c.streams[dir].syn(d.seq);
    else if (d.payloadCaptured > 0) c.streams[dir].segment(d.seq, d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured);
  });
  return [...conns.entries()].map(([key, c]) => {
    for (const st of c.streams) st.close();
    const orig = c.orig ?? c.first;
    const [a, b] = key.split('-');
    const resp = a === orig ? b : a;
    return { origPort: Number(orig.split('|')[1]), respPort: Number(resp.split('|')[1]), steps: c.steps };
  });
}

function runSteps(steps: Step[]): RecordingSink {
  const sink = new RecordingSink();
  const p = createTls(sink);
  for (const s of steps) {
    if (p.done) break;
    if (s.kind === 'gap') p.gap(s.dir, s.len);
    else {
      sink.at(s.sec, s.ns, s.pkt);
      p.data(s.dir, s.bytes, 0, s.bytes.length);
    }
  }
  p.end();
  return sink;
}

interface CapRow {
  origPort: number;
  row: Record<string, unknown>;
  sink: RecordingSink;
}

async function capRows(rel: string): Promise<CapRow[]> {
  const out: CapRow[] = [];
  for (const c of await tcpConnections(rel)) {
    const sink = runSteps(c.steps);
    for (const row of sink.table('tls')) out.push({ origPort: c.origPort, row, sink });
  }
  return out;
}

async function onlyRow(rel: string): Promise<CapRow> {
  const rows = await capRows(rel);
  expect(rows).toHaveLength(1);
  return rows[0];
}

describe('tls on real captures', () => {
  it('ja3_ssl-chrome (out-of-order segments): the Zeek ja3 ssl.log row, tshark JA3S and certificate', async () => {
    const { row, sink } = await onlyRow('reference/ja3/ja3_ssl-chrome.pcap');
    expect(row).toEqual({
      ts: { sec: 1533677635, ns: 406963000 }, // Zeek ssl.log ts (= frame 4, the ClientHello)
      version: 'TLSv12', // Zeek
      cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', // Zeek
      curve: 'x25519', // Zeek
      server_name: 'apis.google.com', // Zeek, tshark
      resumed: false, // Zeek
      next_protocol: 'h2', // Zeek
      established: true, // Zeek
      client_version: 'TLSv12',
      client_supported_versions: 'TLSv13-draft23,TLSv12,TLSv11,TLSv10', // tshark tls.handshake.extensions.supported_version
      client_alpn: 'h2,http/1.1', // tshark tls.handshake.extensions_alpn_str
      ja3: '14eff09463c9d6dc6e14e954eba239c2', // Zeek ja3 package and tshark
      ja3s: 'f09be93fa9d03eabf66fdd359154a3fa', // tshark
      // The highest supported version is 0x7f17 (draft 23), which JA4 prints as 00
      ja4: 't00d1615h2_46e7e9700bed_eb153343c55e',
      subject: 'CN=*.apis.google.com,O=Google LLC,L=Mountain View,ST=California,C=US', // Zeek
      issuer: 'CN=Google Internet Authority G3,O=Google Trust Services,C=US', // Zeek
      not_valid_before: { sec: 1532448317, ns: 0 }, // openssl: Jul 24 16:05:17 2018 GMT
      not_valid_after: { sec: 1538495940, ns: 0 }, // openssl: Oct  2 15:59:00 2018 GMT
      self_signed: false,
      cert_sha1: 'b22f8d50bbbb422b7d4a8eb59f96b74ef5cf81b5', // sha1sum of tshark's DER (tcp.reassemble_out_of_order)
      cert_sha256: '883221c911bbf16486164a7b6ff8e47942060233c88765e0b2625ebb46c53a23',
      cert_chain_len: 2, // Zeek: two cert_chain_fuids
      client_hello_packet: 4, // tshark
      server_hello_packet: 6, // tshark
    });
    expect(sink.services).toEqual(['ssl']);
    expect(sink.anomalies).toEqual([]);
  });

  it('ja3_ssl-curl: Zeek ja3 ssl.log, tshark JA3S, certificate vs tshark DER + openssl', async () => {
    const { row } = await onlyRow('reference/ja3/ja3_ssl-curl.pcap');
    expect(row).toMatchObject({
      version: 'TLSv12',
      cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
      curve: 'secp256r1',
      server_name: 'google.com',
      next_protocol: 'h2',
      established: true,
      ja3: '2a26b1a62e40d25d4de3babc9d532f30',
      ja3s: '554786d4c84f8a7953b7e453c6371067',
      subject: 'CN=*.google.com,O=Google LLC,L=Mountain View,ST=California,C=US',
      issuer: 'CN=Google Internet Authority G3,O=Google Trust Services,C=US',
      not_valid_before: { sec: 1532448505, ns: 0 }, // Jul 24 16:08:25 2018 GMT (tshark x509af.utcTime)
      not_valid_after: { sec: 1538496000, ns: 0 }, // Oct  2 16:00:00 2018 GMT
      cert_sha1: 'f78c643dcf58d364400c130bfb14527b618e61d5',
      cert_sha256: 'd6273da7fb4235700d2023fb408c1a63beb158772eece4e3f0a89c89e35e61a8',
      cert_chain_len: 2,
    });
  });

  it('arkime openssl-tls1_2: three certificates, leaf vs tshark DER + openssl, no SNI', async () => {
    const { row } = await onlyRow('protocols/tls/arkime_openssl-tls1_2.pcap');
    expect(row).toMatchObject({
      version: 'TLSv12',
      cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', // tshark 0xc02f
      curve: 'secp256r1',
      server_name: null,
      ja3: 'c1a36e1a870786cc75edddc0009eaf3a', // tshark
      ja3s: 'ccc514751b175866924439bdbb5bba34', // tshark
      ja4: 't12i740500_c43983326036_3eafcbe19126',
      subject: 'CN=*.google.com,O=Google Inc,L=Mountain View,ST=California,C=US', // openssl -nameopt RFC2253
      issuer: 'CN=Google Internet Authority G2,O=Google Inc,C=US',
      not_valid_before: { sec: 1411553285, ns: 0 }, // 2014-09-24 10:08:05 UTC (tshark x509af.utcTime)
      not_valid_after: { sec: 1419292800, ns: 0 }, // 2014-12-23 00:00:00 UTC
      self_signed: false,
      cert_sha1: '0ea3277ceb7fb28c2b5d7dd76be9ba1aec0dff91', // sha1sum of the DER; Node's fingerprint agrees
      cert_sha256: '821256697c48a076a3c98f057453a6504ebfb7cfa6b2c6bb46fe85ec760043f1',
      cert_chain_len: 3,
      established: true,
    });
  });

  it('arkime tls-split-client-hello: a ClientHello over several segments', async () => {
    const { row } = await onlyRow('protocols/tls/arkime_tls-split-client-hello.pcap');
    // tshark: SNI, JA3 and the reassembled ClientHello in frame 5, ServerHello (0x1301) in frame 8
    expect(row).toMatchObject({
      server_name: 'clients2.google.com',
      ja3: '35708a08e7be9f7aa5bce7f2d5c1cecb',
      ja3s: 'eb1d94daa7e0344597e756a1fb6e7054',
      version: 'TLSv13',
      cipher: 'TLS_AES_128_GCM_SHA256',
      curve: 'X25519MLKEM768',
      client_hello_packet: 5,
      server_hello_packet: 8,
      cert_chain_len: 0,
      established: true,
    });
  });

  it('arkime tls13 (draft 18): server only sent encrypted data, so not established', async () => {
    const { row } = await onlyRow('protocols/tls/arkime_tls13.pcap');
    expect(row).toMatchObject({
      server_name: 'blog.cloudflare.com', // tshark
      ja3: '4826a90ec2daf4f7b4b64cc1c8bd343b', // tshark
      ja3s: 'b8a8031b301aef7618403061e9f33065', // tshark
      version: 'TLSv13-draft18', // tshark: supported_version 0x7f12
      cipher: 'TLS_AES_128_GCM_SHA256',
      curve: 'x25519', // key_share (extension 40 in drafts)
      established: false,
    });
  });

  it('nDPI captures: JA3/JA3S/JA4 agree with tshark and nDPI', async () => {
    // values: tshark (JA3, JA3S, SNI, cipher) and the .ndpi.out files (JA3C, JA3S, JA4, certificate SHA-1)
    expect((await onlyRow('protocols/tls/ndpi_tls_2_reasms.pcapng')).row).toMatchObject({
      server_name: 'i.instagram.com',
      ja3: '44dab16d680ef93487bc16ad23b3ffb1',
      ja3s: 'fcb2d4d0991292272fcb1e464eedfd43',
      ja4: 't00d0309h2_55b375c5d22e_566d5108064c',
      cipher: 'TLS_AES_128_GCM_SHA256',
      version: 'unknown-64282', // Facebook's TLS 1.3 draft 0xfb1a, which Zeek has no name for
    });
    expect((await onlyRow('protocols/tls/ndpi_ja3_lots_of_cipher_suites.pcap')).row).toMatchObject({
      ja3: 'b2498734f22ddc9be05c39837ac8ac54',
      ja3s: '9d456958a9e86bb0d503543beaf1a65b',
      ja4: 't12i990300_28808c40d9f1_1e2a54cae03f', // more than 99 suites: the count is capped
      cipher: 'TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA',
      cert_sha1: '3b2b5e586e3e301f52bf9b812047de10a0678efa',
    });
    expect((await onlyRow('protocols/tls/ndpi_tls_alert.pcap')).row).toMatchObject({
      server_name: 'www.google-analytics.com',
      ja3: 'd78489b860c8bf7838a6ff0b4d131541',
      ja4: 't10d0909h2_61c4dbd01224_cc731f12afbb',
      version: null, // the server answered with an alert
      established: false,
    });
    // nDPI prints t13d1713ht: it takes the first and second characters of "http/1.1"; JA4.md says h1
    expect((await onlyRow('protocols/tls/ndpi_tls_1.3_unidirectional_client.pcapng')).row.ja4).toBe('t13d1713h1_5b57614c22b0_352634941f3a');
  });

  it('JA4 of every TLS connection in the FoxIO *.ja4.json files', async () => {
    let checked = 0;
    const dir = PCAPS + 'protocols/tls/';
    for (const file of readdirSync(dir).filter((f) => f.startsWith('ja4_') && f.endsWith('.ja4.json'))) {
      const expected = JSON.parse(readFileSync(dir + file, 'utf8')) as Record<string, string>[];
      const rows = await capRows('protocols/tls/' + file.replace(/\.ja4\.json$/, ''));
      for (const e of expected) {
        if (e['JA4.1'] === undefined) continue;
        const mine = rows.filter((r) => r.origPort === Number(e.srcport));
        expect(mine, `${file} ${e.srcport}`).toHaveLength(1);
        expect(mine[0].row.server_name, `${file} ${e.srcport}`).toBe(e.domain);
        // ja4_tls-non-ascii-alpn: the JSON was made by a tool that printed "99" for the ALPN 0xba 0xad;
        // JA4.md (and FoxIO's answer in issue #178) give the hex nibbles "bd".
        const want = file === 'ja4_tls-non-ascii-alpn.pcapng.ja4.json' ? e['JA4.1'].replace('151699', '1516bd') : e['JA4.1'];
        expect(mine[0].row.ja4, `${file} ${e.srcport}`).toBe(want);
        checked++;
      }
    }
    expect(checked).toBe(127);
  });

  it('the Zeek ssl.log baselines: version, cipher, curve, SNI, resumed, ALPN, established, leaf SHA-256', async () => {
    const dir = PCAPS + 'protocols/tls/';
    let checked = 0;
    for (const file of readdirSync(dir).filter((f) => f.startsWith('zeek_tls_') && f.endsWith('.ssl.log') && !f.includes('starttls'))) {
      const lines = readFileSync(dir + file, 'utf8').split('\n');
      const fields = lines.find((l) => l.startsWith('#fields'))!.split('\t').slice(1);
      const rows = await capRows('protocols/tls/' + file.replace(/\.zeek\..*$/, ''));
      for (const line of lines.filter((l) => l.length > 0 && !l.startsWith('#'))) {
        const z = Object.fromEntries(line.split('\t').map((v, i) => [fields[i], v === '-' ? null : v]));
        const mine = rows.filter((r) => r.origPort === Number(z['id.orig_p']));
        expect(mine, `${file} ${z['id.orig_p']}`).toHaveLength(1);
        const r = mine[0].row;
        expect(
          { version: r.version, cipher: r.cipher, curve: r.curve, server_name: r.server_name, resumed: r.resumed, next_protocol: r.next_protocol, established: r.established },
          file,
        ).toEqual({
          version: z.version,
          cipher: z.cipher,
          curve: z.curve,
          server_name: z.server_name,
          resumed: z.resumed === 'T',
          next_protocol: z.next_protocol,
          established: z.established === 'T',
        });
        const fps = z.cert_chain_fps;
        if (fps !== null && fps !== undefined) expect(r.cert_sha256, file).toBe(fps.split(',')[0]);
        checked++;
      }
    }
    expect(checked).toBe(9);
  });

  it('zeek hrr: the ServerHello after the HelloRetryRequest counts', async () => {
    const { row } = await onlyRow('protocols/tls/zeek_tls_hrr.pcap');
    // tshark -o tcp.reassemble_out_of_order:TRUE: ServerHellos in frames 6 (HRR, JA3S 15af97...) and
    // 11 (0x1302, key share 23, JA3S 907bf3...); ClientHellos in frames 4 and 8, both JA3 0f14b6...
    expect(row).toMatchObject({
      version: 'TLSv13',
      cipher: 'TLS_AES_256_GCM_SHA384',
      curve: 'secp256r1',
      ja3: '0f14b679807628ec7f9c02cada3ee941',
      ja3s: '907bf3ecef1c987c889946b737b43de8',
      client_hello_packet: 4,
      server_hello_packet: 11,
      established: true,
    });
  });

  it('zeek ssl-v2: an SSLv2 handshake with its certificate', async () => {
    const { row, sink } = await onlyRow('protocols/tls/zeek_tls_ssl-v2.pcap');
    expect(row).toMatchObject({
      version: 'SSLv2', // tshark: SSLv2 Client Hello / Server Hello
      cipher: 'SSLv20_CK_DES_192_EDE3_CBC_WITH_MD5', // tshark ssl.clientmasterkey.cipherspec 0x0700c0
      client_version: 'SSLv2',
      established: true,
      // openssl on the DER from tshark's ssl.handshake.certificate
      subject: 'emailAddress=info@plesk.com,CN=plesk,OU=Plesk,O=Parallels,L=Herndon,ST=Virginia,C=US',
      self_signed: true,
      cert_sha1: 'a6933c2feb27df07b8bb4f21532df04035bfb92d',
      not_valid_before: { sec: 1320612457, ns: 0 }, // Nov  6 20:47:37 2011 GMT
      cert_chain_len: 1,
      ja3: null,
      ja4: null,
    });
    expect(sink.anomalies).toEqual([]);
  });

  it('suricata tls-cert-noissuer: an empty issuer name is an empty string', async () => {
    const { row } = await onlyRow('protocols/tls/sv_tls-cert-noissuer.pcap');
    // openssl -nameopt RFC2253 on the DER from tshark
    expect(row).toMatchObject({
      subject: 'CN=localhost,postalCode=6565,street=,L=Scottsdale,ST=Arizona,C=US',
      issuer: '',
      cert_sha1: 'fa5f67f73e6e2453e8175d7fbca6bc2066fb6212',
    });
  });

  it('STARTTLS and plain HTTP streams are not TLS from their first byte', async () => {
    const rows = await capRows('protocols/tls/zeek_tls_smtp-starttls.pcap');
    expect(rows).toEqual([]);
  });
});

/** parseX(b, start, end) arguments for a whole buffer. */
function range(b: Buffer): [Buffer, number, number] {
  return [b, 0, b.length];
}

describe('fingerprint cache', () => {
  const md5 = (t: string) => createHash('md5').update(t).digest('hex');
  const sha12 = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 12);
  /** JA4 from its raw form, as the spec defines it (the cache's value must equal this). */
  const ja4FromRaw = (raw: string) => {
    const [a, ciphers, exts, ...sigs] = raw.split('_');
    const extsSigs = [exts, ...sigs].join('_');
    return `${a}_${ciphers === '' ? '000000000000' : sha12(ciphers)}_${exts === '' ? '000000000000' : sha12(extsSigs)}`;
  };

  it('computes once per distinct key; a key that differs anywhere, or a null list, is another entry', () => {
    const c = new FingerprintCache();
    let made = 0;
    const get = (k: (number[] | null)[]) => c.get(k, () => `v${++made}`);
    expect(get([[1, 2], [3]])).toBe('v1');
    expect(get([[1, 2], [3]])).toBe('v1');
    expect(get([[1, 2], [4]])).toBe('v2');
    expect(get([[1], [2, 3]])).toBe('v3');
    expect(get([[1, 2], null])).toBe('v4');
    expect(get([[1, 2], []])).toBe('v5');
    expect(get([[1, 2], null])).toBe('v4');
    expect(made).toBe(5);
  });

  it('keys whose hashes collide keep their own values', () => {
    // birthday search for two different two-number lists with the same 32-bit hash
    const seen = new Map<number, number[]>();
    let pair: [number[], number[]] | null = null;
    for (let i = 0; pair === null && i < 1_000_000; i++) {
      const k = [(i * 2654435761) >>> 16, i & 0xffff];
      const h = hashLists([k]);
      const o = seen.get(h);
      if (o !== undefined && (o[0] !== k[0] || o[1] !== k[1])) pair = [o, k];
      else seen.set(h, k);
    }
    expect(pair).not.toBeNull();
    const [x, y] = pair!;
    expect(hashLists([x])).toBe(hashLists([y]));
    const c = new FingerprintCache();
    expect(c.get([x], () => 'x')).toBe('x');
    expect(c.get([y], () => 'y')).toBe('y');
    expect(c.get([x], () => 'x again')).toBe('x');
  });

  it('stays right past its size limit', () => {
    const c = new FingerprintCache(8);
    for (let round = 0; round < 3; round++) for (let i = 0; i < 20; i++) expect(c.get([[i]], () => `v${i}`)).toBe(`v${i}`);
  });

  it('keeps a bounded number of list entries: long keys are computed, not kept; the cache empties when full', () => {
    const c = new FingerprintCache(4096, 100, 30);
    let made = 0;
    const long = Array.from({ length: 31 }, (_, i) => i);
    c.get([long], () => `v${++made}`);
    c.get([long], () => `v${++made}`);
    expect(made).toBe(2); // over maxKey: never cached
    const kept = (c as unknown as { kept: number }).kept;
    expect(kept).toBe(0);
    for (let i = 0; i < 10; i++) c.get([Array.from({ length: 25 }, (_, j) => i * 100 + j)], () => `w${i}`);
    expect((c as unknown as { kept: number }).kept).toBeLessThanOrEqual(100);
    // still right after being emptied
    expect(c.get([Array.from({ length: 25 }, (_, j) => 900 + j)], () => 'again')).toBe('w9');
  });

  it('ja3, ja3s and ja4 equal a fresh computation for hellos that repeat and differ slightly (property)', () => {
    const small = fc.array(fc.constantFrom(0, 5, 10, 11, 13, 16, 23, 43, 0x0a0a, 0x1301, 0xc02b), { maxLength: 5 });
    const hello = fc.record({
      version: fc.constantFrom(0x0301, 0x0303),
      ciphers: small,
      extensions: small,
      groups: small,
      pointFormats: fc.array(fc.constantFrom(0, 1), { maxLength: 2 }),
      sigAlgs: small,
      supportedVersions: fc.option(fc.array(fc.constantFrom(0x0303, 0x0304, 0x7a7a), { maxLength: 3 }), { nil: null }),
      alpn: fc.constantFrom(null, 'h2', 'http/1.1'),
    });
    fc.assert(
      fc.property(fc.array(hello, { minLength: 1, maxLength: 12 }), (hellos) => {
        for (const x of [...hellos, ...hellos]) {
          const h: ClientHelloInfo = {
            ...x, sessionId: '', compressions: [0], serverName: null, alpn: x.alpn === null ? [] : [x.alpn],
            alpnFirst: x.alpn === null ? null : Buffer.from(x.alpn), keyShareGroups: [], ssl2: false,
          };
          expect(ja3Hash(h)).toBe(md5(ja3String(h)));
          expect(ja4(h)).toBe(ja4FromRaw(ja4Raw(h)));
          expect(ja4(h, 'q')).toBe(ja4FromRaw(ja4Raw(h, 'q')));
          const sh = { legacyVersion: x.version, version: x.version, helloRetry: false, sessionId: '', cipher: x.ciphers[0] ?? 0, extensions: x.extensions, alpn: null, keyShareGroup: null, preSharedKey: false };
          expect(ja3sHash(sh)).toBe(md5(ja3sString(sh)));
        }
      }),
      { numRuns: 200 },
    );
  });
});
