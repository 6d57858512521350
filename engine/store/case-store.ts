/**
 * The case store: two DuckDB database files per case, schema generated from the field registry,
 * bulk ingest through columnar DuckDB data chunks (Appender + appendDataChunk, typed arrays
 * written straight into the chunk vectors).
 *
 * `<case dir>/case.duckdb` holds evidence, packets, flows, hosts and the rest; the application
 * records (dns, http, tls, ...) are in `<case dir>/records.duckdb`, attached as the catalog
 * `records`, and case.duckdb has a view of each under the table's own name, so queries see one
 * database. Why two files: an ingest writes each file in its own transaction, and DuckDB commits
 * two databases at once (one commit at a time per database). The final commit compresses and writes
 * every table that did not fill a row group during the ingest, on one thread: the records' share
 * now runs beside the flows' on the second core (1 GB workload: the ingest with protocols 3-4 %
 * shorter; CODE.md, "Two database files per case").
 */
import { mkdirSync, existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type * as DuckDBApi from '@duckdb/node-api';
import type { DuckDBAppender, DuckDBConnection, DuckDBType } from '@duckdb/node-api';
import type * as Bindings from '@duckdb/node-bindings';
import { RECORD_TABLES, TABLES, createTableSql, commentSql, duckType, qualifiedName, sqlString, type FieldDef, type FieldKind, type TableDef } from '../../common/fields.js';
import type { ColumnBatch } from './batch.js';

// DuckDB's packages are CommonJS. Imported as ES modules, Node lexes every file they re-export to
// find the export names (about 80 ms of CPU on each thread that opens a case); require() does not.
const requireCjs = createRequire(import.meta.url);
const { DuckDBInstance, DuckDBDataChunk, UTINYINT, USMALLINT, UINTEGER, UBIGINT, BIGINT, DOUBLE, TIMESTAMP_NS, BOOLEAN, VARCHAR, ENUM8 } =
  requireCjs('@duckdb/node-api') as typeof DuckDBApi;
type DuckDBInstance = DuckDBApi.DuckDBInstance;
const bindings = requireCjs('@duckdb/node-bindings') as typeof Bindings;

/**
 * DuckDB's node-api decodes every VARCHAR value with `new TextDecoder()`, which drops a leading
 * U+FEFF (byte order mark): a URI, TXT record or certificate field that starts with one read back
 * a character short, although its bytes are stored right. The shared decoder is replaced by one
 * that keeps the mark (@duckdb/node-api 1.5.5-r.5 reads it from this module's export on every
 * call). If a later version moves it, nothing is replaced and a store test fails.
 */
function keepByteOrderMarks(): void {
  try {
    const accessors = requireCjs('@duckdb/node-api/lib/vectors/dataAccessors.js') as { textDecoder?: unknown };
    if (accessors.textDecoder instanceof TextDecoder) accessors.textDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
  } catch {
    // laid out otherwise: the test of the mark names the problem
  }
}
keepByteOrderMarks();

export const CASE_DB = 'case.duckdb';
/** The application records' database file, and the catalog name it is attached as. */
export const RECORDS_DB = 'records.duckdb';
export const RECORDS = 'records';
const RECORD_NAMES: ReadonlySet<string> = new Set(RECORD_TABLES.map((t) => t.name));
/** Version 2: the records moved into records.duckdb. */
export const SCHEMA_VERSION = 2;

/** The records file's own meta table (the case id that pairs it with case.duckdb). */
const RECORDS_META = qualifiedName('records_meta', RECORDS);
/** Rows per DuckDB data chunk (DuckDB's standard vector size). */
const CHUNK_ROWS = 2048;

const WIDTH: Record<FieldKind, 1 | 2 | 4 | 8> = { u8: 1, bool: 1, enum: 1, u16: 2, u32: 4, u64: 8, i64: 8, f64: 8, ts: 8, str: 8 };

function typeOf(f: FieldDef): DuckDBType {
  return f.kind === 'enum' ? ENUM8(f.values!) : TYPE_OF[f.kind];
}

const TYPE_OF: Record<Exclude<FieldKind, 'enum'>, DuckDBType> = {
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

/** Writes a non-negative integer below 2^53 as a 64-bit little-endian value into two 32-bit slots. */
function put64(w: Uint32Array, i: number, x: number): void {
  const hi = Math.floor(x / 4294967296);
  w[2 * i] = x - hi * 4294967296;
  w[2 * i + 1] = hi;
}

/** Writes sec * 1e9 + ns exactly as a signed 64-bit integer (two's complement halves). */
export function putTsNs(w: Uint32Array, i: number, sec: number, ns: number): void {
  if (sec < 0 || sec >= 4294967296) {
    // outside 1970..2106: exact through BigInt (rare)
    const t = BigInt.asUintN(64, BigInt(Math.trunc(sec)) * 1000000000n + BigInt(ns));
    w[2 * i] = Number(t & 0xffffffffn);
    w[2 * i + 1] = Number(t >> 32n);
    return;
  }
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

/** Marks row i of a chunk NULL in the validity bitmap (all valid until the first NULL). */
function setNull(valid: Uint8Array, nulls: number, i: number): void {
  if (nulls === 0) valid.fill(0xff);
  valid[i >> 3] &= ~(1 << (i & 7));
}

/**
 * A 64-bit column (u64, i64, ts with its nanoseconds) into `scratch` and the vector. Values are
 * doubles in the batch (NaN = NULL). Returns the number of NULLs.
 */
function wide(vec: Bindings.Vector, x: Float64Array, ns: Uint32Array | null, start: number, n: number, scratch: ArrayBuffer, w32: Uint32Array, valid: Uint8Array): number {
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = x[start + i];
    if (v !== v) {
      w32[2 * i] = 0;
      w32[2 * i + 1] = 0;
      setNull(valid, nulls++, i);
    } else if (ns) putTsNs(w32, i, v, ns[start + i]);
    else if (v < 0) {
      const big = BigInt.asUintN(64, BigInt(Math.trunc(v)));
      w32[2 * i] = Number(big & 0xffffffffn);
      w32[2 * i + 1] = Number(big >> 32n);
    } else put64(w32, i, v);
  }
  bindings.copy_data_to_vector(vec, 0, scratch, 0, n * 8);
  return nulls;
}

// NULL-able narrow columns (doubles, NaN = NULL) into the scratch view of their width; one
// function per width so that each sees one array type. Each returns the number of NULLs.
function narrow8(x: Float64Array, start: number, n: number, view: Uint8Array, valid: Uint8Array): number {
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = x[start + i];
    if (v !== v) {
      view[i] = 0;
      setNull(valid, nulls++, i);
    } else view[i] = v;
  }
  return nulls;
}
function narrow16(x: Float64Array, start: number, n: number, view: Uint16Array, valid: Uint8Array): number {
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = x[start + i];
    if (v !== v) {
      view[i] = 0;
      setNull(valid, nulls++, i);
    } else view[i] = v;
  }
  return nulls;
}
function narrow32(x: Float64Array, start: number, n: number, view: Uint32Array, valid: Uint8Array): number {
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = x[start + i];
    if (v !== v) {
      view[i] = 0;
      setNull(valid, nulls++, i);
    } else view[i] = v;
  }
  return nulls;
}
function narrow64(x: Float64Array, start: number, n: number, view: Float64Array, valid: Uint8Array): number {
  let nulls = 0;
  for (let i = 0; i < n; i++) {
    const v = x[start + i];
    if (v !== v) {
      view[i] = 0;
      setNull(valid, nulls++, i);
    } else view[i] = v;
  }
  return nulls;
}

