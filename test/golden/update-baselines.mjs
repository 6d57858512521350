#!/usr/bin/env node
// Regenerates the golden baselines under test/golden/baselines/ from the peer tools (capinfos and
// tshark). This is the ONLY way the baselines may change: never edit them by hand.
//
//   node test/golden/update-baselines.mjs [section...]   (or: INSTACAP_UPDATE_GOLDEN=1 npx vitest run test/golden)
//   sections: counts fields conv follow app (default: all)
//
// Inputs: the shared capture corpus (INSTACAP_CORPUS, default ../shared/pcaps beside the repo).
// Outputs:
//   baselines/packet-counts.tsv   every capture in the corpus: path, packet count, where it came from
//   baselines/fields/<name>.tsv   per-packet tshark fields for the representative set below
//   baselines/conv/<name>.tsv     tshark -z conv,tcp / conv,udp, parsed, for the conversation set below
//   baselines/follow/<name>.tsv   tshark -z follow,tcp,raw,N per TCP stream: bytes and SHA-256 per direction
//   baselines/app/<proto>/<name>.<kind>.tsv   tshark fields of DNS/HTTP/TLS/QUIC/SSH messages, per capture of the protocol folders
//
// tshark runs with an empty configuration directory (no personal preferences) and -n (no name
// resolution), so the output depends only on the tshark version, which is recorded in each file.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
export const CORPUS = resolve(process.env.INSTACAP_CORPUS ?? join(repo, '..', 'shared', 'pcaps'));
const OUT = join(here, 'baselines');

/**
 * Representative set for the per-packet field comparison (path relative to the corpus). Each
 * entry says what it covers. Keep basenames unique: the baseline is fields/<basename>.tsv.
 */
