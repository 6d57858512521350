/**
 * SHA-256 of evidence files on a worker thread, so hashing uses the second core while the main
 * thread decodes. The file is opened read-only.
 */
import { Worker } from 'node:worker_threads';

const WORKER_SRC = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
try {
  const fd = fs.openSync(workerData.path, fs.constants.O_RDONLY);
  const h = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1024 * 1024); // 1 MiB: stays in cache between read() and hashing
  let n, size = 0;
  while ((n = fs.readSync(fd, buf, 0, buf.length, null)) > 0) { h.update(buf.subarray(0, n)); size += n; }
  fs.closeSync(fd);
  parentPort.postMessage({ sha256: h.digest('hex'), size });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e) });
}
`;

export function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  return new Promise((resolveP, rejectP) => {
    const w = new Worker(WORKER_SRC, { eval: true, workerData: { path } });
    w.once('message', (m: { sha256?: string; size?: number; error?: string }) => {
      void w.terminate();
      if (m.error) rejectP(new Error(m.error));
      else resolveP({ sha256: m.sha256!, size: m.size! });
    });
    w.once('error', rejectP);
  });
}
