/**
 * DNS: a pure message parser (`parseDnsMessage`) and the per-connection parsers that pair queries
 * with responses and write `dns` (one row per transaction, Zeek's dns.log) and `dns_answers` (one
 * row per resource record of every response) for UDP (`createDnsUdp`) and TCP (`createDnsTcp`,
 * RFC 1035 4.2.2 two-byte length prefix).
 *
 * Text follows the tools analysts compare with:
 * - Names are rendered as tshark 4.0 prints `dns.qry.name`: printable ASCII as is (dots and
 *   backslashes inside labels included), C0 controls as \a \b \t \n \v \f \r or three-digit octal,
 *   UTF-8 decoded leniently with bad sequences as U+FFFD and non-printable code points as \uXXXX.
 *   Case is kept (Zeek lowercases). The root name is the empty string (tshark shows "<Root>").
 * - `answers` / `TTLs` are Zeek's dns.log vectors joined with commas: Zeek's per-type summary
 *   ("TXT 12 text", "RRSIG 5 example.com", "<unknown type=10>", ...) with names lowercased as Zeek
 *   does, answer section only, types Zeek does not summarise (HINFO, CAA, SVCB/HTTPS, WKS) left
 *   out; a comma inside an element is written \x2c as Zeek's writer does.
 * - `dns_answers.data` is our own zone-file-like text (dig style) for every record, case kept.
 *
 * Deliberate differences from Zeek and Wireshark:
 * - A compression pointer must point strictly before the start of the label sequence it
 *   interrupts (as Zeek; Wireshark and Suricata follow forward pointers), so every name decode
 *   terminates; a name with a bad pointer, a bad label type or more than 255 bytes is reported
 *   (`dns_bad_name`) and keeps the labels read before the problem, where tshark prints a
 *   placeholder ("<Name too long>").
 * - Every opcode is paired and logged (Zeek's base script logs standard queries only). AA, TC and
 *   RA come from the response, RD and Z (Zeek's 3 bits: Z, AD, CD) from the query; `rejected` is
 *   "the response has a non-zero rcode" (Zeek: an error rcode without questions, or no records).
 *   A response whose question differs from the pending query with its id is not paired.
 * - Over TCP a message's time and frame are those of its first byte (tshark names the frame where
 *   its reassembly ends).
 *
 * Memory per connection is bounded: at most MAX_PENDING parsed queries wait for a response, and
 * a TCP direction keeps at most one partial message (65535 bytes, the 16-bit length prefix's limit).
 */
import type { AnomalyName } from '../../common/anomalies.js';
import { DNS, DNS_ANSWERS } from '../../common/fields.js';
import { formatIPv4, formatIPv6 } from '../decode/addr.js';
import type { AppSink, DatagramParser, Dir, StreamParser, Ts } from './types.js';

// ---------------------------------------------------------------------------------------------
// Names of types, classes and rcodes (Zeek's DNS::query_types, DNS::classes, DNS::base_errors)

const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 3: 'MD', 4: 'MF', 5: 'CNAME', 6: 'SOA', 7: 'MB', 8: 'MG', 9: 'MR', 10: 'NULL',
  11: 'WKS', 12: 'PTR', 13: 'HINFO', 14: 'MINFO', 15: 'MX', 16: 'TXT', 17: 'RP', 18: 'AFSDB',
  19: 'X25', 20: 'ISDN', 21: 'RT', 22: 'NSAP', 23: 'NSAP-PTR', 24: 'SIG', 25: 'KEY', 26: 'PX',
  27: 'GPOS', 28: 'AAAA', 29: 'LOC', 30: 'NXT', 31: 'EID', 32: 'NIMLOC', 33: 'SRV', 34: 'ATMA',
  35: 'NAPTR', 36: 'KX', 37: 'CERT', 38: 'A6', 39: 'DNAME', 40: 'SINK', 41: 'OPT', 42: 'APL',
  43: 'DS', 44: 'SSHFP', 45: 'IPSECKEY', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 49: 'DHCID',
  50: 'NSEC3', 51: 'NSEC3PARAM', 52: 'TLSA', 53: 'SMIMEA', 55: 'HIP', 56: 'NINFO', 57: 'RKEY',
  58: 'TALINK', 59: 'CDS', 60: 'CDNSKEY', 61: 'OPENPGPKEY', 62: 'CSYNC', 63: 'ZONEMD', 64: 'SVCB',
  65: 'HTTPS', 99: 'SPF', 100: 'UINFO', 101: 'UID', 102: 'GID', 103: 'UNSPEC', 104: 'NID',
  105: 'L32', 106: 'L64', 107: 'LP', 108: 'EUI48', 109: 'EUI64', 249: 'TKEY', 250: 'TSIG',
  251: 'IXFR', 252: 'AXFR', 253: 'MAILB', 254: 'MAILA', 255: '*', 256: 'URI', 257: 'CAA',
  32768: 'TA', 32769: 'DLV', 65281: 'WINS', 65282: 'WINS-R', 65422: 'XPF', 65521: 'INTEGRITY',
};

const CLASS_NAMES: Record<number, string> = {
  1: 'C_INTERNET', 2: 'C_CSNET', 3: 'C_CHAOS', 4: 'C_HESIOD', 254: 'C_NONE', 255: 'C_ANY',
};

const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
  6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSet', 9: 'NOTAUTH', 10: 'NOTZONE', 11: 'unassigned-11',
  12: 'unassigned-12', 13: 'unassigned-13', 14: 'unassigned-14', 15: 'unassigned-15',
  16: 'BADVERS', 17: 'BADKEY', 18: 'BADTIME', 19: 'BADMODE', 20: 'BADNAME', 21: 'BADALG',
  22: 'BADTRUNC', 23: 'BADCOOKIE', 3842: 'BADSIG',
};

/**
 * A lookup of names by number: an array for the small numbers, a Map for the rest. The objects
 * above have keys up to 65521, which makes V8 keep them as dictionaries (a hash lookup per call;
 * about 70 ns, called for every DNS question, record and response).
 */
function nameLookup(names: Record<number, string>, unknown: string): (n: number) => string {
  const small: string[] = [];
  const large = new Map<number, string>();
  for (let i = 0; i < 1024; i++) small.push(names[i] ?? `${unknown}-${i}`);
  for (const [k, v] of Object.entries(names)) if (Number(k) >= 1024) large.set(Number(k), v);
  return (n) => (n >= 0 && n < 1024 ? small[n] : (large.get(n) ?? `${unknown}-${n}`));
}

