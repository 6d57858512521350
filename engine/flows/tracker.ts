/**
 * The flow tracker: Zeek conn.log semantics (orig/resp roles with Zeek's flips, per-endpoint TCP
 * states, history letters, sequence-space byte counts, inactivity/attempt/close timers) plus
 * per-direction statistics for the models. Memory is bounded by `maxFlows`.
 *
 * Performance: live flow state is kept in typed arrays indexed by a slot number (struct of
 * arrays), not in objects. Objects with many numeric fields cost one heap box per double field,
 * and young-generation GC then copies millions of them; typed arrays are invisible to the GC.
 * A `FlowRecord` object is made only when a flow ends, for the sink.
 */
import { formatIPv4, formatIPv6, macFromNumber } from '../decode/addr.js';
import { i32be } from '../decode/bytes.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, type Decoded } from '../decode/packet.js';
import { LIKELY_SERVER_TCP, LIKELY_SERVER_UDP, TcpState, icmpCounterpart, tcpConnState, udpConnState } from './connstate.js';

export interface FlowConfig {
  tcpInactivitySec: number;
  /** Inactivity timeout of a TCP connection before its handshake completes (Zeek uses the UDP value). */
  tcpSetupInactivitySec: number;
  udpInactivitySec: number;
  /** UDP flows on DNS ports (53, 137, 5353, 5355) end after this much silence (Zeek's dns_session_timeout). */
  dnsInactivitySec: number;
  icmpInactivitySec: number;
  otherInactivitySec: number;
  /** Unanswered connection attempts end this long after the first SYN. */
  tcpAttemptDelaySec: number;
  /** Closed (FIN/FIN or RST) connections end this long after their last packet. */
  tcpCloseDelaySec: number;
  /** End a flow record this long after its start even if active (0 = never, as Zeek). */
  activeTimeoutSec: number;
  /** Most flows held at once; beyond it the oldest is ended early (flow_table_full). */
  maxFlows: number;
  likelyServerTcp: ReadonlySet<number>;
  likelyServerUdp: ReadonlySet<number>;
}

export const DEFAULT_FLOW_CONFIG: FlowConfig = {
  tcpInactivitySec: 300,
  tcpSetupInactivitySec: 60,
  udpInactivitySec: 60,
  dnsInactivitySec: 10,
  icmpInactivitySec: 60,
  otherInactivitySec: 60,
  tcpAttemptDelaySec: 5,
  tcpCloseDelaySec: 5,
  activeTimeoutSec: 0,
  maxFlows: 1_000_000,
  likelyServerTcp: LIKELY_SERVER_TCP,
  likelyServerUdp: LIKELY_SERVER_UDP,
};

const SEEN_S = 1; // S and H share one bit
const SEEN_F = 2;
const SEEN_R = 4;
const SEEN_D = 8;
const SEEN_A = 16;
const SEEN_I = 32;
const SEEN_Q = 64;

/** One direction of a finished flow. */
export interface EndpointRecord {
  state: TcpState;
  prevState: TcpState;
  pkts: number;
  ipBytes: number;
  /** Payload bytes (UDP/ICMP/other), summed. */
  bytes: number;
  lenMin: number;
  lenMax: number;
  lenMean: number;
  lenM2: number;
  iatN: number;
  iatMin: number;
  iatMax: number;
  iatMean: number;
  iatM2: number;
  mac: string | null;
}

/** A finished flow, as handed to the sink. */
export interface FlowRecord {
  id: number;
  ipProto: number;
  ipVersion: number;
  evidenceId: number;
  firstPacket: number;
  proto: string;
  origH: string;
  respH: string;
  origP: number;
  respP: number;
  startSec: number;
  startNs: number;
  lastSec: number;
  lastNs: number;
  duration: number;
  history: string;
  service: string | null;
  connState: string;
  origBytes: number;
  respBytes: number;
  /** Bytes acknowledged by the peer that the capture never had (Zeek's missed_bytes). */
  missedBytes: number;
  o: EndpointRecord;
  r: EndpointRecord;
  vlan: number;
  innerVlan: number;
  synCount: number;
  finCount: number;
  rstCount: number;
  pshCount: number;
  ackCount: number;
  urgCount: number;
  firstPayloads: number[];
  endReason: string;
}

type SlotArray = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;

/** A typed array of the same kind as `a` with `length` elements, `a`'s values first (per-slot columns growing). */
export function grownArray<T extends SlotArray>(a: T, length: number): T {
  const b = new (a.constructor as new (len: number) => T)(length);
  b.set(a);
  return b;
}

/** Sequence jumps beyond this are wild values (bogus ACKs, crafted packets), not gaps. */
const MAX_SEQ_JUMP = 1 << 30;
/** Segments held ahead of a hole per endpoint (beyond this, the frontier just waits for the ACK). */
const MAX_AHEAD = 64;

/** Kept for callers that name the record type `Flow`. */
export type Flow = FlowRecord;

/**
 * A sink that reads a finished flow straight from the tracker's columns (no record object): the
 * ingest path. `s` is valid only during the call.
 */
export interface FlowColumnSink {
  writeFlow(t: FlowTracker, s: number, endReason: string): void;
}
export type FlowSink = ((f: FlowRecord) => void) | FlowColumnSink;

/** MAC text from its 48-bit number (NaN: none). */
export function macText(m: number): string | null {
  return m !== m ? null : macFromNumber(m);
}

const FP = 8; // first payload sizes kept per flow
const KEY_WORDS = 10;
/** Ports of Zeek's DNS analyzer over UDP (DNS, NetBIOS name service, mDNS, LLMNR). */
const DNS_PORTS = new Set([53, 137, 5353, 5355]);
/** Longest history kept per flow (Zeek has no limit; repeated letters beyond this are dropped). */
const MAX_HISTORY = 256;
const LIVE = 1;

function protoName(p: number): string {
  return p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_ICMP || p === PROTO_ICMPV6 ? 'icmp' : 'unknown_transport';
}

