/**
 * The application layer of an ingest: recognises each connection's protocol, reassembles its TCP
 * streams and feeds the protocol's parser, whose records go to the store.
 *
 * Recognition happens on a connection's first payload: what the bytes look like (TLS, HTTP, SSH,
 * mail and FTP greetings...) wins over the port, so HTTP on 8080, TLS on 53 or SSH on 443 are
 * found; a port that says otherwise is reported (`app_detect_conflict`, often the interesting
 * case). Without a payload match the responder's port decides. Connections that match nothing,
 * and those whose parser has finished (a TLS handshake is over, an SSH key exchange began), cost
 * one array lookup per packet from then on: the bulk of a capture is never copied or parsed.
 */
import type { AnomalyName } from '../../common/anomalies.js';
import type { TableDef } from '../../common/fields.js';
import { PROTO_TCP, PROTO_UDP, TCP_SYN } from '../decode/packet.js';
import { ReassemblyBudget, TcpStream, type ReassemblyLimits, type StreamReceiver } from '../streams/tcp-reassembler.js';
import type { RecordConn } from '../store/batch.js';
import type { AppSink, DatagramParser, Dir, StreamParser } from './types.js';
import { createDnsTcp, createDnsUdp } from './dns.js';
import { createHttp, looksLikeHttpRequest, looksLikeHttpResponse } from './http.js';
import { createTls, looksLikeTls } from './tls.js';
import { createSsh, looksLikeSsh } from './ssh.js';
import { createFtp, createImap, createPop3, createSmtp, createTelnet, detectCleartext } from './cleartext.js';
import { DhcpTransactions, createDhcp } from './dhcp.js';
import { createQuic, looksLikeQuicInitial } from './quic.js';

type StreamKind = 'dns' | 'http' | 'ssl' | 'ssh' | 'ftp' | 'smtp' | 'pop3' | 'imap' | 'telnet';

const STREAM_PARSERS: Record<StreamKind, (sink: AppSink) => StreamParser> = {
  dns: createDnsTcp,
  http: (sink) => createHttp(sink),
  ssl: createTls,
  ssh: createSsh,
  ftp: createFtp,
  smtp: createSmtp,
  pop3: createPop3,
  imap: createImap,
  telnet: createTelnet,
};

/** Well-known TCP ports (responder side). */
const TCP_PORTS = new Map<number, StreamKind>([
  [53, 'dns'],
  [80, 'http'],
  [8080, 'http'],
  [8000, 'http'],
  [8008, 'http'],
  [3128, 'http'],
  [443, 'ssl'],
  [8443, 'ssl'],
  [465, 'ssl'],
  [636, 'ssl'],
  [853, 'ssl'],
  [993, 'ssl'],
  [995, 'ssl'],
  [22, 'ssh'],
  [21, 'ftp'],
  [25, 'smtp'],
  [587, 'smtp'],
  [110, 'pop3'],
  [143, 'imap'],
  [23, 'telnet'],
]);

/** UDP ports of the DNS-format protocols (DNS, mDNS, LLMNR, NetBIOS name service). */
const DNS_UDP_PORTS = new Set([53, 5353, 5355, 137]);
/** DHCP/BOOTP server and client ports, and PXE (as Zeek). */
const DHCP_PORTS = new Set([67, 68, 4011]);
/** Multicast name protocols: responses nobody asked for (announcements) are their normal traffic. */
const ANNOUNCING_PORTS = new Set([5353, 5355, 137]);
const QUIET_ANNOUNCEMENTS: ReadonlySet<AnomalyName> = new Set<AnomalyName>(['dns_unmatched_response']);
const NOTHING_QUIET: ReadonlySet<AnomalyName> = new Set<AnomalyName>();

/**
 * What the application layer reads of the flow table, per slot: the flow tracker itself when the
 * layer runs on the ingest's thread, a mirror of it (`engine/ingest/app-feed.ts`) on the
 * application thread.
 */