/** Zeek's name of a query/record type ("A", "*" for ANY, "query-N" when unknown). */
export const dnsTypeName: (t: number) => string = nameLookup(TYPE_NAMES, 'query');

/** Zeek's name of a class ("C_INTERNET", "qclass-N" when unknown, e.g. mDNS's unicast bit). */
export const dnsClassName: (c: number) => string = nameLookup(CLASS_NAMES, 'qclass');

/** Zeek's name of a response code ("NOERROR", "NXDOMAIN", "rcode-N" when unknown). */
export const dnsRcodeName: (r: number) => string = nameLookup(RCODE_NAMES, 'rcode');

// ---------------------------------------------------------------------------------------------
// The parsed message

export type DnsSection = 'answer' | 'authority' | 'additional';

export interface DnsQuestion {
  /** The name, or the labels read before the problem when `badName`. */
  name: string;
  qtype: number;
  qclass: number;
  /** The name was reported as dns_bad_name (loop, forward pointer, too long, bad label). */
  badName: boolean;
}

export interface DnsRecord {
  section: DnsSection;
  name: string;
  type: number;
  cls: number;
  ttl: number;
  /** Record data as text (dig-like presentation, hex for unknown types). */
  data: string;
  /** Zeek's summary for dns.log `answers`, or null when Zeek logs nothing for this record. */
  zeek: string | null;
}

export interface DnsEdns {
  udpSize: number;
  extRcode: number;
  version: number;
  dnssecOk: boolean;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** Zeek's Z: the three bits after RA (Z, AD, CD). */
  z: number;
  /** Response code including the EDNS extended bits (ext << 4 | rcode). */
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
  questions: readonly DnsQuestion[];
  /** Records of the three sections in order; OPT pseudo-records are not included. */
  records: readonly DnsRecord[];
  /** The first OPT record, or null. */
  edns: DnsEdns | null;
  /** False when the message ended before its counts said (dns_malformed was reported). */
  complete: boolean;
}

type OnAnomaly = (name: AnomalyName, detail: string) => void;

const HEADER_LEN = 12;
/** RFC 1035 2.3.4: a name is at most 255 bytes on the wire. */
const MAX_NAME_WIRE = 255;
/** Compression pointers followed per name before giving up (bounds the work of a crafted chain). */
const MAX_POINTER_JUMPS = 128;
const TYPE_OPT = 41;

// ---------------------------------------------------------------------------------------------
// Text (tshark's format_text) and byte encodings

/** Escapes of the ASCII bytes: printable as is, C0 controls and DEL as tshark prints them. */
const ASCII_TEXT: string[] = Array.from({ length: 128 }, (_, c) => {
  if (c >= 0x20 && c < 0x7f) return String.fromCharCode(c);
  const named: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
  return named[c] ?? '\\' + c.toString(8).padStart(3, '0');
});

/** Code points glib's g_unichar_isprint rejects: control, format, unassigned, surrogate. */
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cn}\p{Cs}]/u;

function latin1(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('latin1');
}

function hex(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('hex');
}

function base64(b: Uint8Array, s: number, e: number): string {
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('base64');
}

function escapeCodePoint(cp: number): string {
  const h = cp.toString(16).toUpperCase();
  return cp <= 0xffff ? '\\u' + h.padStart(4, '0') : '\\U' + h.padStart(8, '0');
}

/**
 * Bytes as text the way Wireshark's format_text shows them: a lead byte takes as many
 * continuation bytes as it announces (old 5- and 6-byte forms included, overlong forms accepted);
 * a missing continuation byte, a surrogate or a value past U+10FFFF becomes one U+FFFD.
 */
export function formatText(b: Uint8Array, s: number, e: number): string {
  let i = s;
  while (i < e && b[i] >= 0x20 && b[i] < 0x7f) i++;
  if (i === e) return latin1(b, s, e);
  let out = latin1(b, s, i);
  while (i < e) {
    const c = b[i++];
    if (c < 0x80) {
      out += ASCII_TEXT[c];
      continue;
    }
    const more = c >= 0xfe ? -1 : c >= 0xfc ? 5 : c >= 0xf8 ? 4 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : -1;
    if (more < 0) {
      out += '\uFFFD';
      continue;
    }
    let cp = c & (0x3f >> more);
    let ok = true;
    for (let k = 0; k < more; k++) {
      if (i >= e || (b[i] & 0xc0) !== 0x80) {
        ok = false;
        break;
      }
      cp = cp * 64 + (b[i++] & 0x3f);
    }
    if (!ok || cp >= 0x110000 || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += '\uFFFD';
      continue;
    }
    const ch = String.fromCodePoint(cp);
    out += NOT_PRINTABLE.test(ch) ? escapeCodePoint(cp) : ch;
  }
  return out;
}

const BASE32HEX = '0123456789abcdefghijklmnopqrstuv';