export const FIELD_SET = [
  ['reference/zeek/zeek_wikipedia.pcap', 'Ethernet, IPv4+IPv6, TCP/UDP, mDNS/LLMNR'],
  ['reference/ndpi/ndpi_1kxun.pcap', 'Ethernet, large mixed TCP/UDP capture'],
  ['protocols/vlan/zeek_q-in-q.pcap', '802.1Q in 802.1Q (QinQ)'],
  ['protocols/vlan/td_802.1ad_QinQ.pcap', '802.1ad (0x88a8) outer tag'],
  ['protocols/vlan/zeek_vlan-qinqinq.pcap', 'three VLAN tags'],
  ['protocols/vlan/zeek_mpls-in-vlan.pcap', 'MPLS inside VLAN'],
  ['protocols/ipv6/zeek_ipv6-hbh-routing0.pcap', 'IPv6 hop-by-hop + routing headers'],
  ['protocols/ipv6/zeek_ipv6-mobility-dst-opts.pcap', 'IPv6 destination options, mobility header'],
  ['attacks/exfiltration/sv_ipv6-covert-dstopts.pcap', 'IPv6 destination options'],
  ['protocols/ipv6/zeek_ipv6_zero_len_ah.pcap', 'IPv6 AH, ICMPv6 error quoting'],
  ['protocols/ip-fragments/zeek_ipv4-fragmented-1.pcap', 'IPv4 fragments (reassembly)'],
  ['protocols/ip-fragments/sv_ipv4frags.pcap', 'IPv4 fragments'],
  ['protocols/ip-fragments/cs_ipv6_fragments.pcapng', 'IPv6 fragments (pcapng)'],
  ['protocols/ip-fragments/zeek_ipv6-fragmented-dns.pcap', 'IPv6 fragmented DNS'],
  ['protocols/ip-fragments/sv_defrag-vlan-ipv4-tcp-syn.pcap', 'IPv4 fragments inside VLAN'],
  ['protocols/linktypes/zeek_sll-irc-starttls.pcap', 'Linux SLL (113)'],
  ['protocols/linktypes/zeek_linux_dlt_sll2.pcap', 'Linux SLL2 (276)'],
  ['protocols/tls/zeek_tls_openjdk-25.0.2-zeek.org.pcap', 'Linux SLL2 (276), IPv6'],
  ['protocols/linktypes/td_LINKTYPE_RAW_ipv4.pcap', 'raw IP (101), IPv4'],
  ['protocols/linktypes/td_LINKTYPE_RAW_ipv6.pcap', 'raw IP (101), IPv6'],
  ['protocols/linktypes/sv_linktype-228-ipv4.pcap', 'LINKTYPE_IPV4 (228)'],
  ['protocols/icmp/zeek_icmp6-mldv2.pcap', 'LINKTYPE_IPV6 (229)'],
  ['protocols/linktypes/brimcap_loopback.pcap', 'BSD null/loopback (0)'],
  ['protocols/http/sv_http-ipv6.pcap', 'BSD null/loopback (0), IPv6'],
  ['protocols/linktypes/zeek_pppoe.pcap', 'PPPoE session'],
  ['protocols/linktypes/sv_chdlc-http.pcap', 'Cisco HDLC (104)'],
  ['protocols/linktypes/zeek_nflog-http.pcap', 'NFLOG (239)'],
  ['protocols/pcapng/zeek_pcapng-multi-interface.pcapng', 'pcapng, 2 interfaces'],
  ['protocols/pcapng/ndpi_rtp.pcapng', 'pcapng, 2 interfaces, comments'],
  ['protocols/pcapng/zeek_pcapng-126-interfaces-ldap-modify.pcapng', 'pcapng, 126 interfaces, per-packet link types'],
  ['protocols/pcapng/pcapng-test-generator/be/basic-test006.pcapng', 'big-endian pcapng'],
  ['protocols/pcapng/zeek_get-to-ssh-server-nsec.pcap', 'nanosecond pcap (a1b23c4d)'],
  ['protocols/pcapng/td_tcp-handshake-nano.pcap', 'nanosecond pcap, Linux SLL'],
  ['protocols/pcapng/td_timestamp_invalid_nano.pcap', 'nanosecond pcap with out-of-range fractions'],
  ['protocols/pcapng/arkime_bigendian.pcap', 'big-endian pcap'],
  ['protocols/pcapng/td_pptp.pcap', 'big-endian pcap, PPTP (enhanced GRE carrying PPP/IP)'],
  ['protocols/tunnels/zeek_tunnels_gre-sample.pcap', 'GRE (IPv4 in GRE)'],
  ['protocols/tunnels/zeek_tunnels_6in4.pcap', 'IPv6 in IPv4'],
  ['protocols/tunnels/zeek_tunnels_4in6.pcap', 'IPv4 in IPv6'],
  ['protocols/tunnels/zeek_tunnels_vxlan.pcap', 'VXLAN (UDP tunnel: not decapsulated by instacap)'],
  ['protocols/truncated/zeek_communityid-tcp-snaplen96.pcap', 'snaplen-cut frames (caplen < len)'],
];

/** tshark fields of the per-packet baseline: the issue's list, then helpers to pick the right layer. */
export const FIELDS = [
  'frame.number',
  'frame.time_epoch',
  'frame.len',
  'frame.cap_len',
  'ip.src',
  'ip.dst',
  'ipv6.src',
  'ipv6.dst',
  'tcp.srcport',
  'tcp.dstport',
  'udp.srcport',
  'udp.dstport',
  'ip.proto',
  'ipv6.nxt',
  // layer order (to tell tunnels from ICMP-quoted headers) and the IPv6 extension-header chain
  'frame.protocols',
  'vlan.id',
  'ieee8021ad.id',
  'ipv6.hopopts.nxt',
  'ipv6.routing.nxt',
  'ipv6.dstopts.nxt',
  'ipv6.fraghdr.nxt',
  'ah.next_header',
];