export interface AppFlows {
  /** Slot of the packet being handled, and whether it went from the key's side A to side B. */
  readonly lastSlot: number;
  readonly lastFwd: boolean;
  readonly id: ArrayLike<number>;
  readonly evidence: ArrayLike<number>;
  readonly origIsA: ArrayLike<number>;
  readonly origP: ArrayLike<number>;
  readonly respP: ArrayLike<number>;
  readonly origH: readonly string[];
  readonly respH: readonly string[];
  /** flows.service per slot, written by the layer. */
  readonly service: (string | null)[];
  /** Called by the flow table when a flow ends (set by the layer). */
  onFlowEnd: ((slot: number) => void) | null;
}

/** The fields of a decoded packet the layer reads (`Decoded` has them). */
export interface AppPacket {
  readonly proto: number;
  readonly tcpFlags: number;
  readonly seq: number;
  /** The payload is `tb[payloadOff, payloadOff + payloadCaptured)`. */
  readonly tb: Uint8Array;
  readonly payloadOff: number;
  readonly payloadCaptured: number;
}

export interface AppLayerOutput {
  /**
   * One record: `row` has the table's own columns; the connection columns (flow_id, evidence_id,
   * orig_h/p, resp_h/p, tls.transport) and, when the row has none, ts come from `conn`.
   */
  row(table: TableDef, row: Record<string, unknown>, conn: RecordConn): void;
  anomaly(name: AnomalyName, detail: string, flowId: number, packetNo: number, fileOffset: number, sec: number, ns: number, evidenceId: number): void;
  /** The connection's service changed (flows.service is written by someone else). */
  service?(flowId: number, service: string): void;
  /** The layer wants no more packets of this flow. */
  done?(slot: number, flowId: number): void;
}

/**
 * Marks a connection the application layer is finished with. The marks are objects, not small
 * integers: a slot then always holds an object (or undefined), and code V8 optimised on slots
 * that held connections is not thrown away when it first meets a mark.
 */
const NONE = Object.freeze({ mark: 'none' });
/**
 * Marks a DNS-over-UDP flow whose parser had nothing pending (every query answered): its objects
 * are dropped, and a later datagram of the flow starts a fresh parser. Most DNS flows carry one
 * transaction but live until the UDP timeout; this keeps their state short-lived.
 */
const DNS_RESTING = Object.freeze({ mark: 'resting' });

/** A connection's parser, its streams and the sink it writes through. */
class Conn implements AppSink, RecordConn {
  tsSec = 0;
  tsNs = 0;
  packetNo = 0;
  fileOffset = 0;
  stream: StreamParser | null = null;
  dgram: DatagramParser | null = null;
  /** Connection columns, kept so that records written after the flow ended still name it. */
  origH = '';
  origP = 0;
  respH = '';
  respP = 0;
  readonly rx: (TcpStream | null)[] = [null, null];

  constructor(
    private readonly layer: AppLayer,
    readonly slot: number,
    readonly flowId: number,
    readonly evidenceId: number,
    readonly transport: 'tcp' | 'udp',
    /** The client (dir 0) is the canonical side A of the flow key. */
    readonly clientIsA: boolean,
    /**
     * Anomalies that are normal for this connection's protocol and not recorded. Given here, not
     * set later: a field first null and then a set changes the class of every connection object,
     * and V8 threw away the optimised code that made them (at the first mDNS flow).
     */
    readonly quiet: ReadonlySet<AnomalyName> = NOTHING_QUIET,
  ) {}

  /** The packet being handled now: its time and position name what the parser writes. */
  at(tsSec: number, tsNs: number, packetNo: number, fileOffset: number): void {
    this.tsSec = tsSec;
    this.tsNs = tsNs;
    this.packetNo = packetNo;
    this.fileOffset = fileOffset;
  }

  emit(table: TableDef, row: Record<string, unknown>): void {
    this.layer.emitRow(this, table, row);
  }

  /** Set while the parser's end() runs (it may still name the service). */
  ending = false;