/** RFC 4648 base32hex without padding (NSEC3 hashed owner names). */
function base32hex(b: Uint8Array, s: number, e: number): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (let i = s; i < e; i++) {
    acc = ((acc << 8) | b[i]) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32HEX[(acc >> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32HEX[(acc << (5 - bits)) & 31];
  return out;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Names

/** Presentation bytes of the name being read: at most 253 (255 on the wire minus the ends). */
const nameBuf = Buffer.alloc(MAX_NAME_WIRE + 1);
/** Results of the last readName call besides its text (names are read one at a time). */
let nameEnd = -1;
let nameProblem: string | null = null;
/** Compression pointers the last readName followed. */
let nameJumps = 0;

/**
 * Reads the name at `pos` of the message [msgStart, msgEnd). Sets `nameEnd` to the position after
 * the name where it is written, or -1 when that end cannot be found (the name runs past the
 * message or uses an unsupported label type), and `nameProblem` to what is wrong with the name,
 * if anything. A bad name whose end is known keeps the labels read before the problem.
 */
function readName(b: Uint8Array, msgStart: number, msgEnd: number, pos: number): string {
  let p = pos;
  let seqStart = pos;
  let end = -1;
  let jumps = 0;
  let len = 0;
  let wire = 1;
  let problem: string | null = null;
  for (;;) {
    if (p >= msgEnd || (b[p] >= 0xc0 && p + 1 >= msgEnd)) {
      problem = 'the name runs past the end of the message';
      break;
    }
    const c = b[p];
    if (c === 0) {
      if (end < 0) end = p + 1;
      break;
    }
    if (c >= 0xc0) {
      if (end < 0) end = p + 2;
      if (problem !== null) break; // too long already: only its end was still needed
      const target = msgStart + (((c & 0x3f) << 8) | b[p + 1]);
      if (target >= seqStart) {
        problem = target >= p ? 'a compression pointer points forward or to itself' : 'a compression pointer points into its own name';
        break;
      }
      if (++jumps > MAX_POINTER_JUMPS) {
        problem = `more than ${MAX_POINTER_JUMPS} compression pointers`;
        break;
      }
      p = target;
      seqStart = target;
      continue;
    }
    if (c > 63) {
      problem = `label type 0x${c.toString(16)} is not supported`;
      break;
    }
    if (p + 1 + c > msgEnd) {
      problem = 'the name runs past the end of the message';
      break;
    }
    wire += c + 1;
    if (problem === null && wire > MAX_NAME_WIRE) problem = `name longer than ${MAX_NAME_WIRE} bytes`;
    if (problem === null) {
      if (len > 0) nameBuf[len++] = 0x2e;
      for (let i = p + 1; i <= p + c; i++) nameBuf[len++] = b[i];
    } else if (end >= 0) {
      break;
    }
    p += 1 + c;
  }
  nameEnd = end;
  nameProblem = problem;
  nameJumps = jumps;
  // the usual name is printable ASCII: one string straight from the buffer
  let i = 0;
  while (i < len && nameBuf[i] >= 0x20 && nameBuf[i] < 0x7f) i++;
  return i === len ? nameBuf.toString('latin1', 0, len) : formatText(nameBuf, 0, len);
}

// ---------------------------------------------------------------------------------------------
// The message parser

/** Per-message state of the parser: the bytes and the anomalies already reported. */
class MessageReader {
  private reported = 0;
  /**
   * The first question's name when it starts right after the header, without compression
   * pointers or problems: an answer's owner is usually a pointer to it (offset 12), and reading
   * through that pointer gives the same name (one more pointer followed, none before it).
   */
  headName: string | null = null;
  constructor(
    readonly b: Uint8Array,
    readonly start: number,
    readonly end: number,
    private readonly onAnomaly: OnAnomaly,
  ) {}

  /** Reports each anomaly once per message (a crafted message could repeat one thousands of times). */
  report(name: 'dns_malformed' | 'dns_bad_name', detail: string): void {
    const bit = name === 'dns_malformed' ? 1 : 2;
    if (this.reported & bit) return;
    this.reported |= bit;
    this.onAnomaly(name, detail);
  }

  /**
   * A name, or null when its end cannot be found. Bad names are reported (dns_bad_name) and kept;
   * a name cut off by the end of the message is left for the caller to report (dns_malformed).
   */
  name(pos: number, what: string, whatTail: string | number = ''): string | null {
    if (this.headName !== null && this.b[pos] === 0xc0 && this.b[pos + 1] === HEADER_LEN && pos + 1 < this.end) {
      nameEnd = pos + 2;
      nameProblem = null;
      return this.headName;
    }
    const text = readName(this.b, this.start, this.end, pos);
    const end = nameEnd;
    const problem = nameProblem;
    if (problem !== null && (end >= 0 || problem.startsWith('label type'))) {
      // what the name is ("question 1", "answer record owner") is put together only when reported
      this.report('dns_bad_name', `${what}${whatTail}: ${problem}`);
      // the report may have parsed another message (re-entry): this name's results are put back
      nameEnd = end;
      nameProblem = problem;
    }
    return end < 0 ? null : text;
  }

  /** A name inside rdata [pos, re): null (and nameEnd -1) unless it ends within the rdata. */
  rdName(pos: number, re: number, what: string, whatTail = ''): string | null {
    const text = this.name(pos, what, whatTail);
    if (text === null || nameEnd > re) {
      nameEnd = -1;
      return null;
    }
    return text;
  }
}

const SECTIONS: readonly DnsSection[] = ['answer', 'authority', 'additional'];

/**
 * The questions and records of a message that has none. Empty arrays of object elements, shared
 * and never written: a literal `[]` has V8's small-integer element kind, and optimised code that
 * had only seen arrays of objects there was thrown away at the first message without questions.
 */
const NO_QUESTIONS: DnsQuestion[] = [null as unknown as DnsQuestion].slice(1);
const NO_RECORDS: DnsRecord[] = [null as unknown as DnsRecord].slice(1);

/**
 * Parses one DNS message `b[start, end)`. Returns null when even the 12-byte header is missing;
 * otherwise the header and whatever sections parsed (`complete` false and `dns_malformed`
 * reported when a question or record runs past the end).
 */
export function parseDnsMessage(b: Uint8Array, start: number, end: number, onAnomaly: OnAnomaly): DnsMessage | null {
  if (end - start < HEADER_LEN) {
    onAnomaly('dns_malformed', `message of ${Math.max(0, end - start)} bytes is shorter than the 12-byte header`);
    return null;
  }
  const flags = u16(b, start + 2);
  const msg: DnsMessage = {
    id: u16(b, start),
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 15,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    z: (flags >> 4) & 7,
    rcode: flags & 15,
    qdcount: u16(b, start + 4),
    ancount: u16(b, start + 6),
    nscount: u16(b, start + 8),
    arcount: u16(b, start + 10),
    questions: NO_QUESTIONS,
    records: NO_RECORDS,
    edns: null,
    complete: false,
  };
  const r = new MessageReader(b, start, end, onAnomaly);
  let questions: DnsQuestion[] = [];
  let p = start + HEADER_LEN;
  for (let i = 0; i < msg.qdcount; i++) {
    const name = r.name(p, 'question ', i + 1);
    if (name === null || nameEnd + 4 > end) {
      r.report('dns_malformed', `question ${i + 1} of ${msg.qdcount} cannot be read within the message`);
      return msg;
    }
    const badName = nameProblem !== null;
    if (i === 0 && !badName && nameJumps === 0 && p === start + HEADER_LEN) r.headName = name;
    p = nameEnd;
    const q: DnsQuestion = { name, qtype: u16(b, p), qclass: u16(b, p + 2), badName };
    if (i === 0) msg.questions = questions = [q]; // the usual single question: an array of one, not a grown one
    else questions.push(q);
    p += 4;
  }
  // records are collected in a reused array and the message gets an exact-size copy; from `base`
  // on, so that a parse started inside another's onAnomaly, or one that throws, leaves the other alone
  const base = records.length;
  try {
    msg.complete = parseSections(r, msg, p);
    if (records.length > base) msg.records = records.slice(base);
  } finally {
    records.length = base;
  }
  return msg;
}

/** Records of the message being parsed (one message at a time). */
const records: DnsRecord[] = [];

/** The answer, authority and additional sections from `p`; false when they run past the end (reported). */
function parseSections(r: MessageReader, msg: DnsMessage, p: number): boolean {
  for (let k = 0; k < 3; k++) {
    const section = SECTIONS[k];
    const count = k === 0 ? msg.ancount : k === 1 ? msg.nscount : msg.arcount;
    for (let i = 0; i < count; i++) {
      p = parseRecord(r, msg, section, p);
      if (p < 0) {
        r.report('dns_malformed', `${section} record ${i + 1} of ${count} cannot be read within the message`);
        return false;
      }
    }
  }
  return true;
}

/** Parses the record at `p`; returns the position after it, or -1 when it runs past the end. */
function parseRecord(r: MessageReader, msg: DnsMessage, section: DnsSection, p: number): number {
  const b = r.b;
  const name = r.name(p, section, ' record owner');
  if (name === null || nameEnd + 10 > r.end) return -1;
  p = nameEnd;
  const type = u16(b, p);
  const cls = u16(b, p + 2);
  const ttl = u32(b, p + 4);
  const rdlen = u16(b, p + 8);
  const rs = p + 10;
  const re = rs + rdlen;
  if (re > r.end) return -1;
  if (type === TYPE_OPT) {
    if (msg.edns === null) {
      msg.edns = { udpSize: cls, extRcode: ttl >>> 24, version: (ttl >>> 16) & 255, dnssecOk: (ttl & 0x8000) !== 0 };
      msg.rcode = (msg.edns.extRcode << 4) | (msg.rcode & 15);
    }
    return re;
  }
  rdata(r, type, name, rs, re);
  records.push({ section, name, type, cls, ttl, data: rdData, zeek: rdZeek });
  return re;
}

// ---------------------------------------------------------------------------------------------
// Record data

/** Results of rdata(): the record's text and Zeek's summary (set together, read at once). */
let rdData = '';
let rdZeek: string | null = null;

/**
 * A name as Zeek logs it: ASCII letters lowercased (Zeek folds every name it extracts), our
 * \\uXXXX escapes left alone.
 */
function zeekName(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/\\u[0-9A-F]{4}|\\U[0-9A-F]{8}|[A-Z]+/g, (m) => (m[0] === '\\' ? m : m.toLowerCase())) : name;
}

/** Names inside rdata text: the root as "." (a bare "" would read as a missing field). */
function dot(name: string): string {
  return name === '' ? '.' : name;
}

/** A character-string (length byte + bytes) at p within [p, re): its text, or null. */
let strEnd = 0;
function charString(b: Uint8Array, p: number, re: number): string | null {
  if (p >= re || p + 1 + b[p] > re) return null;
  strEnd = p + 1 + b[p];
  return formatText(b, p + 1, strEnd);
}

function quote(s: string): string {
  return '"' + s.replace(/"/g, '\\"') + '"';
}

/** Types in an NSEC/NSEC3 type bitmap (RFC 4034 4.1.2), or null when the bitmap is malformed. */
function typeBitmap(b: Uint8Array, p: number, re: number): string | null {
  const types: string[] = [];
  while (p < re) {
    if (p + 2 > re) return null;
    const win = b[p];
    const n = b[p + 1];
    if (n < 1 || n > 32 || p + 2 + n > re) return null;
    for (let i = 0; i < n; i++) {
      const byte = b[p + 2 + i];
      for (let bit = 0; bit < 8; bit++) if (byte & (0x80 >> bit)) types.push(dnsTypeName(win * 256 + i * 8 + bit));
    }
    p += 2 + n;
  }
  return types.join(' ');
}

/** RRSIG times as dig prints them: YYYYMMDDHHMMSS (UTC). */
function sigTime(t: number): string {
  return new Date(t * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** RFC 4034 appendix B key tag of a DNSKEY rdata. */
function keyTag(b: Uint8Array, rs: number, re: number): number {
  let ac = 0;
  for (let i = rs; i < re; i++) ac += (i - rs) & 1 ? b[i] : b[i] << 8;
  ac += (ac >>> 16) & 0xffff;
  return ac & 0xffff;
}

const SVC_KEYS = ['mandatory', 'alpn', 'no-default-alpn', 'port', 'ipv4hint', 'ech', 'ipv6hint'];

/** SVCB/HTTPS parameters (RFC 9460) as key=value pairs, or null when malformed. */
function svcParams(b: Uint8Array, p: number, re: number): string | null {
  const out: string[] = [];
  while (p < re) {
    if (p + 4 > re) return null;
    const key = u16(b, p);
    const len = u16(b, p + 2);
    const vs = p + 4;
    const ve = vs + len;
    if (ve > re) return null;
    const name = SVC_KEYS[key] ?? `key${key}`;
    let value: string | null;
    switch (key) {
      case 0: {
        const keys: string[] = [];
        for (let q = vs; q + 1 < ve; q += 2) keys.push(SVC_KEYS[u16(b, q)] ?? `key${u16(b, q)}`);
        value = len % 2 === 0 ? keys.join(',') : null;
        break;
      }
      case 1: {
        const ids: string[] = [];
        let q = vs;
        while (q < ve) {
          const s = charString(b, q, ve);
          if (s === null) break;
          ids.push(s);
          q = strEnd;
        }
        value = q === ve ? quote(ids.join(',')) : null;
        break;
      }
      case 2:
        value = len === 0 ? '' : null;
        break;
      case 3:
        value = len === 2 ? String(u16(b, vs)) : null;
        break;
      case 4:
      case 6: {
        const size = key === 4 ? 4 : 16;
        const addrs: string[] = [];
        for (let q = vs; q + size <= ve; q += size) addrs.push(size === 4 ? formatIPv4(b, q) : formatIPv6(b, q));
        value = len % size === 0 && len > 0 ? addrs.join(',') : null;
        break;
      }
      case 5:
        value = base64(b, vs, ve);
        break;
      default:
        value = hex(b, vs, ve);
    }
    if (value === null) return null;
    out.push(value === '' && key === 2 ? name : `${name}=${value}`);
    p = ve;
  }
  return out.join(' ');
}

/**
 * Sets rdData/rdZeek for the record data [rs, re) of `type`. Data that does not fit its type is
 * shown as hex (reported as dns_malformed) and gets no Zeek summary.
 */
function rdata(r: MessageReader, type: number, owner: string, rs: number, re: number): void {
  if (rs === re) {
    // Empty data is how dynamic updates (RFC 2136) name whole RRsets: not an error.
    rdData = '';
    rdZeek = null;
    return;
  }
  const data = typedRdata(r, type, owner, rs, re);
  if (data === null) {
    r.report('dns_malformed', `${dnsTypeName(type)} record data does not match its length (${re - rs} bytes)`);
    rdData = hex(r.b, rs, re);
    rdZeek = null;
    return;
  }
  rdData = data;
}

/** The presentation of one type's data, also setting rdZeek; null when the data does not fit. */
type RdataFormatter = (r: MessageReader, type: number, owner: string, rs: number, re: number) => string | null;

const unknownZeek = (type: number): string => `<unknown type=${type}>`;
const appendIfAny = (head: string, tail: string): string => (tail === '' ? head : `${head} ${tail}`);

function addressData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const v4 = type === 1;
  if (re - rs !== (v4 ? 4 : 16)) return null;
  rdZeek = v4 ? formatIPv4(r.b, rs) : formatIPv6(r.b, rs);
  return rdZeek;
}

/** NS, CNAME, PTR (Zeek logs the name) and the other single-name types (Zeek: unknown). */
function nameData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const name = r.rdName(rs, re, dnsTypeName(type), ' data');
  if (name === null || nameEnd !== re) return null;
  rdZeek = type === 2 || type === 5 || type === 12 ? zeekName(name) : unknownZeek(type);
  return dot(name);
}

/** MX (Zeek logs the exchange) and the other preference + name types. */
function preferenceNameData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 3) return null;
  const name = r.rdName(rs + 2, re, dnsTypeName(type), ' data');
  if (name === null || nameEnd !== re) return null;
  rdZeek = type === 15 ? zeekName(name) : unknownZeek(type);
  return `${u16(r.b, rs)} ${dot(name)}`;
}

function soaData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  const mname = r.rdName(rs, re, 'SOA mname');
  if (mname === null) return null;
  const rname = r.rdName(nameEnd, re, 'SOA rname');
  if (rname === null || nameEnd + 20 !== re) return null;
  const b = r.b;
  const q = nameEnd;
  rdZeek = zeekName(mname);
  return `${dot(mname)} ${dot(rname)} ${u32(b, q)} ${u32(b, q + 4)} ${u32(b, q + 8)} ${u32(b, q + 12)} ${u32(b, q + 16)}`;
}