export class CaseStore {
  private readonly appenders = new Map<string, DuckDBAppender>();
  private readonly types = new Map<string, DuckDBType[]>();
  private readonly chunks = new Map<string, Bindings.DataChunk>();
  /** Scratch buffer for one column of one chunk (2048 x 8 bytes) and its views by value width. */
  private readonly scratch = new ArrayBuffer(CHUNK_ROWS * 8);
  private readonly scratch32 = new Uint32Array(this.scratch);
  /** String slots of one chunk column (16 bytes each, as DuckDB lays them out), and rows too long to inline. */
  private readonly strSlots = new Uint8Array(CHUNK_ROWS * 16);
  private readonly strLens = new Uint32Array(this.strSlots.buffer);
  private readonly longRows = new Uint32Array(CHUNK_ROWS);
  /** Where each long string of the column starts in `blob`, the UTF-8 of a column's long strings. */
  private readonly longOffsets = new Float64Array(CHUNK_ROWS);
  private blob: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private readonly views = {
    u8: new Uint8Array(this.scratch),
    u16: new Uint16Array(this.scratch),
    u32: new Uint32Array(this.scratch),
    f64: new Float64Array(this.scratch),
  };
  private readonly validity = new Uint8Array(CHUNK_ROWS / 8);
  private closed = false;

