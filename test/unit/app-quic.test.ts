/**
 * QUIC Initials: key derivation and packet protection against the RFC 9001 and RFC 9369 sample
 * packets (Appendix A of each), the frame reader, the CRYPTO reassembly, the per-connection parser
 * on Initials built here (split and reordered CRYPTO data, coalesced packets, Retry, HelloRetryRequest,
 * undecryptable packets), then real captures checked against tshark 4.0, Zeek's ssl.log
 * baselines, Arkime's JA4 and nDPI's JA3/JA4.
 */
import { describe, expect, it } from 'vitest';
import { TLS } from '../../common/fields.js';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import {
  CryptoStream,
  createQuic,
  decodePacketNumber,
  hkdfExpandLabel,
  hkdfExtract,
  initialCryptoFrames,
  initialKeys,
  looksLikeQuicInitial,
  MAX_CRYPTO_BYTES,
  openPacket,
  parseLongHeader,
  protectInitial,
  QUIC_V1,
  QUIC_V2,
  quicVersionParams,
  readVarint,
  type PacketKeys,
} from '../../engine/app/quic.js';
import { parseClientHello, parseServerHello } from '../../engine/app/tls.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { forEachDecoded } from '../helpers/capture.js';
import { PCAPS } from '../fixtures/build.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---------------------------------------------------------------------------------------------
// RFC sample packets (RFC 9001 Appendix A, RFC 9369 Appendix A): DCID 0x8394c8f03e515708.

const DCID = hex('8394c8f03e515708');
const SERVER_SCID = hex('f067a5502a4262b5');

/** RFC 9001 A.2: the ClientHello inside the client's CRYPTO frame (060040f1 + these 241 bytes). */
const CLIENT_HELLO = hex(
  '010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c000004130113020100' +
    '00c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d0017001800100007000504616c' +
    '706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e9' +
    '94ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c0002400100390032' +
    '0408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff',
);

/** RFC 9001 A.3: the ServerHello inside the server's CRYPTO frame. */
const SERVER_HELLO = hex(
  '020000560303eefce7f7b37ba1d1632e96677825ddf73988cfc79825df566dc5430b9a045a1200130100002e003300' +
    '24001d00209d3c940d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00020304',
);

/** RFC 9001 A.2: the protected client Initial (1200 bytes). */
const V1_CLIENT_INITIAL = hex(
  [
    'c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11d242b123dc9bd8bab936b47d92ec356c',
    '0bab7df5976d27cd449f63300099f3991c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c',
    '8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df621230c83711b39343fa028cea7f7fb5ff89',
    'eac2308249a02252155e2347b63d58c5457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208',
    '4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec4e15daf8500a6ef69ec4e3feb6b1d98e',
    '610ac8b7ec3faf6ad760b7bad1db4ba3485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db',
    '059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c7b4378e846d29f37ed7b4ea9ec5d82e7',
    '961b7f25a9323851f681d582363aa5f89937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556',
    'be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c7468449a13d8e3b95811a198f3491de3e7',
    'fe942b330407abf82a4ed7c1b311663ac69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00',
    'f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632291d6a418211cc2962e20fe47feb3edf',
    '330f2c603a9d48c0fcb5699dbfe5896425c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd',
    '14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ffef132eef2fa09346aee33c28eb130ff2',
    '8f5b766953334113211996d20011a198e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd',
    'c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73203a4a13e96f5432ec0fd4a1ee65accd',
    'd5e3904df54c1da510b0ff20dcc0c77fcb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e',
    'fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03adea2e1fbc5aa463d08ca19896d2bf59a07',
    '1b851e6c239052172f296bfb5e72404790a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2',
    '162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f440591f355e12d439ff150aab7613499d',
    'bd49adabc8676eef023b15b65bfc5ca06948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e',
    '8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0be79e2fb8f5d5fbbe2e30ecadd220723',
    'c8c0aea8078cdfcb3868263ff8f0940054da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab',
    '760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9f96f3ca9ec1dde434da7d2d392b905dd',
    'f3d1f9af93d1af5950bd493f5aa731b4056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064',
    '7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241e221af44860018ab0856972e194cd934',
  ].join(''),
);

/** RFC 9001 A.3: the protected server Initial (ACK + CRYPTO). */
const V1_SERVER_INITIAL = hex(
  'cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a5816b6394100f37a1c69797554780bb3' +
    '8cc5a99f5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84' +
    '022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc42158407dd074ee',
);

/** RFC 9369 A.2: the protected QUIC v2 client Initial (same plaintext as RFC 9001 A.2). */
const V2_CLIENT_INITIAL = hex(
  [
    'd76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485dd04de806071bf03dceebfa162e75d6c',
    '96058bdbfb127cdfcbf903388e99ad049f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d',
    '250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a12834e3f249a78d395e0d18f4d766004',
    'f1a2674802a747eaa901c3f10cda5500cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68',
    '18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff3312ae50b187c1433c0f028edcc4c2838b',
    '6a9bfc226ca4b4530e7a4ccee1bfa2a3d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd',
    '6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520bcfb7966fc49b393f0061d974a2706df',
    '8c4a9449f11d7f3d2dcbb90c6b877045636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f',
    'ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c1216ccce2d0193f958bb3850a833f7ae43',
    '2b65bc5a53975c155aa4bcb4f7b2c4e54df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4',
    'fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b8017c25ca9052ca1079d8b78aebd4787',
    '6d330a30f6a8c6d61dd1ab5589329de714d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9',
    '9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91abfe43960977c87471cf9ad4074d30e1',
    '0d6a7f03c63bd5d4317f68ff325ba3bd80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db',
    '848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18d703dd84045a274ae8bfa73379661388',
    'd6991fe39b0d93debb41700b41f90a15c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc',
    '7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61f6b5b984d4d3dfa033c1bb7e4f0037fe',
    'bf406d91c0dccf32acf423cfa1e7071010d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b',
    '3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e06ebfde206bfb0fcbc0edc4ebec30966',
    '1bdd908d532eb0c6adc38b7ca7331dce8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1',
    '34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1e86215c2d54e6670e07383a27bbffb5a',
    'ddf47d66aa85a0c6f9f32e59d85a44dd5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3',
    '8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89d5974ee12e5cf7d5da4d6a31123041f3',
    '3e61407e76cffcdcfd7e19ba58cf4b536f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19',
    '9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96ba18b2faa745b6fe189cf772a9f84cbfc',
  ].join(''),
);

