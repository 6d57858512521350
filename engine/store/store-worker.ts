/**
 * Worker thread that owns the case database during an ingest (see writer.ts): it appends the
 * batches it receives, flushes the appenders regularly so DuckDB's memory stays bounded, and
 * checkpoints at the end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CaseStore } from './case-store.js';
import { ColumnBatch, type BatchMessage } from './batch.js';
import { tableByName } from '../../common/fields.js';

const port = parentPort!;
let store: CaseStore | null = null;
let sinceFlush = 0;

async function start(): Promise<void> {
  try {
    store = await CaseStore.openForWrite((workerData as { dir: string }).dir);
    await store.prepareAppenders();
    port.postMessage({ type: 'ready' });
  } catch (e) {
    port.postMessage({ type: 'error', message: (e as Error).message });
  }
}

let chain: Promise<void> = Promise.resolve();
port.on('message', (m: { type: string; batch?: BatchMessage }) => {
  // handle messages strictly in order
  chain = chain.then(async () => {
    try {
      if (!store) throw new Error('case store is not open');
      if (m.type === 'batch') {
        const t = tableByName(m.batch!.table);
        if (!t) throw new Error(`unknown table ${m.batch!.table}`);
        store.appendNow(ColumnBatch.fromMessage(t, m.batch!));
        sinceFlush += m.batch!.rows;
        if (sinceFlush >= 1 << 18) {
          sinceFlush = 0;
          await store.flush();
        }
        port.postMessage({ type: 'ack' });
      } else if (m.type === 'finish') {
        await store.checkpoint();
        await store.close();
        store = null;
        port.postMessage({ type: 'finished' });
      }
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).message });
    }
  });
});

void start();
