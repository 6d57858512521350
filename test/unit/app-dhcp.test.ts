/**
 * DHCP: the message parser on hand-built messages (every header field and option handled, bad
 * lengths, truncation, overload, BOOTP), the transaction table (joining across connections,
 * completion, idle expiry, the open limit, flush) and the per-connection parser, then real
 * captures checked against tshark 4.0 and Zeek's dhcp.log baselines.
 */
import { describe, expect, it } from 'vitest';
import type { AnomalyName } from '../../common/anomalies.js';
import { DHCP } from '../../common/fields.js';
import { formatIPv4 } from '../../engine/decode/addr.js';
import { createDhcp, DhcpTransactions, parseDhcp, type DhcpMessage } from '../../engine/app/dhcp.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { forEachDecoded } from '../helpers/capture.js';
import { ip4, mac, PCAPS } from '../fixtures/build.js';

// ---------------------------------------------------------------------------------------------
// Building messages

type Opt = [code: number, value: Buffer | number[] | string];

interface MsgSpec {
  op?: number;
  htype?: number;
  hlen?: number;
  hops?: number;
  xid?: number;
  secs?: number;
  flags?: number;
  ciaddr?: string;
  yiaddr?: string;
  siaddr?: string;
  giaddr?: string;
  chaddr?: string;
  sname?: Buffer | string;
  file?: Buffer | string;
  /** false: no magic cookie (plain BOOTP). */
  cookie?: boolean;
  /** Options in order; the End option is added unless `end` is false. */
  opts?: Opt[];
  end?: boolean;
  /** Raw bytes appended after the options. */
  tail?: Buffer;
}

const MAC1 = '00:11:22:33:44:55';
const MAC2 = '66:77:88:99:aa:bb';

function optBytes([code, v]: Opt): Buffer {
  const val = typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v);
  return Buffer.concat([Buffer.from([code, val.length]), val]);
}

/** A BOOTP/DHCP message as RFC 2131 figure 1 lays it out. */
function build(s: MsgSpec = {}): Buffer {
  const h = Buffer.alloc(236);
  h[0] = s.op ?? 1;
  h[1] = s.htype ?? 1;
  h[2] = s.hlen ?? 6;
  h[3] = s.hops ?? 0;
  h.writeUInt32BE(s.xid ?? 0x12345678, 4);
  h.writeUInt16BE(s.secs ?? 0, 8);
  h.writeUInt16BE(s.flags ?? 0, 10);
  ip4(s.ciaddr ?? '0.0.0.0').copy(h, 12);
  ip4(s.yiaddr ?? '0.0.0.0').copy(h, 16);
  ip4(s.siaddr ?? '0.0.0.0').copy(h, 20);
  ip4(s.giaddr ?? '0.0.0.0').copy(h, 24);
  mac(s.chaddr ?? MAC1).copy(h, 28);
  Buffer.from(s.sname ?? '').copy(h, 44, 0, 64);
  Buffer.from(s.file ?? '').copy(h, 108, 0, 128);
  const parts: Buffer[] = [h];
  if (s.cookie !== false) parts.push(Buffer.from([99, 130, 83, 99]));
  for (const o of s.opts ?? []) parts.push(optBytes(o));
  if (s.end !== false && s.cookie !== false) parts.push(Buffer.from([255]));
  if (s.tail) parts.push(s.tail);
  return Buffer.concat(parts);
}

const T = { DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8 } as const;

/** A message of a type with extra options. */
function dhcp(type: number, s: MsgSpec = {}): Buffer {
  return build({ op: type === T.OFFER || type === T.ACK || type === T.NAK ? 2 : 1, ...s, opts: [[53, [type]], ...(s.opts ?? [])] });
}

function parse(b: Buffer): { m: DhcpMessage | null; anomalies: { name: AnomalyName; detail: string }[] } {
  const anomalies: { name: AnomalyName; detail: string }[] = [];
  const m = parseDhcp(b, 0, b.length, (name, detail) => anomalies.push({ name, detail }));
  return { m, anomalies };
}

function parseOk(b: Buffer): DhcpMessage {
  const { m, anomalies } = parse(b);
  expect(anomalies).toEqual([]);
  expect(m).not.toBeNull();
  return m!;
}

// ---------------------------------------------------------------------------------------------
// parseDhcp

