/**
 * Properties of the clear-text login parsers (FTP, POP3, IMAP, SMTP, Telnet) and the detector:
 * random bytes, protocol-fragment soup and mutated real sessions never throw, give only
 * well-formed credential rows and leave the parser done after end(); feeding the same streams
 * split at any points (1-byte pieces included), with the same gaps, gives exactly the same rows,
 * anomalies, services and done state as feeding them whole; a few MiB of junk is read quickly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CREDENTIALS, CREDENTIAL_SERVICE_VALUES } from '../../common/fields.js';
import { ANOMALY_NAMES } from '../../common/anomalies.js';
import { createFtp, createImap, createPop3, createSmtp, createTelnet, detectCleartext } from '../../engine/app/cleartext.js';
import type { AppSink, Dir, StreamParser } from '../../engine/app/types.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { tcpConnections } from '../helpers/capture.js';

const PCAPS = new URL('../../../shared/pcaps/', import.meta.url).pathname;
const SEED = 20250314;
const RUNS = 300;

type Factory = (sink: AppSink) => StreamParser;
const PARSERS: [string, Factory][] = [
  ['ftp', createFtp],
  ['pop3', createPop3],
  ['imap', createImap],
  ['smtp', createSmtp],
  ['telnet', createTelnet],
];

interface Seg {
  dir: Dir;
  bytes: Uint8Array;
}

/** TCP payloads of every connection to `port` with any payload, in packet order. */
async function connections(rel: string, port: number): Promise<Seg[][]> {
  const conns = await tcpConnections(PCAPS + rel, { serverPort: port });
  return conns.map((c) => c.segments.map((g) => ({ dir: g.dir, bytes: Uint8Array.from(g.bytes) }))).filter((s) => s.length > 0);
}

const seg = (dir: Dir, s: string): Seg => ({ dir, bytes: Buffer.from(s, 'latin1') });
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Hand-built sessions for the protocols the public captures have no logins of (IMAP, Telnet). */
const BUILT: Record<string, Seg[]> = {
  imap: [
    seg(1, '* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n'),
    seg(0, 'a1 LOGIN "jo \\"hn\\"" {4}\r\n'),
    seg(1, '+ go ahead\r\n'),
    seg(0, 'p\r\nw\r\n'),
    seg(1, '* 1 FETCH (BODY[] {12}\r\na1 OK fake\r\n)\r\na1 NO bad\r\n'),
    seg(0, `a2 AUTHENTICATE PLAIN\r\n`),
    seg(1, '+ \r\n'),
    seg(0, `${b64('\0jo\0pw2')}\r\n`),
    seg(1, 'a2 NO again\r\n'),
    seg(0, 'a3 APPEND x {5+}\r\nab\r\nc\r\na4 LOGIN jo pw3\r\n'),
    seg(1, 'a3 OK\r\na4 OK welcome\r\n'),
  ],
  telnet: [
    seg(1, '\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27'),
    seg(0, '\xff\xfb\x18\xff\xfb\x20\xff\xfa\x18\x00XTERM\xff\xf0'),
    seg(1, 'Debian GNU/Linux 12\r\nhost login: '),
    ...[...'adm\x7fmin\r'].flatMap((c) => [seg(0, c), seg(1, c === '\r' ? '\r\n' : c)]),
    seg(1, 'Password: '),
    ...[...'s3cr\xff\xffet\r\0'].map((c) => seg(0, c)),
    seg(1, '\r\nLogin incorrect\r\nhost login: '),
    seg(0, 'admin\r\n'),
    seg(1, 'admin\r\nPassword: '),
    seg(0, 'right\r\n'),
    seg(1, '\r\nLast login: Tue\r\nadmin@host:~$ '),
    seg(0, 'ls\r\n'),
  ],
};

const REAL: Record<string, Seg[][]> = {};

