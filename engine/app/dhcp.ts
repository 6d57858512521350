/**
 * DHCP (v4) and BOOTP: a pure message parser (`parseDhcp`), the transaction table shared by all
 * connections of an ingest (`DhcpTransactions`, one `dhcp` row per transaction, Zeek's dhcp.log)
 * and the per-connection datagram parser (`createDhcp`).
 *
 * The messages of one transaction travel on different UDP 5-tuples (0.0.0.0:68 ->
 * 255.255.255.255:67, then server -> broadcast or unicast), so they are joined across
 * connections by transaction id and client hardware address; the row carries the connection
 * columns of the transaction's first message.
 *
 * Deliberate differences from Zeek's dhcp.log:
 * - A transaction ends at its ACK or NAK (or a BOOTREPLY without a DHCP message type), when it has
 *   been idle for `idleSec` (60 s of capture time) or at the end of the ingest. Zeek joins every
 *   message of an xid seen within 5 s of each other (at most 30 s), so DISCOVER, OFFER, REQUEST,
 *   NAK, REQUEST, ACK, DECLINE on one xid is one Zeek row and three rows here.
 * - `mac` is always chaddr (Zeek prefers the client identifier option 61 when its type is
 *   Ethernet); the key includes it, so two clients reusing an xid are not merged.
 * - `client_addr` is ciaddr (Zeek: the source address of a client message that is not 0.0.0.0,
 *   else the assigned address). `server_addr` is option 54 only: the parser contract gives no
 *   packet addresses (Zeek: the address of the server that sent a non-zero yiaddr).
 * - `lease_time` and `domain` come from server messages only (as Zeek), `vendor_class` from
 *   client messages only (servers echo or name themselves in option 60); `host_name` and
 *   `client_fqdn` come from the client, else from the server (which may assign them).
 * - Text options are shown as tshark shows strings (printable ASCII as is, controls escaped),
 *   trailing NULs dropped; options repeated in one message are concatenated (RFC 3396) for text
 *   and the last one wins otherwise. Option overload (52) is followed into file and sname.
 * - Plain BOOTP (no magic cookie) is logged, its msg_types entry is BOOTREQUEST or BOOTREPLY;
 *   a DHCP message without option 53 is logged the same way.
 */
import type { AnomalyName } from '../../common/anomalies.js';
import { DHCP } from '../../common/fields.js';
import { formatIPv4, formatMac } from '../decode/addr.js';
import { formatText } from './dns.js';
import type { AppSink, DatagramParser, Dir, Ts } from './types.js';

// ---------------------------------------------------------------------------------------------
// The parsed message

/** Client FQDN option (RFC 4702). */
export interface DhcpFqdn {
  /** Flags byte: S 0x01, O 0x02, E 0x04 (name in DNS wire format), N 0x08. */
  flags: number;
  rcode1: number;
  rcode2: number;
  /** The name as text (wire-format labels joined with dots; a partial name has no final dot). */
  name: string;
}

export interface DhcpMessage {
  /** 1 BOOTREQUEST (client), 2 BOOTREPLY (server). */
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** chaddr as colon hex when hlen is 6 (Ethernet and other 48-bit addresses), else null. */
  mac: string | null;
  /** The first min(hlen, 16) bytes of chaddr as colon hex (the key of non-48-bit addresses). */
  chaddr: string;
  /** Server host name and boot file name (up to the first NUL); empty when overloaded. */
  sname: string;
  file: string;
  /** The magic cookie 99.130.83.99 is present (DHCP or RFC 1497 vendor extensions). */
  magic: boolean;
  /** Option 53, or null (plain BOOTP). */
  msgType: number | null;
  /** Option 50. */
  requestedAddr: string | null;
  /** Option 51, seconds. */
  leaseTime: number | null;
  /** Option 54. */
  serverId: string | null;
  /** Option 12. */
  hostName: string | null;
  /** Option 15. */
  domain: string | null;
  /** Option 60. */
  vendorClass: string | null;
  /** Option 61 as colon hex, type byte first (01:00:11:22:33:44:55 for Ethernet). */
  clientId: string | null;
  /** Option 55: the option codes the client asks for, in its order. */
  paramList: number[] | null;
  /** Option 81. */
  fqdn: DhcpFqdn | null;
  /** Option 56: text sent with NAK or DECLINE. */
  message: string | null;
  /** Option 52: 1 file, 2 sname, 3 both hold options. */
  overload: number | null;
  /** False when the options ran past the message (dhcp_malformed was reported). */
  complete: boolean;
}

