import { describe, expect, it, beforeAll } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { analyze } from '../../engine/ingest/analyze.js';
import { MAX_HASH_WORKERS, sha256File, takeHashWorkerPeak } from '../../engine/ingest/hash.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { followStream } from '../../engine/services/stream.js';
import { DNS } from '../../common/fields.js';
import { eth, ipv4, pcapFile, udp } from '../fixtures/build.js';

const PCAPS = join(__dirname, '..', '..', '..', 'shared', 'pcaps');
const WIKI = join(PCAPS, 'reference', 'zeek', 'zeek_wikipedia.pcap');
const POP3 = join(PCAPS, 'reference', 'zeek', 'zeek_pop3.pcap');

async function q(dir: string, sql: string): Promise<Record<string, unknown>[]> {
  const s = await CaseStore.openReadOnly(dir);
  try {
    return (await s.query(sql)).rows;
  } finally {
    await s.close();
  }
}

beforeAll(() => {
  // the store worker runs compiled code: make sure dist/ is current
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(__dirname, '..', '..', 'tsconfig.build.json')]);
});

describe('ingest', () => {
  it('stores the same case through the store worker and in-process', async () => {
    const a = mkdtempSync(join(tmpdir(), 'ic-a-'));
    const b = mkdtempSync(join(tmpdir(), 'ic-b-'));
    await analyze({ files: [WIKI], caseDir: a });
    await analyze({ files: [WIKI], caseDir: b, inProcessStore: true });
    const sql = `select flow_id, orig_h, orig_p, resp_h, resp_p, proto::varchar p, conn_state::varchar s, history, orig_bytes, resp_bytes,
                        orig_pkts, resp_pkts, orig_l2_addr, first_payloads, orig_len_mean from flows order by flow_id`;
    const ra = await q(a, sql);
    expect(ra.length).toBe(34); // Zeek conn.log for this capture has 34 connections too
    expect(await q(b, sql)).toEqual(ra);
    expect(await q(a, 'select count(*)::int n from packets')).toEqual([{ n: 136 }]);
  });

  it('extends a case: evidence and flow ids continue, uids stay unique', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-ext-'));
    const r1 = await analyze({ files: [WIKI], caseDir: dir });
    const r2 = await analyze({ files: [POP3], caseDir: dir });
    expect(r1.evidence[0].evidence_id).toBe(1);
    expect(r2.evidence[0].evidence_id).toBe(2);
    const ev = await q(dir, 'select evidence_id, packets::int packets, status from evidence order by 1');
    expect(ev).toEqual([
      { evidence_id: 1, packets: 136, status: 'complete' },
      { evidence_id: 2, packets: 125, status: 'complete' },
    ]);
    const ids = await q(dir, 'select count(*)::int n, count(distinct flow_id)::int f, count(distinct uid)::int u, min(flow_id)::int lo, max(flow_id)::int hi from flows');
    expect(ids[0].n).toBe(r1.totals.flows + r2.totals.flows);
    expect(ids[0].f).toBe(ids[0].n);
    expect(ids[0].u).toBe(ids[0].n);
    expect(ids[0].lo).toBe(1);
    expect(ids[0].hi).toBe(ids[0].n);
    // every packet of evidence 2 points at a flow of evidence 2 (or none)
    const bad = await q(dir, 'select count(*)::int n from packets p join flows f using (flow_id) where p.evidence_id <> f.evidence_id');
    expect(bad[0].n).toBe(0);
  });

  it('hashes the evidence and leaves it untouched', async () => {
    const before = statSync(WIKI);
    const sha = createHash('sha256').update(readFileSync(WIKI)).digest('hex');
    const dir = mkdtempSync(join(tmpdir(), 'ic-h-'));
    const r = await analyze({ files: [WIKI], caseDir: dir });
    expect(r.evidence[0].sha256).toBe(sha);
    expect(await q(dir, 'select sha256 from evidence')).toEqual([{ sha256: sha }]);
    const after = statSync(WIKI);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
  });

  it('hashes on a thread of the lowest priority (Linux), so that decoding goes first', async () => {
    const r = await sha256File(WIKI);
    expect(r.sha256).toBe(createHash('sha256').update(readFileSync(WIKI)).digest('hex'));
    if (process.platform === 'linux') expect(r.nice).toBe(19);
    else expect(r.nice).toBeNull();
  });

  it('hashes many files with at most MAX_HASH_WORKERS threads at once, each hash right; a missing file is an error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-h-'));
    const files = Array.from({ length: 7 }, (_, i) => {
      const f = join(dir, `f${i}.bin`);
      writeFileSync(f, Buffer.alloc(100_000 + i * 1000, i + 1));
      return f;
    });
    takeHashWorkerPeak();
    const results = await Promise.all([...files, join(dir, 'missing.bin')].map((f) => sha256File(f).catch((e: Error) => e)));
    expect(takeHashWorkerPeak()).toBeLessThanOrEqual(MAX_HASH_WORKERS);
    files.forEach((f, i) => expect((results[i] as { sha256: string }).sha256).toBe(createHash('sha256').update(readFileSync(f)).digest('hex')));
    expect(results[7]).toBeInstanceOf(Error);
  });

  it('merges several files by time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-m-'));
    // given in reverse time order: pop3 (2013) before wikipedia (2011)
    await analyze({ files: [POP3, WIKI], caseDir: dir });
    const firsts = await q(dir, 'select evidence_id, min(flow_id)::int f from flows group by 1 order by 1');
    // flows are numbered in packet-time order, so the 2011 file's flows come first
    const byEv = Object.fromEntries(firsts.map((r) => [r.evidence_id, r.f]));
    expect(byEv[2]).toBeLessThan(byEv[1] as number);
  });
});