/** RFC 9369 A.3: the protected QUIC v2 server Initial. */
const V2_SERVER_INITIAL = hex(
  'dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698baeea26b91eb761d9b89237bbf872630' +
    '17915358230035f7fd3945d88965cf17f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2' +
    'c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca84bed8521e2e140',
);

const keyHex = (k: PacketKeys) => ({ key: k.key.toString('hex'), iv: k.iv.toString('hex'), hp: k.hp.toString('hex') });

/** The client's A.2 plaintext: one CRYPTO frame with the ClientHello, PADDING up to 1162 bytes. */
function rfcClientPayload(): Buffer {
  const p = Buffer.alloc(1162);
  Buffer.concat([hex('060040f1'), CLIENT_HELLO]).copy(p);
  return p;
}

describe('Initial keys (RFC 9001 A.1, RFC 9369 A.1)', () => {
  it('derives the v1 secrets and keys', () => {
    const initial = hkdfExtract(quicVersionParams(QUIC_V1)!.salt, DCID);
    expect(initial.toString('hex')).toBe('7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44');
    expect(hkdfExpandLabel(initial, 'client in', 32).toString('hex')).toBe('c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea');
    expect(hkdfExpandLabel(initial, 'server in', 32).toString('hex')).toBe('3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b');
    const k = initialKeys(QUIC_V1, DCID)!;
    expect(keyHex(k.client)).toEqual({ key: '1f369613dd76d5467730efcbe3b1a22d', iv: 'fa044b2f42a3fd3b46fb255c', hp: '9f50449e04a0e810283a1e9933adedd2' });
    expect(keyHex(k.server)).toEqual({ key: 'cf3a5331653c364c88f0f379b6067e37', iv: '0ac1493ca1905853b0bba03e', hp: 'c206b8d9b9f0f37644430b490eeaa314' });
  });

  it('derives the v2 keys with the v2 salt and the quicv2 labels', () => {
    const k = initialKeys(QUIC_V2, DCID)!;
    expect(keyHex(k.client)).toEqual({ key: '8b1a0bc121284290a29e0971b5cd045d', iv: '91f73e2351d8fa91660e909f', hp: '45b95e15235d6f45a6b19cbcb0294ba9' });
    expect(keyHex(k.server)).toEqual({ key: '82db637861d55e1d011f19ea71d5d2a7', iv: 'dd13c276499c0249d3310652', hp: 'edf6d05c83121201b436e16877593c3a' });
  });

  it('knows v1, v2 and drafts 23-34, nothing else', () => {
    expect(quicVersionParams(0xff00001d)!.salt.toString('hex')).toBe('afbfec289993d24c9e9786f19c6111e04390a899');
    expect(quicVersionParams(0xff00001c)!.salt.toString('hex')).toBe('c3eef712c72ebb5a11a7d2432bb46365bef9f502');
    expect(quicVersionParams(0xff000022)!.salt).toEqual(quicVersionParams(QUIC_V1)!.salt);
    for (const v of [0, 0xff000016, 0xff000023, 0x51303530, 0x0a1a2a3a]) expect(quicVersionParams(v)).toBeNull();
    expect(initialKeys(0x51303530, DCID)).toBeNull();
  });
});