type OnAnomaly = (name: AnomalyName, detail: string) => void;

/** RFC 2131 figure 1: op .. file; the magic cookie and the options follow. */
const FIXED_LEN = 236;
const OFF_CHADDR = 28;
const OFF_SNAME = 44;
const OFF_FILE = 108;
const CHADDR_LEN = 16;
const MAGIC_COOKIE = 0x63825363;

const OPT_PAD = 0;
const OPT_END = 255;
const OPT_HOST_NAME = 12;
const OPT_DOMAIN = 15;
const OPT_REQUESTED_ADDR = 50;
const OPT_LEASE_TIME = 51;
const OPT_OVERLOAD = 52;
const OPT_MSG_TYPE = 53;
const OPT_SERVER_ID = 54;
const OPT_PARAM_LIST = 55;
const OPT_MESSAGE = 56;
const OPT_VENDOR_CLASS = 60;
const OPT_CLIENT_ID = 61;
const OPT_CLIENT_FQDN = 81;

const FQDN_E = 0x04;

/** Zeek's DHCP::message_types. */
const MSG_TYPE_NAMES: Record<number, string> = {
  1: 'DISCOVER', 2: 'OFFER', 3: 'REQUEST', 4: 'DECLINE', 5: 'ACK', 6: 'NAK', 7: 'RELEASE',
  8: 'INFORM', 9: 'FORCERENEW', 10: 'LEASEQUERY', 11: 'LEASEUNASSIGNED', 12: 'LEASEUNKNOWN',
  13: 'LEASEACTIVE', 14: 'BULKLEASEQUERY', 15: 'LEASEQUERYDONE', 16: 'ACTIVELEASEQUERY',
  17: 'LEASEQUERYSTATUS', 18: 'TLS',
};

const DHCPOFFER = 2;
const DHCPACK = 5;
const DHCPNAK = 6;