describe('ingest job: progress and abort', () => {
  const BIG = join(PCAPS, 'attacks', 'dos-spoofing', 'stopddos_tcp_synflood_spoofed.pcap'); // 37,841 packets

  it('reports progress while reading', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-p-'));
    const seen: number[] = [];
    const r = await analyze({ files: [BIG], caseDir: dir, progressIntervalMs: 0, onProgress: (p) => seen.push(p.packets) });
    expect(r.status).toBe('complete');
    expect(r.totals.packets).toBe(37841);
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1]);
    expect(seen[seen.length - 1]).toBeLessThanOrEqual(37841);
  });

  it('stops on abort, keeps what was read and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-abort-'));
    const ac = new AbortController();
    const r = await analyze({ files: [BIG], caseDir: dir, signal: ac.signal, progressIntervalMs: 0, onProgress: () => ac.abort() });
    expect(r.status).toBe('partial');
    expect(r.evidence[0].status).toBe('partial');
    expect(r.evidence[0].message).toMatch(/aborted/);
    expect(r.totals.packets).toBeGreaterThan(0);
    expect(r.totals.packets).toBeLessThan(37841);
    const n = await q(dir, 'select count(*)::int n from packets');
    expect(n[0].n).toBe(r.totals.packets);
  });
});

describe('a case that cannot be written', () => {
  // with the parsers on the ingest thread and on their own thread (whose records would wait for the store)
  it.each(['0', '1'])('fails with a message naming the case directory, and the process exits (INSTACAP_APP_THREAD=%s)', (appThread) => {
    const file = join(mkdtempSync(join(tmpdir(), 'ic-nd-')), 'plain-file');
    writeFileSync(file, 'not a directory');
    const cli = join(__dirname, '..', '..', 'dist', 'cli', 'run.js');
    let status = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, [cli, 'analyze', WIKI, '--case', join(file, 'case')], {
        timeout: 30_000,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, INSTACAP_APP_THREAD: appThread },
      });
    } catch (e) {
      const err = e as { status: number | null; signal: string | null; stderr: Buffer };
      expect(err.signal).toBeNull(); // not killed by the timeout: nothing kept the process alive
      status = err.status ?? -1;
      stderr = err.stderr.toString();
    }
    expect(status).toBe(1);
    expect(stderr).toContain(`cannot write the case in ${join(file, 'case')}`);
  });
});

