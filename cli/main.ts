/**
 * `instacap` command line: headless use of the same services the app uses.
 *
 *   instacap analyze FILE... --case DIR [--json] [--no-protocols]
 *   instacap query --case DIR "SQL" [--format json|csv|table] [--show-passwords]
 *   instacap packets --case DIR --uid UID [-w OUT]
 *   instacap objects --case DIR --uid UID --out DIR
 *   instacap objects --case DIR --uid UID --out DIR   HTTP bodies of a connection, de-chunked and
                                                    decompressed, as files with SHA-256 (+ a JSON list)
  instacap stream --case DIR --uid UID [--format text|hex|raw|json] [--dir both|client|server] [--max-bytes N] [--cursor C | --all]
 *   instacap schema
 *
 * Exit codes: 0 success; 1 failure (nothing usable); 2 usage error; 3 partial success (some input
 * missing, corrupt or truncated: everything decodable was stored).
 */
import { parseArgs } from 'node:util';
import { analyze, type AnalyzeResult, type IngestProgress } from '../engine/ingest/analyze.js';
import { TABLES } from '../common/fields.js';
import { ANOMALY_NAMES } from '../common/anomalies.js';
import { formatCsv, formatJsonLines, formatTable } from './output.js';
import { writeCapture } from '../engine/readers/writer.js';

export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;
export const EXIT_PARTIAL = 3;

const USAGE = `usage:
  instacap analyze FILE... --case DIR [--json] [--no-protocols]
                                                    ingest evidence into a case (created if needed);
                                                    --no-protocols: flows only, no dns/http/tls/... records
  instacap query --case DIR "SQL" [--format json|csv|table] [--show-passwords]
                                                    read-only SQL over the case (json = JSON lines);
                                                    columns named password are masked unless asked
  instacap packets --case DIR --uid UID [-w OUT]    a flow's packets, re-read from the evidence
  instacap objects --case DIR --uid UID --out DIR   HTTP bodies of a connection, de-chunked and
                                                    decompressed, as files with SHA-256 (+ a JSON list)
  instacap stream --case DIR --uid UID [--format text|hex|raw|json] [--dir both|client|server]
                  [--max-bytes N] [--cursor C | --all]
                                                    a TCP connection's reassembled conversation, paged
  instacap schema                                   tables, columns and anomaly names
exit codes: 0 ok, 1 failed, 2 usage error, 3 partial (some input damaged or missing)`;

class UsageError extends Error {}

interface Io {
  out: (s: string) => void;
  /** Binary output (raw stream bytes); defaults to `out` of latin1 text. */
  outBytes?: (b: Uint8Array) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  outBytes: (b) => process.stdout.write(b),
  err: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stderr.isTTY),
};

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'analyze':
        return await cmdAnalyze(rest, io);
      case 'query':
        return await cmdQuery(rest, io);
      case 'packets':
        return await cmdPackets(rest, io);
      case 'stream':
        return await cmdStream(rest, io);
      case 'objects':
        return await cmdObjects(rest, io);
      case 'schema':
        return cmdSchema(io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE + '\n');
        return cmd === undefined ? EXIT_USAGE : EXIT_OK;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`instacap: ${(e as Error).message}\n${USAGE}\n`);
      return EXIT_USAGE;
    }
    io.err(`instacap: ${(e as Error).message}\n`);
    return EXIT_FAIL;
  }
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do {
    n /= 1024;
    i++;
  } while (n >= 1024 && i < u.length - 1);
  return `${n.toFixed(1)} ${u[i]}`;
}

function isoTs(t: number | null): string {
  return t === null ? '-' : new Date(t * 1000).toISOString();
}

async function cmdAnalyze(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { case: { type: 'string' }, json: { type: 'boolean', default: false }, 'no-protocols': { type: 'boolean', default: false } },
  });
  if (!values.case) throw new UsageError('analyze needs --case DIR');
  if (positionals.length === 0) throw new UsageError('analyze needs at least one FILE');
  const progress = io.isTTY && !values.json;
  const onProgress = progress
    ? (p: IngestProgress) => {
        const frac = p.bytesTotal ? Math.min(1, p.bytesRead / p.bytesTotal) : 0;
        const w = 30;
        const bar = '#'.repeat(Math.round(frac * w)).padEnd(w, '.');
        io.err(`\r[${bar}] ${(frac * 100).toFixed(0).padStart(3)}%  ${p.packets.toLocaleString('en-US')} packets  ${p.flows.toLocaleString('en-US')} flows  ${p.elapsedSec.toFixed(1)} s`);
      }
    : undefined;
  const res = await analyze({ files: positionals, caseDir: values.case, onProgress, protocols: !values['no-protocols'] });
  if (progress) io.err('\r' + ' '.repeat(90) + '\r');
  for (const e of res.errors) io.err(`instacap: ${e.message}\n`);
  for (const ev of res.evidence) if (ev.message) io.err(`instacap: ${ev.path}: partial: ${ev.message}\n`);
  if (values.json) io.out(JSON.stringify(jsonSummary(res)) + '\n');
  else io.out(textSummary(res));
  return res.status === 'complete' ? EXIT_OK : res.status === 'partial' ? EXIT_PARTIAL : EXIT_FAIL;
}

