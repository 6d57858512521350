/**
 * Flow rows on their way to the store. The tracker's columns are copied into a FLOWS_WIRE batch:
 * the public FLOWS columns plus hidden numeric columns (address words, MACs, first payload
 * sizes) from which the store worker derives the text columns (uid, orig_h, resp_h, MACs,
 * first_payloads). Text is thus made on the second core, and crosses threads as typed arrays.
 */
import { CONN_STATE_VALUES, END_REASON_VALUES, FLOWS, PROTO_VALUES, type FieldDef, type TableDef } from '../../common/fields.js';
import { ColumnBatch } from '../store/batch.js';
import type { FlowColumnSink, FlowTracker } from '../flows/tracker.js';
import { flowUid } from '../flows/connstate.js';
import { formatIPv6, ipv4FromU32, macFromNumber } from '../decode/addr.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from '../decode/packet.js';

const hidden = (name: string): FieldDef => ({ name, kind: 'f64', description: 'transport only', nullable: true });
const HIDDEN: FieldDef[] = [
  ...[0, 1, 2, 3].map((i) => hidden(`_oa${i}`)),
  ...[0, 1, 2, 3].map((i) => hidden(`_ra${i}`)),
  hidden('_omac'),
  hidden('_rmac'),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => hidden(`_fp${i}`)),
  hidden('_tunnel_parent'),
];

/**
 * Packets of a fragmented datagram other than the one that completed it: the packet index names
 * no flow for them while they wait; the store sets their flow_id at the end of the ingest, so that
 * a flow's packets (follow-stream, evidence export) include every fragment.
 */
export const PACKET_FLOWS: TableDef = {
  name: '_packet_flow',
  description: 'fragment packets and their flow, in transit to the store',
  fields: [
    { name: 'evidence_id', kind: 'u16', description: 'Evidence file.' },
    { name: 'packet_no', kind: 'u32', description: 'Frame number.' },
    { name: 'flow_id', kind: 'u32', description: 'Flow of the datagram.' },
  ],
};

/** FLOWS plus the hidden transport columns. Never stored as such. */
export const FLOWS_WIRE: TableDef = { name: 'flows_wire', description: 'flows in transit to the store', fields: [...FLOWS.fields, ...HIDDEN] };

const PROTO_INDEX = new Map<string, number>(PROTO_VALUES.map((v, i) => [v, i]));
const END_INDEX = new Map<string, number>(END_REASON_VALUES.map((v, i) => [v, i]));

const P_TCP = PROTO_INDEX.get('tcp')!;
const P_UDP = PROTO_INDEX.get('udp')!;
const P_ICMP = PROTO_INDEX.get('icmp')!;
const P_OTHER = PROTO_INDEX.get('unknown_transport')!;

function protoIndex(p: number): number {
  return p === PROTO_TCP ? P_TCP : p === PROTO_UDP ? P_UDP : p === PROTO_ICMP || p === PROTO_ICMPV6 ? P_ICMP : P_OTHER;
}

type NumCol = { [i: number]: number };

const IDX = Object.fromEntries(FLOWS_WIRE.fields.map((f, i) => [f.name, i])) as Record<string, number>;
const I = {
  flow_id: IDX.flow_id,
  ts: IDX.ts,
  last_ts: IDX.last_ts,
  duration: IDX.duration,
  proto: IDX.proto,
  ip_proto: IDX.ip_proto,
  ip_version: IDX.ip_version,
  orig_p: IDX.orig_p,
  resp_p: IDX.resp_p,
  orig_bytes: IDX.orig_bytes,
  resp_bytes: IDX.resp_bytes,
  conn_state: IDX.conn_state,
  missed_bytes: IDX.missed_bytes,
  history: IDX.history,
  service: IDX.service,
  orig_pkts: IDX.orig_pkts,
  orig_ip_bytes: IDX.orig_ip_bytes,
  resp_pkts: IDX.resp_pkts,
  resp_ip_bytes: IDX.resp_ip_bytes,
  vlan: IDX.vlan,
  inner_vlan: IDX.inner_vlan,
  evidence_id: IDX.evidence_id,
  first_packet: IDX.first_packet,
  end_reason: IDX.end_reason,
  syn_count: IDX.syn_count,
  omac: IDX._omac,
  tp: IDX._tunnel_parent,
  rmac: IDX._rmac,
};
/** Statistics columns per direction, in the order len min/max/mean/std, iat min/max/mean/std. */
const STATS = ['orig', 'resp'].map((d) => ['len_min', 'len_max', 'len_mean', 'len_std', 'iat_min', 'iat_max', 'iat_mean', 'iat_std'].map((k) => IDX[`${d}_${k}`]));
const OA = [0, 1, 2, 3].map((i) => IDX[`_oa${i}`]);
const RA = [0, 1, 2, 3].map((i) => IDX[`_ra${i}`]);
const FPC = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => IDX[`_fp${i}`]);
const FLAG_COLS = ['syn_count', 'fin_count', 'rst_count', 'psh_count', 'ack_count', 'urg_count'].map((n) => IDX[n]);
const STATE_OF = new Map<string, number>(CONN_STATE_VALUES.map((v, i) => [v, i]));

