/**
 * Golden test 1: for every capture of the corpus, the number of packets instacap reads equals the
 * count of the peer tools. Baseline: baselines/packet-counts.tsv (path, packets, source), written
 * by update-baselines.mjs from `capinfos -c -M -T -r` (or tshark's frame count when capinfos fails
 * on a damaged file: tshark reads up to the damage, and instacap must read at least as far).
 *
 * capinfos, not tshark, is the reference: tshark also shows pcapng custom blocks as frames
 * (pcapng-test-generator basic-test017/018, advanced-test102, difficult-test202), capinfos and
 * instacap count only packet blocks (EPB/SPB/OPB).
 *
 * Two paths are checked: the engine's reader on every file (fast, per file), and the whole
 * corpus through analyze() + `SELECT count(*) FROM packets` per evidence (three cases, one per
 * top-level folder). The second path runs every decoder and protocol parser on the whole corpus:
 * an exception anywhere would fail the ingest, and the protocols folder must yield records of
 * every application table.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { openCapture } from '../../engine/readers/open.js';
import { BASELINES, CORPUS, UPDATING, corpusPath, forEachPacket, readTsv, removeCase, requireCorpus, tempCaseDir } from './helpers.js';

interface Known {
  path: string;
  instacap: string;
  reason: string;
}

/**
 * Deliberate differences from the baseline, one entry per capture with its reason. Currently none:
 * every capture of the corpus, the damaged ones included, gives capinfos' count.
 */
const KNOWN: Known[] = [];

function listCaptures(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /\.(pcap|pcapng)$/.test(e.name)) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

const baselinePath = join(BASELINES, 'packet-counts.tsv');
const baseline = !UPDATING && existsSync(baselinePath) ? readTsv(baselinePath).rows.map(([path, packets, source]) => ({ path, packets, source })) : [];
const expectedOf = (path: string) => KNOWN.find((k) => k.path === path)?.instacap ?? baseline.find((b) => b.path === path)!.packets;

const cases: string[] = [];
afterAll(() => {
  for (const c of cases) removeCase(c);
});

describe.skipIf(UPDATING)('golden: packet counts vs capinfos', () => {
  it('the baseline lists exactly the captures of the corpus (run the update script when the corpus changes)', () => {
    requireCorpus();
    expect(baseline.map((b) => b.path)).toEqual(listCaptures(CORPUS));
    expect(baseline.length).toBeGreaterThan(400);
  });

  it('every capture: the reader counts as many packets as capinfos', async () => {
    const got: string[] = [];
    const want: string[] = [];
    for (const b of baseline) {
      let count: string;
      try {
        let n = 0;
        await forEachPacket(corpusPath(b.path), () => {
          n++;
        });
        count = String(n);
      } catch (e) {
        count = `error:${(e as Error).message}`;
      }
      const exp = expectedOf(b.path);
      // a file neither peer tool can read must be refused by instacap too (any message)
      got.push(`${b.path}\t${exp.startsWith('error:') && count.startsWith('error:') ? exp : count}`);
      want.push(`${b.path}\t${exp}`);
    }
    expect(got).toEqual(want);
  });

  it('every capture: analyze() stores as many packets as capinfos (SELECT count(*) FROM packets)', async () => {
    const readable = baseline.filter((b) => !expectedOf(b.path).startsWith('error:'));
    const groups = new Map<string, string[]>();
    for (const b of readable) {
      const top = b.path.split('/')[0];
      groups.set(top, [...(groups.get(top) ?? []), b.path]);
    }
    const got: string[] = [];
    const want: string[] = [];
    for (const [top, paths] of groups) {
      const dir = tempCaseDir(`counts-${top}`);
      cases.push(dir);
      const res = await analyze({ files: paths.map(corpusPath), caseDir: dir });
      expect(res.errors).toEqual([]);
      if (top === 'protocols') {
        for (const t of ['dns', 'dns_answers', 'http', 'tls', 'ssh', 'credentials', 'dhcp']) expect([t, res.totals.records[t] ?? 0]).toEqual([t, expect.any(Number)]);
        expect(Math.min(...['dns', 'http', 'tls', 'ssh', 'credentials', 'dhcp'].map((t) => res.totals.records[t] ?? 0))).toBeGreaterThan(0);
      }
      const store = await CaseStore.openReadOnly(dir);
      try {
        const q = await store.query(
          `SELECT e.path, e.packets AS evidence_packets, count(p.packet_no) AS n
           FROM evidence e LEFT JOIN packets p USING (evidence_id) GROUP BY e.path, e.packets`,
        );
        const byPath = new Map(q.rows.map((r) => [String(r.path), r]));
        for (const rel of paths) {
          const r = byPath.get(corpusPath(rel));
          got.push(`${rel}\t${r ? `${r.n}/${r.evidence_packets}` : 'no evidence row'}`);
          const e = expectedOf(rel);
          want.push(`${rel}\t${e}/${e}`);
        }
      } finally {
        await store.close();
      }
    }
    expect(got).toEqual(want);
    expect(got.length).toBe(readable.length);
  });

  it('captures that no peer tool can read are refused by analyze()', async () => {
    const unreadable = baseline.filter((b) => expectedOf(b.path).startsWith('error:'));
    if (unreadable.length === 0) return; // none in the corpus today
    const dir = tempCaseDir('counts-unreadable');
    cases.push(dir);
    const res = await analyze({ files: unreadable.map((b) => corpusPath(b.path)), caseDir: dir });
    expect(res.errors.map((e) => e.path).sort()).toEqual(unreadable.map((b) => corpusPath(b.path)).sort());
  });

  // A file with packets never reports file_empty (an earlier reader did, for every pcapng smaller
  // than one read chunk).
  it('no file_empty issue for a capture that has packets', async () => {
    const wrong: string[] = [];
    for (const b of baseline) {
      if (!/^\d+$/.test(b.packets) || b.packets === '0') continue;
      const r = await openCapture(corpusPath(b.path));
      try {
        for (;;) {
          if (r.next()) continue;
          if (r.done) break;
          await r.fill();
        }
        if (r.issues.some((i) => i.name === 'file_empty')) wrong.push(b.path);
      } finally {
        await r.close();
      }
    }
    expect(wrong).toEqual([]);
  });
});