describe('records larger than a read chunk', () => {
  it('reads pcapng blocks of several MiB from a plain file', async () => {
    const { openCapture } = await import('../../engine/readers/open.js');
    const blk = (t: number, body: Buffer) => {
      const l = 12 + body.length;
      const h = Buffer.alloc(8);
      h.writeUInt32LE(t, 0);
      h.writeUInt32LE(l, 4);
      const tail = Buffer.alloc(4);
      tail.writeUInt32LE(l, 0);
      return Buffer.concat([h, body, tail]);
    };
    const shb = Buffer.alloc(16);
    shb.writeUInt32LE(0x1a2b3c4d, 0);
    shb.writeUInt16LE(1, 4);
    shb.writeBigInt64LE(-1n, 8);
    const idb = Buffer.alloc(8);
    idb.writeUInt16LE(1, 0);
    const epb = (n: number, size: number) => {
      const h = Buffer.alloc(20);
      h.writeUInt32LE(n, 8);
      h.writeUInt32LE(size, 12);
      h.writeUInt32LE(size, 16);
      return blk(6, Buffer.concat([h, Buffer.alloc(size, n), Buffer.alloc((4 - (size % 4)) % 4)]));
    };
    const sizes = [100, 3_000_000, 100, 2_500_001, 60];
    const file = join(mkdtempSync(join(tmpdir(), 'ic-big-')), 'big.pcapng');
    writeFileSync(file, Buffer.concat([blk(0x0a0d0d0a, shb), blk(1, idb), ...sizes.map((s, i) => epb(i + 1, s))]));
    const r = await openCapture(file);
    const got: string[] = [];
    for (;;) {
      const p = r.next();
      if (p) {
        got.push(`${p.caplen}:${p.buf[p.off]}:${p.buf[p.off + p.caplen - 1]}`);
        continue;
      }
      if (r.done) break;
      await r.fill();
    }
    await r.close();
    expect(got).toEqual(sizes.map((s, i) => `${s}:${i + 1}:${i + 1}`));
    expect(r.issues).toEqual([]);
  });
});

describe('application layer in the ingest', () => {
  const corpus = (rel: string) => join(PCAPS, rel);

  it('hosts: activity, names from DNS, the MAC unless it is a router, GeoIP for global addresses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-hosts-'));
    await analyze({ files: [WIKI], caseDir: dir });
    const rows = await q(
      dir,
      `select ip, mac, names, flows_orig::int o, flows_resp::int r, is_private, country_code, asn, as_org from hosts
        where ip in ('208.80.152.3', '141.142.220.50', 'fe80::217:f2ff:fed7:cf65') order by ip`,
    );
    expect(rows).toEqual([
      // the router's MAC stands for every remote address: not attributed
      { ip: '141.142.220.50', mac: '00:17:f2:d7:cf:65', names: 'gemini.local', o: 1, r: 0, is_private: false, country_code: 'US', asn: 1224, as_org: 'University of Illinois' },
      { ip: '208.80.152.3', mac: null, names: 'upload.pmtpa.wikimedia.org,upload.wikimedia.org', o: 0, r: 6, is_private: false, country_code: 'US', asn: 14907, as_org: 'Wikimedia Foundation Inc.' },
      { ip: 'fe80::217:f2ff:fed7:cf65', mac: '00:17:f2:d7:cf:65', names: 'gemini.local', o: 1, r: 0, is_private: true, country_code: null, asn: null, as_org: null },
    ]);
    // every address of every flow is a host, once
    const n = await q(dir, `select (select count(*) from hosts)::int h, (select count(distinct a) from (select orig_h a from flows union select resp_h from flows))::int f`);
    expect(n[0].h).toBe(n[0].f);
  });

  it('SMTP STARTTLS: the stream goes on into the TLS parser (service smtp,ssl)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-starttls-'));
    await analyze({ files: [corpus('protocols/tls/zeek_tls_smtp-starttls.pcap')], caseDir: dir });
    expect(await q(dir, `select service from flows where resp_p = 25`)).toEqual([{ service: 'smtp,ssl' }]);
    // JA3 as tshark computes it for this ClientHello (baselines/app/tls)
    expect(await q(dir, `select ja3, version from tls`)).toEqual([{ ja3: '13020a4ccb11b2d3c9c0e6c285c3c415', version: 'TLSv12' }]);
  });

  it('DHCP transactions are aggregated across the 5-tuples of their messages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-dhcp-'));
    await analyze({ files: [corpus('protocols/dhcp/zeek_dhcp_dhcp.pcap')], caseDir: dir });
    const rows = await q(dir, `select trans_id::int x, msg_types, assigned_addr, host_name from dhcp order by ts`);
    expect(rows[0]).toEqual({ x: 1984, msg_types: 'DISCOVER,OFFER,REQUEST,NAK', assigned_addr: '128.2.6.97', host_name: 'btest.is.cool' });
    expect(rows.length).toBe(5);
  });

  it('recognises protocols by payload on other ports, and says when the port disagrees', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-detect-'));
    await analyze({ files: [corpus('protocols/ssh/zeek_ssh_ssh-on-port-80.pcap')], caseDir: dir });
    expect(await q(dir, `select resp_p, service from flows where proto = 'tcp'`)).toEqual([{ resp_p: 80, service: 'ssh' }]);
    const a = await q(dir, `select name, detail from anomalies where name = 'app_detect_conflict'`);
    expect(a).toEqual([{ name: 'app_detect_conflict', detail: 'port 80 suggests http, the payload is ssh' }]);
  });
});