/** Tracks flows; call `packet()` for each decoded packet (sweeps are automatic), `finish()` at the end. */
export class FlowTracker {
  /** Open-addressing hash table: bucket -> slot + 1 (0 = empty). Keys live in `keyWords`. */
  private table = new Int32Array(0);
  private mask = 0;
  /** 10 key words per slot: [proto|flags, addrA (4 words), addrB (4 words), ports]. */
  keyWords = new Uint32Array(0);
  private readonly k = new Uint32Array(KEY_WORDS);
  /** Words 3..8 of `k` hold an IPv6 key (they are zero for IPv4 keys). */
  private kV6 = false;
  /** Live slots in creation order (for eviction of the oldest), with lazy deletion. */
  private order: number[] = [];
  private orderHead = 0;
  /** Creation stamp (flowsCreated at creation) of each `order` entry, and of each slot's flow. */
  private orderStamp: number[] = [];
  private created = new Float64Array(0);
  private nextId: number;
  /**
   * [latest packet time, time of the last sweep, "now" for expired()/stats()]: doubles live in a
   * typed array because passing or storing them elsewhere allocates a heap number each time.
   */
  private readonly clock = new Float64Array([-Infinity, -Infinity, 0]);
  flowsCreated = 0;
  evicted = 0;

  // ---- per-flow columns (slot) ----
  private cap = 0;
  private free: number[] = [];
  private used = 0;
  /** LIVE for slots holding a flow. */
  keys: number[] = [];
  history: string[] = [];
  /** flows.service per slot (set by the application layer), or null. */
  service: (string | null)[] = [];
  /** Flow id of the UDP tunnel flow that carried this one (set by the ingest), 0 when none. */
  tunnelParent = new Uint32Array(0);
  /** Slot of the last packet given to `packet()` (-1 when it belonged to no flow). */
  lastSlot = -1;
  /** The last packet went from the canonical side A (lower address/port) to B. */
  lastFwd = false;
  /** Told before a flow's row is written, so that others (the application layer) can finish it. */
  onFlowEnd: ((slot: number) => void) | null = null;
  origH: string[] = [];
  respH: string[] = [];
  id = new Uint32Array(0);
  evidence = new Uint16Array(0);
  firstPkt = new Uint32Array(0);
  ipProto = new Uint8Array(0);
  ipVer = new Uint8Array(0);
  origP = new Uint16Array(0);
  respP = new Uint16Array(0);
  /** Which endpoint sub-slot (0/1) is the originator now; flips toggle it. */
  oSub = new Uint8Array(0);
  origIsA = new Uint8Array(0);
  seenO = new Uint8Array(0);
  seenR = new Uint8Array(0);
  closeComplete = new Uint8Array(0);
  estTimer = new Uint8Array(0);
  startSec = new Float64Array(0);
  startNs = new Uint32Array(0);
  lastSec = new Float64Array(0);
  lastNs = new Uint32Array(0);
  vlan = new Int32Array(0);
  innerVlan = new Int32Array(0);
  /** syn, fin, rst, psh, ack, urg counts: 6 per slot. */
  flagCounts = new Uint32Array(0);
  fpCount = new Uint8Array(0);
  fp = new Int32Array(0);
  // ---- per-endpoint columns (2 * slot + sub) ----
  eState = new Uint8Array(0);
  ePrev = new Uint8Array(0);
  eDidClose = new Uint8Array(0);
  ePkts = new Float64Array(0);
  eIpBytes = new Float64Array(0);
  eBytes = new Float64Array(0);
  eStartAbs = new Uint32Array(0);
  eLastAbs = new Uint32Array(0);
  eAckAbs = new Uint32Array(0);
  eLastRel = new Float64Array(0);
  eAckRel = new Float64Array(0);
  eFinCount = new Uint32Array(0);
  eHistSyn = new Float64Array(0);
  eHistFin = new Float64Array(0);
  eHistRst = new Float64Array(0);
  eTCount = new Uint32Array(0);
  eTThresh = new Uint32Array(0);
  /**
   * Content gaps (Zeek's missed_bytes and history G/g), per endpoint: the sequence number up to
   * which its bytes were all seen (absolute), and the scaled-letter counter. Segments seen beyond
   * a hole are kept as absolute [start, end) pairs by endpoint, only while there is a hole.
   */
  eFront = new Uint32Array(0);
  eGCount = new Uint32Array(0);
  eGThresh = new Uint32Array(0);
  /** 1: this side's gaps are no longer counted (its sequence space became unclear). */
  eGapOff = new Uint8Array(0);
  private readonly ahead = new Map<number, number[]>();
  /** Bytes never captured that the peer acknowledged, per slot. */
  missed = new Float64Array(0);
  eWCount = new Uint32Array(0);
  eWThresh = new Uint32Array(0);
  eLenMin = new Float64Array(0);
  eLenMax = new Float64Array(0);
  eLenMean = new Float64Array(0);
  eLenM2 = new Float64Array(0);
  eLastTs = new Float64Array(0);
  eIatN = new Float64Array(0);
  eIatMin = new Float64Array(0);
  eIatMax = new Float64Array(0);
  eIatMean = new Float64Array(0);
  eIatM2 = new Float64Array(0);
  /** Source MAC of the endpoint's first packet as a 48-bit number, NaN when none. */
  eMac = new Float64Array(0);

  constructor(
    private readonly sink: FlowSink,
    firstId = 1,
    private readonly cfg: FlowConfig = DEFAULT_FLOW_CONFIG,
  ) {
    this.nextId = firstId;
    this.grow(1024);
  }

  get active(): number {
    return this.used;
  }

  private hash(k: Uint32Array): number {
    let h = 0x811c9dc5;
    if ((k[0] & 0x60000) === 0x40000) {
      // IPv4: words 3..8 are zero
      h = Math.imul(h ^ k[0], 0x01000193);
      h = Math.imul(h ^ (h >>> 15) ^ k[1], 0x01000193);
      h = Math.imul(h ^ (h >>> 15) ^ k[2], 0x01000193);
      h = Math.imul(h ^ (h >>> 15) ^ k[9], 0x01000193);
    } else {
      for (let i = 0; i < KEY_WORDS; i++) {
        h = Math.imul(h ^ k[i], 0x01000193);
        h ^= h >>> 15;
      }
    }
    h = Math.imul(h, 0x2c1b3c6d);
    // a signed 32-bit result stays a small integer (an unsigned one above 2^31 would be boxed)
    return h ^ (h >>> 12);
  }

  private keyEquals(s: number): boolean {
    const w = this.keyWords;
    const k = this.k;
    const b = s * KEY_WORDS;
    if (w[b + 9] !== k[9] || w[b + 1] !== k[1] || w[b + 2] !== k[2] || w[b] !== k[0]) return false;
    // same first word: same IP version; IPv4 keys have zeros in words 3..8
    return (k[0] & 0x60000) === 0x40000 || (w[b + 3] === k[3] && w[b + 4] === k[4] && w[b + 5] === k[5] && w[b + 6] === k[6] && w[b + 7] === k[7] && w[b + 8] === k[8]);
  }

