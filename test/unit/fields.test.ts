import { describe, expect, it } from 'vitest';
import { TABLES, createTableSql, FLOWS } from '../../common/fields.js';

describe('field registry', () => {
  it('declares every field once per table with a description', () => {
    for (const t of TABLES) {
      const names = t.fields.map((f) => f.name);
      expect(new Set(names).size).toBe(names.length);
      for (const f of t.fields) expect(f.description.length).toBeGreaterThan(10);
    }
  });
  it('uses Zeek conn.log names for flows', () => {
    const names = FLOWS.fields.map((f) => f.name);
    for (const z of ['ts', 'uid', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'proto', 'service', 'duration', 'orig_bytes', 'resp_bytes', 'orig_pkts', 'resp_pkts', 'conn_state', 'history']) {
      expect(names).toContain(z);
    }
  });
  it('generates DDL with NOT NULL for required columns', () => {
    const sql = createTableSql(FLOWS);
    expect(sql).toContain('"uid" VARCHAR NOT NULL');
    expect(sql).toContain('"service" VARCHAR,');
    expect(sql).toContain('"ts" TIMESTAMP_NS NOT NULL');
  });
});
