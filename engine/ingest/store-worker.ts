/** Worker thread that owns the case database during an ingest (see writer.ts and ingest-sink.ts). */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { BatchMessage } from '../store/batch.js';
import { IngestSink } from './ingest-sink.js';

const port = parentPort!;
let sink: IngestSink | null = null;
let chain: Promise<void> = Promise.resolve();

const ready = IngestSink.open((workerData as { dir: string }).dir).then(
  (s) => {
    sink = s;
    port.postMessage({ type: 'ready', meta: s.meta });
  },
  (e: Error) => port.postMessage({ type: 'error', message: e.message }),
);

/**
 * Batches from the application thread arrive on their own port and join the same queue. The
 * ingest sends `finish` only after the application thread has seen all its batches acknowledged.
 */
function listenApp(app: MessagePort): void {
  app.on('message', (m: { type: string; batch?: BatchMessage }) => {
    chain = chain.then(async () => {
      await ready;
      try {
        if (!sink) throw new Error('case store is not open');
        await sink.write(m.batch!);
        app.postMessage({ type: 'ack' });
      } catch (e) {
        // both ends hear of it: the application thread must not wait for an acknowledgement
        app.postMessage({ type: 'error', message: (e as Error).message });
        port.postMessage({ type: 'error', message: (e as Error).message });
      }
    });
  });
}

port.on('message', (m: { type: string; batch?: BatchMessage; port?: MessagePort }) => {
  if (m.type === 'app-port') {
    listenApp(m.port!);
    return;
  }
  // handle messages strictly in order
  chain = chain.then(async () => {
    await ready;
    try {
      if (!sink) throw new Error('case store is not open');
      if (m.type === 'batch') {
        await sink.write(m.batch!);
        port.postMessage({ type: 'ack' });
      } else if (m.type === 'finish') {
        const s = sink;
        sink = null;
        await s.finish();
        port.postMessage({ type: 'finished' });
      }
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).message });
    }
  });
});