/** TXT and SPF: every string quoted; Zeek writes "TXT <length> <text>" per string. */
function textData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const strs: string[] = [];
  const zeek: string[] = [];
  const tag = type === 16 ? 'TXT' : 'SPF';
  for (let p = rs; p < re; p = strEnd) {
    const s = charString(r.b, p, re);
    if (s === null) return null;
    strs.push(quote(s));
    zeek.push(`${tag} ${r.b[p]} ${s}`);
  }
  rdZeek = zeek.join(' ');
  return strs.join(' ');
}

/** HINFO: Zeek raises an event but logs nothing. */
function hinfoData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  const cpu = charString(r.b, rs, re);
  if (cpu === null) return null;
  const os = charString(r.b, strEnd, re);
  if (os === null || strEnd !== re) return null;
  return `${quote(cpu)} ${quote(os)}`;
}

function srvData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 7) return null;
  const target = r.rdName(rs + 6, re, 'SRV target');
  if (target === null || nameEnd !== re) return null;
  rdZeek = zeekName(target);
  return `${u16(r.b, rs)} ${u16(r.b, rs + 2)} ${u16(r.b, rs + 4)} ${dot(target)}`;
}

/** NAPTR; Zeek's text leaves out an empty regexp or replacement. */
function naptrData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 4) return null;
  const flags = charString(b, rs + 4, re);
  if (flags === null) return null;
  const service = charString(b, strEnd, re);
  if (service === null) return null;
  const regexp = charString(b, strEnd, re);
  if (regexp === null) return null;
  const repl = r.rdName(strEnd, re, 'NAPTR replacement');
  if (repl === null || nameEnd !== re) return null;
  const order = u16(b, rs);
  const pref = u16(b, rs + 2);
  const tail = regexp !== '' && repl !== '' ? `${regexp} ${zeekName(repl)}` : regexp + zeekName(repl);
  rdZeek = `NAPTR ${order} ${pref} ${flags} ${service} ${tail}`;
  return `${order} ${pref} ${quote(flags)} ${quote(service)} ${quote(regexp)} ${dot(repl)}`;
}