  /** Slot of the flow whose key is in `this.k`, or -1. */
  private lookup(): number {
    const t = this.table;
    const m = this.mask;
    let i = this.hash(this.k) & m;
    for (;;) {
      const v = t[i];
      if (v === 0) return -1;
      if (this.keyEquals(v - 1)) return v - 1;
      i = (i + 1) & m;
    }
  }

  /** Inserts slot `s` under the key in `this.k`. */
  private insert(s: number): void {
    this.keyWords.set(this.k, s * KEY_WORDS);
    const t = this.table;
    const m = this.mask;
    let i = this.hash(this.k) & m;
    while (t[i] !== 0) i = (i + 1) & m;
    t[i] = s + 1;
    this.created[s] = this.flowsCreated;
    this.order.push(s);
    this.orderStamp.push(this.flowsCreated);
  }

  /** Removes slot `s` from the hash table (backward-shift deletion keeps probe chains intact). */
  private remove(s: number): void {
    const t = this.table;
    const m = this.mask;
    const w = this.keyWords;
    let i = this.hash(w.subarray(s * KEY_WORDS, s * KEY_WORDS + KEY_WORDS)) & m;
    while (t[i] !== s + 1) {
      if (t[i] === 0) return;
      i = (i + 1) & m;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & m;
      const v = t[j];
      if (v === 0) break;
      const home = this.hash(w.subarray((v - 1) * KEY_WORDS, v * KEY_WORDS)) & m;
      // move v into the hole at i if its home bucket is not in (i, j]
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        t[i] = v;
        i = j;
      }
    }
    t[i] = 0;
  }

  private rehash(): void {
    const size = Math.max(2048, 1 << Math.ceil(Math.log2(this.cap * 2)));
    this.table = new Int32Array(size);
    this.mask = size - 1;
    const w = this.keyWords;
    for (let s = 0; s < this.cap; s++) {
      if (this.keys[s] !== LIVE) continue;
      let i = this.hash(w.subarray(s * KEY_WORDS, s * KEY_WORDS + KEY_WORDS)) & this.mask;
      while (this.table[i] !== 0) i = (i + 1) & this.mask;
      this.table[i] = s + 1;
    }
  }

  private grow(n: number): void {
    const old = this.cap;
    const g = <T extends SlotArray>(a: T, per = 1): T => grownArray(a, n * per);
    this.id = g(this.id);
    this.tunnelParent = g(this.tunnelParent);
    this.evidence = g(this.evidence);
    this.firstPkt = g(this.firstPkt);
    this.ipProto = g(this.ipProto);
    this.ipVer = g(this.ipVer);
    this.origP = g(this.origP);
    this.respP = g(this.respP);
    this.oSub = g(this.oSub);
    this.origIsA = g(this.origIsA);
    this.seenO = g(this.seenO);
    this.seenR = g(this.seenR);
    this.closeComplete = g(this.closeComplete);
    this.estTimer = g(this.estTimer);
    this.startSec = g(this.startSec);
    this.startNs = g(this.startNs);
    this.lastSec = g(this.lastSec);
    this.lastNs = g(this.lastNs);
    this.vlan = g(this.vlan);
    this.innerVlan = g(this.innerVlan);
    this.flagCounts = g(this.flagCounts, 6);
    this.fpCount = g(this.fpCount);
    this.fp = g(this.fp, FP);
    this.eState = g(this.eState, 2);
    this.ePrev = g(this.ePrev, 2);
    this.eDidClose = g(this.eDidClose, 2);
    this.ePkts = g(this.ePkts, 2);
    this.eFront = g(this.eFront, 2);
    this.eGCount = g(this.eGCount, 2);
    this.eGThresh = g(this.eGThresh, 2);
    this.eGapOff = g(this.eGapOff, 2);
    this.missed = g(this.missed);
    this.eIpBytes = g(this.eIpBytes, 2);
    this.eBytes = g(this.eBytes, 2);
    this.eStartAbs = g(this.eStartAbs, 2);
    this.eLastAbs = g(this.eLastAbs, 2);
    this.eAckAbs = g(this.eAckAbs, 2);
    this.eLastRel = g(this.eLastRel, 2);
    this.eAckRel = g(this.eAckRel, 2);
    this.eFinCount = g(this.eFinCount, 2);
    this.eHistSyn = g(this.eHistSyn, 2);
    this.eHistFin = g(this.eHistFin, 2);
    this.eHistRst = g(this.eHistRst, 2);
    this.eTCount = g(this.eTCount, 2);
    this.eTThresh = g(this.eTThresh, 2);
    this.eWCount = g(this.eWCount, 2);
    this.eWThresh = g(this.eWThresh, 2);
    this.eLenMin = g(this.eLenMin, 2);
    this.eLenMax = g(this.eLenMax, 2);
    this.eLenMean = g(this.eLenMean, 2);
    this.eLenM2 = g(this.eLenM2, 2);
    this.eLastTs = g(this.eLastTs, 2);
    this.eIatN = g(this.eIatN, 2);
    this.eIatMin = g(this.eIatMin, 2);
    this.eIatMax = g(this.eIatMax, 2);
    this.eIatMean = g(this.eIatMean, 2);
    this.eIatM2 = g(this.eIatM2, 2);
    this.eMac = g(this.eMac, 2);
    this.keyWords = g(this.keyWords, KEY_WORDS);
    this.created = g(this.created);
    for (let s = n - 1; s >= old; s--) {
      this.free.push(s);
      this.keys[s] = 0;
    }
    this.cap = n;
    this.rehash();
  }

  private alloc(): number {
    if (this.free.length === 0) this.grow(this.cap * 2);
    const s = this.free.pop()!;
    this.used++;
    // reset the slot
    this.seenO[s] = 0;
    this.seenR[s] = 0;
    this.oSub[s] = 0;
    this.closeComplete[s] = 0;
    this.estTimer[s] = 0;
    this.fpCount[s] = 0;
    this.missed[s] = 0;
    this.flagCounts.fill(0, s * 6, s * 6 + 6);
    this.history[s] = '';
    this.service[s] = null;
    this.tunnelParent[s] = 0;
    this.keys[s] = LIVE;
    for (let e = 2 * s; e < 2 * s + 2; e++) {
      this.eState[e] = TcpState.Inactive;
      this.ePrev[e] = TcpState.Inactive;
      this.eDidClose[e] = 0;
      this.ePkts[e] = 0;
      this.eIpBytes[e] = 0;
      this.eBytes[e] = 0;
      this.eStartAbs[e] = 0;
      this.eLastAbs[e] = 0;
      this.eAckAbs[e] = 0;
      this.eLastRel[e] = 0;
      this.eAckRel[e] = 0;
      this.eFinCount[e] = 0;
      this.eHistSyn[e] = -1;
      this.eHistFin[e] = -1;
      this.eHistRst[e] = -1;
      this.eTCount[e] = 0;
      this.eTThresh[e] = 1;
      this.eFront[e] = 0;
      this.eGCount[e] = 0;
      this.eGThresh[e] = 1;
      this.eGapOff[e] = 0;
      this.ahead.delete(e);
      this.eWCount[e] = 0;
      this.eWThresh[e] = 1;
      this.eLenMin[e] = Infinity;
      this.eLenMax[e] = 0;
      this.eLenMean[e] = 0;
      this.eLenM2[e] = 0;
      this.eLastTs[e] = -1;
      this.eIatN[e] = 0;
      this.eIatMin[e] = Infinity;
      this.eIatMax[e] = 0;
      this.eIatMean[e] = 0;
      this.eIatM2[e] = 0;
      this.eMac[e] = NaN;
    }
    return s;
  }

  /**
   * Assigns the packet to a flow (creating or ending flows as Zeek would) and updates it.
   * Returns the flow id, or 0 when the packet belongs to no flow (non-IP, held fragment).
   */
  packet(d: Decoded, tsSec: number, tsNs: number, evidenceId: number, packetNo: number, linkBuf: Buffer | null): number {
    this.lastSlot = -1;
    if (d.ipVersion === 0 || d.fragHeld) return 0;
    const clock = this.clock;
    const ts = tsSec + tsNs / 1e9;
    if (ts > clock[0]) clock[0] = ts;
    if (clock[0] - clock[1] >= 5) this.sweep(clock[0]);
    clock[2] = ts;
    const proto = d.proto;
    let sp = 0;
    let dp = 0;
    let oneWay = false;
    if (proto === PROTO_TCP || proto === PROTO_UDP) {
      if (!d.hasL4) return 0;
      sp = d.sport;
      dp = d.dport;
    } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
      if (!d.hasL4) return 0;
      sp = d.icmpType;
      const cp = icmpCounterpart(proto === PROTO_ICMPV6, d.icmpType);
      if (cp < 0) {
        dp = d.icmpCode;
        oneWay = true;
      } else dp = cp;
    }
    // canonical key: lower (address, port) first, as 10 32-bit words in the scratch key
    const nb = d.nb;
    const k = this.k;
    let fwd: boolean;
    if (d.ipVersion === 4) {
      // signed words: any consistent order makes the key canonical, and small integers stay unboxed
      const a = i32be(nb, d.srcOff);
      const b = i32be(nb, d.dstOff);
      fwd = oneWay || a < b || (a === b && sp <= dp);
      k[0] = (proto << 8) | (oneWay ? 1 : 0) | 0x40000;
      k[1] = fwd ? a : b;
      k[2] = fwd ? b : a;
      if (this.kV6) {
        k.fill(0, 3, 9);
        this.kV6 = false;
      }
      k[9] = fwd ? ((sp << 16) | dp) >>> 0 : ((dp << 16) | sp) >>> 0;
    } else {
      let c = 0;
      for (let i = 0; i < 16 && c === 0; i += 4) c = i32be(nb, d.srcOff + i) - i32be(nb, d.dstOff + i);
      fwd = oneWay || c < 0 || (c === 0 && sp <= dp);
      const x = fwd ? d.srcOff : d.dstOff;
      const y = fwd ? d.dstOff : d.srcOff;
      k[0] = (proto << 8) | (oneWay ? 1 : 0) | 0x60000;
      this.kV6 = true;
      for (let i = 0; i < 4; i++) {
        k[1 + i] = i32be(nb, x + 4 * i);
        k[5 + i] = i32be(nb, y + 4 * i);
      }
      k[9] = fwd ? ((sp << 16) | dp) >>> 0 : ((dp << 16) | sp) >>> 0;
    }
    let s = this.lookup();
    if (s >= 0) {
      const why = this.expired(s);
      if (why) {
        this.end(s, why);
        s = -1;
      } else if (proto === PROTO_TCP && this.isReuse(s, fwd === (this.origIsA[s] === 1), d)) {
        this.end(s, 'reuse');
        s = -1;
      }
    }
    if (s < 0) {
      if (this.used >= this.cfg.maxFlows) this.evictOldest();
      s = this.alloc();
      this.flowsCreated++;
      this.insert(s);
      this.id[s] = this.nextId++;
      this.evidence[s] = evidenceId;
      this.firstPkt[s] = packetNo;
      this.ipProto[s] = proto;
      this.ipVer[s] = d.ipVersion;
      this.origIsA[s] = fwd ? 1 : 0;
      this.origH[s] = d.ipVersion === 4 ? formatIPv4(nb, d.srcOff) : formatIPv6(nb, d.srcOff);
      this.respH[s] = d.ipVersion === 4 ? formatIPv4(nb, d.dstOff) : formatIPv6(nb, d.dstOff);
      this.origP[s] = sp;
      this.respP[s] = dp;
      this.startSec[s] = tsSec;
      this.startNs[s] = tsNs;
      this.lastSec[s] = tsSec;
      this.lastNs[s] = tsNs;
      this.vlan[s] = d.vlan;
      this.innerVlan[s] = d.innerVlan;
      this.creationFlip(s, d, sp, dp);
    }
    const isOrig = fwd === (this.origIsA[s] === 1);
    const e = 2 * s + (isOrig ? this.oSub[s] : 1 - this.oSub[s]);
    if (d.macOff >= 0 && linkBuf !== null && this.eMac[e] !== this.eMac[e]) {
      const m = d.macOff + 6;
      this.eMac[e] = ((linkBuf[m] << 8) | linkBuf[m + 1]) * 4294967296 + linkBuf.readUInt32BE(m + 2);
    }
    this.ePkts[e]++;
    this.eIpBytes[e] += d.ipLen;
    this.stats(s, e, isOrig, d);
    if (proto === PROTO_TCP) {
      this.tcp(s, isOrig, d, tsSec, tsNs);
    } else {
      this.lastSec[s] = tsSec;
      this.lastNs[s] = tsNs;
      if (proto === PROTO_UDP) {
        this.eBytes[e] += d.payloadLen;
        if (isOrig) {
          if (!(this.seenO[s] & SEEN_D)) {
            this.seenO[s] |= SEEN_D;
            this.history[s] += 'D';
          }
        } else if (!(this.seenR[s] & SEEN_D)) {
          this.seenR[s] |= SEEN_D;
          this.history[s] += 'd';
        }
      } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
        this.eBytes[e] += Math.max(0, d.l4Len - 8);
      }
      // other IP protocols: Zeek counts packets and IP bytes only (orig_bytes/resp_bytes stay 0)
    }
    this.lastSlot = s;
    this.lastFwd = fwd;
    return this.id[s];
  }

  /** Swaps originator and responder (Zeek's flip); history gets '^'. */
  private flip(s: number): void {
    this.oSub[s] ^= 1;
    const h = this.origH[s];
    this.origH[s] = this.respH[s];
    this.respH[s] = h;
    const p = this.origP[s];
    this.origP[s] = this.respP[s];
    this.respP[s] = p;
    this.origIsA[s] ^= 1;
    this.history[s] += '^';
  }

  private creationFlip(s: number, d: Decoded, sp: number, dp: number): void {
    // Zeek never makes a broadcast destination the originator
    if (d.ipVersion === 4 && d.nb.readInt32BE(d.dstOff) === -1) return;
    if (d.proto === PROTO_TCP) {
      const fl = d.tcpFlags;
      const pureSyn = (fl & TCP_SYN) !== 0 && (fl & TCP_ACK) === 0;
      if (pureSyn) return;
      const ls = this.cfg.likelyServerTcp;
      if (ls.has(sp)) {
        if (ls.has(dp)) {
          if ((fl & TCP_SYN) === 0 && sp < dp) this.flip(s);
        } else this.flip(s);
      }
    } else if (d.proto === PROTO_UDP) {
      const ls = this.cfg.likelyServerUdp;
      if (ls.has(sp) && !ls.has(dp)) this.flip(s);
    }
  }

  private stats(s: number, e: number, isOrig: boolean, d: Decoded): void {
    const ts = this.clock[2];
    const len = d.ipLen;
    if (len < this.eLenMin[e]) this.eLenMin[e] = len;
    if (len > this.eLenMax[e]) this.eLenMax[e] = len;
    const mean = this.eLenMean[e];
    const dl = len - mean;
    const m2 = mean + dl / this.ePkts[e];
    this.eLenMean[e] = m2;
    this.eLenM2[e] += dl * (len - m2);
    const last = this.eLastTs[e];
    if (last >= 0) {
      const iat = ts - last;
      const g = iat < 0 ? 0 : iat;
      const n = ++this.eIatN[e];
      if (g < this.eIatMin[e]) this.eIatMin[e] = g;
      if (g > this.eIatMax[e]) this.eIatMax[e] = g;
      const im = this.eIatMean[e];
      const di = g - im;
      const im2 = im + di / n;
      this.eIatMean[e] = im2;
      this.eIatM2[e] += di * (g - im2);
    }
    this.eLastTs[e] = ts;
    if (d.payloadLen > 0 && this.fpCount[s] < FP) this.fp[s * FP + this.fpCount[s]++] = isOrig ? d.payloadLen : -d.payloadLen;
    if (d.proto === PROTO_TCP) {
      const fl = d.tcpFlags;
      const b = s * 6;
      if (fl & TCP_SYN) this.flagCounts[b]++;
      if (fl & TCP_FIN) this.flagCounts[b + 1]++;
      if (fl & TCP_RST) this.flagCounts[b + 2]++;
      if (fl & TCP_PSH) this.flagCounts[b + 3]++;
      if (fl & TCP_ACK) this.flagCounts[b + 4]++;
      if (fl & TCP_URG) this.flagCounts[b + 5]++;
    }
  }

  private inactivity(s: number): number {
    switch (this.ipProto[s]) {
      case PROTO_TCP:
        return this.estTimer[s] ? this.cfg.tcpInactivitySec : this.cfg.tcpSetupInactivitySec;
      case PROTO_UDP: {
        const a = this.origP[s];
        const b = this.respP[s];
        if (DNS_PORTS.has(a) || DNS_PORTS.has(b)) return this.cfg.dnsInactivitySec;
        return this.cfg.udpInactivitySec;
      }
      case PROTO_ICMP:
      case PROTO_ICMPV6:
        return this.cfg.icmpInactivitySec;
      default:
        return this.cfg.otherInactivitySec;
    }
  }

  /** Why the flow has ended by time clock[2], or '' when it is still live. */
  private expired(s: number): string {
    const now = this.clock[2];
    const last = this.lastSec[s] + this.lastNs[s] / 1e9;
    if (now - last > this.inactivity(s)) return 'idle';
    if (this.ipProto[s] === PROTO_TCP) {
      if (this.closeComplete[s] && now - last > this.cfg.tcpCloseDelaySec) return 'close';
      const o = 2 * s + this.oSub[s];
      const os = this.eState[o];
      if (
        (os === TcpState.SynSent || os === TcpState.SynAckSent) &&
        this.eState[o ^ 1] === TcpState.Inactive &&
        now - (this.startSec[s] + this.startNs[s] / 1e9) > this.cfg.tcpAttemptDelaySec
      ) {
        return 'attempt';
      }
    }
    if (this.cfg.activeTimeoutSec > 0 && now - (this.startSec[s] + this.startNs[s] / 1e9) > this.cfg.activeTimeoutSec) return 'active';
    return '';
  }

  /** Zeek's connection reuse: a new SYN on a closed connection, or with a different initial sequence number. */
  private isReuse(s: number, isOrig: boolean, d: Decoded): boolean {
    const fl = d.tcpFlags;
    if (!(fl & TCP_SYN) || fl & TCP_RST) return false;
    const o = 2 * s + this.oSub[s];
    const e = isOrig ? o : o ^ 1;
    const pureSyn = !(fl & TCP_ACK);
    if (!pureSyn && this.eState[e] !== TcpState.Inactive) return false;
    if (this.eDidClose[o] || this.eDidClose[o ^ 1]) return true;
    if (this.eState[e] === TcpState.Inactive) return false;
    return d.seq !== this.eStartAbs[e];
  }

  private setState(e: number, st: TcpState): void {
    this.ePrev[e] = this.eState[e];
    this.eState[e] = st;
  }

  private letter(s: number, isOrig: boolean, l: string): void {
    // repeated letters (a RST storm with changing sequence numbers) cannot grow a history without bound
    if (this.history[s].length < MAX_HISTORY) this.history[s] += isOrig ? l : l.toLowerCase();
  }

  private once(s: number, isOrig: boolean, bit: number, l: string): void {
    if (isOrig) {
      if (this.seenO[s] & bit) return;
      this.seenO[s] |= bit;
      this.history[s] += l;
    } else {
      if (this.seenR[s] & bit) return;
      this.seenR[s] |= bit;
      this.history[s] += l.toLowerCase();
    }
  }

  private seen(s: number, isOrig: boolean, bit: number): boolean {
    return ((isOrig ? this.seenO[s] : this.seenR[s]) & bit) !== 0;
  }

  private initSeq(e: number, start: number, last: number, lastRel: number): void {
    if (this.eState[e] === TcpState.Inactive) {
      this.eFront[e] = last;
      this.ahead.delete(e);
    } else if (start !== this.eStartAbs[e]) {
      // a SYN with a new initial sequence number inside a live connection: which sequence space
      // the peer acknowledges is unclear from here on, so this side's gaps are no longer counted
      this.eGapOff[e] = 1;
      this.ahead.delete(e);
    }
    this.eStartAbs[e] = start;
    this.eLastAbs[e] = last;
    this.eLastRel[e] = lastRel;
    this.eAckAbs[e] = start;
    this.eAckRel[e] = 0;
  }

  /** Endpoint `e` sent [seq, seq + len): the frontier moves over it and over what was held ahead. */
  private cover(e: number, seq: number, len: number): void {
    if (this.eGapOff[e] === 1) return;
    let f = this.eFront[e];
    const from = (seq - f) | 0;
    if (from > MAX_SEQ_JUMP || from < -MAX_SEQ_JUMP) return; // a wild sequence number
    if (from > 0) {
      // beyond a hole: kept (merged with the ranges it touches) until the hole fills or is acknowledged
      let r = this.ahead.get(e);
      if (r === undefined) this.ahead.set(e, (r = []));
      this.hold(e, r, seq, (seq + len) >>> 0);
      return;
    }
    if (from + len <= 0) return; // old data
    f = (seq + len) >>> 0;
    const r = this.ahead.get(e);
    if (r !== undefined) f = this.reach(e, r, f, f);
    this.eFront[e] = f;
  }

  /**
   * Adds [a, b) to the ranges held ahead of endpoint `e`'s frontier, merged with every range it
   * overlaps or touches, so that a bulk transfer after one lost segment holds one range. Past
   * MAX_AHEAD separate ranges the side's gaps are no longer counted (too much loss to tell what
   * was acknowledged unseen; under-counting beats inventing gaps).
   */
  private hold(e: number, r: number[], a: number, b: number): void {
    for (let i = 0; i < r.length; ) {
      // [r[i], r[i+1]) touches [a, b) when neither lies wholly before the other
      if (((r[i] - b) | 0) <= 0 && ((a - r[i + 1]) | 0) <= 0) {
        if (((r[i] - a) | 0) < 0) a = r[i];
        if (((r[i + 1] - b) | 0) > 0) b = r[i + 1];
        r.splice(i, 2);
      } else i += 2;
    }
    if (r.length >= 2 * MAX_AHEAD) {
      this.eGapOff[e] = 1;
      this.ahead.delete(e);
      return;
    }
    r.push(a, b);
  }

  /**
   * Moves frontier `f` of endpoint `e` over the ranges held ahead that start by `to` (holes before
   * them are counted in `jumped`) or that touch the frontier; returns the new frontier.
   */
  private reach(e: number, r: number[], f: number, to: number): number {
    this.jumped = 0;
    for (let again = true; again; ) {
      again = false;
      // the range that starts first among those that start by `to` or touch the frontier
      let best = -1;
      for (let i = 0; i < r.length; i += 2) {
        if (((r[i] - to) | 0) > 0 && ((r[i] - f) | 0) > 0) continue;
        if (best < 0 || ((r[i] - r[best]) | 0) < 0) best = i;
      }
      if (best < 0) break;
      const gap = (r[best] - f) | 0;
      if (gap > 0) this.jumped += gap;
      if (((r[best + 1] - f) | 0) > 0) f = r[best + 1];
      r.splice(best, 2);
      again = r.length > 0;
    }
    if (r.length === 0) this.ahead.delete(e);
    return f;
  }
  private jumped = 0;

  /** The peer acknowledged endpoint `e`'s bytes up to `ack`: what lies below it unseen is a gap. */
  private acked(s: number, e: number, eIsOrig: boolean, ack: number): void {
    if (this.eGapOff[e] === 1) return;
    const f = this.eFront[e];
    const d = (ack - f) | 0;
    if (d <= 0 || d > MAX_SEQ_JUMP) return;
    const r = this.ahead.get(e);
    let g = f;
    let missing = 0;
    if (r !== undefined) {
      g = this.reach(e, r, f, ack);
      missing = this.jumped;
    }
    const rest = (ack - g) | 0;
    if (rest > 0) {
      missing += rest;
      g = ack;
    }
    this.eFront[e] = g;
    if (missing > 0) {
      this.missed[s] += missing;
      if (++this.eGCount[e] === this.eGThresh[e]) {
        this.letter(s, eIsOrig, 'G');
        this.eGThresh[e] *= 10;
      }
    }
  }

  private tcp(s: number, isOrig: boolean, d: Decoded, tsSec: number, tsNs: number): void {
    let E = 2 * s + (isOrig ? this.oSub[s] : 1 - this.oSub[s]);
    let P = E ^ 1;
    const st = this.eState;
    const fl = d.tcpFlags;
    const syn = (fl & TCP_SYN) !== 0;
    const fin = (fl & TCP_FIN) !== 0;
    const rst = (fl & TCP_RST) !== 0;
    const ack = (fl & TCP_ACK) !== 0;
    const len = d.payloadLen;
    const seq = d.seq;
    let segLen = len + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (rst) segLen -= len;
    const seqEnd = (seq + segLen) >>> 0;

    // late flip: the responder answers our "originator's" SYN-ACK with the matching SYN
    if (!isOrig && syn && !ack && st[E] === TcpState.Inactive && st[P] === TcpState.SynAckSent && ((this.eAckAbs[P] - 1) >>> 0) === seq) {
      this.flip(s);
      isOrig = true;
      E = 2 * s + this.oSub[s];
      P = E ^ 1;
      st[E] = TcpState.Established;
      st[P] = TcpState.Established;
      this.estTimer[s] = 1;
    }

    // sequence numbers
    if (st[E] === TcpState.Inactive) {
      if (syn) this.initSeq(E, seq, seq, 0);
      else this.initSeq(E, (seq - 1) >>> 0, seq, 1);
    } else if (syn && !rst) {
      const es = st[E];
      const reinit =
        ((es === TcpState.SynSent || es === TcpState.SynAckSent) && seq !== this.eStartAbs[E]) ||
        es === TcpState.Established ||
        es === TcpState.Partial ||
        (es === TcpState.Reset && this.ePrev[E] === TcpState.Inactive);
      if (reinit) this.initSeq(E, seq, seq, 0);
    }
    const relSeq = (seq - this.eStartAbs[E]) >>> 0;

    // content gaps: bytes of the peer that this packet acknowledges but the capture never had
    if (ack && !rst && st[P] !== TcpState.Inactive) this.acked(s, P, !isOrig, d.ack);
    if (segLen > 0 && !rst) this.cover(E, seq, segLen);

    // history (before the state change)
    const n = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (n > 1) {
      if (fin && rst) this.once(s, isOrig, SEEN_I, 'I');
      else this.once(s, isOrig, SEEN_Q, 'Q');
    } else if (n === 1) {
      if (syn) {
        const l = ack ? 'H' : 'S';
        if (!this.seen(s, isOrig, SEEN_S)) this.once(s, isOrig, SEEN_S, l);
        else if (relSeq !== this.eHistSyn[E]) this.letter(s, isOrig, l);
        this.eHistSyn[E] = relSeq;
      } else if (fin) {
        const k = (relSeq + len) >>> 0;
        if (!this.seen(s, isOrig, SEEN_F)) this.once(s, isOrig, SEEN_F, 'F');
        else if (k !== this.eHistFin[E]) this.letter(s, isOrig, 'F');
        this.eHistFin[E] = k;
      } else {
        if (!this.seen(s, isOrig, SEEN_R)) this.once(s, isOrig, SEEN_R, 'R');
        else if (relSeq !== this.eHistRst[E]) this.letter(s, isOrig, 'R');
        this.eHistRst[E] = relSeq;
      }
    } else if (len > 0) this.once(s, isOrig, SEEN_D, 'D');
    else if (ack) this.once(s, isOrig, SEEN_A, 'A');

    if (!rst && d.win === 0 && !syn && st[P] !== TcpState.Closed && st[E] !== TcpState.Reset) {
      if (++this.eWCount[E] === this.eWThresh[E]) {
        this.letter(s, isOrig, 'W');
        this.eWThresh[E] *= 10;
      }
    }
    if (!(this.eDidClose[E] && this.eDidClose[P])) {
      this.lastSec[s] = tsSec;
      this.lastNs[s] = tsNs;
    }
    if (fin) this.eFinCount[E]++;
    if (ack) {
      const a = d.ack;
      if (st[P] === TcpState.Inactive) {
        const p0 = (a - 1) >>> 0;
        this.initSeq(P, p0, p0, 0);
        this.eFront[P] = a; // nothing before the first acknowledged byte is missing
      } else if (!rst) {
        const delta = (a - this.eAckAbs[P]) | 0;
        if (delta > 0 && !(a === 0 && delta > 1048576)) {
          this.eAckAbs[P] = a;
          this.eAckRel[P] += delta;
        }
      }
    }
    // last sequence number / retransmissions
    const delta = (seqEnd - this.eLastAbs[E]) | 0;
    if ((syn || rst) && (delta > 1048576 || delta < -1048576)) {
      // ignore wild SYN/RST sequence numbers
    } else if (fin && this.eLastRel[E] === 1) {
      this.eLastRel[E] += delta;
      this.eLastAbs[E] = seqEnd;
    } else if (st[E] === TcpState.Reset) {
      // nothing
    } else if (delta > 0) {
      this.eLastRel[E] += delta;
      this.eLastAbs[E] = seqEnd;
    } else if (len > 0) {
      if (++this.eTCount[E] === this.eTThresh[E]) {
        this.letter(s, isOrig, 'T');
        this.eTThresh[E] *= 10;
      }
    }
    // state machine by the sender's state before this packet
    let doClose = false;
    switch (st[E]) {
      case TcpState.Inactive:
        if (syn) {
          if (isOrig) this.setState(E, ack ? TcpState.SynAckSent : TcpState.SynSent);
          else {
            if (st[P] === TcpState.SynSent) this.setState(P, TcpState.Established);
            this.setState(E, TcpState.Established);
            this.estTimer[s] = 1;
          }
        }
        if (fin) {
          this.setState(E, TcpState.Closed);
          doClose = true;
        }
        if (rst) {
          this.setState(E, TcpState.Reset);
          doClose = true;
        }
        if (st[E] === TcpState.Inactive) {
          const o = 2 * s + this.oSub[s];
          if (!isOrig && len === 0 && st[o] === TcpState.SynSent) {
            // early ACK of a SYN: stays inactive
          } else if (ack && st[P] === TcpState.Established) {
            this.setState(E, TcpState.Established);
            this.estTimer[s] = 1;
          } else {
            this.setState(E, TcpState.Partial);
            this.estTimer[s] = 1;
          }
        }
        break;
      case TcpState.SynSent:
      case TcpState.SynAckSent:
        if (fin) {
          this.setState(E, TcpState.Closed);
          doClose = true;
        } else if (rst) {
          this.setState(E, TcpState.Reset);
          doClose = true;
        }
        break;
      case TcpState.Established:
      case TcpState.Partial:
        if (syn && !ack && st[E] === TcpState.Partial && st[P] === TcpState.Inactive) this.setState(E, TcpState.SynSent);
        if (fin && !rst) {
          this.setState(E, TcpState.Closed);
          if (st[P] === TcpState.Reset && this.ePrev[P] === TcpState.Closed) this.setState(P, TcpState.Closed);
          doClose = true;
        } else if (rst) {
          this.setState(E, TcpState.Reset);
          doClose = true;
        }
        break;
      case TcpState.Closed:
        if (rst && st[P] !== TcpState.Closed) {
          this.setState(E, TcpState.Reset);
          doClose = !this.eDidClose[E];
        }
        break;
      default:
        break;
    }
    if (doClose && !this.eDidClose[E]) {
      this.eDidClose[E] = 1;
      if (st[E] === TcpState.Reset || this.eDidClose[P] || st[P] === TcpState.Inactive) this.closeComplete[s] = 1;
    }
  }

  private tcpSize(e: number, p: number): number {
    if (this.ePrev[e] === TcpState.SynSent && this.eState[e] === TcpState.Reset && this.eState[p] === TcpState.Inactive && this.eAckRel[e] <= 1) return 0;
    let size = Math.max(this.eLastRel[e], this.eAckRel[e]);
    if (size > 0) size--;
    if (this.eFinCount[e] > 0 && size > 0) size--;
    return size;
  }

  private endpointRecord(e: number): EndpointRecord {
    return {
      state: this.eState[e],
      prevState: this.ePrev[e],
      pkts: this.ePkts[e],
      ipBytes: this.eIpBytes[e],
      bytes: this.eBytes[e],
      lenMin: this.eLenMin[e],
      lenMax: this.eLenMax[e],
      lenMean: this.eLenMean[e],
      lenM2: this.eLenM2[e],
      iatN: this.eIatN[e],
      iatMin: this.eIatMin[e],
      iatMax: this.eIatMax[e],
      iatMean: this.eIatMean[e],
      iatM2: this.eIatM2[e],
      mac: macText(this.eMac[e]),
    };
  }

  /** The record of the flow in slot `s` as it stands now. */
  private record(s: number, endReason: string): FlowRecord {
    const oe = this.origEndpoint(s);
    const re = oe ^ 1;
    const ipProto = this.ipProto[s];
    const history = this.history[s];
    const origBytes = this.origBytesOf(s);
    const respBytes = this.respBytesOf(s);
    const connState = this.connStateOf(s);
    const fc = s * 6;
    const fps: number[] = [];
    for (let i = 0; i < this.fpCount[s]; i++) fps.push(this.fp[s * FP + i]);
    return {
      id: this.id[s],
      ipProto,
      ipVersion: this.ipVer[s],
      evidenceId: this.evidence[s],
      firstPacket: this.firstPkt[s],
      proto: protoName(ipProto),
      origH: this.origH[s],
      respH: this.respH[s],
      origP: this.origP[s],
      respP: this.respP[s],
      startSec: this.startSec[s],
      startNs: this.startNs[s],
      lastSec: this.lastSec[s],
      lastNs: this.lastNs[s],
      duration: this.lastSec[s] - this.startSec[s] + (this.lastNs[s] - this.startNs[s]) / 1e9,
      history,
      service: this.service[s],
      connState,
      origBytes,
      respBytes,
      missedBytes: this.missed[s],
      o: this.endpointRecord(oe),
      r: this.endpointRecord(re),
      vlan: this.vlan[s],
      innerVlan: this.innerVlan[s],
      synCount: this.flagCounts[fc],
      finCount: this.flagCounts[fc + 1],
      rstCount: this.flagCounts[fc + 2],
      pshCount: this.flagCounts[fc + 3],
      ackCount: this.flagCounts[fc + 4],
      urgCount: this.flagCounts[fc + 5],
      firstPayloads: fps,
      endReason,
    };
  }

  private end(s: number, reason: string): void {
    if (this.onFlowEnd !== null) this.onFlowEnd(s);
    const sink = this.sink;
    if (typeof sink === 'function') sink(this.record(s, reason));
    else sink.writeFlow(this, s, reason);
    // segments held ahead of a hole end with the flow (a one-way capture never acknowledges them)
    this.ahead.delete(2 * s);
    this.ahead.delete(2 * s + 1);
    this.remove(s);
    this.release(s);
  }

  /** Endpoint index of the originator of slot `s` (the responder is this ^ 1). */
  origEndpoint(s: number): number {
    return 2 * s + this.oSub[s];
  }

  origBytesOf(s: number): number {
    const o = this.origEndpoint(s);
    return this.ipProto[s] === PROTO_TCP ? this.tcpSize(o, o ^ 1) : this.eBytes[o];
  }

  respBytesOf(s: number): number {
    const o = this.origEndpoint(s);
    return this.ipProto[s] === PROTO_TCP ? this.tcpSize(o ^ 1, o) : this.eBytes[o ^ 1];
  }

  /** Zeek conn_state of slot `s` now. */
  connStateOf(s: number): string {
    const o = this.origEndpoint(s);
    const p = this.ipProto[s];
    if (p === PROTO_TCP) return tcpConnState(this.eState[o], this.eState[o ^ 1], this.tcpSize(o, o ^ 1), this.tcpSize(o ^ 1, o), this.history[s]);
    if (p === PROTO_UDP) return udpConnState(this.ePkts[o] > 0, this.ePkts[o ^ 1] > 0);
    return 'OTH';
  }

  /** Address words of the originator (orig = true) or responder of slot `s`: 1 word for IPv4, 4 for IPv6. */
  addrWords(s: number, orig: boolean): Uint32Array {
    const b = s * KEY_WORDS;
    const a = (this.origIsA[s] === 1) === orig;
    const v4 = this.ipVer[s] === 4;
    if (v4) return this.keyWords.subarray(a ? b + 1 : b + 2, a ? b + 2 : b + 3);
    return this.keyWords.subarray(a ? b + 1 : b + 5, a ? b + 5 : b + 9);
  }

  private release(s: number): void {
    this.keys[s] = 0;
    this.history[s] = '';
    this.service[s] = null;
    this.origH[s] = '';
    this.respH[s] = '';
    this.free.push(s);
    this.used--;
  }

  /**
   * Entry `i` of `order` still names the flow it was made for: its slot is live and was not freed
   * and reused by a newer flow since (the creation stamps differ then).
   */
  private current(i: number): boolean {
    const s = this.order[i];
    return this.keys[s] === LIVE && this.created[s] === this.orderStamp[i];
  }

  /** Keeps only the current entries of `order`, in creation order. */
  private compactOrder(): void {
    const slots: number[] = [];
    const stamps: number[] = [];
    for (let i = this.orderHead; i < this.order.length; i++) {
      if (!this.current(i)) continue;
      slots.push(this.order[i]);
      stamps.push(this.orderStamp[i]);
    }
    this.order = slots;
    this.orderStamp = stamps;
    this.orderHead = 0;
  }

  private evictOldest(): void {
    while (this.orderHead < this.order.length) {
      const i = this.orderHead++;
      if (this.current(i)) {
        this.evicted++;
        this.end(this.order[i], 'evicted');
        break;
      }
    }
    if (this.orderHead > 4096 && this.orderHead * 2 > this.order.length) this.compactOrder();
  }

  /** Ends every flow whose timers have run out at packet time `now`. */
  sweep(now: number): void {
    this.clock[1] = now;
    this.clock[2] = now;
    for (let i = this.orderHead; i < this.order.length; i++) {
      if (!this.current(i)) continue;
      const s = this.order[i];
      const why = this.expired(s);
      if (why) this.end(s, why);
    }
    this.compactOrder();
  }

  /** End of input: every remaining flow is written with its current state, oldest first. */
  finish(): void {
    this.compactOrder();
    for (const s of this.order) this.end(s, 'eof');
    this.order = [];
    this.orderStamp = [];
  }
}
