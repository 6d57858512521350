/**
 * The application layer on its own thread. The ingest's thread decodes and tracks flows; what the
 * application layer needs of that (flow starts, role flips, flow ends, and each TCP/UDP packet
 * with a payload or a SYN, its payload bytes copied) is written as compact events into batches of
 * typed arrays (`AppFeed`), transferred to the application thread (`app-worker.ts`), and replayed
 * there against a mirror of the flow table (`FlowMirror`, `AppReplay`) by the same `AppLayer` that
 * runs in-thread. Records go from that thread straight to the store worker over a MessagePort.
 *
 * Feedback: once the layer wants nothing more of a flow (an unrecognised connection, a TLS
 * handshake that is over), the application thread writes the flow id into a shared array by slot,
 * and the ingest stops copying that flow's packets: most payload bytes never cross threads.
 * flows.service is decided on the application thread; the store fills it in as flow rows arrive,
 * or updates the rows already written at the end (`IngestSink`).
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { ANOMALIES, type TableDef } from '../../common/fields.js';
import { anomalyRow, type AnomalyName } from '../../common/anomalies.js';
import { PROTO_TCP, PROTO_UDP, TCP_SYN, type Decoded } from '../decode/packet.js';
import { grownArray, type FlowTracker } from '../flows/tracker.js';
import { BATCH_ROWS, ColumnBatch, type RecordConn } from '../store/batch.js';
import type { AppFlows, AppLayer, AppLayerOutput, AppPacket } from '../app/dispatch.js';
import type { ReassemblyLimits } from '../streams/tcp-reassembler.js';
import { InFlight } from './in-flight.js';
import { builtWorkerScript } from './writer.js';

/** flows.service decided by the application thread: (flow_id, service) pairs for the store. */
export const FLOW_SERVICES: TableDef = {
  name: '_flow_service',
  description: 'flows.service in transit to the store',
  fields: [
    { name: 'flow_id', kind: 'u32', description: 'Flow.' },
    { name: 'service', kind: 'str', description: 'Its service so far.' },
  ],
};

// ---- the event format ----

/** Numbers per event. */
const W = 9;
const OP_START = 1;
const OP_ROLES = 2;
const OP_PACKET = 3;
const OP_END = 4;
const EVENTS_PER_BATCH = 4096;
const BYTES_PER_BATCH = 512 << 10;

/**
 * One batch of events. `ev` holds `n` events of W numbers: [op, slot, ...]:
 * - START: flow id, evidence id, origIsA, orig port, resp port, index of orig_h in `strs` (resp_h follows)
 * - ROLES: origIsA, orig port, resp port, index of orig_h in `strs` (the roles flipped)
 * - PACKET: fwd + 2 * proto + 512 * tcp flags, seq, payload length (bytes follow in `bytes`), sec, ns, frame number, file offset
 * - END: sec, ns, frame number, file offset of the flow's latest packet when it was not sent (sec NaN otherwise); the flow ended.
 */
export interface FeedBatch {
  ev: Float64Array;
  n: number;
  bytes: Uint8Array;
  strs: string[];
}

/**
 * The ingest's side: turns the tracker's view of each packet into events. `send` takes each full
 * batch; `done` (shared with the application thread, by slot) names flows that need no more packets.
 */
export class AppFeed {
  private ev: Float64Array;
  private n = 0;
  private bytes: Uint8Array;
  private bpos = 0;
  private strs: string[] = [];
  private sentId = new Uint32Array(4096);
  private sentOrigIsA = new Uint8Array(4096);
  /** Per slot: the flow's latest packet, and whether it came after the latest one sent (1). */
  private lastSec = new Float64Array(4096);
  private lastNs = new Uint32Array(4096);
  private lastNo = new Uint32Array(4096);
  private lastOff = new Float64Array(4096);
  private latest = new Uint8Array(4096);
  /** Spare buffers given back by the application thread. */
  private readonly spareEv: Float64Array[] = [];
  private readonly spareBytes: Uint8Array[] = [];