/** CAA: Zeek raises an event but logs nothing. */
function caaData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 2 || rs + 2 + b[rs + 1] > re) return null;
  const tagEnd = rs + 2 + b[rs + 1];
  return `${b[rs]} ${formatText(b, rs + 2, tagEnd)} ${quote(formatText(b, tagEnd, re))}`;
}

/** SVCB and HTTPS (RFC 9460): Zeek raises an event but logs nothing. */
function svcbData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 3) return null;
  const target = r.rdName(rs + 2, re, dnsTypeName(type), ' target');
  if (target === null) return null;
  const params = svcParams(r.b, nameEnd, re);
  if (params === null) return null;
  return appendIfAny(`${u16(r.b, rs)} ${dot(target)}`, params);
}

/** DS (Zeek: "DS <algorithm> <digest type>"), CDS, DLV. */
function dsData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 5) return null;
  rdZeek = type === 43 ? `DS ${b[rs + 2]} ${b[rs + 3]}` : unknownZeek(type);
  return `${u16(b, rs)} ${b[rs + 2]} ${b[rs + 3]} ${hex(b, rs + 4, re).toUpperCase()}`;
}

/** DNSKEY (Zeek: "DNSKEY <algorithm>"), CDNSKEY: the key itself summarised by tag and length. */
function dnskeyData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 4) return null;
  rdZeek = type === 48 ? `DNSKEY ${b[rs + 3]}` : unknownZeek(type);
  return `${u16(b, rs)} ${b[rs + 2]} ${b[rs + 3]} keytag=${keyTag(b, rs, re)} keylen=${re - rs - 4}`;
}

