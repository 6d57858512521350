/**
 * The flow tracker: Zeek conn.log semantics (orig/resp roles with Zeek's flips, per-endpoint TCP
 * states, history letters, sequence-space byte counts, inactivity/attempt/close timers) plus
 * per-direction statistics for the models. Memory is bounded by `maxFlows`.
 */
import { formatIPv4, formatIPv6, formatMac } from '../decode/addr.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, type Decoded } from '../decode/packet.js';
import { LIKELY_SERVER_TCP, LIKELY_SERVER_UDP, TcpState, icmpCounterpart, tcpConnState, udpConnState } from './connstate.js';

export interface FlowConfig {
  tcpInactivitySec: number;
  /** Inactivity timeout of a TCP connection before its handshake completes (Zeek uses the UDP value). */
  tcpSetupInactivitySec: number;
  udpInactivitySec: number;
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
  icmpInactivitySec: 60,
  otherInactivitySec: 60,
  tcpAttemptDelaySec: 5,
  tcpCloseDelaySec: 5,
  activeTimeoutSec: 0,
  maxFlows: 4_000_000,
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

export class Endpoint {
  state: TcpState = TcpState.Inactive;
  prevState: TcpState = TcpState.Inactive;
  didClose = false;
  pkts = 0;
  ipBytes = 0;
  /** Payload bytes (UDP/ICMP/other), summed. */
  bytes = 0;
  // TCP sequence space, relative to the endpoint's start sequence number
  startAbs = 0;
  lastAbs = 0;
  lastRel = 0;
  ackAbs = 0;
  ackRel = 0;
  finCount = 0;
  histLastSyn = -1;
  histLastFin = -1;
  histLastRst = -1;
  tCount = 0;
  tThresh = 1;
  wCount = 0;
  wThresh = 1;
  // statistics
  lenMin = Infinity;
  lenMax = 0;
  lenMean = 0;
  lenM2 = 0;
  lastTs = -1;
  iatN = 0;
  iatMin = Infinity;
  iatMax = 0;
  iatMean = 0;
  iatM2 = 0;
  mac: string | null = null;
}

export class Flow {
  readonly o = new Endpoint();
  readonly r = new Endpoint();
  /** History "seen" bits per role slot (not swapped on flips, as Zeek). */
  seenO = 0;
  seenR = 0;
  history = '';
  origH = '';
  respH = '';
  origP = 0;
  respP = 0;
  /** Originator's address is the key's first (lower) side. */
  origIsA = true;
  startSec = 0;
  startNs = 0;
  lastSec = 0;
  lastNs = 0;
  closeComplete = false;
  tcpEstablishedTimer = false;
  synCount = 0;
  finCount = 0;
  rstCount = 0;
  pshCount = 0;
  ackCount = 0;
  urgCount = 0;
  firstPayloads: number[] = [];
  vlan = -1;
  innerVlan = -1;
  endReason = '';
  constructor(
    readonly id: number,
    readonly key: string,
    readonly ipProto: number,
    readonly ipVersion: number,
    readonly evidenceId: number,
    readonly firstPacket: number,
  ) {}

  get proto(): string {
    const p = this.ipProto;
    return p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_ICMP || p === PROTO_ICMPV6 ? 'icmp' : 'unknown_transport';
  }

  get lastTime(): number {
    return this.lastSec + this.lastNs / 1e9;
  }

  get startTime(): number {
    return this.startSec + this.startNs / 1e9;
  }

  get duration(): number {
    return this.lastSec - this.startSec + (this.lastNs - this.startNs) / 1e9;
  }

  tcpSize(e: Endpoint, peer: Endpoint): number {
    if (e.prevState === TcpState.SynSent && e.state === TcpState.Reset && peer.state === TcpState.Inactive && e.ackRel <= 1) return 0;
    let size = Math.max(e.lastRel, e.ackRel);
    if (size > 0) size--;
    if (e.finCount > 0 && size > 0) size--;
    return size;
  }

  get origBytes(): number {
    return this.ipProto === PROTO_TCP ? this.tcpSize(this.o, this.r) : this.o.bytes;
  }

  get respBytes(): number {
    return this.ipProto === PROTO_TCP ? this.tcpSize(this.r, this.o) : this.r.bytes;
  }

  get connState(): string {
    if (this.ipProto === PROTO_TCP) return tcpConnState(this.o.state, this.r.state, this.origBytes, this.respBytes, this.history);
    if (this.ipProto === PROTO_UDP) return udpConnState(this.o.pkts > 0, this.r.pkts > 0);
    return 'OTH';
  }