  constructor(
    private readonly t: FlowTracker,
    private readonly send: (b: FeedBatch) => void,
    private readonly done: Uint32Array | null,
  ) {
    this.ev = new Float64Array(EVENTS_PER_BATCH * W);
    this.bytes = new Uint8Array(BYTES_PER_BATCH);
    t.onFlowEnd = (s) => this.flowEnd(s);
  }

  /** Called for each packet after the flow tracker has seen it. */
  packet(d: Decoded, sec: number, ns: number, packetNo: number, fileOffset: number): void {
    const t = this.t;
    const s = t.lastSlot;
    if (s < 0) return;
    const proto = d.proto;
    const len = d.payloadCaptured;
    if (proto !== PROTO_TCP && proto !== PROTO_UDP) return;
    const id = t.id[s];
    const done = this.done;
    if (done !== null && s < done.length && done[s] === id) return;
    if (s >= this.sentId.length) this.grow(s);
    // a packet without payload or SYN changes nothing but the connection's latest packet, which
    // names what is reported when the connection ends: kept here, sent with the end
    if (len === 0 && (proto !== PROTO_TCP || (d.tcpFlags & TCP_SYN) === 0)) {
      if (this.sentId[s] === id) {
        this.latest[s] = 1;
        this.lastSec[s] = sec;
        this.lastNs[s] = ns;
        this.lastNo[s] = packetNo;
        this.lastOff[s] = fileOffset;
      }
      return;
    }
    this.latest[s] = 0;
    if (this.sentId[s] !== id) this.start(s, id);
    else if (this.sentOrigIsA[s] !== t.origIsA[s]) this.roles(s);
    if (this.bpos + len > this.bytes.length) this.flush(len);
    const o = this.reserve(len);
    const e = this.ev;
    e[o] = OP_PACKET;
    e[o + 1] = s;
    e[o + 2] = (t.lastFwd ? 1 : 0) + 2 * proto + 512 * d.tcpFlags;
    e[o + 3] = proto === PROTO_TCP ? d.seq : 0;
    e[o + 4] = len;
    e[o + 5] = sec;
    e[o + 6] = ns;
    e[o + 7] = packetNo;
    e[o + 8] = fileOffset;
    if (len > 0) {
      this.copy(d.tb, d.payloadOff, len);
      this.bpos += len;
    }
  }

  /** Copies payload bytes to the batch (short ones byte by byte: no view is made for them). */
  private copy(tb: Uint8Array, from: number, len: number): void {
    const dst = this.bytes;
    const at = this.bpos;
    if (len <= 96) {
      for (let i = 0; i < len; i++) dst[at + i] = tb[from + i];
      return;
    }
    // a plain view of the read buffer (a Buffer's own subarray() costs more), made once per buffer
    if (tb !== this.srcBuf) {
      this.srcBuf = tb;
      this.srcView = new Uint8Array(tb.buffer, tb.byteOffset, tb.byteLength);
    }
    dst.set(this.srcView.subarray(from, from + len), at);
  }
  private srcBuf: Uint8Array | null = null;
  private srcView: Uint8Array = new Uint8Array(0);

  /** The tracker ends the flow in slot `s` (before its row is written). */
  flowEnd(s: number): void {
    const t = this.t;
    if (s >= this.sentId.length || this.sentId[s] === 0 || this.sentId[s] !== t.id[s]) return;
    if (this.sentOrigIsA[s] !== t.origIsA[s]) this.roles(s);
    const o = this.reserve();
    const e = this.ev;
    e[o] = OP_END;
    e[o + 1] = s;
    // the latest packet when it was not sent (else NaN)
    e[o + 2] = this.latest[s] === 1 ? this.lastSec[s] : NaN;
    e[o + 3] = this.lastNs[s];
    e[o + 4] = this.lastNo[s];
    e[o + 5] = this.lastOff[s];
    this.sentId[s] = 0;
    this.latest[s] = 0;
  }