function jsonSummary(r: AnalyzeResult): Record<string, unknown> {
  return {
    status: r.status,
    case: r.case_dir,
    evidence: r.evidence.map((e) => ({
      evidence_id: e.evidence_id,
      path: e.path,
      sha256: e.sha256,
      size: e.size,
      format: e.format,
      link_types: e.link_types,
      packets: e.packets,
      bytes: e.bytes,
      first_ts: e.first_ts,
      last_ts: e.last_ts,
      span_sec: e.span_sec,
      status: e.status,
      message: e.message,
      anomalies: e.anomalies,
    })),
    errors: r.errors,
    totals: r.totals,
    elapsed_sec: Number(r.elapsed_sec.toFixed(3)),
  };
}

function textSummary(r: AnalyzeResult): string {
  const lines: string[] = [];
  for (const e of r.evidence) {
    lines.push(`evidence ${e.evidence_id}: ${e.path}`);
    lines.push(`  sha256  ${e.sha256 ?? '(not computed)'}`);
    lines.push(`  format  ${e.format} (${e.link_types.join(', ') || 'no interfaces'}), ${fmtBytes(e.size)}`);
    lines.push(`  packets ${e.packets.toLocaleString('en-US')} (${fmtBytes(e.bytes)} captured), ${e.anomalies} anomalies`);
    lines.push(`  time    ${isoTs(e.first_ts)} .. ${isoTs(e.last_ts)} (${e.span_sec.toFixed(3)} s)`);
    lines.push(`  status  ${e.status}${e.message ? `: ${e.message}` : ''}`);
  }
  const t = r.totals;
  lines.push(
    `${r.status}: ${t.packets.toLocaleString('en-US')} packets, ${t.flows.toLocaleString('en-US')} flows, ${t.anomalies.toLocaleString('en-US')} anomalies in ${r.elapsed_sec.toFixed(2)} s -> ${r.case_dir}`,
  );
  const rec = Object.entries(t.records).sort(([a], [b]) => a.localeCompare(b));
  if (rec.length) lines.push(`records: ${rec.map(([k, n]) => `${k} ${n.toLocaleString('en-US')}`).join(', ')}`);
  return lines.join('\n') + '\n';
}

async function cmdQuery(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { case: { type: 'string' }, format: { type: 'string', default: 'table' }, 'show-passwords': { type: 'boolean', default: false } },
  });
  if (!values.case) throw new UsageError('query needs --case DIR');
  if (positionals.length !== 1) throw new UsageError('query needs exactly one SQL argument (quote it)');
  const fmt = values.format;
  if (fmt !== 'json' && fmt !== 'csv' && fmt !== 'table') throw new UsageError(`unknown --format '${fmt}' (json, csv or table)`);
  const { CaseStore } = await import('../engine/store/case-store.js');
  const store = await CaseStore.openReadOnly(values.case);
  try {
    const { columns, rows } = await store.query(positionals[0]);
    // cleartext passwords are evidence, but are shown only when asked for
    const secret = columns.filter((c) => /^password$/i.test(c));
    if (secret.length && !values['show-passwords']) {
      let masked = 0;
      for (const r of rows) {
        for (const c of secret) {
          if (r[c] === null || r[c] === undefined) continue;
          r[c] = '********';
          masked++;
        }
      }
      if (masked) io.err(`instacap: ${masked} password value(s) masked; add --show-passwords to see them\n`);
    }
    io.out(fmt === 'json' ? formatJsonLines(rows) : fmt === 'csv' ? formatCsv(columns, rows) : formatTable(columns, rows));
    return EXIT_OK;
  } finally {
    await store.close();
  }
}

async function cmdPackets(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { case: { type: 'string' }, uid: { type: 'string' }, w: { type: 'string', short: 'w' } },
  });
  if (!values.case) throw new UsageError('packets needs --case DIR');
  if (!values.uid) throw new UsageError('packets needs --uid UID');
  const { CaseStore } = await import('../engine/store/case-store.js');
  const { readFlowPackets } = await import('../engine/services/packets.js');
  const store = await CaseStore.openReadOnly(values.case);
  try {
    const pk = await readFlowPackets(store, values.uid);
    if (values.w) {
      const kind = writeCapture(values.w, pk.map((p) => p.packet));
      io.err(`wrote ${pk.length} packets to ${values.w} (${kind})\n`);
    } else {
      const rows = pk.map((p) => ({
        evidence_id: p.evidenceId,
        packet_no: p.packetNo,
        ts: new Date(p.packet.tsSec * 1000).toISOString().replace(/\.\d+Z$/, `.${String(p.packet.tsNs).padStart(9, '0')}Z`),
        caplen: p.packet.data.length,
        origlen: p.packet.origlen,
        file_offset: p.fileOffset,
      }));
      io.out(formatTable(['evidence_id', 'packet_no', 'ts', 'caplen', 'origlen', 'file_offset'], rows));
    }
    return EXIT_OK;
  } finally {
    await store.close();
  }
}

