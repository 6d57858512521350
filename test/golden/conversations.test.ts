/**
 * Golden test 3: flows against tshark's conversation tables (`tshark -q -z conv,tcp -z conv,udp`),
 * for the capture set CONV_SET of update-baselines.mjs. Baselines: baselines/conv/<capture>.tsv.
 *
 * Semantics differ, so only what is exact under both is compared:
 *  - instacap's flows follow Zeek: one 5-tuple can be split into several connections (port reuse
 *    after a close, inactivity timeouts, attempt timers), and orig/resp follow Zeek's roles (flips).
 *    tshark keeps one row per address/port pair. So flows are grouped by the unordered 5-tuple
 *    before comparing, and directions are matched by address/port, not by role.
 *  - tshark counts frame bytes (frame.len); flows store IP bytes (orig_ip_bytes). The byte
 *    comparison therefore uses the packets table: sum(origlen) of the packets instacap assigned to
 *    the flows of the 5-tuple. tshark prints sizes of 10 kB and more in floor(bytes / 1000) "kB"
 *    (Wireshark's format_size): our exact sum is printed the same way before comparing.
 *  - IP fragments: tshark counts only the frame that completes reassembly in the UDP/TCP
 *    conversation, instacap assigns held fragments to no flow either (flow_id 0): same frames.
 *
 * Compared per 5-tuple: frames A->B, frames B->A (sum of orig_pkts/resp_pkts by direction), total
 * frame bytes; per capture: the set of 5-tuples and the number of flow rows per 5-tuple (Zeek
 * splits are listed below with their reason).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { analyze } from '../../engine/ingest/analyze.js';
import { CaseStore } from '../../engine/store/case-store.js';
import { UPDATING, baselineFiles, corpusPath, readTsv, removeCase, tempCaseDir } from './helpers.js';

/** Wireshark's format_size (SI, bytes): integer division, "kB" etc. from 10 units up. */
export function formatSize(n: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (u < units.length - 1 && Math.floor(v / 1000) >= 10) {
    v = Math.floor(v / 1000);
    u++;
  }
  return `${v} ${units[u]}`;
}

interface Split {
  capture: string;
  /** 5-tuples that instacap splits into more than one connection. */
  keys: number;
  /** Flow rows beyond one per tshark conversation, over the whole capture. */
  extraFlows: number;
  reason: string;
}

/**
 * Captures where instacap (Zeek semantics) splits 5-tuples into several connections, with the
 * reason; exact numbers, so any change in the flow tracker shows up here.
 */
const SPLITS: Split[] = [
  {
    capture: 'attacks/bruteforce/ppa_ftp-crack.pcap',
    keys: 705,
    extraFlows: 705,
    reason:
      'the file holds the same traffic twice (frames 9866-19730 repeat 1-9865 with the same timestamps: time goes back at frame 9866); the first copies have been closed (FIN/RST + close delay) when the second copies arrive, which start new connections, as in Zeek; tshark adds both copies into one conversation',
  },
  {
    capture: 'attacks/c2-beaconing/elcabezzonn_empire_http_c2.pcap',
    keys: 14,
    extraFlows: 26,
    reason:
      'UDP 9999 broadcasts repeat after more than udp_inactivity_timeout (60 s) and NetBIOS name service (137) ones after more than the DNS session timeout (10 s): one connection per burst; ten TCP 5-tuples get a lone RST pair about 5 minutes after the handshake, past tcp_inactivity_timeout (300 s): a new connection (history R)',
  },
  {
    capture: 'attacks/dns-tunneling/dmachard_sods.pcap',
    keys: 3,
    extraFlows: 3,
    reason: 'DNS queries from one client port repeated more than 10 s apart: Zeek ends a DNS session after dns_session_timeout (10 s) of silence',
  },
  {
    capture: 'reference/ndpi/ndpi_iphone.pcap',
    keys: 3,
    extraFlows: 3,
    reason: 'mDNS/DNS exchanges on one 5-tuple more than 10 s apart: separate DNS sessions (dns_session_timeout, 10 s), as in Zeek',
  },
  {
    capture: 'reference/ndpi/ndpi_1kxun.pcap',
    keys: 2,
    extraFlows: 3,
    reason: 'lone FIN/RST packets on ports 53605 and 53613 about 18 s apart: each closed half-open connection has ended (close delay) before the next one',
  },
  {
    capture: 'reference/zeek/zeek_pop3.pcap',
    keys: 2,
    extraFlows: 4,
    reason: 'three SYN -> RST attempts on each of two 5-tuples: a new SYN on a closed (rejected) connection is a reuse, so Zeek logs three REJ connections (see the Zeek conn.log test)',
  },
];

interface Agg {
  flows: number;
  aToB: number;
  bToA: number;
  bytes: number;
}

const cases: string[] = [];
afterAll(() => {
  for (const c of cases) removeCase(c);
});

