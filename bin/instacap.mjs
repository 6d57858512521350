#!/usr/bin/env node
// Entry point of the `instacap` command. Runs the compiled CLI from dist/; on a fresh clone
// (or after the sources changed) it compiles the TypeScript first with the project's tsc.
import { existsSync, statSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'cli', 'run.js');

function newestSource(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newestSource(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

const stale = !existsSync(entry) || ['common', 'engine', 'cli'].some((d) => newestSource(join(root, d)) > statSync(entry).mtimeMs);
if (stale) {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch {
    process.stderr.write('instacap: building the TypeScript sources failed (run `npm run build` to see why)\n');
    process.exit(1);
  }
}
await import(pathToFileURL(entry).href);
