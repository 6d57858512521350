/**
 * Store writers: where ingest batches go. `WorkerStoreWriter` owns the case database on a worker
 * thread, so DuckDB's appends and checkpoint run on the second core while the main thread decodes;
 * `InProcessStoreWriter` does the same work on the calling thread (used when the compiled worker
 * is not available). Both bound the memory held in flight.
 */
import { Worker, type MessagePort } from 'node:worker_threads';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ColumnBatch } from '../store/batch.js';
import type { IngestSink, CaseMeta } from './ingest-sink.js';
import { InFlight } from './in-flight.js';

export interface StoreWriter {
  /** What the case held before this ingest (uid salt, next ids). */
  readonly meta: CaseMeta;
  /** Hands a batch over; the batch is emptied. */
  write(b: ColumnBatch): void;
  /** True when the caller should `await drain()` before producing more. */
  readonly busy: boolean;
  drain(): Promise<void>;
  /** Flushes, checkpoints and closes the database. */
  finish(): Promise<void>;
  /**
   * Takes batches from another thread (the application thread) on `port`, acknowledging each on
   * it. Only a writer on its own thread can; false otherwise.
   */
  attachPort(port: MessagePort): Promise<boolean>;
}

export class InProcessStoreWriter implements StoreWriter {
  private pending: Promise<void> = Promise.resolve();
  private error: Error | null = null;
  private constructor(private readonly sink: IngestSink) {}
  static async open(dir: string): Promise<InProcessStoreWriter> {
    // DuckDB is loaded here only when the case is written on this thread
    const { IngestSink } = await import('./ingest-sink.js');
    return new InProcessStoreWriter(await IngestSink.open(dir));
  }
  get meta(): CaseMeta {
    return this.sink.meta;
  }
  get busy(): boolean {
    return true; // let the producer await each write's commit work
  }
  write(b: ColumnBatch): void {
    if (this.error) throw this.error;
    if (b.rows === 0) return;
    const { msg } = b.detach();
    this.pending = this.pending.then(() => this.sink.write(msg)).catch((e: Error) => {
      this.error = e;
    });
  }
  async drain(): Promise<void> {
    await this.pending;
    if (this.error) throw this.error;
  }
  async attachPort(): Promise<boolean> {
    return false;
  }
  async finish(): Promise<void> {
    await this.pending;
    if (this.error) {
      await this.sink.abandon();
      throw this.error;
    }
    await this.sink.finish();
  }
}

/**
 * Path of a worker script of this folder as compiled (`dist/engine/ingest/NAME`), or null when it
 * is not built. Running from sources (tests), the compiled script is looked up under dist/.
 */
export function builtWorkerScript(name: string): string | null {
  const here = fileURLToPath(import.meta.url);
  const d = dirname(here);
  const candidates = [join(d, name)];
  if (!here.includes(`${sep}dist${sep}`)) candidates.push(join(d, '..', '..', 'dist', 'engine', 'ingest', name));
  return candidates.find((c) => existsSync(c)) ?? null;
}

/** Most batches in flight to the worker before the producer waits. */
const MAX_IN_FLIGHT = 16;

export class WorkerStoreWriter implements StoreWriter {
  private readonly flight = new InFlight(MAX_IN_FLIGHT);
  private done: { resolve: () => void; reject: (e: Error) => void } | null = null;

