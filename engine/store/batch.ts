/**
 * Columnar row batches built from the field registry. Numeric columns are typed arrays (no
 * per-value objects); strings are plain arrays. A batch holds at most BATCH_ROWS rows, the size
 * of one DuckDB data chunk, and is handed to the store when full.
 */
import type { FieldDef, TableDef } from '../../common/fields.js';

export const BATCH_ROWS = 2048;

/**
 * `detach()` transfers a batch's arrays to another thread, which detaches their buffers. The first
 * buffer detached in an isolate trips V8's ArrayBufferDetaching protector: all optimized code that
 * reads typed arrays is thrown away and compiled again. The first batch goes when most of the
 * ingest's code is hot (1 GB workload: 80 functions recompiled at once, 470 optimizing compiles
 * in all). Detaching one small buffer while this module loads, before anything is optimized,
 * trips it when it costs nothing (365 compiles; 0.17 CPU-s less).
 */
const early = new ArrayBuffer(8);
structuredClone(early, { transfer: [early] });

export type Column = Uint8Array | Uint16Array | Uint32Array | Float64Array | (string | null)[];

/**
 * The connection an application record belongs to: `pushRecord` writes these columns from it
 * (the parser's row holds only the table's own columns).
 */
export interface RecordConn {
  readonly flowId: number;
  readonly evidenceId: number;
  readonly origH: string;
  readonly origP: number;
  readonly respH: string;
  readonly respP: number;
  /** Time of the packet being handled: the record's ts when the row has none. */
  readonly tsSec: number;
  readonly tsNs: number;
  readonly transport: 'tcp' | 'udp';
}

export class ColumnBatch {
  rows = 0;
  readonly cols: Column[];
  /** For 'ts' columns: nanosecond parts (seconds are in cols). */
  readonly nanos: (Uint32Array | null)[];
  private readonly index = new Map<string, number>();

  /** Rows the batch holds until it is full (`first` until its first detach, then `rowsAfter`). */
  capacity: number;

  /**
   * `first`: rows of the first batch, when it is to be sent sooner than the others. The code that
   * hands a full batch over then runs once early, before V8 optimises the code that writes rows
   * (its first run in optimised code throws that code away: V8 had no feedback for it).
   */
  constructor(
    readonly table: TableDef,
    private readonly rowsAfter = BATCH_ROWS,
    first = rowsAfter,
  ) {
    this.capacity = first;
    this.cols = table.fields.map((f) => makeColumn(f, first));
    this.nanos = table.fields.map((f) => (f.kind === 'ts' ? new Uint32Array(first) : null));
    table.fields.forEach((f, i) => this.index.set(f.name, i));
  }

  col(name: string): number {
    const i = this.index.get(name);
    if (i === undefined) throw new Error(`no column ${name} in ${this.table.name}`);
    return i;
  }

  get full(): boolean {
    return this.rows >= this.capacity;
  }

  /** Appends one row from an object keyed by column name (for small tables; hot paths write columns directly). */
  pushRow(row: Record<string, unknown>): void {
    (this.rowPusher ??= pusherOf(this.table, false))(row, null, this.cols, this.nanos, this.rows);
    this.rows++;
  }

  /** The writers of `pushRow` and `pushRecord` of this table (see `pusherOf`). */
  private rowPusher: Pusher | null = null;
  private recordPusher: Pusher | null = null;

  /**
   * Appends an application record: the connection columns (flow_id, evidence_id, orig_h, orig_p,
   * resp_h, resp_p, and tls.transport) from `conn`, ts from the row or else `conn`'s packet time,
   * the rest from the row. The row object is only read, never extended (extending an object
   * literal with more properties than it was made with costs a shape change per property).
   */
  pushRecord(row: Record<string, unknown>, conn: RecordConn): void {
    (this.recordPusher ??= pusherOf(this.table, true))(row, conn, this.cols, this.nanos, this.rows);
    this.rows++;
  }

  clear(): void {
    this.rows = 0;
  }

  /**
   * Hands the batch's columns over as a message for another thread (typed arrays are transferred,
   * not copied) and gives this batch fresh, empty columns.
   */
  detach(): { msg: BatchMessage; transfer: ArrayBuffer[] } {
    const n = this.rows;
    const msg: BatchMessage = { table: this.table.name, rows: n, cols: this.cols.slice(), nanos: this.nanos.slice() };
    const transfer: ArrayBuffer[] = [];
    for (const c of this.cols) if (!Array.isArray(c)) transfer.push((c as Uint8Array).buffer as ArrayBuffer);
    for (const c of this.nanos) if (c) transfer.push(c.buffer as ArrayBuffer);
    this.capacity = this.rowsAfter;
    this.table.fields.forEach((f, i) => {
      this.cols[i] = makeColumn(f, this.capacity);
      if (this.nanos[i]) this.nanos[i] = new Uint32Array(this.capacity);
      if (f.kind === 'str') (msg.cols[i] as (string | null)[]).length = n;
    });
    this.rows = 0;
    return { msg, transfer };
  }

  /** Rebuilds a batch from a message made by `detach()`. */
  static fromMessage(table: TableDef, m: BatchMessage): ColumnBatch {
    const b = Object.create(ColumnBatch.prototype) as ColumnBatch;
    Object.assign(b, { table, capacity: m.rows, rowsAfter: m.rows, rows: m.rows, cols: m.cols, nanos: m.nanos, index: new Map() });
    return b;
  }
}

export interface BatchMessage {
  table: string;
  rows: number;
  cols: Column[];
  nanos: (Uint32Array | null)[];
}

type Pusher = (row: Record<string, unknown>, conn: RecordConn | null, cols: Column[], nanos: (Uint32Array | null)[], r: number) => void;