describe('DNS over UDP in the application layer', () => {
  /** A DNS message: header, one question for `name` (type A), and `answers` A records for it. */
  function dnsMessage(id: number, response: boolean, name: string, answers: string[] = []): Buffer {
    const h = Buffer.alloc(12);
    h.writeUInt16BE(id, 0);
    h.writeUInt16BE(response ? 0x8180 : 0x0100, 2);
    h.writeUInt16BE(1, 4);
    h.writeUInt16BE(answers.length, 6);
    const labels = Buffer.concat([...name.split('.').map((l) => Buffer.concat([Buffer.of(l.length), Buffer.from(l)])), Buffer.of(0)]);
    const rrs = answers.map((a) => Buffer.concat([Buffer.of(0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4), Buffer.from(a.split('.').map(Number))]));
    return Buffer.concat([h, labels, Buffer.of(0, 1, 0, 1), ...rrs]);
  }
  const dgram = (sec: number, src: string, dst: string, sport: number, dport: number, msg: Buffer) => ({ tsSec: sec, tsFrac: 0, data: eth(ipv4(udp(msg, { sport, dport }), { src, dst, proto: 17 })) });

  it('mDNS announcements are not unmatched responses; a flow that rests and resumes stays service dns', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-dns-layer-'));
    const file = join(dir, 'dns.pcap');
    writeFileSync(
      file,
      pcapFile({}, [
        // an mDNS announcement: a response nobody asked for is that protocol's normal traffic
        dgram(1000, '10.0.0.7', '224.0.0.251', 5353, 5353, dnsMessage(0, true, 'printer.local', ['10.0.0.7'])),
        // the same on port 53 is a response without its query
        dgram(1001, '10.0.0.53', '10.0.0.2', 53, 40000, dnsMessage(0x4242, true, 'example.com', ['192.0.2.1'])),
        // one flow, two transactions: the parser rests after the first and a new one names the flow again
        dgram(1002, '10.0.0.3', '10.0.0.53', 40001, 53, dnsMessage(1, false, 'a.example')),
        dgram(1002, '10.0.0.53', '10.0.0.3', 53, 40001, dnsMessage(1, true, 'a.example', ['192.0.2.2'])),
        dgram(1003, '10.0.0.3', '10.0.0.53', 40001, 53, dnsMessage(2, false, 'b.example')),
        dgram(1003, '10.0.0.53', '10.0.0.3', 53, 40001, dnsMessage(2, true, 'b.example', ['192.0.2.3'])),
      ]),
    );
    await analyze({ files: [file], caseDir: dir });
    expect(await q(dir, `select name, detail from anomalies`)).toEqual([{ name: 'dns_unmatched_response', detail: 'transaction id 16962' }]);
    expect(await q(dir, `select orig_p::int p, service from flows order by orig_p`)).toEqual([
      { p: 5353, service: 'dns' },
      { p: 40000, service: 'dns' }, // the responder is the well-known port (Zeek flips the roles)
      { p: 40001, service: 'dns' },
    ]);
    expect(await q(dir, `select query, answers, rtt from dns order by ts, query`)).toEqual([
      { query: 'printer.local', answers: '10.0.0.7', rtt: null },
      { query: 'example.com', answers: '192.0.2.1', rtt: null },
      { query: 'a.example', answers: '192.0.2.2', rtt: 0 },
      { query: 'b.example', answers: '192.0.2.3', rtt: 0 },
    ]);
  });
});

