/**
 * The case store's column writer: strings of up to 12 UTF-8 bytes are written straight into
 * DuckDB's inline string slots, longer ones into one buffer per column that DuckDB copies, their
 * slots pointing into the copy. Every kind must come back exactly as written, NULLs included,
 * across chunk boundaries.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaseStore } from '../../engine/store/case-store.js';
import { ColumnBatch } from '../../engine/store/batch.js';
import { IngestSink } from '../../engine/ingest/ingest-sink.js';
import { RecordOutput } from '../../engine/ingest/app-feed.js';
import { ANOMALIES, APP_TABLES, CREDENTIALS, DNS, type FieldDef } from '../../common/fields.js';

const EDGE = [
  null,
  '',
  'a',
  '12charsASCII',
  '13 chars ASCI',
  'ü',
  'ab\u00e9cd',
  '\u{1F600}',
  'x'.repeat(40),
  'tab\there',
  '\0nul',
  // 12 UTF-8 bytes (inline) and 14 (long) from 6 and 7 UTF-16 units
  '\u00e9'.repeat(6),
  '\u00e9'.repeat(7),
  // long, non-ASCII after an ASCII start; astral characters
  'x'.repeat(12) + '\u00e9',
  'prefix \u{1F600}\u{1F601} and more text',
  // a leading byte order mark is data too (node-api's own decoder dropped it when reading)
  '\uFEFFbom',
  '\uFEFF a longer value with a byte order mark first',
];

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

  it('long strings of a chunk that need more than the first buffer, and lone surrogates', async () => {
    // 2,000 rows of 100 bytes and one of 200,000: the column buffer grows (64 KiB at first)
    const names: (string | null)[] = Array.from({ length: 2000 }, (_, i) => `${i}`.padStart(100, 'n'));
    names.splice(700, 0, 'z'.repeat(200_000), null, 'short');
    expect(await roundTrip(names)).toEqual(names);
    // a lone surrogate has no UTF-8: DuckDB gets U+FFFD for it, as from the C API's own conversion
    expect(await roundTrip(['a\uD800b', 'long enough \uDC00 to be long'])).toEqual(['a\uFFFDb', 'long enough \uFFFD to be long']);
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

describe('case store NULL-able columns of every narrow kind', () => {
  it('NULL stays NULL and values stay values: bool, u8, u16, u32, f64 (pushRow and pushRecord)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-store-'));
    const s = await CaseStore.openForWrite(dir);
    try {
      await s.prepareAppenders();
      // credentials.success: a NULL-able bool ("NULL when not visible"), pushed as a record
      const conn = { flowId: 1, evidenceId: 1, origH: '10.0.0.1', origP: 40000, respH: '10.0.0.2', respP: 21, tsSec: 1, tsNs: 0, transport: 'tcp' as const };
      const c = new ColumnBatch(CREDENTIALS, 4);
      for (const [i, success] of [true, false, null, undefined].entries()) c.pushRecord({ uid: 'CtestUid', service: 'ftp', username: `u${i}`, password: null, success, packet_no: i + 1 }, conn);
      // dns: NULL-able u16 (rcode, qclass), u32 (query_packet), f64 (rtt), and a non-NULL u8 (Z)
      const d = new ColumnBatch(DNS, 2);
      const dnsRow = (rcode: number | null, rtt: number | null, qp: number | null) => ({
        uid: 'CtestUid', proto: 'udp', trans_id: 7, rtt, query: 'a.example', qclass: rcode, qclass_name: null, qtype: 1, qtype_name: 'A', rcode, rcode_name: null,
        AA: false, TC: false, RD: true, RA: false, Z: 3, answers: null, TTLs: null, rejected: false, qdcount: 1, ancount: null, edns_udp_size: null, query_packet: qp, response_packet: null,
      });
      d.pushRecord(dnsRow(3, 0.25, 9), conn);
      d.pushRecord(dnsRow(null, null, null), conn);
      s.appendNow(c);
      s.appendNow(d);
      await s.flush();
      const cr = await s.query('select username, success from credentials order by packet_no');
      expect(cr.rows).toEqual([
        { username: 'u0', success: true },
        { username: 'u1', success: false },
        { username: 'u2', success: null },
        { username: 'u3', success: null },
      ]);
      const dr = await s.query('select rcode::INT AS rcode, qclass::INT AS qclass, rtt, query_packet::INT AS qp, "Z"::INT AS z from dns order by rcode nulls last');
      expect(dr.rows).toEqual([
        { rcode: 3, qclass: 3, rtt: 0.25, qp: 9, z: 3 },
        { rcode: null, qclass: null, rtt: null, qp: null, z: 3 },
      ]);
    } finally {
      await s.close();
    }
  });
});

describe('column batches: a smaller first batch', () => {
  it('is full after its first rows; after the hand-over it takes the full number', () => {
    const conn = { flowId: 1, evidenceId: 1, origH: '10.0.0.1', origP: 1, respH: '10.0.0.2', respP: 21, tsSec: 1, tsNs: 0, transport: 'tcp' as const };
    const b = new ColumnBatch(CREDENTIALS, 100, 3);
    const push = () => b.pushRecord({ uid: null, service: 'ftp', username: 'u', password: null, success: null, packet_no: 1 }, conn);
    for (let i = 0; i < 3; i++) push();
    expect(b.full).toBe(true);
    const { msg } = b.detach();
    expect(msg.rows).toBe(3);
    for (let i = 0; i < 99; i++) push();
    expect(b.full).toBe(false);
    push();
    expect(b.full).toBe(true);
    expect(b.detach().msg.rows).toBe(100);
  });

  it('the record output sends the first batch of each table after 64 rows, then every 2,048', () => {
    const sent: number[] = [];
    const out = new RecordOutput((b) => sent.push(b.detach().msg.rows));
    const conn = { flowId: 1, evidenceId: 1, origH: '10.0.0.1', origP: 1, respH: '10.0.0.2', respP: 21, tsSec: 1, tsNs: 0, transport: 'tcp' as const };
    for (let i = 0; i < 64 + 2048 + 5; i++) out.row(CREDENTIALS, { uid: null, service: 'ftp', username: `u${i}`, password: null, success: null, packet_no: i }, conn);
    expect(sent).toEqual([64, 2048]);
    out.flushAll();
    expect(sent).toEqual([64, 2048, 5]);
  });
});

describe('column batches and V8', () => {
  it('string columns are packed arrays, fresh and after detach (postMessage copies holey ones slowly)', () => {
    const batch = fileURLToPath(new URL('../../dist/engine/store/batch.js', import.meta.url));
    const fields = fileURLToPath(new URL('../../dist/common/fields.js', import.meta.url));
    const script = `
      const { ColumnBatch } = await import(${JSON.stringify(pathToFileURL(batch).href)});
      const { DNS } = await import(${JSON.stringify(pathToFileURL(fields).href)});
      const b = new ColumnBatch(DNS, 64);
      const i = b.col('query');
      const fresh = %HasHoleyElements(b.cols[i]);
      b.cols[i][0] = 'a.example';
      b.rows = 1;
      const { msg } = b.detach();
      console.log(JSON.stringify({ fresh, sent: %HasHoleyElements(msg.cols[i]), next: %HasHoleyElements(b.cols[i]) }));`;
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ fresh: false, sent: false, next: false });
  });

  it('loading the batch module trips the ArrayBufferDetaching protector before any code is hot', () => {
    // the first detached buffer makes V8 throw away optimized code that reads typed arrays: the
    // module does it on load, so that the first batch sent to the store does not
    const batch = fileURLToPath(new URL('../../dist/engine/store/batch.js', import.meta.url));
    const out = execFileSync(
      process.execPath,
      ['--trace-protector-invalidation', '--input-type=module', '-e', `await import(${JSON.stringify(pathToFileURL(batch).href)}); console.log('loaded');`],
      { encoding: 'utf8' },
    );
    const lines = out.split('\n');
    const tripped = lines.findIndex((l) => l.includes('protector cell ArrayBufferDetaching'));
    expect(tripped).toBeGreaterThanOrEqual(0);
    expect(tripped).toBeLessThan(lines.indexOf('loaded'));
  });
});

describe('pushRecord', () => {
  const conn = { flowId: 7, evidenceId: 2, origH: '10.0.0.1', origP: 40000, respH: 'fe80::1', respP: 443, tsSec: 100, tsNs: 5, transport: 'udp' as const };
  const value = (f: FieldDef) => {
    const nul = fc.constantFrom(null, undefined);
    switch (f.kind) {
      case 'str': return fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), nul);
      case 'ts': return fc.oneof(fc.record({ sec: fc.integer({ min: 0, max: 2 ** 40 }), ns: fc.integer({ min: 0, max: 999_999_999 }) }), fc.constant(null));
      case 'bool': return fc.oneof(fc.boolean(), nul);
      case 'enum': return fc.oneof(fc.constantFrom(...f.values!), fc.integer({ min: 0, max: f.values!.length - 1 }));
      default: return fc.oneof(fc.integer({ min: 0, max: 65535 }), fc.double({ noNaN: true }), nul);
    }
  };

  it('writes what pushRow writes for the same row with the connection columns filled in, for every record table (property)', () => {
    for (const t of APP_TABLES) {
      const rowArb = fc.record(Object.fromEntries(t.fields.map((f) => [f.name, value(f)])), { requiredKeys: t.fields.filter((f) => f.kind === 'enum').map((f) => f.name) });
      fc.assert(
        fc.property(fc.array(rowArb, { minLength: 1, maxLength: 5 }), (rows) => {
          const a = new ColumnBatch(t, rows.length);
          const b = new ColumnBatch(t, rows.length);
          const hasConn = t.fields.some((f) => f.name === 'orig_h');
          for (const row of rows) {
            a.pushRecord(row, conn);
            const full: Record<string, unknown> = { ...row, flow_id: conn.flowId, evidence_id: conn.evidenceId };
            if (hasConn) Object.assign(full, { orig_h: conn.origH, orig_p: conn.origP, resp_h: conn.respH, resp_p: conn.respP });
            if (t.name === 'tls') full.transport = conn.transport;
            if (t.fields.some((f) => f.name === 'ts' && f.kind === 'ts') && row.ts === undefined) full.ts = { sec: conn.tsSec, ns: conn.tsNs };
            b.pushRow(full);
          }
          expect(a.rows).toBe(b.rows);
          expect(a.cols).toEqual(b.cols);
          expect(a.nanos).toEqual(b.nanos);
        }),
        { numRuns: 30 },
      );
    }
  });

  it('refuses a value that is not one of an enum column\'s values, naming the column', () => {
    const b = new ColumnBatch(DNS, 2);
    expect(() => b.pushRecord({ proto: 'sctp' }, conn)).toThrow("dns.proto: 'sctp' is not one of tcp, udp");
  });
});

describe('IngestSink and DuckDB threads', () => {
  it('runs DuckDB on one thread while it ingests (a statement from Node polls the worker threads)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-threads-'));
    const sink = await IngestSink.open(dir);
    try {
      const store = (sink as unknown as { store: CaseStore }).store;
      expect((await store.query("select current_setting('threads')::int AS t")).rows).toEqual([{ t: 1 }]);
    } finally {
      await sink.finish();
    }
  });
});