  /** Swaps originator and responder (Zeek's flip); history gets '^'. */
  flip(): void {
    const o = this.o;
    (this as { o: Endpoint }).o = this.r;
    (this as { r: Endpoint }).r = o;
    const h = this.origH;
    this.origH = this.respH;
    this.respH = h;
    const p = this.origP;
    this.origP = this.respP;
    this.respP = p;
    this.origIsA = !this.origIsA;
    this.history += '^';
  }
}

export type FlowSink = (f: Flow) => void;

/** Tracks flows; call `packet()` for each decoded packet, `sweep()` is automatic, `finish()` at the end. */
export class FlowTracker {
  private readonly flows = new Map<string, Flow>();
  private nextId: number;
  private lastSweep = -Infinity;
  private now = -Infinity;
  flowsCreated = 0;
  evicted = 0;

  constructor(
    private readonly sink: FlowSink,
    firstId = 1,
    private readonly cfg: FlowConfig = DEFAULT_FLOW_CONFIG,
  ) {
    this.nextId = firstId;
  }

  get active(): number {
    return this.flows.size;
  }

  get nextFlowId(): number {
    return this.nextId;
  }

  /**
   * Assigns the packet to a flow (creating or ending flows as Zeek would) and updates it.
   * Returns the flow id, or 0 when the packet belongs to no flow (non-IP, held fragment).
   */
  packet(d: Decoded, tsSec: number, tsNs: number, evidenceId: number, packetNo: number, linkBuf: Buffer | null): number {
    if (d.ipVersion === 0 || d.fragHeld) return 0;
    const ts = tsSec + tsNs / 1e9;
    if (ts > this.now) this.now = ts;
    if (this.now - this.lastSweep >= 5) this.sweep(this.now);
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
    // canonical key: lower (address, port) first
    const nb = d.nb;
    let fwd: boolean;
    let key: string;
    if (d.ipVersion === 4) {
      const a = nb.readUInt32BE(d.srcOff);
      const b = nb.readUInt32BE(d.dstOff);
      fwd = oneWay || a < b || (a === b && sp <= dp);
      key = fwd
        ? String.fromCharCode(proto, a >>> 16, a & 0xffff, sp, b >>> 16, b & 0xffff, dp)
        : String.fromCharCode(proto, b >>> 16, b & 0xffff, dp, a >>> 16, a & 0xffff, sp);
      if (oneWay) key += '1';
    } else {
      let c = 0;
      for (let i = 0; i < 16 && c === 0; i += 4) c = nb.readUInt32BE(d.srcOff + i) - nb.readUInt32BE(d.dstOff + i);
      fwd = oneWay || c < 0 || (c === 0 && sp <= dp);
      const x = fwd ? d.srcOff : d.dstOff;
      const y = fwd ? d.dstOff : d.srcOff;
      key =
        String.fromCharCode(proto, 6, fwd ? sp : dp, fwd ? dp : sp) +
        nb.toString('latin1', x, x + 16) +
        nb.toString('latin1', y, y + 16) +
        (oneWay ? '1' : '');
    }
    let f = this.flows.get(key);
    if (f !== undefined) {
      const why = this.expired(f, ts);
      if (why) {
        this.end(f, why);
        f = undefined;
      } else if (proto === PROTO_TCP && this.isReuse(f, fwd === f.origIsA, d)) {
        this.end(f, 'reuse');
        f = undefined;
      }
    }
    let created = false;
    if (f === undefined) {
      if (this.flows.size >= this.cfg.maxFlows) this.evictOldest();
      f = new Flow(this.nextId++, key, proto, d.ipVersion, evidenceId, packetNo);
      this.flowsCreated++;
      f.origIsA = fwd;
      f.origH = d.ipVersion === 4 ? formatIPv4(nb, d.srcOff) : formatIPv6(nb, d.srcOff);
      f.respH = d.ipVersion === 4 ? formatIPv4(nb, d.dstOff) : formatIPv6(nb, d.dstOff);
      f.origP = sp;
      f.respP = dp;
      f.startSec = tsSec;
      f.startNs = tsNs;
      f.lastSec = tsSec;
      f.lastNs = tsNs;
      f.vlan = d.vlan;
      f.innerVlan = d.innerVlan;
      this.flows.set(key, f);
      created = true;
      this.creationFlip(f, d, sp, dp);
    }
    const isOrig = fwd === f.origIsA;
    const e = isOrig ? f.o : f.r;
    if (e.mac === null && linkBuf !== null && d.macOff >= 0) e.mac = formatMac(linkBuf, d.macOff + 6);
    e.pkts++;
    e.ipBytes += d.ipLen;
    this.stats(f, e, isOrig, d, ts);
    if (proto === PROTO_TCP) {
      this.tcp(f, isOrig, d, tsSec, tsNs);
    } else {
      f.lastSec = tsSec;
      f.lastNs = tsNs;
      if (proto === PROTO_UDP) {
        e.bytes += d.payloadLen;
        if (isOrig) {
          if (!(f.seenO & SEEN_D)) {
            f.seenO |= SEEN_D;
            f.history += 'D';
          }
        } else if (!(f.seenR & SEEN_D)) {
          f.seenR |= SEEN_D;
          f.history += 'd';
        }
      } else if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) {
        e.bytes += Math.max(0, d.l4Len - 8);
      } else {
        e.bytes += d.payloadLen;
      }
    }
    void created;
    return f.id;
  }

