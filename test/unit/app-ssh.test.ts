/**
 * SSH parser: identification lines, KEXINIT, HASSH, negotiated algorithms, on hand-built bytes and
 * on the public captures in ../shared/pcaps/protocols/ssh and attacks/bruteforce.
 *
 * Expected values from captures were checked with tshark 4.0 (`ssh.protocol`, `ssh.kex.hassh`,
 * `ssh.kex.hasshserver`, and the name-lists, from which the agreed algorithms were computed by a
 * separate script) and, where given, with the reference outputs next to the captures (Zeek ssh.log,
 * Suricata test.yaml, nDPI, JA4).
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  connectionVersion, createSsh, hassh, hasshAlgorithms, isAeadCipher, looksLikeSsh, negotiate, parseIdent, parseKexinit,
  type Kexinit,
} from '../../engine/app/ssh.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { tcpConnections as readTcpConnections } from '../helpers/capture.js';

const PCAPS = new URL('../../../shared/pcaps/', import.meta.url).pathname;

// --- builders -----------------------------------------------------------------------------

const CLIENT_LISTS = {
  kex: 'curve25519-sha256,diffie-hellman-group14-sha256,ext-info-c',
  hostKey: 'ssh-ed25519,rsa-sha2-512',
  encC2s: 'chacha20-poly1305@openssh.com,aes128-ctr',
  encS2c: 'aes128-ctr',
  macC2s: 'hmac-sha2-256-etm@openssh.com,hmac-sha1',
  macS2c: 'hmac-sha1',
  compC2s: 'none,zlib@openssh.com',
  compS2c: 'none',
  langC2s: '',
  langS2c: '',
};
const SERVER_LISTS = {
  ...CLIENT_LISTS,
  kex: 'diffie-hellman-group14-sha256,curve25519-sha256',
  hostKey: 'rsa-sha2-512,ssh-ed25519',
  encC2s: 'aes128-ctr,chacha20-poly1305@openssh.com',
  encS2c: 'aes256-ctr,aes128-ctr',
  macC2s: 'hmac-sha1,hmac-sha2-256-etm@openssh.com',
  compC2s: 'zlib@openssh.com,none',
};
type Lists = typeof CLIENT_LISTS;
const ORDER: (keyof Lists)[] = ['kex', 'hostKey', 'encC2s', 'encS2c', 'macC2s', 'macS2c', 'compC2s', 'compS2c', 'langC2s', 'langS2c'];

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** KEXINIT payload (message number first). */
function kexinitPayload(l: Lists, firstKexFollows = 0): Buffer {
  const parts: Buffer[] = [Buffer.from([20]), Buffer.alloc(16, 0xab)];
  for (const k of ORDER) parts.push(u32(Buffer.byteLength(l[k], 'latin1')), Buffer.from(l[k], 'latin1'));
  parts.push(Buffer.from([firstKexFollows]), u32(0));
  return Buffer.concat(parts);
}

/** One binary packet around a payload (RFC 4253 6), padded to a multiple of 8 with >= 4 bytes. */
function packet(payload: Buffer): Buffer {
  let pad = 8 - ((5 + payload.length) % 8);
  if (pad < 4) pad += 8;
  return Buffer.concat([u32(1 + payload.length + pad), Buffer.from([pad]), payload, Buffer.alloc(pad)]);
}

const CLIENT_BANNER = 'SSH-2.0-OpenSSH_9.6';
const SERVER_BANNER = 'SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6';

function line(s: string): Buffer {
  return Buffer.from(s + '\r\n', 'latin1');
}

function feed(sink: RecordingSink, parts: [Dir, Buffer | string][]) {
  const p = createSsh(sink);
  for (const [dir, data] of parts) {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    p.data(dir, b, 0, b.length);
  }
  return p;
}