describe('tunnels inside UDP in the ingest', () => {
  it('GTP-U: the outer flow is named gtpv1, the inner HTTP connection is a flow with its records and its stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-gtp-'));
    await analyze({ files: [join(PCAPS, 'protocols', 'tunnels', 'zeek_gtp1_gn_normal_incl_fragmentation.pcap')], caseDir: dir });
    const flows = await q(dir, `select uid, proto::varchar p, orig_p::int op, resp_p::int rp, service from flows order by flow_id`);
    expect(flows.map(({ p, op, rp, service }) => ({ p, op, rp, service }))).toEqual([
      { p: 'udp', op: 2152, rp: 2152, service: 'gtpv1' },
      { p: 'tcp', op: 1923, rp: 80, service: 'http' },
    ]);
    expect(await q(dir, `select method, status_code::int s from http`)).toEqual([{ method: 'GET', s: 206 }]);
    // the packet index points at the inner connection, fragments of its outer datagrams included,
    // and its stream is rebuilt through the tunnel (the request sits in fragmented datagrams)
    expect(await q(dir, `select flow_id::int f, count(*)::int n from packets group by 1 order by 1`)).toEqual([
      { f: 0, n: 4 }, // fragments of datagrams that never completed
      { f: 2, n: 104 },
    ]);
    const store = await CaseStore.openReadOnly(dir);
    try {
      const page = await followStream(store, String(flows[1].uid), { maxBytes: 4096 });
      const text = (dir: number) => page.chunks.filter((c) => c.dir === dir && c.data !== null).map((c) => c.data!.toString('latin1')).join('');
      expect(text(0).startsWith('GET /videoplayback?')).toBe(true);
      expect(text(1).startsWith('HTTP/1.1 206 Partial Content')).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('every fragment of a reassembled datagram belongs to its flow in the packet index', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-frag-'));
    await analyze({ files: [join(PCAPS, 'protocols', 'ip-fragments', 'sv_ipv4frags.pcap')], caseDir: dir });
    const rows = await q(dir, `select packet_no::int p, flow_id::int f from packets order by 1`);
    expect(rows.map((r) => r.p)).toEqual([1, 2, 3]);
    expect(new Set(rows.map((r) => r.f))).toEqual(new Set([1]));
  });

  it('VXLAN, Geneve and Teredo: inner connections appear beside the outer UDP flows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-tun-'));
    const files = ['zeek_tunnels_vxlan.pcap', 'zeek_tunnels_geneve.pcap', 'zeek_tunnels_Teredo.pcap'].map((f) => join(PCAPS, 'protocols', 'tunnels', f));
    await analyze({ files, caseDir: dir });
    const svc = await q(dir, `select service, count(*)::int n from flows where service in ('vxlan', 'geneve', 'teredo') group by 1 order by 1`);
    expect(svc.map((r) => r.service)).toEqual(['geneve', 'teredo', 'vxlan']);
    const inner = await q(
      dir,
      `select orig_h, resp_h, resp_p::int rp, proto::varchar p from flows
        where orig_h in ('10.0.0.1', '30.0.0.1', '2001:0:4137:9e50:8000:f12a:b9c8:2815') order by 1, 3`,
    );
    expect(inner).toEqual([
      { orig_h: '10.0.0.1', resp_h: '10.0.0.2', rp: 0, p: 'icmp' },
      { orig_h: '2001:0:4137:9e50:8000:f12a:b9c8:2815', resp_h: '2001:4860:0:2001::68', rp: 80, p: 'tcp' },
      { orig_h: '2001:0:4137:9e50:8000:f12a:b9c8:2815', resp_h: '2001:4860:0:2001::68', rp: 129, p: 'icmp' },
      { orig_h: '30.0.0.1', resp_h: '30.0.0.2', rp: 0, p: 'icmp' },
    ]);
  });
});