  anomaly(name: AnomalyName, detail = ''): void {
    if (this.quiet !== NOTHING_QUIET && this.quiet.has(name)) return;
    this.layer.out.anomaly(name, detail, this.flowId, this.packetNo, this.fileOffset, this.tsSec, this.tsNs, this.evidenceId);
  }

  service(name: string): void {
    this.layer.setService(this, name);
  }

  get done(): boolean {
    return this.stream !== null ? this.stream.done : this.dgram !== null ? this.dgram.done : true;
  }
}

/** Hands one direction's reassembled bytes to the connection's stream parser. */
class DirReceiver implements StreamReceiver {
  constructor(
    private readonly conn: Conn,
    private readonly dir: Dir,
  ) {}
  data(bytes: Uint8Array, start: number, end: number): void {
    const p = this.conn.stream!;
    if (!p.done) p.data(this.dir, bytes, start, end);
  }
  gap(len: number): void {
    const p = this.conn.stream!;
    if (!p.done) p.gap(this.dir, len);
  }
}

export class AppLayer {
  /**
   * Per flow slot: undefined = not looked at yet, NONE = nothing (more) to do, DNS_RESTING = a DNS
   * flow with nothing pending, else the connection.
   */
  private conns: (Conn | typeof NONE | typeof DNS_RESTING | undefined)[] = [];
  /** Per flow slot and canonical side (A = 0, B = 1): the SYN's sequence number, NaN when unseen. */
  private isn = new Float64Array(2048).fill(NaN);
  private readonly budget: ReassemblyBudget;
  /** DHCP messages of one transaction travel on several 5-tuples: aggregated across connections. */
  private readonly dhcp = new DhcpTransactions();

  /** Counters for the summary and tests. */
  connections = 0;
  readonly byKind = new Map<string, number>();

  constructor(
    private readonly tracker: AppFlows,
    readonly out: AppLayerOutput,
    limits?: ReassemblyLimits,
  ) {
    this.budget = new ReassemblyBudget(limits);
    tracker.onFlowEnd = (s) => this.flowEnd(s);
  }

  /** Called for each packet after the flow tracker has seen it. */
  packet(d: AppPacket, tsSec: number, tsNs: number, packetNo: number, fileOffset: number): void {
    const s = this.tracker.lastSlot;
    if (s < 0) return;
    const st = this.conns[s];
    if (st === NONE) return;
    const proto = d.proto;
    if (st === undefined) {
      if (s >= this.conns.length) this.growConns(s);
      if (proto === PROTO_TCP) {
        if (d.tcpFlags & TCP_SYN) this.noteSyn(s, d);
        if (d.payloadCaptured === 0) return;
        this.startTcp(s, d);
      } else if (proto === PROTO_UDP) {
        if (d.payloadCaptured === 0) return;
        this.startUdp(s, d);
      } else {
        this.none(s);
        return;
      }
    } else if (st === DNS_RESTING) {
      if (d.payloadCaptured === 0) return;
      this.startDnsUdp(s, false);
    }
    const c = this.conns[s];
    if (!(c instanceof Conn)) return;
    c.at(tsSec, tsNs, packetNo, fileOffset);
    const dir: Dir = this.tracker.lastFwd === c.clientIsA ? 0 : 1;
    if (c.stream !== null) {
      const rx = c.rx[dir]!;
      if (d.tcpFlags & TCP_SYN) rx.syn(d.seq);
      // a SYN's own sequence number is the SYN: its data (TCP fast open) starts one later
      if (d.payloadCaptured > 0) rx.segment(d.tcpFlags & TCP_SYN ? d.seq + 1 : d.seq, d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured);
    } else if (c.dgram !== null && d.payloadCaptured > 0) {
      c.dgram.datagram(dir, d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured);
    }
    if (c.done) {
      const next = c.stream !== null ? c.stream.upgrade : null;
      if (next === 'ssl') {
        // STARTTLS accepted: the streams go on, into the TLS parser
        c.stream!.end();
        c.stream = createTls(c);
        this.count('ssl');
      } else this.finishConn(s, c, false);
    } else if (c.dgram !== null && c.dgram.resting === true) {
      this.conns[s] = DNS_RESTING;
    }
  }

