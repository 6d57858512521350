/**
 * DNS parser (engine/app/dns.ts): hand-built messages for every feature (header flags, EDNS,
 * compression and its abuse, every rdata type with text, malformed input and its anomalies), the
 * UDP and TCP transaction logic (pairing, rtt, caps, unanswered and unmatched messages, framing,
 * gaps), and real captures checked against tshark 4.0 (`tshark -T fields`, values hard-coded below
 * with the command that printed them) and Zeek's dns.log baselines (read from the files).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnomalyName } from '../../common/anomalies.js';
import { forEachDecoded } from '../helpers/capture.js';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import { createDnsTcp, createDnsUdp, dnsClassName, dnsRcodeName, dnsTypeName, formatText, parseDnsMessage, type DnsMessage } from '../../engine/app/dns.js';
import type { DatagramParser, StreamParser } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { AppLayer } from '../../engine/app/dispatch.js';
import { PROTO_UDP } from '../../engine/decode/packet.js';

const DNS_DIR = '/work/shared/pcaps/protocols/dns/';
const ZEEK_REF = '/work/shared/pcaps/reference/zeek/';

// ---- message builder -------------------------------------------------------------------------

type Bytes = number[];

/** Wire form of a dotted name ('' is the root); `ptr` ends it with a compression pointer. */
function nm(name: string, ptr?: number): Bytes {
  const out: Bytes = [];
  for (const l of name === '' ? [] : name.split('.')) out.push(l.length, ...Buffer.from(l, 'latin1'));
  if (ptr !== undefined) out.push(0xc0 | (ptr >> 8), ptr & 255);
  else out.push(0);
  return out;
}
const u16 = (v: number): Bytes => [(v >> 8) & 255, v & 255];
const u32 = (v: number): Bytes => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const str = (s: string): Bytes => [Buffer.byteLength(s, 'latin1'), ...Buffer.from(s, 'latin1')];

interface HdrOpts { id?: number; qr?: boolean; opcode?: number; aa?: boolean; tc?: boolean; rd?: boolean; ra?: boolean; z?: number; rcode?: number; qd?: number; an?: number; ns?: number; ar?: number }
function hdr(o: HdrOpts = {}): Bytes {
  const flags = (o.qr ? 0x8000 : 0) | ((o.opcode ?? 0) << 11) | (o.aa ? 0x400 : 0) | (o.tc ? 0x200 : 0) | (o.rd ? 0x100 : 0) | (o.ra ? 0x80 : 0) | ((o.z ?? 0) << 4) | (o.rcode ?? 0);
  return [...u16(o.id ?? 0x1234), ...u16(flags), ...u16(o.qd ?? 0), ...u16(o.an ?? 0), ...u16(o.ns ?? 0), ...u16(o.ar ?? 0)];
}
const question = (name: Bytes, type = 1, cls = 1): Bytes => [...name, ...u16(type), ...u16(cls)];
const rr = (name: Bytes, type: number, rdata: Bytes, ttl = 300, cls = 1): Bytes => [...name, ...u16(type), ...u16(cls), ...u32(ttl), ...u16(rdata.length), ...rdata];
const opt = (udpSize: number, extRcode = 0, options: Bytes = []): Bytes => rr([0], 41, options, ((extRcode << 24) | 0x8000) >>> 0, udpSize);
const bytes = (...parts: Bytes[]): Uint8Array => Uint8Array.from(parts.flat());

/** A query and its response for `name`/`type` with the given answer records. */
function exchange(name: string, type: number, answers: Bytes[], o: { id?: number; rcode?: number; qOpt?: Bytes; rOpt?: Bytes } = {}): [Uint8Array, Uint8Array] {
  const id = o.id ?? 0x1234;
  const qd = question(nm(name), type);
  const query = bytes(hdr({ id, rd: true, qd: 1, ar: o.qOpt ? 1 : 0 }), qd, o.qOpt ?? []);
  const response = bytes(hdr({ id, qr: true, rd: true, ra: true, rcode: o.rcode ?? 0, qd: 1, an: answers.length, ar: o.rOpt ? 1 : 0 }), qd, ...answers, o.rOpt ?? []);
  return [query, response];
}

function parse(b: Uint8Array): { msg: DnsMessage | null; anomalies: { name: AnomalyName; detail: string }[] } {
  const anomalies: { name: AnomalyName; detail: string }[] = [];
  const msg = parseDnsMessage(b, 0, b.length, (name, detail) => anomalies.push({ name, detail }));
  return { msg, anomalies };
}

/** The data and Zeek text of the single answer of a response carrying one record. */
function answerOf(type: number, rdata: Bytes, owner = 'example.com'): { data: string; zeek: string | null; anomalies: AnomalyName[] } {
  const b = bytes(hdr({ qr: true, qd: 1, an: 1 }), question(nm(owner), type), rr(nm('', 12), type, rdata));
  const { msg, anomalies } = parse(b);
  expect(msg!.records).toHaveLength(1);
  return { data: msg!.records[0].data, zeek: msg!.records[0].zeek, anomalies: anomalies.map((a) => a.name) };
}

/** The text a name gets when it is the question of a message. */
function qname(labels: Bytes[]): string {
  const name: Bytes = [];
  for (const l of labels) name.push(l.length, ...l);
  name.push(0);
  return parse(bytes(hdr({ qd: 1 }), question(name))).msg!.questions[0].name;
}

// ---- the parser on hand-built messages -----------------------------------------------------

describe('names of types, classes and response codes (Zeek)', () => {
  it('known and unknown numbers, below and above the array part of the lookup', () => {
    expect([1, 28, 65, 255, 257, 32769, 65521, 54, 1023, 1024, 65535].map(dnsTypeName)).toEqual([
      'A', 'AAAA', 'HTTPS', '*', 'CAA', 'DLV', 'INTEGRITY', 'query-54', 'query-1023', 'query-1024', 'query-65535',
    ]);
    expect([1, 3, 254, 255, 0, 32769].map(dnsClassName)).toEqual(['C_INTERNET', 'C_CHAOS', 'C_NONE', 'C_ANY', 'qclass-0', 'qclass-32769']);
    expect([0, 3, 11, 23, 24, 3842, 4095].map(dnsRcodeName)).toEqual(['NOERROR', 'NXDOMAIN', 'unassigned-11', 'BADCOOKIE', 'rcode-24', 'BADSIG', 'rcode-4095']);
  });
});