function fullHandshake(): [Dir, Buffer][] {
  return [
    [1, line(SERVER_BANNER)],
    [0, line(CLIENT_BANNER)],
    [1, packet(kexinitPayload(SERVER_LISTS))],
    [0, packet(kexinitPayload(CLIENT_LISTS))],
  ];
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

// --- pure helpers ---------------------------------------------------------------------------

describe('ssh helpers', () => {
  it('looksLikeSsh needs "SSH-" at the start', () => {
    const b = Buffer.from('xxSSH-2.0-x');
    expect(looksLikeSsh(b, 2, b.length)).toBe(true);
    expect(looksLikeSsh(b, 0, b.length)).toBe(false);
    expect(looksLikeSsh(b, 2, 5)).toBe(false); // fewer than 4 bytes: cannot tell
    expect(looksLikeSsh(Buffer.from('SSH_2.0'), 0, 7)).toBe(false);
  });

  it('parseIdent splits protoversion, softwareversion and comments', () => {
    expect(parseIdent('SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3')).toEqual({ proto: '2.0', software: 'OpenSSH_7.4p1', cls: 'v2', wellFormed: true });
    expect(parseIdent('SSH-1.99-OpenSSH_3.9p1')).toMatchObject({ proto: '1.99', cls: 'v199', wellFormed: true });
    expect(parseIdent('SSH-1.5-1.2.26')).toMatchObject({ proto: '1.5', software: '1.2.26', cls: 'v1', wellFormed: true });
    expect(parseIdent('SSH-2.0')).toMatchObject({ proto: '2.0', software: null, cls: 'v2', wellFormed: false });
    expect(parseIdent('SSH-2.0-')).toMatchObject({ wellFormed: false });
    expect(parseIdent('SSH-x-y')).toMatchObject({ cls: null, wellFormed: false });
    expect(parseIdent('HTTP/1.1 200 OK')).toMatchObject({ cls: null, wellFormed: false });
  });

  it('connectionVersion follows Zeek for mixed banners, NULL where Zeek says 0', () => {
    expect(connectionVersion('v2', 'v2')).toBe(2);
    expect(connectionVersion('v2', 'v199')).toBe(2);
    expect(connectionVersion('v199', 'v2')).toBe(2);
    expect(connectionVersion('v199', 'v199')).toBe(2);
    expect(connectionVersion('v1', 'v199')).toBe(1);
    expect(connectionVersion('v199', 'v1')).toBe(1);
    expect(connectionVersion('v1', 'v1')).toBe(1);
    expect(connectionVersion('v1', 'v2')).toBeNull();
    expect(connectionVersion('v2', 'v1')).toBeNull();
    expect(connectionVersion(null, 'v199')).toBe(2);
    expect(connectionVersion('v1', null)).toBe(1);
    expect(connectionVersion(null, null)).toBeNull();
  });

  it('parseKexinit reads the ten name-lists and first_kex_packet_follows', () => {
    const p = kexinitPayload(CLIENT_LISTS, 1);
    const k = parseKexinit(p, 0, p.length)!;
    expect(k).toEqual({ ...CLIENT_LISTS, firstKexPacketFollows: true });
    // at an offset inside a larger buffer
    const padded = Buffer.concat([Buffer.alloc(7, 1), p, Buffer.alloc(5, 2)]);
    expect(parseKexinit(padded, 7, 7 + p.length)).toEqual(k);
  });

  it('parseKexinit rejects truncation, lengths past the end, other messages and non-ASCII names', () => {
    const p = kexinitPayload(CLIENT_LISTS);
    expect(parseKexinit(p, 0, p.length - 1)).toBeNull(); // reserved cut short
    expect(parseKexinit(p, 0, 30)).toBeNull();
    const other = Buffer.from(p);
    other[0] = 21;
    expect(parseKexinit(other, 0, other.length)).toBeNull();
    const longList = Buffer.from(p);
    longList.writeUInt32BE(0xffffffff, 17); // kex name-list length
    expect(parseKexinit(longList, 0, longList.length)).toBeNull();
    const binary = Buffer.from(p);
    binary[21] = 0x00; // first byte of the kex list
    expect(parseKexinit(binary, 0, binary.length)).toBeNull();
  });

  it('hassh hashes kex;enc;mac;comp of the sender side (c2s for the client, s2c for the server)', () => {
    const c = parseKexinit(kexinitPayload(CLIENT_LISTS), 0, kexinitPayload(CLIENT_LISTS).length)!;
    const s = parseKexinit(kexinitPayload(SERVER_LISTS), 0, kexinitPayload(SERVER_LISTS).length)!;
    expect(hasshAlgorithms(c, 'client')).toBe(`${CLIENT_LISTS.kex};${CLIENT_LISTS.encC2s};${CLIENT_LISTS.macC2s};${CLIENT_LISTS.compC2s}`);
    expect(hasshAlgorithms(s, 'server')).toBe(`${SERVER_LISTS.kex};${SERVER_LISTS.encS2c};${SERVER_LISTS.macS2c};${SERVER_LISTS.compS2c}`);
    expect(hassh(c, 'client')).toBe(md5(hasshAlgorithms(c, 'client')));
    expect(hassh(s, 'server')).toBe(md5(hasshAlgorithms(s, 'server')));
  });

  it('hassh matches the published Suricata value for its test capture lists', () => {
    // suricata-verify tests/ssh-hassh: the client's hassh.string mac part and the server's compression
    // part are given in test.rules; the full lists come from tshark on sv_ssh-hassh.pcap frame 14.
    const k: Kexinit = {
      kex: 'curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-info-c',
      hostKey: '',
      encC2s: 'chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com',
      encS2c: '',
      macC2s: 'umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1',
      macS2c: '',
      compC2s: 'none',
      compS2c: '',
      langC2s: '',
      langS2c: '',
      firstKexPacketFollows: false,
    };
    expect(hassh(k, 'client')).toBe('2dd6531c7e89d3c925db9214711be76a');
  });

  it('negotiate takes the first client name the server also lists, skipping empty names', () => {
    expect(negotiate('a,b,c', 'c,b')).toBe('b');
    expect(negotiate(',,b', 'b,')).toBe('b');
    expect(negotiate('a', 'b')).toBeNull();
    expect(negotiate('', '')).toBeNull();
    expect(negotiate('ext-info-c,none', 'none')).toBe('none');
  });

  it('isAeadCipher knows the OpenSSH and RFC 5647 AEAD ciphers', () => {
    expect(isAeadCipher('chacha20-poly1305@openssh.com')).toBe(true);
    expect(isAeadCipher('aes256-gcm@openssh.com')).toBe(true);
    expect(isAeadCipher('AEAD_AES_128_GCM')).toBe(true);
    expect(isAeadCipher('aes128-ctr')).toBe(false);
  });
});

// --- the stream parser on hand-built streams --------------------------------------------------

describe('ssh stream parser', () => {
  it('a full handshake gives one row with banners, HASSHes and the agreed algorithms, then done', () => {
    const sink = new RecordingSink();
    sink.at(100, 5);
    const p = createSsh(sink);
    const parts = fullHandshake();
    const b0 = parts[0][1];
    p.data(1, b0, 0, b0.length);
    sink.at(101, 7);
    for (const [dir, b] of parts.slice(1)) {
      expect(p.done).toBe(false);
      p.data(dir, b, 0, b.length);
    }
    expect(p.done).toBe(true);
    const rows = sink.table('ssh');
    expect(rows).toHaveLength(1);
    const c = parseKexinit(kexinitPayload(CLIENT_LISTS), 0, kexinitPayload(CLIENT_LISTS).length)!;
    const s = parseKexinit(kexinitPayload(SERVER_LISTS), 0, kexinitPayload(SERVER_LISTS).length)!;
    expect(rows[0]).toEqual({
      ts: { sec: 100, ns: 5 }, // the server's banner came first
      version: 2,
      client: CLIENT_BANNER,
      server: SERVER_BANNER,
      hassh: hassh(c, 'client'),
      hassh_server: hassh(s, 'server'),
      kex_alg: 'curve25519-sha256',
      host_key_alg: 'ssh-ed25519',
      cipher_alg: 'chacha20-poly1305@openssh.com',
      mac_alg: null, // AEAD cipher: no MAC in use
      compression_alg: 'none',
    });
    expect(sink.services).toEqual(['ssh']);
    expect(sink.anomalies).toEqual([]);
    p.end();
    expect(sink.table('ssh')).toHaveLength(1);
  });

  it('a non-AEAD cipher reports the agreed MAC', () => {
    const sink = new RecordingSink();
    const client = { ...CLIENT_LISTS, encC2s: 'aes128-ctr,chacha20-poly1305@openssh.com' };
    feed(sink, [
      [0, line(CLIENT_BANNER)],
      [1, line(SERVER_BANNER)],
      [0, packet(kexinitPayload(client))],
      [1, packet(kexinitPayload(SERVER_LISTS))],
    ]);
    expect(sink.table('ssh')[0]).toMatchObject({ cipher_alg: 'aes128-ctr', mac_alg: 'hmac-sha2-256-etm@openssh.com' });
  });

  it('no common algorithm gives NULL for that column', () => {
    const sink = new RecordingSink();
    feed(sink, [
      [0, line(CLIENT_BANNER)],
      [1, line(SERVER_BANNER)],
      [0, packet(kexinitPayload({ ...CLIENT_LISTS, kex: 'sntrup761x25519-sha512@openssh.com' }))],
      [1, packet(kexinitPayload(SERVER_LISTS))],
    ]);
    expect(sink.table('ssh')[0]).toMatchObject({ kex_alg: null, host_key_alg: 'ssh-ed25519' });
  });

  it('the same bytes one at a time give the same row', () => {
    const whole = new RecordingSink();
    feed(whole, fullHandshake());
    const bytewise = new RecordingSink();
    const p = createSsh(bytewise);
    for (const [dir, b] of fullHandshake()) for (let i = 0; i < b.length; i++) p.data(dir, b, i, i + 1);
    expect(bytewise.table('ssh')).toEqual(whole.table('ssh'));
    expect(p.done).toBe(true);
  });

  it('only bytes[start, end) are read', () => {
    const sink = new RecordingSink();
    const p = createSsh(sink);
    const b = Buffer.from('junkSSH-2.0-OpenSSH_9.6\r\nSSH-2.0-other\r\n');
    p.data(0, b, 4, 4 + 19); // the banner without its CR LF: the line is not complete yet
    expect(sink.services).toEqual([]);
    p.data(0, Buffer.from('\r\n'), 0, 2);
    p.end();
    expect(sink.table('ssh')[0]).toMatchObject({ client: 'SSH-2.0-OpenSSH_9.6' });
  });

  it('banner and KEXINIT in one segment, and LF-only line ends', () => {
    const sink = new RecordingSink();
    feed(sink, [
      [0, Buffer.concat([Buffer.from(CLIENT_BANNER + '\n'), packet(kexinitPayload(CLIENT_LISTS))])],
      [1, Buffer.concat([Buffer.from(SERVER_BANNER + '\n'), packet(kexinitPayload(SERVER_LISTS))])],
    ]);
    expect(sink.table('ssh')[0]).toMatchObject({ client: CLIENT_BANNER, server: SERVER_BANNER, kex_alg: 'curve25519-sha256' });
    expect(sink.anomalies).toEqual([]);
  });

  it('server lines before its banner are skipped; ts is the banner line start', () => {
    const sink = new RecordingSink();
    const p = createSsh(sink);
    sink.at(10);
    const pre = Buffer.from('Welcome to host\r\nAuthorised use only\r\n');
    p.data(1, pre, 0, pre.length);
    sink.at(11);
    const b = line(SERVER_BANNER);
    p.data(1, b, 0, b.length);
    p.end();
    expect(sink.table('ssh')).toEqual([expect.objectContaining({ ts: { sec: 11, ns: 0 }, server: SERVER_BANNER, client: null, version: 2 })]);
    expect(sink.anomalies).toEqual([]);
  });

  it('more than 16 lines before the server banner: ssh_malformed_banner, no row', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[1, 'hello\r\n'.repeat(17) + SERVER_BANNER + '\r\n']]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_banner']);
    p.end();
    expect(sink.table('ssh')).toEqual([]);
    expect(sink.services).toEqual([]);
  });

  it('more than 8 KiB before the server banner: ssh_malformed_banner', () => {
    const sink = new RecordingSink();
    feed(sink, [[1, 'x'.repeat(9000)]]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_banner']);
  });

  it('an identification line over 255 bytes is malformed', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[0, 'SSH-2.0-' + 'a'.repeat(246) + '\r\n']]); // 256 bytes with CR LF
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_banner']);
    p.end();
    expect(sink.table('ssh')).toEqual([]);
    const ok = new RecordingSink();
    feed(ok, [[0, 'SSH-2.0-' + 'a'.repeat(245) + '\r\n']]); // exactly 255
    expect(ok.anomalies).toEqual([]);
  });

  it('a client that does not start with SSH- and a silent server: no row, done', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[0, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n']]);
    expect(sink.anomalies).toEqual([{ name: 'ssh_malformed_banner', detail: 'client: client stream does not start with SSH-' }]);
    expect(p.done).toBe(false); // the server may still send a banner
    p.data(1, Buffer.from('HTTP/1.1 400 Bad Request\r\n'), 0, 26);
    p.end();
    expect(p.done).toBe(true);
    expect(sink.table('ssh')).toEqual([]);
  });

  it('a banner that is not RFC-shaped is recorded with an anomaly and no service', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[0, 'SSH-2.0\r\n']]);
    p.end();
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_banner']);
    expect(sink.services).toEqual([]);
    expect(sink.table('ssh')[0]).toMatchObject({ client: 'SSH-2.0', version: 2 });
  });

  it('SSH-1 on both sides: row with version 1 as soon as both banners are in', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[1, line('SSH-1.5-1.2.26')], [0, line('SSH-1.5-1.2.26')]]);
    expect(p.done).toBe(true);
    expect(sink.table('ssh')).toEqual([expect.objectContaining({ version: 1, hassh: null, hassh_server: null, kex_alg: null })]);
  });

  it('a 1.99 server waits for the client banner: SSH-2 client -> its KEXINIT is parsed', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [
      [1, Buffer.concat([line('SSH-1.99-OpenSSH_3.9p1'), packet(kexinitPayload(SERVER_LISTS))])],
      [0, Buffer.concat([line('SSH-2.0-OpenSSH_5.3'), packet(kexinitPayload(CLIENT_LISTS))])],
    ]);
    expect(p.done).toBe(true);
    expect(sink.table('ssh')[0]).toMatchObject({ version: 2, kex_alg: 'curve25519-sha256' });
    expect(sink.table('ssh')[0].hassh_server).not.toBeNull();
  });

  it('a 1.99 server with an SSH-1 client speaks SSH-1: no KEXINIT expected, no anomaly', () => {
    const sink = new RecordingSink();
    const ssh1PublicKey = Buffer.concat([u32(300), Buffer.alloc(4, 0x11), Buffer.from([2]), Buffer.alloc(299, 0x22)]);
    const p = feed(sink, [
      [1, Buffer.concat([line('SSH-1.99-OpenSSH_3.9p1')])],
      [0, line('SSH-1.5-Client')],
      [1, ssh1PublicKey],
    ]);
    expect(p.done).toBe(true);
    expect(sink.anomalies).toEqual([]);
    expect(sink.table('ssh')[0]).toMatchObject({ version: 1, hassh_server: null });
  });

  it('a waiting 1.99 side is parsed as SSH-2 at end() when the peer never spoke', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[1, Buffer.concat([line('SSH-1.99-OpenSSH_3.9p1'), packet(kexinitPayload(SERVER_LISTS))])]]);
    expect(sink.table('ssh')).toEqual([]);
    p.end();
    expect(sink.table('ssh')[0]).toMatchObject({ version: 2, server: 'SSH-1.99-OpenSSH_3.9p1' });
    expect(sink.table('ssh')[0].hassh_server).toMatch(/^[0-9a-f]{32}$/);
  });

  it('SSH_MSG_IGNORE before KEXINIT is skipped', () => {
    const sink = new RecordingSink();
    feed(sink, [
      [0, Buffer.concat([line(CLIENT_BANNER), packet(Buffer.from([2, 0, 0, 0, 0])), packet(kexinitPayload(CLIENT_LISTS))])],
      [1, Buffer.concat([line(SERVER_BANNER), packet(kexinitPayload(SERVER_LISTS))])],
    ]);
    expect(sink.anomalies).toEqual([]);
    expect(sink.table('ssh')[0].hassh).not.toBeNull();
  });

  it('a packet_length over 35000 before KEXINIT: ssh_malformed_kexinit and that side stops', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [
      [0, Buffer.concat([line(CLIENT_BANNER), u32(35001), Buffer.alloc(10)])],
      [1, Buffer.concat([line(SERVER_BANNER), packet(kexinitPayload(SERVER_LISTS))])],
    ]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_kexinit']);
    expect(p.done).toBe(true); // both sides finished
    expect(sink.table('ssh')[0]).toMatchObject({ hassh: null, kex_alg: null });
    expect(sink.table('ssh')[0].hassh_server).not.toBeNull();
  });

  it('a KEXINIT whose name-lists run past the packet is malformed', () => {
    const sink = new RecordingSink();
    const payload = kexinitPayload(CLIENT_LISTS).subarray(0, 60);
    feed(sink, [[0, Buffer.concat([line(CLIENT_BANNER), packet(payload)])]]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_kexinit']);
  });

  it('padding_length larger than the packet is malformed', () => {
    const sink = new RecordingSink();
    feed(sink, [[0, Buffer.concat([line(CLIENT_BANNER), u32(8), Buffer.from([200]), Buffer.alloc(7)])]]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_kexinit']);
  });

  it('another message where KEXINIT was expected is malformed; DISCONNECT is not', () => {
    const bad = new RecordingSink();
    feed(bad, [[0, Buffer.concat([line(CLIENT_BANNER), packet(Buffer.from([30, 1, 2, 3]))])]]);
    expect(bad.anomalies.map((a) => a.name)).toEqual(['ssh_malformed_kexinit']);
    const bye = new RecordingSink();
    feed(bye, [[1, Buffer.concat([line(SERVER_BANNER), packet(Buffer.from([1, 0, 0, 0, 2]))])]]);
    expect(bye.anomalies).toEqual([]);
  });

  it('a gap before the KEXINIT stops that side; the row comes at end() with what was seen', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [
      [0, line(CLIENT_BANNER)],
      [1, Buffer.concat([line(SERVER_BANNER), packet(kexinitPayload(SERVER_LISTS))])],
    ]);
    p.gap(0, 100);
    const k = packet(kexinitPayload(CLIENT_LISTS));
    p.data(0, k, 0, k.length); // after the gap: ignored
    expect(p.done).toBe(true); // both sides finished
    p.end();
    expect(sink.table('ssh')).toEqual([expect.objectContaining({ client: CLIENT_BANNER, hassh: null, cipher_alg: null })]);
    expect(sink.table('ssh')[0].hassh_server).not.toBeNull();
    expect(sink.anomalies).toEqual([]);
  });

  it('a gap before any banner: no anomaly, no row', () => {
    const sink = new RecordingSink();
    const p = createSsh(sink);
    p.gap(0, 1000);
    p.gap(1, 1000);
    expect(p.done).toBe(true);
    expect(sink.table('ssh')).toEqual([]);
    expect(sink.anomalies).toEqual([]);
  });

  it('end() with one banner only still writes the row', () => {
    const sink = new RecordingSink();
    const p = feed(sink, [[0, line(CLIENT_BANNER)]]);
    p.end();
    expect(p.done).toBe(true);
    expect(sink.table('ssh')).toEqual([expect.objectContaining({ client: CLIENT_BANNER, server: null, version: 2 })]);
  });
});