describe('packet protection (RFC 9001 A.2/A.3, RFC 9369 A.2/A.3)', () => {
  it('opens the v1 client Initial: packet number 2, the ClientHello in one CRYPTO frame', () => {
    const h = parseLongHeader(V1_CLIENT_INITIAL, 0, V1_CLIENT_INITIAL.length)!;
    expect(h).toMatchObject({ version: QUIC_V1, kind: 'initial', dcidStart: 6, dcidEnd: 14, pnOffset: 18, end: 1200 });
    const opened = openPacket(V1_CLIENT_INITIAL, 0, h, initialKeys(QUIC_V1, DCID)!.client)!;
    expect(opened.pn).toBe(2);
    expect(opened.payload.length).toBe(1162);
    expect(opened.payload.subarray(0, 4 + CLIENT_HELLO.length)).toEqual(Buffer.concat([hex('060040f1'), CLIENT_HELLO]));
    const frames = initialCryptoFrames(opened.payload, 0, opened.payload.length);
    expect(frames).toEqual([{ offset: 0, start: 4, end: 245 }]);
    expect(parseClientHello(CLIENT_HELLO, 4, CLIENT_HELLO.length).value!.serverName).toBe('example.com');
    // The server's keys (or any other) do not verify the tag.
    expect(openPacket(V1_CLIENT_INITIAL, 0, h, initialKeys(QUIC_V1, DCID)!.server)).toBeNull();
    expect(openPacket(V1_CLIENT_INITIAL, 0, h, initialKeys(QUIC_V2, DCID)!.client)).toBeNull();
  });

  it('opens the v1 server Initial: ACK then the ServerHello', () => {
    const h = parseLongHeader(V1_SERVER_INITIAL, 0, V1_SERVER_INITIAL.length)!;
    const opened = openPacket(V1_SERVER_INITIAL, 0, h, initialKeys(QUIC_V1, DCID)!.server)!;
    expect(opened.pn).toBe(1);
    expect(opened.payload.subarray(0, 5)).toEqual(hex('0200000000'));
    const [f] = initialCryptoFrames(opened.payload, 0, opened.payload.length);
    expect(opened.payload.subarray(f.start, f.end)).toEqual(SERVER_HELLO);
    expect(parseServerHello(SERVER_HELLO, 4, SERVER_HELLO.length).value!.cipher).toBe(0x1301);
  });

  it('opens the v2 client and server Initials (v2 packet types, salt and labels)', () => {
    const k = initialKeys(QUIC_V2, DCID)!;
    const hc = parseLongHeader(V2_CLIENT_INITIAL, 0, V2_CLIENT_INITIAL.length)!;
    expect(hc.kind).toBe('initial');
    const c = openPacket(V2_CLIENT_INITIAL, 0, hc, k.client)!;
    expect(c.pn).toBe(2);
    expect(c.payload).toEqual(rfcClientPayload());
    const hs = parseLongHeader(V2_SERVER_INITIAL, 0, V2_SERVER_INITIAL.length)!;
    const s = openPacket(V2_SERVER_INITIAL, 0, hs, k.server)!;
    expect(s.pn).toBe(1);
    const [f] = initialCryptoFrames(s.payload, 0, s.payload.length);
    expect(s.payload.subarray(f.start, f.end)).toEqual(SERVER_HELLO);
  });

  it('protectInitial rebuilds the RFC packets byte for byte (the builder used below)', () => {
    const k1 = initialKeys(QUIC_V1, DCID)!;
    expect(protectInitial({ version: QUIC_V1, dcid: DCID, scid: Buffer.alloc(0), pn: 2, pnLen: 4, payload: rfcClientPayload(), keys: k1.client })).toEqual(V1_CLIENT_INITIAL);
    const serverPayload = Buffer.concat([hex('0200000000'), hex('0600405a'), SERVER_HELLO]);
    expect(protectInitial({ version: QUIC_V1, dcid: Buffer.alloc(0), scid: SERVER_SCID, pn: 1, pnLen: 2, payload: serverPayload, keys: k1.server })).toEqual(V1_SERVER_INITIAL);
    const k2 = initialKeys(QUIC_V2, DCID)!;
    expect(protectInitial({ version: QUIC_V2, dcid: DCID, scid: Buffer.alloc(0), pn: 2, pnLen: 4, payload: rfcClientPayload(), keys: k2.client })).toEqual(V2_CLIENT_INITIAL);
  });

  it('rejects a flipped ciphertext bit, a flipped header bit and a packet too short to sample', () => {
    const k = initialKeys(QUIC_V1, DCID)!.client;
    const h = parseLongHeader(V1_CLIENT_INITIAL, 0, 1200)!;
    const body = Buffer.from(V1_CLIENT_INITIAL);
    body[600] ^= 1;
    expect(openPacket(body, 0, h, k)).toBeNull();
    const head = Buffer.from(V1_CLIENT_INITIAL);
    head[7] ^= 1; // inside the DCID: only the associated data catches it
    expect(openPacket(head, 0, h, k)).toBeNull();
    expect(openPacket(V1_CLIENT_INITIAL, 0, { ...h, end: h.pnOffset + 19 }, k)).toBeNull();
  });

  it('reconstructs packet numbers (RFC 9000 A.3)', () => {
    expect(decodePacketNumber(0xa82f30ea, 0x9b32, 2)).toBe(0xa82f9b32);
    expect(decodePacketNumber(-1, 0, 1)).toBe(0);
    expect(decodePacketNumber(255, 2, 1)).toBe(258);
    expect(decodePacketNumber(300, 250, 1)).toBe(250);
  });
});