beforeAll(async () => {
  REAL.ftp = [
    ...(await connections('protocols/ftp/zeek_ftp_ipv4.pcap', 21)),
    ...(await connections('protocols/ftp/ndpi_ftp_failed.pcap', 21)),
    ...(await connections('attacks/bruteforce/zeek_ftp-bruteforce.pcap', 21)).slice(0, 2),
  ];
  REAL.pop3 = (await connections('reference/zeek/zeek_pop3.pcap', 110)).filter((c) => c.length > 6);
  REAL.smtp = [...(await connections('protocols/smtp/zeek_smtp.pcap', 25)), ...(await connections('protocols/smtp/arkime_smtp-data-250.pcap', 587))];
  REAL.imap = [...(await connections('reference/arkime/arkime_arkime_synthetic.pcap', 143)), BUILT.imap];
  REAL.telnet = [...(await connections('protocols/vlan/zeek_mixed-vlan-mpls.pcap', 23)), BUILT.telnet];
  for (const [name] of PARSERS) expect(REAL[name].length, name).toBeGreaterThan(0);
});

interface Outcome {
  rows: Record<string, unknown>[];
  anomalies: { name: string; detail?: string }[];
  services: string[];
  done: boolean;
}

/**
 * Feeds segments, each cut at the given fractions of its length (or into 1-byte pieces), with a
 * gap of `gapLen` bytes before the segments listed in `gapsBefore`. Every piece is a fresh copy
 * that is overwritten after the call: the parser must keep nothing it was handed.
 */
function feed(make: Factory, segs: Seg[], o: { cuts?: number[][]; bytewise?: boolean; gapsBefore?: Set<number>; gapLen?: number } = {}): Outcome {
  const sink = new RecordingSink();
  const p = make(sink);
  segs.forEach((s, n) => {
    sink.at(1_600_000_000 + n, n, n + 1);
    if (o.gapsBefore?.has(n)) p.gap(s.dir, o.gapLen ?? 7);
    const len = s.bytes.length;
    const points = o.bytewise ? Array.from({ length: len }, (_, i) => i + 1) : [...new Set((o.cuts?.[n] ?? []).map((f) => Math.floor(f * len)))].sort((a, b) => a - b).concat(len);
    let prev = 0;
    for (const c of points) {
      if (c <= prev) continue;
      const piece = Uint8Array.from(s.bytes.subarray(prev, c));
      p.data(s.dir, piece, 0, piece.length);
      piece.fill(0xee);
      prev = c;
    }
  });
  p.end();
  return { rows: sink.table('credentials'), anomalies: sink.anomalies, services: sink.services, done: p.done };
}

const SERVICES: readonly string[] = CREDENTIAL_SERVICE_VALUES;
const COLUMNS = new Set(CREDENTIALS.fields.map((f) => f.name));

function checkOutcome(out: Outcome, service: string): void {
  expect(out.done).toBe(true);
  for (const r of out.rows) {
    for (const k of Object.keys(r)) expect(COLUMNS.has(k), k).toBe(true);
    expect(r.service).toBe(service);
    expect(SERVICES).toContain(r.service);
    expect(r.username === null || typeof r.username === 'string').toBe(true);
    expect(r.password === null || typeof r.password === 'string').toBe(true);
    expect(r.username !== null || r.password !== null).toBe(true);
    expect(r.success === null || typeof r.success === 'boolean').toBe(true);
    expect(Number.isInteger(r.packet_no)).toBe(true);
    const ts = r.ts as { sec: number; ns: number };
    expect(Number.isInteger(ts.sec) && Number.isInteger(ts.ns)).toBe(true);
  }
  for (const a of out.anomalies) expect(a.name in ANOMALY_NAMES).toBe(true);
  expect(out.services.length).toBeLessThanOrEqual(1);
  if (out.services.length) expect(out.services[0]).toBe(service);
}

const cutsArb = (n: number) => fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), { minLength: n, maxLength: n });