// --- real captures ------------------------------------------------------------------------------

interface Seg {
  dir: Dir;
  bytes: Buffer;
  sec: number;
  ns: number;
}

/** TCP payloads of each connection in packet order, per direction, exact duplicates dropped. */
async function tcpConnections(path: string): Promise<Seg[][]> {
  return (await readTcpConnections(path)).map((c) => c.segments.map(({ dir, bytes, sec, ns }) => ({ dir, bytes, sec, ns })));
}

function run(segs: Seg[]): RecordingSink {
  const sink = new RecordingSink();
  const p = createSsh(sink);
  for (const s of segs) {
    if (p.done) break;
    sink.at(s.sec, s.ns);
    p.data(s.dir, s.bytes, 0, s.bytes.length);
  }
  p.end();
  return sink;
}

async function rowsOf(rel: string): Promise<{ rows: Record<string, unknown>[]; sinks: RecordingSink[] }> {
  const sinks = (await tcpConnections(PCAPS + rel)).map(run);
  return { rows: sinks.flatMap((s) => s.table('ssh')), sinks };
}

describe('ssh on real captures', () => {
  it('zeek ssh_kex_curve25519: matches Zeek ssh.log except mac_alg (NULL with chacha20-poly1305)', async () => {
    const { rows, sinks } = await rowsOf('protocols/ssh/zeek_ssh_ssh_kex_curve25519.pcap');
    // client, server, version, cipher/compression/kex/host key algorithms: Zeek's baseline ssh.log
    // next to the capture. HASSHes: tshark ssh.kex.hassh / ssh.kex.hasshserver.
    expect(rows).toEqual([
      {
        ts: expect.anything(),
        version: 2,
        client: 'SSH-2.0-OpenSSH_7.4',
        server: 'SSH-2.0-OpenSSH_7.5',
        hassh: '0df0d56bb50c6b2426d8d40234bf1826',
        hassh_server: 'a95c22bf8e9b19ed0a5dc74bb2f9c613',
        kex_alg: 'curve25519-sha256',
        host_key_alg: 'ssh-ed25519-cert-v01@openssh.com',
        cipher_alg: 'chacha20-poly1305@openssh.com',
        mac_alg: null, // Zeek: hmac-sha2-512-etm@openssh.com (the MAC lists agree on it, but an AEAD cipher uses none)
        compression_alg: 'none',
      },
    ]);
    expect(sinks[0].services).toEqual(['ssh']);
    expect(sinks[0].anomalies).toEqual([]);
  });

  it('suricata ssh-hassh: the HASSH values its test.yaml checks', async () => {
    const { rows } = await rowsOf('protocols/ssh/sv_ssh-hassh.pcap');
    // ssh.client.hassh.hash / ssh.server.hassh.hash in sv_ssh-hassh.pcap.suricata.test.yaml (tshark agrees);
    // agreed algorithms computed from tshark's name-lists.
    expect(rows).toEqual([
      expect.objectContaining({
        client: 'SSH-2.0-OpenSSH_for_Windows_7.7',
        server: 'SSH-2.0-OpenSSH_7.4',
        hassh: '2dd6531c7e89d3c925db9214711be76a',
        hassh_server: '6832f1ce43d4397c2c0a3e2f8c94334e',
        kex_alg: 'curve25519-sha256',
        host_key_alg: 'ecdsa-sha2-nistp256',
        cipher_alg: 'chacha20-poly1305@openssh.com',
        mac_alg: null,
        compression_alg: 'none',
      }),
    ]);
  });

  it('suricata ssh-banner-only: banners, no KEXINIT', async () => {
    const { rows } = await rowsOf('protocols/ssh/sv_ssh-banner-only.pcap');
    // software versions from the test.yaml (OpenSSH_for_Windows_7.7 / OpenSSH_7.4, proto 2.0)
    expect(rows).toEqual([
      expect.objectContaining({ version: 2, client: 'SSH-2.0-OpenSSH_for_Windows_7.7', server: 'SSH-2.0-OpenSSH_7.4', hassh: null, hassh_server: null }),
    ]);
  });

  it('zeek single-conn: 1.99 server with an SSH-2 client', async () => {
    const { rows, sinks } = await rowsOf('protocols/ssh/zeek_ssh_single-conn.pcap');
    // tshark: banners frames 4 and 6, hassh c4fd9343..., hasshserver f430cd67...
    expect(rows).toEqual([
      expect.objectContaining({
        version: 2,
        client: 'SSH-2.0-OpenSSH_3.8.1p1',
        server: 'SSH-1.99-OpenSSH_3.9p1',
        hassh: 'c4fd9343cba76d12f0dd523fbe7c4da1',
        hassh_server: 'f430cd6761697a6a658ee1d45ed22e49',
        kex_alg: 'diffie-hellman-group-exchange-sha1',
        host_key_alg: 'ssh-rsa',
        cipher_alg: 'aes128-cbc',
        mac_alg: 'hmac-md5',
        compression_alg: 'none',
      }),
    ]);
    expect(sinks[0].anomalies).toEqual([]);
  });

  it('ja4 ssh2-malformed: the handshake part is fine (the bad packet comes after KEXINIT)', async () => {
    const { rows, sinks } = await rowsOf('protocols/ssh/ja4_ssh2-malformed.pcap');
    // ja4.json next to the capture: hassh, hassh_server and both banners. Its encryption_algorithm
    // "aes128-cbc" is the server's preference; RFC 4253 7.1 picks the client's first choice the
    // server offers, aes128-ctr (client list aes128-ctr,...; server list aes128-cbc,...,aes128-ctr).
    expect(rows).toEqual([
      expect.objectContaining({
        version: 2,
        client: 'SSH-2.0-OpenSSH_5.3',
        server: 'SSH-1.99-OpenSSH_3.9p1',
        hassh: '21b457a327ce7a2d4fce5ef2c42400bd',
        hassh_server: 'f430cd6761697a6a658ee1d45ed22e49',
        kex_alg: 'diffie-hellman-group-exchange-sha1',
        cipher_alg: 'aes128-ctr',
        mac_alg: 'hmac-md5',
      }),
    ]);
    expect(sinks[0].anomalies).toEqual([]);
  });

  it('ja4 sshv1: SSH-1.5 on both sides, over IPv6', async () => {
    const { rows } = await rowsOf('protocols/ssh/ja4_sshv1.pcap');
    // ja4.json: both banners SSH-1.5-1.2.26, empty hassh
    expect(rows).toEqual([expect.objectContaining({ version: 1, client: 'SSH-1.5-1.2.26', server: 'SSH-1.5-1.2.26', hassh: null, hassh_server: null })]);
  });

  it('ndpi ssh: two connections, one on port 8000', async () => {
    const { rows } = await rowsOf('protocols/ssh/ndpi_ssh.pcap');
    // HASSH-C / HASSH-S from ndpi_ssh.pcap.ndpi.out (tshark with -d tcp.port==8000,ssh agrees). On the
    // first connection nDPI names the banner of the first payload packet (frame 4, sent by port 22)
    // the client's; tshark shows the originator 172.16.238.1 sent SSH-2.0-OpenSSH_5.6 (frame 6).
    expect(rows.map((r) => [r.client, r.server, r.hassh, r.hassh_server, r.kex_alg, r.cipher_alg, r.mac_alg])).toEqual([
      ['SSH-2.0-OpenSSH_5.6', 'SSH-2.0-OpenSSH_5.3', '21b457a327ce7a2d4fce5ef2c42400bd', 'b1c6c0d56317555b85c7005a3de29325', 'diffie-hellman-group-exchange-sha256', 'aes128-ctr', 'hmac-md5'],
      ['SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11', 'SSH-2.0-APACHE-SSHD-2.5.0', 'c11b200866cf918393e62ea25d851d90', 'ca6dd86b2d9a44e4a3f1a55c53e6b0fa', 'ecdh-sha2-nistp256', 'aes128-ctr', 'hmac-sha2-256-etm@openssh.com'],
    ]);
  });

  it('tcpdump ssh: banner with comments kept whole', async () => {
    const { rows } = await rowsOf('protocols/ssh/td_ssh.pcap');
    // tshark: ssh.protocol of frames 4 and 6; hassh ec7378c1... (also the Salesforce README's OpenSSH 7.x example value)
    expect(rows).toEqual([
      expect.objectContaining({
        client: 'SSH-2.0-OpenSSH_7.8',
        server: 'SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u3',
        hassh: 'ec7378c1a92f5a8dde7e8b7a1ddf33d1',
        hassh_server: 'c099ec12a2b4c3b347f8f17d966469ed',
        kex_alg: 'curve25519-sha256@libssh.org',
        host_key_alg: 'rsa-sha2-512',
        cipher_alg: 'chacha20-poly1305@openssh.com',
        mac_alg: null,
      }),
    ]);
  });

  it('zeek ssh-on-port-80: the parser does not care about the port', async () => {
    const { rows } = await rowsOf('protocols/ssh/zeek_ssh_ssh-on-port-80.pcap');
    // tshark -d tcp.port==80,ssh
    expect(rows).toEqual([
      expect.objectContaining({
        client: 'SSH-2.0-OpenSSH_5.2',
        server: 'SSH-2.0-OpenSSH_5.8p1 Debian-1ubuntu3',
        hassh: '21b457a327ce7a2d4fce5ef2c42400bd',
        hassh_server: '60205d0b53ffd441ead5c43b5a6f1bc7',
      }),
    ]);
  });

  it('zeek ssh1-ssh2-fingerprints: an SSH-2 and an SSH-1 connection', async () => {
    const { rows } = await rowsOf('protocols/ssh/zeek_ssh_ssh1-ssh2-fingerprints.pcap');
    // tshark (port 2222 decoded as ssh): SSH-2 on 22 with hassh ae8bd7dd... / 3ccd1778...; SSH-1.5 on 2222
    expect(rows.map((r) => [r.version, r.client, r.server, r.hassh, r.hassh_server])).toEqual([
      [2, 'SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.1', 'SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.1', 'ae8bd7dd09970555aa4c6ed22adbbf56', '3ccd1778a76049721c71ad7d2bf62bbc'],
      [1, 'SSH-1.5-OpenSSH_6.6', 'SSH-1.5-OpenSSH_6.6', null, null],
    ]);
  });

  it('zeek sshguess (brute force): 11 connections, same client and server fingerprints', async () => {
    const { rows, sinks } = await rowsOf('attacks/bruteforce/zeek_ssh-sshguess.pcap');
    // tshark: 11 tcp streams, every one hassh 1f120ecf... and hasshserver 3711ee81...
    expect(rows).toHaveLength(11);
    for (const r of rows) {
      expect(r).toMatchObject({
        version: 2,
        client: 'SSH-2.0-OpenSSH_6.2',
        server: 'SSH-2.0-OpenSSH_6.7p1 Debian-3',
        hassh: '1f120ecfc2c57fbdeaf66b93a3bf26ee',
        hassh_server: '3711ee816d3ea9975d96c39c31c54299',
        kex_alg: 'diffie-hellman-group-exchange-sha256',
        host_key_alg: 'ssh-rsa',
        cipher_alg: 'aes128-ctr',
        mac_alg: 'hmac-sha1-etm@openssh.com',
        compression_alg: 'none',
      });
    }
    expect(sinks.flatMap((s) => s.anomalies)).toEqual([]);
  });

  it('ts is the first banner packet time (tshark frame 4 of zeek single-conn)', async () => {
    const { rows } = await rowsOf('protocols/ssh/zeek_ssh_single-conn.pcap');
    expect(rows[0].ts).toEqual(TS_SINGLE_CONN);
  });
});

// tshark -r zeek_ssh_single-conn.pcap -Y frame.number==4 -T fields -e frame.time_epoch
const TS_SINGLE_CONN = { sec: 1150485513, ns: 396088000 };