describe('headers and recognition', () => {
  it('reads varints of every size (RFC 9000 A.1 samples)', () => {
    expect(readVarint(hex('c2197c5eff14e88c'), 0, 8)).toEqual({ value: 151288809941952652, size: 8 });
    expect(readVarint(hex('9d7f3e7d'), 0, 4)).toEqual({ value: 494878333, size: 4 });
    expect(readVarint(hex('7bbd'), 0, 2)).toEqual({ value: 15293, size: 2 });
    expect(readVarint(hex('25'), 0, 1)).toEqual({ value: 37, size: 1 });
    expect(readVarint(hex('9d7f3e'), 0, 3)).toBeNull();
    expect(readVarint(hex(''), 0, 0)).toBeNull();
  });

  it('looksLikeQuicInitial: v1/v2/draft Initials yes; other types, versions and shapes no', () => {
    const yes = (b: Buffer) => looksLikeQuicInitial(b, 0, b.length);
    expect(yes(V1_CLIENT_INITIAL)).toBe(true);
    expect(yes(V1_SERVER_INITIAL)).toBe(true);
    expect(yes(V2_CLIENT_INITIAL)).toBe(true);
    const draft = Buffer.from(V1_CLIENT_INITIAL);
    draft.writeUInt32BE(0xff00001d, 1);
    expect(yes(draft)).toBe(true);
    const v1TypeInV2 = Buffer.from(V2_CLIENT_INITIAL);
    v1TypeInV2[0] = (v1TypeInV2[0] & 0xcf) | 0x00; // type 0 is Retry in v2
    expect(yes(v1TypeInV2)).toBe(false);
    const handshake = Buffer.from(V1_CLIENT_INITIAL);
    handshake[0] |= 0x20;
    expect(yes(handshake)).toBe(false);
    const noFixed = Buffer.from(V1_CLIENT_INITIAL);
    noFixed[0] &= ~0x40;
    expect(yes(noFixed)).toBe(false);
    const unknown = Buffer.from(V1_CLIENT_INITIAL);
    unknown.writeUInt32BE(0x0a0a0a0a, 1);
    expect(yes(unknown)).toBe(false);
    const longCid = Buffer.from(V1_CLIENT_INITIAL);
    longCid[5] = 21;
    expect(yes(longCid)).toBe(false);
    expect(yes(V1_CLIENT_INITIAL.subarray(0, 14))).toBe(false);
    expect(yes(Buffer.from('160301020001', 'hex'))).toBe(false);
    expect(yes(Buffer.from('4012345678901234567890', 'hex'))).toBe(false);
  });

  it('parseLongHeader stops at short headers, Retry, version negotiation and overlong Length', () => {
    expect(parseLongHeader(hex('40') , 0, 1)).toBeNull();
    const retry = hex('f0000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba');
    expect(parseLongHeader(retry, 0, retry.length)).toBeNull();
    const vn = hex('c000000000048394c8f0000000000100000002');
    expect(parseLongHeader(vn, 0, vn.length)).toBeNull();
    expect(parseLongHeader(V1_CLIENT_INITIAL, 0, 1199)).toBeNull();
    // A Handshake packet (type 2) has no token and is reported as 'other'.
    const hs = hex('e00000000100004005aabbccddee');
    expect(parseLongHeader(hs, 0, hs.length)).toMatchObject({ kind: 'other', pnOffset: 9, end: 14 });
  });
});

describe('frames', () => {
  it('skips PADDING, PING, ACK (with ranges and ECN counts) and CONNECTION_CLOSE around CRYPTO frames', () => {
    const p = Buffer.concat([
      hex('0001'),
      hex('02 10 00 02 01 00 03 01 05'), // ACK: largest 16, delay 0, 2 more ranges
      hex('06 00 03 414243'),
      hex('03 05 00 00 00 01 02 03'), // ACK_ECN: no more ranges, ECT0/ECT1/CE
      hex('06 4005 02 4445'),
      hex('1c 0a 06 02 6f6b'), // CONNECTION_CLOSE (transport): error, frame type, reason "ok"
      hex('1d 00 00'), // CONNECTION_CLOSE (application): error, empty reason
      hex('06 07 01 46'),
    ]);
    const frames = initialCryptoFrames(p, 0, p.length);
    expect(frames.map((f) => [f.offset, p.subarray(f.start, f.end).toString()])).toEqual([
      [0, 'ABC'],
      [5, 'DE'],
      [7, 'F'],
    ]);
  });

  it('stops at a frame type an Initial does not carry, and at a frame that runs past the payload', () => {
    const p = hex('06 00 01 41 08 00 06 01 01 42');
    expect(initialCryptoFrames(p, 0, p.length).length).toBe(1);
    const cut = hex('06 00 01 41 06 02 05 4243');
    expect(initialCryptoFrames(cut, 0, cut.length).length).toBe(1);
    const hugeAck = hex('02 00 00 80ffffff 00');
    expect(initialCryptoFrames(hugeAck, 0, hugeAck.length)).toEqual([]);
  });
});

describe('CryptoStream', () => {
  it('reassembles out-of-order pieces; overlapping bytes keep the first copy', () => {
    const s = new CryptoStream();
    const src = Buffer.from('0123456789');
    expect(s.add(5, src, 5, 10)).toBe(5);
    expect(s.contiguous()).toBe(0);
    expect(s.add(2, Buffer.from('xxxxx'), 0, 5)).toBe(3); // 2..5 new, 5..7 already there
    expect(s.add(0, src, 0, 2)).toBe(2);
    expect(s.contiguous()).toBe(10);
    expect(Buffer.from(s.bytes().subarray(0, 10)).toString()).toBe('01xxx56789');
    expect(s.add(0, src, 0, 10)).toBe(0);
  });

  it('drops bytes past MAX_CRYPTO_BYTES', () => {
    const s = new CryptoStream();
    const big = Buffer.alloc(100, 1);
    expect(s.add(MAX_CRYPTO_BYTES - 10, big, 0, 100)).toBe(10);
    expect(s.add(MAX_CRYPTO_BYTES + 5, big, 0, 100)).toBe(0);
    expect(s.bytes().length).toBe(MAX_CRYPTO_BYTES);
  });
});

// ---------------------------------------------------------------------------------------------
// The parser on Initials built here

const CLIENT_SCID = hex('c1c2c3c4');

interface Built {
  version?: number;
  dcid?: Buffer;
  keyDcid?: Buffer;
  pn?: number;
  frames: Buffer;
  scid?: Buffer;
}

function clientInitial(b: Built): Buffer {
  const v = b.version ?? QUIC_V1;
  const payload = Buffer.concat([b.frames, Buffer.alloc(Math.max(0, 20 - b.frames.length))]);
  return protectInitial({ version: v, dcid: b.dcid ?? DCID, scid: b.scid ?? CLIENT_SCID, pn: b.pn ?? 0, pnLen: 2, payload, keys: initialKeys(v, b.keyDcid ?? b.dcid ?? DCID)!.client });
}