  meta: CaseMeta = { salt: 0, nextEvidenceId: 1, firstFlowId: 1 };

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'ack') {
        this.flight.acked();
      } else if (m.type === 'error') {
        this.fail(new Error(m.message));
      } else if (m.type === 'finished') {
        this.done?.resolve();
      }
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => {
      if (code !== 0) this.fail(new Error(`store worker exited with code ${code}`));
    });
  }

  private fail(e: Error): void {
    this.flight.fail(e);
    this.done?.reject(this.flight.error!);
  }

  static workerPath(): string | null {
    return builtWorkerScript('store-worker.js');
  }

  static async open(dir: string): Promise<WorkerStoreWriter> {
    const path = WorkerStoreWriter.workerPath();
    if (!path) throw new Error('store worker not built (run npm run build)');
    const worker = new Worker(path, { workerData: { dir } });
    const w = new WorkerStoreWriter(worker);
    const started = new Promise<void>((res, rej) => {
      const onMsg = (m: { type: string; message?: string; meta?: CaseMeta }) => {
        if (m.type === 'ready') {
          worker.off('message', onMsg);
          w.meta = m.meta!;
          res();
        } else if (m.type === 'error') {
          worker.off('message', onMsg);
          rej(new Error(m.message));
        }
      };
      worker.on('message', onMsg);
      worker.once('error', rej);
    });
    try {
      await started;
    } catch (e) {
      await worker.terminate(); // a worker that could not open the case must not keep the process alive
      throw e;
    }
    return w;
  }

  get busy(): boolean {
    return this.flight.full;
  }

  write(b: ColumnBatch): void {
    if (this.flight.error) throw this.flight.error;
    if (b.rows === 0) return;
    const { msg, transfer } = b.detach();
    this.flight.sent();
    this.worker.postMessage({ type: 'batch', batch: msg }, transfer);
  }

  async attachPort(port: MessagePort): Promise<boolean> {
    this.worker.postMessage({ type: 'app-port', port }, [port]);
    return true;
  }

  async drain(): Promise<void> {
    await this.flight.drain(MAX_IN_FLIGHT - 1);
  }

  async finish(): Promise<void> {
    if (this.flight.error) {
      await this.worker.terminate();
      throw this.flight.error;
    }
    const p = new Promise<void>((resolve, reject) => (this.done = { resolve, reject }));
    this.worker.postMessage({ type: 'finish' });
    try {
      await p;
    } finally {
      await this.worker.terminate();
    }
  }
}

/** The worker writer when the compiled worker exists, else the in-process one. */
export async function openStoreWriter(dir: string): Promise<StoreWriter> {
  if (WorkerStoreWriter.workerPath()) return WorkerStoreWriter.open(dir);
  return InProcessStoreWriter.open(dir);
}

/**
 * A writer usable at once: batches written before the real writer has started (its thread loads
 * DuckDB and opens the case) are queued, then handed over in order. The ingest can thus decode
 * from its first millisecond.
 */
export class EarlyStoreWriter implements StoreWriter {
  private inner: StoreWriter | null = null;
  private failure: Error | null = null;
  private readonly queue: ColumnBatch[] = [];
  constructor(private readonly pending: Promise<StoreWriter>) {
    pending.then(
      (w) => (this.inner = w),
      (e: Error) => (this.failure = e),
    );
  }

  get meta(): CaseMeta {
    if (!this.inner) throw new Error('store writer not ready');
    return this.inner.meta;
  }

  /** Waits for the real writer (throws if it could not start). */
  async ready(): Promise<StoreWriter> {
    const w = await this.pending;
    this.handOver();
    return w;
  }

  private handOver(): void {
    if (!this.inner) return;
    while (this.queue.length) this.inner.write(this.queue.shift()!);
  }

  get busy(): boolean {
    return this.inner !== null && (this.queue.length > 0 || this.inner.busy);
  }

  write(b: ColumnBatch): void {
    if (this.failure) throw this.failure;
    if (b.rows === 0) return;
    if (this.inner && this.queue.length === 0) {
      this.inner.write(b);
      return;
    }
    const { msg } = b.detach();
    this.queue.push(ColumnBatch.fromMessage(b.table, msg));
    this.handOver();
  }

  async drain(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.inner) return;
    this.handOver();
    await this.inner.drain();
  }

  async attachPort(port: MessagePort): Promise<boolean> {
    const w = await this.ready();
    return w.attachPort(port);
  }

  async finish(): Promise<void> {
    const w = await this.ready();
    await w.finish();
  }
}