  /**
   * The latest packet of the flow in slot `s` was not given to `packet()` (it changed nothing but
   * its position, which names what the connection's end reports).
   */
  latestPacket(s: number, tsSec: number, tsNs: number, packetNo: number, fileOffset: number): void {
    const c = this.conns[s];
    if (!(c instanceof Conn)) return;
    c.at(tsSec, tsNs, packetNo, fileOffset);
  }

  /** End of the ingest, after the tracker's finish(): writes what is aggregated across connections. */
  finish(): void {
    this.dhcp.flush();
  }

  /** A flow ends: its connection's streams are closed and its parser ended. */
  flowEnd(s: number): void {
    const c = this.conns[s];
    if (c instanceof Conn) this.finishConn(s, c, true);
    if (s < this.conns.length) this.conns[s] = undefined;
    if (2 * s + 1 < this.isn.length) {
      this.isn[2 * s] = NaN;
      this.isn[2 * s + 1] = NaN;
    }
  }

  emitRow(c: Conn, table: TableDef, row: Record<string, unknown>): void {
    // while the flow lives, its roles may still flip: take them from the tracker
    if (this.conns[c.slot] === c) this.refresh(c);
    this.out.row(table, row, c);
  }

  private refresh(c: Conn): void {
    const t = this.tracker;
    const s = c.slot;
    c.origH = t.origH[s];
    c.origP = t.origP[s];
    c.respH = t.respH[s];
    c.respP = t.respP[s];
  }

  setService(c: Conn, name: string): void {
    // a connection already ended keeps the service it had (its row is written)
    if (this.conns[c.slot] !== c && !c.ending) return;
    const s = c.slot;
    const t = this.tracker;
    const cur = t.service[s];
    // the usual repeat (a resting DNS flow's next parser names it again) is tested first, on
    // every call: a test that first runs after V8 optimised this code throws that code away
    if (cur === name) return;
    let next: string;
    if (cur === null) next = name;
    else if (!cur.split(',').includes(name)) next = `${cur},${name}`;
    else return;
    t.service[s] = next;
    if (this.out.service) this.out.service(c.flowId, next);
  }

  /**
   * Makes room for slot `s`. The array stays dense (filled with undefined): writing far past its
   * end would turn it into a dictionary, whose entries every young-generation GC copies.
   */
  private growConns(s: number): void {
    const a = this.conns;
    const n = Math.max(s + 1, 2 * a.length, 1024);
    for (let i = a.length; i < n; i++) a.push(undefined);
  }

  /** Nothing (more) to do for the flow in slot `s`. */
  private none(s: number): void {
    this.conns[s] = NONE;
    if (this.out.done) this.out.done(s, this.tracker.id[s]);
  }

  private noteSyn(s: number, d: AppPacket): void {
    if (2 * s + 1 >= this.isn.length) {
      const n = new Float64Array(Math.max(this.isn.length * 2, 2 * s + 2)).fill(NaN);
      n.set(this.isn);
      this.isn = n;
    }
    this.isn[2 * s + (this.tracker.lastFwd ? 0 : 1)] = d.seq;
  }