  /** Hands over what is pending (at the end of the evidence, after the tracker's finish). */
  flush(room = 0): void {
    if (this.n === 0 && this.bpos === 0) return;
    this.send({ ev: this.ev, n: this.n, bytes: this.bytes, strs: this.strs });
    this.ev = this.spareEv.pop() ?? new Float64Array(EVENTS_PER_BATCH * W);
    const want = Math.max(BYTES_PER_BATCH, room);
    const b = this.spareBytes.pop();
    this.bytes = b !== undefined && b.length >= want ? b : new Uint8Array(want);
    this.n = 0;
    this.bpos = 0;
    this.strs = [];
  }

  /** Takes back a batch's buffers for reuse. */
  recycle(b: FeedBatch): void {
    if (this.spareEv.length < 4) this.spareEv.push(b.ev);
    if (this.spareBytes.length < 4 && b.bytes.length === BYTES_PER_BATCH) this.spareBytes.push(b.bytes);
  }

  /** Room for one more event (and `room` payload bytes when a new batch has to be started). */
  private reserve(room = 0): number {
    if (this.n === EVENTS_PER_BATCH) this.flush(room);
    return this.n++ * W;
  }

  private start(s: number, id: number): void {
    const t = this.t;
    const o = this.reserve();
    const e = this.ev;
    e[o] = OP_START;
    e[o + 1] = s;
    e[o + 2] = id;
    e[o + 3] = t.evidence[s];
    e[o + 4] = t.origIsA[s];
    e[o + 5] = t.origP[s];
    e[o + 6] = t.respP[s];
    e[o + 7] = this.strs.length;
    this.strs.push(t.origH[s], t.respH[s]);
    this.sentId[s] = id;
    this.sentOrigIsA[s] = t.origIsA[s];
  }

  private roles(s: number): void {
    const t = this.t;
    const o = this.reserve();
    const e = this.ev;
    e[o] = OP_ROLES;
    e[o + 1] = s;
    e[o + 2] = t.origIsA[s];
    e[o + 3] = t.origP[s];
    e[o + 4] = t.respP[s];
    e[o + 5] = this.strs.length;
    this.strs.push(t.origH[s], t.respH[s]);
    this.sentOrigIsA[s] = t.origIsA[s];
  }

  private grow(s: number): void {
    const n = Math.max(2 * this.sentId.length, s + 1);
    this.sentId = grownArray(this.sentId, n);
    this.sentOrigIsA = grownArray(this.sentOrigIsA, n);
    this.lastSec = grownArray(this.lastSec, n);
    this.lastNs = grownArray(this.lastNs, n);
    this.lastNo = grownArray(this.lastNo, n);
    this.lastOff = grownArray(this.lastOff, n);
    this.latest = grownArray(this.latest, n);
  }
}

// ---- the application thread's side ----

/** The flow table as the events describe it, by slot (what `AppLayer` reads). */
export class FlowMirror implements AppFlows {
  lastSlot = -1;
  lastFwd = false;
  id = new Uint32Array(4096);
  evidence = new Uint16Array(4096);
  origIsA = new Uint8Array(4096);
  origP = new Uint16Array(4096);
  respP = new Uint16Array(4096);
  origH: string[] = [];
  respH: string[] = [];
  service: (string | null)[] = [];
  onFlowEnd: ((slot: number) => void) | null = null;

  ensure(s: number): void {
    if (s < this.id.length) return;
    const n = Math.max(2 * this.id.length, s + 1);
    this.id = grownArray(this.id, n);
    this.evidence = grownArray(this.evidence, n);
    this.origIsA = grownArray(this.origIsA, n);
    this.origP = grownArray(this.origP, n);
    this.respP = grownArray(this.respP, n);
  }
}

/** The fields of a packet event, in the shape `AppLayer.packet` takes. */
class ReplayPacket implements AppPacket {
  proto = 0;
  tcpFlags = 0;
  seq = 0;
  tb: Uint8Array = new Uint8Array(0);
  payloadOff = 0;
  payloadCaptured = 0;
}