/** Conversation set for the tshark conv comparison (path relative to the corpus). */
export const CONV_SET = [
  'reference/zeek/zeek_wikipedia.pcap',
  'reference/zeek/zeek_pop3.pcap',
  'reference/ndpi/ndpi_1kxun.pcap',
  'reference/ndpi/ndpi_iphone.pcap',
  'attacks/bruteforce/ppa_ftp-crack.pcap',
  'attacks/c2-beaconing/elcabezzonn_empire_http_c2.pcap',
  'attacks/portscan/evilfingers_nmap_UDP_SCAN.pcap',
  'attacks/portscan/cs_synscan.pcapng',
  'attacks/dns-tunneling/dmachard_sods.pcap',
  'protocols/ftp/zeek_ftp_ipv4.pcap',
  'protocols/ftp/zeek_ftp_ipv6.pcap',
  'protocols/linktypes/zeek_sll-irc-starttls.pcap',
  'protocols/http/sv_http-ipv6.pcap',
  'protocols/vlan/zeek_q-in-q.pcap',
  'protocols/tunnels/zeek_tunnels_gre-sample.pcap',
  'protocols/pcapng/zeek_pcapng-multi-interface.pcapng',
  'reference/arkime/arkime_tcp_handshake_synthetic.pcap',
];

/**
 * Follow-stream set: captures whose TCP streams are compared byte for byte with
 * `tshark -z follow,tcp,raw,N` (reordering, retransmission, overlap, gaps, fast open, HTTP).
 */
export const FOLLOW_SET = [
  'protocols/tcp/arkime_tcp-reassembly-synthetic.pcap',
  'protocols/tcp/arkime_tcpseq_synthetic.pcap',
  'protocols/tcp/arkime_wireshark-retrans.pcap',
  'protocols/tcp/cs_tcp_retransmissions.pcapng',
  'protocols/tcp/cs_tcp_dupack.pcapng',
  'protocols/tcp/sv_tcp-gap.pcap',
  'protocols/tcp/sv_tcp-overlap-exact.pcap',
  'protocols/tcp/sv_tcp-overlap-partial.pcap',
  'protocols/tcp/sv_tcp-rst-with-data.pcap',
  'protocols/tcp/zeek_reassembly.pcap',
  'protocols/tcp/zeek_retransmit-fast009.pcap',
  'protocols/tcp/zeek_tcp-fast-open.pcap',
  'protocols/tcp/zeek_payload-syn.pcap',
  'protocols/tcp/zeek_handshake-reorder.pcap',
  'protocols/tcp/zeek_missing-syn.pcap',
  'protocols/http/zeek_http_get.pcap',
  'protocols/http/sv_http-chunked.pcap',
  'reference/zeek/zeek_wikipedia.pcap',
  'reference/zeek/zeek_pop3.pcap',
];

/**
 * Application records: per protocol folder of the corpus, the tshark fields the golden test
 * compares with our dns/dns_answers, http, tls and ssh tables (one filter per record kind).
 */
export const APP_FIELDS = {
  dns: {
    folder: 'protocols/dns',
    kinds: {
      // mDNS and LLMNR are their own protocols in Wireshark (same fields); we record them in dns too
      dns: ['dns || mdns || llmnr', ['frame.number', 'dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.a', 'dns.aaaa', 'dns.resp.name', 'dns.resp.type']],
    },
  },
  http: {
    folder: 'protocols/http',
    kinds: {
      request: ['http.request', ['frame.number', 'http.request.method', 'http.host', 'http.request.uri', 'http.user_agent']],
      response: ['http.response', ['frame.number', 'http.response.code']],
    },
  },
  tls: {
    folder: 'protocols/tls',
    kinds: {
      // TLS over TCP here; QUIC Initials (which tshark decrypts) are compared in the quic folder
      client_hello: ['tls.handshake.type == 1 && !quic', ['frame.number', 'tls.handshake.extensions_server_name', 'tls.handshake.ja3']],
      server_hello: ['tls.handshake.type == 2 && !quic', ['frame.number', 'tls.handshake.version', 'tls.handshake.extensions.supported_version', 'tls.handshake.ciphersuite', 'tls.handshake.ja3s']],
    },
  },
  quic: {
    folder: 'protocols/quic',
    kinds: {
      client_hello: ['quic && tls.handshake.type == 1', ['frame.number', 'tls.handshake.extensions_server_name', 'tls.handshake.ja3']],
      server_hello: ['quic && tls.handshake.type == 2', ['frame.number', 'tls.handshake.version', 'tls.handshake.extensions.supported_version', 'tls.handshake.ciphersuite', 'tls.handshake.ja3s']],
    },
  },
  ssh: {
    folder: 'protocols/ssh',
    kinds: {
      banner: ['ssh.protocol', ['frame.number', 'ssh.protocol']],
    },
  },
};