  private constructor(
    readonly dir: string,
    readonly instance: DuckDBInstance,
    readonly con: DuckDBConnection,
    readonly readOnly: boolean,
    /** The connection that writes the records (its own transactions; null when read-only). */
    private readonly recCon: DuckDBConnection | null = null,
  ) {}

  static dbPath(dir: string): string {
    return join(resolve(dir), CASE_DB);
  }

  static recordsPath(dir: string): string {
    return join(resolve(dir), RECORDS_DB);
  }

  static exists(dir: string): boolean {
    return existsSync(CaseStore.dbPath(dir));
  }

  /** Opens (creating if needed) a case for writing. */
  static async openForWrite(dir: string): Promise<CaseStore> {
    mkdirSync(resolve(dir), { recursive: true });
    const hadRecords = existsSync(CaseStore.recordsPath(dir));
    const inst = await DuckDBInstance.create(CaseStore.dbPath(dir));
    let con: DuckDBConnection | null = null;
    let s: CaseStore | null = null;
    try {
      con = await inst.connect();
      // checked before ATTACH, which would make an empty records file
      const v = (await tableExists(con, null, 'case_meta')) ? await metaOf(con, 'schema_version') : null;
      if (v !== null && Number(v) !== SCHEMA_VERSION) throw new Error(unsupportedVersion(v));
      if (v !== null && !hadRecords) throw new Error(missingRecords(dir));
      // a new case next to a records file: left from a case whose case.duckdb was removed
      if (v === null && hadRecords) throw new Error(strayRecords(dir));
      await con.run(`ATTACH ${sqlString(CaseStore.recordsPath(dir))} AS ${RECORDS}`);
      s = new CaseStore(resolve(dir), inst, con, false, await inst.connect());
      await s.initSchema(v);
      return s;
    } catch (e) {
      if (s) await s.close();
      else {
        // the connection too: an open one keeps the file locked in this process
        con?.closeSync();
        inst.closeSync();
      }
      throw e;
    }
  }

  /** Opens an existing case read-only (queries cannot change it). */
  static async openReadOnly(dir: string): Promise<CaseStore> {
    if (!CaseStore.exists(dir)) throw new Error(`no case at ${resolve(dir)} (expected ${CaseStore.dbPath(dir)})`);
    const inst = await DuckDBInstance.create(CaseStore.dbPath(dir), { access_mode: 'READ_ONLY' });
    let con: DuckDBConnection | null = null;
    try {
      con = await inst.connect();
      if (!(await tableExists(con, null, 'case_meta'))) throw new Error(`${CaseStore.dbPath(dir)} is not an Instacap case (no case_meta table)`);
      const v = await metaOf(con, 'schema_version');
      if (v !== null && Number(v) !== SCHEMA_VERSION) throw new Error(unsupportedVersion(v));
      if (!existsSync(CaseStore.recordsPath(dir))) throw new Error(missingRecords(dir));
      await con.run(`ATTACH ${sqlString(CaseStore.recordsPath(dir))} AS ${RECORDS} (READ_ONLY)`);
      await checkPairing(con, dir);
      return new CaseStore(resolve(dir), inst, con, true);
    } catch (e) {
      con?.closeSync();
      inst.closeSync();
      throw e;
    }
  }