function serverInitial(b: Built): Buffer {
  const v = b.version ?? QUIC_V1;
  const payload = Buffer.concat([b.frames, Buffer.alloc(Math.max(0, 20 - b.frames.length))]);
  return protectInitial({ version: v, dcid: CLIENT_SCID, scid: b.scid ?? SERVER_SCID, pn: b.pn ?? 0, pnLen: 2, payload, keys: initialKeys(v, b.keyDcid ?? DCID)!.server });
}

function crypto(offset: number, data: Buffer): Buffer {
  const off = offset < 0x40 ? Buffer.of(offset) : Buffer.of(0x40 | (offset >> 8), offset & 0xff);
  const len = data.length < 0x40 ? Buffer.of(data.length) : Buffer.of(0x40 | (data.length >> 8), data.length & 0xff);
  return Buffer.concat([Buffer.of(0x06), off, len, data]);
}

function feed(list: [0 | 1, Buffer][], sink = new RecordingSink('udp')) {
  const p = createQuic(sink);
  list.forEach(([dir, b], i) => {
    sink.at(1_700_000_000 + i, 0, i + 1);
    p.datagram(dir, b, 0, b.length);
  });
  p.end();
  return { sink, p, rows: sink.table('tls') };
}

describe('createQuic', () => {
  it('writes one row from the RFC client and server Initials, with the TLS table columns', () => {
    const { sink, p, rows } = feed([
      [0, V1_CLIENT_INITIAL],
      [1, V1_SERVER_INITIAL],
    ]);
    // the parser keeps reading packet headers for the quic table until the connection ends
    expect(p.done).toBe(false);
    expect(sink.table('quic')).toMatchObject([{ version: '1', client_initial_dcid: '8394c8f03e515708', history: 'ISis' }]);
    expect(sink.services).toEqual(['quic']);
    expect(sink.anomalies).toEqual([]);
    expect(rows).toHaveLength(1);
    const r = rows[0];
    expect(r).toMatchObject({
      ts: { sec: 1_700_000_000, ns: 0 },
      version: 'TLSv13',
      cipher: 'TLS_AES_128_GCM_SHA256',
      curve: 'x25519',
      server_name: 'example.com',
      resumed: false,
      next_protocol: null,
      established: false,
      client_version: 'TLSv12',
      client_supported_versions: 'TLSv13',
      client_alpn: 'alpn',
      cert_chain_len: 0,
      subject: null,
      cert_sha256: null,
      client_hello_packet: 1,
      server_hello_packet: 2,
    });
    // 2 ciphers, 11 extensions (SNI included), first ALPN "alpn": counted by hand from RFC 9001 A.2.
    expect(r.ja4).toMatch(/^q13d0211an_[0-9a-f]{12}_[0-9a-f]{12}$/);
    expect(r.ja3).toMatch(/^[0-9a-f]{32}$/);
    expect(r.ja3s).toMatch(/^[0-9a-f]{32}$/);
    for (const f of TLS.fields) if (!['uid', 'flow_id', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'evidence_id', 'transport'].includes(f.name)) expect(r).toHaveProperty(f.name);
  });

  it('a v2 connection: same row from the RFC 9369 packets', () => {
    const { rows } = feed([
      [0, V2_CLIENT_INITIAL],
      [1, V2_SERVER_INITIAL],
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ server_name: 'example.com', cipher: 'TLS_AES_128_GCM_SHA256', server_hello_packet: 2 });
  });

  it('reassembles a ClientHello split over three Initials that arrive out of order', () => {
    const a = CLIENT_HELLO.subarray(0, 80);
    const b = CLIENT_HELLO.subarray(80, 160);
    const c = CLIENT_HELLO.subarray(160);
    const { rows, sink } = feed([
      [0, clientInitial({ pn: 0, frames: crypto(160, c) })],
      [0, clientInitial({ pn: 1, frames: crypto(0, a) })],
      [0, clientInitial({ pn: 2, frames: Buffer.concat([crypto(80, b), hex('01')]) })],
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ server_name: 'example.com', client_hello_packet: 3, version: null, server_hello_packet: null });
    // ts is the first client Initial, not the one that completed the hello.
    expect(rows[0].ts).toEqual({ sec: 1_700_000_000, ns: 0 });
    expect(sink.anomalies).toEqual([]);
  });

  it('walks coalesced packets: a Handshake packet before an Initial is skipped, a short header ends the walk', () => {
    const handshake = Buffer.concat([hex('e000000001'), Buffer.of(4), CLIENT_SCID, Buffer.of(8), SERVER_SCID, hex('4014'), Buffer.alloc(20, 0xee)]);
    const server = serverInitial({ frames: Buffer.concat([hex('0200000000'), crypto(0, SERVER_HELLO)]) });
    const short = hex('40aabbccdd');
    const afterShort = serverInitial({ pn: 1, frames: crypto(0, SERVER_HELLO) });
    const { rows } = feed([
      [0, V1_CLIENT_INITIAL],
      [1, Buffer.concat([handshake, server, short, afterShort])],
    ]);
    expect(rows[0]).toMatchObject({ cipher: 'TLS_AES_128_GCM_SHA256', server_hello_packet: 2 });
    const { rows: none } = feed([
      [0, V1_CLIENT_INITIAL],
      [1, Buffer.concat([short, server])],
    ]);
    expect(none[0]).toMatchObject({ cipher: null, server_hello_packet: null });
  });

  it('follows a Retry: keys from the new DCID for the client and the server', () => {
    const newDcid = hex('0102030405060708090a');
    const retry = hex('f0000000010004c1c2c3c40a0102030405060708090a746f6b656e04a265ba2eff4d829058fb3f0f2496ba');
    const { rows, sink } = feed([
      [0, clientInitial({ pn: 0, frames: crypto(0, CLIENT_HELLO) })],
      [1, retry],
      [0, clientInitial({ pn: 1, dcid: newDcid, frames: crypto(0, CLIENT_HELLO) })],
      [1, serverInitial({ keyDcid: newDcid, frames: crypto(0, SERVER_HELLO) })],
    ]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ client_hello_packet: 1, server_hello_packet: 4, cipher: 'TLS_AES_128_GCM_SHA256' });
    expect(sink.anomalies).toEqual([]);
  });

  it('compatible version negotiation: a v1 ClientHello answered in v2 under the same DCID', () => {
    const { rows } = feed([
      [0, V1_CLIENT_INITIAL],
      [1, V2_SERVER_INITIAL],
    ]);
    expect(rows[0]).toMatchObject({ cipher: 'TLS_AES_128_GCM_SHA256', server_hello_packet: 2 });
  });

  it('later client Initials to the server-chosen DCID still use the original keys', () => {
    const a = CLIENT_HELLO.subarray(0, 100);
    const b = CLIENT_HELLO.subarray(100);
    const { rows } = feed([
      [0, clientInitial({ pn: 0, frames: crypto(0, a) })],
      [1, serverInitial({ frames: hex('0200000000') })],
      [0, clientInitial({ pn: 1, dcid: SERVER_SCID, keyDcid: DCID, frames: crypto(100, b) })],
    ]);
    expect(rows[0]).toMatchObject({ server_name: 'example.com', client_hello_packet: 3 });
  });

  it('HelloRetryRequest: the second ServerHello gives the values, JA3/JA4 stay on the first ClientHello', () => {
    const hrrRandom = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
    // HRR: legacy_version, HRR random, empty session id, cipher 0x1301, compression, supported_versions + key_share(secp256r1).
    const hrrBody = hex(`0303${hrrRandom}00130100000c002b00020304003300020017`);
    const hrr = Buffer.concat([Buffer.of(2, 0, 0, hrrBody.length), hrrBody]);
    const second = Buffer.from(CLIENT_HELLO);
    const { rows, sink } = feed([
      [0, V1_CLIENT_INITIAL],
      [1, serverInitial({ frames: crypto(0, hrr) })],
      [0, clientInitial({ pn: 3, frames: crypto(CLIENT_HELLO.length, second) })],
      [1, serverInitial({ pn: 1, frames: crypto(hrr.length, SERVER_HELLO) })],
    ]);
    const first = feed([
      [0, V1_CLIENT_INITIAL],
      [1, V1_SERVER_INITIAL],
    ]).rows[0];
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ curve: 'x25519', cipher: 'TLS_AES_128_GCM_SHA256', server_hello_packet: 4, client_hello_packet: 1, ja3: first.ja3, ja4: first.ja4 });
    expect(sink.anomalies).toEqual([]);
  });

  it('reports an undecryptable client Initial once, before any ClientHello; never for the server or later', () => {
    const bad = Buffer.from(V1_CLIENT_INITIAL);
    bad[700] ^= 0xff;
    const { sink, rows } = feed([
      [1, V1_SERVER_INITIAL],
      [0, bad],
      [0, bad],
    ]);
    expect(rows).toEqual([]);
    expect(sink.anomalies).toHaveLength(1);
    expect(sink.anomalies[0].name).toBe('tls_malformed_handshake');
    expect(sink.anomalies[0].detail).toMatch(/^quic: client Initial \(version 0x00000001, 1200 bytes\)/);
    const after = feed([
      [0, V1_CLIENT_INITIAL],
      [0, bad],
    ]);
    expect(after.sink.anomalies).toEqual([]);
    expect(after.rows).toHaveLength(1);
  });

  it('reports a CRYPTO stream that does not start with a ClientHello, and a hello too long to buffer', () => {
    const { sink, rows } = feed([[0, clientInitial({ frames: crypto(0, SERVER_HELLO) })]]);
    expect(rows).toEqual([]);
    expect(sink.anomalies.map((a) => a.detail)).toEqual(['quic: client CRYPTO stream starts with handshake message type 2, not a ClientHello']);
    const huge = feed([[0, clientInitial({ frames: crypto(0, hex('01ffffff0303')) })]]);
    expect(huge.sink.anomalies[0].detail).toMatch(/^quic: handshake message of 16777215 bytes exceeds/);
  });

  it('reports a ClientHello that does not parse, with a quic: detail', () => {
    const truncated = hex('010000050303aabb00');
    const { sink, rows } = feed([[0, clientInitial({ frames: crypto(0, truncated) })]]);
    expect(rows).toEqual([]);
    expect(sink.anomalies.map((a) => a.detail)).toEqual(['quic: ClientHello shorter than its fixed fields']);
  });

  it('gives up the handshake after 20 datagrams without progress, writing what it has; ignores later hellos', () => {
    const sink = new RecordingSink('udp');
    const p = createQuic(sink);
    p.datagram(0, V1_CLIENT_INITIAL, 0, V1_CLIENT_INITIAL.length);
    const junk = hex('40aabbccddeeff');
    for (let i = 0; i < 19; i++) p.datagram(1, junk, 0, junk.length);
    expect(sink.table('tls')).toHaveLength(0);
    p.datagram(1, junk, 0, junk.length);
    expect(sink.table('tls')).toHaveLength(1);
    p.datagram(1, V1_SERVER_INITIAL, 0, V1_SERVER_INITIAL.length);
    p.end();
    expect(sink.table('tls')).toHaveLength(1);
    expect(sink.table('tls')[0].cipher).toBeNull();
  });

  it('UDP/443 that is not QUIC we know: one quic row for a long header of unknown version, then the flow is left alone', () => {
    const sink = new RecordingSink('udp');
    const p = createQuic(sink);
    const odd = hex('c0deadbeef0401020304040506070800');
    for (let i = 0; i < 50; i++) p.datagram(i & 1 ? 1 : 0, odd, 0, odd.length);
    expect(p.done).toBe(true);
    expect(sink.table('quic')).toMatchObject([{ version: 'unknown-deadbeef', history: 'U' }]);
    expect(sink.table('tls')).toEqual([]);
  });

  it('writes no row without a ClientHello, and ignores non-QUIC datagrams quietly', () => {
    const { rows, sink } = feed([
      [1, V1_SERVER_INITIAL],
      [0, Buffer.from('GET / HTTP/1.1\r\n')],
      [0, Buffer.alloc(0)],
    ]);
    expect(rows).toEqual([]);
    expect(sink.anomalies).toEqual([]);
    expect(sink.services).toEqual([]);
  });

  it('does not modify the bytes it is given', () => {
    const copy = Buffer.from(V1_CLIENT_INITIAL);
    feed([[0, copy]]);
    expect(copy).toEqual(V1_CLIENT_INITIAL);
  });
});