  private creationFlip(f: Flow, d: Decoded, sp: number, dp: number): void {
    if (d.proto === PROTO_TCP) {
      const fl = d.tcpFlags;
      const pureSyn = (fl & TCP_SYN) !== 0 && (fl & TCP_ACK) === 0;
      if (pureSyn) return;
      const ls = this.cfg.likelyServerTcp;
      if (ls.has(sp)) {
        if (ls.has(dp)) {
          if ((fl & TCP_SYN) === 0 && sp < dp) f.flip();
        } else f.flip();
      }
    } else if (d.proto === PROTO_UDP) {
      const ls = this.cfg.likelyServerUdp;
      if (ls.has(sp) && !ls.has(dp)) f.flip();
    }
  }

  private stats(f: Flow, e: Endpoint, isOrig: boolean, d: Decoded, ts: number): void {
    const len = d.ipLen;
    if (len < e.lenMin) e.lenMin = len;
    if (len > e.lenMax) e.lenMax = len;
    const dl = len - e.lenMean;
    e.lenMean += dl / e.pkts;
    e.lenM2 += dl * (len - e.lenMean);
    if (e.lastTs >= 0) {
      const iat = ts - e.lastTs;
      const g = iat < 0 ? 0 : iat;
      e.iatN++;
      if (g < e.iatMin) e.iatMin = g;
      if (g > e.iatMax) e.iatMax = g;
      const di = g - e.iatMean;
      e.iatMean += di / e.iatN;
      e.iatM2 += di * (g - e.iatMean);
    }
    e.lastTs = ts;
    if (d.payloadLen > 0 && f.firstPayloads.length < 8) f.firstPayloads.push(isOrig ? d.payloadLen : -d.payloadLen);
    if (d.proto === PROTO_TCP) {
      const fl = d.tcpFlags;
      if (fl & TCP_SYN) f.synCount++;
      if (fl & TCP_FIN) f.finCount++;
      if (fl & TCP_RST) f.rstCount++;
      if (fl & TCP_PSH) f.pshCount++;
      if (fl & TCP_ACK) f.ackCount++;
      if (fl & TCP_URG) f.urgCount++;
    }
  }

  private inactivity(f: Flow): number {
    switch (f.ipProto) {
      case PROTO_TCP:
        return f.tcpEstablishedTimer ? this.cfg.tcpInactivitySec : this.cfg.tcpSetupInactivitySec;
      case PROTO_UDP:
        return this.cfg.udpInactivitySec;
      case PROTO_ICMP:
      case PROTO_ICMPV6:
        return this.cfg.icmpInactivitySec;
      default:
        return this.cfg.otherInactivitySec;
    }
  }

  /** Why the flow has ended by time `now`, or '' when it is still live. */
  private expired(f: Flow, now: number): string {
    const last = f.lastTime;
    if (now - last > this.inactivity(f)) return 'idle';
    if (f.ipProto === PROTO_TCP) {
      if (f.closeComplete && now - last > this.cfg.tcpCloseDelaySec) return 'close';
      const os = f.o.state;
      if ((os === TcpState.SynSent || os === TcpState.SynAckSent) && f.r.state === TcpState.Inactive && now - f.startTime > this.cfg.tcpAttemptDelaySec) {
        return 'attempt';
      }
    }
    if (this.cfg.activeTimeoutSec > 0 && now - f.startTime > this.cfg.activeTimeoutSec) return 'active';
    return '';
  }

