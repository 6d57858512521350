/**
 * The case store's column writer: strings of up to 12 ASCII bytes are written straight into
 * DuckDB's inline string slots, longer or non-ASCII ones through the C API. Every kind must come
 * back exactly as written, NULLs included, across chunk boundaries.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaseStore } from '../../engine/store/case-store.js';
import { ColumnBatch } from '../../engine/store/batch.js';
import { ANOMALIES } from '../../common/fields.js';

const EDGE = [null, '', 'a', '12charsASCII', '13 chars ASCI', 'ü', 'ab\u00e9cd', '\u{1F600}', 'x'.repeat(40), 'tab\there', '\0nul'];

async function roundTrip(names: (string | null)[]): Promise<(string | null)[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ic-store-'));
  const s = await CaseStore.openForWrite(dir);
  try {
    await s.prepareAppenders();
    // anomalies.detail is a nullable string column
    const b = new ColumnBatch(ANOMALIES, names.length);
    names.forEach((n, i) => b.pushRow({ evidence_id: 1, packet_no: i, file_offset: 0, ts: null, name: 'link_truncated', layer: 'link', detail: n, flow_id: 0 }));
    s.appendNow(b);
    await s.flush();
    const r = await s.query('select detail from anomalies order by packet_no');
    return r.rows.map((x) => x.detail as string | null);
  } finally {
    await s.close();
  }
}

describe('case store strings', () => {
  it('edge cases round-trip, inline and long', async () => {
    expect(await roundTrip(EDGE)).toEqual(EDGE);
  });

  it('random strings round-trip across several chunks', async () => {
    const arb = fc.array(fc.oneof(fc.string({ maxLength: 14 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom(...EDGE), fc.constant(null)), {
      minLength: 2100,
      maxLength: 4500,
    });
    const [names] = fc.sample(arb, { seed: 7, numRuns: 1 });
    expect(await roundTrip(names)).toEqual(names);
  });
});