function appBaseline(rel, filter, fields) {
  const file = join(CORPUS, rel);
  const args = ['-n', ...TSHARK_PREFS, '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'header=y', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of fields) args.push('-e', f);
  const t = run('tshark', args, tsharkEnv);
  if (t.status !== 0 && t.stdout.trim() === '') throw new Error(`tshark failed on ${rel}: ${cleanErr(t.stderr)}`);
  // one record per line: a tab or newline inside a value (an SSH banner, a URI) is escaped
  return t.stdout;
}

function listCaptures(dir) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && /\.(pcap|pcapng)$/.test(e.name)) out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, env: { ...process.env, ...env } });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

// an empty, private configuration directory (made in main()): personal tshark preferences must not leak in
let wsConfig = '';
const tsharkEnv = { LC_ALL: 'C', TZ: 'UTC' };
const TSHARK_PREFS = ['-o', 'ip.defragment:TRUE', '-o', 'ipv6.defragment:TRUE'];

const cleanErr = (s) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^Running as user "root"/.test(l) && !/will continue anyway/.test(l))
    .join(' ')
    .replace(/\t/g, ' ')
    .replace(/"[^"]*\/([^"/]+)"/g, '"$1"');

function tsharkVersion() {
  return run('tshark', ['-v'], tsharkEnv).stdout.split('\n')[0].trim();
}

/**
 * capinfos count, or tshark's count when capinfos fails (tshark reads up to the damage). No corpus
 * capture needs the fallback today. Note that tshark also counts pcapng custom blocks as frames.
 */
function packetCount(rel) {
  const file = join(CORPUS, rel);
  const c = run('capinfos', ['-c', '-M', '-T', '-r', file], tsharkEnv);
  const line = c.stdout.trim().split('\n').pop() ?? '';
  const m = /\t(\d+)$/.exec(line);
  if (c.status === 0 && m) return { packets: m[1], source: 'capinfos' };
  const why = cleanErr(c.stderr) || `capinfos exit ${c.status}`;
  const t = run('tshark', ['-n', '-r', file, '-T', 'fields', '-e', 'frame.number'], tsharkEnv);
  const n = t.stdout.split('\n').filter((l) => l.trim() !== '').length;
  const terr = cleanErr(t.stderr);
  if (n === 0 && t.status !== 0) return { packets: `error:${terr || why}`, source: 'tshark' };
  return { packets: String(n), source: `tshark (capinfos: ${why}${terr ? `; tshark: ${terr}` : ''})` };
}

function fieldsBaseline(rel) {
  const file = join(CORPUS, rel);
  const args = ['-n', ...TSHARK_PREFS, '-r', file, '-T', 'fields', '-E', 'separator=/t', '-E', 'header=y', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of FIELDS) args.push('-e', f);
  const t = run('tshark', args, tsharkEnv);
  if (t.status !== 0 && t.stdout.trim() === '') throw new Error(`tshark failed on ${rel}: ${cleanErr(t.stderr)}`);
  return t.stdout;
}

const CONV_LINE =
  /^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+ (?:bytes|kB|MB|GB|TB))\s+(\d+)\s+(\d+ (?:bytes|kB|MB|GB|TB))\s+(\d+)\s+(\d+ (?:bytes|kB|MB|GB|TB))\s+(\S+)\s+(\S+)\s*$/;

/** Splits "addr:port" (IPv6 addresses contain colons: the port is after the last one). */
function splitEndpoint(s) {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), s.slice(i + 1)];
}

