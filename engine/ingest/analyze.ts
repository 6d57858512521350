/**
 * The ingest job: evidence files -> streaming readers (merged by time) -> decoders -> flow tracker
 * -> case store. The same service backs the CLI (`instacap analyze`) and, later, the app's ingest
 * jobs: it takes an AbortSignal, reports throttled progress and returns a structured result.
 */
import { statSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { ANOMALIES, EVIDENCE, FLOWS, INTERFACES, NAME_RESOLUTION, PACKET_COMMENTS, PACKETS } from '../../common/fields.js';
import { anomalyLayer, type AnomalyName } from '../../common/anomalies.js';
import { openCapture, NotACaptureError } from '../readers/open.js';
import type { FramedReader, RawPacket } from '../readers/reader.js';
import { linkTypeName } from '../readers/linktypes.js';
import { Decoded, decodePacket, type DecodeContext } from '../decode/packet.js';
import { Reassembler } from '../decode/frag.js';
import { FlowTracker, DEFAULT_FLOW_CONFIG, type Flow, type FlowConfig } from '../flows/tracker.js';
import { flowUid } from '../flows/connstate.js';
import { CaseStore } from '../store/case-store.js';
import { ColumnBatch } from '../store/batch.js';
import { sha256File } from './hash.js';

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
  totals: { packets: number; bytes: number; flows: number; anomalies: number };
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

export async function analyze(opts: AnalyzeOptions): Promise<AnalyzeResult> {
  const t0 = performance.now();
  const errors: { path: string; message: string }[] = [];
  const store = await CaseStore.openForWrite(opts.caseDir);
  try {
    return await run(store, opts, errors, t0);
  } finally {
    await store.close();
  }
}

async function run(store: CaseStore, opts: AnalyzeOptions, errors: { path: string; message: string }[], t0: number): Promise<AnalyzeResult> {
  const salt = Number(await store.meta('uid_salt'));
  let nextEvidence = (await store.maxOf('evidence', 'evidence_id')) + 1;
  const firstFlow = (await store.maxOf('flows', 'flow_id')) + 1;

  // open every input; missing and non-capture files are reported and skipped
  const inputs: Input[] = [];
  for (const p of opts.files) {
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
      reader = await openCapture(path);
    } catch (e) {
      errors.push({ path, message: e instanceof NotACaptureError ? e.message : `${path}: ${(e as Error).message}` });
      continue;
    }
    const hash = sha256File(realpathSync(path)).catch((e: Error) => ({ error: e.message }));
    inputs.push({
      id: nextEvidence++,
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

  const packets = new ColumnBatch(PACKETS);
  const flows = new ColumnBatch(FLOWS);
  const anomalies = new ColumnBatch(ANOMALIES);
  const comments = new ColumnBatch(PACKET_COMMENTS);
  const P = {
    ev: packets.cols[packets.col('evidence_id')] as Uint16Array,
    no: packets.cols[packets.col('packet_no')] as Uint32Array,
    off: packets.cols[packets.col('file_offset')] as Float64Array,
    ts: packets.cols[packets.col('ts')] as Float64Array,
    tsNs: packets.nanos[packets.col('ts')]!,
    cap: packets.cols[packets.col('caplen')] as Uint32Array,
    orig: packets.cols[packets.col('origlen')] as Uint32Array,
    flow: packets.cols[packets.col('flow_id')] as Uint32Array,
  };
  await store.prepareAppenders();
  const flush = (b: ColumnBatch) => store.appendNow(b);
  let totalFlows = 0;
  let totalAnomalies = 0;

  const flowCfg: FlowConfig = { ...DEFAULT_FLOW_CONFIG, ...opts.flowConfig };
  const writeFlow = (f: Flow) => {
    totalFlows++;
    flows.pushRow(flowRow(f, salt));
    if (flows.full) flush(flows);
  };
  const tracker = new FlowTracker(writeFlow, firstFlow, flowCfg);

  const addAnomaly = (ev: number, packetNo: number, offset: number, sec: number, ns: number, name: AnomalyName, detail: string, flowId: number) => {
    totalAnomalies++;
    anomalies.pushRow({
      evidence_id: ev,
      packet_no: packetNo,
      file_offset: offset,
      ts: sec === sec ? { sec, ns } : null,
      name,
      layer: anomalyLayer(name),
      detail: detail || null,
      flow_id: flowId,
    });
    if (anomalies.full) flush(anomalies);
  };

  const d = new Decoded();
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

  const process = (inp: Input, pk: RawPacket) => {
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
    ctx.now = sec + ns / 1e9;
    let flowId = 0;
    if (decodePacket(pk, d, ctx)) {
      flowId = tracker.packet(d, sec, ns, ev, pk.packetNo, pk.buf);
      if (d.anomalies.length) {
        for (let i = 0; i < d.anomalies.length; i++) {
          inp.anomalies++;
          addAnomaly(ev, pk.packetNo, pk.fileOffset, sec, ns, d.anomalies[i], d.details[i], flowId);
        }
      }
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
    process(best, best.head!);
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
      process(best, p);
      if (++sinceCheck >= 8192) {
        sinceCheck = 0;
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

  tracker.finish();
  ctx.frag.flush(fragAnomaly);
  for (const b of [packets, flows, anomalies, comments]) store.appendNow(b);

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
    const h = await inp.hash;
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
  for (const b of [evRows, ifRows, names, anomalies]) store.appendNow(b);
  await store.checkpoint();

  const anyPartial = summaries.some((s) => s.status === 'partial') || errors.length > 0;
  const status = inputs.length === 0 ? 'failed' : anyPartial ? 'partial' : 'complete';
  return {
    status,
    case_dir: store.dir,
    evidence: summaries,
    errors,
    totals: { packets: totalPackets, bytes: totalBytes, flows: totalFlows, anomalies: totalAnomalies },
    elapsed_sec: (performance.now() - t0) / 1000,
  };
}

function nz(x: number): number | null {
  return Number.isFinite(x) ? x : null;
}

function std(m2: number, n: number): number | null {
  return n > 0 ? Math.sqrt(m2 / n) : null;
}

/** One flows row from a finished flow. */
export function flowRow(f: Flow, salt: number): Record<string, unknown> {
  const o = f.o;
  const r = f.r;
  return {
    flow_id: f.id,
    uid: flowUid(salt, f.id),
    ts: { sec: f.startSec, ns: f.startNs },
    last_ts: { sec: f.lastSec, ns: f.lastNs },
    duration: Math.max(0, Math.round(f.duration * 1e9) / 1e9),
    proto: f.proto,
    ip_proto: f.ipProto,
    ip_version: f.ipVersion,
    orig_h: f.origH,
    orig_p: f.origP,
    resp_h: f.respH,
    resp_p: f.respP,
    service: null,
    orig_bytes: f.origBytes,
    resp_bytes: f.respBytes,
    conn_state: f.connState,
    missed_bytes: 0,
    history: f.history,
    orig_pkts: o.pkts,
    orig_ip_bytes: o.ipBytes,
    resp_pkts: r.pkts,
    resp_ip_bytes: r.ipBytes,
    vlan: f.vlan >= 0 ? f.vlan : null,
    inner_vlan: f.innerVlan >= 0 ? f.innerVlan : null,
    orig_l2_addr: o.mac,
    resp_l2_addr: r.mac,
    evidence_id: f.evidenceId,
    first_packet: f.firstPacket,
    end_reason: f.endReason,
    orig_len_min: o.pkts ? o.lenMin : null,
    orig_len_max: o.pkts ? o.lenMax : null,
    orig_len_mean: o.pkts ? o.lenMean : null,
    orig_len_std: o.pkts ? std(o.lenM2, o.pkts) : null,
    resp_len_min: r.pkts ? r.lenMin : null,
    resp_len_max: r.pkts ? r.lenMax : null,
    resp_len_mean: r.pkts ? r.lenMean : null,
    resp_len_std: r.pkts ? std(r.lenM2, r.pkts) : null,
    orig_iat_min: o.iatN ? nz(o.iatMin) : null,
    orig_iat_max: o.iatN ? o.iatMax : null,
    orig_iat_mean: o.iatN ? o.iatMean : null,
    orig_iat_std: o.iatN ? std(o.iatM2, o.iatN) : null,
    resp_iat_min: r.iatN ? nz(r.iatMin) : null,
    resp_iat_max: r.iatN ? r.iatMax : null,
    resp_iat_mean: r.iatN ? r.iatMean : null,
    resp_iat_std: r.iatN ? std(r.iatM2, r.iatN) : null,
    syn_count: f.synCount,
    fin_count: f.finCount,
    rst_count: f.rstCount,
    psh_count: f.pshCount,
    ack_count: f.ackCount,
    urg_count: f.urgCount,
    first_payloads: f.firstPayloads.join(','),
  };
}