/** Writes finished flows from the tracker's columns into a FLOWS_WIRE batch (column positions resolved once). */
export class FlowColumnWriter implements FlowColumnSink {
  count = 0;
  constructor(
    readonly batch: ColumnBatch,
    private readonly onFull: (b: ColumnBatch) => void,
  ) {
    if (batch.table !== FLOWS_WIRE) throw new Error('FlowColumnWriter needs a FLOWS_WIRE batch');
  }

  writeFlow(t: FlowTracker, s: number, endReason: string): void {
    const b = this.batch;
    const r = b.rows++;
    const c = b.cols as unknown as NumCol[];
    const o = t.origEndpoint(s);
    const p = o ^ 1;
    this.count++;
    c[I.flow_id][r] = t.id[s];
    c[I.ts][r] = t.startSec[s];
    b.nanos[I.ts]![r] = t.startNs[s];
    c[I.last_ts][r] = t.lastSec[s];
    b.nanos[I.last_ts]![r] = t.lastNs[s];
    const dur = t.lastSec[s] - t.startSec[s] + (t.lastNs[s] - t.startNs[s]) / 1e9;
    c[I.duration][r] = dur > 0 ? Math.round(dur * 1e9) / 1e9 : 0;
    const ipProto = t.ipProto[s];
    c[I.proto][r] = protoIndex(ipProto);
    c[I.ip_proto][r] = ipProto;
    c[I.ip_version][r] = t.ipVer[s];
    c[I.orig_p][r] = t.origP[s];
    c[I.resp_p][r] = t.respP[s];
    c[I.orig_bytes][r] = t.origBytesOf(s);
    c[I.resp_bytes][r] = t.respBytesOf(s);
    c[I.conn_state][r] = STATE_OF.get(t.connStateOf(s))!;
    c[I.missed_bytes][r] = t.missed[s];
    (b.cols[I.history] as string[])[r] = t.history[s];
    (b.cols[I.service] as (string | null)[])[r] = t.service[s];
    c[I.orig_pkts][r] = t.ePkts[o];
    c[I.orig_ip_bytes][r] = t.eIpBytes[o];
    c[I.resp_pkts][r] = t.ePkts[p];
    c[I.resp_ip_bytes][r] = t.eIpBytes[p];
    c[I.vlan][r] = t.vlan[s] >= 0 ? t.vlan[s] : NaN;
    c[I.inner_vlan][r] = t.innerVlan[s] >= 0 ? t.innerVlan[s] : NaN;
    c[I.evidence_id][r] = t.evidence[s];
    c[I.first_packet][r] = t.firstPkt[s];
    c[I.end_reason][r] = END_INDEX.get(endReason)!;
    for (let d = 0; d < 2; d++) {
      const e = d === 0 ? o : p;
      const k = STATS[d];
      const n = t.ePkts[e];
      c[k[0]][r] = n ? t.eLenMin[e] : NaN;
      c[k[1]][r] = n ? t.eLenMax[e] : NaN;
      c[k[2]][r] = n ? t.eLenMean[e] : NaN;
      c[k[3]][r] = n ? Math.sqrt(t.eLenM2[e] / n) : NaN;
      const m = t.eIatN[e];
      c[k[4]][r] = m ? t.eIatMin[e] : NaN;
      c[k[5]][r] = m ? t.eIatMax[e] : NaN;
      c[k[6]][r] = m ? t.eIatMean[e] : NaN;
      c[k[7]][r] = m ? Math.sqrt(t.eIatM2[e] / m) : NaN;
    }
    const fc = s * 6;
    for (let i = 0; i < 6; i++) c[FLAG_COLS[i]][r] = t.flagCounts[fc + i];
    const kb = s * 10;
    const kw = t.keyWords;
    const v4 = t.ipVer[s] === 4;
    const origIsA = t.origIsA[s] === 1;
    // key words: [flags, A (1 word for v4 | 4 for v6), B, ..., ports]
    const aOff = kb + 1;
    const bOff = v4 ? kb + 2 : kb + 5;
    const oOff = origIsA ? aOff : bOff;
    const rOff = origIsA ? bOff : aOff;
    for (let i = 0; i < 4; i++) {
      c[OA[i]][r] = v4 && i > 0 ? NaN : kw[oOff + i];
      c[RA[i]][r] = v4 && i > 0 ? NaN : kw[rOff + i];
    }
    c[I.omac][r] = t.eMac[o];
    c[I.rmac][r] = t.eMac[p];
    const n = t.fpCount[s];
    for (let i = 0; i < 8; i++) c[FPC[i]][r] = i < n ? t.fp[s * 8 + i] : NaN;
    const tp = t.tunnelParent[s];
    c[I.tp][r] = tp === 0 ? NaN : tp;
    if (b.full) this.onFull(b);
  }
}

