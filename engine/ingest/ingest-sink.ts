/**
 * The receiving end of an ingest: owns the case database while evidence is ingested. It reads
 * what the case already holds (uid salt, highest ids), appends batches inside a transaction per
 * database file (flows and packets; records) that are committed together every COMMIT_ROWS rows
 * (so a crash keeps what was committed, and large inserts are written straight to the database
 * files instead of the WAL), derives flow text columns, rebuilds the hosts table once the rest is
 * committed, and checkpoints at the end. Runs on the store worker thread, or in-process as a fallback.
 */
import type { DuckDBAppender } from '@duckdb/node-api';
import { CaseStore, CommitError } from '../store/case-store.js';
import { ColumnBatch, type BatchMessage } from '../store/batch.js';
import { EVIDENCE, tableByName } from '../../common/fields.js';
import { FLOWS_WIRE, PACKET_FLOWS, deriveFlowRows } from './flow-rows.js';
import { FLOW_SERVICES } from './app-feed.js';
import { flowUid } from '../flows/connstate.js';
import { rebuildHosts } from '../store/hosts.js';
import { GeoIp } from '../geo/geoip.js';

/** The bundled GeoIP data, or null when it is not installed (hosts then have no location). */
function openGeo(): GeoIp | null {
  try {
    return GeoIp.open();
  } catch {
    return null;
  }
}

/** Application records carry flow_id; their uid column is derived here, as for flows. */
function fillUids(b: ColumnBatch, salt: number): void {
  const u = b.table.fields.findIndex((f) => f.name === 'uid');
  const fi = b.table.fields.findIndex((f) => f.name === 'flow_id');
  if (u < 0 || fi < 0) return;
  const uid = b.cols[u] as (string | null)[];
  const ids = b.cols[fi] as unknown as ArrayLike<number>;
  // a connection's records usually come together (a DNS row and its answers): one uid for a run
  let last = -1;
  let text = '';
  for (let r = 0; r < b.rows; r++) {
    const id = ids[r];
    if (id !== last) {
      last = id;
      text = id > 0 ? flowUid(salt, id) : '';
    }
    uid[r] = text;
  }
}

export interface CaseMeta {
  salt: number;
  nextEvidenceId: number;
  firstFlowId: number;
}

/** Tables that only cross threads: their rows are turned into case rows or updates here. */
const WIRE_TABLES = [FLOWS_WIRE, FLOW_SERVICES, PACKET_FLOWS];

const COMMIT_ROWS = 1 << 21;
const FLUSH_ROWS = 1 << 16;

export class IngestSink {
  private sinceCommit = 0;
  private sinceFlush = 0;
  /**
   * flows.service decided on the application thread, by flow id, for flow rows not yet written:
   * filled in when the row arrives; what is left at the end updates rows already written.
   */
  private readonly services = new Map<number, string>();
  /** The evidence rows of this ingest: appended after the final commit (see finish). */
  private readonly evidence: ColumnBatch[] = [];
  /** (evidence id, packet number, flow id) of fragment packets, flattened: applied at the end. */
  private readonly fragmentFlows: number[] = [];
  private constructor(
    private readonly store: CaseStore,
    readonly meta: CaseMeta,
  ) {}

  static async open(dir: string): Promise<IngestSink> {
    const store = await CaseStore.openForWrite(dir);
    try {
      const meta: CaseMeta = {
        salt: Number(await store.meta('uid_salt')),
        nextEvidenceId: (await store.maxOfAll('evidence_id')) + 1,
        firstFlowId: (await store.maxOfAll('flow_id')) + 1,
      };
      // bound DuckDB's buffer pool so that memory does not grow with the evidence size
      await store.con.run(`SET memory_limit = '256MB'`);
      // FSST string compression: its analysis of every string segment made the final commit of the
      // records about a fifth slower, for a case file only 3 % smaller (1 GB workload: 31.7 / 32.8 MB)
      await store.con.run(`SET disabled_compression_methods = 'fsst'`);
      // one DuckDB thread while the evidence is read: a statement run from Node waits for DuckDB's
      // worker threads by polling, and while a mid-ingest COMMIT ran that poll took a core's worth
      // of CPU (mutex lock/unlock; about 0.22 CPU-s on the 1 GB workload, `perf`) from the decoding thread.
      // The appends themselves are not parallel. finish() gives the threads back.
      await store.con.run('SET threads = 1');
      await store.begin();
      await store.prepareAppenders();
      return new IngestSink(store, meta);
    } catch (e) {
      await store.close();
      throw e;
    }
  }

