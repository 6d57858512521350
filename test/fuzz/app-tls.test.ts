/**
 * Properties of the TLS parser: random bytes, random record sequences and mutated real handshakes
 * never throw, give at most one well-typed row and leave the parser done after end(); splitting
 * the same streams at any points (1-byte pieces included) gives exactly the same rows and
 * anomalies as feeding them whole; the message decoders never throw on any bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { TLS } from '../../common/fields.js';
import {
  createTls, looksLikeTls, parseCertificateList, parseClientHello, parseServerHello, parseSsl2ClientHello, serverKeyExchangeCurve,
} from '../../engine/app/tls.js';
import type { Dir } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { tcpConnections } from '../helpers/capture.js';

const PCAPS = new URL('../../../shared/pcaps/', import.meta.url).pathname;

interface Step {
  dir: Dir;
  bytes: Uint8Array;
  sec: number;
  pkt: number;
}

/**
 * The TCP payloads of a capture's first connection in packet order, exact duplicates by seq
 * dropped; direction 0 is the side that sent the SYN. The captures used here have no reordering.
 */
async function firstConnection(rel: string): Promise<Step[]> {
  const c = (await tcpConnections(PCAPS + rel)).find((x) => x.segments.length > 0);
  if (!c) throw new Error(`${rel}: no TCP payload`);
  return c.segments.map((g) => ({ dir: g.dir, bytes: Uint8Array.from(g.bytes), sec: g.sec, pkt: g.packetNo }));
}

/** Feeds steps, each cut into pieces by `cut(len)` (piece lengths), with the step's time and frame for all its pieces. */
function run(steps: Step[], cut: (len: number) => number[] = (len) => [len]): { sink: RecordingSink; done: boolean } {
  const sink = new RecordingSink();
  const p = createTls(sink);
  for (const s of steps) {
    sink.at(s.sec, 0, s.pkt);
    let at = 0;
    for (const n of cut(s.bytes.length)) {
      p.data(s.dir, s.bytes, at, at + n);
      at += n;
    }
  }
  p.end();
  return { sink, done: p.done };
}

/** Piece lengths from a seed: sizes up to `max`, so max = 1 gives single bytes. */
function cutter(seed: number, max: number): (len: number) => number[] {
  let x = seed >>> 0 || 1;
  return (len) => {
    const out: number[] = [];
    for (let left = len; left > 0; ) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const n = Math.min(left, 1 + ((x >>> 0) % max));
      out.push(n);
      left -= n;
    }
    return out;
  };
}

const CONN_COLUMNS = new Set(['uid', 'flow_id', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'evidence_id', 'transport']); // filled by the ingest's sink

/** A row has every own column of the tls table with a value of the column's kind. */
function checkRow(row: Record<string, unknown>): void {
  for (const f of TLS.fields) {
    if (CONN_COLUMNS.has(f.name)) continue;
    expect(row, f.name).toHaveProperty(f.name);
    const v = row[f.name];
    if (v === null) {
      expect(f.nullable, `${f.name} is NULL`).toBe(true);
      continue;
    }
    if (f.kind === 'str') expect(typeof v, f.name).toBe('string');
    else if (f.kind === 'bool') expect(typeof v, f.name).toBe('boolean');
    else if (f.kind === 'ts') expect(v, f.name).toEqual({ sec: expect.any(Number), ns: expect.any(Number) });
    else {
      expect(Number.isInteger(v), f.name).toBe(true);
      if (f.kind === 'u8') expect(v as number).toBeLessThanOrEqual(255);
    }
  }
}

function checkOutcome(sink: RecordingSink, done: boolean): void {
  expect(done).toBe(true);
  const rows = sink.table('tls');
  expect(rows.length).toBeLessThanOrEqual(1);
  for (const r of rows) checkRow(r);
  expect(sink.services.length).toBeLessThanOrEqual(1);
}

const CAPTURES = [
  'protocols/tls/arkime_openssl-tls1_2.pcap', // certificate chain, ECDHE ServerKeyExchange
  'protocols/tls/arkime_tls-split-client-hello.pcap', // ClientHello over several segments, TLS 1.3
  'protocols/tls/zeek_tls_ssl-v2.pcap', // SSLv2 framing
  'protocols/tls/zeek_tls_dhe.pcap', // DHE, TLS 1.2
  'protocols/tls/sv_tls13-draft28.pcap', // TLS 1.3 draft, compatibility ChangeCipherSpec
];

const streams = new Map<string, Step[]>();
beforeAll(async () => {
  for (const c of CAPTURES) streams.set(c, await firstConnection(c));
});