  private startTcp(s: number, d: AppPacket): void {
    const t = this.tracker;
    const clientIsA = t.origIsA[s] === 1;
    const dir: Dir = t.lastFwd === clientIsA ? 0 : 1;
    const b = d.tb;
    const p0 = d.payloadOff;
    const p1 = p0 + d.payloadCaptured;
    let byPayload: StreamKind | null = null;
    if (looksLikeTls(b, p0, p1)) byPayload = 'ssl';
    else if (looksLikeSsh(b, p0, p1)) byPayload = 'ssh';
    else if (dir === 0 ? looksLikeHttpRequest(b, p0, p1) : looksLikeHttpResponse(b, p0, p1)) byPayload = 'http';
    else byPayload = detectCleartext(dir, b, p0, p1);
    const byPort = TCP_PORTS.get(t.respP[s]) ?? null;
    const kind = byPayload ?? byPort;
    if (kind === null) {
      this.none(s);
      return;
    }
    const c = new Conn(this, s, t.id[s], t.evidence[s], 'tcp', clientIsA);
    this.refresh(c);
    if (byPayload !== null && byPort !== null && byPayload !== byPort) {
      this.conns[s] = c; // so that the anomaly carries this packet's position
      c.anomaly('app_detect_conflict', `port ${t.respP[s]} suggests ${byPort}, the payload is ${byPayload}`);
    }
    c.stream = STREAM_PARSERS[kind](c);
    for (let i = 0; i < 2; i++) {
      const rx = new TcpStream(new DirReceiver(c, i as Dir), this.budget, (name, detail) => c.anomaly(name, detail));
      // canonical side of the client is A when clientIsA: dir 0 <-> side (clientIsA ? 0 : 1)
      const side = (i === 0) === clientIsA ? 0 : 1;
      const isn = 2 * s + side < this.isn.length ? this.isn[2 * s + side] : NaN;
      if (isn === isn) rx.syn(isn);
      c.rx[i] = rx;
    }
    this.count(kind);
    this.conns[s] = c;
  }

  private startUdp(s: number, d: AppPacket): void {
    const t = this.tracker;
    // QUIC: a client Initial on any port, or anything on UDP 443
    if (looksLikeQuicInitial(d.tb, d.payloadOff, d.payloadOff + d.payloadCaptured) || t.respP[s] === 443) {
      const c = new Conn(this, s, t.id[s], t.evidence[s], 'udp', t.origIsA[s] === 1);
      this.refresh(c);
      c.dgram = createQuic(c);
      this.count('quic');
      this.conns[s] = c;
      return;
    }
    if (DHCP_PORTS.has(t.respP[s]) && DHCP_PORTS.has(t.origP[s])) {
      const c = new Conn(this, s, t.id[s], t.evidence[s], 'udp', t.origIsA[s] === 1);
      this.refresh(c);
      c.dgram = createDhcp(c, this.dhcp);
      this.count('dhcp');
      this.conns[s] = c;
      return;
    }
    if (!DNS_UDP_PORTS.has(t.respP[s]) && !DNS_UDP_PORTS.has(t.origP[s])) {
      this.none(s);
      return;
    }
    this.startDnsUdp(s, true);
  }

  /** DNS over UDP: a new connection (`counted`), or the next datagram of a resting one. */
  private startDnsUdp(s: number, counted: boolean): void {
    const t = this.tracker;
    const announcing = ANNOUNCING_PORTS.has(t.respP[s]) || ANNOUNCING_PORTS.has(t.origP[s]);
    const c = new Conn(this, s, t.id[s], t.evidence[s], 'udp', t.origIsA[s] === 1, announcing ? QUIET_ANNOUNCEMENTS : NOTHING_QUIET);
    this.refresh(c);
    c.dgram = createDnsUdp(c);
    if (counted) this.count('dns');
    this.conns[s] = c;
  }

  private count(kind: string): void {
    this.connections++;
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1);
  }

  /**
   * Closes a connection's streams (held bytes are delivered, holes reported) and ends its parser.
   * `ended` is false when the parser finished early: the streams are dropped without delivery.
   */
  private finishConn(s: number, c: Conn, ended: boolean): void {
    this.refresh(c);
    if (ended) this.conns[s] = NONE;
    else this.none(s);
    for (const rx of c.rx) {
      if (rx === null) continue;
      if (ended && c.stream !== null && !c.stream.done) rx.close();
      else rx.discard();
    }
    c.ending = true;
    if (c.stream !== null) c.stream.end();
    if (c.dgram !== null) c.dgram.end();
    c.ending = false;
  }
}
