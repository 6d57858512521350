/**
 * Shared helpers of the golden tests: where the corpus and the baselines are, TSV parsing, a
 * packet loop over the engine's reader, temporary case directories.
 *
 * The baselines under baselines/ are written only by update-baselines.mjs (tshark/capinfos output).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openCapture } from '../../engine/readers/open.js';
import type { RawPacket } from '../../engine/readers/reader.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..');
export const CORPUS = resolve(process.env.INSTACAP_CORPUS ?? join(REPO, '..', 'shared', 'pcaps'));
export const BASELINES = join(here, 'baselines');
export const UPDATE_SCRIPT = join(here, 'update-baselines.mjs');
/** `INSTACAP_UPDATE_GOLDEN=1 vitest run test/golden` regenerates the baselines instead of comparing. */
export const UPDATING = process.env.INSTACAP_UPDATE_GOLDEN === '1';

export function corpusPath(rel: string): string {
  return join(CORPUS, rel);
}

export function requireCorpus(): void {
  if (!existsSync(CORPUS)) throw new Error(`capture corpus not found at ${CORPUS}: set INSTACAP_CORPUS to the shared pcaps folder`);
}

export interface Tsv {
  /** `# key: value` comment lines. */
  meta: Record<string, string>;
  header: string[];
  rows: string[][];
}

/** Reads a baseline TSV: `#` comment lines, one header line, then rows (tab-separated). */
export function readTsv(path: string): Tsv {
  const meta: Record<string, string> = {};
  let header: string[] | null = null;
  const rows: string[][] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s*([\w-]+):\s*(.*)$/.exec(line);
      if (m) meta[m[1]] = m[2];
      continue;
    }
    const cells = line.split('\t');
    if (!header) header = cells;
    else rows.push(cells);
  }
  if (!header) throw new Error(`${path}: no header line`);
  return { meta, header, rows };
}

/** Lists the baseline files of a folder under baselines/ (sorted). */
export function baselineFiles(folder: string): string[] {
  const dir = join(BASELINES, folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.tsv'))
    .sort()
    .map((f) => join(dir, f));
}

/** Streams every packet of a capture through the engine's reader (the packet object is reused). */
export async function forEachPacket(path: string, fn: (p: RawPacket) => void): Promise<{ issues: { name: string; packetNo: number; detail: string }[] }> {
  const r = await openCapture(path);
  try {
    for (;;) {
      const p = r.next();
      if (p) {
        fn(p);
        continue;
      }
      if (r.done) break;
      await r.fill();
    }
    return { issues: r.issues.map((i) => ({ name: i.name, packetNo: i.packetNo, detail: i.detail })) };
  } finally {
    await r.close();
  }
}

/** Epoch timestamp as tshark prints frame.time_epoch: seconds, a dot, nine digits. */
export function epochString(sec: number, ns: number): string {
  return `${sec}.${String(ns).padStart(9, '0')}`;
}

/** A fresh temporary case directory; remove it with `removeCase`. */
export function tempCaseDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `instacap-golden-${tag}-`));
}

export function removeCase(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