describe('split invariance on real and built sessions', () => {
  for (const [name, make] of PARSERS) {
    it(`${name}: any cut points and 1-byte pieces give the same result as whole segments`, () => {
      for (const segs of REAL[name]) {
        const whole = feed(make, segs);
        checkOutcome(whole, name);
        expect(feed(make, segs, { bytewise: true })).toEqual(whole);
      }
      fc.assert(
        fc.property(fc.nat(REAL[name].length - 1), fc.integer(), (k, salt) => {
          const segs = REAL[name][k];
          return fc.assert(
            fc.property(cutsArb(segs.length), (cuts) => {
              expect(feed(make, segs, { cuts })).toEqual(feed(make, segs));
            }),
            { seed: SEED + salt, numRuns: 5 },
          ) === undefined;
        }),
        { seed: SEED, numRuns: 20 },
      );
    });

    it(`${name}: gaps at the same places give the same result however the bytes are cut`, () => {
      fc.assert(
        fc.property(fc.nat(REAL[name].length - 1), fc.array(fc.nat(40), { maxLength: 3 }), fc.integer({ min: 1, max: 5000 }), fc.integer(), (k, gapIdx, gapLen, salt) => {
          const segs = REAL[name][k];
          const gapsBefore = new Set(gapIdx.filter((i) => i < segs.length));
          const whole = feed(make, segs, { gapsBefore, gapLen });
          checkOutcome(whole, name);
          fc.assert(
            fc.property(cutsArb(segs.length), (cuts) => {
              expect(feed(make, segs, { cuts, gapsBefore, gapLen })).toEqual(whole);
            }),
            { seed: SEED + salt, numRuns: 3 },
          );
        }),
        { seed: SEED + 1, numRuns: 20 },
      );
    });
  }
});

/** Pieces of the protocols, so that random streams reach deep states (SASL, literals, IAC, prompts). */
const FRAGMENTS = [
  'USER a\r\n', 'PASS b\r\n', 'ACCT c\r\n', 'AUTH TLS\r\n', '220 FTP\r\n', '220-x\r\n', '230 ok\r\n', '331 p\r\n', '332 a\r\n', '530 no\r\n', '234 tls\r\n', '150 x\r\n',
  '+OK\r\n', '-ERR\r\n', '+ \r\n', '+\r\n', 'APOP u d\r\n', 'AUTH PLAIN\r\n', `AUTH PLAIN ${b64('\0u\0p')}\r\n`, 'AUTH LOGIN\r\n', 'AUTH CRAM-MD5\r\n', `${b64('\0x\0y')}\r\n`, `${b64('user')}\r\n`, '*\r\n', 'STLS\r\n', 'CAPA\r\n',
  '* OK\r\n', '* PREAUTH\r\n', 'a LOGIN u p\r\n', 'a LOGIN {3}\r\n', 'b LOGIN {2+}\r\n', '{0}\r\n', 'x APPEND m {4+}\r\n', 'a OK\r\n', 'a NO\r\n', 'b BAD\r\n', 'c AUTHENTICATE PLAIN\r\n', 'c AUTHENTICATE LOGIN\r\n', '* 1 FETCH {3}\r\n', '"q\\"x"', ' ', 'STARTTLS\r\n',
  'EHLO h\r\n', '250-x\r\n', '250 y\r\n', '334 VXNlcm5hbWU6\r\n', '334 UGFzc3dvcmQ6\r\n', '235 ok\r\n', '535 no\r\n', 'DATA\r\n', '220 ESMTP\r\n',
  '\xff\xfd\x01', '\xff\xff', '\xff\xfa\x18\x00x', '\xff\xf0', '\xff', 'login: ', 'Password: ', 'Username:', 'x\x08\x7f\x15', '\r\0', '\r', '\n', '$ ', 'Last login\r\n', 'Login incorrect\r\n',
];

const soupArb = fc.array(fc.record({ dir: fc.constantFrom<Dir>(0, 1), parts: fc.array(fc.oneof(fc.constantFrom(...FRAGMENTS), fc.string({ maxLength: 6 })), { minLength: 1, maxLength: 8 }) }), { minLength: 1, maxLength: 24 })
  .map((xs) => xs.map((x) => seg(x.dir, x.parts.join(''))));