  /** Zeek's connection reuse: a new SYN on a closed connection, or with a different initial sequence number. */
  private isReuse(f: Flow, isOrig: boolean, d: Decoded): boolean {
    const fl = d.tcpFlags;
    if (!(fl & TCP_SYN) || fl & TCP_RST) return false;
    const e = isOrig ? f.o : f.r;
    const pureSyn = !(fl & TCP_ACK);
    if (!pureSyn && e.state !== TcpState.Inactive) return false;
    if (f.o.didClose || f.r.didClose) return true;
    if (e.state === TcpState.Inactive) {
      // SYN-ACK while the peer waits for it, or the late flip (SYN answering a SYN-ACK): not a reuse
      return false;
    }
    return d.seq !== e.startAbs;
  }

  private tcp(f: Flow, isOrig: boolean, d: Decoded, tsSec: number, tsNs: number): void {
    let E = isOrig ? f.o : f.r;
    let P = isOrig ? f.r : f.o;
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
    if (!isOrig && syn && !ack && E.state === TcpState.Inactive && P.state === TcpState.SynAckSent && ((P.ackAbs - 1) >>> 0) === seq) {
      f.flip();
      isOrig = true;
      E = f.o;
      P = f.r;
      E.state = TcpState.Established;
      P.state = TcpState.Established;
      this.armEstablished(f);
    }

    // sequence numbers
    if (E.state === TcpState.Inactive) {
      if (syn) {
        E.startAbs = seq;
        E.lastAbs = seq;
        E.lastRel = 0;
        E.ackAbs = seq;
        E.ackRel = 0;
      } else {
        E.startAbs = (seq - 1) >>> 0;
        E.lastAbs = seq;
        E.lastRel = 1;
        E.ackAbs = E.startAbs;
        E.ackRel = 0;
      }
    } else if (syn && !rst) {
      const reinit =
        ((E.state === TcpState.SynSent || E.state === TcpState.SynAckSent) && seq !== E.startAbs) ||
        E.state === TcpState.Established ||
        E.state === TcpState.Partial ||
        (E.state === TcpState.Reset && E.prevState === TcpState.Inactive);
      if (reinit) {
        E.startAbs = seq;
        E.lastAbs = seq;
        E.lastRel = 0;
        E.ackAbs = seq;
        E.ackRel = 0;
      }
    }
    const relSeq = (seq - E.startAbs) >>> 0;

    // history (before the state change)
    const n = (syn ? 1 : 0) + (fin ? 1 : 0) + (rst ? 1 : 0);
    if (n > 1) {
      if (fin && rst) this.once(f, isOrig, SEEN_I, 'I');
      else this.once(f, isOrig, SEEN_Q, 'Q');
    } else if (n === 1) {
      if (syn) {
        const letter = ack ? 'H' : 'S';
        if (!this.seen(f, isOrig, SEEN_S)) this.once(f, isOrig, SEEN_S, letter);
        else if (relSeq !== E.histLastSyn) f.history += isOrig ? letter : letter.toLowerCase();
        E.histLastSyn = relSeq;
      } else if (fin) {
        const k = (relSeq + len) >>> 0;
        if (!this.seen(f, isOrig, SEEN_F)) this.once(f, isOrig, SEEN_F, 'F');
        else if (k !== E.histLastFin) f.history += isOrig ? 'F' : 'f';
        E.histLastFin = k;
      } else {
        if (!this.seen(f, isOrig, SEEN_R)) this.once(f, isOrig, SEEN_R, 'R');
        else if (relSeq !== E.histLastRst) f.history += isOrig ? 'R' : 'r';
        E.histLastRst = relSeq;
      }
    } else if (len > 0) this.once(f, isOrig, SEEN_D, 'D');
    else if (ack) this.once(f, isOrig, SEEN_A, 'A');

    if (!rst && d.win === 0 && !syn && P.state !== TcpState.Closed && E.state !== TcpState.Reset) {
      E.wCount++;
      if (E.wCount === E.wThresh) {
        f.history += isOrig ? 'W' : 'w';
        E.wThresh *= 10;
      }
    }
    if (!(f.o.didClose && f.r.didClose)) {
      f.lastSec = tsSec;
      f.lastNs = tsNs;
    }
    if (fin) E.finCount++;
    if (ack) {
      const a = d.ack;
      if (P.state === TcpState.Inactive) {
        P.startAbs = (a - 1) >>> 0;
        P.lastAbs = P.startAbs;
        P.lastRel = 0;
        P.ackAbs = P.startAbs;
        P.ackRel = 0;
      } else if (!rst) {
        const delta = (a - P.ackAbs) | 0;
        if (delta > 0 && !(a === 0 && delta > 1048576)) {
          P.ackAbs = a;
          P.ackRel += delta;
        }
      }
    }
    // last sequence number / retransmissions
    const delta = (seqEnd - E.lastAbs) | 0;
    if ((syn || rst) && (delta > 1048576 || delta < -1048576)) {
      // ignore wild SYN/RST sequence numbers
    } else if (fin && E.lastRel === 1) {
      E.lastRel += delta;
      E.lastAbs = seqEnd;
    } else if (E.state === TcpState.Reset) {
      // nothing
    } else if (delta > 0) {
      E.lastRel += delta;
      E.lastAbs = seqEnd;
    } else if (len > 0) {
      E.tCount++;
      if (E.tCount === E.tThresh) {
        f.history += isOrig ? 'T' : 't';
        E.tThresh *= 10;
      }
    }
    // state machine by the sender's state before this packet
    let doClose = false;
    const setState = (ep: Endpoint, s: TcpState) => {
      ep.prevState = ep.state;
      ep.state = s;
    };
    switch (E.state) {
      case TcpState.Inactive:
        if (syn) {
          if (isOrig) setState(E, ack ? TcpState.SynAckSent : TcpState.SynSent);
          else {
            if (P.state === TcpState.SynSent) setState(P, TcpState.Established);
            setState(E, TcpState.Established);
            this.armEstablished(f);
          }
        }
        if (fin) {
          setState(E, TcpState.Closed);
          doClose = true;
        }
        if (rst) {
          setState(E, TcpState.Reset);
          doClose = true;
        }
        if (E.state === TcpState.Inactive) {
          if (!isOrig && len === 0 && f.o.state === TcpState.SynSent) {
            // early ACK of a SYN: stays inactive
          } else if (ack && P.state === TcpState.Established) {
            setState(E, TcpState.Established);
            this.armEstablished(f);
          } else {
            setState(E, TcpState.Partial);
            this.armEstablished(f);
          }
        }
        break;
      case TcpState.SynSent:
      case TcpState.SynAckSent:
        if (fin) {
          setState(E, TcpState.Closed);
          doClose = true;
        } else if (rst) {
          setState(E, TcpState.Reset);
          doClose = true;
        }
        break;
      case TcpState.Established:
      case TcpState.Partial:
        if (syn && !ack && E.state === TcpState.Partial && P.state === TcpState.Inactive) setState(E, TcpState.SynSent);
        if (fin && !rst) {
          setState(E, TcpState.Closed);
          if (P.state === TcpState.Reset && P.prevState === TcpState.Closed) setState(P, TcpState.Closed);
          doClose = true;
        } else if (rst) {
          setState(E, TcpState.Reset);
          doClose = true;
        }
        break;
      case TcpState.Closed:
        if (rst && P.state !== TcpState.Closed) {
          setState(E, TcpState.Reset);
          doClose = !E.didClose;
        }
        break;
      case TcpState.Reset:
        break;
    }
    if (doClose && !E.didClose) {
      E.didClose = true;
      if (E.state === TcpState.Reset || P.didClose || P.state === TcpState.Inactive) f.closeComplete = true;
    }
  }

