/**
 * Fuzz/property tests of the DNS parser (engine/app/dns.ts): random bytes, random messages built
 * from compression pointers and labels, and mutated real messages from the DNS captures never
 * make parseDnsMessage or the UDP/TCP parsers throw or hang, only named DNS anomalies are
 * reported, and every row matches its table's column kinds. For DNS over TCP, the same streams
 * split at random points (1-byte pieces included) give exactly the rows of the whole stream.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DNS, DNS_ANSWERS, type TableDef } from '../../common/fields.js';
import { createDnsTcp, createDnsUdp, parseDnsMessage } from '../../engine/app/dns.js';
import { forEachDecoded } from '../helpers/capture.js';
import { RecordingSink } from '../helpers/app-sink.js';

const SEED = 53053;
const DNS_DIR = '/work/shared/pcaps/protocols/dns/';
const CAPTURES = [
  'td_dns_udp.pcap', 'arkime_dns-mx.pcap', 'zeek_dns-https.pcap', 'zeek_dns-svcb.pcap', 'zeek_dns-caa.pcap', 'zeek_dns-spf.pcap',
  'sv_dns-udp-txt.pcap', 'sv_dns-udp-srv.pcap', 'sv_dns-udp-null.pcap', 'sv_dns-forward-pointer.pcap', 'sv_dns-corrupt-additionals.pcap',
  'ndpi_malformed_dns.pcap', 'td_edns-opts.pcap', 'zeek_dnssec_nsec3.pcap', 'zeek_dnssec_rrsig.pcap', 'zeek_dns_naptr.pcap',
  'zeek_dns_sshfp-trunc.pcap', 'zeek_dns_loc-29-trunc.pcap', 'zeek_dns_max-compression-depth.pcap', 'zeek_dns_dns-invalid-names.pcap',
  'zeek_dns_hinfo.pcap', 'zeek_dns_dynamic-update.pcap', 'zeek_dns_mdns.pcap', 'ndpi_dns-invalid-chars.pcap',
];
const DNS_ANOMALIES = new Set(['dns_malformed', 'dns_bad_name', 'dns_tcp_bad_length', 'dns_unmatched_response']);

/** UDP payloads of the DNS captures: real messages to mutate. */
let messages: Uint8Array[] = [];

beforeAll(async () => {
  for (const f of CAPTURES) {
    await forEachDecoded(DNS_DIR + f, (_p, d) => {
      if (d.proto === 17 && d.payloadCaptured > 0) messages.push(Uint8Array.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured)));
    });
  }
  messages = messages.slice(0, 200);
});

/** Checks every row against its table: known columns, values of the column's kind. */
function checkRows(sink: RecordingSink): void {
  const check = (t: TableDef) => {
    for (const row of sink.table(t.name)) {
      for (const col of t.fields) {
        if (!(col.name in row)) continue; // filled in by the real sink
        const v = row[col.name];
        if (v === null) {
          expect(col.nullable, `${t.name}.${col.name} is not nullable`).toBe(true);
          continue;
        }
        switch (col.kind) {
          case 'str': expect(typeof v).toBe('string'); break;
          case 'bool': expect(typeof v).toBe('boolean'); break;
          case 'enum': expect(col.values).toContain(v); break;
          case 'ts': expect(v).toEqual({ sec: expect.any(Number), ns: expect.any(Number) }); break;
          case 'f64': expect(Number.isFinite(v)).toBe(true); break;
          default: {
            const max = { u8: 255, u16: 65535, u32: 2 ** 32 - 1 }[col.kind as 'u8' | 'u16' | 'u32'] ?? 2 ** 53;
            expect(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= max, `${t.name}.${col.name} = ${String(v)}`).toBe(true);
          }
        }
      }
    }
  };
  check(DNS);
  check(DNS_ANSWERS);
  for (const a of sink.anomalies) expect(DNS_ANOMALIES.has(a.name)).toBe(true);
}

function parseAll(b: Uint8Array): void {
  const start = b.length > 3 ? 3 : 0; // a view that does not start at 0
  const msg = parseDnsMessage(b, start, b.length, (name) => expect(DNS_ANOMALIES.has(name)).toBe(true));
  if (b.length - start < 12) expect(msg).toBeNull();
  else expect(msg).not.toBeNull();
}