describe('parseDhcp: fixed header', () => {
  it('reads every field of the BOOTP header', () => {
    const m = parseOk(build({
      op: 2, htype: 1, hlen: 6, hops: 3, xid: 0xdeadbeef, secs: 513, flags: 0x8000,
      ciaddr: '10.0.0.1', yiaddr: '10.0.0.2', siaddr: '10.0.0.3', giaddr: '10.0.0.4',
      chaddr: 'de:ad:be:ef:00:01', sname: 'tftp.example', file: 'pxelinux.0', end: true,
    }));
    expect(m).toMatchObject({
      op: 2, htype: 1, hlen: 6, hops: 3, xid: 0xdeadbeef, secs: 513, flags: 0x8000,
      ciaddr: '10.0.0.1', yiaddr: '10.0.0.2', siaddr: '10.0.0.3', giaddr: '10.0.0.4',
      mac: 'de:ad:be:ef:00:01', chaddr: 'de:ad:be:ef:00:01', sname: 'tftp.example', file: 'pxelinux.0',
      magic: true, msgType: null, complete: true,
    });
  });

  it('parses a message that starts inside a larger buffer', () => {
    const inner = dhcp(T.DISCOVER, { xid: 7 });
    const outer = Buffer.concat([Buffer.from([1, 2, 3]), inner, Buffer.from([9, 9])]);
    const m = parseDhcp(outer, 3, 3 + inner.length, () => {
      throw new Error('no anomaly expected');
    });
    expect(m?.xid).toBe(7);
    expect(m?.msgType).toBe(T.DISCOVER);
  });

  it('rejects a message shorter than the 236-byte header', () => {
    const { m, anomalies } = parse(build().subarray(0, 235));
    expect(m).toBeNull();
    expect(anomalies).toEqual([{ name: 'dhcp_malformed', detail: 'message of 235 bytes is shorter than the 236-byte BOOTP header' }]);
  });

  it('rejects an op that is neither BOOTREQUEST nor BOOTREPLY', () => {
    const { m, anomalies } = parse(build({ op: 3 }));
    expect(m).toBeNull();
    expect(anomalies.map((a) => a.name)).toEqual(['dhcp_malformed']);
  });

  it('gives no mac for a hardware address that is not 6 bytes, and reports hlen over 16', () => {
    const m = parseOk(build({ htype: 32, hlen: 4 }));
    expect(m.mac).toBeNull();
    expect(m.chaddr).toBe('00:11:22:33');
    const { m: big, anomalies } = parse(build({ hlen: 20 }));
    expect(big?.chaddr.split(':')).toHaveLength(16);
    expect(anomalies.map((a) => a.detail)).toEqual(['hardware address length 20 exceeds chaddr']);
  });

  it('reads plain BOOTP without a magic cookie as a message without a DHCP type', () => {
    const m = parseOk(build({ cookie: false, tail: Buffer.alloc(64) }));
    expect(m.magic).toBe(false);
    expect(m.msgType).toBeNull();
    expect(parseOk(build({ cookie: false })).magic).toBe(false);
  });
});

