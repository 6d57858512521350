/**
 * The receiving end of an ingest: owns the case database while evidence is ingested. It reads
 * what the case already holds (uid salt, highest ids), appends batches inside a transaction that is
 * committed every COMMIT_ROWS rows (so a crash keeps what was committed, and large inserts are
 * written straight to the database file instead of the WAL), derives flow text columns, and
 * checkpoints at the end. Runs on the store worker thread, or in-process as a fallback.
 */
import { CaseStore } from '../store/case-store.js';
import { ColumnBatch, type BatchMessage } from '../store/batch.js';
import { tableByName } from '../../common/fields.js';
import { FLOWS_WIRE, deriveFlowRows } from './flow-rows.js';

export interface CaseMeta {
  salt: number;
  nextEvidenceId: number;
  firstFlowId: number;
}

const COMMIT_ROWS = 1 << 21;
const FLUSH_ROWS = 1 << 16;

export class IngestSink {
  private sinceCommit = 0;
  private sinceFlush = 0;
  private constructor(
    private readonly store: CaseStore,
    readonly meta: CaseMeta,
  ) {}

  static async open(dir: string): Promise<IngestSink> {
    const store = await CaseStore.openForWrite(dir);
    try {
      const meta: CaseMeta = {
        salt: Number(await store.meta('uid_salt')),
        nextEvidenceId: (await store.maxOf('evidence', 'evidence_id')) + 1,
        firstFlowId: (await store.maxOf('flows', 'flow_id')) + 1,
      };
      // bound DuckDB's buffer pool so that memory does not grow with the evidence size
      await store.con.run(`SET memory_limit = '256MB'`);
      await store.con.run('BEGIN TRANSACTION');
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
      const t = b.table === FLOWS_WIRE.name ? FLOWS_WIRE : tableByName(b.table);
      if (!t) throw new Error(`unknown table ${b.table}`);
      batch = ColumnBatch.fromMessage(t, b);
    }
    const rows = batch.rows;
    this.rebase(batch);
    if (batch.table === FLOWS_WIRE) batch = deriveFlowRows(batch, this.meta.salt);
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
      await this.store.con.run('COMMIT');
      await this.store.con.run('BEGIN TRANSACTION');
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
      else if (f.name === 'flow_id' && flowBase) for (let r = 0; r < b.rows; r++) if (c[r] > 0) c[r] += flowBase;
    });
  }

  async finish(): Promise<void> {
    const t = [performance.now()];
    try {
      await this.store.flush();
      t.push(performance.now());
      await this.store.con.run('COMMIT');
      t.push(performance.now());
      await this.store.con.run('CHECKPOINT');
      t.push(performance.now());
    } finally {
      await this.store.close();
      t.push(performance.now());
      if (process.env.INSTACAP_TRACE) process.stderr.write(`sink finish: flush/commit/checkpoint/close ms ${t.slice(1).map((x, i) => (x - t[i]).toFixed(0)).join('/')}\n`);
    }
  }

  /** Ends without committing the open transaction (what was committed before stays). */
  async abandon(): Promise<void> {
    await this.store.close();
  }
}