/** RRSIG (Zeek: "RRSIG <type covered> <signer>"), SIG: everything but the signature. */
function rrsigData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 19) return null;
  const signer = r.rdName(rs + 18, re, dnsTypeName(type), ' signer');
  if (signer === null) return null;
  const covered = u16(b, rs);
  rdZeek = type === 46 ? `RRSIG ${covered} ${signer === '' ? '<Root>' : zeekName(signer)}` : unknownZeek(type);
  return `${dnsTypeName(covered)} ${b[rs + 2]} ${b[rs + 3]} ${u32(b, rs + 4)} ${sigTime(u32(b, rs + 8))} ${sigTime(u32(b, rs + 12))} ${u16(b, rs + 16)} ${dot(signer)}`;
}

/** NSEC (Zeek: "NSEC <owner> <next>"): the next name and the types of the bitmap. */
function nsecData(r: MessageReader, _type: number, owner: string, rs: number, re: number): string | null {
  const next = r.rdName(rs, re, 'NSEC next name');
  if (next === null) return null;
  const types = typeBitmap(r.b, nameEnd, re);
  if (types === null) return null;
  rdZeek = `NSEC ${zeekName(owner)} ${zeekName(next)}`;
  return appendIfAny(dot(next), types);
}

/** NSEC3 and NSEC3PARAM (Zeek logs just the type name): algorithm, flags, iterations, salt, ... */
function nsec3Data(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  const b = r.b;
  if (re - rs < 5 || rs + 5 + b[rs + 4] > re) return null;
  const saltEnd = rs + 5 + b[rs + 4];
  const head = `${b[rs]} ${b[rs + 1]} ${u16(b, rs + 2)} ${saltEnd === rs + 5 ? '-' : hex(b, rs + 5, saltEnd).toUpperCase()}`;
  if (type === 51) {
    if (saltEnd !== re) return null;
    rdZeek = 'NSEC3PARAM';
    return head;
  }
  if (saltEnd >= re || saltEnd + 1 + b[saltEnd] > re) return null;
  const hashEnd = saltEnd + 1 + b[saltEnd];
  const types = typeBitmap(b, hashEnd, re);
  if (types === null) return null;
  rdZeek = 'NSEC3';
  return appendIfAny(`${head} ${base32hex(b, saltEnd + 1, hashEnd)}`, types);
}

function sshfpData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 2) return null;
  rdZeek = `SSHFP: ${hex(r.b, rs + 2, re)}`;
  return `${r.b[rs]} ${r.b[rs + 1]} ${hex(r.b, rs + 2, re)}`;
}

function tlsaData(r: MessageReader, type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 3) return null;
  rdZeek = unknownZeek(type);
  return `${r.b[rs]} ${r.b[rs + 1]} ${r.b[rs + 2]} ${hex(r.b, rs + 3, re)}`;
}

/** LOC: hex; Zeek logs the size and precision bytes. */
function locData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 4) return null;
  rdZeek = `LOC:  ${r.b[rs + 1]} ${r.b[rs + 2]} ${r.b[rs + 3]}`;
  return hex(r.b, rs, re);
}

/** WKS: address, protocol, port bitmap; Zeek logs nothing. */
function wksData(r: MessageReader, _type: number, _owner: string, rs: number, re: number): string | null {
  if (re - rs < 5) return null;
  return `${formatIPv4(r.b, rs)} ${r.b[rs + 4]} ${hex(r.b, rs + 5, re)}`;
}

/** TSIG: an additional record Zeek does not log as an answer. */
const tsigData: RdataFormatter = (r, _type, _owner, rs, re) => hex(r.b, rs, re);

/** BIND9's private signing-state record (65534), which Zeek names. */
const bindsData: RdataFormatter = (r, _type, _owner, rs, re) => {
  rdZeek = 'BIND9 signing signal';
  return hex(r.b, rs, re);
};

/** Anything else (NULL included): hex, and Zeek's "<unknown type=N>". */
const unknownData: RdataFormatter = (r, type, _owner, rs, re) => {
  rdZeek = unknownZeek(type);
  return hex(r.b, rs, re);
};

const RDATA = new Map<number, RdataFormatter>([
  [1, addressData], [28, addressData],
  [2, nameData], [3, nameData], [4, nameData], [5, nameData], [7, nameData], [8, nameData], [9, nameData], [12, nameData], [39, nameData],
  [15, preferenceNameData], [18, preferenceNameData], [21, preferenceNameData], [36, preferenceNameData],
  [6, soaData], [16, textData], [99, textData], [13, hinfoData], [33, srvData], [35, naptrData], [257, caaData],
  [64, svcbData], [65, svcbData], [43, dsData], [59, dsData], [32769, dsData], [48, dnskeyData], [60, dnskeyData],
  [46, rrsigData], [24, rrsigData], [47, nsecData], [50, nsec3Data], [51, nsec3Data], [44, sshfpData], [52, tlsaData],
  [29, locData], [11, wksData], [250, tsigData], [65534, bindsData],
]);

function typedRdata(r: MessageReader, type: number, owner: string, rs: number, re: number): string | null {
  rdZeek = null;
  return (RDATA.get(type) ?? unknownData)(r, type, owner, rs, re);
}

// ---------------------------------------------------------------------------------------------
// Transactions: pairing queries with responses, and the rows

/** Queries kept waiting for their response per connection; the oldest is logged unanswered beyond this. */
const MAX_PENDING = 256;
/** Consecutive messages that do not parse before the connection is given up as not DNS. */
const MAX_FAILURES = 10;

interface Seen {
  msg: DnsMessage;
  ts: Ts;
  packetNo: number;
}

/**
 * The first question of a message, if any. Tested against the length: reading past the end of an
 * array is a case V8's optimised code leaves to the slow path (thrown away at the first message
 * without a question).
 */
