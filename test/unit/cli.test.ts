/**
 * The command line (cli/main.ts): analyze (JSON summary, sha256, exit codes, records), query
 * (formats, read-only, password masking), packets (re-read a flow's packets and write them),
 * stream (follow a TCP connection: text, hex, raw, json pages), schema, usage errors.
 * (frames of the fixture: 1-3 handshake, 4-5 DNS, 6 request, 7 response, 8-9 close)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { main } from '../../cli/main.js';
import { analyze } from '../../engine/ingest/analyze.js';
import { openCapture } from '../../engine/readers/open.js';
import { F, Ng, eth, ipv4, pcapFile, readAll, sll, tcp, udp, type PcapRecord } from '../fixtures/build.js';

interface Run {
  code: number;
  out: string;
  err: string;
}

async function cli(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s), isTTY: false });
  return { code, out, err };
}

let tmp = '';
let good = '';
let goodBytes: Buffer;
let tcpFrames: Buffer[] = [];
let caseDir = '';

const T0 = 1_700_000_000;

/** A TCP conversation (10.0.0.1:40000 -> 10.0.0.2:80, 7 packets) interleaved with a DNS exchange. */
function buildGood(): { bytes: Buffer; tcpFrames: Buffer[] } {
  const c = { src: '10.0.0.1', dst: '10.0.0.2' };
  const s = { src: '10.0.0.2', dst: '10.0.0.1' };
  const t = (o: { src: string; dst: string }, fromC: boolean, flags: number, seq: number, ack: number, payload = '') =>
    eth(ipv4(tcp(Buffer.from(payload, 'latin1'), { sport: fromC ? 40000 : 80, dport: fromC ? 80 : 40000, flags, seq, ack }), o));
  const frames = [
    t(c, true, F.SYN, 100, 0),
    t(s, false, F.SYN | F.ACK, 900, 101),
    t(c, true, F.ACK, 101, 901),
    t(c, true, F.PSH | F.ACK, 101, 901, 'GET /ab HTTP/1.0\r\n\r\n'), // 20 bytes
    t(s, false, F.PSH | F.ACK, 901, 121, 'HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world'), // 50 bytes
    t(c, true, F.FIN | F.ACK, 121, 951),
    t(s, false, F.FIN | F.ACK, 951, 122),
  ];
  // a 30-byte query for examples.com A and its 90-byte answer (two A records and one AAAA)
  const question = Buffer.from('08' + Buffer.from('examples').toString('hex') + '03' + Buffer.from('com').toString('hex') + '00' + '00010001', 'hex');
  const rr = (type: number, rdata: string) => Buffer.from('c00c' + type.toString(16).padStart(4, '0') + '0001' + '0000012c' + (rdata.length / 2).toString(16).padStart(4, '0') + rdata, 'hex');
  const q = Buffer.concat([Buffer.from('abcd01000001000000000000', 'hex'), question]);
  const a = Buffer.concat([Buffer.from('abcd81800001000300000000', 'hex'), question, rr(1, '5db8d822'), rr(1, '5db8d823'), rr(28, '26062800022000010248189325c81946')]);
  const dnsQ = eth(ipv4(udp(q, { sport: 5555, dport: 53 }), { src: '10.0.0.1', dst: '8.8.8.8', proto: 17 }));
  const dnsR = eth(ipv4(udp(a, { sport: 53, dport: 5555 }), { src: '8.8.8.8', dst: '10.0.0.1', proto: 17 }));
  const recs: PcapRecord[] = [];
  frames.forEach((f, i) => {
    recs.push({ tsSec: T0 + i, tsFrac: 1000 * i, data: f });
    if (i === 2) recs.push({ tsSec: T0 + i, tsFrac: 500_000, data: dnsQ }, { tsSec: T0 + i, tsFrac: 600_000, data: dnsR });
  });
  return { bytes: pcapFile({}, recs), tcpFrames: frames };
}

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'instacap-cli-'));
  const g = buildGood();
  goodBytes = g.bytes;
  tcpFrames = g.tcpFrames;
  good = join(tmp, 'good.pcap');
  writeFileSync(good, goodBytes);
  caseDir = join(tmp, 'case-good');
  const r = await cli('analyze', good, '--case', caseDir, '--json');
  expect(r.code).toBe(0);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('instacap analyze', () => {
  it('--json prints one JSON object: evidence sha256, packets, totals; exit 0', async () => {
    const dir = join(tmp, 'case-json');
    const r = await cli('analyze', good, '--case', dir, '--json');
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines.length).toBe(1);
    const j = JSON.parse(lines[0]);
    expect(j.status).toBe('complete');
    expect(j.evidence.length).toBe(1);
    const ev = j.evidence[0];
    expect(ev.sha256).toBe(createHash('sha256').update(readFileSync(good)).digest('hex'));
    expect([ev.path, ev.size, ev.format, ev.packets, ev.bytes, ev.status, ev.message]).toEqual([good, goodBytes.length, 'pcap', 9, goodBytes.length - 24 - 9 * 16, 'complete', null]);
    expect(ev.link_types).toEqual(['ETHERNET']);
    expect(ev.first_ts).toBeCloseTo(T0, 6);
    expect(ev.last_ts).toBeCloseTo(T0 + 6.006, 6);
    expect(j.totals).toEqual({ packets: 9, bytes: goodBytes.length - 24 - 9 * 16, flows: 2, anomalies: 0, records: { dns: 1, dns_answers: 3, http: 1 } });
    expect(j.errors).toEqual([]);
    expect(r.err).toBe('');
  });

  it('text summary without --json', async () => {
    const r = await cli('analyze', good, '--case', join(tmp, 'case-text'));
    expect(r.code).toBe(0);
    expect(r.out).toContain(`sha256  ${createHash('sha256').update(goodBytes).digest('hex')}`);
    expect(r.out).toMatch(/complete: 9 packets, 2 flows, 0 anomalies/);
  });

  it('a truncated capture: exit 3, partial, the reading problem with its offset', async () => {
    const p = join(tmp, 'trunc.pcap');
    writeFileSync(p, goodBytes.subarray(0, goodBytes.length - 10));
    const r = await cli('analyze', p, '--case', join(tmp, 'case-trunc'), '--json');
    expect(r.code).toBe(3);
    const j = JSON.parse(r.out);
    expect(j.status).toBe('partial');
    expect(j.evidence[0].status).toBe('partial');
    expect(j.evidence[0].packets).toBe(8);
    expect(j.evidence[0].message).toMatch(/^pcap_truncated_record: .*offset \d+/);
    expect(r.err).toContain('partial');
  });

  it('only a missing file: exit 1 and the reason on stderr', async () => {
    const missing = join(tmp, 'nope.pcap');
    const r = await cli('analyze', missing, '--case', join(tmp, 'case-missing'), '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).status).toBe('failed');
    expect(r.err).toContain(`${missing}: cannot open: ENOENT`);
  });

  it('only a non-capture file: exit 1, NotACapture message naming the file', async () => {
    const txt = join(tmp, 'notes.txt');
    writeFileSync(txt, 'hello, not a capture');
    const r = await cli('analyze', txt, '--case', join(tmp, 'case-txt'), '--json');
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${txt}: not a pcap or pcapng capture`);
  });

  // BUG: a .gz capture whose gzip trailer is cut is ingested as 'complete' with 0 packets and exit 0:
  // GzipSource.refill() drops the inflated data when the stream fails, and PcapReader then resets
  // `partial` (see test/unit/readers.test.ts). Expected: the packets, status partial, exit 3.
  it('BUG: a truncated .gz capture keeps its packets and exits 3', async () => {
    const z = gzipSync(goodBytes);
    const p = join(tmp, 'trunc.pcap.gz');
    writeFileSync(p, z.subarray(0, z.length - 4));
    const r = await cli('analyze', p, '--case', join(tmp, 'case-trunc-gz'), '--json');
    const j = JSON.parse(r.out);
    expect([r.code, j.status, j.evidence[0].format, j.totals.packets]).toEqual([3, 'partial', 'pcap+gzip', 9]);
  });

  it('a gzip-compressed capture ingests like the plain one (sha256 of the compressed bytes)', async () => {
    const z = gzipSync(goodBytes);
    const p = join(tmp, 'good.pcap.gz');
    writeFileSync(p, z);
    const r = await cli('analyze', p, '--case', join(tmp, 'case-gz'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect([j.evidence[0].format, j.evidence[0].sha256, j.totals.packets, j.totals.flows]).toEqual(['pcap+gzip', createHash('sha256').update(z).digest('hex'), 9, 2]);
  });

  it('a good file plus a missing one: exit 3 (partial), the good one ingested', async () => {
    const r = await cli('analyze', good, join(tmp, 'gone.pcap'), '--case', join(tmp, 'case-mixed'), '--json');
    expect(r.code).toBe(3);
    const j = JSON.parse(r.out);
    expect([j.status, j.totals.packets, j.errors.length]).toEqual(['partial', 9, 1]);
  });

  it('usage errors exit 2', async () => {
    const dir = join(tmp, 'case-usage');
    for (const argv of [
      [],
      ['bogus'],
      ['analyze'],
      ['analyze', '--case', dir],
      ['analyze', good],
      ['analyze', good, '--case', dir, '--nope'],
      ['query', '--case', caseDir],
      ['query', 'SELECT 1'],
      ['query', '--case', caseDir, 'SELECT 1', '--format', 'xml'],
      ['packets', '--case', caseDir],
      ['packets', '--uid', 'Cabcdef123'],
    ]) {
      const r = await cli(...argv);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.out + r.err, argv.join(' ')).toContain('usage:');
    }
    const help = await cli('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('instacap analyze FILE...');
  });
});

describe('instacap query', () => {
  it('--format json: JSON lines with the flows Zeek-style', async () => {
    const r = await cli('query', '--case', caseDir, 'SELECT proto, orig_h, orig_p, resp_h, resp_p, conn_state, history, orig_bytes, resp_bytes, orig_pkts, resp_pkts FROM flows ORDER BY proto', '--format', 'json');
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.proto, x.orig_h, x.orig_p, x.resp_h, x.resp_p, x.conn_state, x.history, Number(x.orig_bytes), Number(x.resp_bytes), Number(x.orig_pkts), Number(x.resp_pkts)])).toEqual([
      ['tcp', '10.0.0.1', 40000, '10.0.0.2', 80, 'SF', 'ShADdFf', 20, 50, 4, 3],
      ['udp', '10.0.0.1', 5555, '8.8.8.8', 53, 'SF', 'Dd', 30, 90, 1, 1],
    ]);
  });

  it('--format csv: header and rows, RFC 4180 quoting', async () => {
    const r = await cli('query', '--case', caseDir, `SELECT proto, 'a,"b"' AS odd, count(*) AS n FROM flows GROUP BY proto ORDER BY proto`, '--format', 'csv');
    expect(r.code).toBe(0);
    expect(r.out).toBe('proto,odd,n\ntcp,"a,""b""",1\nudp,"a,""b""",1\n');
  });

  it('--format table (default): aligned columns and a row count', async () => {
    const r = await cli('query', '--case', caseDir, 'SELECT packet_no, caplen FROM packets ORDER BY packet_no LIMIT 3');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^packet_no\s+caplen$/);
    expect(lines[1]).toMatch(/^-+\s+-+$/);
    expect(lines.slice(2, 5).map((l) => l.trim().split(/\s+/).map(Number))).toEqual([
      [1, 54],
      [2, 54],
      [3, 54],
    ]);
    expect(lines[5]).toBe('(3 rows)');
  });

  it('is read-only: an INSERT fails (exit 1) and changes nothing', async () => {
    const before = await cli('query', '--case', caseDir, 'SELECT count(*) AS n FROM case_meta', '--format', 'json');
    const r = await cli('query', '--case', caseDir, "INSERT INTO case_meta VALUES ('x', 'y')");
    expect(r.code).toBe(1);
    expect(r.err.toLowerCase()).toContain('read-only');
    const after = await cli('query', '--case', caseDir, 'SELECT count(*) AS n FROM case_meta', '--format', 'json');
    expect(after.out).toBe(before.out);
    const del = await cli('query', '--case', caseDir, 'DELETE FROM flows');
    expect(del.code).toBe(1);
  });

  it('a query on a directory without a case fails with exit 1', async () => {
    const r = await cli('query', '--case', join(tmp, 'no-case-here'), 'SELECT 1');
    expect(r.code).toBe(1);
    expect(r.err).toContain('no case at');
  });
});

describe('instacap packets', () => {
  async function uidOf(dir: string, proto: string): Promise<string> {
    const r = await cli('query', '--case', dir, `SELECT uid FROM flows WHERE proto = '${proto}'`, '--format', 'json');
    expect(r.code).toBe(0);
    return JSON.parse(r.out.trim()).uid;
  }

  it('--uid U -w out.pcap writes exactly the flow packets (bytes and times), re-readable', async () => {
    const uid = await uidOf(caseDir, 'tcp');
    expect(uid).toMatch(/^C[0-9A-Za-z]{6,24}$/);
    const out = join(tmp, 'flow.pcap');
    const r = await cli('packets', '--case', caseDir, '--uid', uid, '-w', out);
    expect(r.code).toBe(0);
    expect(r.err).toContain('wrote 7 packets');
    const rd = await openCapture(out);
    try {
      const res = await readAll(rd);
      expect(res.packets.map((p) => p.data.toString('hex'))).toEqual(tcpFrames.map((f) => f.toString('hex')));
      expect(res.packets.map((p) => [p.tsSec, p.tsNs, p.linkType])).toEqual(tcpFrames.map((_, i) => [T0 + i, 1_000_000 * i, 1]));
    } finally {
      await rd.close();
    }
  });

  it('--uid U without -w lists the packets; an unknown or malformed uid fails', async () => {
    const uid = await uidOf(caseDir, 'udp');
    const r = await cli('packets', '--case', caseDir, '--uid', uid);
    expect(r.code).toBe(0);
    expect(r.out).toContain('(2 rows)');
    expect(r.out).toContain('2023-11-14T22:13:22.500000000Z');
    const bad = await cli('packets', '--case', caseDir, '--uid', "C'; DROP TABLE flows; --");
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('is not a flow uid');
    const none = await cli('packets', '--case', caseDir, '--uid', 'Czzzzzzzzzzzz');
    expect(none.code).toBe(1);
    expect(none.err).toContain('no flow with uid');
  });

  // BUG: packets -w on a two-section pcapng: engine/readers/random.ts looks packet blocks of the
  // second section up with their section-local interface id in the case-wide interface list, so the
  // written capture gets the first section's link type (ETHERNET instead of LINUX_SLL) and times
  // decoded with the wrong resolution.
  it('BUG: packets -w on a second pcapng section keeps its link type and timestamps', async () => {
    const a = new Ng(true);
    const ip = ipv4(udp(Buffer.alloc(10), { sport: 7000, dport: 7001 }), { proto: 17, src: '192.168.9.1', dst: '192.168.9.2' });
    const bytes = Buffer.concat([
      a.shb(),
      a.idb(1, 65535, [a.tsresol(9)]),
      a.epb(0, 1_700_000_000_000_000_000n, eth(ipv4(udp(), { proto: 17 }))),
      a.shb(),
      a.idb(113),
      a.epb(0, 1_700_000_001_000_002n, sll(ip)),
    ]);
    const p = join(tmp, 'two-sections.pcapng');
    writeFileSync(p, bytes);
    const dir = join(tmp, 'case-two-sections');
    expect((await cli('analyze', p, '--case', dir)).code).toBe(0);
    const q = await cli('query', '--case', dir, "SELECT uid FROM flows WHERE orig_h = '192.168.9.1'", '--format', 'json');
    const uid = JSON.parse(q.out.trim()).uid;
    const out = join(tmp, 'two-sections-flow.pcap');
    expect((await cli('packets', '--case', dir, '--uid', uid, '-w', out)).code).toBe(0);
    const rd = await openCapture(out);
    try {
      const res = await readAll(rd);
      expect(res.packets.map((x) => [x.linkType, x.tsSec, x.tsNs])).toEqual([[113, 1_700_000_001, 2000]]);
    } finally {
      await rd.close();
    }
  });
});

describe('instacap stream', () => {
  const tcpUid = async () => {
    const r = await cli('query', '--case', caseDir, "select uid from flows where proto = 'tcp'", '--format', 'csv');
    return r.out.trim().split('\n')[1];
  };
  const REQ = 'GET /ab HTTP/1.0\r\n\r\n';
  const RESP = 'HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nhello world';

  it('text: both directions with a marker per turn', async () => {
    const r = await cli('stream', '--case', caseDir, '--uid', await tcpUid());
    expect(r.code).toBe(0);
    expect(r.out).toBe(`client 10.0.0.1:40000  server 10.0.0.2:80\n--- client (frame 6) ---\n${REQ}\n--- server (frame 7) ---\n${RESP}`);
    expect(r.err).toBe('');
  });

  it('raw and --dir: exactly the bytes of one direction or both', async () => {
    const bytes: Buffer[] = [];
    const run = async (...a: string[]) => {
      bytes.length = 0;
      const code = await main(['stream', '--case', caseDir, '--uid', await tcpUid(), '--format', 'raw', ...a], {
        out: () => undefined,
        outBytes: (b) => bytes.push(Buffer.from(b)),
        err: () => undefined,
        isTTY: false,
      });
      expect(code).toBe(0);
      return Buffer.concat(bytes).toString('latin1');
    };
    expect(await run()).toBe(REQ + RESP);
    expect(await run('--dir', 'server')).toBe(RESP);
    expect(await run('--dir', 'client')).toBe(REQ);
  });

  it('json pages with a cursor cover the stream once, in order', async () => {
    const uid = await tcpUid();
    let cursor: string | null = null;
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r: Run = await cli('stream', '--case', caseDir, '--uid', uid, '--format', 'json', '--max-bytes', '10', ...(cursor ? ['--cursor', cursor] : []));
      expect(r.code).toBe(0);
      const page = JSON.parse(r.out);
      for (const c of page.chunks) seen.push(`${c.dir}:${Buffer.from(c.data, 'base64').toString('latin1')}`);
      cursor = page.next;
      if (!cursor) break;
      expect(r.err).toContain('more: --cursor');
    }
    expect(cursor).toBeNull();
    expect(seen).toEqual([`client:${REQ}`, `server:${RESP}`]);
  });

  it('hex: offsets and a tab before server lines, as tshark follow', async () => {
    const r = await cli('stream', '--case', caseDir, '--uid', await tcpUid(), '--format', 'hex', '--dir', 'server');
    expect(r.out.split('\n')[2]).toBe('\t00000000  48 54 54 50 2f 31 2e 30 20 32 30 30 20 4f 4b 0d  HTTP/1.0 200 OK.');
  });

  it('errors: a UDP flow, an unknown uid, a bad cursor, bad options', async () => {
    const udpUid = (await cli('query', '--case', caseDir, "select uid from flows where proto = 'udp'", '--format', 'csv')).out.trim().split('\n')[1];
    const u = await cli('stream', '--case', caseDir, '--uid', udpUid);
    expect([u.code, u.err]).toEqual([1, expect.stringContaining('only TCP streams can be followed')]);
    expect((await cli('stream', '--case', caseDir, '--uid', 'CAAAAAAAAAAAA')).code).toBe(1);
    expect((await cli('stream', '--case', caseDir, '--uid', await tcpUid(), '--cursor', 'xx')).err).toContain('invalid stream cursor');
    expect((await cli('stream', '--case', caseDir, '--uid', await tcpUid(), '--format', 'pdf')).code).toBe(2);
    expect((await cli('stream', '--case', caseDir, '--uid', await tcpUid(), '--max-bytes', '0')).code).toBe(2);
    expect((await cli('stream', '--case', caseDir)).code).toBe(2);
  });
});

describe('instacap objects', () => {
  it('writes each HTTP body de-chunked and decompressed, with the SHA-256 the http table has; never overwrites', async () => {
    const dir = join(tmp, 'case-gzip');
    await analyze({ files: [join(__dirname, '..', '..', '..', 'shared', 'pcaps', 'protocols', 'http', 'arkime_http-content-gzip.pcap')], caseDir: dir });
    const rec = JSON.parse((await cli('query', '--case', dir, 'select uid, response_sha256 from http', '--format', 'json')).out);
    const out = join(tmp, 'objects');
    const r = await cli('objects', '--case', dir, '--uid', rec.uid, '--out', out);
    expect(r.code).toBe(0);
    const list = JSON.parse(readFileSync(join(out, `${rec.uid}-objects.json`), 'utf8'));
    expect(list.map((o: { direction: string; complete: boolean }) => [o.direction, o.complete])).toEqual([['response', true]]);
    const body = readFileSync(join(out, list[0].file));
    // the body was sent gzip-compressed; the file holds the decoded XML
    expect(body.subarray(0, 5).toString()).toBe('<?xml');
    expect(createHash('sha256').update(body).digest('hex')).toBe(rec.response_sha256);
    expect(list[0].sha256).toBe(rec.response_sha256);
    const again = await cli('objects', '--case', dir, '--uid', rec.uid, '--out', out);
    expect([again.code, again.err]).toEqual([1, expect.stringContaining('exists already')]);
    expect((await cli('objects', '--case', dir, '--uid', rec.uid)).code).toBe(2);
  });
});

describe('instacap records', () => {
  it('analyze stores dns and http records and names the services; --no-protocols stores flows only', async () => {
    const dns = await cli('query', '--case', caseDir, 'select query, qtype_name, rcode_name, answers, rtt from dns', '--format', 'json');
    expect(JSON.parse(dns.out)).toEqual({ query: 'examples.com', qtype_name: 'A', rcode_name: 'NOERROR', answers: '93.184.216.34,93.184.216.35,2606:2800:220:1:248:1893:25c8:1946', rtt: 0.1 });
    const http = await cli('query', '--case', caseDir, 'select method, uri, status_code, response_body_len, response_sha256 from http', '--format', 'json');
    expect(JSON.parse(http.out)).toEqual({ method: 'GET', uri: '/ab', status_code: 200, response_body_len: '11', response_sha256: createHash('sha256').update('hello world').digest('hex') });
    const svc = await cli('query', '--case', caseDir, 'select proto::varchar p, service from flows order by p', '--format', 'csv');
    expect(svc.out).toBe('p,service\ntcp,http\nudp,dns\n');
    const flat = join(tmp, 'case-flows-only');
    expect((await cli('analyze', good, '--case', flat, '--no-protocols', '--json')).code).toBe(0);
    const n = await cli('query', '--case', flat, 'select (select count(*) from dns) + (select count(*) from http) as n, count(service) as s from flows', '--format', 'csv');
    expect(n.out).toBe('n,s\n0,0\n');
  });

  it('query masks columns named password unless --show-passwords', async () => {
    const dir = join(tmp, 'case-ftp');
    await analyze({ files: [join(__dirname, '..', '..', '..', 'shared', 'pcaps', 'protocols', 'ftp', 'zeek_ftp_ipv4.pcap')], caseDir: dir });
    const masked = await cli('query', '--case', dir, 'select service::varchar s, username, password from credentials', '--format', 'csv');
    expect(masked.out).toBe('s,username,password\nftp,anonymous,********\n');
    expect(masked.err).toContain('1 password value(s) masked; add --show-passwords');
    const shown = await cli('query', '--case', dir, 'select password from credentials', '--format', 'csv', '--show-passwords');
    // the password as sent: Zeek's ftp.log for this capture shows user anonymous, password test
    expect(shown.out).toBe('password\ntest\n');
    expect(shown.err).toBe('');
  });
});

describe('instacap schema and the anomalies table', () => {
  it('schema lists tables, columns and anomaly names', async () => {
    const r = await cli('schema');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^flows: /m);
    expect(r.out).toMatch(/^\s+conn_state\s/m);
    expect(r.out).toMatch(/^\s+pcap_truncated_record\s+file\s/m);
  });

  it('decoder anomalies are stored with their packet and layer', async () => {
    const frames = [eth(ipv4(tcp(Buffer.alloc(0), { flags: 0 }))), eth(Buffer.alloc(10, 0x45).subarray(0, 10), 0x0800)];
    const p = join(tmp, 'anom.pcap');
    writeFileSync(p, pcapFile({}, frames.map((data, i) => ({ tsSec: T0 + i, tsFrac: 0, data }))));
    const dir = join(tmp, 'case-anom');
    const r = await cli('analyze', p, '--case', dir, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).totals.anomalies).toBe(2);
    const q = await cli('query', '--case', dir, 'SELECT packet_no, name, layer FROM anomalies ORDER BY packet_no', '--format', 'csv');
    expect(q.out).toBe('packet_no,name,layer\n1,tcp_flags_null,tcp\n2,ipv4_truncated_header,ip\n');
  });

  // BUG: PcapngReader reports a spurious 'file_empty' at the end of every pcapng file that fits in
  // one read chunk; analyze stores it, so valid pcapng evidence shows a file_empty anomaly.
  it('BUG: a valid pcapng ingests without a file_empty anomaly', async () => {
    const a = new Ng(true);
    const p = join(tmp, 'valid.pcapng');
    writeFileSync(p, Buffer.concat([a.shb(), a.idb(1), a.epb(0, 1n, eth(ipv4(udp(), { proto: 17 })))]));
    const dir = join(tmp, 'case-valid-ng');
    expect((await cli('analyze', p, '--case', dir)).code).toBe(0);
    const q = await cli('query', '--case', dir, 'SELECT name FROM anomalies', '--format', 'csv');
    expect(q.out).toBe('name\n');
  });

  // BUG: when the flow table is full FlowTracker ends the oldest flow ('evicted'), but no
  // 'flow_table_full' anomaly (declared in common/anomalies.ts) is ever recorded by analyze.
  it('BUG: hitting the flow table limit records a flow_table_full anomaly', async () => {
    const frames = [1, 2, 3].map((i) => eth(ipv4(udp(Buffer.alloc(4), { sport: 1000 + i, dport: 53 }), { proto: 17 })));
    const p = join(tmp, 'many-flows.pcap');
    writeFileSync(p, pcapFile({}, frames.map((data, i) => ({ tsSec: T0 + i, tsFrac: 0, data }))));
    const dir = join(tmp, 'case-many-flows');
    const res = await analyze({ files: [p], caseDir: dir, flowConfig: { maxFlows: 1 } });
    expect(res.totals.flows).toBe(3);
    const q = await cli('query', '--case', dir, "SELECT count(*) AS n FROM anomalies WHERE name = 'flow_table_full'", '--format', 'csv');
    expect(q.out).not.toBe('n\n0\n');
  });
});

describe('instacap as a process', () => {
  it('stops quietly (exit 0, no stack trace) when the reader of its output goes away, as `| head` does', async () => {
    const dir = join(tmp, 'case-epipe');
    await analyze({ files: [join(__dirname, '..', '..', '..', 'shared', 'pcaps', 'reference', 'zeek', 'zeek_wikipedia.pcap')], caseDir: dir });
    const q = await cli('query', '--case', dir, "select uid from flows where proto = 'tcp' order by resp_bytes desc limit 1", '--format', 'csv');
    const uid = q.out.trim().split('\n')[1];
    const run = join(__dirname, '..', '..', 'dist', 'cli', 'run.js');
    // small pages: many writes, with awaits between them
    const child = spawn(process.execPath, [run, 'stream', '--case', dir, '--uid', uid, '--format', 'hex', '--all', '--max-bytes', '64'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    // read one chunk, then close the pipe while the CLI is still writing
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect([code, err]).toEqual([0, '']);
  });
});