describe('protocol soup', () => {
  for (const [name, make] of PARSERS) {
    it(`${name}: never throws, well-formed rows, split invariant (incl. 1-byte pieces and gaps)`, () => {
      fc.assert(
        fc.property(soupArb, fc.array(fc.nat(30), { maxLength: 2 }), fc.boolean(), fc.integer(), (segs, gaps, bytewise, salt) => {
          const gapsBefore = new Set(gaps);
          const whole = feed(make, segs, { gapsBefore });
          checkOutcome(whole, name);
          if (bytewise) expect(feed(make, segs, { bytewise, gapsBefore })).toEqual(whole);
          else {
            const cuts = fc.sample(cutsArb(segs.length), { seed: salt, numRuns: 1 })[0];
            expect(feed(make, segs, { cuts, gapsBefore })).toEqual(whole);
          }
        }),
        { seed: SEED + 2, numRuns: RUNS * 2 },
      );
    });
  }
});

describe('random and mutated bytes', () => {
  for (const [name, make] of PARSERS) {
    it(`${name}: random bytes never throw`, () => {
      fc.assert(
        fc.property(fc.array(fc.record({ dir: fc.constantFrom<Dir>(0, 1), bytes: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 20 }), (segs) => {
          checkOutcome(feed(make, segs), name);
        }),
        { seed: SEED + 3, numRuns: RUNS },
      );
    });

    it(`${name}: mutated real sessions never throw and stay split invariant`, () => {
      const mutation = fc.record({ seg: fc.nat(), at: fc.nat(), kind: fc.constantFrom('flip', 'insert', 'delete', 'crlf', 'ff'), byte: fc.integer({ min: 0, max: 255 }) });
      fc.assert(
        fc.property(fc.nat(REAL[name].length - 1), fc.array(mutation, { minLength: 1, maxLength: 8 }), fc.integer(), (k, muts, salt) => {
          const segs = REAL[name][k].map((s) => ({ dir: s.dir, bytes: Uint8Array.from(s.bytes) }));
          for (const m of muts) {
            const s = segs[m.seg % segs.length];
            const b = s.bytes;
            const at = b.length ? m.at % b.length : 0;
            if (m.kind === 'flip' && b.length) b[at] = m.byte;
            else if (m.kind === 'insert') s.bytes = Uint8Array.from([...b.subarray(0, at), m.byte, ...b.subarray(at)]);
            else if (m.kind === 'delete' && b.length) s.bytes = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
            else if (m.kind === 'crlf') s.bytes = Uint8Array.from([...b.subarray(0, at), 13, 10, ...b.subarray(at)]);
            else if (m.kind === 'ff') s.bytes = Uint8Array.from([...b.subarray(0, at), 0xff, m.byte, ...b.subarray(at)]);
          }
          const whole = feed(make, segs);
          checkOutcome(whole, name);
          const cuts = fc.sample(cutsArb(segs.length), { seed: salt, numRuns: 1 })[0];
          expect(feed(make, segs, { cuts })).toEqual(whole);
        }),
        { seed: SEED + 4, numRuns: RUNS },
      );
    });
  }

  it('detectCleartext: random bytes, any offsets, never throws and names only known protocols', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), fc.constantFrom<Dir>(0, 1), fc.option(fc.uint8Array({ maxLength: 40 })), (b, x, y, dir, srv) => {
        const s = b.length ? x % b.length : 0;
        const e = s + (b.length - s ? y % (b.length - s + 1) : 0);
        const r = detectCleartext(dir, b, s, e, srv ?? undefined);
        expect([null, 'ftp', 'pop3', 'imap', 'smtp', 'telnet']).toContain(r);
      }),
      { seed: SEED + 5, numRuns: RUNS * 4 },
    );
  });
});

describe('cost', () => {
  it('4 MiB of random bytes and of one endless line per parser: bounded anomalies, no hang', () => {
    const junk = new Uint8Array(4 << 20);
    let x = 12345;
    for (let i = 0; i < junk.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      junk[i] = x >>> 24;
    }
    const line = new Uint8Array(4 << 20).fill(0x61);
    for (const [name, make] of PARSERS) {
      for (const data of [junk, line]) {
        const sink = new RecordingSink();
        const p = make(sink);
        const t = performance.now();
        for (let off = 0; off < data.length && !p.done; off += 65536) p.data((off >> 16) & 1 ? 1 : 0, data, off, Math.min(data.length, off + 65536));
        p.end();
        expect(performance.now() - t, name).toBeLessThan(3000);
        expect(sink.anomalies.length, name).toBeLessThanOrEqual(16);
      }
    }
  });
});
