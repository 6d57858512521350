/**
 * A recording AppSink for parser tests: rows by table name, anomalies and services in order.
 * `at(sec, ns, packetNo)` sets the time and frame number seen by the parser for the next calls.
 */
import type { AnomalyName } from '../../common/anomalies.js';
import type { TableDef } from '../../common/fields.js';
import type { AppSink } from '../../engine/app/types.js';

export class RecordingSink implements AppSink {
  tsSec = 1_700_000_000;
  tsNs = 0;
  packetNo = 1;
  readonly rows = new Map<string, Record<string, unknown>[]>();
  readonly anomalies: { name: AnomalyName; detail?: string }[] = [];
  readonly services: string[] = [];
  constructor(readonly transport: 'tcp' | 'udp' = 'tcp') {}

  at(sec: number, ns = 0, packetNo = this.packetNo + 1): this {
    this.tsSec = sec;
    this.tsNs = ns;
    this.packetNo = packetNo;
    return this;
  }

  emit(table: TableDef, row: Record<string, unknown>): void {
    for (const k of Object.keys(row)) {
      if (!table.fields.some((f) => f.name === k)) throw new Error(`${table.name} has no column ${k}`);
    }
    const list = this.rows.get(table.name) ?? [];
    list.push({ ...row });
    this.rows.set(table.name, list);
  }

  anomaly(name: AnomalyName, detail?: string): void {
    this.anomalies.push({ name, detail });
  }

  service(name: string): void {
    this.services.push(name);
  }

  table(name: string): Record<string, unknown>[] {
    return this.rows.get(name) ?? [];
  }
}
