/**
 * Golden test: application records against tshark 4.0 on every capture of the corpus folders
 * protocols/dns, protocols/http, protocols/tls, protocols/quic and protocols/ssh. Baselines (tshark -T fields per
 * message, written by update-baselines.mjs): baselines/app/<proto>/<capture>.<kind>.tsv.
 *
 * Compared as multisets per capture (frame numbers differ on purpose: tshark names the frame
 * where a message's reassembly ends, we name the frame where it starts):
 *  - DNS queries: (id, first question name, type); responses: (id, first question name, rcode,
 *    the A and AAAA addresses of all sections, the owner names of all records but OPT). Frames holding several DNS-over-TCP messages are
 *    split into messages when tshark's lists allow it (addresses are then not compared).
 *  - HTTP requests: (method, host, uri, user agent); responses: status codes.
 *  - TLS ClientHello: (SNI, JA3); ServerHello: (version, cipher, JA3S); over TCP for the tls
 *    folder, from decrypted QUIC Initials for the quic folder.
 *  - SSH identification strings.
 * Differences we keep on purpose are listed in KNOWN with the reason; the test fails when a listed
 * difference disappears, so the list stays true.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { cipherName, versionName } from '../../engine/app/tls.js';
import { UPDATING, baselineFiles, corpusPath, readTsv, removeCase, tempCaseDir, type Tsv } from './helpers.js';

/** `proto/capture/kind` -> why ours differs from tshark. */
const KNOWN: Record<string, string> = {
  'dns/sv_dns-udp-junkrequest-first.pcap/dns':
    'the first query is junk: tshark shows no question, we read the name "\\002\\005" of type 260 from it and pair its FORMERR response (which has no question) with it',
  'dns/zeek_dns-inverse-query.pcap/dns':
    'an inverse query (opcode IQUERY, obsolete) has no question; we name the transaction as tshark names the response: [4.3.2.1], type A',
  'dns/zeek_dns_dns-edns-bad-length.pcap/dns':
    'an OPT record with a bad length: tshark marks the response malformed and shows no address; we record dns_malformed and keep the A record that parsed',
  'dns/zeek_dns_dns-invalid-names.pcap/dns':
    'a name whose compression pointer loops: tshark prints a placeholder, we keep the labels read before the loop (none here) and record dns_bad_name',
  'dns/zeek_dns_mdns.pcap/dns':
    'mDNS responses carry no question and id 0: we pair each with the pending mDNS query (so the row names the query), tshark shows them unpaired',
  'http/cs_http_espn.pcapng/response':
    'response 6 on port 41835 has 3,038 body bytes missing from the capture: tshark drops the response, we keep it (body length counted, response_sha256 NULL)',
  'http/zeek_http-chunk_2pow64_overflow.pcap/request':
    'request smuggling with a 2^64 chunk size: like Zeek we parse the smuggled GET that follows; tshark does not',
  'http/zeek_http-te_obs_fold.pcap/request':
    'request smuggling with an obsolete line fold in Transfer-Encoding: like Zeek we parse the smuggled GET; tshark does not',
  'http/zeek_http_100-continue.pcap/response':
    'interim 1xx responses are not rows of their own (Zeek logs them as info_code of the final response); tshark lists the 100',
  'http/zeek_http_http_09.pcap/request': 'HTTP/0.9 requests (no version): Zeek and we parse them, tshark does not',
  'tls/ja4_tls-handshake.pcapng/client_hello':
    'connections with a HelloRetryRequest send two ClientHellos: the row keeps the first (JA3/JA4 of the first hello, as FoxIO), tshark lists both',
  'tls/ja4_tls-handshake.pcapng/server_hello':
    'with a HelloRetryRequest the row keeps the real ServerHello (version, cipher, JA3S); tshark also lists the retry request',
  'tls/ja4_tls-sni.pcapng/client_hello': 'HelloRetryRequest connections: the first of the two ClientHellos counts (see ja4_tls-handshake)',
  'tls/zeek_tls_hrr.pcap/client_hello': 'HelloRetryRequest: the first of the two ClientHellos counts',
  'tls/zeek_tls_hrr.pcap/server_hello':
    'HelloRetryRequest: we keep the real ServerHello; tshark 4.0 misses it (with tcp.reassemble_out_of_order it shows 907bf3..., our JA3S)',
  'quic/ndpi_quic-29.pcap/client_hello': 'a HelloRetryRequest over QUIC: the first of the two ClientHellos counts (as over TCP)',
  'quic/ndpi_quic-29.pcap/server_hello': 'a HelloRetryRequest over QUIC: the row keeps the real ServerHello; tshark also lists the retry request',
  'tls/sv_tls-duplicate-hello.pcap/client_hello': 'a second ClientHello on the same connection without a HelloRetryRequest: the first one counts',
  'tls/zeek_tls_ssl-v2.pcap/server_hello': "an SSLv2 handshake: tshark's tls.handshake fields do not cover SSLv2 (its own fields), we record version SSLv2 and its cipher",
  'ssh/ndpi_ssh.pcap/banner': 'SSH on port 8000 (and its server banner): recognised by the banner; tshark dissects SSH on port 22 only',
  'ssh/zeek_ssh_ssh-on-port-80.pcap/banner': 'SSH on port 80: recognised by the banner; tshark dissects SSH on port 22 only',
  'ssh/zeek_ssh_ssh1-ssh2-fingerprints.pcap/banner': "SSH-1.5 identification strings: tshark's ssh.protocol covers SSH-2 connections only",
};