const v6Bytes = new Uint8Array(16);
const v6View = new DataView(v6Bytes.buffer);

/**
 * Text of an address and of a MAC, remembered per value: the same hosts recur across many flows,
 * and a lookup is cheaper than formatting (bounded: the cache is dropped when it grows large).
 */
class TextCache {
  private readonly map = new Map<number, string>();
  get(key: number, make: (k: number) => string): string {
    let t = this.map.get(key);
    if (t === undefined) {
      if (this.map.size >= 1 << 16) this.map.clear();
      t = make(key);
      this.map.set(key, t);
    }
    return t;
  }
}
const v4Text = new TextCache();
const macTexts = new TextCache();

function addrText(c: Float64Array[], r: number): string {
  if (c[1][r] !== c[1][r]) return v4Text.get(c[0][r], ipv4FromU32);
  for (let i = 0; i < 4; i++) v6View.setUint32(4 * i, c[i][r]);
  return formatIPv6(v6Bytes, 0);
}

function macOrNull(m: number): string | null {
  return m !== m ? null : macTexts.get(m, macFromNumber);
}

/**
 * Store side: fills the text columns of a FLOWS_WIRE batch from its hidden columns and returns a
 * FLOWS batch over the same column arrays.
 */
export function deriveFlowRows(wire: ColumnBatch, salt: number): ColumnBatch {
  const n = wire.rows;
  const col = (name: string) => wire.cols[IDX[name]];
  const str = (name: string) => col(name) as (string | null)[];
  const num = (name: string) => col(name) as Float64Array;
  const flowId = col('flow_id') as Uint32Array;
  const oa = [0, 1, 2, 3].map((i) => num(`_oa${i}`));
  const ra = [0, 1, 2, 3].map((i) => num(`_ra${i}`));
  const fps = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => num(`_fp${i}`));
  const uid = str('uid');
  const oh = str('orig_h');
  const rh = str('resp_h');
  const om = str('orig_l2_addr');
  const rm = str('resp_l2_addr');
  const fp = str('first_payloads');
  const omac = num('_omac');
  const rmac = num('_rmac');
  const tp = num('_tunnel_parent');
  const parents = str('tunnel_parents');
  for (let r = 0; r < n; r++) {
    uid[r] = flowUid(salt, flowId[r]);
    oh[r] = addrText(oa, r);
    rh[r] = addrText(ra, r);
    om[r] = macOrNull(omac[r]);
    rm[r] = macOrNull(rmac[r]);
    let t = '';
    for (let i = 0; i < 8 && fps[i][r] === fps[i][r]; i++) t += (i ? ',' : '') + fps[i][r];
    fp[r] = t;
    parents[r] = tp[r] === tp[r] ? flowUid(salt, tp[r]) : null;
  }
  const k = FLOWS.fields.length;
  return ColumnBatch.fromMessage(FLOWS, { table: 'flows', rows: n, cols: wire.cols.slice(0, k), nanos: wire.nanos.slice(0, k) });
}
