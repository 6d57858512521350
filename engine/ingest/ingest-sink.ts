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

export class IngestSink {
  private sinceCommit = 0;
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
    if (batch.table === FLOWS_WIRE) batch = deriveFlowRows(batch, this.meta.salt);
    this.store.appendNow(batch);
    this.sinceCommit += rows;
    if (this.sinceCommit >= COMMIT_ROWS) {
      this.sinceCommit = 0;
      await this.store.flush();
      await this.store.con.run('COMMIT');
      await this.store.con.run('BEGIN TRANSACTION');
    }
  }

  async finish(): Promise<void> {
    try {
      await this.store.flush();
      await this.store.con.run('COMMIT');
      await this.store.con.run('CHECKPOINT');
    } finally {
      await this.store.close();
    }
  }

  /** Ends without committing the open transaction (what was committed before stays). */
  async abandon(): Promise<void> {
    await this.store.close();
  }
}
