/**
 * The application layer on its own thread (engine/ingest/app-feed.ts, app-worker.ts) must give
 * the case the in-thread layer gives: same records, services, anomalies and counts.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { analyze, type AnalyzeResult } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { IngestSink } from '../../engine/ingest/ingest-sink.js';
import { ColumnBatch } from '../../engine/store/batch.js';
import { FLOWS_WIRE, PACKET_FLOWS } from '../../engine/ingest/flow-rows.js';
import { PACKETS } from '../../common/fields.js';
import { FLOW_SERVICES } from '../../engine/ingest/app-feed.js';

const PCAPS = join(__dirname, '..', '..', '..', 'shared', 'pcaps');

beforeAll(() => {
  // the store and application threads run compiled code: make sure dist/ is current
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(__dirname, '..', '..', 'tsconfig.build.json')]);
});

/** Every row of the record tables (uid left out: each case has its own uid salt), sorted. */
async function snapshot(dir: string): Promise<Record<string, string[]>> {
  const s = await CaseStore.openReadOnly(dir);
  const out: Record<string, string[]> = {};
  try {
    const tables: Record<string, string> = {
      flows: 'select flow_id, service from flows',
      anomalies: 'select * from anomalies',
      hosts: 'select * from hosts',
    };
    for (const t of ['dns', 'dns_answers', 'http', 'tls', 'quic', 'ssh', 'credentials', 'dhcp']) tables[t] = `select * exclude (uid) from ${t}`;
    for (const [t, sql] of Object.entries(tables)) {
      const rows = (await s.query(sql)).rows;
      out[t] = rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).sort();
    }
  } finally {
    await s.close();
  }
  return out;
}

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(pcap|pcapng|cap)(\.gz)?$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe('application layer on its own thread', () => {
  it('gives the same case as on the ingest thread, for every protocol capture of the corpus', async () => {
    const inputs = files(join(PCAPS, 'protocols'));
    expect(inputs.length).toBeGreaterThan(50);
    const results: AnalyzeResult[] = [];
    const snaps: Record<string, string[]>[] = [];
    for (const appThread of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), `ic-appthread-${appThread}-`));
      results.push(await analyze({ files: inputs, caseDir: dir, appThread }));
      snaps.push(await snapshot(dir));
    }
    const [a, b] = snaps;
    // the comparison covers something: records of every table and services on flows
    for (const t of ['dns', 'dns_answers', 'http', 'tls', 'quic', 'ssh', 'credentials', 'dhcp']) expect(a[t].length, t).toBeGreaterThan(0);
    expect(a.flows.filter((r) => !r.endsWith('null]')).length).toBeGreaterThan(100);
    expect(a.anomalies.some((r) => r.includes('"app"'))).toBe(true);
    for (const t of Object.keys(a)) expect(b[t], t).toEqual(a[t]);
    expect(results[1].totals).toEqual(results[0].totals);
    expect(results[1].evidence.map((e) => e.anomalies)).toEqual(results[0].evidence.map((e) => e.anomalies));
  }, 120_000);

  it('names the latest packet of a connection in what its end reports, as the ingest thread does', async () => {
    // reassembly gaps are reported when the connection closes: the frame is its last packet (a FIN
    // or ACK without payload, which the feed does not send but remembers)
    const gaps: Record<string, unknown>[][] = [];
    for (const appThread of [false, true]) {
      const dir = mkdtempSync(join(tmpdir(), 'ic-appthread-gap-'));
      await analyze({ files: files(join(PCAPS, 'protocols', 'tcp')), caseDir: dir, appThread });
      const s = await CaseStore.openReadOnly(dir);
      try {
        gaps.push((await s.query(`select evidence_id, packet_no, file_offset, name from anomalies where name = 'tcp_content_gap' order by all`)).rows);
      } finally {
        await s.close();
      }
    }
    expect(gaps[0].length).toBeGreaterThan(0);
    expect(gaps[1]).toEqual(gaps[0]);
  }, 60_000);
});