async function instacapConversations(capture: string): Promise<Map<string, Agg>> {
  const dir = tempCaseDir('conv');
  cases.push(dir);
  const res = await analyze({ files: [corpusPath(capture)], caseDir: dir });
  expect(res.errors).toEqual([]);
  const store = await CaseStore.openReadOnly(dir);
  try {
    const q = await store.query(`
      SELECT f.proto, f.orig_h, f.orig_p, f.resp_h, f.resp_p, f.orig_pkts, f.resp_pkts,
             coalesce(p.bytes, 0) AS frame_bytes, coalesce(p.n, 0) AS frames
      FROM flows f
      LEFT JOIN (SELECT flow_id, sum(origlen) AS bytes, count(*) AS n FROM packets WHERE flow_id > 0 GROUP BY flow_id) p USING (flow_id)
      WHERE f.proto IN ('tcp', 'udp')`);
    const out = new Map<string, Agg>();
    for (const r of q.rows) {
      const o = `${r.orig_h}:${r.orig_p}`;
      const s = `${r.resp_h}:${r.resp_p}`;
      // orient by address/port, not by role: the smaller endpoint string first (baseline is re-keyed the same way)
      const [a, b] = o <= s ? [o, s] : [s, o];
      const key = `${r.proto} ${a} ${b}`;
      const op = Number(r.orig_pkts);
      const rp = Number(r.resp_pkts);
      expect(Number(r.frames), `packets table vs flow counters for ${key}`).toBe(op + rp);
      const g = out.get(key) ?? { flows: 0, aToB: 0, bToA: 0, bytes: 0 };
      g.flows++;
      if (o === a && o !== s) {
        g.aToB += op;
        g.bToA += rp;
      } else if (o !== s) {
        g.aToB += rp;
        g.bToA += op;
      } else {
        // same address and port on both sides: directions are indistinguishable, compare the sum
        g.aToB += op + rp;
      }
      g.bytes += Number(r.frame_bytes);
      out.set(key, g);
    }
    return out;
  } finally {
    await store.close();
  }
}

interface ConvRow {
  key: string;
  tsharkKey: string;
  rows: number;
  aToB: number;
  bToA: number;
  /** tshark's total bytes strings of the rows (one per row). */
  bytes: string[];
}

function tsharkConversations(file: string): { capture: string; convs: Map<string, ConvRow> } {
  const t = readTsv(file);
  const c = (r: string[], name: string) => r[t.header.indexOf(name)];
  const convs = new Map<string, ConvRow>();
  for (const r of t.rows) {
    const A = `${c(r, 'a_addr')}:${c(r, 'a_port')}`;
    const B = `${c(r, 'b_addr')}:${c(r, 'b_port')}`;
    const swap = B < A;
    const key = `${c(r, 'proto')} ${swap ? B : A} ${swap ? A : B}`;
    let aToB = Number(c(r, 'frames_a_to_b'));
    let bToA = Number(c(r, 'frames_b_to_a'));
    if (swap) [aToB, bToA] = [bToA, aToB];
    if (A === B) [aToB, bToA] = [aToB + bToA, 0];
    const g = convs.get(key) ?? { key, tsharkKey: `${c(r, 'proto')} ${A} ${B}`, rows: 0, aToB: 0, bToA: 0, bytes: [] };
    g.rows++;
    g.aToB += aToB;
    g.bToA += bToA;
    g.bytes.push(c(r, 'bytes'));
    convs.set(key, g);
  }
  return { capture: t.meta.capture, convs };
}

// not read in update mode: the update script is rewriting them meanwhile
const files = UPDATING ? [] : baselineFiles('conv');

describe.skipIf(UPDATING)('golden: flows vs tshark conversations', () => {
  it('has a conversation baseline for at least 15 captures', () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  for (const file of files) {
    it(basename(file, '.tsv'), async () => {
      const { capture, convs } = tsharkConversations(file);
      const ours = await instacapConversations(capture);
      const problems: string[] = [];
      let splitKeys = 0;
      let extraFlows = 0;
      for (const [key, tc] of convs) {
        const g = ours.get(key);
        if (!g) {
          problems.push(`${key}: in tshark only (${tc.aToB + tc.bToA} frames)`);
          continue;
        }
        if (g.aToB !== tc.aToB || g.bToA !== tc.bToA) problems.push(`${key}: frames ${g.aToB}/${g.bToA}, tshark ${tc.aToB}/${tc.bToA}`);
        // bytes, in tshark's format (several tshark rows for one key can only be summed when exact)
        const tb = tc.rows === 1 ? tc.bytes[0] : tc.bytes.every((b) => b.endsWith(' bytes')) ? formatSize(tc.bytes.reduce((a, b) => a + parseInt(b, 10), 0)) : null;
        if (tb === null) problems.push(`${key}: ${tc.rows} tshark rows with rounded sizes, cannot compare bytes`);
        else if (formatSize(g.bytes) !== tb) problems.push(`${key}: frame bytes ${g.bytes} (${formatSize(g.bytes)}), tshark ${tb}`);
        if (g.flows > tc.rows) {
          splitKeys++;
          extraFlows += g.flows - tc.rows;
        } else if (g.flows < tc.rows) problems.push(`${key}: ${g.flows} flow rows for ${tc.rows} tshark conversations`);
      }
      for (const [key, g] of ours) if (!convs.has(key)) problems.push(`${key}: in instacap only (${g.aToB + g.bToA} frames)`);
      expect(problems).toEqual([]);
      const split = SPLITS.find((x) => x.capture === capture);
      expect({ keys: splitKeys, extraFlows }, 'Zeek-style splits of 5-tuples (see SPLITS)').toEqual({ keys: split?.keys ?? 0, extraFlows: split?.extraFlows ?? 0 });
      expect(ours.size).toBe(convs.size);
    });
  }
});
