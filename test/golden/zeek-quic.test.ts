/**
 * Golden test: the quic table against Zeek's own quic.log, for every quic.log shipped in the
 * corpus (protocols/quic/*.quic.log, from Zeek's btests; `.cut` files hold only some columns and
 * are compared on those). Compared per capture as multisets of rows: the 5-tuple, version,
 * client_initial_dcid, client_scid, server_scid, server_name, client_protocol and history (ts and
 * uid excluded: Zeek's are its own). Zeek writes '(empty)' for an empty string and '-' for an
 * unset field; ours are '' and NULL.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { corpusPath, removeCase, tempCaseDir } from './helpers.js';

const QUIC_DIR = 'protocols/quic';
const COLUMNS = ['id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'version', 'client_initial_dcid', 'client_scid', 'server_scid', 'server_name', 'client_protocol', 'history'];
const OURS: Record<string, string> = {
  'id.orig_h': 'orig_h',
  'id.orig_p': 'orig_p',
  'id.resp_h': 'resp_h',
  'id.resp_p': 'resp_p',
};

const logs = readdirSync(corpusPath(QUIC_DIR))
  .filter((f) => /\.quic\.log(\.cut)?$/.test(f))
  .sort();

const cases: string[] = [];
afterAll(() => cases.forEach(removeCase));

/** The log's rows over the columns of COLUMNS that it has, and those columns. */
function zeekRows(path: string): { columns: string[]; rows: string[] } {
  const lines = readFileSync(path, 'utf8').split('\n');
  const header = lines.find((l) => l.startsWith('#fields\t')) ?? lines.find((l) => /^ts\tuid\t/.test(l));
  if (!header) throw new Error(`${path}: no header`);
  const fields = header.replace(/^#fields\t/, '').split('\t');
  const columns = COLUMNS.filter((c) => fields.includes(c));
  const rows = lines
    .filter((l) => l !== '' && !l.startsWith('#') && l !== header)
    .map((l) => {
      const cells = l.split('\t');
      return columns.map((c) => cells[fields.indexOf(c)]).join('\t');
    })
    .sort();
  return { columns, rows };
}

async function ourRows(capture: string, columns: string[]): Promise<string[]> {
  const dir = tempCaseDir('quic');
  cases.push(dir);
  await analyze({ files: [corpusPath(`${QUIC_DIR}/${capture}`)], caseDir: dir });
  const store = await CaseStore.openReadOnly(dir);
  try {
    const q = await store.query(`SELECT ${columns.map((c) => OURS[c] ?? c).join(', ')} FROM quic`);
    return q.rows
      .map((r) =>
        columns
          .map((c) => {
            const v = r[OURS[c] ?? c];
            return v === null ? '-' : v === '' ? '(empty)' : String(v);
          })
          .join('\t'),
      )
      .sort();
  } finally {
    await store.close();
  }
}

describe('golden: quic table vs Zeek quic.log', () => {
  it('the corpus has Zeek quic.logs to compare with', () => {
    expect(logs.length).toBeGreaterThanOrEqual(5);
  });

  for (const log of logs) {
    const capture = log.slice(0, log.indexOf('.zeek.'));
    it(`${capture} (${log.slice(capture.length + 1)})`, async () => {
      const z = zeekRows(corpusPath(`${QUIC_DIR}/${log}`));
      expect(z.rows.length).toBeGreaterThan(0);
      expect(z.columns).toContain('history');
      expect(await ourRows(capture, z.columns)).toEqual(z.rows);
    });
  }
});