  /** Appends one batch (a local ColumnBatch or a message from another thread). */
  async write(b: ColumnBatch | BatchMessage): Promise<void> {
    let batch: ColumnBatch;
    if (b instanceof ColumnBatch) batch = b;
    else {
      const t = WIRE_TABLES.find((w) => w.name === b.table) ?? tableByName(b.table);
      if (!t) throw new Error(`unknown table ${b.table}`);
      batch = ColumnBatch.fromMessage(t, b);
    }
    const rows = batch.rows;
    this.rebase(batch);
    if (batch.table === EVIDENCE) {
      // written only once everything else is committed: a case lists evidence whose rows are all in
      const { msg } = batch.detach();
      this.evidence.push(ColumnBatch.fromMessage(EVIDENCE, msg));
      return;
    }
    if (batch.table === PACKET_FLOWS) {
      const ev = batch.cols[0] as Uint16Array;
      const no = batch.cols[1] as Uint32Array;
      const fl = batch.cols[2] as Uint32Array;
      for (let r = 0; r < rows; r++) this.fragmentFlows.push(ev[r], no[r], fl[r]);
      // held in a temporary table past a bound, so that a capture of fragments cannot fill memory
      if (this.fragmentFlows.length >= 3 * 65536) await this.spillFragmentFlows();
      return;
    }
    if (batch.table === FLOW_SERVICES) {
      const ids = batch.cols[0] as Uint32Array;
      const names = batch.cols[1] as (string | null)[];
      for (let r = 0; r < rows; r++) this.services.set(ids[r], names[r]!);
      // past a bound they wait in a temporary table, applied at the end only (memory stays bounded)
      if (this.services.size >= IngestSink.servicesInMemory) await this.spillServices();
      return;
    }
    if (batch.table === FLOWS_WIRE) {
      batch = deriveFlowRows(batch, this.meta.salt);
      // once services have been spilled, all wait for the end, so that an older one never wins
      if (this.services.size > 0 && !this.tempTables.has('_flow_service')) this.fillServices(batch);
    } else fillUids(batch, this.meta.salt);
    this.store.appendNow(batch);
    this.sinceCommit += rows;
    this.sinceFlush += rows;
    if (this.sinceFlush >= FLUSH_ROWS) {
      // move appended rows into the transaction now, so that little is left for the end
      this.sinceFlush = 0;
      await this.store.flush();
    }
    if (this.sinceCommit >= COMMIT_ROWS) {
      this.sinceCommit = 0;
      await this.store.flush();
      await this.store.commit();
      await this.store.begin();
    }
  }

  /**
   * The ingest numbers evidence files and flows from 1 before it knows what the case holds; ids
   * become case-wide here by adding the case's current maxima (flow id 0 means "no flow").
   */
  private rebase(b: ColumnBatch): void {
    const evBase = this.meta.nextEvidenceId - 1;
    const flowBase = this.meta.firstFlowId - 1;
    b.table.fields.forEach((f, i) => {
      const c = b.cols[i] as unknown as { [k: number]: number };
      if (f.name === 'evidence_id' && evBase) for (let r = 0; r < b.rows; r++) c[r] += evBase;
      else if ((f.name === 'flow_id' || f.name === '_tunnel_parent') && flowBase) for (let r = 0; r < b.rows; r++) if (c[r] > 0) c[r] += flowBase;
    });
  }

  private fillServices(flows: ColumnBatch): void {
    const fields = flows.table.fields;
    const ids = flows.cols[fields.findIndex((f) => f.name === 'flow_id')] as Uint32Array;
    const svc = flows.cols[fields.findIndex((f) => f.name === 'service')] as (string | null)[];
    for (let r = 0; r < flows.rows; r++) {
      const v = this.services.get(ids[r]);
      if (v !== undefined) {
        svc[r] = v;
        this.services.delete(ids[r]);
      }
    }
  }

  /** Services held in memory before they are spilled (a static so that tests can lower it). */
  static servicesInMemory = 1 << 18;
  /** Rows written to the temporary service table so far (their order: the latest wins). */
  private serviceSeq = 0;

  /** Temporary tables made so far (rows that wait for the end of the ingest). */
  private readonly tempTables = new Set<string>();