type Bag = Map<string, number>;

function bag(items: string[]): Bag {
  const m: Bag = new Map();
  for (const i of items) m.set(i, (m.get(i) ?? 0) + 1);
  return m;
}

/** Items of `a` not matched in `b` (with multiplicity). */
function minus(a: Bag, b: Bag): string[] {
  const out: string[] = [];
  for (const [k, n] of a) for (let i = 0; i < n - (b.get(k) ?? 0); i++) out.push(k);
  return out;
}

function diff(ours: string[], theirs: string[]): string[] {
  const o = bag(ours);
  const t = bag(theirs);
  return [...minus(t, o).map((k) => `missing ${k}`), ...minus(o, t).map((k) => `extra ${k}`)];
}

const cell = (t: Tsv, row: string[], name: string): string => row[t.header.indexOf(name)] ?? '';
const list = (s: string): string[] => (s === '' ? [] : s.split(','));
const hexNum = (s: string): number => Number(s);
const sortAddrs = (a: string[]): string => [...a].sort().join(' ');

/** tshark's rendering of names we store differently. */
const dnsName = (s: string | null | undefined): string => (s === '<Root>' ? '' : (s ?? ''));

function tsharkDns(t: Tsv): { queries: string[]; responses: string[] } {
  const queries: string[] = [];
  const responses: string[] = [];
  for (const r of t.rows) {
    const ids = list(cell(t, r, 'dns.id'));
    const resp = list(cell(t, r, 'dns.flags.response'));
    const names = list(cell(t, r, 'dns.qry.name'));
    const types = list(cell(t, r, 'dns.qry.type'));
    const rcodes = list(cell(t, r, 'dns.flags.rcode'));
    const addrs = [...list(cell(t, r, 'dns.a')), ...list(cell(t, r, 'dns.aaaa'))];
    // owner names of the records of every section, OPT (type 41) left out, compared case-insensitively
    const rnames = list(cell(t, r, 'dns.resp.name'));
    const rtypes = list(cell(t, r, 'dns.resp.type'));
    const owners = rnames.length === rtypes.length ? rnames.filter((_, i) => rtypes[i] !== '41').map((n) => dnsName(n).toLowerCase()) : null;
    const single = ids.length === 1;
    for (let i = 0; i < ids.length; i++) {
      // several messages in one frame: names/types line up only when every message has one question
      const name = names.length === ids.length ? dnsName(names[i]) : single ? dnsName(names[0]) : '?';
      const type = types.length === ids.length ? types[i] : single ? (types[0] ?? '') : '?';
      const id = String(hexNum(ids[i]));
      if (resp[i] === '0' || resp[i] === 'False') queries.push(`${id} ${name} ${type}`);
      else responses.push(`${id} ${name} ${rcodes[i] ?? ''}${single ? ` [${sortAddrs(addrs)}] {${owners === null ? '?' : sortAddrs(owners)}}` : ''}`);
    }
  }
  return { queries, responses };
}