/** Applies event batches to a mirror and an application layer, in order. */
export class AppReplay {
  private readonly p = new ReplayPacket();
  constructor(
    private readonly m: FlowMirror,
    private readonly app: AppLayer,
  ) {}

  apply(b: FeedBatch): void {
    const m = this.m;
    const e = b.ev;
    const p = this.p;
    p.tb = b.bytes;
    let pos = 0;
    for (let i = 0; i < b.n; i++) {
      const o = i * W;
      const s = e[o + 1];
      switch (e[o]) {
        case OP_START:
          m.ensure(s);
          m.id[s] = e[o + 2];
          m.evidence[s] = e[o + 3];
          m.origIsA[s] = e[o + 4];
          m.origP[s] = e[o + 5];
          m.respP[s] = e[o + 6];
          m.origH[s] = b.strs[e[o + 7]];
          m.respH[s] = b.strs[e[o + 7] + 1];
          m.service[s] = null;
          break;
        case OP_ROLES:
          m.origIsA[s] = e[o + 2];
          m.origP[s] = e[o + 3];
          m.respP[s] = e[o + 4];
          m.origH[s] = b.strs[e[o + 5]];
          m.respH[s] = b.strs[e[o + 5] + 1];
          break;
        case OP_PACKET: {
          const f = e[o + 2];
          const len = e[o + 4];
          m.lastSlot = s;
          m.lastFwd = (f & 1) === 1;
          p.proto = (f >> 1) & 0xff;
          p.tcpFlags = Math.floor(f / 512);
          p.seq = e[o + 3];
          p.payloadOff = pos;
          p.payloadCaptured = len;
          this.app.packet(p, e[o + 5], e[o + 6], e[o + 7], e[o + 8]);
          pos += len;
          break;
        }
        case OP_END:
          if (e[o + 2] === e[o + 2]) this.app.latestPacket(s, e[o + 2], e[o + 3], e[o + 4], e[o + 5]);
          if (m.onFlowEnd !== null) m.onFlowEnd(s);
          m.id[s] = 0;
          break;
      }
    }
  }
}

/**
 * Rows in the first batch of each record table: enough for the hand-over code to run before V8
 * optimises the parsers' row writing (1 GB workload: the first full batch of DNS rows, answers,
 * HTTP and TLS each threw away the optimised code that wrote it).
 */
const FIRST_RECORD_ROWS = 64;

/**
 * Where the application layer's records go: one batch per table (made on first use), handed to
 * `flush` when full and at the end; anomalies counted per evidence file.
 */
export class RecordOutput implements AppLayerOutput {
  readonly counts: Record<string, number> = {};
  /** Anomalies per evidence id (index), and in total. */
  readonly anomaliesByEvidence: number[] = [];
  anomalyCount = 0;
  /** Set when flows.service is written elsewhere (the application thread). */
  service?: (flowId: number, service: string) => void;
  done?: (slot: number, flowId: number) => void;
  private readonly batches = new Map<TableDef, ColumnBatch>();

  constructor(private readonly flush: (b: ColumnBatch) => void) {}

  private batch(t: TableDef): ColumnBatch {
    let b = this.batches.get(t);
    if (!b) {
      // the first batch of a table is sent after a few rows: see ColumnBatch's `first`
      b = new ColumnBatch(t, BATCH_ROWS, FIRST_RECORD_ROWS);
      this.batches.set(t, b);
    }
    return b;
  }

  row(table: TableDef, row: Record<string, unknown>, conn: RecordConn): void {
    const b = this.batch(table);
    b.pushRecord(row, conn);
    this.counts[table.name] = (this.counts[table.name] ?? 0) + 1;
    if (b.full) this.flush(b);
  }

  anomaly(name: AnomalyName, detail: string, flowId: number, packetNo: number, fileOffset: number, sec: number, ns: number, evidenceId: number): void {
    this.anomalyCount++;
    this.anomaliesByEvidence[evidenceId] = (this.anomaliesByEvidence[evidenceId] ?? 0) + 1;
    const b = this.batch(ANOMALIES);
    b.pushRow(anomalyRow(evidenceId, packetNo, fileOffset, sec, ns, name, detail, flowId));
    if (b.full) this.flush(b);
  }

