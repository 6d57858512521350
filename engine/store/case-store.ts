/**
 * The case store: one DuckDB database file per case (`<case dir>/case.duckdb`), schema generated
 * from the field registry, bulk ingest through columnar DuckDB data chunks (Appender +
 * appendDataChunk, typed arrays written straight into the chunk vectors).
 */
import { mkdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  DuckDBInstance,
  DuckDBDataChunk,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
  UTINYINT,
  USMALLINT,
  UINTEGER,
  UBIGINT,
  BIGINT,
  DOUBLE,
  TIMESTAMP_NS,
  BOOLEAN,
  VARCHAR,
} from '@duckdb/node-api';
import { TABLES, createTableSql, commentSql, type FieldKind, type TableDef } from '../../common/fields.js';
import type { ColumnBatch } from './batch.js';

export const CASE_DB = 'case.duckdb';
export const SCHEMA_VERSION = 1;

const TYPE_OF: Record<FieldKind, DuckDBType> = {
  u8: UTINYINT,
  u16: USMALLINT,
  u32: UINTEGER,
  u64: UBIGINT,
  i64: BIGINT,
  f64: DOUBLE,
  ts: TIMESTAMP_NS,
  bool: BOOLEAN,
  str: VARCHAR,
};

interface RawVector {
  items: ArrayLike<unknown> & { buffer: ArrayBufferLike; byteOffset: number; length: number };
  setItem(i: number, v: unknown): void;
  flush(): void;
}

/** Writes a non-negative integer below 2^53 as a 64-bit little-endian value into two 32-bit slots. */
function put64(w: Uint32Array, i: number, x: number): void {
  const hi = Math.floor(x / 4294967296);
  w[2 * i] = x - hi * 4294967296;
  w[2 * i + 1] = hi;
}

/** Writes sec * 1e9 + ns exactly as a signed 64-bit integer (two's complement halves). */
export function putTsNs(w: Uint32Array, i: number, sec: number, ns: number): void {
  // sec * 1e9 = (sec * 1953125) * 512; the first product is exact below 2^53, the second only shifts
  const base = sec * 1953125 * 512;
  let hi = Math.floor(base / 4294967296);
  let lo = base - hi * 4294967296 + ns;
  if (lo >= 4294967296) {
    lo -= 4294967296;
    hi += 1;
  }
  w[2 * i] = lo;
  w[2 * i + 1] = hi >>> 0;
}