function convBaseline(rel) {
  const file = join(CORPUS, rel);
  const t = run('tshark', ['-n', ...TSHARK_PREFS, '-q', '-r', file, '-z', 'conv,tcp', '-z', 'conv,udp'], tsharkEnv);
  if (t.status !== 0) throw new Error(`tshark conv failed on ${rel}: ${cleanErr(t.stderr)}`);
  const rows = [];
  let proto = '';
  for (const line of t.stdout.split('\n')) {
    if (/^TCP Conversations/.test(line)) proto = 'tcp';
    else if (/^UDP Conversations/.test(line)) proto = 'udp';
    const m = CONV_LINE.exec(line);
    if (!m) continue;
    if (!proto) throw new Error(`conversation line before a table header in ${rel}: ${line}`);
    const [aH, aP] = splitEndpoint(m[1]);
    const [bH, bP] = splitEndpoint(m[2]);
    rows.push([proto, aH, aP, bH, bP, m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10]].join('\t'));
  }
  const header = ['proto', 'a_addr', 'a_port', 'b_addr', 'b_port', 'frames_b_to_a', 'bytes_b_to_a', 'frames_a_to_b', 'bytes_a_to_b', 'frames', 'bytes', 'rel_start', 'duration'];
  return { header, rows };
}

/** tshark's TCP stream numbers and the first packet's endpoints, for streams that carry payload. */
function tcpStreams(file) {
  const t = run('tshark', ['-n', ...TSHARK_PREFS, '-r', file, '-T', 'fields', '-e', 'tcp.stream', '-e', 'frame.number', '-e', 'tcp.len'], tsharkEnv);
  const first = new Map();
  const withData = new Set();
  for (const line of t.stdout.split('\n')) {
    const [st, frame, len] = line.split('\t');
    if (st === undefined || st === '') continue;
    if (!first.has(Number(st))) first.set(Number(st), Number(frame));
    if (Number(len) > 0) withData.add(Number(st));
  }
  return { streams: [...withData].sort((a, b) => a - b), first };
}

/** Parses `-z follow,tcp,raw,N` blocks: per stream, the two nodes and each node's bytes. */
function followBaseline(rel) {
  const file = join(CORPUS, rel);
  const { streams, first } = tcpStreams(file);
  const rows = [];
  for (let i = 0; i < streams.length; i += 50) {
    const args = ['-n', ...TSHARK_PREFS, '-q', '-r', file];
    for (const n of streams.slice(i, i + 50)) args.push('-z', `follow,tcp,raw,${n}`);
    const t = run('tshark', args, tsharkEnv);
    if (t.status !== 0) throw new Error(`tshark follow failed on ${rel}: ${cleanErr(t.stderr)}`);
    let cur = null;
    const done = () => {
      if (!cur) return;
      const h = cur.data.map((parts) => Buffer.from(parts.join(''), 'hex'));
      rows.push([cur.stream, first.get(cur.stream), cur.nodes[0], cur.nodes[1], h[0].length, sha256(h[0]), h[1].length, sha256(h[1]), cur.turns].join('\t'));
      cur = null;
    };
    for (const line of t.stdout.split('\n')) {
      let m;
      if ((m = /^Filter: tcp\.stream eq (\d+)/.exec(line))) {
        done();
        cur = { stream: Number(m[1]), nodes: ['', ''], data: [[], []], turns: 0, last: -1 };
      } else if (cur && (m = /^Node ([01]): (.*)$/.exec(line))) cur.nodes[Number(m[1])] = m[2].replace(/^\[(.*)\](:\d+)$/, '$1$2');
      else if (cur && /^\t?[0-9a-f]+$/.test(line)) {
        const node = line.startsWith('\t') ? 1 : 0;
        cur.data[node].push(line.trim());
        if (node !== cur.last) cur.turns++;
        cur.last = node;
      }
    }
    done();
  }
  rows.sort((a, b) => Number(a.split('\t')[0]) - Number(b.split('\t')[0]));
  const header = ['stream', 'first_frame', 'node0', 'node1', 'node0_bytes', 'node0_sha256', 'node1_bytes', 'node1_sha256', 'turns'];
  return { header, rows };
}

function sha256(b) {
  return createHash('sha256').update(b).digest('hex');
}

