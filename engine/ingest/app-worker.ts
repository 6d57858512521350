/**
 * The application thread of an ingest (see app-feed.ts): replays the ingest's events into the
 * application layer and sends its records to the store worker. Each feed batch is acknowledged
 * (its buffers given back) once its records are handed on; at most MAX_IN_FLIGHT record batches
 * wait for the store, so memory stays bounded when the store is the slower side.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { AppLayer } from '../app/dispatch.js';
import type { ReassemblyLimits } from '../streams/tcp-reassembler.js';
import type { ColumnBatch } from '../store/batch.js';
import { InFlight } from './in-flight.js';
import { AppReplay, FlowMirror, RecordOutput, ServiceOutput, type AppThreadResult, type FeedBatch } from './app-feed.js';

const MAX_IN_FLIGHT = 16;

const port = parentPort!;
const { done, limits, storePort } = workerData as { done: Uint32Array; limits?: ReassemblyLimits; storePort: MessagePort };

const toStoreFlight = new InFlight(MAX_IN_FLIGHT);
storePort.on('message', (m: { type: string; message?: string }) => {
  if (m.type === 'ack') toStoreFlight.acked();
  else if (m.type === 'error') toStoreFlight.fail(new Error(`case store: ${m.message}`));
});

const toStore = (b: ColumnBatch): void => {
  if (b.rows === 0) return;
  const { msg, transfer } = b.detach();
  toStoreFlight.sent();
  storePort.postMessage({ type: 'batch', batch: msg }, transfer);
};

const mirror = new FlowMirror();
const records = new RecordOutput(toStore);
const services = new ServiceOutput(toStore);
records.service = (flowId, service) => services.service(flowId, service);
records.done = (slot, flowId) => {
  if (slot < done.length) done[slot] = flowId;
};
const app = new AppLayer(mirror, records, limits);
const replay = new AppReplay(mirror, app);

let chain: Promise<void> = Promise.resolve();
port.on('message', (m: { type: string; batch?: FeedBatch }) => {
  chain = chain.then(async () => {
    try {
      if (m.type === 'feed') {
        const b = m.batch!;
        replay.apply(b);
        await toStoreFlight.drain(MAX_IN_FLIGHT);
        port.postMessage({ type: 'ack', batch: b }, [b.ev.buffer as ArrayBuffer, b.bytes.buffer as ArrayBuffer]);
      } else if (m.type === 'finish') {
        app.finish();
        records.flushAll();
        services.flushAll();
        await toStoreFlight.drain(0);
        const result: AppThreadResult = { counts: records.counts, anomaliesByEvidence: records.anomaliesByEvidence, anomalyCount: records.anomalyCount };
        port.postMessage({ type: 'done', result });
      }
    } catch (e) {
      port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) });
    }
  });
});
