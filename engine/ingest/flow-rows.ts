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
import { macText } from '../flows/tracker.js';
import { formatIPv6, ipv4FromU32 } from '../decode/addr.js';
import { PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP } from '../decode/packet.js';

const hidden = (name: string): FieldDef => ({ name, kind: 'f64', description: 'transport only', nullable: true });
const HIDDEN: FieldDef[] = [
  ...[0, 1, 2, 3].map((i) => hidden(`_oa${i}`)),
  ...[0, 1, 2, 3].map((i) => hidden(`_ra${i}`)),
  hidden('_omac'),
  hidden('_rmac'),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i) => hidden(`_fp${i}`)),
];

/** FLOWS plus the hidden transport columns. Never stored as such. */
export const FLOWS_WIRE: TableDef = { name: 'flows_wire', description: 'flows in transit to the store', fields: [...FLOWS.fields, ...HIDDEN] };

const PROTO_INDEX = new Map<string, number>(PROTO_VALUES.map((v, i) => [v, i]));
const STATE_INDEX = new Map<string, number>(CONN_STATE_VALUES.map((v, i) => [v, i]));
const END_INDEX = new Map<string, number>(END_REASON_VALUES.map((v, i) => [v, i]));

function protoIndex(p: number): number {
  return PROTO_INDEX.get(p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_ICMP || p === PROTO_ICMPV6 ? 'icmp' : 'unknown_transport')!;
}

type NumCol = { [i: number]: number };

/** Writes finished flows from the tracker's columns into a FLOWS_WIRE batch. */
export class FlowColumnWriter implements FlowColumnSink {
  private readonly ci: Record<string, number> = {};
  count = 0;
  constructor(
    readonly batch: ColumnBatch,
    private readonly onFull: (b: ColumnBatch) => void,
  ) {
    for (const f of FLOWS_WIRE.fields) this.ci[f.name] = batch.col(f.name);
  }

  writeFlow(t: FlowTracker, s: number, endReason: string): void {
    const b = this.batch;
    const r = b.rows++;
    const ci = this.ci;
    const c = b.cols as unknown as NumCol[];
    const col = (name: string) => c[ci[name]];
    const o = t.origEndpoint(s);
    const p = o ^ 1;
    this.count++;
    col('flow_id')[r] = t.id[s];
    col('ts')[r] = t.startSec[s];
    b.nanos[ci.ts]![r] = t.startNs[s];
    col('last_ts')[r] = t.lastSec[s];
    b.nanos[ci.last_ts]![r] = t.lastNs[s];
    const dur = t.lastSec[s] - t.startSec[s] + (t.lastNs[s] - t.startNs[s]) / 1e9;
    col('duration')[r] = dur > 0 ? Math.round(dur * 1e9) / 1e9 : 0;
    const ipProto = t.ipProto[s];
    col('proto')[r] = protoIndex(ipProto);
    col('ip_proto')[r] = ipProto;
    col('ip_version')[r] = t.ipVer[s];
    col('orig_p')[r] = t.origP[s];
    col('resp_p')[r] = t.respP[s];
    col('orig_bytes')[r] = t.origBytesOf(s);
    col('resp_bytes')[r] = t.respBytesOf(s);
    col('conn_state')[r] = STATE_INDEX.get(t.connStateOf(s))!;
    col('missed_bytes')[r] = 0;
    (b.cols[ci.history] as string[])[r] = t.history[s];
    col('orig_pkts')[r] = t.ePkts[o];
    col('orig_ip_bytes')[r] = t.eIpBytes[o];
    col('resp_pkts')[r] = t.ePkts[p];
    col('resp_ip_bytes')[r] = t.eIpBytes[p];
    col('vlan')[r] = t.vlan[s] >= 0 ? t.vlan[s] : NaN;
    col('inner_vlan')[r] = t.innerVlan[s] >= 0 ? t.innerVlan[s] : NaN;
    col('evidence_id')[r] = t.evidence[s];
    col('first_packet')[r] = t.firstPkt[s];
    col('end_reason')[r] = END_INDEX.get(endReason)!;
    const stats = (prefix: string, e: number) => {
      const n = t.ePkts[e];
      col(`${prefix}_len_min`)[r] = n ? t.eLenMin[e] : NaN;
      col(`${prefix}_len_max`)[r] = n ? t.eLenMax[e] : NaN;
      col(`${prefix}_len_mean`)[r] = n ? t.eLenMean[e] : NaN;
      col(`${prefix}_len_std`)[r] = n ? Math.sqrt(t.eLenM2[e] / n) : NaN;
      const k = t.eIatN[e];
      col(`${prefix}_iat_min`)[r] = k ? t.eIatMin[e] : NaN;
      col(`${prefix}_iat_max`)[r] = k ? t.eIatMax[e] : NaN;
      col(`${prefix}_iat_mean`)[r] = k ? t.eIatMean[e] : NaN;
      col(`${prefix}_iat_std`)[r] = k ? Math.sqrt(t.eIatM2[e] / k) : NaN;
    };
    stats('orig', o);
    stats('resp', p);
    const fc = s * 6;
    col('syn_count')[r] = t.flagCounts[fc];
    col('fin_count')[r] = t.flagCounts[fc + 1];
    col('rst_count')[r] = t.flagCounts[fc + 2];
    col('psh_count')[r] = t.flagCounts[fc + 3];
    col('ack_count')[r] = t.flagCounts[fc + 4];
    col('urg_count')[r] = t.flagCounts[fc + 5];
    const oa = t.addrWords(s, true);
    const ra = t.addrWords(s, false);
    for (let i = 0; i < 4; i++) {
      col(`_oa${i}`)[r] = i < oa.length ? oa[i] : NaN;
      col(`_ra${i}`)[r] = i < ra.length ? ra[i] : NaN;
    }
    col('_omac')[r] = t.eMac[o];
    col('_rmac')[r] = t.eMac[p];
    const n = t.fpCount[s];
    for (let i = 0; i < 8; i++) col(`_fp${i}`)[r] = i < n ? t.fp[s * 8 + i] : NaN;
    if (b.full) this.onFull(b);
  }
}

function addrText(c: Float64Array[], r: number): string {
  if (c[1][r] !== c[1][r]) return ipv4FromU32(c[0][r]);
  const b = Buffer.alloc(16);
  for (let i = 0; i < 4; i++) b.writeUInt32BE(c[i][r], 4 * i);
  return formatIPv6(b, 0);
}

/**
 * Store side: fills the text columns of a FLOWS_WIRE batch from its hidden columns and returns a
 * FLOWS batch over the same column arrays.
 */
export function deriveFlowRows(wire: ColumnBatch, salt: number): ColumnBatch {
  const n = wire.rows;
  const col = (name: string) => wire.cols[FLOWS_WIRE.fields.findIndex((f) => f.name === name)];
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
  const svc = str('service');
  const omac = num('_omac');
  const rmac = num('_rmac');
  for (let r = 0; r < n; r++) {
    uid[r] = flowUid(salt, flowId[r]);
    oh[r] = addrText(oa, r);
    rh[r] = addrText(ra, r);
    om[r] = macText(omac[r]);
    rm[r] = macText(rmac[r]);
    let t = '';
    for (let i = 0; i < 8 && fps[i][r] === fps[i][r]; i++) t += (i ? ',' : '') + fps[i][r];
    fp[r] = t;
    svc[r] = null;
  }
  const k = FLOWS.fields.length;
  return ColumnBatch.fromMessage(FLOWS, { table: 'flows', rows: n, cols: wire.cols.slice(0, k), nanos: wire.nanos.slice(0, k) });
}