/** Name of a message for msg_types: Zeek's name, BOOTREQUEST/BOOTREPLY without option 53. */
export function dhcpMessageTypeName(m: DhcpMessage): string {
  if (m.msgType === null) return m.op === 1 ? 'BOOTREQUEST' : 'BOOTREPLY';
  return MSG_TYPE_NAMES[m.msgType] ?? `unknown-message-type-${m.msgType}`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

function u16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

function u32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

const HEX2: string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

function colonHex(b: Uint8Array, s: number, e: number): string {
  let out = '';
  for (let i = s; i < e; i++) out += (i > s ? ':' : '') + HEX2[b[i]];
  return out;
}

/** Text of an option or header string: trailing NULs dropped (C-string habits of clients). */
function optText(b: Uint8Array, s: number, e: number): string {
  while (e > s && b[e - 1] === 0) e--;
  return formatText(b, s, e);
}

/** A fixed-size header string (sname, file): up to its first NUL. */
function cString(b: Uint8Array, s: number, e: number): string {
  let z = s;
  while (z < e && b[z] !== 0) z++;
  return formatText(b, s, z);
}

/** RFC 4702 option 81: flags, two rcodes, then the name in ASCII or DNS wire format. */
function parseFqdn(b: Uint8Array, s: number, e: number, onAnomaly: OnAnomaly): DhcpFqdn {
  const flags = b[s];
  const fqdn: DhcpFqdn = { flags, rcode1: b[s + 1], rcode2: b[s + 2], name: '' };
  if ((flags & FQDN_E) === 0) {
    fqdn.name = optText(b, s + 3, e);
    return fqdn;
  }
  let p = s + 3;
  let name = '';
  while (p < e) {
    const len = b[p];
    if (len === 0) {
      // A complete name (RFC 4702 2.1: the root label ends it); a partial one stops at the end.
      name += '.';
      break;
    }
    if (len > 63) {
      onAnomaly('dhcp_malformed', `client FQDN label type 0x${len.toString(16)} (compression is not allowed)`);
      break;
    }
    if (p + 1 + len > e) {
      onAnomaly('dhcp_malformed', 'client FQDN label runs past the option');
      break;
    }
    name += (name === '' ? '' : '.') + formatText(b, p + 1, p + 1 + len);
    p += 1 + len;
  }
  // Zeek and tshark show the name without the root's trailing dot.
  fqdn.name = name.endsWith('.') ? name.slice(0, -1) : name;
  return fqdn;
}

function badLength(onAnomaly: OnAnomaly, code: number, len: number, want: string): void {
  onAnomaly('dhcp_malformed', `option ${code} length ${len}, expected ${want}`);
}

/** Stores one option of a message; a length that does not fit the option is reported and skipped. */
function applyOption(m: DhcpMessage, code: number, b: Uint8Array, s: number, len: number, onAnomaly: OnAnomaly): void {
  const e = s + len;
  switch (code) {
    case OPT_MSG_TYPE:
      if (len !== 1) badLength(onAnomaly, code, len, '1');
      else m.msgType = b[s];
      return;
    case OPT_REQUESTED_ADDR:
      if (len !== 4) badLength(onAnomaly, code, len, '4');
      else m.requestedAddr = formatIPv4(b, s);
      return;
    case OPT_SERVER_ID:
      if (len !== 4) badLength(onAnomaly, code, len, '4');
      else m.serverId = formatIPv4(b, s);
      return;
    case OPT_LEASE_TIME:
      if (len !== 4) badLength(onAnomaly, code, len, '4');
      else m.leaseTime = u32(b, s);
      return;
    case OPT_OVERLOAD:
      if (len !== 1 || b[s] < 1 || b[s] > 3) onAnomaly('dhcp_malformed', `option overload length ${len} value ${len > 0 ? b[s] : '-'}`);
      else m.overload = b[s];
      return;
    // RFC 3396: an option split into several instances is their concatenation.
    case OPT_HOST_NAME:
      m.hostName = (m.hostName ?? '') + optText(b, s, e);
      return;
    case OPT_DOMAIN:
      m.domain = (m.domain ?? '') + optText(b, s, e);
      return;
    case OPT_VENDOR_CLASS:
      m.vendorClass = (m.vendorClass ?? '') + optText(b, s, e);
      return;
    case OPT_MESSAGE:
      m.message = (m.message ?? '') + optText(b, s, e);
      return;
    case OPT_CLIENT_ID:
      if (len < 2) badLength(onAnomaly, code, len, 'at least 2');
      else m.clientId = colonHex(b, s, e);
      return;
    case OPT_PARAM_LIST:
      m.paramList = Array.from(b.subarray(s, e));
      return;
    case OPT_CLIENT_FQDN:
      if (len < 3) badLength(onAnomaly, code, len, 'at least 3');
      else m.fqdn = parseFqdn(b, s, e, onAnomaly);
      return;
    default:
      return;
  }
}

/**
 * Walks the options in [s, e): pad and end are single bytes, every other option is code, length,
 * value. Returns false when an option runs past `e` (reported as `where`).
 */
function parseOptions(m: DhcpMessage, b: Uint8Array, s: number, e: number, where: string, onAnomaly: OnAnomaly): boolean {
  let p = s;
  while (p < e) {
    const code = b[p];
    if (code === OPT_END) return true;
    if (code === OPT_PAD) {
      p++;
      continue;
    }
    if (p + 2 > e || p + 2 + b[p + 1] > e) {
      onAnomaly('dhcp_malformed', `option ${code} at offset ${p - s} runs past the ${where}`);
      return false;
    }
    const len = b[p + 1];
    applyOption(m, code, b, p + 2, len, onAnomaly);
    p += 2 + len;
  }
  return true;
}

/**
 * Parses one BOOTP/DHCP message in b[start, end). Returns null (after dhcp_malformed) when the
 * bytes are shorter than the fixed header or are not BOOTP (op neither 1 nor 2); a message whose
 * options run past the end is returned with what was read and `complete` false.
 */
export function parseDhcp(b: Uint8Array, start: number, end: number, onAnomaly: OnAnomaly): DhcpMessage | null {
  if (end - start < FIXED_LEN) {
    onAnomaly('dhcp_malformed', `message of ${end - start} bytes is shorter than the ${FIXED_LEN}-byte BOOTP header`);
    return null;
  }
  const op = b[start];
  if (op !== 1 && op !== 2) {
    onAnomaly('dhcp_malformed', `op ${op} is neither BOOTREQUEST nor BOOTREPLY`);
    return null;
  }
  const hlen = b[start + 2];
  if (hlen > CHADDR_LEN) onAnomaly('dhcp_malformed', `hardware address length ${hlen} exceeds chaddr`);
  const ch = start + OFF_CHADDR;
  const m: DhcpMessage = {
    op,
    htype: b[start + 1],
    hlen,
    hops: b[start + 3],
    xid: u32(b, start + 4),
    secs: u16(b, start + 8),
    flags: u16(b, start + 10),
    ciaddr: formatIPv4(b, start + 12),
    yiaddr: formatIPv4(b, start + 16),
    siaddr: formatIPv4(b, start + 20),
    giaddr: formatIPv4(b, start + 24),
    mac: hlen === 6 ? formatMac(b, ch) : null,
    chaddr: colonHex(b, ch, ch + Math.min(hlen, CHADDR_LEN)),
    sname: '',
    file: '',
    magic: end - start >= FIXED_LEN + 4 && u32(b, start + FIXED_LEN) === MAGIC_COOKIE,
    msgType: null,
    requestedAddr: null,
    leaseTime: null,
    serverId: null,
    hostName: null,
    domain: null,
    vendorClass: null,
    clientId: null,
    paramList: null,
    fqdn: null,
    message: null,
    overload: null,
    complete: true,
  };
  if (m.magic) {
    m.complete = parseOptions(m, b, start + FIXED_LEN + 4, end, 'message', onAnomaly);
    // RFC 2131 4.1: with overload, file is read first, then sname; neither is then a name.
    if (m.overload !== null && (m.overload & 1) !== 0) m.complete = parseOptions(m, b, start + OFF_FILE, start + FIXED_LEN, 'file field', onAnomaly) && m.complete;
    if (m.overload !== null && (m.overload & 2) !== 0) m.complete = parseOptions(m, b, start + OFF_SNAME, start + OFF_FILE, 'sname field', onAnomaly) && m.complete;
  }
  if (m.overload === null || (m.overload & 2) === 0) m.sname = cString(b, start + OFF_SNAME, start + OFF_FILE);
  if (m.overload === null || (m.overload & 1) === 0) m.file = cString(b, start + OFF_FILE, start + FIXED_LEN);
  return m;
}

// ---------------------------------------------------------------------------------------------
// Transactions across connections

/** A transaction's row is written once it holds this many message types (Zeek's limit, 50). */
const MAX_MSG_TYPES = 50;
const DEFAULT_IDLE_SEC = 60;
/** Open transactions kept at once (each holds a few short strings): over it the oldest is written. */
const DEFAULT_MAX_OPEN = 1024;

/** One transaction being joined; its sink is the first message's connection. */
interface Txn {
  sink: AppSink;
  xid: number;
  ts: Ts;
  firstPacket: number;
  lastSec: number;
  lastNs: number;
  types: string[];
  mac: string | null;
  clientAddr: string | null;
  serverAddr: string | null;
  requestedAddr: string | null;
  assignedAddr: string | null;
  leaseTime: number | null;
  hostName: string | null;
  hostNameFromClient: boolean;
  clientFqdn: string | null;
  fqdnFromClient: boolean;
  domain: string | null;
  vendorClass: string | null;
}

/**
 * The DHCP transactions of one ingest, shared by every connection's parser. Open transactions sit
 * in a Map kept in order of last activity (a message re-inserts its transaction), so the idle
 * ones and the oldest are always at the front.
 */
export class DhcpTransactions {
  private readonly open = new Map<string, Txn>();
  private readonly idleSec: number;
  private readonly maxOpen: number;

  constructor(opts: { idleSec?: number; maxOpen?: number } = {}) {
    this.idleSec = opts.idleSec ?? DEFAULT_IDLE_SEC;
    this.maxOpen = Math.max(1, opts.maxOpen ?? DEFAULT_MAX_OPEN);
  }

  /** Open transactions (for tests and limits). */
  get size(): number {
    return this.open.size;
  }

  /** Joins a message, seen now on `sink`'s connection, to its transaction. */
  message(sink: AppSink, m: DhcpMessage): void {
    const sec = sink.tsSec;
    const ns = sink.tsNs;
    this.expireIdle(sec, ns);
    const key = `${m.xid} ${m.chaddr}`;
    let t = this.open.get(key);
    if (t === undefined) {
      if (this.open.size >= this.maxOpen) this.emitOldest();
      t = newTxn(sink, m, sec, ns);
    } else {
      this.open.delete(key);
    }
    t.lastSec = sec;
    t.lastNs = ns;
    merge(t, m);
    if (completes(m) || t.types.length >= MAX_MSG_TYPES) this.emit(t);
    else this.open.set(key, t);
  }

  /** Writes every open transaction (end of the ingest). */
  flush(): void {
    for (const t of this.open.values()) this.emit(t);
    this.open.clear();
  }

  private expireIdle(sec: number, ns: number): void {
    for (const [key, t] of this.open) {
      if (sec - t.lastSec + (ns - t.lastNs) / 1e9 <= this.idleSec) break;
      this.open.delete(key);
      this.emit(t);
    }
  }

  private emitOldest(): void {
    const first = this.open.entries().next();
    if (first.done === true) return;
    const [key, t] = first.value;
    this.open.delete(key);
    this.emit(t);
  }

  private emit(t: Txn): void {
    t.sink.emit(DHCP, {
      ts: t.ts,
      trans_id: t.xid,
      mac: t.mac,
      client_addr: t.clientAddr,
      server_addr: t.serverAddr,
      requested_addr: t.requestedAddr,
      assigned_addr: t.assignedAddr,
      lease_time: t.leaseTime,
      host_name: t.hostName,
      client_fqdn: t.clientFqdn,
      domain: t.domain,
      vendor_class: t.vendorClass,
      msg_types: t.types.join(','),
      duration: ((t.lastSec - t.ts.sec) * 1e9 + (t.lastNs - t.ts.ns)) / 1e9,
      first_packet: t.firstPacket,
    });
  }
}

function newTxn(sink: AppSink, m: DhcpMessage, sec: number, ns: number): Txn {
  return {
    sink,
    xid: m.xid,
    ts: { sec, ns },
    firstPacket: sink.packetNo,
    lastSec: sec,
    lastNs: ns,
    types: [],
    mac: m.mac,
    clientAddr: null,
    serverAddr: null,
    requestedAddr: null,
    assignedAddr: null,
    leaseTime: null,
    hostName: null,
    hostNameFromClient: false,
    clientFqdn: null,
    fqdnFromClient: false,
    domain: null,
    vendorClass: null,
  };
}

/** An ACK or NAK answers the client; a BOOTREPLY without a DHCP type ends a BOOTP exchange. */
function completes(m: DhcpMessage): boolean {
  if (m.msgType === null) return m.op === 2;
  return m.msgType === DHCPACK || m.msgType === DHCPNAK;
}

/** Folds a message into its transaction: later values win, by the rules in the module comment. */
function merge(t: Txn, m: DhcpMessage): void {
  const fromClient = m.op === 1;
  t.types.push(dhcpMessageTypeName(m));
  if (m.ciaddr !== '0.0.0.0') t.clientAddr = m.ciaddr;
  if (m.serverId !== null) t.serverAddr = m.serverId;
  if (m.requestedAddr !== null) t.requestedAddr = m.requestedAddr;
  if (!fromClient) {
    if (m.yiaddr !== '0.0.0.0' && (m.msgType === null || m.msgType === DHCPOFFER || m.msgType === DHCPACK)) t.assignedAddr = m.yiaddr;
    if (m.leaseTime !== null) t.leaseTime = m.leaseTime;
    if (m.domain !== null) t.domain = m.domain;
  } else if (m.vendorClass !== null) {
    t.vendorClass = m.vendorClass;
  }
  if (m.hostName !== null && (fromClient || !t.hostNameFromClient)) {
    t.hostName = m.hostName;
    t.hostNameFromClient = fromClient;
  }
  if (m.fqdn !== null && (fromClient || !t.fqdnFromClient)) {
    t.clientFqdn = m.fqdn.name;
    t.fqdnFromClient = fromClient;
  }
}

// ---------------------------------------------------------------------------------------------
// Per-connection parser

/** Consecutive datagrams that are not BOOTP after which the connection is given up. */
const MAX_BAD_DATAGRAMS = 10;

/** DHCP over UDP: every datagram is one message, handed to the ingest's shared transactions. */
export function createDhcp(sink: AppSink, tx: DhcpTransactions): DatagramParser {
  let bad = 0;
  let done = false;
  let named = false;
  const onAnomaly: OnAnomaly = (name, detail) => sink.anomaly(name, detail);
  return {
    datagram(_dir: Dir, bytes: Uint8Array, start: number, end: number): void {
      if (done) return;
      const m = parseDhcp(bytes, start, end, onAnomaly);
      if (m === null) {
        if (++bad >= MAX_BAD_DATAGRAMS) done = true;
        return;
      }
      bad = 0;
      if (!named) {
        sink.service('dhcp');
        named = true;
      }
      tx.message(sink, m);
    },
    // The transaction table outlives the connection; the ingest flushes it at the end.
    end(): void {},
    get done(): boolean {
      return done;
    },
  };
}