// ---------------------------------------------------------------------------------------------
// Real captures

interface Conn {
  key: string;
  sink: RecordingSink;
}

/** Feeds every UDP datagram of a capture to createQuic, one parser per 5-tuple; the first sender is the client. */
async function run(path: string): Promise<Conn[]> {
  const conns = new Map<string, Conn & { p: ReturnType<typeof createQuic>; orig: string }>();
  await forEachDecoded(path, (pk, d) => {
    if (!d.hasL4 || d.proto !== 17) return;
    const fmt = d.ipVersion === 4 ? formatIPv4 : formatIPv6;
    const src = `${fmt(d.nb, d.srcOff)}:${d.sport}`;
    const dst = `${fmt(d.nb, d.dstOff)}:${d.dport}`;
    const key = src < dst ? `${src} ${dst}` : `${dst} ${src}`;
    let c = conns.get(key);
    if (!c) {
      const sink = new RecordingSink('udp');
      c = { key: `${src} ${dst}`, sink, p: createQuic(sink), orig: src };
      conns.set(key, c);
    }
    c.sink.at(pk.tsSec, pk.tsNs, pk.packetNo);
    c.p.datagram(src === c.orig ? 0 : 1, d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured);
  });
  for (const c of conns.values()) c.p.end();
  return [...conns.values()];
}