/** A mutation of a real message: byte flips, truncation, insertion or duplication of a slice. */
const mutated = () =>
  fc.tuple(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 8 })).map(([i, edits]) => {
    let b = Array.from(messages[i % messages.length]);
    for (const [at, v, kind] of edits) {
      const p = b.length === 0 ? 0 : at % b.length;
      if (kind === 0) b[p] = v;
      else if (kind === 1) b = b.slice(0, p);
      else if (kind === 2) b.splice(p, 0, v, 0xc0 | (v & 0x3f), v);
      else b = [...b.slice(0, p), ...b.slice(p, p + v), ...b.slice(p)];
    }
    return Uint8Array.from(b);
  });

/** Messages built from pieces DNS parsing cares about: labels, pointers anywhere, counts, junk. */
const structured = () => {
  const piece = fc.oneof(
    fc.constantFrom([0], [0xc0, 12], [0xc0, 0], [0xc0, 0xff], [0x41, 8, 0xff], [0x3f], [0, 41, 0, 0x10, 0, 0, 0, 0, 0, 0], [0, 1, 0, 1]),
    fc.integer({ min: 0, max: 0x3fff }).map((o) => [0xc0 | (o >> 8), o & 255]),
    fc.uint8Array({ minLength: 0, maxLength: 63 }).map((l) => [l.length, ...l]),
    fc.tuple(fc.constantFrom(1, 2, 5, 6, 12, 13, 15, 16, 28, 33, 35, 39, 41, 43, 44, 46, 47, 48, 50, 51, 64, 65, 257, 999), fc.uint8Array({ maxLength: 40 })).map(([t, d]) => [0xc0, 12, t >> 8, t & 255, 0, 1, 0, 0, 1, 0, d.length >> 8, d.length & 255, ...d]),
    fc.uint8Array({ maxLength: 8 }).map((a) => Array.from(a)),
  );
  return fc.tuple(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 0xffff }), fc.array(piece, { maxLength: 30 })).map(([counts, flags, pieces]) =>
    Uint8Array.from([0x12, 0x34, flags >> 8, flags & 255, ...counts.flatMap((c) => [0, c]), ...pieces.flat()]),
  );
};

describe('parseDnsMessage never throws', () => {
  it('on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => parseAll(b)), { seed: SEED, numRuns: 3000 });
  });

  it('on structured random messages (labels, pointers, records)', () => {
    fc.assert(fc.property(structured(), (b) => parseAll(b)), { seed: SEED, numRuns: 4000 });
  });

  it('on mutated real messages', () => {
    expect(messages.length).toBeGreaterThan(50);
    fc.assert(fc.property(mutated(), (b) => parseAll(b)), { seed: SEED, numRuns: 4000 });
  });

  it('on every real message cut at every length', () => {
    for (const m of messages.slice(0, 40)) for (let n = 0; n <= m.length; n++) parseAll(m.subarray(0, n));
  });
});

describe('createDnsUdp', () => {
  it('mixed real, mutated and random datagrams in both directions: no throw, rows match their tables', () => {
    const datagram = fc.oneof(mutated(), structured(), fc.uint8Array({ maxLength: 100 }), fc.nat().map((i) => messages[i % messages.length]));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), datagram), { maxLength: 30 }), (list) => {
        const sink = new RecordingSink('udp');
        const p = createDnsUdp(sink);
        list.forEach(([toServer, b], i) => {
          sink.at(1000 + i, i * 1000, i + 1);
          p.datagram(toServer ? 0 : 1, b, 0, b.length);
        });
        p.end();
        checkRows(sink);
      }),
      { seed: SEED, numRuns: 600 },
    );
  });
});

const framed = (b: Uint8Array): number[] => [b.length >> 8, b.length & 255, ...b];

