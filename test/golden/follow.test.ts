/**
 * Golden test: followed TCP streams against `tshark -q -z follow,tcp,raw,N`, for the captures of
 * FOLLOW_SET in update-baselines.mjs (reordering, retransmissions, overlaps, gaps, fast open,
 * HTTP). Baselines: baselines/follow/<capture>.tsv, one row per tshark stream with payload: both
 * endpoints and, per endpoint, the number of bytes and their SHA-256.
 *
 * Ours: the capture is ingested, each tshark stream is matched to our flow with the same two
 * endpoints that starts at the same frame (or, when none does, to every flow of the endpoint pair,
 * concatenated), and followed with the follow-stream service in small pages, to exercise the
 * cursor. tshark writes a hole as the text "[N bytes missing in capture file]" and a NUL into its
 * raw output; our gap chunks (same length N) are rendered the same way before comparing.
 *
 * Deliberate differences are listed in DIFFERENCES with the reason; the test fails if one of them
 * stops differing (so the list stays true).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { followStream } from '../../engine/services/stream.js';
import { UPDATING, baselineFiles, corpusPath, readTsv, removeCase, tempCaseDir } from './helpers.js';

/** `capture#stream` -> why our bytes differ from tshark's. */
const DIFFERENCES: Record<string, string> = {
  'zeek_reassembly.pcap#0':
    'frames 31/50, 64 and 112 carry different bytes for sequence ranges already held ahead of a hole: we keep the first copy ' +
    "(Zeek's rule; the ingest records tcp_overlap_inconsistent at frames 39, 50, 64, 68, 112), tshark 4.0 shows the later copy. " +
    'The nine holes are the same size in both.',
  'arkime_tcpseq_synthetic.pcap#0':
    'crafted packets to port 0: a SYN with 8 bytes, then a segment 251,658,103 bytes further in sequence space. tshark drops ' +
    'the second segment; we report the jump as a gap and deliver its 8 bytes.',
};

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const files = baselineFiles('follow');
const cases: string[] = [];
afterAll(() => cases.forEach(removeCase));

describe.skipIf(UPDATING)('follow stream = tshark follow,tcp,raw', () => {
  it('has baselines', () => expect(files.length).toBeGreaterThan(10));

  for (const file of files) {
    const t = readTsv(file);
    const capture = t.meta.capture;
    it(basename(capture), async () => {
      const dir = tempCaseDir('follow');
      cases.push(dir);
      await analyze({ files: [corpusPath(capture)], caseDir: dir, protocols: false });
      const store = await CaseStore.openReadOnly(dir);
      const mismatches: string[] = [];
      try {
        const col = (n: string) => t.header.indexOf(n);
        for (const row of t.rows) {
          const key = `${basename(capture)}#${row[col('stream')]}`;
          const nodes = [row[col('node0')], row[col('node1')]];
          const all = await store.query(
            `SELECT uid, first_packet, orig_h || ':' || orig_p AS o, resp_h || ':' || resp_p AS r FROM flows
              WHERE proto = 'tcp' AND ((orig_h || ':' || orig_p = '${nodes[0]}' AND resp_h || ':' || resp_p = '${nodes[1]}')
                 OR (orig_h || ':' || orig_p = '${nodes[1]}' AND resp_h || ':' || resp_p = '${nodes[0]}'))
              ORDER BY ts, flow_id`,
          );
          const same = all.rows.filter((f) => Number(f.first_packet) === Number(row[col('first_frame')]));
          const flows = same.length ? { rows: same } : all;
          const got: Buffer[][] = [[], []];
          for (const f of flows.rows) {
            const clientNode = f.o === nodes[0] ? 0 : 1;
            let cursor: string | null = null;
            let pages = 0;
            do {
              const page = await followStream(store, String(f.uid), { maxBytes: 700, cursor });
              for (const c of page.chunks) got[c.dir === 0 ? clientNode : 1 - clientNode].push(c.data ?? Buffer.from(`[${c.gap} bytes missing in capture file]\0`));
              cursor = page.next;
              expect(++pages).toBeLessThan(10_000);
            } while (cursor !== null);
          }
          const ours = got.map((parts) => Buffer.concat(parts));
          const equal = ours[0].length === Number(row[col('node0_bytes')]) && sha(ours[0]) === row[col('node0_sha256')] && ours[1].length === Number(row[col('node1_bytes')]) && sha(ours[1]) === row[col('node1_sha256')];
          if (DIFFERENCES[key]) {
            if (equal) mismatches.push(`${key}: listed in DIFFERENCES but now equal to tshark`);
          } else if (!equal) {
            mismatches.push(`${key}: ${flows.rows.length} flows; bytes ours ${ours[0].length}/${ours[1].length}, tshark ${row[col('node0_bytes')]}/${row[col('node1_bytes')]}`);
          }
        }
      } finally {
        await store.close();
      }
      expect(mismatches).toEqual([]);
    });
  }
});