const KEYS = ['server_name', 'client_alpn', 'ja3', 'cipher', 'version', 'curve', 'ja3s', 'resumed', 'client_hello_packet', 'server_hello_packet'] as const;
type Expect = [file: string, ...values: unknown[]];

/*
 * Expected values: tshark 4.0 on each file,
 *   -Y "quic && tls.handshake.type == 1" -e frame.number -e tls.handshake.extensions_server_name
 *      -e tls.handshake.extensions_alpn_str -e tls.handshake.ja3
 *   -Y "quic && tls.handshake.type == 2" -e frame.number -e tls.handshake.ciphersuite
 *      -e tls.handshake.extensions.supported_version -e tls.handshake.ja3s
 *      -e tls.handshake.extensions_key_share_group -e tls.handshake.extension.type (41 = resumed)
 * The frame numbers are where each hello ends. ndpi_quic-29: tshark's first type-2 frame (4) is
 * a HelloRetryRequest, the ServerHello that counts is frame 6. zeek_quic-go_*, curl and quicv2
 * also agree with Zeek's ssl.log baselines next to them (version, cipher, curve, server_name,
 * resumed F, established F).
 */
const CAPTURES: Expect[] = [
  ['arkime_quicietf.pcap', 'ssl.gstatic.com', 'h3', 'ddfef2ad23ab6dd55307813c2d0b7d58', null, null, null, null, false, 1, null],
  ['ja4_quic-tls-handshake.pcapng', 'www.google.com', 'h3', '0cda1bd7f270e894ed5de2af2f06cb80', null, null, null, null, false, 1, null],
  ['ndpi_quic-29.pcap', 'localhost', 'h3-29', 'b3e43d74f4b790abca2f5fe7dd06e7cf', 'TLS_CHACHA20_POLY1305_SHA256', 'TLSv13', 'x25519', '475c9302dc42b2751db9edcac3b74891', false, 1, 6],
  ['ndpi_quic-v2.pcapng', 'test', 'h3', '5e685944fc983af5eabcc813add3dca1', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'secp256r1', 'f4febc55ea12b31ae17cfb7e614afda8', false, 1, 2],
  ['sv_quic-ietf.pcap', 'msquic.net', 'h3-29', '292bd0719190dff4cb1033de8573310d', 'TLS_AES_256_GCM_SHA384', 'TLSv13', 'secp256r1', '2253c82f03b621c5144709b393fde2c9', true, 1, 2],
  ['sv_quic-v2-ja3.pcap', null, 'h3', 'ea0aece5703cb982b232a0684fc35b16', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'f4febc55ea12b31ae17cfb7e614afda8', false, 1, 2],
  ['td_quic_handshake.pcap', 'localhost', 'h3', '9a78264e64e221797705e75a3c55df01', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'eb1d94daa7e0344597e756a1fb6e7054', false, 1, 2],
  ['td_quic_retry.pcap', 'localhost', 'h3', '9a78264e64e221797705e75a3c55df01', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'eb1d94daa7e0344597e756a1fb6e7054', false, 1, 4],
  ['zeek_quic-go_handshake.pcap', 'server4:443', 'hq-interop', '3e9680842aa1ac1f48edc74e779ebc97', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'f4febc55ea12b31ae17cfb7e614afda8', false, 5, 6],
  ['zeek_quic-go_retry.pcap', 'server4:443', 'hq-interop', '3e9680842aa1ac1f48edc74e779ebc97', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'f4febc55ea12b31ae17cfb7e614afda8', false, 5, 8],
  ['zeek_quic_chromium-115.0.5790.110-api-cirrus-com.pcap', 'api.cirrus-ci.com', 'h3', '526bdfecc3fb6cf46540d7ff70e88cec', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', '2b0648ab686ee45e0e7c35fcfb0eea7e', true, 1, 2],
  ['zeek_quic_curl-8.1.2-dev-http3-www-google-de.pcap', 'www.google.de', 'h3,h3-29,h3-28,h3-27', 'f75253b5e2b4dcb3fdae9b78ce8c6e49', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'eb1d94daa7e0344597e756a1fb6e7054', false, 1, 2],
  ['zeek_quic_quic-multiple-initial-fragmented-crypto.pcap', 'googleads.g.doubleclick.net', 'h3', 'a737e2cfe3b7e8f28cf5a2afd1427700', null, null, null, null, false, 3, null],
  ['zeek_quic_quicv2-http3-443.pcap', null, 'h3', 'b399a25badfd034849f164d8acfda10e', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', 'f4febc55ea12b31ae17cfb7e614afda8', false, 1, 2],
];

const rowsOf = (conns: Conn[]) => conns.flatMap((c) => c.sink.table('tls'));

describe('real captures (tshark 4.0, Zeek, Arkime, nDPI)', () => {
  it.each(CAPTURES)('%s', async (file, ...values) => {
    const conns = await run(`${PCAPS}/protocols/quic/${file}`);
    const rows = rowsOf(conns);
    expect(rows).toHaveLength(1);
    expect(KEYS.map((k) => rows[0][k])).toEqual(values);
    expect(rows[0]).toMatchObject({ established: false, next_protocol: null, cert_chain_len: 0 });
    expect(conns.flatMap((c) => c.sink.anomalies)).toEqual([]);
    expect(conns.flatMap((c) => c.sink.services)).toEqual(['quic']);
  });

  it('ndpi_quic_0RTT.pcap: a draft-28 connection and a v1 connection, both resumed', async () => {
    const rows = rowsOf(await run(`${PCAPS}/protocols/quic/ndpi_quic_0RTT.pcap`));
    expect(rows.map((r) => KEYS.map((k) => r[k]))).toEqual([
      ['abcd', 'h3-32', 'a7b629a5bd67bfc25e2c78b3daa4c12f', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'secp256r1', 'fcb2d4d0991292272fcb1e464eedfd43', true, 1, 2],
      ['ssl.gstatic.com', 'h3', '06b6b2a2cba0b7deeaaa6a3d8374d627', 'TLS_AES_128_GCM_SHA256', 'TLSv13', 'x25519', '2b0648ab686ee45e0e7c35fcfb0eea7e', true, 5, 6],
    ]);
  });

  it('JA4 with the QUIC letter: Arkime exactly; nDPI for the hashed parts', async () => {
    const ja4Of = async (f: string) => rowsOf(await run(`${PCAPS}/protocols/quic/${f}`)).map((r) => r.ja4);
    // arkime_quicietf.pcap.arkime.test.json: "q13d0311h3_55b375c5d22e_3512bcbbc9ec".
    expect(await ja4Of('arkime_quicietf.pcap')).toEqual(['q13d0311h3_55b375c5d22e_3512bcbbc9ec']);
    // *.ndpi.out "JA4:" values. nDPI's ALPN characters differ from FoxIO's JA4.md (first and last
    // character of the first ALPN value): nDPI prints h3 for "h3-29" and "h3-32", h0 for "h3".
    // The hashed parts and the counts agree; the ALPN characters here follow the spec.
    expect(await ja4Of('ndpi_quic-29.pcap')).toEqual(['q13d0512h9_d55e91d5c3b2_cd318bf3b157']); // nDPI: q13d0512h3_...
    expect(await ja4Of('ndpi_quic-v2.pcapng')).toEqual(['q13d0310h3_55b375c5d22e_0a3b52e28cea']); // nDPI: q13d0310h0_...
    expect(await ja4Of('ndpi_quic_0RTT.pcap')).toEqual([
      'q00d0310h2_55b375c5d22e_060ec1c6a056', // nDPI: q00d0310h3_... (draft-28: supported_versions only has a draft)
      'q13d0312h3_55b375c5d22e_73e2d9e6cde6', // nDPI: q13d0312h0_...
    ]);
  });

  it('ndpi_gquic.pcap: Google QUIC is not decrypted (tshark finds no ClientHello either)', async () => {
    const conns = await run(`${PCAPS}/protocols/quic/ndpi_gquic.pcap`);
    expect(rowsOf(conns)).toEqual([]);
    expect(conns.flatMap((c) => c.sink.anomalies)).toEqual([]);
  });
});