describe('QUIC in the ingest', () => {
  it('a QUIC Initial gives a tls row with transport udp, service quic and a JA4 starting with q', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-quic-'));
    await analyze({ files: [join(PCAPS, 'protocols', 'quic', 'arkime_quicietf.pcap')], caseDir: dir });
    const rows = await q(dir, `select t.transport::varchar tr, t.server_name, t.ja3, t.ja4, f.service from tls t join flows f using (flow_id)`);
    // SNI and JA3 as tshark decrypts them (baselines/app/quic/arkime_quicietf.pcap.client_hello.tsv),
    // JA4 as Arkime computes it (arkime_quicietf.pcap.arkime.test.json)
    expect(rows).toEqual([{ tr: 'udp', server_name: 'ssl.gstatic.com', ja3: 'ddfef2ad23ab6dd55307813c2d0b7d58', ja4: 'q13d0311h3_55b375c5d22e_3512bcbbc9ec', service: 'quic' }]);
    const tcp = mkdtempSync(join(tmpdir(), 'ic-tls-'));
    await analyze({ files: [join(PCAPS, 'protocols', 'tls', 'arkime_tls13.pcap')], caseDir: tcp });
    expect(await q(tcp, `select distinct transport::varchar tr, substr(ja4, 1, 1) j from tls`)).toEqual([{ tr: 'tcp', j: 't' }]);
  });
});

/** Changes a closed case's layout directly in DuckDB (what another version of Instacap would have made). */
async function alterCase(dir: string, sql: string): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(CaseStore.dbPath(dir));
  const con = await inst.connect();
  await con.run(`ATTACH '${CaseStore.recordsPath(dir).replace(/'/g, "''")}' AS records`); // the application records' file
  await con.run(sql);
  con.closeSync();
  inst.closeSync();
}

describe('a case made before a column existed', () => {
  it('gets the column (NULL in its old rows) and takes new evidence', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-migrate-'));
    await analyze({ files: [WIKI], caseDir: dir });
    // what a case of the previous layout looks like: flows without tunnel_parents
    await alterCase(dir, 'ALTER TABLE flows DROP COLUMN tunnel_parents');
    await analyze({ files: [join(PCAPS, 'protocols', 'tunnels', 'zeek_gtp1_gn_normal_incl_fragmentation.pcap')], caseDir: dir });
    const rows = await q(dir, `select evidence_id::int ev, count(*)::int n, count(tunnel_parents)::int tp from flows group by 1 order by 1`);
    expect(rows).toEqual([
      { ev: 1, n: 34, tp: 0 },
      { ev: 2, n: 2, tp: 1 },
    ]);
    // the inner connection names its tunnel's uid
    const link = await q(dir, `select i.tunnel_parents = o.uid ok, o.service from flows i join flows o on o.uid = i.tunnel_parents`);
    expect(link).toEqual([{ ok: true, service: 'gtpv1' }]);
  });
});