  private armEstablished(f: Flow): void {
    f.tcpEstablishedTimer = true;
  }

  private seen(f: Flow, isOrig: boolean, bit: number): boolean {
    return ((isOrig ? f.seenO : f.seenR) & bit) !== 0;
  }

  private once(f: Flow, isOrig: boolean, bit: number, letter: string): void {
    if (isOrig) {
      if (f.seenO & bit) return;
      f.seenO |= bit;
      f.history += letter;
    } else {
      if (f.seenR & bit) return;
      f.seenR |= bit;
      f.history += letter.toLowerCase();
    }
  }

  private end(f: Flow, reason: string): void {
    f.endReason = reason;
    this.flows.delete(f.key);
    this.sink(f);
  }

  private evictOldest(): void {
    const first = this.flows.values().next();
    if (!first.done) {
      this.evicted++;
      this.end(first.value, 'evicted');
    }
  }

  /** Ends every flow whose timers have run out at packet time `now`. */
  sweep(now: number): void {
    this.lastSweep = now;
    for (const f of this.flows.values()) {
      const why = this.expired(f, now);
      if (why) this.end(f, why);
    }
  }

  /** End of input: every remaining flow is written with its current state. */
  finish(): void {
    for (const f of this.flows.values()) {
      f.endReason = 'eof';
      this.sink(f);
    }
    this.flows.clear();
  }
}