function firstQuestion(m: DnsMessage): DnsQuestion | undefined {
  return m.questions.length > 0 ? m.questions[0] : undefined;
}

/** Whether a response's question fits a query's (names compared only when both are readable). */
function sameQuestion(a: DnsQuestion | undefined, b: DnsQuestion | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  if (a.qtype !== b.qtype) return false;
  return a.badName || b.badName || a.name === b.name || a.name.toLowerCase() === b.name.toLowerCase();
}

/**
 * The rows of `dns` and `dns_answers`, each made at one place. V8 gives the objects made by one
 * literal a shared hidden class whose fields start with the kind of the first values stored
 * (small integer, double, object). A field that later gets another kind (an rtt or a qclass that
 * is NULL after many that were numbers; a TTL over 2^31) changes the class, and V8 throws away
 * the optimised code that wrote and read the rows (on the 1 GB workload: the DNS row writer was
 * compiled three times). Each factory is called at load with NULLs, doubles and small integers in
 * turn, so its fields hold any value from the start (a performance hint only: the rows are the
 * same either way).
 */
function dnsRow(
  ts: Ts,
  proto: string,
  trans_id: number,
  rtt: number | null,
  query: string | null,
  qclass: number | null,
  qclass_name: string | null,
  qtype: number | null,
  qtype_name: string | null,
  rcode: number | null,
  rcode_name: string | null,
  AA: boolean,
  TC: boolean,
  RD: boolean,
  RA: boolean,
  Z: number,
  answers: string | null,
  TTLs: string | null,
  rejected: boolean,
  qdcount: number,
  ancount: number | null,
  edns_udp_size: number | null,
  query_packet: number | null,
  response_packet: number | null,
) {
  return { ts, proto, trans_id, rtt, query, qclass, qclass_name, qtype, qtype_name, rcode, rcode_name, AA, TC, RD, RA, Z, answers, TTLs, rejected, qdcount, ancount, edns_udp_size, query_packet, response_packet };
}

function answerRow(ts: Ts, packet_no: number, trans_id: number, section: DnsSection, name: string, type: number, type_name: string, cls: number, ttl: number, data: string) {
  return { ts, packet_no, trans_id, section, name, type, type_name, class: cls, ttl, data };
}

{
  // V8 gives a literal its own hidden class only once the function has feedback (after about
  // eight calls): the values cycle through the kinds for more calls than that.
  const t: Ts = { sec: 0, ns: 0 };
  const kinds = [null, 0.5, 1];
  for (let i = 0; i < 24; i++) {
    const v = kinds[i % 3];
    dnsRow(t, 'udp', 0, v, null, v, null, v, null, v, null, false, false, false, false, 0, null, null, false, 0, v, v, v, v);
    answerRow(t, 0, 0, 'answer', '', 0, '', 0, v === null ? 2 ** 32 - 1 : v, '');
  }
}

/** The question a row shows: the query's, unless only the response's name is readable. */
function rowQuestion(q: Seen | null, r: Seen | null): DnsQuestion | undefined {
  const fromQuery = q === null ? undefined : firstQuestion(q.msg);
  const fromResponse = r === null ? undefined : firstQuestion(r.msg);
  if (fromQuery === undefined || (fromQuery.badName && fromResponse !== undefined && !fromResponse.badName)) return fromResponse ?? fromQuery;
  return fromQuery;
}

/** Zeek's TTL text: an interval with six decimals. */
function zeekTtl(ttl: number): string {
  return `${ttl}.000000`;
}

/** The shared half of the UDP and TCP parsers: one message at a time, in capture order. */
class DnsTransactions {
  private readonly pending: Seen[] = [];
  private sawDns = false;
  private failures = 0;
  done = false;
  private readonly report = (name: AnomalyName, detail: string): void => this.sink.anomaly(name, detail);

  constructor(private readonly sink: AppSink) {}

  /** One whole message b[s, e), first seen at `ts` in frame `packetNo`. */
  message(b: Uint8Array, s: number, e: number, ts: Ts, packetNo: number): void {
    if (this.done) return;
    const msg = parseDnsMessage(b, s, e, this.report);
    if (msg === null) {
      this.failed();
      return;
    }
    this.failures = 0;
    if (!this.sawDns) {
      this.sawDns = true;
      this.sink.service('dns');
    }
    const seen: Seen = { msg, ts, packetNo };
    if (msg.qr) this.response(seen);
    else this.query(seen);
  }

  /** Nothing is pending and the connection was seen to be DNS (a fresh parser would go on the same way). */
  get resting(): boolean {
    return this.sawDns && !this.done && this.failures === 0 && this.pending.length === 0;
  }

  /** A message that is not DNS at all (no header, zero TCP length). */
  failed(): void {
    if (++this.failures >= MAX_FAILURES) this.finish();
  }

  /** No more messages will come: log the unanswered queries. */
  finish(): void {
    this.done = true;
    for (const q of this.pending) this.emit(q, null);
    this.pending.length = 0;
  }

  private query(q: Seen): void {
    if (this.pending.length >= MAX_PENDING) this.emit(this.pending.shift()!, null);
    this.pending.push(q);
  }

  private response(r: Seen): void {
    // the oldest pending query with the response's id and question (a loop, not findIndex with a
    // closure, and the usual single pending query popped, not spliced: both allocate per response)
    const pending = this.pending;
    const id = r.msg.id;
    const question = firstQuestion(r.msg);
    let i = 0;
    while (i < pending.length && !(pending[i].msg.id === id && sameQuestion(firstQuestion(pending[i].msg), question))) i++;
    if (i === pending.length) {
      this.sink.anomaly('dns_unmatched_response', `transaction id ${id}`);
      this.emit(null, r);
    } else {
      const q = pending[i];
      if (i === pending.length - 1) pending.pop();
      else pending.splice(i, 1);
      this.emit(q, r);
    }
    this.emitAnswers(r);
  }