describe('the records database file', () => {
  it('holds the application records; case.duckdb sees them through views of the same names', async () => {
    // a quote in the path: the file is attached through an SQL string literal
    const dir = join(mkdtempSync(join(tmpdir(), 'ic-files-')), "it's here");
    await analyze({ files: [WIKI], caseDir: dir });
    expect(statSync(CaseStore.recordsPath(dir)).size).toBeGreaterThan(0);
    const { DuckDBInstance } = await import('@duckdb/node-api');
    // case.duckdb alone: the record tables are views (of the attached file), the rest are tables
    const inst = await DuckDBInstance.create(CaseStore.dbPath(dir), { access_mode: 'READ_ONLY' });
    const con = await inst.connect();
    const kinds = async (sql: string) => (await con.runAndReadAll(sql)).getRows().map((r) => String(r[0]));
    expect(await kinds(`select view_name from duckdb_views() where not internal order by 1`)).toEqual([
      'credentials', 'dhcp', 'dns', 'dns_answers', 'http', 'packet_index', 'quic', 'ssh', 'tls',
    ]);
    expect(await kinds(`select table_name from duckdb_tables() where database_name = current_database() and table_name in ('dns', 'http') order by 1`)).toEqual([]);
    // the views are documented like the tables
    expect(await kinds(`select comment from duckdb_views() where view_name = 'dns'`)).toEqual([DNS.description]);
    expect(await kinds(`select comment from duckdb_columns() where database_name = current_database() and table_name = 'dns' and column_name = 'rtt'`)).toEqual([DNS.fields.find((f) => f.name === 'rtt')!.description]);
    con.closeSync();
    inst.closeSync();
    // through the store: the views and the attached tables give the same rows
    const n = await q(dir, `select (select count(*) from dns)::int d, (select count(*) from records.main.dns)::int r, (select count(*) from http)::int h`);
    expect(n[0].d).toBeGreaterThan(0);
    expect(n[0].d).toBe(n[0].r);
    expect(n[0].h).toBeGreaterThan(0);
  });

  it('a case without it is refused for reading and for more evidence, and nothing is written', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-norecords-'));
    await analyze({ files: [WIKI], caseDir: dir });
    rmSync(CaseStore.recordsPath(dir));
    await expect(CaseStore.openReadOnly(dir)).rejects.toThrow(/lacks records.duckdb/);
    await expect(analyze({ files: [POP3], caseDir: dir })).rejects.toThrow(/lacks records.duckdb/);
    expect(existsSync(CaseStore.recordsPath(dir))).toBe(false);
  });

  it('a record table of an earlier layout gets its missing column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-migrate-rec-'));
    await analyze({ files: [WIKI], caseDir: dir });
    const before = await q(dir, 'select count(*)::int n from dns');
    await alterCase(dir, 'ALTER TABLE records.dns DROP COLUMN response_packet');
    await analyze({ files: [WIKI], caseDir: dir });
    const rows = await q(dir, `select evidence_id::int ev, count(*)::int n, count(response_packet)::int rp from dns group by 1 order by 1`);
    expect(rows.map((r) => [r.ev, r.n])).toEqual([[1, before[0].n], [2, before[0].n]]);
    expect(rows[0].rp).toBe(0);
    expect(rows[1].rp).toBeGreaterThan(0);
  });

  it('a records file left without its case, or of another case, is refused; a refused open leaves no lock', async () => {
    // another process can open the case for writing only if this one holds no lock on it
    const lockFree = (path: string) => {
      const script = `const { DuckDBInstance } = require(${JSON.stringify(require.resolve('@duckdb/node-api'))});
        DuckDBInstance.create(${JSON.stringify(path)}).then(async (i) => { const c = await i.connect(); await c.run('select 1'); console.log('opened'); }, (e) => console.log(String(e.message)));`;
      return execFileSync(process.execPath, ['-e', script]).toString().trim();
    };
    const a = mkdtempSync(join(tmpdir(), 'ic-stray-'));
    await analyze({ files: [WIKI], caseDir: a });
    // case.duckdb removed (a reset), records.duckdb left: a new case would have taken its rows
    rmSync(CaseStore.dbPath(a));
    await expect(analyze({ files: [WIKI], caseDir: a })).rejects.toThrow(/records.duckdb exists but .* holds no case/);
    expect(lockFree(CaseStore.dbPath(a))).toBe('opened');
    // the records file of another case
    const b = mkdtempSync(join(tmpdir(), 'ic-other-'));
    const c = mkdtempSync(join(tmpdir(), 'ic-other-'));
    await analyze({ files: [WIKI], caseDir: b });
    await analyze({ files: [POP3], caseDir: c });
    copyFileSync(CaseStore.recordsPath(c), CaseStore.recordsPath(b));
    await expect(CaseStore.openReadOnly(b)).rejects.toThrow(/belongs to another case/);
    expect(lockFree(CaseStore.dbPath(b))).toBe('opened');
    await expect(analyze({ files: [POP3], caseDir: b })).rejects.toThrow(/belongs to another case/);
    expect(lockFree(CaseStore.dbPath(b))).toBe('opened');
  });

  it('a failed commit of the records leaves the evidence unlisted, and later evidence gets new ids', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-commitfail-'));
    const commit = CaseStore.prototype.commit;
    // the records file's COMMIT fails (as a full disk would), the other goes through
    const failing = async function (this: CaseStore): Promise<void> {
      const rec = (this as unknown as { recCon: { run: (sql: string) => Promise<unknown> } }).recCon;
      const run = rec.run.bind(rec);
      rec.run = async (sql: string) => {
        if (sql !== 'COMMIT') return run(sql);
        await run('ROLLBACK');
        throw new Error('IO Error: simulated write failure');
      };
      try {
        await commit.call(this);
      } finally {
        rec.run = run;
      }
    };
    CaseStore.prototype.commit = failing;
    try {
      await expect(analyze({ files: [WIKI], caseDir: dir, inProcessStore: true })).rejects.toThrow(/simulated write failure \(only case.duckdb was committed: the evidence is not listed/);
    } finally {
      CaseStore.prototype.commit = commit;
    }
    const left = await q(dir, `select (select count(*) from evidence)::int ev, (select count(*) from flows)::int f, (select max(flow_id) from flows)::int mf, (select count(*) from dns)::int d`);
    expect(left).toEqual([{ ev: 0, f: 34, mf: 34, d: 0 }]);
    // the next ingest does not reuse the ids of the rows left behind
    await analyze({ files: [WIKI], caseDir: dir });
    expect(await q(dir, `select evidence_id::int ev from evidence`)).toEqual([{ ev: 2 }]);
    expect(await q(dir, `select min(flow_id)::int lo, count(distinct uid)::int u from flows where evidence_id = 2`)).toEqual([{ lo: 35, u: 34 }]);
  });

  it('a case of schema version 1 (one file) is refused with a message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-v1-'));
    await analyze({ files: [WIKI], caseDir: dir });
    await alterCase(dir, `UPDATE case_meta SET value = '1' WHERE key = 'schema_version'`);
    await expect(CaseStore.openReadOnly(dir)).rejects.toThrow(/case schema version 1 is not supported .*expects 2/);
    await expect(analyze({ files: [POP3], caseDir: dir })).rejects.toThrow(/case schema version 1 is not supported/);
  });
});

describe('a case made by a newer version', () => {
  it('is refused before anything is written, with a message naming the unknown column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ic-newer-'));
    await analyze({ files: [WIKI], caseDir: dir });
    await alterCase(dir, 'ALTER TABLE records.dns ADD COLUMN added_later VARCHAR');
    await expect(analyze({ files: [POP3], caseDir: dir })).rejects.toThrow(/case table dns has columns this Instacap does not know \(added_later\)/);
    // the case still holds only the first evidence
    expect(await q(dir, 'select count(*)::int n from evidence')).toEqual([{ n: 1 }]);
  });
});
