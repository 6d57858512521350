#!/usr/bin/env node
// CPU seconds per thread of `instacap analyze`, for the three ways of running the protocol layer:
// off (--no-protocols), on the ingest thread, and on its own thread (INSTACAP_APP_THREAD=0/1).
// On a machine with spare cores the wall time approaches the busiest thread's CPU time; on two
// cores it approaches the sum divided by two. Linux only: reads /proc/PID/task/*/stat of the
// child from this (separate) process every 20 ms, so the measured process does no extra work.
//
//   node bench/thread-cpu.mjs [--runs N] FILE.pcap
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
let runs = 3;
if (args[0] === '--runs') {
  runs = Number(args[1]);
  args.splice(0, 2);
}
const file = args[0];
if (!file || !(runs >= 1)) {
  console.error('usage: node bench/thread-cpu.mjs [--runs N] FILE.pcap');
  process.exit(2);
}
const TICK = 100; // USER_HZ on Linux

function sample(pid, seen) {
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tasks) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const cpu = (Number(f[11]) + Number(f[12])) / TICK;
      seen.set(tid, Math.max(cpu, seen.get(tid) ?? 0));
    } catch {
      // the thread ended between the listing and the read
    }
  }
}

function runOnce(mode) {
  const dir = mkdtempSync(join(tmpdir(), 'ic-threadcpu-'));
  const argv = [join(repo, 'bin', 'instacap.mjs'), 'analyze', file, '--case', join(dir, 'case'), '--json'];
  if (mode === 'off') argv.push('--no-protocols');
  const env = { ...process.env, INSTACAP_APP_THREAD: mode === 'thread' ? '1' : '0' };
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const seen = new Map();
    const timer = setInterval(() => sample(child.pid, seen), 20);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      const wall = (performance.now() - t0) / 1000;
      rmSync(dir, { recursive: true, force: true });
      if (code !== 0) return reject(new Error(`analyze exited with ${code}`));
      const main = seen.get(String(child.pid)) ?? 0;
      const others = [...seen.entries()].filter(([tid]) => tid !== String(child.pid)).map(([, c]) => c).sort((a, b) => b - a);
      resolve({ wall, main, others, sum: main + others.reduce((a, b) => a + b, 0) });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`file ${file}, ${runs} runs per mode (median), CPU seconds per thread`);
console.log('| mode | wall s | CPU s, all threads | main thread | busiest other threads |');
console.log('|---|---|---|---|---|');
for (const mode of ['off', 'ingest-thread', 'thread']) {
  const rs = [];
  for (let i = 0; i < runs; i++) rs.push(await runOnce(mode));
  const mid = rs.find((r) => r.wall === median(rs.map((x) => x.wall)));
  const label = mode === 'off' ? 'protocols off' : mode === 'thread' ? 'protocols on, own thread' : 'protocols on, ingest thread';
  console.log(`| ${label} | ${mid.wall.toFixed(2)} | ${mid.sum.toFixed(2)} | ${mid.main.toFixed(2)} | ${mid.others.slice(0, 4).map((c) => c.toFixed(2)).join(' / ')} |`);
}