  /**
   * Creates what is missing (a new case: everything). `v`: the case's schema version (null for a
   * new case), read and checked by the caller.
   */
  private async initSchema(v: string | null): Promise<void> {
    await this.con.run(`CREATE TABLE IF NOT EXISTS case_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)`);
    // the two files name the case they belong to: a records file of another case is refused
    await this.con.run(`CREATE TABLE IF NOT EXISTS ${RECORDS_META} (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)`);
    if (v === null) {
      const id = randomUUID();
      await this.setMeta('case_id', id);
      await this.con.run(`INSERT OR REPLACE INTO ${RECORDS_META} VALUES ('case_id', $1)`, [id]);
    } else await checkPairing(this.con, this.dir);
    for (const t of TABLES) {
      const catalog = RECORD_NAMES.has(t.name) ? RECORDS : undefined;
      await this.con.run(createTableSql(t, catalog));
      let added = false;
      if (v === null) for (const c of commentSql(t, catalog)) await this.con.run(c);
      else added = await this.addMissingColumns(t, catalog);
      // the view under the table's name, documented like the table (made again when columns were added)
      if (catalog !== undefined && (v === null || added)) {
        await this.con.run(`CREATE OR REPLACE VIEW "${t.name}" AS SELECT * FROM ${qualifiedName(t.name, catalog)}`);
        for (const c of commentSql(t)) await this.con.run(c.replace(/^COMMENT ON TABLE /, 'COMMENT ON VIEW '));
      }
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

  /**
   * A case made by an earlier version lacks the columns added since (always NULL-able ones, at
   * the end of their table): they are added, so that appends and queries see the current layout.
   * A case whose table has columns this version does not know (made by a newer version) is
   * refused: appending rows of the wrong width would abort the process inside DuckDB.
   */
  private async addMissingColumns(t: TableDef, catalog?: string): Promise<boolean> {
    const r = await this.con.runAndReadAll(
      `SELECT column_name FROM duckdb_columns() WHERE database_name = coalesce($2, current_database()) AND schema_name = 'main' AND table_name = $1 ORDER BY column_index`,
      [t.name, catalog ?? null],
    );
    const names = r.getRows().map((x) => String(x[0]));
    const have = new Set(names);
    const known = new Set(t.fields.map((f) => f.name));
    const unknown = names.filter((n) => !known.has(n));
    const order = names.filter((n) => known.has(n));
    if (unknown.length > 0 || order.some((n, i) => n !== t.fields[i].name)) {
      throw new Error(
        `case table ${t.name} has ${unknown.length > 0 ? `columns this Instacap does not know (${unknown.join(', ')})` : 'its columns in another order'}: ` +
          'the case was made by another version of Instacap; add evidence to it with that version, or analyze into a new case',
      );
    }
    let added = false;
    for (const f of t.fields) {
      if (have.has(f.name)) continue;
      added = true;
      if (!f.nullable) throw new Error(`case table ${t.name} lacks column ${f.name}, which cannot be added to existing rows`);
      const table = qualifiedName(t.name, catalog);
      await this.con.run(`ALTER TABLE ${table} ADD COLUMN "${f.name}" ${duckType(f.kind, f.values)}`);
      await this.con.run(`COMMENT ON COLUMN ${table}."${f.name}" IS ${sqlString(f.description)}`);
    }
    return added;
  }

  async meta(key: string): Promise<string | null> {
    return metaOf(this.con, key);
  }

  /** Starts a transaction on both databases (each has its own: see the top of this file). */
  async begin(): Promise<void> {
    await this.con.run('BEGIN TRANSACTION');
    await this.recCon?.run('BEGIN TRANSACTION');
  }

  /**
   * Commits both transactions at once: DuckDB writes the two files on two threads. Both commits
   * are waited for before an error is thrown, which names the file that was committed, if one was.
   */
  async commit(): Promise<void> {
    const done = await Promise.allSettled([this.con.run('COMMIT'), this.recCon?.run('COMMIT')]);
    const failed = done.find((d) => d.status === 'rejected');
    if (failed === undefined) return;
    // both connections back inside a transaction that is never committed: rows still on their way
    // (appended or flushed when the appenders close) must not be auto-committed one by one
    await this.con.run('BEGIN TRANSACTION').catch(() => undefined);
    await this.recCon?.run('BEGIN TRANSACTION').catch(() => undefined);
    const e = (failed as PromiseRejectedResult).reason as Error;
    const caseOk = done[0].status === 'fulfilled';
    const recordsOk = done[1].status === 'fulfilled';
    throw new CommitError(e, caseOk ? CASE_DB : recordsOk ? RECORDS_DB : null);
  }

  /** Writes both databases' WAL into their files. */
  async checkpoint(): Promise<void> {
    await this.con.run('CHECKPOINT');
    await this.con.run(`CHECKPOINT ${RECORDS}`);
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.con.run(`INSERT OR REPLACE INTO case_meta VALUES ($1, $2)`, [key, value]);
  }

  /** Largest value of an integer column, or 0. */
  async maxOf(table: string, column: string): Promise<number> {
    const r = await this.con.runAndReadAll(`SELECT coalesce(max("${column}"), 0)::DOUBLE FROM "${table}"`);
    return Number(r.getRows()[0][0]);
  }

  /**
   * Largest value of `column` in every table that has it (record tables included), or 0: rows
   * left by an ingest whose evidence row was never written (a failed commit, a crash) still take
   * their ids, so a later ingest does not reuse them.
   */
  async maxOfAll(column: string): Promise<number> {
    const parts = TABLES.filter((t) => t.fields.some((f) => f.name === column)).map((t) => `coalesce((SELECT max("${column}") FROM "${t.name}"), 0)`);
    const r = await this.con.runAndReadAll(`SELECT greatest(${parts.join(', ')})::DOUBLE`);
    return Number(r.getRows()[0][0]);
  }

  private async appender(t: TableDef): Promise<DuckDBAppender> {
    let a = this.appenders.get(t.name);
    if (!a) {
      if (RECORD_NAMES.has(t.name)) {
        if (!this.recCon) throw new Error('case opened read-only');
        a = await this.recCon.createAppender(t.name, 'main', RECORDS);
      } else a = await this.con.createAppender(t.name);
      this.appenders.set(t.name, a);
      this.types.set(
        t.name,
        t.fields.map((f) => typeOf(f)),
      );
    }
    return a;
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
    for (let start = 0; start < b.rows; start += CHUNK_ROWS) this.appendWindow(ap, b, start, Math.min(CHUNK_ROWS, b.rows - start));
    b.clear();
  }

  /**
   * Appends rows [start, start + n) of a batch as one DuckDB data chunk. Values are copied from the
   * batch's typed arrays into the chunk's vectors with one native call per column (strings: one per
   * value); NULLs are written as a validity bitmap. The chunk is reused per table.
   */
  private appendWindow(ap: DuckDBAppender, b: ColumnBatch, start: number, n: number): void {
    const name = b.table.name;
    let raw = this.chunks.get(name);
    if (!raw) {
      raw = bindings.create_data_chunk(this.types.get(name)!.map((t) => t.toLogicalType().logical_type));
      this.chunks.set(name, raw);
    }
    bindings.data_chunk_reset(raw);
    bindings.data_chunk_set_size(raw, n);
    const fields = b.table.fields;
    const valid = this.validity;
    // one small function per kind of column, each seeing one array type: a single loop over every
    // kind would see every array type, and V8 would keep recompiling it as new ones appear
    for (let c = 0; c < fields.length; c++) {
      const f = fields[c];
      const vec = bindings.data_chunk_get_vector(raw, c);
      const src = b.cols[c];
      let nulls: number;
      if (f.kind === 'str') nulls = this.strings(vec, src as (string | null)[], start, n);
      else if (f.kind === 'u64' || f.kind === 'i64' || f.kind === 'ts') nulls = wide(vec, src as Float64Array, b.nanos[c], start, n, this.scratch, this.scratch32, valid);
      else {
        const width = WIDTH[f.kind];
        const x = src as Uint8Array | Uint16Array | Uint32Array | Float64Array;
        nulls = 0;
        if (x.BYTES_PER_ELEMENT === width && !f.nullable) {
          // the column already has DuckDB's layout: copied straight from the batch
          bindings.copy_data_to_vector(vec, 0, x.buffer as ArrayBuffer, x.byteOffset + start * width, n * width);
          continue;
        }
        const v = this.views;
        const y = x as Float64Array; // narrow columns of another layout hold doubles (NULL-able ones: NaN = NULL)
        if (!f.nullable) {
          // converted by the typed-array copy (as ToUint8/16/32)
          const part = y.subarray(start, start + n);
          if (width === 1) v.u8.set(part);
          else if (width === 2) v.u16.set(part);
          else if (width === 4) v.u32.set(part);
          else v.f64.set(part);
        } else if (width === 1) nulls = narrow8(y, start, n, v.u8, valid);
        else if (width === 2) nulls = narrow16(y, start, n, v.u16, valid);
        else if (width === 4) nulls = narrow32(y, start, n, v.u32, valid);
        else nulls = narrow64(y, start, n, v.f64, valid);
        bindings.copy_data_to_vector(vec, 0, this.scratch, 0, n * width);
      }
      if (nulls) {
        bindings.vector_ensure_validity_writable(vec);
        bindings.copy_data_to_vector_validity(vec, 0, valid.buffer, 0, Math.ceil(n / 64) * 8);
      }
    }
    ap.appendDataChunk(new DuckDBDataChunk(raw));
  }

  /**
   * A string column. DuckDB's 16-byte string slot (its C API's `duckdb_string_t`) holds a string of
   * up to 12 UTF-8 bytes inline (u32 length, the bytes, zero padding); a longer one as its length,
   * its first 4 bytes and a pointer to the bytes. Short strings are written into the slots here.
   * Long ones are encoded one after the other into one buffer that is handed to DuckDB in a single
   * call (it copies the bytes into the vector's string heap, which lives as long as the chunk);
   * their slots then point into that copy. One native call per column instead of one per long
   * string: a call cost about 0.2 us (UTF-8 length, conversion, a heap allocation), and records
   * are mostly long strings (uids, names, URIs, hashes). Returns the NULLs.
   */
  private strings(vec: Bindings.Vector, s: (string | null)[], start: number, n: number): number {
    const valid = this.validity;
    const slots = this.strSlots;
    const lens = this.strLens;
    const longs = this.longRows;
    const offs = this.longOffsets;
    slots.fill(0, 0, n * 16);
    let nulls = 0;
    let nLong = 0;
    let used = 0;
    for (let i = 0; i < n; i++) {
      const v = s[start + i];
      if (v === null || v === undefined) {
        setNull(valid, nulls++, i);
        continue;
      }
      const len = v.length;
      const o = i * 16 + 4;
      if (len <= 12) {
        let k = 0;
        for (; k < len; k++) {
          const ch = v.charCodeAt(k);
          if (ch > 127) break;
          slots[o + k] = ch;
        }
        if (k === len) {
          lens[i * 4] = len;
          continue;
        }
      }
      // UTF-8 of the string at the end of the blob (3 bytes per UTF-16 unit at most)
      if (used + 3 * len > this.blob.length) this.growBlob(used + 3 * len, used);
      const blob = this.blob;
      let k = 0;
      if (len <= 32) {
        for (; k < len; k++) {
          const ch = v.charCodeAt(k);
          if (ch > 127) break;
          blob[used + k] = ch;
        }
      }
      const bytes = k === len ? len : blob.write(v, used, 'utf8');
      if (bytes <= 12) {
        // a non-ASCII string short enough to inline
        slots.set(blob.subarray(used, used + bytes), o);
        lens[i * 4] = bytes;
        continue;
      }
      lens[i * 4] = bytes;
      slots.set(blob.subarray(used, used + 4), o); // the prefix
      longs[nLong] = i;
      offs[nLong++] = used;
      used += bytes;
    }
    if (nLong > 0) {
      // DuckDB copies the blob into the vector's string heap as the string of row 0 (its slot is
      // rewritten below); the slots of the long strings point into that copy
      bindings.vector_assign_string_element_len(vec, 0, this.blob.subarray(0, used));
      const head = bindings.vector_get_data(vec, 16);
      const at = new DataView(head.buffer, head.byteOffset, 16);
      const base = at.getUint32(12, true) * 4294967296 + at.getUint32(8, true);
      // the pointer is the slot's second 8 bytes: 64-bit unit 2 * row + 1 of the slots
      for (let j = 0; j < nLong; j++) put64(lens, 2 * longs[j] + 1, base + offs[j]);
    }
    bindings.copy_data_to_vector(vec, 0, slots.buffer, 0, n * 16);
    return nulls;
  }

  /** A larger blob holding the `used` bytes written so far. */
  private growBlob(need: number, used: number): void {
    let size = this.blob.length;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.blob.copy(next, 0, 0, used);
    this.blob = next;
  }

  /** Flushes appenders so that everything appended is visible to queries. */
  async flush(): Promise<void> {
    for (const a of this.appenders.values()) a.flushSync();
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
    this.recCon?.closeSync();
    this.con.closeSync();
    this.instance.closeSync();
  }
}

/** A commit of the two files failed; `committed` names the file whose commit went through, if one did. */
export class CommitError extends Error {
  constructor(
    cause: Error,
    readonly committed: string | null,
  ) {
    super(cause.message, { cause });
  }
}

async function checkPairing(con: DuckDBConnection, dir: string): Promise<void> {
  const id = await metaOf(con, 'case_id');
  const rid = (await tableExists(con, RECORDS, 'records_meta')) ? await metaOf(con, 'case_id', RECORDS_META) : null;
  if (id === null || rid !== id) {
    throw new Error(`${CaseStore.recordsPath(dir)} belongs to another case than ${CaseStore.dbPath(dir)} (their case ids differ): analyze the evidence into a new case`);
  }
}

/** Whether `table` exists in database `database` (null: the connection's own). */
async function tableExists(con: DuckDBConnection, database: string | null, table: string): Promise<boolean> {
  const r = await con.runAndReadAll(`SELECT count(*)::INTEGER FROM duckdb_tables() WHERE database_name = coalesce($1, current_database()) AND table_name = $2`, [database, table]);
  return Number(r.getRows()[0][0]) > 0;
}

/** A value of a key/value meta table (`case_meta` by default), or null. */
async function metaOf(con: DuckDBConnection, key: string, table = 'case_meta'): Promise<string | null> {
  const r = await con.runAndReadAll(`SELECT value FROM ${table} WHERE key = $1`, [key]);
  const rows = r.getRows();
  return rows.length ? String(rows[0][0]) : null;
}

function unsupportedVersion(v: string): string {
  return `case schema version ${v} is not supported by this Instacap (expects ${SCHEMA_VERSION}); analyze the evidence into a new case`;
}

function strayRecords(dir: string): string {
  return `${CaseStore.recordsPath(dir)} exists but ${CaseStore.dbPath(dir)} holds no case: it is left from another case; remove it, or analyze into another directory`;
}

function missingRecords(dir: string): string {
  return `case at ${resolve(dir)} lacks ${RECORDS_DB} (its application records): the case is incomplete; analyze the evidence into a new case`;
}