export function main(sections = ['counts', 'fields', 'conv', 'follow', 'app']) {
  if (!existsSync(CORPUS) || !statSync(CORPUS).isDirectory()) throw new Error(`capture corpus not found at ${CORPUS} (set INSTACAP_CORPUS)`);
  wsConfig = mkdtempSync(join(tmpdir(), 'instacap-golden-ws-'));
  tsharkEnv.WIRESHARK_CONFIG_DIR = wsConfig;
  const version = tsharkVersion();
  const capVersion = run('capinfos', ['-v'], tsharkEnv).stdout.split('\n')[0].trim();
  const stamp = `# generated by test/golden/update-baselines.mjs with ${capVersion} / ${version}; do not edit by hand`;
  mkdirSync(join(OUT, 'fields'), { recursive: true });
  mkdirSync(join(OUT, 'conv'), { recursive: true });

  // 1. packet counts for every capture in the corpus
  if (sections.includes('counts')) {
  const all = listCaptures(CORPUS);
  const lines = [stamp, 'path\tpackets\tsource'];
  for (const rel of all) {
    const c = packetCount(rel);
    lines.push(`${rel}\t${c.packets}\t${c.source}`);
  }
  writeFileSync(join(OUT, 'packet-counts.tsv'), lines.join('\n') + '\n');
  process.stdout.write(`packet-counts.tsv: ${all.length} captures\n`);
  }

  // 2. per-packet fields
  if (sections.includes('fields')) {
  const names = new Set();
  for (const f of readdirSync(join(OUT, 'fields'))) rmSync(join(OUT, 'fields', f));
  for (const [rel, what] of FIELD_SET) {
    const name = basename(rel);
    if (names.has(name)) throw new Error(`duplicate basename in FIELD_SET: ${name}`);
    names.add(name);
    const body = fieldsBaseline(rel);
    writeFileSync(join(OUT, 'fields', `${name}.tsv`), `${stamp}\n# capture: ${rel}\n# covers: ${what}\n${body}`);
  }
  process.stdout.write(`fields/: ${FIELD_SET.length} captures\n`);
  }

  // 3. conversations
  if (sections.includes('conv')) {
  for (const f of readdirSync(join(OUT, 'conv'))) rmSync(join(OUT, 'conv', f));
  for (const rel of CONV_SET) {
    const { header, rows } = convBaseline(rel);
    writeFileSync(join(OUT, 'conv', `${basename(rel)}.tsv`), [stamp, `# capture: ${rel}`, header.join('\t'), ...rows].join('\n') + '\n');
  }
  process.stdout.write(`conv/: ${CONV_SET.length} captures\n`);
  }

  // 4. followed TCP streams
  if (sections.includes('follow')) {
    mkdirSync(join(OUT, 'follow'), { recursive: true });
    for (const f of readdirSync(join(OUT, 'follow'))) rmSync(join(OUT, 'follow', f));
    for (const rel of FOLLOW_SET) {
      const { header, rows } = followBaseline(rel);
      writeFileSync(join(OUT, 'follow', `${basename(rel)}.tsv`), [stamp, `# capture: ${rel}`, header.join('\t'), ...rows].join('\n') + '\n');
    }
    process.stdout.write(`follow/: ${FOLLOW_SET.length} captures\n`);
  }

  // 5. application records
  if (sections.includes('app')) {
    for (const [proto, spec] of Object.entries(APP_FIELDS)) {
      const dir = join(OUT, 'app', proto);
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(dir)) rmSync(join(dir, f));
      const captures = listCaptures(join(CORPUS, spec.folder)).map((r) => `${spec.folder}/${r}`);
      for (const rel of captures) {
        for (const [kind, [filter, fields]] of Object.entries(spec.kinds)) {
          const body = appBaseline(rel, filter, fields);
          writeFileSync(join(dir, `${basename(rel)}.${kind}.tsv`), `${stamp}\n# capture: ${rel}\n# filter: ${filter}\n${body}`);
        }
      }
      process.stdout.write(`app/${proto}/: ${captures.length} captures\n`);
    }
  }
  rmSync(wsConfig, { recursive: true, force: true });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    // optional section names limit what is regenerated: counts fields conv follow app
    const want = process.argv.slice(2);
    main(want.length ? want : undefined);
  } catch (e) {
    if (wsConfig) rmSync(wsConfig, { recursive: true, force: true });
    process.stderr.write(`update-baselines: ${e.message}\n`);
    process.exit(1);
  }
}