const files = new Map<string, string[]>();
for (const proto of ['dns', 'http', 'tls', 'quic', 'ssh']) {
  for (const f of baselineFiles(`app/${proto}`)) {
    const capture = readTsv(f).meta.capture;
    const key = `${proto}|${capture}`;
    files.set(key, [...(files.get(key) ?? []), f]);
  }
}

const cases: string[] = [];
afterAll(() => cases.forEach(removeCase));

describe.skipIf(UPDATING)('application records = tshark fields', () => {
  it('has baselines for the four protocol folders', () => {
    for (const p of ['dns', 'http', 'tls', 'ssh']) expect([...files.keys()].filter((k) => k.startsWith(`${p}|`)).length).toBeGreaterThan(5);
  });

  for (const [key, paths] of files) {
    const [proto, capture] = key.split('|');
    // TLS handshakes of the tls folder are over TCP; the quic folder's are QUIC Initials over UDP
    const transport = proto === 'quic' ? 'udp' : 'tcp';
    it(`${proto}: ${basename(capture)}`, async () => {
      const dir = tempCaseDir('app');
      cases.push(dir);
      await analyze({ files: [corpusPath(capture)], caseDir: dir, inProcessStore: true });
      const store = await CaseStore.openReadOnly(dir);
      const found: Record<string, string[]> = {};
      try {
        const q = async (sql: string) => (await store.query(sql)).rows;
        for (const path of paths) {
          const t = readTsv(path);
          const kind = basename(path).replace(/^.*\.(\w+)\.tsv$/, '$1');
          const id = `${proto}/${basename(capture)}/${kind}`;
          let d: string[] = [];
          if (kind === 'dns') {
            const theirs = tsharkDns(t);
            const rows = await q(
              `SELECT d.trans_id, d.query, d.qtype, d.rcode, d.query_packet, d.response_packet,
                      (SELECT list(a.data ORDER BY a.data) FROM dns_answers a WHERE a.flow_id = d.flow_id AND a.packet_no = d.response_packet
                          AND a.trans_id = d.trans_id AND a.type IN (1, 28) AND a.data <> '') AS addrs,
                      (SELECT list(lower(a.name) ORDER BY lower(a.name)) FROM dns_answers a WHERE a.flow_id = d.flow_id AND a.packet_no = d.response_packet
                          AND a.trans_id = d.trans_id) AS owners
                 FROM dns d`,
            );
            const multi = new Set(t.rows.filter((r) => list(cell(t, r, 'dns.id')).length > 1).map((r) => cell(t, r, 'frame.number')));
            const queries = rows.filter((r) => r.query_packet !== null).map((r) => `${r.trans_id} ${dnsName(r.query as string)} ${r.qtype ?? ''}`);
            const responses = rows
              .filter((r) => r.response_packet !== null)
              .map(
                (r) =>
                  `${r.trans_id} ${dnsName(r.query as string)} ${Number(r.rcode) & 15}${multi.size ? '' : ` [${sortAddrs((r.addrs as string[] | null) ?? [])}] {${sortAddrs((r.owners as string[] | null) ?? [])}}`}`,
              );
            // with several messages per frame somewhere in the capture, addresses are not compared
            const strip = (s: string) => (multi.size ? s.replace(/ \[.*\] \{.*\}$/, '') : s);
            // where tshark's name and type lists do not line up (it gives no resp.name for SRV records, for one),
            // owner names are not compared for that response
            const unknownOwners = new Set(theirs.responses.filter((x) => x.endsWith(' {?}')).map((x) => x.slice(0, -4)));
            const ours = responses.map((x) => {
              const cut = x.lastIndexOf(' {');
              return cut >= 0 && unknownOwners.has(x.slice(0, cut)) ? `${x.slice(0, cut)} {?}` : x;
            });
            d = [...diff(queries, theirs.queries), ...diff(ours, theirs.responses.map(strip))];
          } else if (kind === 'request') {
            const theirs = t.rows.flatMap((r) => {
              const m = list(cell(t, r, 'http.request.method'));
              const uris = cell(t, r, 'http.request.uri').split(',');
              if (m.length <= 1) return [[cell(t, r, 'http.request.method'), cell(t, r, 'http.host'), cell(t, r, 'http.request.uri'), cell(t, r, 'http.user_agent')].join(' | ')];
              return m.map((x, i) => [x, '?', uris[i] ?? '?', '?'].join(' | '));
            });
            const multi = theirs.some((x) => x.includes(' | ? | '));
            const rows = await q(`SELECT method, host, uri, user_agent FROM http WHERE method IS NOT NULL`);
            const ours = rows.map((r) => [r.method, multi ? '?' : (r.host ?? ''), r.uri ?? '', multi ? '?' : (r.user_agent ?? '')].join(' | '));
            d = diff(ours, multi ? theirs.map((x) => x.replace(/^([^|]*) \| [^|]* \| ([^|]*) \| .*$/, '$1 | ? | $2 | ?')) : theirs);
          } else if (kind === 'response') {
            const theirs = t.rows.flatMap((r) => list(cell(t, r, 'http.response.code')));
            const rows = await q(`SELECT status_code FROM http WHERE status_code IS NOT NULL`);
            d = diff(
              rows.map((r) => String(r.status_code)),
              theirs,
            );
          } else if (kind === 'client_hello') {
            const theirs = t.rows.flatMap((r) => {
              const j = list(cell(t, r, 'tls.handshake.ja3'));
              const sni = list(cell(t, r, 'tls.handshake.extensions_server_name'));
              return j.map((x, i) => `${j.length === sni.length ? sni[i] : j.length === 1 ? (sni[0] ?? '') : '?'} ${x}`);
            });
            const rows = await q(
              `SELECT t.server_name, t.ja3 FROM tls t JOIN flows f USING (flow_id) WHERE f.proto = '${transport}' AND t.client_hello_packet IS NOT NULL AND t.ja3 IS NOT NULL`,
            );
            d = diff(
              rows.map((r) => `${r.server_name ?? ''} ${r.ja3}`),
              theirs,
            );
          } else if (kind === 'server_hello') {
            const theirs = t.rows.flatMap((r) => {
              const v = list(cell(t, r, 'tls.handshake.version'));
              const sv = list(cell(t, r, 'tls.handshake.extensions.supported_version'));
              const c = list(cell(t, r, 'tls.handshake.ciphersuite'));
              const j = list(cell(t, r, 'tls.handshake.ja3s'));
              return c.map((x, i) => `${versionName(Number(sv.length === c.length ? sv[i] : (v[i] ?? v[0])))} ${cipherName(Number(x))} ${j[i] ?? ''}`);
            });
            const rows = await q(`SELECT t.version, t.cipher, t.ja3s FROM tls t JOIN flows f USING (flow_id) WHERE f.proto = '${transport}' AND t.server_hello_packet IS NOT NULL`);
            d = diff(
              rows.map((r) => `${r.version} ${r.cipher} ${r.ja3s ?? ''}`),
              theirs,
            );
          } else if (kind === 'banner') {
            const theirs = t.rows.flatMap((r) => [cell(t, r, 'ssh.protocol')]).filter((x) => x !== '');
            const rows = await q(`SELECT client, server FROM ssh`);
            const ours = rows.flatMap((r) => [r.client, r.server]).filter((x): x is string => typeof x === 'string');
            d = diff(ours, theirs);
          }
          if (d.length) found[id] = d;
        }
      } finally {
        await store.close();
      }
      const unexpected = Object.entries(found).filter(([id]) => !KNOWN[id]);
      const stale = Object.keys(KNOWN).filter((id) => id.startsWith(`${proto}/${basename(capture)}/`) && !found[id]);
      expect({ unexpected: Object.fromEntries(unexpected), stale }).toEqual({ unexpected: {}, stale: [] });
    });
  }
});