describe('tls parser properties', () => {
  it('the real streams parse whole (sanity for the properties below)', () => {
    for (const c of CAPTURES) {
      const { sink, done } = run(streams.get(c)!);
      checkOutcome(sink, done);
      expect(sink.table('tls'), c).toHaveLength(1);
      expect(sink.table('tls')[0].established, c).toBe(true);
      expect(sink.anomalies, c).toEqual([]);
    }
  });

  it('splitting the streams anywhere gives the same rows and anomalies', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CAPTURES), fc.integer(), fc.constantFrom(1, 2, 3, 7, 64, 1500), (c, seed, max) => {
        const steps = streams.get(c)!;
        const whole = run(steps);
        const split = run(steps, cutter(seed, max));
        expect(split.sink.table('tls')).toEqual(whole.sink.table('tls'));
        expect(split.sink.anomalies).toEqual(whole.sink.anomalies);
        expect(split.sink.services).toEqual(whole.sink.services);
      }),
      { seed: 0x7151, numRuns: 60 },
    );
  });

  it('mutated real handshakes never throw and give at most one well-typed row', () => {
    const mutation = fc.record({
      step: fc.nat(),
      at: fc.nat(),
      kind: fc.constantFrom('set', 'truncate', 'delete', 'duplicate', 'insert'),
      value: fc.integer({ min: 0, max: 255 }),
      len: fc.integer({ min: 1, max: 300 }),
    });
    fc.assert(
      fc.property(fc.constantFrom(...CAPTURES), fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.integer(), (c, muts, seed) => {
        const steps = streams.get(c)!.map((s) => ({ ...s, bytes: Uint8Array.from(s.bytes) }));
        for (const m of muts) {
          const s = steps[m.step % steps.length];
          const b = s.bytes;
          const at = b.length === 0 ? 0 : m.at % b.length;
          if (m.kind === 'set' && b.length > 0) b[at] = m.value;
          else if (m.kind === 'truncate') s.bytes = b.subarray(0, at);
          else if (m.kind === 'delete') s.bytes = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.len)]);
          else if (m.kind === 'duplicate') s.bytes = Uint8Array.from([...b.subarray(0, at + m.len), ...b.subarray(at)]);
          else if (m.kind === 'insert') s.bytes = Uint8Array.from([...b.subarray(0, at), ...new Uint8Array(m.len).fill(m.value), ...b.subarray(at)]);
        }
        const whole = run(steps);
        checkOutcome(whole.sink, whole.done);
        const split = run(steps, cutter(seed, 5));
        expect(split.sink.table('tls')).toEqual(whole.sink.table('tls'));
        expect(split.sink.anomalies).toEqual(whole.sink.anomalies);
      }),
      { seed: 0x7152, numRuns: 300 },
    );
  });

  it('random bytes in both directions never throw', () => {
    const chunk = fc.record({ dir: fc.constantFrom<Dir>(0, 1), bytes: fc.uint8Array({ maxLength: 400 }) });
    fc.assert(
      fc.property(fc.array(chunk, { maxLength: 12 }), (chunks) => {
        const { sink, done } = run(chunks.map((c, i) => ({ ...c, sec: i, pkt: i + 1 })));
        checkOutcome(sink, done);
      }),
      { seed: 0x7153, numRuns: 400 },
    );
  });

  it('random well-framed records with random handshake messages never throw', () => {
    const hsMsg = fc
      .record({ type: fc.constantFrom(1, 2, 4, 11, 12, 14, 16, 20, 99), body: fc.uint8Array({ maxLength: 200 }), lie: fc.integer({ min: -3, max: 3 }) })
      .map(({ type, body, lie }) => {
        const len = Math.max(0, body.length + lie);
        return Uint8Array.from([type, len >> 16, (len >> 8) & 0xff, len & 0xff, ...body]);
      });
    const rec = fc
      .record({
        dir: fc.constantFrom<Dir>(0, 1),
        type: fc.constantFrom(20, 21, 22, 22, 22, 23, 24),
        minor: fc.constantFrom(0, 1, 3, 4),
        msgs: fc.array(hsMsg, { maxLength: 3 }),
        raw: fc.uint8Array({ maxLength: 40 }),
      })
      .map(({ dir, type, minor, msgs, raw }) => {
        const body = type === 22 ? Buffer.concat(msgs.map((m) => Buffer.from(m))) : Buffer.from(raw);
        return { dir, bytes: Uint8Array.from([type, 3, minor, body.length >> 8, body.length & 0xff, ...body]) };
      });
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 10 }), fc.integer(), (recs, seed) => {
        const steps = recs.map((r, i) => ({ ...r, sec: i, pkt: i + 1 }));
        const whole = run(steps);
        checkOutcome(whole.sink, whole.done);
        const split = run(steps, cutter(seed, 3));
        expect(split.sink.table('tls')).toEqual(whole.sink.table('tls'));
        expect(split.sink.anomalies).toEqual(whole.sink.anomalies);
      }),
      { seed: 0x7154, numRuns: 300 },
    );
  });

  it('gaps at random places never throw and leave the parser done after end()', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CAPTURES), fc.array(fc.record({ after: fc.nat(), len: fc.integer({ min: 1, max: 5000 }) }), { maxLength: 3 }), (c, gaps) => {
        const steps = streams.get(c)!;
        const sink = new RecordingSink();
        const p = createTls(sink);
        steps.forEach((s, i) => {
          sink.at(s.sec, 0, s.pkt);
          p.data(s.dir, s.bytes, 0, s.bytes.length);
          for (const g of gaps) if (g.after % steps.length === i) p.gap(s.dir, g.len);
        });
        p.end();
        checkOutcome(sink, p.done);
      }),
      { seed: 0x7155, numRuns: 100 },
    );
  });

  it('the message decoders and looksLikeTls never throw on any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), (b, cipher) => {
        const buf = Buffer.from(b);
        for (const parse of [parseClientHello, parseServerHello, parseCertificateList, parseSsl2ClientHello]) {
          const r = parse(buf, 0, buf.length);
          expect(r.value !== null || r.problem !== null).toBe(true);
        }
        serverKeyExchangeCurve(0xc000 + (cipher % 0x40), buf, 0, buf.length);
        expect(typeof looksLikeTls(buf, 0, buf.length)).toBe('boolean');
      }),
      { seed: 0x7156, numRuns: 2000 },
    );
  });
});
