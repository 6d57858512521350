/**
 * `npm run golden:update` (node test/golden/update-baselines.mjs, needs tshark and capinfos)
 * regenerates the golden baselines; tests never rewrite them. Review the baseline diff before
 * committing it.
 */
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BASELINES, baselineFiles } from './helpers.js';

describe('golden baselines', () => {
  it('are present (generate them with `npm run golden:update`)', () => {
    expect(existsSync(join(BASELINES, 'packet-counts.tsv'))).toBe(true);
    expect(baselineFiles('fields').length).toBeGreaterThan(0);
    expect(baselineFiles('conv').length).toBeGreaterThan(0);
  });
});
