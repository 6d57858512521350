/**
 * The ingest job: evidence files -> streaming readers (merged by time) -> decoders -> flow tracker
 * -> case store. The same service backs the CLI (`instacap analyze`) and, later, the app's ingest
 * jobs: it takes an AbortSignal, reports throttled progress and returns a structured result.
 */
import { statSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { ANOMALIES, EVIDENCE, INTERFACES, NAME_RESOLUTION, PACKET_COMMENTS, PACKETS } from '../../common/fields.js';
import { anomalyRow, type AnomalyName } from '../../common/anomalies.js';
import { openCapture, NotACaptureError } from '../readers/open.js';
import type { FramedReader, RawPacket } from '../readers/reader.js';
import { linkTypeName } from '../readers/linktypes.js';
import { Decoded, PROTO_UDP, decodePacket, decodeUdpTunnel, type DecodeContext } from '../decode/packet.js';
import { Reassembler } from '../decode/frag.js';
import { FlowTracker, DEFAULT_FLOW_CONFIG, type FlowConfig } from '../flows/tracker.js';
import { EarlyStoreWriter, InProcessStoreWriter, WorkerStoreWriter, openStoreWriter, type StoreWriter } from './writer.js';
import { AppThread, RecordOutput, appWorkerPath } from './app-feed.js';
import { MessageChannel } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { FLOWS_WIRE, FlowColumnWriter, PACKET_FLOWS } from './flow-rows.js';
import { ColumnBatch } from '../store/batch.js';
import { sha256File } from './hash.js';
import { AppLayer } from '../app/dispatch.js';
import type { ReassemblyLimits } from '../streams/tcp-reassembler.js';

export interface IngestProgress {
  bytesRead: number;
  bytesTotal: number;
  packets: number;
  flows: number;
  elapsedSec: number;
}

export interface AnalyzeOptions {
  files: string[];
  caseDir: string;
  signal?: AbortSignal;
  onProgress?: (p: IngestProgress) => void;
  /** Milliseconds between progress reports (default 500). */
  progressIntervalMs?: number;
  flowConfig?: Partial<FlowConfig>;
  /** Write the case on the calling thread instead of the store worker. */
  inProcessStore?: boolean;
  /** Recognise application protocols and write their records (default true). */
  protocols?: boolean;
  /** Reassembly buffer limits (bytes held ahead of holes, per stream direction and in total). */
  reassemblyLimits?: ReassemblyLimits;
  /**
   * Run the application layer on its own thread (default: with 4 or more cores, when the store
   * has its own thread; `INSTACAP_APP_THREAD=1`/`0` overrides the default).
   */
  appThread?: boolean;
}

export interface EvidenceSummary {
  evidence_id: number;
  path: string;
  size: number;
  sha256: string | null;
  format: string;
  link_types: string[];
  packets: number;
  bytes: number;
  first_ts: number | null;
  last_ts: number | null;
  span_sec: number;
  status: 'complete' | 'partial';
  message: string | null;
  anomalies: number;
}

export interface AnalyzeResult {
  status: 'complete' | 'partial' | 'failed';
  case_dir: string;
  evidence: EvidenceSummary[];
  errors: { path: string; message: string }[];
  /** `records`: rows written per application table (dns, http, tls, ...). */
  totals: { packets: number; bytes: number; flows: number; anomalies: number; records: Record<string, number> };
  elapsed_sec: number;
}

interface Input {
  id: number;
  path: string;
  size: number;
  reader: FramedReader;
  head: RawPacket | null;
  hash: Promise<{ sha256: string; size: number } | { error: string }>;
  firstSec: number;
  firstNs: number;
  lastSec: number;
  lastNs: number;
  anomalies: number;
  unknownLinkReported: Set<number>;
}

function tsLess(aSec: number, aNs: number, bSec: number, bNs: number): boolean {
  return aSec < bSec || (aSec === bSec && aNs < bNs);
}

/** Where an ingest spent its wall time (printed with INSTACAP_TRACE=1). */
interface Trace {
  startMs: number;
  /** Waiting for the application thread (in the loop, and for its last records). */
  appWaitMs: number;
  loopMs: number;
  drainMs: number;
  hashWaitMs: number;
  finishMs: number;
}

export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeResult> {
  const t0 = performance.now();
  const trace: Trace = { startMs: 0, appWaitMs: 0, loopMs: 0, drainMs: 0, hashWaitMs: 0, finishMs: 0 };
  const errors: { path: string; message: string }[] = [];
  // the writer owns the database for the whole ingest; it starts on its own thread while the inputs
  // are opened and decoding begins (ids are numbered from 1 here and made case-wide by the writer)
  const writer = new EarlyStoreWriter(opts.inProcessStore ? InProcessStoreWriter.open(opts.caseDir) : openStoreWriter(opts.caseDir));
  let finished = false;
  // threads started by run() that must be stopped whatever happens
  const cleanups: (() => Promise<void>)[] = [];
  try {
    const inputs = await openInputs(opts.files, errors);
    const r = await run(writer, inputs, opts, errors, t0, trace, cleanups);
    finished = true;
    const tf = performance.now();
    await writer.finish();
    trace.finishMs = performance.now() - tf;
    // report case-wide evidence ids
    const base = writer.meta.nextEvidenceId - 1;
    for (const e of r.evidence) e.evidence_id += base;
    if (process.env.INSTACAP_TRACE) process.stderr.write(`trace: ${JSON.stringify(trace)}\n`);
    r.elapsed_sec = (performance.now() - t0) / 1000;
    return r;
  } catch (e) {
    throw storeError(e as Error, opts.caseDir);
  } finally {
    for (const c of cleanups) await c().catch(() => undefined);
    // never leave the store worker running
    if (!finished) await writer.finish().catch(() => undefined);
  }
}

/**
 * The application layer gets its own thread when there are cores for it: with the store and hash
 * threads it is the fourth busy thread, and on two cores the hand-over costs more than it gains
 * (bench/README.md). `INSTACAP_APP_THREAD=1` or `0` decides instead.
 */
function appThreadByDefault(opts: AnalyzeOptions): boolean {
  if (opts.inProcessStore || WorkerStoreWriter.workerPath() === null || appWorkerPath() === null) return false;
  const env = process.env.INSTACAP_APP_THREAD;
  if (env === '0' || env === '1') return env === '1';
  return availableParallelism() >= 4;
}

/** Names the case directory in errors that come from writing it (a full disk, no permission...). */
function storeError(e: Error, dir: string): Error {
  if (/^(IO|TransactionContext|Catalog|Invalid Input|Permission|Out of Memory) Error|ENOSPC|EACCES|EROFS|ENOTDIR|No space left/i.test(e.message)) {
    return new Error(`cannot write the case in ${resolve(dir)}: ${e.message} (what was committed before the error is kept)`);
  }
  return e;
}

/** Opens every input; missing and non-capture files are reported in `errors` and skipped. */
async function openInputs(files: string[], errors: { path: string; message: string }[]): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const p of files) {
    const path = resolve(p);
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new Error('not a regular file');
      size = st.size;
    } catch (e) {
      errors.push({ path, message: `${path}: cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      continue;
    }
    let reader: FramedReader;
    try {
      // all inputs are open at once (merged by time): several read one chunk ahead each, not three
      reader = await openCapture(path, files.length > 1 ? 1 : undefined);
    } catch (e) {
      errors.push({ path, message: e instanceof NotACaptureError ? e.message : `${path}: ${(e as Error).message}` });
      continue;
    }
    const hash = sha256File(realpathSync(path)).catch((e: Error) => ({ error: e.message }));
    inputs.push({
      id: 0,
      path,
      size,
      reader,
      head: null,
      hash,
      firstSec: Infinity,
      firstNs: 0,
      lastSec: -Infinity,
      lastNs: 0,
      anomalies: 0,
      unknownLinkReported: new Set(),
    });
  }

  return inputs;
}

async function run(
  writer: StoreWriter,
  inputs: Input[],
  opts: AnalyzeOptions,
  errors: { path: string; message: string }[],
  t0: number,
  trace: Trace,
  cleanups: (() => Promise<void>)[],
): Promise<AnalyzeResult> {
  inputs.forEach((inp, i) => (inp.id = 1 + i));
  const packets = new ColumnBatch(PACKETS, 16384);
  const flows = new ColumnBatch(FLOWS_WIRE, 8192);
  const anomalies = new ColumnBatch(ANOMALIES);
  const comments = new ColumnBatch(PACKET_COMMENTS);
  const ci = {
    ev: packets.col('evidence_id'),
    no: packets.col('packet_no'),
    off: packets.col('file_offset'),
    ts: packets.col('ts'),
    cap: packets.col('caplen'),
    orig: packets.col('origlen'),
    flow: packets.col('flow_id'),
  };
  // column views of the packet batch; renewed whenever the batch is handed to the writer
  const bindPackets = () => ({
    ev: packets.cols[ci.ev] as Uint16Array,
    no: packets.cols[ci.no] as Uint32Array,
    off: packets.cols[ci.off] as Float64Array,
    ts: packets.cols[ci.ts] as Float64Array,
    tsNs: packets.nanos[ci.ts]!,
    cap: packets.cols[ci.cap] as Uint32Array,
    orig: packets.cols[ci.orig] as Uint32Array,
    flow: packets.cols[ci.flow] as Uint32Array,
  });
  let P = bindPackets();
  const flush = (b: ColumnBatch) => {
    writer.write(b);
    if (b === packets) P = bindPackets();
  };
  let totalAnomalies = 0;

  const flowCfg: FlowConfig = { ...DEFAULT_FLOW_CONFIG, ...opts.flowConfig };
  const flowWriter = new FlowColumnWriter(flows, flush);
  const tracker = new FlowTracker(flowWriter, 1, flowCfg);
  // application records: on their own thread when the store has one, else on this thread
  const useThread = opts.protocols !== false && (opts.appThread ?? appThreadByDefault(opts));
  let appThread: AppThread | null = null;
  let app: AppLayer | null = null;
  let appRecords: RecordOutput | null = null;
  let attached: Promise<void> = Promise.resolve();
  if (useThread) {
    const ch = new MessageChannel();
    appThread = AppThread.start(tracker, ch.port1, flowCfg.maxFlows, opts.reassemblyLimits);
    const t = appThread;
    cleanups.push(() => t.stop());
    // the store worker may still be starting: records wait in the channel until it listens
    attached = writer.attachPort(ch.port2).then((ok) => {
      if (!ok) throw new Error('the case store cannot take records from the application thread');
    });
    // a store that cannot start never acknowledges the application thread's records: nobody may wait for them
    attached.catch((e: Error) => t.fail(e));
  } else if (opts.protocols !== false) {
    appRecords = new RecordOutput(flush);
    app = new AppLayer(tracker, appRecords, opts.reassemblyLimits);
  }
  const feed = appThread !== null ? appThread.feed : null;

  const addAnomaly = (ev: number, packetNo: number, offset: number, sec: number, ns: number, name: AnomalyName, detail: string, flowId: number) => {
    totalAnomalies++;
    anomalies.pushRow(anomalyRow(ev, packetNo, offset, sec, ns, name, detail, flowId));
    if (anomalies.full) flush(anomalies);
  };

  const d = new Decoded();
  /** The packet inside a UDP tunnel. */
  const inner = new Decoded();
  const ctx: DecodeContext = { frag: new Reassembler(), now: 0 };
  let currentEv = 0;
  const fragAnomaly = (name: AnomalyName, detail: string) => addAnomaly(currentEv, 0, 0, NaN, 0, name, detail, 0);

  const bytesTotal = inputs.reduce((a, i) => a + i.size, 0);
  const interval = opts.progressIntervalMs ?? 500;
  let lastReport = performance.now();
  let totalPackets = 0;
  let totalBytes = 0;
  let bytesDone = 0;
  let aborted = false;

  const advance = async (inp: Input): Promise<void> => {
    const r = inp.reader;
    for (;;) {
      const p = r.next();
      if (p) {
        inp.head = p;
        return;
      }
      if (r.done) {
        inp.head = null;
        return;
      }
      await r.fill();
    }
  };

  // the earlier fragments of a datagram completed by this packet belong to its flow too
  const fragLinks = new ColumnBatch(PACKET_FLOWS);
  const linkFragments = (refs: number[], ev: number, packetNo: number, flowId: number) => {
    for (let i = 0; i < refs.length; i += 2) {
      if (refs[i] === ev && refs[i + 1] === packetNo) continue;
      fragLinks.pushRow({ evidence_id: refs[i], packet_no: refs[i + 1], flow_id: flowId });
      if (fragLinks.full) flush(fragLinks);
    }
  };

  const packetAnomalies = (inp: Input, pk: RawPacket, a: Decoded, flowId: number) => {
    for (let i = 0; i < a.anomalies.length; i++) {
      inp.anomalies++;
      addAnomaly(inp.id, pk.packetNo, pk.fileOffset, pk.tsSec, pk.tsNs, a.anomalies[i], a.details[i], flowId);
    }
  };

  const handle = (inp: Input, pk: RawPacket) => {
    const ev = inp.id;
    currentEv = ev;
    const sec = pk.tsSec;
    const ns = pk.tsNs;
    if (tsLess(sec, ns, inp.firstSec, inp.firstNs)) {
      inp.firstSec = sec;
      inp.firstNs = ns;
    }
    if (tsLess(inp.lastSec, inp.lastNs, sec, ns)) {
      inp.lastSec = sec;
      inp.lastNs = ns;
    }
    ctx.now = sec; // whole seconds: enough for fragment timeouts, and a small integer (no allocation)
    ctx.frag.currentEvidence = ev;
    ctx.frag.currentPacket = pk.packetNo;
    let flowId = 0;
    if (decodePacket(pk, d, ctx)) {
      const evicted = tracker.evicted;
      // a UDP tunnel (VXLAN, Geneve, GTP-U, Teredo): the outer datagram is a flow of its own (named
      // after the tunnel, as Zeek), and the packet belongs to the inner flow
      let x = d;
      let outerId = 0;
      if (d.proto === PROTO_UDP && d.payloadCaptured > 0) {
        const tunnel = decodeUdpTunnel(d, inner, ctx);
        if (tunnel !== null) {
          outerId = tracker.packet(d, sec, ns, ev, pk.packetNo, pk.buf);
          const os = tracker.lastSlot;
          if (os >= 0 && tracker.service[os] === null) tracker.service[os] = tunnel;
          x = inner;
        }
      }
      flowId = tracker.packet(x, sec, ns, ev, pk.packetNo, pk.buf);
      // a tunnelled packet that makes no inner flow (ARP in VXLAN, a held inner fragment) is the outer flow's
      if (flowId === 0) flowId = outerId;
      if (ctx.frag.completed !== null) {
        if (flowId > 0) linkFragments(ctx.frag.completed, ev, pk.packetNo, flowId);
        ctx.frag.completed = null;
      }
      if (outerId > 0) {
        const s = tracker.lastSlot;
        if (s >= 0 && tracker.tunnelParent[s] === 0) tracker.tunnelParent[s] = outerId;
      }
      if (feed !== null) feed.packet(x, sec, ns, pk.packetNo, pk.fileOffset);
      else if (app !== null) app.packet(x, sec, ns, pk.packetNo, pk.fileOffset);
      if (tracker.evicted !== evicted) {
        inp.anomalies++;
        addAnomaly(ev, pk.packetNo, pk.fileOffset, sec, ns, 'flow_table_full', `flow table limit of ${flowCfg.maxFlows} flows reached: the oldest flow was ended early`, flowId);
      }
      if (d.anomalies.length) packetAnomalies(inp, pk, d, flowId);
      if (x !== d && inner.anomalies.length) packetAnomalies(inp, pk, inner, flowId);
    } else if (!inp.unknownLinkReported.has(pk.linkType)) {
      inp.unknownLinkReported.add(pk.linkType);
      inp.anomalies++;
      addAnomaly(ev, pk.packetNo, pk.fileOffset, sec, ns, 'unknown_link_type', `link type ${linkTypeName(pk.linkType)}: packets are indexed but not decoded`, 0);
    }
    const k = packets.rows++;
    P.ev[k] = ev;
    P.no[k] = pk.packetNo;
    P.off[k] = pk.fileOffset;
    P.ts[k] = sec;
    P.tsNs[k] = ns;
    P.cap[k] = pk.caplen;
    P.orig[k] = pk.origlen;
    P.flow[k] = flowId;
    if (packets.full) flush(packets);
    if (pk.comment !== null) {
      comments.pushRow({ evidence_id: ev, packet_no: pk.packetNo, comment: pk.comment });
      if (comments.full) flush(comments);
    }
    totalPackets++;
    totalBytes += pk.caplen;
  };

  for (const inp of inputs) await advance(inp);
  trace.startMs = performance.now() - t0;
  let live = inputs.filter((i) => i.head !== null);
  let sinceCheck = 0;
  while (live.length > 0) {
    // pick the input whose next packet is earliest (merge by time)
    let best = live[0];
    for (let i = 1; i < live.length; i++) {
      const h = live[i].head!;
      const bh = best.head!;
      if (tsLess(h.tsSec, h.tsNs, bh.tsSec, bh.tsNs)) best = live[i];
    }
    const r = best.reader;
    handle(best, best.head!);
    // drain this input while it stays earliest (common case: one file, or files in sequence)
    for (;;) {
      const p = r.next();
      if (p === null) {
        await advance(best);
        break;
      }
      if (live.length > 1) {
        let earliest = true;
        for (const o of live) if (o !== best && tsLess(o.head!.tsSec, o.head!.tsNs, p.tsSec, p.tsNs)) earliest = false;
        if (!earliest) {
          best.head = p;
          break;
        }
      }
      handle(best, p);
      // the application thread's queue is bounded in batches: checked as soon as it is full
      if (++sinceCheck >= 8192 || (appThread !== null && appThread.busy)) {
        sinceCheck = 0;
        if (writer.busy) {
          const tw = performance.now();
          await writer.drain();
          trace.drainMs += performance.now() - tw;
        }
        if (appThread !== null && appThread.busy) {
          const tw = performance.now();
          await appThread.drain();
          trace.appWaitMs += performance.now() - tw;
        }
        if (opts.signal?.aborted) {
          aborted = true;
          break;
        }
        const now = performance.now();
        if (opts.onProgress && now - lastReport >= interval) {
          lastReport = now;
          opts.onProgress({
            bytesRead: bytesDone + p.fileOffset,
            bytesTotal,
            packets: totalPackets,
            flows: tracker.flowsCreated,
            elapsedSec: (now - t0) / 1000,
          });
        }
      }
    }
    if (aborted) break;
    if (best.head === null) bytesDone += best.size;
    live = live.filter((i) => i.head !== null);
  }

  trace.loopMs = performance.now() - t0;
  tracker.finish();
  ctx.frag.flush(fragAnomaly);
  for (const b of [packets, flows, anomalies, comments, fragLinks]) flush(b);
  // the application layer's records and anomaly counts
  let recordCounts: Record<string, number> = {};
  let appAnomalies: number[] = [];
  if (app !== null && appRecords !== null) {
    app.finish();
    appRecords.flushAll();
    recordCounts = appRecords.counts;
    appAnomalies = appRecords.anomaliesByEvidence;
    totalAnomalies += appRecords.anomalyCount;
  } else if (appThread !== null) {
    const tw = performance.now();
    await attached;
    const r = await appThread.finish();
    trace.appWaitMs += performance.now() - tw;
    recordCounts = r.counts;
    appAnomalies = r.anomaliesByEvidence;
    totalAnomalies += r.anomalyCount;
  }
  for (const inp of inputs) inp.anomalies += appAnomalies[inp.id] ?? 0;

  // evidence, interfaces, reader issues
  const evRows = new ColumnBatch(EVIDENCE, Math.max(1, inputs.length));
  const ifRows = new ColumnBatch(INTERFACES, 64);
  const names = new ColumnBatch(NAME_RESOLUTION);
  const summaries: EvidenceSummary[] = [];
  const nowMs = Date.now();
  for (const inp of inputs) {
    const r = inp.reader;
    for (const is of r.issues) {
      inp.anomalies++;
      addAnomaly(inp.id, is.packetNo, is.offset, NaN, 0, is.name, `${inp.path}: ${is.detail}`, 0);
    }
    const th = performance.now();
    const h = await inp.hash;
    trace.hashWaitMs += performance.now() - th;
    const sha = 'sha256' in h ? h.sha256 : null;
    if (!sha) errors.push({ path: inp.path, message: `${inp.path}: could not hash: ${(h as { error: string }).error}` });
    const partial = r.partial || (aborted && !r.done);
    const firstIssue = r.issues.find((x) => x.name !== 'file_empty' && x.name !== 'pcap_caplen_exceeds_origlen');
    const message = aborted && !r.done ? 'ingest aborted before the end of the file' : partial && firstIssue ? `${firstIssue.name}: ${firstIssue.detail}` : null;
    const lts = [...new Set(r.interfaces.map((i) => linkTypeName(i.linkType)))];
    const has = inp.firstSec !== Infinity;
    evRows.pushRow({
      evidence_id: inp.id,
      path: inp.path,
      size: inp.size,
      sha256: sha ?? '',
      format: r.formatName,
      link_types: lts.join(','),
      first_ts: has ? { sec: inp.firstSec, ns: inp.firstNs } : null,
      last_ts: has ? { sec: inp.lastSec, ns: inp.lastNs } : null,
      packets: r.packets,
      bytes: r.bytes,
      status: partial ? 'partial' : 'complete',
      message,
      comment: r.comments.length ? r.comments.join('\n') : null,
      ingested_at: { sec: Math.floor(nowMs / 1000), ns: (nowMs % 1000) * 1e6 },
    });
    r.interfaces.forEach((i, idx) => {
      ifRows.pushRow({
        evidence_id: inp.id,
        interface_id: idx,
        link_type: i.linkType,
        link_type_name: linkTypeName(i.linkType),
        snaplen: i.snaplen,
        ts_resolution: i.tsResolution,
        ts_offset: i.tsOffset,
        section_offset: i.sectionOffset,
        local_id: i.localId,
        name: i.name,
        description: i.description,
        packets: i.packets,
        dropped: i.dropped,
      });
      if (ifRows.full) flush(ifRows);
    });
    for (const n of r.names) {
      names.pushRow({ evidence_id: inp.id, address: n.address, name: n.name });
      if (names.full) flush(names);
    }
    summaries.push({
      evidence_id: inp.id,
      path: inp.path,
      size: inp.size,
      sha256: sha,
      format: r.formatName,
      link_types: lts,
      packets: r.packets,
      bytes: r.bytes,
      first_ts: has ? inp.firstSec + inp.firstNs / 1e9 : null,
      last_ts: has ? inp.lastSec + inp.lastNs / 1e9 : null,
      span_sec: has ? inp.lastSec - inp.firstSec + (inp.lastNs - inp.firstNs) / 1e9 : 0,
      status: partial ? 'partial' : 'complete',
      message,
      anomalies: inp.anomalies,
    });
    await r.close();
  }
  for (const b of [evRows, ifRows, names, anomalies]) flush(b);

  const anyPartial = summaries.some((s) => s.status === 'partial') || errors.length > 0;
  const status = inputs.length === 0 ? 'failed' : anyPartial ? 'partial' : 'complete';
  return {
    status,
    case_dir: resolve(opts.caseDir),
    evidence: summaries,
    errors,
    totals: { packets: totalPackets, bytes: totalBytes, flows: flowWriter.count, anomalies: totalAnomalies, records: recordCounts },
    elapsed_sec: (performance.now() - t0) / 1000,
  };
}