describe('flows.service from another thread (IngestSink)', () => {
  /** A flows batch with the given ids (other columns: any valid value). */
  function flows(ids: number[]): ColumnBatch {
    const b = new ColumnBatch(FLOWS_WIRE);
    for (const id of ids) {
      const row: Record<string, unknown> = {};
      for (const f of FLOWS_WIRE.fields) {
        if (f.kind === 'str') row[f.name] = f.nullable ? null : '';
        else if (f.kind === 'ts') row[f.name] = { sec: 1_700_000_000, ns: 0 };
        else if (f.kind === 'enum') row[f.name] = f.values![0];
        else row[f.name] = f.nullable ? NaN : 0;
      }
      row.flow_id = id;
      row._oa0 = 0x0a000001;
      row._ra0 = 0x0a000002;
      b.pushRow(row);
    }
    return b;
  }
  function services(pairs: [number, string][]): ColumnBatch {
    const b = new ColumnBatch(FLOW_SERVICES);
    for (const [flow_id, service] of pairs) b.pushRow({ flow_id, service });
    return b;
  }

  it('fills rows that arrive after their service and updates rows written before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-svc-'));
    const sink = await IngestSink.open(dir);
    await sink.write(flows([1, 2]));
    await sink.write(services([[2, 'smtp'], [3, 'http']]));
    await sink.write(services([[2, 'smtp,ssl']]));
    await sink.write(flows([3, 4]));
    await sink.finish();
    const s = await CaseStore.openReadOnly(dir);
    try {
      expect((await s.query('select flow_id::int id, service from flows order by 1')).rows).toEqual([
        { id: 1, service: null },
        { id: 2, service: 'smtp,ssl' },
        { id: 3, service: 'http' },
        { id: 4, service: null },
      ]);
    } finally {
      await s.close();
    }
  });

  it('past the in-memory bound services wait in a temporary table and are applied at the end, the latest per flow winning', async () => {
    const saved = IngestSink.servicesInMemory;
    IngestSink.servicesInMemory = 2;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'ic-svc-spill-'));
      const sink = await IngestSink.open(dir);
      await sink.write(flows([1, 2]));
      await sink.write(services([[1, 'smtp'], [3, 'dns']])); // spilled (2 held)
      await sink.write(services([[1, 'smtp,ssl']])); // newer, still in memory
      await sink.write(flows([3, 4])); // after a spill nothing is filled early
      await sink.write(services([[4, 'http'], [2, 'ssh']])); // spilled
      await sink.finish();
      const s = await CaseStore.openReadOnly(dir);
      try {
        expect((await s.query('select flow_id::int id, service from flows order by 1')).rows).toEqual([
          { id: 1, service: 'smtp,ssl' },
          { id: 2, service: 'ssh' },
          { id: 3, service: 'dns' },
          { id: 4, service: 'http' },
        ]);
      } finally {
        await s.close();
      }
    } finally {
      IngestSink.servicesInMemory = saved;
    }
  });
});

describe('fragment packets linked to their flow (IngestSink)', () => {
  it('sets flow_id of the linked packets at the end, also past the in-memory bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-fraglinks-'));
    const sink = await IngestSink.open(dir);
    const N = 70_000; // more than the 65,536 links held in memory
    const packets = new ColumnBatch(PACKETS, N);
    for (let i = 1; i <= N; i++) {
      packets.pushRow({ evidence_id: 1, packet_no: i, file_offset: i * 100, ts: { sec: 1, ns: 0 }, caplen: 60, origlen: 60, flow_id: i === N ? 7 : 0 });
    }
    await sink.write(packets);
    for (let start = 1; start < N; start += 2048) {
      const links = new ColumnBatch(PACKET_FLOWS);
      for (let i = start; i < Math.min(start + 2048, N); i++) links.pushRow({ evidence_id: 1, packet_no: i, flow_id: 7 });
      await sink.write(links);
    }
    await sink.finish();
    const s = await CaseStore.openReadOnly(dir);
    try {
      expect((await s.query('select flow_id::int f, count(*)::int n from packets group by 1')).rows).toEqual([{ f: 7, n: N }]);
    } finally {
      await s.close();
    }
  });
});