/** Feeds [dir, bytes] entries in order, each split at the given cut points. */
function feedTcp(entries: [0 | 1, Uint8Array][], cuts: number[][] | null): RecordingSink {
  const sink = new RecordingSink('tcp');
  const p = createDnsTcp(sink);
  entries.forEach(([dir, b], i) => {
    const points = cuts === null ? [] : [...new Set(cuts[i].map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
    let from = 0;
    for (const to of [...points, b.length]) {
      if (to > from) {
        // Each piece in its own reused buffer (as the reassembler hands them over).
        const piece = new Uint8Array(to - from + 4);
        piece.set(b.subarray(from, to), 2);
        p.data(dir, piece, 2, 2 + to - from);
        piece.fill(0xaa);
      }
      from = to;
    }
  });
  p.end();
  return sink;
}

describe('createDnsTcp', () => {
  /** A direction's bytes: framed real or random messages, odd length prefixes, junk. */
  const chunk = fc.oneof(
    fc.nat().map((i) => framed(messages[i % messages.length])),
    mutated().map((m) => framed(m)),
    structured().map((m) => framed(m)),
    fc.constantFrom([0, 0], [0, 5, 1, 2], [0xff]),
    fc.uint8Array({ maxLength: 20 }).map((a) => Array.from(a)),
  );
  const script = fc.array(fc.tuple(fc.constantFrom<0 | 1>(0, 1), fc.array(chunk, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 })), { minLength: 1, maxLength: 8 });

  it('random splits (1-byte pieces included) give the same rows and anomalies as whole calls', () => {
    fc.assert(
      fc.property(script, fc.boolean(), (entries, bytewise) => {
        const list = entries.map(([dir, chunks]) => [dir, Uint8Array.from(chunks.flat())] as [0 | 1, Uint8Array]);
        const whole = feedTcp(list, null);
        const cuts = entries.map(([, , c], i) => (bytewise ? Array.from({ length: list[i][1].length }, (_, k) => k) : c));
        const split = feedTcp(list, cuts);
        expect(split.rows).toEqual(whole.rows);
        expect(split.anomalies).toEqual(whole.anomalies);
        expect(split.services).toEqual(whole.services);
        checkRows(whole);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('gaps at random points never throw, and a direction ignores everything after its gap', () => {
    fc.assert(
      fc.property(script, fc.array(fc.tuple(fc.nat(), fc.constantFrom<0 | 1>(0, 1)), { maxLength: 3 }), (entries, gaps) => {
        const sink = new RecordingSink('tcp');
        const p = createDnsTcp(sink);
        entries.forEach(([dir, chunks], i) => {
          for (const [at, gdir] of gaps) if (at % entries.length === i) p.gap(gdir, 10);
          const b = Uint8Array.from(chunks.flat());
          p.data(dir, b, 0, b.length);
        });
        p.end();
        checkRows(sink);
        if (gaps.some(([, d]) => d === 0) && gaps.some(([, d]) => d === 1)) expect(p.done).toBe(true);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });
});

describe('record owner names', () => {
  it('a pointer to the question (offset 12) reads as the same name as the labels written out', () => {
    // parseDnsMessage reuses the question's text for owners that point to it; the labels written
    // out in full go through the name reader: both must give the same names and anomalies
    const label = fc.uint8Array({ minLength: 1, maxLength: 63 });
    fc.assert(
      fc.property(fc.array(label, { minLength: 0, maxLength: 6 }), fc.integer({ min: 1, max: 4 }), (labels, n) => {
        const wire = [...labels.flatMap((l) => [l.length, ...l]), 0];
        const header = (an: number) => [0x12, 0x34, 0x81, 0x80, 0, 1, 0, an, 0, 0, 0, 0];
        const rr = (owner: number[]) => [...owner, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1];
        const make = (owner: number[]) => Uint8Array.from([...header(n), ...wire, 0, 1, 0, 1, ...Array.from({ length: n }, () => rr(owner)).flat()]);
        const parse = (b: Uint8Array) => {
          const anomalies: string[] = [];
          const m = parseDnsMessage(b, 0, b.length, (name, detail) => anomalies.push(`${name}: ${detail}`));
          return { names: m?.records.map((r) => r.name), question: m?.questions[0]?.name, complete: m?.complete, anomalies };
        };
        const viaPointer = parse(make([0xc0, 12]));
        const spelled = parse(make(wire));
        expect(viaPointer.names).toEqual(spelled.names);
        expect(viaPointer.complete).toBe(spelled.complete);
        if (viaPointer.names && viaPointer.names.length > 0) expect(viaPointer.names[0]).toBe(viaPointer.question);
        // a pointer into the question past its first label is that suffix, not the question
        if (labels.length > 0) {
          const suffix = parse(make([0xc0, 12 + 1 + labels[0].length]));
          expect(suffix.names).toEqual(parse(make(wire.slice(1 + labels[0].length))).names);
        }
        // the anomalies name the record; their problems are the same
        expect(viaPointer.anomalies.map((a) => a.replace(/: .*: /, ': '))).toEqual(spelled.anomalies.map((a) => a.replace(/: .*: /, ': ')));
      }),
      { seed: SEED, numRuns: 500 },
    );
  });
});
