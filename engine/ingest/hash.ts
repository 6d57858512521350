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

/**
 * Hash workers running at once. An ingest opens all its files together and asks for every hash
 * at the start: hundreds of rotated capture files would otherwise start hundreds of threads.
 * The others wait their turn (the ingest needs the hashes only at its end).
 */
export const MAX_HASH_WORKERS = 2;
let running = 0;
let peak = 0;
const waiting: (() => void)[] = [];

/** The most hash workers that ran at once since the last call (for tests). */
export function takeHashWorkerPeak(): number {
  const p = peak;
  peak = running;
  return p;
}

/** `nice`: the hashing thread's priority (19 on Linux), or null where it could not be set. */
export function sha256File(path: string): Promise<{ sha256: string; size: number; nice: number | null }> {
  return new Promise((resolveP, rejectP) => {
    const start = (): void => {
      running++;
      peak = Math.max(peak, running);
      let settled = false;
      // the first of message, error and exit settles; the next waiting file then starts
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        running--;
        waiting.shift()?.();
        return true;
      };
      let w: Worker;
      try {
        w = new Worker(WORKER_SRC, { eval: true, workerData: { path } });
      } catch (e) {
        settle();
        rejectP(e as Error);
        return;
      }
      w.once('message', (m: { sha256?: string; size?: number; nice?: number | null; error?: string }) => {
        void w.terminate();
        if (!settle()) return;
        if (m.error) rejectP(new Error(m.error));
        else resolveP({ sha256: m.sha256!, size: m.size!, nice: m.nice ?? null });
      });
      w.once('error', (e) => {
        if (settle()) rejectP(e);
      });
      w.once('exit', (code) => {
        if (settle()) rejectP(new Error(`the hash worker stopped (exit code ${code}) before it gave the hash`));
      });
    };
    if (running < MAX_HASH_WORKERS) start();
    else waiting.push(start);
  });
}