describe('parseDnsMessage: header and sections', () => {
  it('decodes id, QR, opcode, AA, TC, RD, RA, Zeek Z bits and rcode', () => {
    const { msg } = parse(bytes(hdr({ id: 0xbeef, qr: true, opcode: 5, aa: true, tc: true, rd: true, ra: true, z: 5, rcode: 3 })));
    expect(msg).toMatchObject({ id: 0xbeef, qr: true, opcode: 5, aa: true, tc: true, rd: true, ra: true, z: 5, rcode: 3, qdcount: 0, complete: true });
    const { msg: q } = parse(bytes(hdr({ id: 1 })));
    expect(q).toMatchObject({ qr: false, aa: false, tc: false, rd: false, ra: false, z: 0, rcode: 0 });
  });

  it('reads questions, the three sections in order, and compression pointers to earlier names', () => {
    const b = bytes(
      hdr({ qr: true, qd: 1, an: 2, ns: 1, ar: 1 }),
      question(nm('www.example.com'), 1), // name at offset 12; "example.com" at 16
      rr(nm('', 12), 5, nm('web', 16)),
      rr(nm('web', 16), 1, [192, 0, 2, 1], 60),
      rr(nm('', 16), 2, nm('ns1', 16), 86400),
      rr(nm('ns1', 16), 28, [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
    );
    const { msg, anomalies } = parse(b);
    expect(anomalies).toEqual([]);
    expect(msg!.questions).toEqual([{ name: 'www.example.com', qtype: 1, qclass: 1, badName: false }]);
    expect(msg!.records.map((r) => [r.section, r.name, r.type, r.ttl, r.data])).toEqual([
      ['answer', 'www.example.com', 5, 300, 'web.example.com'],
      ['answer', 'web.example.com', 1, 60, '192.0.2.1'],
      ['authority', 'example.com', 2, 86400, 'ns1.example.com'],
      ['additional', 'ns1.example.com', 28, 300, '2001:db8::1'],
    ]);
  });

  it('EDNS: UDP payload size, extended rcode bits (ext << 4 | rcode), OPT kept out of the records', () => {
    const { msg } = parse(bytes(hdr({ qr: true, rcode: 0, ar: 1 }), opt(1232, 1)));
    expect(msg!.edns).toEqual({ udpSize: 1232, extRcode: 1, version: 0, dnssecOk: true });
    expect(msg!.rcode).toBe(16);
    expect(msg!.records).toEqual([]);
    const { msg: m2 } = parse(bytes(hdr({ qr: true, rcode: 3, ar: 2 }), opt(4096, 0), opt(512, 2)));
    expect([m2!.rcode, m2!.edns!.udpSize]).toEqual([3, 4096]); // the first OPT counts
  });

  it('the root name is the empty string (tshark prints "<Root>")', () => {
    const { msg } = parse(bytes(hdr({ qd: 1 }), question(nm(''), 2)));
    expect(msg!.questions[0].name).toBe('');
  });
});

describe('parseDnsMessage: names as tshark 4.0 prints dns.qry.name', () => {
  // Expected texts: `tshark -r F -T fields -e dns.qry.name` on captures of queries built from
  // exactly these label bytes (tshark 4.0.17, run while writing this test).
  it('escapes C0 controls (named or octal), DEL, and keeps printable ASCII including dot and backslash', () => {
    const cases: [number, string][] = [
      [0x00, 'a\\000b.c'], [0x01, 'a\\001b.c'], [0x06, 'a\\006b.c'], [0x07, 'a\\ab.c'], [0x08, 'a\\bb.c'],
      [0x09, 'a\\tb.c'], [0x0a, 'a\\nb.c'], [0x0b, 'a\\vb.c'], [0x0c, 'a\\fb.c'], [0x0d, 'a\\rb.c'],
      [0x0e, 'a\\016b.c'], [0x1f, 'a\\037b.c'], [0x20, 'a b.c'], [0x2e, 'a.b.c'], [0x5c, 'a\\b.c'],
      [0x7e, 'a~b.c'], [0x7f, 'a\\177b.c'],
    ];
    for (const [byte, text] of cases) expect(qname([[0x61, byte, 0x62], [0x63]]), `byte ${byte}`).toBe(text);
    // Every byte 0x80-0xff alone (followed by 'b') printed as one U+FFFD.
    for (let byte = 0x80; byte < 0x100; byte++) expect(qname([[0x61, byte, 0x62], [0x63]])).toBe('a\uFFFDb.c');
  });

  it('decodes UTF-8 leniently: bad sequences as U+FFFD, non-printable code points as \\uXXXX', () => {
    const cases: [Bytes[], string][] = [
      [[[0x63, 0x61, 0x66, 0xc3, 0xa9]], 'café'],
      [[[0xe2, 0x82, 0xac, 0x41]], '€A'],
      [[[0xc3, 0x28, 0x41]], '\uFFFD(A'],
      [[[0x41, 0xc3], [0xa9, 0x42]], 'A\uFFFD.\uFFFDB'],
      [[[0xf0, 0x9f, 0x98, 0x80]], '😀'],
      [[[0xed, 0xa0, 0x80]], '\uFFFD'],
      [[[0xc0, 0x80]], '\\u0000'],
      [[[0xf4, 0x90, 0x80, 0x80]], '\uFFFD'],
      [[[0xe2, 0x82]], '\uFFFD'],
      [[[0xc2, 0x80, 0xc2, 0xa0]], '\\u0080\u00a0'],
      [[[0x5c, 0x2e, 0x20]], '\\. '],
      [[[0xe2, 0x80, 0x8b]], '\\u200B'],
      [[[0xef, 0xbb, 0xbf]], '\\uFEFF'],
      [[[0xee, 0x80, 0x80]], '\uE000'],
      [[[0xf8, 0x80, 0x80, 0x80, 0x80]], '\\u0000'],
      [[[0xcd, 0xb8]], '\\u0378'],
      [[[0xfe, 0x41]], '\uFFFDA'],
      [[[0xf3, 0xa0, 0x80, 0x81]], '\\U000E0001'],
      [[[0xc2, 0xad]], '\\u00AD'],
      [[[0xfc, 0x84, 0x80, 0x80, 0x80, 0x80]], '\uFFFD'],
      [[[0xe2, 0x80, 0xa8]], '\u2028'],
      [[[0xf0, 0x9f, 0xaf, 0xbf]], '\\U0001FBFF'],
    ];
    for (const [labels, text] of cases) expect(qname(labels), JSON.stringify(labels)).toBe(text);
    expect(formatText(Uint8Array.from([0x41, 0x0a, 0xc3]), 0, 3)).toBe('A\\n\uFFFD');
  });

  it('keeps case (Zeek lowercases query names)', () => {
    expect(qname([[...Buffer.from('WwW')], [...Buffer.from('Example')]])).toBe('WwW.Example');
  });
});

describe('parseDnsMessage: bad names and malformed messages', () => {
  it('a pointer forward or to itself is a bad name; the labels before it are kept and parsing goes on', () => {
    // Question 1 points forward to question 2's name (as sv_dns-forward-pointer.pcap does).
    const fwd = parse(bytes(hdr({ qd: 2 }), question([0xc0, 18]), question(nm('example.com'))));
    expect(fwd.msg!.questions).toEqual([
      { name: '', qtype: 1, qclass: 1, badName: true },
      { name: 'example.com', qtype: 1, qclass: 1, badName: false },
    ]);
    expect(fwd.anomalies).toEqual([{ name: 'dns_bad_name', detail: 'question 1: a compression pointer points forward or to itself' }]);
    const self = parse(bytes(hdr({ qd: 1 }), question(nm('www', 12))));
    expect(self.msg!.questions[0]).toMatchObject({ name: 'www', badName: true });
    expect(self.msg!.complete).toBe(true);
    // A pointer back into the middle of its own label sequence would loop as well.
    const inner = parse(bytes(hdr({ qd: 1 }), question([1, 0x61, 1, 0x62, 0xc0, 14])));
    expect(inner.anomalies[0].detail).toMatch(/into its own name/);
  });

  it('a message parsed inside another one\'s anomaly callback, or after one whose callback threw, keeps its own records', () => {
    // answer 2 of `outer` has an owner name pointing forward: dns_bad_name is reported mid-sections
    const outer = bytes(hdr({ qr: true, qd: 1, an: 2 }), question(nm('a.example')), rr(nm('', 12), 1, [10, 0, 0, 1]), rr([0xc0, 0xff], 1, [10, 0, 0, 2]));
    const [, inner] = exchange('b.example', 1, [rr(nm('', 12), 1, [192, 168, 0, 9])]);
    let innerMsg: DnsMessage | null = null;
    const outerMsg = parseDnsMessage(outer, 0, outer.length, () => {
      innerMsg ??= parseDnsMessage(inner, 0, inner.length, () => {});
    });
    expect(outerMsg!.records.map((r) => r.data)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(innerMsg!.records.map((r) => r.data)).toEqual(['192.168.0.9']);
    expect(() =>
      parseDnsMessage(outer, 0, outer.length, () => {
        throw new Error('sink failed');
      }),
    ).toThrow('sink failed');
    expect(parse(inner).msg!.records.map((r) => r.data)).toEqual(['192.168.0.9']);
  });

  it('follows chains of backward pointers up to 128 jumps', () => {
    // A NULL record's opaque data (from offset 23) holds "a" and then 200 pointers, each to the
    // one before; the next record's owner points at pointer k, which takes k + 1 jumps.
    const chain: Bytes = [1, 0x61, 0];
    const pos = (k: number) => 26 + 2 * (k - 1);
    for (let k = 1; k <= 200; k++) chain.push(...u16(0xc000 | (k === 1 ? 23 : pos(k - 1))));
    const viaPointer = (k: number) => parse(bytes(hdr({ qr: true, an: 2 }), rr(nm(''), 10, chain), rr(u16(0xc000 | pos(k)), 1, [1, 2, 3, 4])));
    const ok = viaPointer(127);
    expect(ok.anomalies).toEqual([]);
    expect(ok.msg!.records[1]).toMatchObject({ name: 'a', data: '1.2.3.4' });
    const tooDeep = viaPointer(128);
    expect(tooDeep.anomalies).toEqual([{ name: 'dns_bad_name', detail: 'answer record owner: more than 128 compression pointers' }]);
    expect(tooDeep.msg!.records[1]).toMatchObject({ name: '', data: '1.2.3.4' });
  });

  it('names of 255 wire bytes are fine, 256 are bad (tshark: "<Name too long>") and keep the labels that fit', () => {
    const labels = (total: number): Bytes => {
      const out: Bytes = [];
      let rest = total - 1;
      while (rest > 0) {
        const n = Math.min(63, rest - 1);
        out.push(n, ...new Array<number>(n).fill(0x61));
        rest -= n + 1;
      }
      return [...out, 0];
    };
    const ok = parse(bytes(hdr({ qd: 1 }), question(labels(255))));
    expect(ok.anomalies).toEqual([]);
    expect(ok.msg!.questions[0].name).toHaveLength(253);
    const long = parse(bytes(hdr({ qd: 1, an: 1 }), question(labels(256)), rr(nm('x'), 1, [1, 2, 3, 4])));
    expect(long.anomalies).toEqual([{ name: 'dns_bad_name', detail: 'question 1: name longer than 255 bytes' }]);
    expect(long.msg!.questions[0]).toMatchObject({ badName: true, qtype: 1 });
    expect(long.msg!.questions[0].name.length).toBeLessThan(253);
    expect(long.msg!.records[0].data).toBe('1.2.3.4'); // the end of the long name was found
  });

  it('extended label types (0x40, 0x80) make the name unreadable: bad name and malformed', () => {
    const { msg, anomalies } = parse(bytes(hdr({ qd: 1 }), [0x41, 8, 0xff, 0], u16(1), u16(1)));
    expect(msg!.questions).toEqual([]);
    expect(msg!.complete).toBe(false);
    expect(anomalies.map((a) => a.name)).toEqual(['dns_bad_name', 'dns_malformed']);
  });

  it('shorter than the header: null and dns_malformed', () => {
    const { msg, anomalies } = parse(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    expect(msg).toBeNull();
    expect(anomalies).toEqual([{ name: 'dns_malformed', detail: 'message of 11 bytes is shorter than the 12-byte header' }]);
  });

  it('a question or record running past the end: what parsed is returned, incomplete', () => {
    const cutQ = parse(bytes(hdr({ qd: 2 }), question(nm('a.example')), nm('b.exam').slice(0, 5)));
    expect(cutQ.msg!.questions.map((q) => q.name)).toEqual(['a.example']);
    expect(cutQ.msg!.complete).toBe(false);
    expect(cutQ.anomalies).toEqual([{ name: 'dns_malformed', detail: 'question 2 of 2 cannot be read within the message' }]);
    const rec = rr(nm('', 12), 1, [10, 0, 0, 1]);
    const cutR = parse(bytes(hdr({ qr: true, qd: 1, an: 3 }), question(nm('example.com')), rec, rec.slice(0, rec.length - 2)));
    expect(cutR.msg!.records.map((r) => r.data)).toEqual(['10.0.0.1']);
    expect(cutR.anomalies).toEqual([{ name: 'dns_malformed', detail: 'answer record 2 of 3 cannot be read within the message' }]);
    const noType = parse(bytes(hdr({ qd: 1 }), nm('example.com'), [0, 1]));
    expect(noType.msg!.questions).toEqual([]);
  });

  it('rdata that does not fit its type is shown as hex (dns_malformed); empty rdata (updates) is ""', () => {
    expect(answerOf(1, [1, 2, 3])).toEqual({ data: '010203', zeek: null, anomalies: ['dns_malformed'] });
    expect(answerOf(5, [3, 0x61, 0x62])).toEqual({ data: '036162', zeek: null, anomalies: ['dns_malformed'] });
    expect(answerOf(5, [...nm('a.b'), 0xff])).toMatchObject({ data: '0161016200ff', anomalies: ['dns_malformed'] });
    expect(answerOf(16, [5, 0x61])).toMatchObject({ data: '0561', anomalies: ['dns_malformed'] });
    expect(answerOf(5, [])).toEqual({ data: '', zeek: null, anomalies: [] });
  });

  it('reports each anomaly name once per message', () => {
    const bad = rr(nm('', 12), 1, [1, 2, 3]);
    const { anomalies } = parse(bytes(hdr({ qr: true, qd: 1, an: 3 }), question(nm('example.com')), bad, bad, bad));
    expect(anomalies.map((a) => a.name)).toEqual(['dns_malformed']);
  });
});

describe('parseDnsMessage: record data text and Zeek answer text', () => {
  it('addresses and names', () => {
    expect(answerOf(1, [93, 184, 216, 34])).toMatchObject({ data: '93.184.216.34', zeek: '93.184.216.34' });
    expect(answerOf(28, [0x26, 0x06, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x68, 0x10, 0x84, 0xe5])).toMatchObject({ data: '2606:4700::6810:84e5', zeek: '2606:4700::6810:84e5' });
    expect(answerOf(5, nm('Alias.Example.NET'))).toMatchObject({ data: 'Alias.Example.NET', zeek: 'alias.example.net' });
    expect(answerOf(2, nm('NS1', 12))).toMatchObject({ data: 'NS1.example.com', zeek: 'ns1.example.com' });
    expect(answerOf(12, nm('host.example'))).toMatchObject({ data: 'host.example', zeek: 'host.example' });
    expect(answerOf(39, nm('target.example'))).toMatchObject({ data: 'target.example', zeek: '<unknown type=39>' });
    expect(answerOf(5, nm(''))).toMatchObject({ data: '.', zeek: '' }); // Zeek leaves "" out of answers
  });

  it('MX, SOA, SRV, NAPTR', () => {
    expect(answerOf(15, [...u16(10), ...nm('mail.example.com')])).toMatchObject({ data: '10 mail.example.com', zeek: 'mail.example.com' });
    expect(answerOf(6, [...nm('ns.example.com'), ...nm('hostmaster.example.com'), ...u32(2024010101), ...u32(7200), ...u32(900), ...u32(1209600), ...u32(300)])).toMatchObject({
      data: 'ns.example.com hostmaster.example.com 2024010101 7200 900 1209600 300',
      zeek: 'ns.example.com',
    });
    expect(answerOf(33, [...u16(10), ...u16(60), ...u16(5060), ...nm('sip.example.com')])).toMatchObject({ data: '10 60 5060 sip.example.com', zeek: 'sip.example.com' });
    // Zeek's NAPTR text, as in zeek_dns_naptr.pcap.zeek.naptr.dns.log.cut (empty regexp left out).
    expect(answerOf(35, [...u16(100), ...u16(100), ...str('s'), ...str('SIPS+D2T'), ...str(''), ...nm('_sips._tcp.example')])).toMatchObject({
      data: '100 100 "s" "SIPS+D2T" "" _sips._tcp.example',
      zeek: 'NAPTR 100 100 s SIPS+D2T _sips._tcp.example',
    });
    expect(answerOf(35, [...u16(1), ...u16(2), ...str('u'), ...str('E2U+sip'), ...str('!^.*$!sip:a@b!'), 0])).toMatchObject({
      data: '1 2 "u" "E2U+sip" "!^.*$!sip:a@b!" .',
      zeek: 'NAPTR 1 2 u E2U+sip !^.*$!sip:a@b!',
    });
  });

  it('TXT and SPF: quoted strings; Zeek "TXT <len> <text>" per string; commas escaped in the answers column', () => {
    expect(answerOf(16, [...str('v=spf1 -all'), ...str('say "hi"')])).toMatchObject({ data: '"v=spf1 -all" "say \\"hi\\""', zeek: 'TXT 11 v=spf1 -all TXT 8 say "hi"' });
    expect(answerOf(99, str('v=spf1 mx -all'))).toMatchObject({ data: '"v=spf1 mx -all"', zeek: 'SPF 14 v=spf1 mx -all' });
    expect(answerOf(16, str('a\x01b'))).toMatchObject({ data: '"a\\001b"' });
  });

  it('CAA, HINFO, HTTPS/SVCB (Zeek logs nothing for these)', () => {
    expect(answerOf(257, [0, ...str('issue'), ...Buffer.from('letsencrypt.org')])).toEqual({ data: '0 issue "letsencrypt.org"', zeek: null, anomalies: [] });
    expect(answerOf(13, [...str('INTEL-386'), ...str('Windows')])).toEqual({ data: '"INTEL-386" "Windows"', zeek: null, anomalies: [] });
    const params = [
      ...u16(0), ...u16(4), ...u16(1), ...u16(4),
      ...u16(1), ...u16(6), ...str('h3'), ...str('h2'),
      ...u16(2), ...u16(0),
      ...u16(3), ...u16(2), ...u16(8443),
      ...u16(4), ...u16(8), 192, 0, 2, 1, 192, 0, 2, 2,
      ...u16(5), ...u16(3), 1, 2, 3,
      ...u16(6), ...u16(16), 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
      ...u16(9), ...u16(2), 0xab, 0xcd,
    ];
    expect(answerOf(65, [...u16(1), 0, ...params])).toEqual({
      data: '1 . mandatory=alpn,ipv4hint alpn="h3,h2" no-default-alpn port=8443 ipv4hint=192.0.2.1,192.0.2.2 ech=AQID ipv6hint=2001:db8::1 key9=abcd',
      zeek: null,
      anomalies: [],
    });
    expect(answerOf(64, [...u16(0), ...nm('foo.example.com')])).toMatchObject({ data: '0 foo.example.com', zeek: null });
    expect(answerOf(65, [...u16(1), 0, ...u16(3), ...u16(3), 1, 2, 3])).toMatchObject({ anomalies: ['dns_malformed'] });
  });

  it('DNSSEC records: summaries, and Zeek "DS alg digest", "DNSKEY alg", "RRSIG covered signer", "NSEC owner next"', () => {
    expect(answerOf(43, [...u16(47252), 5, 1, 0x02, 0x73, 0x9f])).toMatchObject({ data: '47252 5 1 02739F', zeek: 'DS 5 1' });
    // Key tags (RFC 4034 appendix B) are checked against tshark on cs_dns_tcp.pcapng below.
    const key = [...u16(257), 3, 8, ...Array.from({ length: 32 }, (_, i) => i * 7 + 1)];
    const dnskey = answerOf(48, key);
    expect(dnskey.zeek).toBe('DNSKEY 8');
    expect(dnskey.data).toMatch(/^257 3 8 keytag=\d+ keylen=32$/);
    const rrsig = [...u16(5), 7, 3, ...u32(86400), ...u32(1365029467), ...u32(1362434170), ...u16(6947), ...nm('cmu.edu'), 0xaa, 0xbb];
    expect(answerOf(46, rrsig)).toMatchObject({ data: 'CNAME 7 3 86400 20130403225107 20130304215610 6947 cmu.edu', zeek: 'RRSIG 5 cmu.edu' });
    const rootSig = [...u16(48), 8, 0, ...u32(0), ...u32(0), ...u32(0), ...u16(20326), 0, 1];
    expect(answerOf(46, rootSig).zeek).toBe('RRSIG 48 <Root>');
    // NSEC bitmap: window 0, A (1), NS (2), SOA (6), RRSIG (46), NSEC (47); window 1 bit 1 = CAA (257).
    const bitmap = [0, 6, 0x62, 0, 0, 0, 0, 0x03, 1, 1, 0x40];
    expect(answerOf(47, [...nm('b.example.com'), ...bitmap])).toMatchObject({ data: 'b.example.com A NS SOA RRSIG NSEC CAA', zeek: 'NSEC example.com b.example.com' });
    expect(answerOf(50, [1, 1, ...u16(10), 2, 0xab, 0xcd, 5, 1, 2, 3, 4, 5, 0, 1, 0x40])).toMatchObject({ data: '1 1 10 ABCD 04106105 A', zeek: 'NSEC3' });
    expect(answerOf(51, [1, 0, ...u16(0), 0])).toMatchObject({ data: '1 0 0 -', zeek: 'NSEC3PARAM' });
    expect(answerOf(44, [1, 1, 0xa6, 0xb9])).toMatchObject({ data: '1 1 a6b9', zeek: 'SSHFP: a6b9' });
    expect(answerOf(47, [...nm('b'), 0, 40])).toMatchObject({ anomalies: ['dns_malformed'] });
  });

  it('NULL, LOC, unknown types: hex, and Zeek\'s "<unknown type=N>" / "LOC:  size horiz vert"', () => {
    expect(answerOf(10, [0x56, 0x41, 0x43])).toMatchObject({ data: '564143', zeek: '<unknown type=10>' });
    expect(answerOf(29, [0, 0x12, 0x15, 0x13, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])).toMatchObject({ zeek: 'LOC:  18 21 19' });
    expect(answerOf(65280, [0xde, 0xad])).toMatchObject({ data: 'dead', zeek: '<unknown type=65280>' });
  });
});

// ---- transactions --------------------------------------------------------------------------

function udp(): { sink: RecordingSink; p: DatagramParser } {
  const sink = new RecordingSink('udp');
  return { sink, p: createDnsUdp(sink) };
}
const feed = (p: DatagramParser, dir: 0 | 1, b: Uint8Array) => p.datagram(dir, b, 0, b.length);

describe('resting DNS-over-UDP flows (the layer drops a parser with nothing pending)', () => {
  it('the parser rests once every query is answered, not while one waits, and not once it gave up', () => {
    const { p } = udp();
    const [q1, r1] = exchange('a.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 1])], { id: 1 });
    const [q2, r2] = exchange('b.example', 1, [], { id: 2 });
    expect(p.resting).toBe(false);
    feed(p, 0, q1);
    expect(p.resting).toBe(false);
    feed(p, 0, q2);
    feed(p, 1, r1);
    expect(p.resting).toBe(false); // q2 still waits
    feed(p, 1, r2);
    expect(p.resting).toBe(true);
    const bad = udp();
    for (let i = 0; i < 10; i++) feed(bad.p, 0, Uint8Array.of(1, 2, 3));
    expect(bad.p.done).toBe(true);
    expect(bad.p.resting).toBe(false);
  });

  it('in the application layer: transactions after a rest are parsed by a fresh parser, the flow counts once, an unanswered query is logged at its end', () => {
    const rows: { table: string; row: Record<string, unknown>; flowId: number }[] = [];
    const flows = {
      lastSlot: 0, lastFwd: true, id: [7], evidence: [1], origIsA: [1], origP: [40000], respP: [53],
      origH: ['10.0.0.1'], respH: ['10.0.0.53'], service: [null] as (string | null)[], onFlowEnd: null as ((s: number) => void) | null,
    };
    const app = new AppLayer(flows, {
      row: (t, row, conn) => rows.push({ table: t.name, row, flowId: conn.flowId }),
      anomaly: () => {},
    });
    const state = () => (app as unknown as { conns: unknown[] }).conns[0];
    const packet = (fwd: boolean, b: Uint8Array, no: number) => {
      flows.lastFwd = fwd;
      const tb = Buffer.concat([Buffer.alloc(42), Buffer.from(b)]);
      app.packet({ proto: PROTO_UDP, tcpFlags: 0, seq: 0, tb, payloadOff: 42, payloadCaptured: b.length }, 100 + no, 0, no, 0);
    };
    const [q1, r1] = exchange('a.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 1])], { id: 1 });
    const [q2, r2] = exchange('b.example', 28, [], { id: 2 });
    const [q3] = exchange('c.example', 1, [], { id: 3 });
    packet(true, q1, 1);
    expect(state()).toHaveProperty('dgram'); // a parser waits for the answer (a connection, not a mark)
    packet(false, r1, 2);
    expect(state()).toEqual({ mark: 'resting' }); // resting: the parser and its connection object were dropped
    packet(true, q2, 3);
    packet(false, r2, 4);
    packet(true, q3, 5);
    flows.onFlowEnd!(0);
    const dns = rows.filter((r) => r.table === 'dns');
    expect(dns.map((r) => [r.row.query, r.row.query_packet, r.row.response_packet, r.flowId])).toEqual([
      ['a.example', 1, 2, 7],
      ['b.example', 3, 4, 7],
      ['c.example', 5, null, 7],
    ]);
    expect(app.connections).toBe(1);
    expect(app.byKind.get('dns')).toBe(1);
    expect(flows.service[0]).toBe('dns');
  });
});

describe('createDnsUdp', () => {
  it('pairs a query with its response: one dns row with rtt and frames, one dns_answers row per record', () => {
    const { sink, p } = udp();
    const [q, r] = exchange('www.example.com', 1, [rr(nm('', 12), 5, nm('web', 16), 3600), rr(nm('web', 16), 1, [192, 0, 2, 7], 60)], { qOpt: opt(1232), rOpt: opt(4096) });
    sink.at(100, 250_000_000, 5);
    feed(p, 0, q);
    sink.at(101, 100_000_000, 9);
    feed(p, 1, r);
    expect(sink.services).toEqual(['dns']);
    expect(sink.table('dns')).toEqual([{
      ts: { sec: 100, ns: 250_000_000 }, proto: 'udp', trans_id: 0x1234, rtt: 0.85, query: 'www.example.com',
      qclass: 1, qclass_name: 'C_INTERNET', qtype: 1, qtype_name: 'A', rcode: 0, rcode_name: 'NOERROR',
      AA: false, TC: false, RD: true, RA: true, Z: 0, answers: 'web.example.com,192.0.2.7', TTLs: '3600.000000,60.000000',
      rejected: false, qdcount: 1, ancount: 2, edns_udp_size: 1232, query_packet: 5, response_packet: 9,
    }]);
    expect(sink.table('dns_answers')).toEqual([
      { ts: { sec: 101, ns: 100_000_000 }, packet_no: 9, trans_id: 0x1234, section: 'answer', name: 'www.example.com', type: 5, type_name: 'CNAME', class: 1, ttl: 3600, data: 'web.example.com' },
      { ts: { sec: 101, ns: 100_000_000 }, packet_no: 9, trans_id: 0x1234, section: 'answer', name: 'web.example.com', type: 1, type_name: 'A', class: 1, ttl: 60, data: '192.0.2.7' },
    ]);
    p.end();
    expect(sink.table('dns')).toHaveLength(1);
    expect(sink.anomalies).toEqual([]);
  });

  it('flags: AA, TC, RA from the response; RD and Z from the query; rejected on a non-zero rcode', () => {
    const { sink, p } = udp();
    const qd = question(nm('example.org'), 28);
    feed(p, 0, bytes(hdr({ id: 7, rd: true, z: 2, qd: 1 }), qd));
    feed(p, 1, bytes(hdr({ id: 7, qr: true, aa: true, tc: true, ra: true, rcode: 3, qd: 1 }), qd));
    expect(sink.table('dns')[0]).toMatchObject({ AA: true, TC: true, RD: true, RA: true, Z: 2, rcode: 3, rcode_name: 'NXDOMAIN', rejected: true, qtype_name: 'AAAA', answers: null, TTLs: null, ancount: 0 });
  });

  it('the EDNS extended rcode makes BADVERS (16)', () => {
    const { sink, p } = udp();
    const [q, r] = exchange('test.example.com', 1, [], { rOpt: opt(4096, 1) });
    feed(p, 0, q);
    feed(p, 1, r);
    // Zeek (zeek_dns_dns_extended_rcode.pcap.zeek.edns-rcode.output) prints 16 for the same case.
    expect(sink.table('dns')[0]).toMatchObject({ rcode: 16, rcode_name: 'BADVERS', edns_udp_size: null });
  });

  it('pairs by transaction id and question; unanswered queries are logged at end()', () => {
    const { sink, p } = udp();
    const [qa, ra] = exchange('a.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 1])], { id: 9 });
    const [qb, rb] = exchange('b.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 2])], { id: 9 });
    const [qc] = exchange('c.example', 28, [], { id: 10 });
    sink.at(1, 0, 1);
    feed(p, 0, qa);
    sink.at(2, 0, 2);
    feed(p, 0, qb);
    sink.at(3, 0, 3);
    feed(p, 0, qc);
    sink.at(4, 0, 4);
    feed(p, 1, rb);
    sink.at(5, 0, 5);
    feed(p, 1, ra);
    expect(sink.table('dns').map((r) => [r.query, r.answers, r.query_packet, r.response_packet, r.rtt])).toEqual([
      ['b.example', '10.0.0.2', 2, 4, 2],
      ['a.example', '10.0.0.1', 1, 5, 4],
    ]);
    p.end();
    expect(sink.table('dns')[2]).toMatchObject({ query: 'c.example', qtype_name: 'AAAA', rcode: null, rcode_name: null, rtt: null, response_packet: null, ancount: null, rejected: false });
    expect(p.done).toBe(true);
  });

  it('a response without its query: a row from the response alone and dns_unmatched_response (also for a duplicate)', () => {
    const { sink, p } = udp();
    const [q, r] = exchange('dup.example', 1, [rr(nm('', 12), 1, [10, 1, 1, 1])]);
    feed(p, 0, q);
    feed(p, 1, r);
    sink.at(9, 0, 7);
    feed(p, 1, r);
    const rows = sink.table('dns');
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatchObject({ ts: { sec: 9, ns: 0 }, query: 'dup.example', rtt: null, query_packet: null, response_packet: 7, RD: true, answers: '10.1.1.1' });
    expect(sink.anomalies).toEqual([{ name: 'dns_unmatched_response', detail: 'transaction id 4660' }]);
    expect(sink.table('dns_answers')).toHaveLength(2);
  });

  it('keeps at most 256 pending queries: the oldest is logged unanswered', () => {
    const { sink, p } = udp();
    for (let i = 0; i < 257; i++) {
      sink.at(i, 0, i + 1);
      feed(p, 0, exchange(`q${i}.example`, 1, [], { id: i })[0]);
    }
    expect(sink.table('dns').map((r) => r.query)).toEqual(['q0.example']);
    feed(p, 1, exchange('q0.example', 1, [], { id: 0 })[1]);
    expect(sink.anomalies.map((a) => a.name)).toEqual(['dns_unmatched_response']);
    p.end();
    expect(sink.table('dns')).toHaveLength(258);
  });

  it('not DNS: dns_malformed per datagram, done after 10 failures in a row (a good message resets the count)', () => {
    const { sink, p } = udp();
    const junk = Uint8Array.from([1, 2, 3]);
    for (let i = 0; i < 9; i++) feed(p, 0, junk);
    feed(p, 0, exchange('ok.example', 1, [])[0]);
    for (let i = 0; i < 9; i++) feed(p, 0, junk);
    expect(p.done).toBe(false);
    feed(p, 0, junk);
    expect(p.done).toBe(true);
    expect(sink.anomalies.filter((a) => a.name === 'dns_malformed')).toHaveLength(19);
    expect(sink.table('dns').map((r) => r.query)).toEqual(['ok.example']); // logged when giving up
    expect(sink.services).toEqual(['dns']);
  });

  it('a query whose name is bad pairs on id and type, and the row shows the response\'s readable name', () => {
    const { sink, p } = udp();
    feed(p, 0, bytes(hdr({ id: 5, qd: 1 }), question([0xc0, 12])));
    feed(p, 1, bytes(hdr({ id: 5, qr: true, qd: 1 }), question(nm('real.example'))));
    expect(sink.table('dns')).toEqual([expect.objectContaining({ query: 'real.example', query_packet: 1, response_packet: 1 })]);
    const other = udp();
    feed(other.p, 0, bytes(hdr({ id: 5, qd: 1 }), question([0xc0, 12])));
    other.p.end();
    expect(other.sink.table('dns')[0].query).toBeNull(); // not "" (the root)
  });

  it('escapes commas inside a Zeek answer as \\x2c', () => {
    const { sink, p } = udp();
    const [q, r] = exchange('t.example', 16, [rr(nm('', 12), 16, str('a,b')), rr(nm('', 12), 16, str('c'))]);
    feed(p, 0, q);
    feed(p, 1, r);
    expect(sink.table('dns')[0].answers).toBe('TXT 3 a\\x2cb,TXT 1 c');
  });
});

function tcp(): { sink: RecordingSink; p: StreamParser } {
  const sink = new RecordingSink('tcp');
  return { sink, p: createDnsTcp(sink) };
}
const framed = (...msgs: Uint8Array[]): Uint8Array => Uint8Array.from(msgs.flatMap((m) => [...u16(m.length), ...m]));

describe('createDnsTcp', () => {
  const [q1, r1] = exchange('one.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 1])], { id: 1 });
  const [q2, r2] = exchange('two.example', 1, [rr(nm('', 12), 1, [10, 0, 0, 2])], { id: 2 });

  it('several messages per direction, in one call or split at every byte, give the same rows', () => {
    const whole = tcp();
    const qs = framed(q1, q2);
    const rs = framed(r1, r2);
    whole.p.data(0, qs, 0, qs.length);
    whole.p.data(1, rs, 0, rs.length);
    whole.p.end();
    expect(whole.sink.table('dns').map((r) => [r.query, r.answers, r.proto])).toEqual([['one.example', '10.0.0.1', 'tcp'], ['two.example', '10.0.0.2', 'tcp']]);
    const bytewise = tcp();
    for (let i = 0; i < qs.length; i++) bytewise.p.data(0, qs, i, i + 1);
    for (let i = 0; i < rs.length; i++) bytewise.p.data(1, rs, i, i + 1);
    bytewise.p.end();
    expect(bytewise.sink.rows).toEqual(whole.sink.rows);
    expect(bytewise.sink.anomalies).toEqual([]);
  });

  it('a message gets the time and frame of its first byte; bytes are copied (the caller reuses its buffer)', () => {
    const { sink, p } = tcp();
    const qs = framed(q1);
    const buf = new Uint8Array(qs.length);
    buf.set(qs.subarray(0, 5));
    sink.at(10, 0, 3);
    p.data(0, buf, 0, 5);
    buf.fill(0xee);
    buf.set(qs.subarray(5), 5);
    sink.at(11, 0, 4);
    p.data(0, buf, 5, qs.length);
    p.end();
    expect(sink.table('dns')).toEqual([expect.objectContaining({ query: 'one.example', ts: { sec: 10, ns: 0 }, query_packet: 3 })]);
  });

  it('a zero length prefix is dns_tcp_bad_length and parsing goes on', () => {
    const { sink, p } = tcp();
    const s = Uint8Array.from([0, 0, ...framed(q1)]);
    p.data(0, s, 0, s.length);
    p.end();
    expect(sink.anomalies).toEqual([{ name: 'dns_tcp_bad_length', detail: 'zero message length' }]);
    expect(sink.table('dns')).toHaveLength(1);
  });

  it('a gap kills its direction; both dead: done, pending queries logged', () => {
    const { sink, p } = tcp();
    const qs = framed(q1);
    p.data(0, qs, 0, qs.length);
    p.gap(1, 100);
    const rs = framed(r1);
    p.data(1, rs, 0, rs.length);
    expect(sink.table('dns')).toEqual([]);
    expect(p.done).toBe(false);
    p.gap(0, 5);
    expect(p.done).toBe(true);
    expect(sink.anomalies).toEqual([{ name: 'dns_tcp_bad_length', detail: 'gap' }, { name: 'dns_tcp_bad_length', detail: 'gap' }]);
    expect(sink.table('dns')).toEqual([expect.objectContaining({ query: 'one.example', rcode: null })]);
  });

  it('the stream ending inside a message is dns_tcp_bad_length', () => {
    const { sink, p } = tcp();
    const qs = framed(q1);
    p.data(0, qs, 0, qs.length - 1);
    p.end();
    expect(sink.anomalies).toEqual([{ name: 'dns_tcp_bad_length', detail: `stream ended inside a message (${qs.length - 1} bytes of it seen)` }]);
    expect(sink.table('dns')).toEqual([]);
  });

  it('a 65535-byte message split across calls fits the buffer', () => {
    const { sink, p } = tcp();
    const txt: Bytes = [];
    while (txt.length < 65535 - 12 - 17 - 12 - 200) txt.push(...str('x'.repeat(200)));
    const qd = question(nm('big.example'), 16);
    const body = bytes(hdr({ id: 3, qr: true, qd: 1, an: 1 }), qd, rr(nm('', 12), 16, txt));
    const pad = 65535 - body.length;
    const msg = bytes([...body], new Array<number>(pad).fill(0)); // trailing bytes after the counted records are ignored
    expect(msg.length).toBe(65535);
    const s = framed(bytes(hdr({ id: 3, qd: 1 }), qd), msg);
    for (let i = 0; i < s.length; i += 1000) p.data(0, s, i, Math.min(s.length, i + 1000));
    p.end();
    expect(sink.table('dns')).toHaveLength(1);
    expect(sink.table('dns_answers')[0].data).toMatch(/^"x{200}" "x{200}"/);
  });

  it('10 unparsable messages in a row: done', () => {
    const { p } = tcp();
    const junk = framed(...Array.from({ length: 10 }, () => Uint8Array.from([1, 2, 3])));
    p.data(0, junk, 0, junk.length);
    expect(p.done).toBe(true);
  });
});

// ---- real captures -----------------------------------------------------------------------------

interface Pkt { no: number; sec: number; ns: number; proto: number; src: string; dst: string; sport: number; dport: number; seq: number; payload: Buffer }

async function load(path: string): Promise<Pkt[]> {
  const out: Pkt[] = [];
  await forEachDecoded(path, (p, d) => {
    if (!d.hasL4) return;
    const addr = (o: number) => (d.ipVersion === 4 ? formatIPv4(d.nb, o) : formatIPv6(d.nb, o));
    out.push({ no: p.packetNo, sec: p.tsSec, ns: p.tsNs, proto: d.proto, src: addr(d.srcOff), dst: addr(d.dstOff), sport: d.sport, dport: d.dport, seq: d.seq, payload: Buffer.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured)) });
  });
  return out;
}

const DNS_PORTS = new Set([53, 5353, 5355, 1053]);

interface Conn { sink: RecordingSink; orig: string; resp: string }

/** Runs every DNS-port connection of a capture through the parsers, in packet order. */
async function runCapture(path: string): Promise<Conn[]> {
  const flows = new Map<string, Conn & { udp?: DatagramParser; tcp?: StreamParser; seen: Set<string> }>();
  for (const k of await load(path)) {
    if ((k.proto !== 6 && k.proto !== 17) || (!DNS_PORTS.has(k.sport) && !DNS_PORTS.has(k.dport))) continue;
    const a = `${k.src}:${k.sport}`;
    const b = `${k.dst}:${k.dport}`;
    const key = `${k.proto} ${[a, b].sort().join(' ')}`;
    let f = flows.get(key);
    if (!f) {
      const sink = new RecordingSink(k.proto === 6 ? 'tcp' : 'udp');
      f = { sink, orig: a, resp: b, seen: new Set(), ...(k.proto === 6 ? { tcp: createDnsTcp(sink) } : { udp: createDnsUdp(sink) }) };
      flows.set(key, f);
    }
    f.sink.at(k.sec, k.ns, k.no);
    const dir = a === f.orig ? 0 : 1;
    if (k.payload.length === 0) continue;
    if (f.udp) f.udp.datagram(dir, k.payload, 0, k.payload.length);
    else {
      const id = `${dir} ${k.seq}`; // retransmissions
      if (f.seen.has(id)) continue;
      f.seen.add(id);
      f.tcp!.data(dir, k.payload, 0, k.payload.length);
    }
  }
  for (const f of flows.values()) (f.udp ?? f.tcp)!.end();
  return [...flows.values()];
}

const rowsOf = (conns: Conn[], table: string) => conns.flatMap((c) => c.sink.table(table));
const anomaliesOf = (conns: Conn[]) => conns.flatMap((c) => c.sink.anomalies.map((a) => `${a.name}: ${a.detail}`));
/** What tshark's dns.a / dns.aaaa list for one response: every A/AAAA record in all sections. */
const addrsOf = (answers: Record<string, unknown>[], packetNo: number, type: number) =>
  answers.filter((a) => a.packet_no === packetNo && a.type === type).map((a) => a.data).join(',');

/** Rows of a Zeek dns.log as objects (column names from #fields). */
function zeekLog(path: string): Record<string, string>[] {
  const lines = readFileSync(path, 'utf8').split('\n');
  const fields = lines.find((l) => l.startsWith('#fields'))!.split('\t').slice(1);
  return lines.filter((l) => l !== '' && !l.startsWith('#')).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [fields[i], v])));
}
const dash = (v: unknown) => (v === null ? '-' : String(v));

describe('real captures against tshark 4.0', () => {
  it('td_dns_udp.pcap and td_dns_tcp.pcap: one A query for www.tcpdump.org', async () => {
    // tshark -r F -T fields -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.a -e dns.aaaa
    //   response: www.tcpdump.org 1 0 192.139.46.66,198.199.88.104,209.87.249.18,97.107.133.15
    //             2607:f0b0:f::babe:f00d,2600:3c03::f03c:91ff:fe96:e8ef (dns.rr.udp_payload_size of the query: 4096)
    for (const [file, proto, qNo, rNo] of [['td_dns_udp.pcap', 'udp', 1, 2], ['td_dns_tcp.pcap', 'tcp', 4, 6]] as const) {
      const conns = await runCapture(DNS_DIR + file);
      expect(rowsOf(conns, 'dns')).toEqual([expect.objectContaining({ proto, query: 'www.tcpdump.org', qtype: 1, rcode: 0, edns_udp_size: 4096, query_packet: qNo, response_packet: rNo, answers: '192.139.46.66,198.199.88.104' })]);
      const answers = rowsOf(conns, 'dns_answers');
      expect(addrsOf(answers, rNo, 1)).toBe('192.139.46.66,198.199.88.104,209.87.249.18,97.107.133.15');
      expect(addrsOf(answers, rNo, 28)).toBe('2607:f0b0:f::babe:f00d,2600:3c03::f03c:91ff:fe96:e8ef');
      expect(answers.filter((a) => a.type === 2).map((a) => a.section)).toEqual(['authority', 'authority']);
      expect(anomaliesOf(conns)).toEqual([]);
    }
  });

  it('cs_dns_tcp.pcapng: a truncated UDP answer retried over TCP; DNSKEY key tags as tshark\'s dns.dnskey.key_id', async () => {
    // tshark: frame 2 TC=1 answers 2 key_id 34336,60338; frame 10 (TCP) answers 8 key_id 47252,8058,34336,60338.
    // The TCP response starts in frame 8 (tcp.len 1: half the length prefix; tcp.segment 8,10):
    // our response_packet is where the message starts, tshark shows it where reassembly ends.
    const conns = await runCapture(DNS_DIR + 'cs_dns_tcp.pcapng');
    const rows = rowsOf(conns, 'dns');
    expect(rows.map((r) => [r.proto, r.query, r.qtype_name, r.TC, r.ancount, r.response_packet])).toEqual([['udp', 'ripe.net', '*', true, 2, 2], ['tcp', 'ripe.net', '*', false, 8, 8]]);
    const tags = (no: number) => rowsOf(conns, 'dns_answers').filter((a) => a.packet_no === no && a.type === 48).map((a) => String(a.data).match(/keytag=(\d+)/)![1]).join(',');
    expect([tags(2), tags(8)]).toEqual(['34336,60338', '47252,8058,34336,60338']);
  });

  it('arkime_dns-mx.pcap: MX answers, additional A records', async () => {
    // tshark: mx.com 15 0, dns.a 65.61.188.4,69.20.95.4, dns.mx.mail_exchange cluster5.us.messagelabs.com,cluster5a.us.messagelabs.com, preference 10,20
    const conns = await runCapture(DNS_DIR + 'arkime_dns-mx.pcap');
    expect(rowsOf(conns, 'dns')[0]).toMatchObject({ query: 'mx.com', qtype: 15, rcode: 0, answers: 'cluster5.us.messagelabs.com,cluster5a.us.messagelabs.com' });
    const answers = rowsOf(conns, 'dns_answers');
    expect(addrsOf(answers, 2, 1)).toBe('65.61.188.4,69.20.95.4');
    expect(answers.filter((a) => a.type === 15).map((a) => a.data)).toEqual(['10 cluster5.us.messagelabs.com', '20 cluster5a.us.messagelabs.com']);
  });

  it('sv_dns-udp-txt.pcap, sv_dns-udp-srv.pcap, sv_dns-udp-null.pcap', async () => {
    // tshark: google.com 16 0, dns.txt "v=spf1 include:_spf.google.com ~all"; textsecure-service-ca.whispersystems.org 1 0 34.197.178.240
    const txt = await runCapture(DNS_DIR + 'sv_dns-udp-txt.pcap');
    expect(rowsOf(txt, 'dns').map((r) => [r.query, r.qtype, r.rcode, r.answers])).toEqual([
      ['google.com', 16, 0, 'TXT 35 v=spf1 include:_spf.google.com ~all'],
      ['textsecure-service-ca.whispersystems.org', 1, 0, '34.197.178.240'],
    ]);
    // tshark: _sip._udp.sip.voice.google.com 33 0; priority 20,10 weight 1,1 port 5060,5060 targets sip-anycast-2/1
    const srv = await runCapture(DNS_DIR + 'sv_dns-udp-srv.pcap');
    expect(rowsOf(srv, 'dns_answers').filter((a) => a.type === 33).map((a) => a.data)).toEqual(['20 1 5060 sip-anycast-2.voice.google.com', '10 1 5060 sip-anycast-1.voice.google.com']);
    // tshark: vaaaakardli.pirate.sea 10 0, dns.null 5641434b4403c5e901
    const nul = await runCapture(DNS_DIR + 'sv_dns-udp-null.pcap');
    expect(rowsOf(nul, 'dns')[0]).toMatchObject({ query: 'vaaaakardli.pirate.sea', qtype: 10, rcode: 0, answers: '<unknown type=10>' });
    expect(rowsOf(nul, 'dns_answers')[0].data).toBe('5641434b4403c5e901');
    expect(anomaliesOf([...txt, ...srv, ...nul])).toEqual([]);
  });

  it('zeek_dns-caa.pcap, zeek_dns-svcb.pcap, zeek_dns-https.pcap: data as Zeek\'s event output shows it', async () => {
    // zeek_dns-caa.pcap.zeek.caa.stdout: "0, issue, symantec.com"; tshark dns.caa.* 0x00 issue symantec.com
    const caa = await runCapture(DNS_DIR + 'zeek_dns-caa.pcap');
    expect(rowsOf(caa, 'dns')[0]).toMatchObject({ query: 'google.com', qtype: 257, qtype_name: 'CAA', rcode: 0, answers: null });
    expect(rowsOf(caa, 'dns_answers')[0].data).toBe('0 issue "symantec.com"');
    // zeek_dns-svcb.pcap.zeek.svcb.output: [svc_priority=0, target_name=foo.example.com, svc_params=<uninitialized>]
    const svcb = await runCapture(DNS_DIR + 'zeek_dns-svcb.pcap');
    expect(rowsOf(svcb, 'dns_answers')[0]).toMatchObject({ type_name: 'SVCB', data: '0 foo.example.com' });
    // zeek_dns-https.pcap.zeek.https.output: priority 1, target ".", alpn [h3, h3-29, h3-28, h3-27, h2],
    // hint [104.16.132.229, 104.16.133.229] and the two IPv6 hints.
    const https = await runCapture(DNS_DIR + 'zeek_dns-https.pcap');
    expect(rowsOf(https, 'dns_answers')[0].data).toBe('1 . alpn="h3,h3-29,h3-28,h3-27,h2" ipv4hint=104.16.132.229,104.16.133.229 ipv6hint=2606:4700::6810:84e5,2606:4700::6810:85e5');
  });

  it('sv_dns-forward-pointer.pcap: the forward pointer is a bad name (tshark follows it), the pair still matches', async () => {
    // tshark: frame 1 dns.qry.name codemonkey.net,codemonkey.net; frame 2 codemonkey.net 1 0 152.53.82.239
    const conns = await runCapture(DNS_DIR + 'sv_dns-forward-pointer.pcap');
    expect(rowsOf(conns, 'dns')).toEqual([expect.objectContaining({ query: 'codemonkey.net', qdcount: 2, rcode: 0, answers: '152.53.82.239', query_packet: 1, response_packet: 2 })]);
    expect(anomaliesOf(conns)).toEqual(['dns_bad_name: question 1: a compression pointer points forward or to itself']);
  });

  it('sv_dns-truncated-rname.pcap (DNS over TCP on 1053): 1500 questions with names over 255 bytes', async () => {
    // tshark -d tcp.port==1053,dns: frame 6 dns.count.queries 1500, every dns.qry.name "<Name too long>", type 16.
    const conns = await runCapture(DNS_DIR + 'sv_dns-truncated-rname.pcap');
    const rows = rowsOf(conns, 'dns');
    expect(rows).toEqual([expect.objectContaining({ proto: 'tcp', qdcount: 1500, qtype: 16, rcode: null, query_packet: 5 })]);
    expect(String(rows[0].query).startsWith('123456789abcdef123456789abcdef.')).toBe(true);
    expect(anomaliesOf(conns)).toEqual(['dns_bad_name: question 1: name longer than 255 bytes']);
  });

  it('sv_dns-corrupt-additionals.pcap: answers kept, the broken additional record is dns_malformed (tshark: Malformed Packet)', async () => {
    const conns = await runCapture(DNS_DIR + 'sv_dns-corrupt-additionals.pcap');
    expect(rowsOf(conns, 'dns')[0]).toMatchObject({ query: '_sip._udp.sip.voice.google.com', qtype: 33, rcode: 0, answers: 'sip-anycast-2.voice.google.com,sip-anycast-1.voice.google.com' });
    expect(anomaliesOf(conns)).toEqual(['dns_malformed: additional record 1 of 1 cannot be read within the message']);
  });

  it('ndpi_malformed_dns.pcap: a second question over 255 bytes; retransmitted responses are unmatched', async () => {
    // tshark: frame 1 www.xt.com 1; frames 2,3,5,6 "www.xt.com,<Name too long>" 1,1 rcode 0 dns.a 66.66.66.66
    //   (3 and 6 are "DNS response retransmission"); frame 4 www.xt.com 1.
    const conns = await runCapture(DNS_DIR + 'ndpi_malformed_dns.pcap');
    const rows = rowsOf(conns, 'dns');
    expect(rows.map((r) => [r.query, r.qtype, r.rcode, r.query_packet, r.response_packet])).toEqual([
      ['www.xt.com', 1, 0, 1, 2], ['www.xt.com', 1, 0, null, 3], ['www.xt.com', 1, 0, 4, 5], ['www.xt.com', 1, 0, null, 6],
    ]);
    for (const no of [2, 3, 5, 6]) expect(addrsOf(rowsOf(conns, 'dns_answers'), no, 1)).toBe('66.66.66.66');
    expect(anomaliesOf(conns).filter((a) => a.startsWith('dns_bad_name'))).toHaveLength(4);
  });

  it('sv_dns-tcp-multirequest-buffer.pcap: 20 queries in one segment, 20 responses', async () => {
    // tshark: frame 4 ids 0x0000..0x0013 names 0.google.com..19.google.com; frames 8,10,..,46 one response each, rcode 3.
    const conns = await runCapture(DNS_DIR + 'sv_dns-tcp-multirequest-buffer.pcap');
    const rows = rowsOf(conns, 'dns');
    expect(rows.map((r) => [r.trans_id, r.query, r.rcode_name, r.query_packet, r.response_packet])).toEqual(
      Array.from({ length: 20 }, (_, i) => [i, `${i}.google.com`, 'NXDOMAIN', 4, 8 + 2 * i]),
    );
    expect(anomaliesOf(conns)).toEqual([]);
  });

  it('td_edns-opts.pcap: EDNS payload sizes of the queries', async () => {
    // tshark -e frame.number -e dns.rr.udp_payload_size: frame 1 none, 3 12345, 5.. 4096; every response example.com A 93.184.216.34.
    const conns = await runCapture(DNS_DIR + 'td_edns-opts.pcap');
    const rows = rowsOf(conns, 'dns');
    expect(rows.slice(0, 3).map((r) => [r.query_packet, r.edns_udp_size])).toEqual([[1, null], [3, 12345], [5, 4096]]);
    expect(rows.every((r) => r.query === 'example.com' && r.rcode === 0 && String(r.answers).startsWith('93.184.216.34'))).toBe(true);
    expect(rows).toHaveLength(21);
  });

  it('ndpi_dns-invalid-chars.pcap: control bytes in names exactly as tshark prints them', async () => {
    // tshark -e dns.qry.name: frame 1 www.allyourba\004\005\006arebelongto.cn, frame 2 www.allyourbasesare\001\002\003ongto.cn (19.185.141.241)
    const conns = await runCapture(DNS_DIR + 'ndpi_dns-invalid-chars.pcap');
    const rows = rowsOf(conns, 'dns');
    expect(rows.map((r) => r.query).sort()).toEqual(['www.allyourba\\004\\005\\006arebelongto.cn', 'www.allyourbasesare\\001\\002\\003ongto.cn']);
    // Same id, different names: not paired (a response for another question).
    expect(anomaliesOf(conns)).toEqual(['dns_unmatched_response: transaction id 40812']);
  });
});

describe('every capture of the DNS corpus', () => {
  it('parses without throwing; only DNS anomalies; every DNS-port connection names its service', async () => {
    const files = readdirSync(DNS_DIR).filter((f) => /\.(pcap|pcapng)$/.test(f));
    expect(files.length).toBeGreaterThan(60);
    let rows = 0;
    for (const f of files) {
      const conns = await runCapture(DNS_DIR + f);
      for (const c of conns) {
        for (const a of c.sink.anomalies) expect(a.name, `${f}: ${a.detail}`).toMatch(/^dns_/);
        if (c.sink.table('dns').length > 0) expect(c.sink.services).toEqual(['dns']);
        rows += c.sink.table('dns').length;
      }
    }
    expect(rows).toBeGreaterThan(200);
  });
});

describe('real captures against Zeek dns.log baselines (answers, TTLs, rcode, qtype)', () => {
  /** Our answered rows against Zeek's rows with the same transaction id and a response. */
  async function compare(pcap: string, log: string, o: { port53Only?: boolean } = {}): Promise<number> {
    const conns = (await runCapture(pcap)).filter((c) => !o.port53Only || c.resp.endsWith(':53'));
    const ours = rowsOf(conns, 'dns').filter((r) => r.rcode !== null);
    const zeek = zeekLog(log).filter((z) => z.rcode !== '-' && (!o.port53Only || z['id.resp_p'] === '53'));
    let compared = 0;
    for (const z of zeek) {
      const mine = ours.find((r) => String(r.trans_id) === z.trans_id && (z.query === '-' || String(r.query).toLowerCase() === z.query));
      expect(mine, `${pcap} trans_id ${z.trans_id}`).toBeDefined();
      expect([dash(mine!.answers), dash(mine!.TTLs), String(mine!.rcode), mine!.rcode_name]).toEqual([z.answers, z.TTLs, z.rcode, z.rcode_name]);
      if (z.qtype !== '-') expect([String(mine!.qtype), mine!.qtype_name, mine!.qclass_name]).toEqual([z.qtype, z.qtype_name, z.qclass_name]);
      compared++;
    }
    return compared;
  }

  it('zeek_wikipedia.pcap (port 53)', async () => {
    expect(await compare(ZEEK_REF + 'zeek_wikipedia.pcap', ZEEK_REF + 'zeek_wikipedia.pcap.zeek.basic.dns.log', { port53Only: true })).toBe(14);
  });

  it.each([
    ['zeek_dns-spf.pcap', 'zeek_dns-spf.pcap.zeek.spf.dns.log', 1],
    ['zeek_dns-two-responses.pcap', 'zeek_dns-two-responses.pcap.zeek.duplicate-reponses.dns.log', 2],
    ['zeek_dns-txt-multiple.pcap', 'zeek_dns-txt-multiple.pcap.zeek.multiple-txt-strings.dns.log', 1],
    ['zeek_dns-zero-RRs.pcap', 'zeek_dns-zero-RRs.pcap.zeek.zero-responses.dns.log', 1],
    ['zeek_dnssec_dnskey.pcap', 'zeek_dnssec_dnskey.pcap.zeek.dnskey.dns.log', 1],
    ['zeek_dnssec_ds.pcap', 'zeek_dnssec_ds.pcap.zeek.ds.dns.log', 1],
    ['zeek_dnssec_rrsig.pcap', 'zeek_dnssec_rrsig.pcap.zeek.rrsig.dns.log', 3],
    ['zeek_dnssec_nsec3.pcap', 'zeek_dnssec_nsec3.pcap.zeek.nsec3.dns.log', 1],
    ['zeek_dns_sshfp-trunc.pcap', 'zeek_dns_sshfp-trunc.pcap.zeek.sshfp.dns.log', 2],
    ['zeek_dns_loc-29-trunc.pcap', 'zeek_dns_loc-29-trunc.pcap.zeek.loc.dns.log', 1],
    ['zeek_dns_dns-wks.pcap', 'zeek_dns_dns-wks.pcap.zeek.wks.dns.log', 1],
  ])('%s', async (pcap, log, n) => {
    expect(await compare(DNS_DIR + pcap, DNS_DIR + log)).toBe(n);
  });

  it('zeek_dns_naptr.pcap (cut log: uid query qclass_name qtype_name answers)', async () => {
    const conns = await runCapture(DNS_DIR + 'zeek_dns_naptr.pcap');
    const cut = readFileSync(DNS_DIR + 'zeek_dns_naptr.pcap.zeek.naptr.dns.log.cut', 'utf8').trim().split('\n').at(-1)!.split('\t');
    expect([rowsOf(conns, 'dns')[0].query, rowsOf(conns, 'dns')[0].qclass_name, rowsOf(conns, 'dns')[0].qtype_name, rowsOf(conns, 'dns')[0].answers]).toEqual(cut.slice(1));
  });
});