/**
 * The expression an application record's connection column is written from, or null for a
 * column of the record's own (the addresses and ports only in tables that have orig_h).
 */
function connSource(t: TableDef, f: FieldDef, hasAddresses: boolean): string | null {
  if (f.name === 'flow_id') return 'conn.flowId';
  if (f.name === 'evidence_id') return 'conn.evidenceId';
  if (f.name === 'transport' && t.name === 'tls') return 'conn.transport';
  if (!hasAddresses) return null;
  if (f.name === 'orig_h') return 'conn.origH';
  if (f.name === 'orig_p') return 'conn.origP';
  if (f.name === 'resp_h') return 'conn.respH';
  if (f.name === 'resp_p') return 'conn.respP';
  return null;
}

/**
 * Compiles the row writer of one table: straight-line code that reads each column's property by
 * its name and writes the column with its kind's conversion. Every site then sees one kind of
 * row and one kind of array; a loop over the fields, shared by all tables, read the rows with
 * megamorphic keyed loads and wrote polymorphic arrays (1 GB workload: about 60 ms of the ingest
 * thread). `withConn`: the writer of `pushRecord`, whose connection columns come from `conn` and
 * whose ts defaults to `conn`'s packet time. The code is made from the field registry only (names
 * quoted with JSON.stringify), never from captured data.
 */
function compilePusher(t: TableDef, withConn: boolean): Pusher {
  const hasAddresses = t.fields.some((f) => f.name === 'orig_h');
  const lines: string[] = ['let v;', 'let k;'];
  const enums: (readonly string[])[] = [];
  t.fields.forEach((f, i) => {
    const col = `cols[${i}]`;
    const key = `row[${JSON.stringify(f.name)}]`;
    const source = withConn ? connSource(t, f, hasAddresses) : null;
    if (withConn && f.kind === 'ts' && f.name === 'ts') {
      lines.push(`v = ${key};`);
      lines.push(`if (v === undefined) { ${col}[r] = conn.tsSec; nanos[${i}][r] = conn.tsNs; }`);
      lines.push(`else { ${col}[r] = v ? v.sec : NaN; nanos[${i}][r] = v ? v.ns : 0; }`);
      return;
    }
    if (source !== null && f.kind !== 'enum') {
      lines.push(`${col}[r] = ${source};`); // numbers and strings as they are
      return;
    }
    lines.push(`v = ${source ?? key};`);
    if (f.kind === 'str') lines.push(`${col}[r] = v === undefined || v === null ? null : String(v);`);
    else if (f.kind === 'ts') lines.push(`${col}[r] = v ? v.sec : NaN; nanos[${i}][r] = v ? v.ns : 0;`);
    // a NULL-able bool column holds doubles (NaN = NULL): NULL must not become FALSE
    else if (f.kind === 'bool') lines.push(`${col}[r] = v === null || v === undefined ? ${f.nullable ? 'NaN' : '0'} : v ? 1 : 0;`);
    else if (f.kind === 'enum') {
      const e = enums.push(f.values!) - 1;
      const what = JSON.stringify(`${t.name}.${f.name}: '`);
      const allowed = JSON.stringify(`' is not one of ${f.values!.join(', ')}`);
      lines.push(`k = typeof v === 'number' ? v : enums[${e}].indexOf(String(v));`);
      lines.push(`if (k < 0) throw new Error(${what} + String(v) + ${allowed});`);
      lines.push(`${col}[r] = k;`);
    } else lines.push(`${col}[r] = v === undefined || v === null ? NaN : Number(v);`);
  });
  const name = `${withConn ? 'record' : 'row'}_${t.name.replace(/\W/g, '_')}`;
  const make = new Function('enums', `return function ${name}(row, conn, cols, nanos, r) {\n${lines.join('\n')}\n};`);
  return make(enums) as Pusher;
}

/**
 * The row writers, one per table and kind, compiled on first use. Each `new Function` is a script
 * of its own, which V8 optimises on its own: a writer per batch would compile the same code again
 * for every batch of the table (the ingest thread has two anomaly batches, for instance).
 */
const pushers = [new Map<TableDef, Pusher>(), new Map<TableDef, Pusher>()];

function pusherOf(t: TableDef, withConn: boolean): Pusher {
  const m = pushers[withConn ? 1 : 0];
  let p = m.get(t);
  if (p === undefined) {
    p = compilePusher(t, withConn);
    m.set(t, p);
  }
  return p;
}

/**
 * `n` nulls in a packed array. `new Array(n).fill(null)` stays a holey array for V8, which
 * postMessage serialises element by element through the slow path: about twice the time of a
 * packed one for a column of strings (a batch of 2048 DNS rows: 0.58 against 0.30 ms).
 */
function nullStrings(n: number): (string | null)[] {
  let t = nullTemplates.get(n);
  if (t === undefined) {
    t = [];
    for (let i = 0; i < n; i++) t.push(null);
    nullTemplates.set(n, t);
  }
  return t.slice(); // a copy of a packed array is packed (and a block copy)
}
const nullTemplates = new Map<number, (string | null)[]>();

function makeColumn(f: FieldDef, n: number): Column {
  if (f.kind === 'str') return nullStrings(n);
  if (f.kind === 'enum') return new Uint8Array(n);
  if (f.nullable || f.kind === 'u64' || f.kind === 'i64' || f.kind === 'f64' || f.kind === 'ts') return new Float64Array(n);
  switch (f.kind) {
    case 'u8':
    case 'bool':
      return new Uint8Array(n);
    case 'u16':
      return new Uint16Array(n);
    case 'u32':
      return new Uint32Array(n);
  }
  return new Float64Array(n);
}