  /** Hands over every batch that holds rows. */
  flushAll(): void {
    for (const b of this.batches.values()) if (b.rows > 0) this.flush(b);
  }
}

/** Records the services decided on the application thread, for the store. */
export class ServiceOutput {
  private readonly b = new ColumnBatch(FLOW_SERVICES);
  constructor(private readonly flush: (b: ColumnBatch) => void) {}
  service(flowId: number, service: string): void {
    this.b.pushRow({ flow_id: flowId, service });
    if (this.b.full) this.flush(this.b);
  }
  flushAll(): void {
    if (this.b.rows > 0) this.flush(this.b);
  }
}

// ---- the ingest's handle on the application thread ----

export interface AppThreadResult {
  counts: Record<string, number>;
  anomaliesByEvidence: number[];
  anomalyCount: number;
}

/** Most feed batches in flight to the application thread before the ingest waits. */
const MAX_IN_FLIGHT = 8;

/** Path of the compiled application-thread script, or null when it is not built. */
export function appWorkerPath(): string | null {
  return builtWorkerScript('app-worker.js');
}

export class AppThread {
  readonly feed: AppFeed;
  private readonly flight = new InFlight(MAX_IN_FLIGHT);
  private result: { resolve: (r: AppThreadResult) => void; reject: (e: Error) => void } | null = null;

  private constructor(
    private readonly worker: Worker,
    tracker: FlowTracker,
    done: Uint32Array,
  ) {
    this.feed = new AppFeed(tracker, (b) => this.post(b), done);
    worker.on('message', (m: { type: string; batch?: FeedBatch; message?: string; result?: AppThreadResult }) => {
      if (m.type === 'ack') {
        this.feed.recycle(m.batch!);
        this.flight.acked();
      } else if (m.type === 'done') this.result?.resolve(m.result!);
      else if (m.type === 'error') this.fail(new Error(`application thread: ${m.message}`));
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`application thread exited with code ${code}`));
    });
  }

  /**
   * Starts the thread. Its records go to `storePort` (the other end is given to the store worker);
   * `maxSlots` bounds the flow table's slots (the shared feedback array has one entry per slot).
   */
  static start(tracker: FlowTracker, storePort: MessagePort, maxSlots: number, limits?: ReassemblyLimits): AppThread {
    const path = appWorkerPath();
    if (!path) throw new Error('application thread not built (run npm run build)');
    const done = new Uint32Array(new SharedArrayBuffer(4 * Math.min(maxSlots, 1 << 24)));
    const worker = new Worker(path, { workerData: { done, limits, storePort }, transferList: [storePort] });
    return new AppThread(worker, tracker, done);
  }

  private post(b: FeedBatch): void {
    if (this.flight.error) throw this.flight.error;
    this.flight.sent();
    this.worker.postMessage({ type: 'feed', batch: b }, [b.ev.buffer as ArrayBuffer, b.bytes.buffer as ArrayBuffer]);
  }

  /** Fails the thread's work (its records have nowhere to go): whoever waits on it hears of `e`. */
  fail(e: Error): void {
    this.flight.fail(e);
    this.result?.reject(this.flight.error!);
  }

  get busy(): boolean {
    return this.flight.full || this.flight.error !== null;
  }

  async drain(): Promise<void> {
    await this.flight.drain(MAX_IN_FLIGHT - 1);
  }

  /**
   * After the tracker's finish(): sends what is pending, lets the thread finish (its last records
   * reach the store before this resolves) and stops it.
   */
  async finish(): Promise<AppThreadResult> {
    try {
      if (this.flight.error) throw this.flight.error;
      this.feed.flush();
      const p = new Promise<AppThreadResult>((resolve, reject) => (this.result = { resolve, reject }));
      this.worker.postMessage({ type: 'finish' });
      return await p;
    } finally {
      await this.worker.terminate();
    }
  }

  /** Stops the thread without waiting for its records (the ingest failed). */
  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}