describe('parseDhcp: options', () => {
  it('reads the options the dhcp table and analysts use', () => {
    const m = parseOk(build({
      opts: [
        [53, [T.REQUEST]],
        [50, ip4('192.168.1.10')],
        [51, [0, 0, 0x0e, 0x10]],
        [54, ip4('192.168.1.1')],
        [12, 'laptop'],
        [15, 'corp.example'],
        [60, 'MSFT 5.0'],
        [61, [1, 0, 0x11, 0x22, 0x33, 0x44, 0x55]],
        [55, [1, 3, 6, 15, 119, 252]],
        [56, 'address in use'],
      ],
    }));
    expect(m).toMatchObject({
      msgType: T.REQUEST, requestedAddr: '192.168.1.10', leaseTime: 3600, serverId: '192.168.1.1',
      hostName: 'laptop', domain: 'corp.example', vendorClass: 'MSFT 5.0',
      clientId: '01:00:11:22:33:44:55', paramList: [1, 3, 6, 15, 119, 252], message: 'address in use',
    });
  });

  it('skips pad options and stops at the end option', () => {
    const m = parseOk(build({ opts: [[53, [T.DISCOVER]]], tail: Buffer.from([12, 3, 0x61, 0x62, 0x63]) }));
    expect(m.hostName).toBeNull();
    const padded = Buffer.concat([build({ end: false }), Buffer.from([0, 0, 0, 12, 2, 0x68, 0x69, 0, 255])]);
    expect(parseOk(padded).hostName).toBe('hi');
  });

  it('accepts options that end without the end option', () => {
    expect(parseOk(build({ opts: [[53, [T.INFORM]]], end: false })).msgType).toBe(T.INFORM);
  });

  it('reads a lease time above 2^31 as unsigned (0xffffffff is "infinite")', () => {
    expect(parseOk(build({ opts: [[51, [0xff, 0xff, 0xff, 0xff]]] })).leaseTime).toBe(4294967295);
  });

  it('reports an option that runs past the message and keeps the options before it', () => {
    const b = Buffer.concat([build({ opts: [[53, [T.DISCOVER]], [12, 'pc1']], end: false }), Buffer.from([15, 10, 0x61])]);
    const { m, anomalies } = parse(b);
    expect(m?.msgType).toBe(T.DISCOVER);
    expect(m?.hostName).toBe('pc1');
    expect(m?.domain).toBeNull();
    expect(m?.complete).toBe(false);
    expect(anomalies).toEqual([{ name: 'dhcp_malformed', detail: 'option 15 at offset 8 runs past the message' }]);
    // A code byte without its length byte.
    const { m: m2, anomalies: a2 } = parse(Buffer.concat([build({ opts: [[53, [T.DISCOVER]]], end: false }), Buffer.from([12])]));
    expect(m2?.complete).toBe(false);
    expect(a2.map((a) => a.name)).toEqual(['dhcp_malformed']);
  });

  it('reports and ignores fixed-size options of the wrong length', () => {
    const { m, anomalies } = parse(build({ opts: [[53, [1, 2]], [50, [10, 0, 0]], [51, [1]], [54, [1, 2, 3, 4, 5]], [61, [1]], [81, [0, 0]]] }));
    expect(m).toMatchObject({ msgType: null, requestedAddr: null, leaseTime: null, serverId: null, clientId: null, fqdn: null, complete: true });
    expect(anomalies.map((a) => a.detail)).toEqual([
      'option 53 length 2, expected 1',
      'option 50 length 3, expected 4',
      'option 51 length 1, expected 4',
      'option 54 length 5, expected 4',
      'option 61 length 1, expected at least 2',
      'option 81 length 2, expected at least 3',
    ]);
  });

  it('shows text as tshark does: trailing NULs dropped, controls escaped', () => {
    const m = parseOk(build({ opts: [[12, Buffer.from('nas1\0')], [60, Buffer.from('a\tb\x01c')], [15, Buffer.from('caf\xc3\xa9', 'latin1')]] }));
    expect(m.hostName).toBe('nas1');
    expect(m.vendorClass).toBe('a\\tb\\001c');
    expect(m.domain).toBe('café');
  });

  it('concatenates a text option split into several instances (RFC 3396)', () => {
    expect(parseOk(build({ opts: [[12, 'long-'], [12, 'name']] })).hostName).toBe('long-name');
  });

  it('reads the client FQDN in ASCII', () => {
    const m = parseOk(build({ opts: [[81, Buffer.concat([Buffer.from([0x01, 0, 0]), Buffer.from('host.example.com')])]] }));
    expect(m.fqdn).toEqual({ flags: 1, rcode1: 0, rcode2: 0, name: 'host.example.com' });
  });

  it('reads the client FQDN in DNS wire format, complete or partial', () => {
    const wire = Buffer.from([0x05, 255, 255, 4, ...Buffer.from('host'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0]);
    expect(parseOk(build({ opts: [[81, wire]] })).fqdn).toEqual({ flags: 5, rcode1: 255, rcode2: 255, name: 'host.example.com' });
    const partial = Buffer.from([0x04, 0, 0, 4, ...Buffer.from('host')]);
    expect(parseOk(build({ opts: [[81, partial]] })).fqdn?.name).toBe('host');
  });

  it('reports a compression pointer or a label past the option in a wire-format FQDN', () => {
    const ptr = Buffer.from([0x04, 0, 0, 1, 0x61, 0xc0, 0x0c]);
    const r1 = parse(build({ opts: [[81, ptr]] }));
    expect(r1.m?.fqdn?.name).toBe('a');
    expect(r1.anomalies.map((a) => a.detail)).toEqual(['client FQDN label type 0xc0 (compression is not allowed)']);
    const long = Buffer.from([0x04, 0, 0, 1, 0x61, 9, 0x62]);
    const r2 = parse(build({ opts: [[81, long]] }));
    expect(r2.m?.fqdn?.name).toBe('a');
    expect(r2.anomalies.map((a) => a.detail)).toEqual(['client FQDN label runs past the option']);
  });

  it('follows option overload into the file and sname fields', () => {
    const file = Buffer.alloc(128);
    optBytes([12, 'in-file']).copy(file, 0);
    file[9] = 255;
    const sname = Buffer.alloc(64);
    optBytes([15, 'in.sname']).copy(sname, 0);
    const m = parseOk(build({ opts: [[53, [T.OFFER]], [52, [3]]], file, sname }));
    expect(m).toMatchObject({ overload: 3, hostName: 'in-file', domain: 'in.sname', sname: '', file: '' });
    const onlyFile = parseOk(build({ opts: [[52, [1]]], file, sname: 'srv' }));
    expect(onlyFile).toMatchObject({ overload: 1, hostName: 'in-file', domain: null, sname: 'srv', file: '' });
  });

  it('reports a bad overload value and an option running past an overloaded field', () => {
    expect(parse(build({ opts: [[52, [4]]] })).anomalies.map((a) => a.detail)).toEqual(['option overload length 1 value 4']);
    const sname = Buffer.alloc(64);
    sname[62] = 12;
    sname[63] = 5;
    const { m, anomalies } = parse(build({ opts: [[52, [2]]], sname }));
    expect(m?.complete).toBe(false);
    expect(anomalies.map((a) => a.detail)).toEqual(['option 12 at offset 62 runs past the sname field']);
  });
});

// ---------------------------------------------------------------------------------------------
// DhcpTransactions

/** Feeds `b` as the message seen now on `sink` (time sec + ns, frame no). */
function feed(tx: DhcpTransactions, sink: RecordingSink, b: Buffer, sec: number, no: number, ns = 0): void {
  sink.at(sec, ns, no);
  tx.message(sink, parseOk(b));
}

const OWN_COLUMNS = DHCP.fields.map((f) => f.name).filter((n) => !['uid', 'flow_id', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'evidence_id'].includes(n));

describe('DhcpTransactions', () => {
  it('joins DISCOVER, OFFER, REQUEST, ACK from four connections into one row on the first', () => {
    const tx = new DhcpTransactions();
    const [c1, s1, c2, s2] = [new RecordingSink('udp'), new RecordingSink('udp'), new RecordingSink('udp'), new RecordingSink('udp')];
    const srv: Opt = [54, ip4('10.0.0.1')];
    feed(tx, c1, dhcp(T.DISCOVER, { opts: [[12, 'pc'], [60, 'MSFT 5.0'], [50, ip4('10.0.0.9')]] }), 100, 1, 250_000_000);
    feed(tx, s1, dhcp(T.OFFER, { yiaddr: '10.0.0.50', opts: [srv, [51, [0, 0, 1, 0]], [15, 'offer.example'], [60, 'server-vendor']] }), 100, 2, 500_000_000);
    feed(tx, c2, dhcp(T.REQUEST, { opts: [[50, ip4('10.0.0.50')], srv, [81, Buffer.from([0, 0, 0, ...Buffer.from('pc.example')])]] }), 101, 3);
    expect(tx.size).toBe(1);
    expect(c1.table('dhcp')).toEqual([]);
    feed(tx, s2, dhcp(T.ACK, { yiaddr: '10.0.0.50', ciaddr: '0.0.0.0', opts: [srv, [51, [0, 0, 0x0e, 0x10]], [15, 'corp.example']] }), 101, 4, 750_000_000);
    expect(tx.size).toBe(0);
    for (const s of [s1, c2, s2]) expect(s.table('dhcp')).toEqual([]);
    const rows = c1.table('dhcp');
    expect(rows).toEqual([{
      ts: { sec: 100, ns: 250_000_000 }, trans_id: 0x12345678, mac: MAC1, client_addr: null, server_addr: '10.0.0.1',
      requested_addr: '10.0.0.50', assigned_addr: '10.0.0.50', lease_time: 3600, host_name: 'pc', client_fqdn: 'pc.example',
      domain: 'corp.example', vendor_class: 'MSFT 5.0', msg_types: 'DISCOVER,OFFER,REQUEST,ACK', duration: 1.5, first_packet: 1,
    }]);
    expect(Object.keys(rows[0]).sort()).toEqual([...OWN_COLUMNS].sort());
  });

  it('ends a transaction at a NAK; a REQUEST after it starts a new one', () => {
    const tx = new DhcpTransactions();
    const c = new RecordingSink('udp');
    const s = new RecordingSink('udp');
    feed(tx, c, dhcp(T.REQUEST, { opts: [[50, ip4('10.0.0.7')]] }), 10, 1);
    feed(tx, s, dhcp(T.NAK, { opts: [[54, ip4('10.0.0.1')], [56, 'wrong network']] }), 10, 2);
    feed(tx, c, dhcp(T.REQUEST, { opts: [[50, ip4('10.0.0.8')]] }), 11, 3);
    expect(c.table('dhcp').map((r) => [r.msg_types, r.requested_addr, r.server_addr])).toEqual([['REQUEST,NAK', '10.0.0.7', '10.0.0.1']]);
    tx.flush();
    expect(c.table('dhcp').map((r) => [r.msg_types, r.requested_addr, r.first_packet])).toEqual([['REQUEST,NAK', '10.0.0.7', 1], ['REQUEST', '10.0.0.8', 3]]);
  });

  it('keeps clients that reuse an xid apart by MAC', () => {
    const tx = new DhcpTransactions();
    const c = new RecordingSink('udp');
    feed(tx, c, dhcp(T.DISCOVER, { chaddr: MAC1 }), 1, 1);
    feed(tx, c, dhcp(T.DISCOVER, { chaddr: MAC2 }), 1, 2);
    expect(tx.size).toBe(2);
    tx.flush();
    expect(c.table('dhcp').map((r) => r.mac)).toEqual([MAC1, MAC2]);
  });

  it('takes the lease and domain from servers, the vendor class from clients, the host name from the client first', () => {
    const tx = new DhcpTransactions();
    const c = new RecordingSink('udp');
    // The client asks for a lease time and names a domain; the server names its own vendor class.
    feed(tx, c, dhcp(T.REQUEST, { opts: [[51, [0, 0x76, 0xa7, 0]], [15, 'client.example'], [12, 'client-name']] }), 1, 1);
    feed(tx, c, dhcp(T.ACK, { opts: [[60, 'ArubaAP'], [12, 'server-name']] }), 1, 2);
    expect(c.table('dhcp')[0]).toMatchObject({ lease_time: null, domain: null, vendor_class: null, host_name: 'client-name' });
    // Without a client host name, the one the server assigns is kept.
    feed(tx, c, dhcp(T.REQUEST, { xid: 2 }), 2, 3);
    feed(tx, c, dhcp(T.ACK, { xid: 2, opts: [[12, 'assigned'], [81, Buffer.from([3, 255, 255, ...Buffer.from('assigned.example')])]] }), 2, 4);
    expect(c.table('dhcp')[1]).toMatchObject({ host_name: 'assigned', client_fqdn: 'assigned.example' });
  });

  it('takes the assigned address of the ACK over the OFFER and ciaddr as the client address', () => {
    const tx = new DhcpTransactions();
    const c = new RecordingSink('udp');
    feed(tx, c, dhcp(T.OFFER, { yiaddr: '10.0.0.5' }), 1, 1);
    feed(tx, c, dhcp(T.OFFER, { yiaddr: '10.0.0.6' }), 1, 2);
    feed(tx, c, dhcp(T.REQUEST, { ciaddr: '10.0.0.6' }), 1, 3);
    feed(tx, c, dhcp(T.ACK, { yiaddr: '10.0.0.6', ciaddr: '0.0.0.0' }), 1, 4);
    expect(c.table('dhcp')[0]).toMatchObject({ assigned_addr: '10.0.0.6', client_addr: '10.0.0.6', msg_types: 'OFFER,OFFER,REQUEST,ACK' });
    // An INFORM's ACK has no yiaddr: no assigned address.
    feed(tx, c, dhcp(T.INFORM, { xid: 9, ciaddr: '10.0.0.6' }), 2, 5);
    feed(tx, c, dhcp(T.ACK, { xid: 9, ciaddr: '10.0.0.6' }), 2, 6);
    expect(c.table('dhcp')[1]).toMatchObject({ assigned_addr: null, client_addr: '10.0.0.6', msg_types: 'INFORM,ACK' });
  });

  it('writes a transaction idle for idleSec of capture time when the next message comes', () => {
    const tx = new DhcpTransactions({ idleSec: 60 });
    const a = new RecordingSink('udp');
    const b = new RecordingSink('udp');
    feed(tx, a, dhcp(T.DISCOVER, { xid: 1 }), 1000, 1);
    feed(tx, b, dhcp(T.DISCOVER, { xid: 2 }), 1060, 2);
    expect(a.table('dhcp')).toEqual([]); // exactly 60 s is not idle yet
    feed(tx, b, dhcp(T.DISCOVER, { xid: 2 }), 1060, 3, 1);
    expect(a.table('dhcp').map((r) => [r.trans_id, r.msg_types, r.duration])).toEqual([[1, 'DISCOVER', 0]]);
    expect(tx.size).toBe(1);
    // The same xid after the idle time is a new transaction.
    feed(tx, b, dhcp(T.DISCOVER, { xid: 2 }), 1200, 4);
    expect(b.table('dhcp').map((r) => [r.msg_types, r.first_packet, r.duration])).toEqual([['DISCOVER,DISCOVER', 2, 1e-9]]);
    tx.flush();
    expect(b.table('dhcp').map((r) => r.first_packet)).toEqual([2, 4]);
  });

  it('writes the least recently active transaction when more than maxOpen are open', () => {
    const tx = new DhcpTransactions({ maxOpen: 2 });
    const s = new RecordingSink('udp');
    feed(tx, s, dhcp(T.DISCOVER, { xid: 1 }), 1, 1);
    feed(tx, s, dhcp(T.DISCOVER, { xid: 2 }), 2, 2);
    feed(tx, s, dhcp(T.DISCOVER, { xid: 1 }), 3, 3);
    feed(tx, s, dhcp(T.DISCOVER, { xid: 3 }), 4, 4);
    expect(s.table('dhcp').map((r) => r.trans_id)).toEqual([2]);
    expect(tx.size).toBe(2);
    tx.flush();
    expect(s.table('dhcp').map((r) => [r.trans_id, r.msg_types])).toEqual([[2, 'DISCOVER'], [1, 'DISCOVER,DISCOVER'], [3, 'DISCOVER']]);
    expect(tx.size).toBe(0);
  });

  it('writes a row once a transaction holds 50 message types (Zeek\'s limit)', () => {
    const tx = new DhcpTransactions();
    const s = new RecordingSink('udp');
    for (let i = 0; i < 51; i++) feed(tx, s, dhcp(T.DISCOVER), 1, i + 1);
    expect(s.table('dhcp').map((r) => (r.msg_types as string).split(',').length)).toEqual([50]);
    tx.flush();
    expect(s.table('dhcp').map((r) => r.first_packet)).toEqual([1, 51]);
  });

  it('ends a BOOTP exchange at its BOOTREPLY', () => {
    const tx = new DhcpTransactions();
    const s = new RecordingSink('udp');
    feed(tx, s, build({ op: 1, cookie: false }), 1, 1);
    feed(tx, s, build({ op: 2, cookie: false, yiaddr: '10.1.1.1' }), 1, 2);
    expect(s.table('dhcp').map((r) => [r.msg_types, r.assigned_addr])).toEqual([['BOOTREQUEST,BOOTREPLY', '10.1.1.1']]);
  });

  it('names unknown message types as Zeek does', () => {
    const tx = new DhcpTransactions();
    const s = new RecordingSink('udp');
    feed(tx, s, dhcp(200), 1, 1);
    feed(tx, s, dhcp(10), 1, 2);
    tx.flush();
    expect(s.table('dhcp')[0].msg_types).toBe('unknown-message-type-200,LEASEQUERY');
  });
});

// ---------------------------------------------------------------------------------------------
// createDhcp

describe('createDhcp', () => {
  it('names the service once a message parses and reports anomalies on its connection', () => {
    const tx = new DhcpTransactions();
    const s = new RecordingSink('udp');
    const p = createDhcp(s, tx);
    p.datagram(0, Buffer.alloc(10), 0, 10);
    expect(s.services).toEqual([]);
    expect(s.anomalies.map((a) => a.name)).toEqual(['dhcp_malformed']);
    const b = dhcp(T.DISCOVER);
    p.datagram(0, b, 0, b.length);
    p.datagram(0, b, 0, b.length);
    expect(s.services).toEqual(['dhcp']);
    expect(tx.size).toBe(1);
    p.end();
    expect(tx.size).toBe(1); // the connection ending does not end the transaction
    tx.flush();
    expect(s.table('dhcp')[0].msg_types).toBe('DISCOVER,DISCOVER');
  });

  it('gives up after 10 consecutive datagrams that are not BOOTP', () => {
    const tx = new DhcpTransactions();
    const s = new RecordingSink('udp');
    const p = createDhcp(s, tx);
    const junk = Buffer.alloc(20);
    const good = dhcp(T.DISCOVER);
    for (let i = 0; i < 9; i++) p.datagram(0, junk, 0, junk.length);
    p.datagram(0, good, 0, good.length);
    for (let i = 0; i < 9; i++) p.datagram(1, junk, 0, junk.length);
    expect(p.done).toBe(false);
    p.datagram(1, junk, 0, junk.length);
    expect(p.done).toBe(true);
    p.datagram(0, good, 0, good.length);
    tx.flush();
    expect(s.table('dhcp')[0].msg_types).toBe('DISCOVER');
  });
});

// ---------------------------------------------------------------------------------------------
// Real captures

interface Conn {
  sink: RecordingSink;
  key: string;
}

/**
 * Feeds every UDP datagram on port 67 or 68 of a capture to createDhcp, one RecordingSink and
 * parser per 5-tuple (both directions of a tuple share one, as a connection), all sharing one
 * DhcpTransactions that is flushed at the end. Returns the connections in order of appearance.
 */
async function run(path: string, opts?: { idleSec?: number; maxOpen?: number }): Promise<Conn[]> {
  const tx = new DhcpTransactions(opts);
  const conns = new Map<string, Conn & { p: ReturnType<typeof createDhcp>; orig: string }>();
  await forEachDecoded(path, (pk, d) => {
    if (!d.hasL4 || d.proto !== 17 || d.ipVersion !== 4) return;
    if (d.sport !== 67 && d.sport !== 68 && d.dport !== 67 && d.dport !== 68) return;
    const src = `${formatIPv4(d.nb, d.srcOff)}:${d.sport}`;
    const dst = `${formatIPv4(d.nb, d.dstOff)}:${d.dport}`;
    const key = src < dst ? `${src} ${dst}` : `${dst} ${src}`;
    let c = conns.get(key);
    if (!c) {
      const sink = new RecordingSink('udp');
      c = { sink, key: `${src} ${dst}`, p: createDhcp(sink, tx), orig: src };
      conns.set(key, c);
    }
    c.sink.at(pk.tsSec, pk.tsNs, pk.packetNo);
    c.p.datagram(src === c.orig ? 0 : 1, d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured);
  });
  for (const c of conns.values()) c.p.end();
  tx.flush();
  return [...conns.values()];
}

function rowsOf(conns: Conn[]): Record<string, unknown>[] {
  return conns.flatMap((c) => c.sink.table('dhcp').map((row) => ({ conn: c.key, ...row })));
}

const pick = (r: Record<string, unknown>, keys: string[]) => keys.map((k) => r[k]);

describe('real captures', () => {
  it('zeek_dhcp_dhcp.pcap: all message types (Zeek dhcp-all-msg-types baseline, tshark)', async () => {
    const conns = await run(`${PCAPS}/protocols/dhcp/zeek_dhcp_dhcp.pcap`);
    // tshark -e dhcp.id -e dhcp.option.dhcp ...: frames 1-7 are xid 0x7c0 (DISCOVER, OFFER,
    // REQUEST, NAK, REQUEST, ACK, DECLINE), frame 8 xid 0x79c RELEASE, frame 9 xid 0x7c4 INFORM.
    // Zeek's baseline joins frames 1-7 in one row (DISCOVER,...,DECLINE, assigned 128.2.6.189,
    // lease 900, host btest.is.cool, domain cmu.edu, server 128.2.6.152); here the NAK and the
    // ACK each end a transaction, so the same messages are three rows.
    const keys = ['trans_id', 'msg_types', 'mac', 'client_addr', 'server_addr', 'requested_addr', 'assigned_addr', 'lease_time', 'host_name', 'domain', 'first_packet'];
    const rows = rowsOf(conns);
    expect(rows.map((r) => pick(r, keys))).toEqual([
      // requested: option 50 of DISCOVER and REQUEST (frames 1, 3); assigned: OFFER yiaddr (frame 2).
      [0x7c0, 'DISCOVER,OFFER,REQUEST,NAK', '90:b1:1c:99:49:29', null, '128.2.6.152', '192.168.211.194', '128.2.6.97', 900, 'btest.is.cool', 'cmu.edu', 1],
      [0x7c0, 'REQUEST,ACK', '90:b1:1c:99:49:29', null, '128.2.6.152', '128.2.6.189', '128.2.6.189', 900, 'btest.is.cool', 'cmu.edu', 5],
      [0x7c0, 'DECLINE', '90:b1:1c:99:49:29', null, null, null, null, null, null, null, 7],
      // Zeek: RELEASE with mac only; INFORM with host_name and requested 128.2.6.189. Frame 9's
      // option 51 (19841984, sent by the client) is not a lease: as Zeek, lease_time stays unset.
      [0x79c, 'RELEASE', '90:b1:1c:99:49:29', null, null, null, null, null, null, null, 8],
      [0x7c4, 'INFORM', '90:b1:1c:99:49:29', null, null, '128.2.6.189', null, null, 'btest.is.cool', null, 9],
    ]);
    // Every row is written on the connection of its first message (the client's broadcast).
    expect(new Set(rows.map((r) => r.conn))).toEqual(new Set(['0.0.0.0:68 255.255.255.255:67']));
    // Frame times from tshark: 1370200442.323173 (frame 1) to 1370200443.347629 (frame 4).
    expect(rows[0].ts).toEqual({ sec: 1370200442, ns: 323173000 });
    expect(rows[0].duration).toBeCloseTo(1.024456, 9);
    for (const c of conns) expect(c.sink.services).toEqual(['dhcp']);
    expect(conns.flatMap((c) => c.sink.anomalies)).toEqual([]);
  });

  it('zeek_dhcp_dhcp_inform.pcap: INFORM, ACK (Zeek inform baseline)', async () => {
    const rows = rowsOf(await run(`${PCAPS}/protocols/dhcp/zeek_dhcp_dhcp_inform.pcap`));
    // Zeek: client_addr 128.2.6.122, server_addr -, mac 90:b1:1c:99:49:29, INFORM,ACK, 0.004327.
    // server_addr here is option 54 of the ACK (tshark: 128.2.6.152); Zeek sets it only when the
    // server hands out an address.
    expect(rows.map((r) => pick(r, ['msg_types', 'mac', 'client_addr', 'server_addr', 'assigned_addr', 'lease_time']))).toEqual([
      ['INFORM,ACK', '90:b1:1c:99:49:29', '128.2.6.122', '128.2.6.152', null, null],
    ]);
    expect(rows[0].duration).toBeCloseTo(0.004327, 9);
  });

  it('zeek_dhcp_dhcp_discover_param_req_and_client_id.pcap (Zeek dhcp-discover-msg-types baseline)', async () => {
    const rows = rowsOf(await run(`${PCAPS}/protocols/dhcp/zeek_dhcp_dhcp_discover_param_req_and_client_id.pcap`));
    // Zeek: mac 00:0b:82:01:fc:42, host_name test0000, requested_addr 208.67.222.222, DISCOVER.
    expect(rows.map((r) => pick(r, ['trans_id', 'msg_types', 'mac', 'host_name', 'requested_addr', 'duration']))).toEqual([
      [0x3d11, 'DISCOVER', '00:0b:82:01:fc:42', 'test0000', '208.67.222.222', 0],
    ]);
  });

  it('cs_dhcp_nolease_initialization.pcapng: DORA across two connections (tshark)', async () => {
    const conns = await run(`${PCAPS}/protocols/dhcp/cs_dhcp_nolease_initialization.pcapng`);
    // tshark: xid 0x696ddc66, types 1,2,3,5, chaddr 00:0c:29:59:fd:21, yiaddr 192.168.1.10 (2, 4),
    // hostname ubuntu2 (1, 3), lease 600, server id 192.168.1.5, requested 192.168.100.129 (1)
    // then 192.168.1.10 (3), domain mydomain.example; frames at .772197 and 1476375984.777440.
    expect(conns.map((c) => c.key)).toEqual(['0.0.0.0:68 255.255.255.255:67', '192.168.1.5:67 192.168.1.10:68']);
    expect(conns[1].sink.table('dhcp')).toEqual([]);
    expect(conns[0].sink.table('dhcp')).toEqual([{
      ts: { sec: 1476375983, ns: 772197000 }, trans_id: 0x696ddc66, mac: '00:0c:29:59:fd:21', client_addr: null,
      server_addr: '192.168.1.5', requested_addr: '192.168.1.10', assigned_addr: '192.168.1.10', lease_time: 600,
      host_name: 'ubuntu2', client_fqdn: null, domain: 'mydomain.example', vendor_class: null,
      msg_types: 'DISCOVER,OFFER,REQUEST,ACK', duration: 1.005243, first_packet: 1,
    }]);
  });

  it('sv_dhcp-extended.pcap: unicast renewal, host name with a trailing NUL (tshark, suricata-verify)', async () => {
    const rows = rowsOf(await run(`${PCAPS}/protocols/dhcp/sv_dhcp-extended.pcap`));
    // suricata-verify: id 4016330564, client_ip 10.16.1.4, client_mac 00:11:32:17:49:f0,
    // hostname "nas1\u0000" (tshark shows nas1), ACK assigned_ip 10.16.1.4, lease_time 3600;
    // tshark: option 54 10.16.1.1, domain unx.ca.
    expect(rows.map((r) => pick(r, ['conn', 'trans_id', 'msg_types', 'mac', 'client_addr', 'server_addr', 'assigned_addr', 'lease_time', 'host_name', 'domain']))).toEqual([
      ['10.16.1.4:68 10.16.1.1:67', 4016330564, 'REQUEST,ACK', '00:11:32:17:49:f0', '10.16.1.4', '10.16.1.1', '10.16.1.4', 3600, 'nas1', 'unx.ca'],
    ]);
  });

  it('ndpi_1kxun.pcap: Windows INFORMs with vendor class, client lease requests ignored (tshark)', async () => {
    const rows = rowsOf(await run(`${PCAPS}/reference/ndpi/ndpi_1kxun.pcap`));
    // tshark -Y dhcp: 24 messages; 20 transactions (ACKs of 0x316307a5 at frames 32 and 547 are
    // separate answers, and the REQUEST/ACK pairs 597-598 and 835-836 have their own xids).
    expect(rows).toHaveLength(20);
    const byFirst = new Map(rows.map((r) => [r.first_packet, r]));
    // Frames 833-834: INFORM from 192.168.5.41, hostname kevin-PC, vendor class MSFT 5.0, ACK from 192.168.119.1.
    expect(pick(byFirst.get(833)!, ['trans_id', 'msg_types', 'mac', 'client_addr', 'server_addr', 'host_name', 'vendor_class', 'lease_time'])).toEqual([
      0x02449a41, 'INFORM,ACK', '48:d2:24:63:0a:de', '192.168.5.41', '192.168.119.1', 'kevin-PC', 'MSFT 5.0', null,
    ]);
    // Frame 11: a REQUEST asking for lease 7776000 (option 51 from the client) and no answer.
    expect(pick(byFirst.get(11)!, ['msg_types', 'host_name', 'requested_addr', 'lease_time'])).toEqual(['REQUEST', 'Shen', '192.168.3.237', null]);
    // Frame 706: dhcpcd's vendor class.
    expect(pick(byFirst.get(706)!, ['msg_types', 'host_name', 'vendor_class'])).toEqual(['DISCOVER', 'android-f7ca0f571270c52d', 'dhcpcd-5.5.6']);
    // Frames 597-598: unicast renewal, lease 60 from the ACK, yiaddr 192.168.5.16.
    expect(pick(byFirst.get(597)!, ['conn', 'msg_types', 'assigned_addr', 'lease_time', 'host_name'])).toEqual(['192.168.5.16:68 192.168.119.1:67', 'REQUEST,ACK', '192.168.5.16', 60, 'MacBook-Air']);
  });

  it('ndpi_iphone.pcap: five DISCOVERs without answer are one transaction, unless idleSec splits them (tshark)', async () => {
    // tshark: xid 0x78544709 DISCOVER at frames 2, 12, 13, 14, 24 over 35.086 s, never answered;
    // xid 0xb796bad1 DISCOVER, OFFER, REQUEST, ACK at frames 29, 30, 35, 36 (yiaddr 192.168.2.17,
    // lease 85536, server 192.168.2.1, hostname Lucas-iPhone).
    const rows = rowsOf(await run(`${PCAPS}/reference/ndpi/ndpi_iphone.pcap`));
    const keys = ['trans_id', 'msg_types', 'assigned_addr', 'lease_time', 'server_addr', 'host_name', 'first_packet'];
    expect(rows.map((r) => pick(r, keys))).toEqual([
      [0xb796bad1, 'DISCOVER,OFFER,REQUEST,ACK', '192.168.2.17', 85536, '192.168.2.1', 'Lucas-iPhone', 29],
      [0x78544709, 'DISCOVER,DISCOVER,DISCOVER,DISCOVER,DISCOVER', null, null, null, 'Lucas-iMac', 2],
    ]);
    expect(rows[1].duration).toBeCloseTo(35.086419, 6);
    // tshark frame.time_delta_displayed: the DISCOVERs are 8.56 to 8.96 s apart, so with a 5 s
    // idle time each is its own transaction.
    const split = rowsOf(await run(`${PCAPS}/reference/ndpi/ndpi_iphone.pcap`, { idleSec: 5 }));
    expect(split.filter((r) => r.trans_id === 0x78544709).map((r) => [r.msg_types, r.first_packet])).toEqual([2, 12, 13, 14, 24].map((n) => ['DISCOVER', n]));
  });

  it('zeek_dhcp_flood.pcap: 250 INFORM/ACK pairs on one xid from spoofed sources', async () => {
    const conns = await run(`${PCAPS}/attacks/dos-spoofing/zeek_dhcp_flood.pcap`);
    const rows = rowsOf(conns);
    // tshark: 500 messages alternating INFORM (ciaddr 128.2.6.122) and ACK (option 54
    // 128.2.6.152), all xid 0xa42cec51, each pair on its own 5-tuple. Zeek's baseline joins them
    // four at a time (its 10-uid limit and 5 s windows) and takes client_addr from the packet
    // source (128.2.5.x); here each ACK ends its transaction and client_addr is ciaddr.
    expect(rows).toHaveLength(250);
    expect(new Set(rows.map((r) => `${r.msg_types} ${r.client_addr} ${r.server_addr} ${r.mac}`))).toEqual(new Set(['INFORM,ACK 128.2.6.122 128.2.6.152 90:b1:1c:99:49:29']));
    expect(conns.every((c) => c.sink.table('dhcp').length === 1)).toBe(true);
  });
});
