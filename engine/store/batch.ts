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

/** Where a column of an application record comes from (`pushRecord`). */
const FROM_ROW = 0;
const FROM_TS = 1;
const FROM_FLOW_ID = 2;
const FROM_EVIDENCE_ID = 3;
const FROM_ORIG_H = 4;
const FROM_ORIG_P = 5;
const FROM_RESP_H = 6;
const FROM_RESP_P = 7;
const FROM_TRANSPORT = 8;

export class ColumnBatch {
  rows = 0;
  readonly cols: Column[];
  /** For 'ts' columns: nanosecond parts (seconds are in cols). */
  readonly nanos: (Uint32Array | null)[];
  private readonly index = new Map<string, number>();

  constructor(
    readonly table: TableDef,
    readonly capacity = BATCH_ROWS,
  ) {
    this.cols = table.fields.map((f) => makeColumn(f, capacity));
    this.nanos = table.fields.map((f) => (f.kind === 'ts' ? new Uint32Array(capacity) : null));
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
    const r = this.rows;
    const fields = this.table.fields;
    for (let i = 0; i < fields.length; i++) this.put(i, r, row[fields[i].name]);
    this.rows++;
  }

  /** Writes an application record into the columns (compiled for this table on first use). */
  private pusher: RecordPusher | null = null;

  /**
   * Appends an application record: the connection columns (flow_id, evidence_id, orig_h, orig_p,
   * resp_h, resp_p, and tls.transport) from `conn`, ts from the row or else `conn`'s packet time,
   * the rest from the row. The row object is only read, never extended (extending an object
   * literal with more properties than it was made with costs a shape change per property).
   */
  pushRecord(row: Record<string, unknown>, conn: RecordConn): void {
    (this.pusher ??= compilePusher(this.table))(row, conn, this.cols, this.nanos, this.rows);
    this.rows++;
  }

  /** Writes value `v` into column `i` at row `r`. */
  private put(i: number, r: number, v: unknown): void {
    const f = this.table.fields[i];
    const c = this.cols[i];
    if (f.kind === 'str') (c as (string | null)[])[r] = v === undefined || v === null ? null : String(v);
    else if (f.kind === 'ts') {
      const t = v as { sec: number; ns: number } | null | undefined;
      (c as Float64Array)[r] = t ? t.sec : NaN;
      this.nanos[i]![r] = t ? t.ns : 0;
    } else if (f.kind === 'bool') {
      // a NULL-able bool column holds doubles (NaN = NULL); NULL must not become FALSE
      (c as Uint8Array | Float64Array)[r] = v === null || v === undefined ? (f.nullable ? NaN : 0) : v ? 1 : 0;
    } else if (f.kind === 'enum') {
      const k = typeof v === 'number' ? v : f.values!.indexOf(String(v));
      if (k < 0) throw new Error(`${this.table.name}.${f.name}: '${String(v)}' is not one of ${f.values!.join(', ')}`);
      (c as Uint8Array)[r] = k;
    } else (c as Float64Array | Uint32Array)[r] = v === undefined || v === null ? NaN : Number(v);
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
    Object.assign(b, { table, capacity: m.rows, rows: m.rows, cols: m.cols, nanos: m.nanos, index: new Map() });
    return b;
  }
}

export interface BatchMessage {
  table: string;
  rows: number;
  cols: Column[];
  nanos: (Uint32Array | null)[];
}

/**
 * Where each column of an application record comes from: the connection columns (the four
 * addresses and ports only in tables that have orig_h), ts, and tls.transport.
 */
function recordSources(t: TableDef): Uint8Array {
  const conn = t.fields.some((f) => f.name === 'orig_h');
  return Uint8Array.from(t.fields, (f) => {
    if (f.kind === 'ts' && f.name === 'ts') return FROM_TS;
    if (f.name === 'flow_id') return FROM_FLOW_ID;
    if (f.name === 'evidence_id') return FROM_EVIDENCE_ID;
    if (f.name === 'transport' && t.name === 'tls') return FROM_TRANSPORT;
    if (!conn) return FROM_ROW;
    if (f.name === 'orig_h') return FROM_ORIG_H;
    if (f.name === 'orig_p') return FROM_ORIG_P;
    if (f.name === 'resp_h') return FROM_RESP_H;
    if (f.name === 'resp_p') return FROM_RESP_P;
    return FROM_ROW;
  });
}

type RecordPusher = (row: Record<string, unknown>, conn: RecordConn, cols: Column[], nanos: (Uint32Array | null)[], r: number) => void;

/**
 * Compiles `pushRecord` for one table: straight-line code that reads each column's property by
 * its name and writes the column with the conversion `put` makes. Every site then sees one kind
 * of row and one kind of array. A loop over the fields, shared by all tables, read the rows with
 * megamorphic keyed loads and wrote polymorphic arrays (1 GB workload: about 60 ms of the ingest
 * thread). The code is made from the field registry only (names quoted with JSON.stringify),
 * never from captured data.
 */
function compilePusher(t: TableDef): RecordPusher {
  const src = recordSources(t);
  const lines: string[] = ['let v;', 'let k;'];
  const enums: (readonly string[])[] = [];
  t.fields.forEach((f, i) => {
    const col = `cols[${i}]`;
    let value: string;
    switch (src[i]) {
      case FROM_TS:
        lines.push(`v = row[${JSON.stringify(f.name)}];`);
        lines.push(`if (v === undefined) { ${col}[r] = conn.tsSec; nanos[${i}][r] = conn.tsNs; }`);
        lines.push(`else { ${col}[r] = v ? v.sec : NaN; nanos[${i}][r] = v ? v.ns : 0; }`);
        return;
      case FROM_FLOW_ID:
        lines.push(`${col}[r] = conn.flowId;`);
        return;
      case FROM_EVIDENCE_ID:
        lines.push(`${col}[r] = conn.evidenceId;`);
        return;
      case FROM_ORIG_H:
        lines.push(`${col}[r] = conn.origH;`);
        return;
      case FROM_ORIG_P:
        lines.push(`${col}[r] = conn.origP;`);
        return;
      case FROM_RESP_H:
        lines.push(`${col}[r] = conn.respH;`);
        return;
      case FROM_RESP_P:
        lines.push(`${col}[r] = conn.respP;`);
        return;
      case FROM_TRANSPORT:
        value = 'conn.transport';
        break;
      default:
        value = `row[${JSON.stringify(f.name)}]`;
    }
    lines.push(`v = ${value};`);
    // the same conversions as ColumnBatch.put
    if (f.kind === 'str') lines.push(`${col}[r] = v === undefined || v === null ? null : String(v);`);
    else if (f.kind === 'ts') lines.push(`${col}[r] = v ? v.sec : NaN; nanos[${i}][r] = v ? v.ns : 0;`);
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
  const make = new Function('enums', `return function push_${t.name.replace(/\W/g, '_')}(row, conn, cols, nanos, r) {\n${lines.join('\n')}\n};`);
  return make(enums) as RecordPusher;
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