  /** Appends rows to temporary table `name` (made with `columns` on first use). */
  private async toTemp(name: string, columns: string, fill: (a: DuckDBAppender) => void): Promise<void> {
    const con = this.store.con;
    if (!this.tempTables.has(name)) {
      await con.run(`CREATE TEMP TABLE ${name} (${columns})`);
      this.tempTables.add(name);
    }
    const a = await con.createAppender(name, 'main', 'temp');
    fill(a);
    a.closeSync();
  }

  /** Moves the services held in memory into a temporary table, in arrival order. */
  private async spillServices(): Promise<void> {
    await this.toTemp('_flow_service', 'seq UBIGINT, flow_id UINTEGER, service VARCHAR', (a) => {
      for (const [id, v] of this.services) {
        a.appendUBigInt(BigInt(++this.serviceSeq));
        a.appendUInteger(id);
        a.appendVarchar(v);
        a.endRow();
      }
    });
    this.services.clear();
  }

  /** Runs `sql`, which reads temporary table `name`, then drops the table; nothing when it was never made. */
  private async fromTemp(name: string, sql: string): Promise<void> {
    if (!this.tempTables.has(name)) return;
    await this.store.con.run(sql);
    await this.store.con.run(`DROP TABLE ${name}`);
    this.tempTables.delete(name);
  }

  /** Services that arrived after their flow's row (or were spilled): the rows are updated. */
  private async updateServices(): Promise<void> {
    if (this.services.size > 0) await this.spillServices();
    await this.fromTemp(
      '_flow_service',
      'UPDATE flows SET service = s.service FROM (SELECT flow_id, arg_max(service, seq) AS service FROM _flow_service GROUP BY flow_id) s WHERE flows.flow_id = s.flow_id',
    );
  }

  /** Moves the fragment links held in memory into a temporary table. */
  private async spillFragmentFlows(): Promise<void> {
    const f = this.fragmentFlows;
    await this.toTemp('_packet_flow', 'evidence_id USMALLINT, packet_no UINTEGER, flow_id UINTEGER', (a) => {
      for (let i = 0; i < f.length; i += 3) {
        a.appendUSmallInt(f[i]);
        a.appendUInteger(f[i + 1]);
        a.appendUInteger(f[i + 2]);
        a.endRow();
      }
    });
    f.length = 0;
  }

  /** Fragment packets get the flow of the datagram they were part of. */
  private async updateFragmentFlows(): Promise<void> {
    if (this.fragmentFlows.length > 0) await this.spillFragmentFlows();
    await this.fromTemp(
      '_packet_flow',
      'UPDATE packets SET flow_id = l.flow_id FROM _packet_flow l WHERE packets.evidence_id = l.evidence_id AND packets.packet_no = l.packet_no AND packets.flow_id = 0',
    );
  }

  async finish(): Promise<void> {
    const t = [performance.now()];
    try {
      await this.store.flush();
      await this.store.con.run('RESET threads');
      await this.updateServices();
      await this.updateFragmentFlows();
      t.push(performance.now());
      // both databases at once: the records' file is written beside the flows' (see case-store.ts)
      try {
        await this.store.commit();
      } catch (e) {
        if (!(e instanceof CommitError)) throw e;
        throw new Error(
          `${e.message} (${e.committed ? `only ${e.committed} was committed` : 'neither file was committed'}: the evidence is not listed in the case; ` +
            `rows committed before the failure keep evidence_id ${this.meta.nextEvidenceId} and later evidence gets other ids)`,
          { cause: e },
        );
      }
      t.push(performance.now());
      // the evidence rows, then the hosts table, which covers the whole case: rebuilt from all
      // flows and records once both are committed (a transaction of one connection does not see
      // the other's uncommitted rows)
      await this.store.con.run('BEGIN TRANSACTION');
      for (const b of this.evidence) this.store.appendNow(b);
      await this.store.flush();
      await rebuildHosts(this.store, openGeo);
      await this.store.con.run('COMMIT');
      t.push(performance.now());
      await this.store.checkpoint();
      t.push(performance.now());
    } finally {
      await this.store.close();
      t.push(performance.now());
      if (process.env.INSTACAP_TRACE) process.stderr.write(`sink finish: flush/commit/hosts/checkpoint/close ms ${t.slice(1).map((x, i) => (x - t[i]).toFixed(0)).join('/')}\n`);
    }
  }

  /** Ends without committing the open transaction (what was committed before stays). */
  async abandon(): Promise<void> {
    await this.store.close();
  }
}