async function cmdStream(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      case: { type: 'string' },
      uid: { type: 'string' },
      format: { type: 'string', default: 'text' },
      dir: { type: 'string', default: 'both' },
      'max-bytes': { type: 'string' },
      cursor: { type: 'string' },
      all: { type: 'boolean', default: false },
    },
  });
  if (!values.case) throw new UsageError('stream needs --case DIR');
  if (!values.uid) throw new UsageError('stream needs --uid UID');
  const format = values.format!;
  if (!['text', 'hex', 'raw', 'json'].includes(format)) throw new UsageError(`unknown format '${format}' (text, hex, raw or json)`);
  const dirs = { both: [0, 1], client: [0], server: [1] }[values.dir as 'both'];
  if (!dirs) throw new UsageError(`unknown --dir '${values.dir}' (both, client or server)`);
  let maxBytes: number | undefined;
  if (values['max-bytes'] !== undefined) {
    maxBytes = Number(values['max-bytes']);
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new UsageError('--max-bytes needs a positive integer');
  }
  if (values.all && values.cursor) throw new UsageError('--all and --cursor exclude each other');
  const { CaseStore } = await import('../engine/store/case-store.js');
  const { followStream } = await import('../engine/services/stream.js');
  const { renderChunks } = await import('./stream-output.js');
  const store = await CaseStore.openReadOnly(values.case);
  try {
    let cursor: string | null = values.cursor ?? null;
    let lastDir = -1;
    for (;;) {
      const page = await followStream(store, values.uid, { maxBytes, cursor });
      const chunks = page.chunks.filter((c) => dirs.includes(c.dir));
      if (format === 'json') {
        io.out(
          JSON.stringify({
            uid: page.uid,
            client: page.client,
            server: page.server,
            client_bytes: page.clientBytes,
            server_bytes: page.serverBytes,
            next: page.next,
            chunks: chunks.map((c) => ({ dir: c.dir === 0 ? 'client' : 'server', packet_no: c.packetNo, evidence_id: c.evidenceId, offset: c.offset, gap: c.gap, data: c.data ? c.data.toString('base64') : null })),
          }) + '\n',
        );
      } else if (format === 'raw') {
        const write = io.outBytes ?? ((b: Uint8Array) => io.out(Buffer.from(b).toString('latin1')));
        for (const c of chunks) if (c.data) write(c.data);
      } else {
        if (cursor === null) io.out(`client ${page.client}  server ${page.server}\n`);
        lastDir = renderChunks(chunks, format as 'text' | 'hex', lastDir, io.out);
      }
      cursor = page.next;
      if (!values.all || cursor === null) break;
    }
    if (cursor !== null && !values.all) io.err(`more: --cursor ${cursor}\n`);
    return EXIT_OK;
  } finally {
    await store.close();
  }
}

async function cmdObjects(args: string[], io: Io): Promise<number> {
  const { values } = parseArgs({ args, options: { case: { type: 'string' }, uid: { type: 'string' }, out: { type: 'string' } } });
  if (!values.case) throw new UsageError('objects needs --case DIR');
  if (!values.uid) throw new UsageError('objects needs --uid UID');
  if (!values.out) throw new UsageError('objects needs --out DIR (created if needed)');
  const { CaseStore } = await import('../engine/store/case-store.js');
  const { extractHttpObjects } = await import('../engine/services/objects.js');
  const store = await CaseStore.openReadOnly(values.case);
  try {
    const objs = await extractHttpObjects(store, values.uid, values.out);
    io.out(formatTable(['file', 'direction', 'uri', 'content_type', 'bytes', 'sha256', 'complete'], objs as unknown as Record<string, unknown>[]));
    return EXIT_OK;
  } finally {
    await store.close();
  }
}

function cmdSchema(io: Io): number {
  const lines: string[] = [];
  for (const t of TABLES) {
    lines.push(`${t.name}: ${t.description}`);
    for (const f of t.fields) lines.push(`  ${f.name.padEnd(16)} ${f.kind.padEnd(4)} ${f.description}`);
    lines.push('');
  }
  lines.push('anomalies.name values:');
  for (const [n, [layer, desc]] of Object.entries(ANOMALY_NAMES)) lines.push(`  ${n.padEnd(30)} ${layer.padEnd(5)} ${desc}`);
  io.out(lines.join('\n') + '\n');
  return EXIT_OK;
}