  private emit(q: Seen | null, r: Seen | null): void {
    const first = (q ?? r)!; // time, id, RD and Z: the query's when seen
    const last = (r ?? q)!.msg; // AA, TC, RA: the response's when seen
    const question = rowQuestion(q, r);
    let answers: string | null = null;
    let ttls: string | null = null;
    if (r !== null) {
      for (const rec of r.msg.records) {
        if (rec.section !== 'answer' || rec.zeek === null || rec.zeek === '') continue;
        const text = rec.zeek.includes(',') ? rec.zeek.replace(/,/g, '\\x2c') : rec.zeek;
        answers = answers === null ? text : answers + ',' + text;
        ttls = ttls === null ? zeekTtl(rec.ttl) : ttls + ',' + zeekTtl(rec.ttl);
      }
    }
    this.sink.emit(
      DNS,
      dnsRow(
        first.ts,
        this.sink.transport,
        first.msg.id,
        q !== null && r !== null ? ((r.ts.sec - q.ts.sec) * 1e9 + (r.ts.ns - q.ts.ns)) / 1e9 : null,
        // A bad name with no readable label would read as the root name: NULL says unknown.
        question === undefined || (question.badName && question.name === '') ? null : question.name,
        question?.qclass ?? null,
        question === undefined ? null : dnsClassName(question.qclass),
        question?.qtype ?? null,
        question === undefined ? null : dnsTypeName(question.qtype),
        r?.msg.rcode ?? null,
        r === null ? null : dnsRcodeName(r.msg.rcode),
        last.aa,
        last.tc,
        first.msg.rd,
        last.ra,
        first.msg.z,
        answers,
        ttls,
        r !== null && r.msg.rcode !== 0,
        first.msg.qdcount,
        r?.msg.ancount ?? null,
        q?.msg.edns?.udpSize ?? null,
        q?.packetNo ?? null,
        r?.packetNo ?? null,
      ),
    );
  }

  private emitAnswers(r: Seen): void {
    for (const rec of r.msg.records) {
      this.sink.emit(DNS_ANSWERS, answerRow(r.ts, r.packetNo, r.msg.id, rec.section, rec.name, rec.type, dnsTypeName(rec.type), rec.cls, rec.ttl, rec.data));
    }
  }
}

function now(sink: AppSink): Ts {
  return { sec: sink.tsSec, ns: sink.tsNs };
}

/**
 * DNS over UDP: each datagram is one message. A class, not an object literal with getters (whose
 * accessors are made anew per object): one is made per transaction.
 */
class DnsUdp implements DatagramParser {
  private readonly tx: DnsTransactions;
  constructor(private readonly sink: AppSink) {
    this.tx = new DnsTransactions(sink);
  }
  datagram(_dir: Dir, bytes: Uint8Array, start: number, end: number): void {
    this.tx.message(bytes, start, end, now(this.sink), this.sink.packetNo);
  }
  end(): void {
    if (!this.tx.done) this.tx.finish();
  }
  get done(): boolean {
    return this.tx.done;
  }
  get resting(): boolean {
    return this.tx.resting;
  }
}

export function createDnsUdp(sink: AppSink): DatagramParser {
  return new DnsUdp(sink);
}

/** A buffer larger than this is dropped once its message is parsed (idle connections stay small). */
const TCP_KEEP_BUFFER = 4096;

/** One direction of a DNS-over-TCP stream: a partly received message and when it began. */
class TcpDirection {
  /** The message being received, sized to it: at most 65535 bytes, as the length prefix is 16 bits. */
  buf: Uint8Array | null = null;
  /** Bytes of the current frame received so far, length prefix included. */
  have = 0;
  /** High byte of the length prefix when only it has arrived. */
  lenHigh = 0;
  /** Length of the message being received (known once have >= 2). */
  len = 0;
  dead = false;
  ts: Ts = { sec: 0, ns: 0 };
  packetNo = 0;
}

/** DNS over TCP: messages with a 2-byte length prefix, any number per direction, split anywhere. */
export function createDnsTcp(sink: AppSink): StreamParser {
  const tx = new DnsTransactions(sink);
  const dirs = [new TcpDirection(), new TcpDirection()];

  const zeroLength = (): void => {
    sink.anomaly('dns_tcp_bad_length', 'zero message length');
    tx.failed();
  };

  /** Starts buffering a message of `len` bytes (its prefix is in). */
  const expect = (d: TcpDirection, len: number): void => {
    d.len = len;
    d.have = 2;
    if (d.buf === null || d.buf.length < len) d.buf = new Uint8Array(len);
  };

  /** Consumes bytes of a message that spans calls; returns the new position. */
  const buffered = (d: TcpDirection, b: Uint8Array, p: number, end: number): number => {
    if (d.have === 1) {
      const len = (d.lenHigh << 8) | b[p];
      if (len === 0) {
        d.have = 0;
        zeroLength();
      } else {
        expect(d, len);
      }
      return p + 1;
    }
    const take = Math.min(d.len - (d.have - 2), end - p);
    d.buf!.set(b.subarray(p, p + take), d.have - 2);
    d.have += take;
    if (d.have - 2 === d.len) {
      d.have = 0;
      tx.message(d.buf!, 0, d.len, d.ts, d.packetNo);
      if (d.buf!.length > TCP_KEEP_BUFFER) d.buf = null;
    }
    return p + take;
  };

  const data = (dir: Dir, b: Uint8Array, start: number, end: number): void => {
    const d = dirs[dir];
    let p = start;
    while (p < end && !d.dead && !tx.done) {
      if (d.have > 0) {
        p = buffered(d, b, p, end);
        continue;
      }
      // A new message: parsed in place when it is whole in this call, copied otherwise.
      d.ts = now(sink);
      d.packetNo = sink.packetNo;
      if (end - p < 2) {
        d.lenHigh = b[p];
        d.have = 1;
        return;
      }
      const len = u16(b, p);
      p += 2;
      if (len === 0) {
        zeroLength();
      } else if (end - p >= len) {
        tx.message(b, p, p + len, d.ts, d.packetNo);
        p += len;
      } else {
        expect(d, len);
      }
    }
  };

  return {
    data,
    gap(dir: Dir): void {
      const d = dirs[dir];
      if (d.dead) return;
      d.dead = true;
      d.have = 0;
      d.buf = null;
      sink.anomaly('dns_tcp_bad_length', 'gap');
      if (dirs[0].dead && dirs[1].dead && !tx.done) tx.finish();
    },
    end(): void {
      for (const d of dirs) {
        if (!d.dead && d.have > 0) sink.anomaly('dns_tcp_bad_length', `stream ended inside a message (${d.have} bytes of it seen)`);
        d.have = 0;
        d.buf = null;
      }
      if (!tx.done) tx.finish();
    },
    get done(): boolean {
      return tx.done;
    },
  };
}