export class CaseStore {
  private readonly appenders = new Map<string, DuckDBAppender>();
  private readonly types = new Map<string, DuckDBType[]>();
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly instance: DuckDBInstance,
    readonly con: DuckDBConnection,
    readonly readOnly: boolean,
  ) {}

  static dbPath(dir: string): string {
    return join(resolve(dir), CASE_DB);
  }

  static exists(dir: string): boolean {
    return existsSync(CaseStore.dbPath(dir));
  }

  /** Opens (creating if needed) a case for writing. */
  static async openForWrite(dir: string): Promise<CaseStore> {
    mkdirSync(resolve(dir), { recursive: true });
    const inst = await DuckDBInstance.create(CaseStore.dbPath(dir));
    const con = await inst.connect();
    const s = new CaseStore(resolve(dir), inst, con, false);
    await s.initSchema();
    return s;
  }

  /** Opens an existing case read-only (queries cannot change it). */
  static async openReadOnly(dir: string): Promise<CaseStore> {
    if (!CaseStore.exists(dir)) throw new Error(`no case at ${resolve(dir)} (expected ${CaseStore.dbPath(dir)})`);
    const inst = await DuckDBInstance.create(CaseStore.dbPath(dir), { access_mode: 'READ_ONLY' });
    const con = await inst.connect();
    return new CaseStore(resolve(dir), inst, con, true);
  }

  private async initSchema(): Promise<void> {
    await this.con.run(`CREATE TABLE IF NOT EXISTS case_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)`);
    const v = await this.meta('schema_version');
    if (v !== null && Number(v) !== SCHEMA_VERSION) {
      throw new Error(`case schema version ${v} is not supported by this Instacap (expects ${SCHEMA_VERSION})`);
    }
    for (const t of TABLES) {
      await this.con.run(createTableSql(t));
      if (v === null) for (const c of commentSql(t)) await this.con.run(c);
    }
    if (v === null) {
      await this.setMeta('schema_version', String(SCHEMA_VERSION));
      await this.setMeta('uid_salt', String((Math.random() * 4294967296) >>> 0));
      await this.setMeta('created_at', new Date().toISOString());
    }
    // convenience view: the packet index with the flow uid (packets stores the narrow flow_id)
    await this.con.run(
      `CREATE OR REPLACE VIEW packet_index AS SELECT p.*, f.uid FROM packets p LEFT JOIN flows f ON f.flow_id = p.flow_id`,
    );
  }

  async meta(key: string): Promise<string | null> {
    const r = await this.con.runAndReadAll(`SELECT value FROM case_meta WHERE key = $1`, [key]);
    const rows = r.getRows();
    return rows.length ? String(rows[0][0]) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.con.run(`INSERT OR REPLACE INTO case_meta VALUES ($1, $2)`, [key, value]);
  }

  /** Largest value of an integer column, or 0. */
  async maxOf(table: string, column: string): Promise<number> {
    const r = await this.con.runAndReadAll(`SELECT coalesce(max("${column}"), 0)::DOUBLE FROM "${table}"`);
    return Number(r.getRows()[0][0]);
  }

  private async appender(t: TableDef): Promise<DuckDBAppender> {
    let a = this.appenders.get(t.name);
    if (!a) {
      a = await this.con.createAppender(t.name);
      this.appenders.set(t.name, a);
      this.types.set(
        t.name,
        t.fields.map((f) => TYPE_OF[f.kind]),
      );
    }
    return a;
  }

  /** Appends a full or partial batch as one data chunk, then clears the batch. */
  async append(b: ColumnBatch): Promise<void> {
    if (b.rows === 0) return;
    const ap = await this.appender(b.table);
    this.appendSync(ap, b);
  }

  /** Creates the appenders of every table up front, so that `appendNow` is synchronous. */
  async prepareAppenders(): Promise<void> {
    for (const t of TABLES) await this.appender(t);
  }

  /** Synchronous append (after `prepareAppenders`): the batch is written and cleared before returning. */
  appendNow(b: ColumnBatch): void {
    if (b.rows === 0) return;
    const ap = this.appenders.get(b.table.name);
    if (!ap) throw new Error(`appender for ${b.table.name} not prepared`);
    this.appendSync(ap, b);
  }

  private appendSync(ap: DuckDBAppender, b: ColumnBatch): void {
    const n = b.rows;
    const chunk = DuckDBDataChunk.create(this.types.get(b.table.name)!, n);
    const fields = b.table.fields;
    for (let c = 0; c < fields.length; c++) {
      const f = fields[c];
      const vec = chunk.getColumnVector(c) as unknown as RawVector;
      const src = b.cols[c];
      if (f.kind === 'str') {
        const s = src as (string | null)[];
        for (let i = 0; i < n; i++) vec.setItem(i, s[i]);
        vec.flush();
        continue;
      }
      const items = vec.items;
      const nullable = f.nullable === true;
      if (f.kind === 'u64' || f.kind === 'i64' || f.kind === 'ts') {
        const w = new Uint32Array(items.buffer, items.byteOffset, n * 2);
        const x = src as Float64Array;
        const ns = b.nanos[c];
        for (let i = 0; i < n; i++) {
          const v = x[i];
          if (v !== v) {
            w[2 * i] = 0;
            w[2 * i + 1] = 0;
          } else if (ns) putTsNs(w, i, v, ns[i]);
          else if (v < 0) {
            // i64 negatives (rare): two's complement via BigInt
            const big = BigInt.asUintN(64, BigInt(Math.trunc(v)));
            w[2 * i] = Number(big & 0xffffffffn);
            w[2 * i + 1] = Number(big >> 32n);
          } else put64(w, i, v);
        }
      } else {
        const t = items as unknown as { [i: number]: number };
        const x = src as ArrayLike<number>;
        for (let i = 0; i < n; i++) t[i] = x[i];
      }
      if (nullable) {
        const x = src as Float64Array;
        for (let i = 0; i < n; i++) if (x[i] !== x[i]) vec.setItem(i, null);
      }
      vec.flush();
    }
    ap.appendDataChunk(chunk);
    b.clear();
  }

  /** Flushes appenders so that everything appended is visible to queries. */
  async flush(): Promise<void> {
    for (const a of this.appenders.values()) a.flushSync();
  }

  async checkpoint(): Promise<void> {
    await this.flush();
    await this.con.run('CHECKPOINT');
  }

  /** Runs SQL and returns rows as JSON-friendly objects. */
  async query(sql: string): Promise<{ columns: string[]; rows: Record<string, unknown>[] }> {
    const r = await this.con.runAndReadAll(sql);
    const columns = r.columnNames();
    const rows = r.getRowObjectsJson() as Record<string, unknown>[];
    return { columns, rows };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const a of this.appenders.values()) a.closeSync();
    this.appenders.clear();
    this.con.closeSync();
    this.instance.closeSync();
  }
}
