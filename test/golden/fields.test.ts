/**
 * Golden test 2: per-packet decoded fields against tshark, for the representative set listed in
 * update-baselines.mjs (FIELD_SET). Baselines: baselines/fields/<capture>.tsv.
 *
 * What is compared, per frame (frame N of tshark = packet_no N of instacap):
 *   time     frame.time_epoch, to the nanosecond, as a string
 *   len/cap  frame.len / frame.cap_len (origlen / caplen)
 *   ip       version, source and destination of the IP header instacap uses for the flow
 *   proto    upper-layer protocol number (ip.proto; for IPv6 the last next-header of the chain)
 *   ports    TCP/UDP source and destination ports, when tshark dissects TCP/UDP on that frame
 *   vlan     outer and inner 802.1Q/802.1ad ids (instacap keeps two tags)
 *
 * Which IP header: instacap decodes IP-in-IP, IPv6-in-IPv4, IPv4-in-IPv6 and GRE (incl. PPTP's
 * enhanced GRE and Ethernet-over-GRE) and reports the innermost IP of that chain. tshark prints
 * every IP header of a frame as a comma-separated list, including the headers quoted inside ICMP
 * errors and the inner headers of UDP tunnels (VXLAN, Teredo, ...), which instacap leaves alone.
 * So the expected value is picked with frame.protocols: start at the first ip/ipv6 layer and move
 * to the next one only across layers of a decapsulated tunnel (IPv6 extension headers, gre, ppp,
 * eth, ethertype, vlan); any other layer (tcp, udp, icmp, data...) ends the chain. For a plain GRE
 * tunnel that is the last value of the list, as the issue asks.
 *
 * IP fragments: tshark (ip.defragment / ipv6.defragment on, pinned by the update script) shows
 * the transport layer only on the frame that completes reassembly; instacap's decoder returns
 * the transport header on the same frame (the others are held: fragHeld). So the comparison is
 * exact: ports are expected exactly on the frames where tshark has a tcp/udp layer.
 */
import { describe, expect, it } from 'vitest';
import { basename } from 'node:path';
import { Decoded, decodePacket } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { formatIPv4, formatIPv6 } from '../../engine/decode/addr.js';
import { UPDATING, baselineFiles, corpusPath, epochString, forEachPacket, readTsv } from './helpers.js';

/** Layers that may sit between two IP headers of a tunnel instacap decapsulates. */
const TUNNEL_GLUE = new Set(['gre', 'ppp', 'eth', 'ethertype', 'vlan', 'ipv6.hopopts', 'ipv6.routing', 'ipv6.dstopts', 'ipv6.fraghdr', 'ah']);
/** IPv6 extension-header layers and the field holding their next-header value. */
const EXT_NXT: Record<string, string> = {
  'ipv6.hopopts': 'ipv6.hopopts.nxt',
  'ipv6.routing': 'ipv6.routing.nxt',
  'ipv6.dstopts': 'ipv6.dstopts.nxt',
  'ipv6.fraghdr': 'ipv6.fraghdr.nxt',
  ah: 'ah.next_header',
};

interface Known {
  capture: string;
  frame: number;
  field: string;
  ours: string;
  tshark: string;
  reason: string;
  /** A real engine bug: also registered as an `it.fails` case so that it stays visible. */
  bug?: boolean;
}

/**
 * Deliberate, explained differences (exact values: an entry that no longer occurs fails the test,
 * so the table cannot go stale).
 */
const KNOWN: Known[] = [
  // pcap-ns records whose fraction is >= 1e9 (deliberately invalid file from tcpdump's tests)
  {
    capture: 'protocols/pcapng/td_timestamp_invalid_nano.pcap',
    frame: 2,
    field: 'time',
    ours: '1418145371.000000000',
    tshark: '1418145370.1000000000',
    reason: 'fraction 1000000000 ns: tshark 4.0 prints the raw fraction, instacap carries it into the seconds (same instant)',
  },
  {
    capture: 'protocols/pcapng/td_timestamp_invalid_nano.pcap',
    frame: 3,
    field: 'time',
    ours: '1418145372.147483648',
    tshark: '-1418145370.2147483648',
    reason: 'fraction 0x80000000 ns: tshark 4.0 reads it as a negative int32 and prints a minus sign; instacap carries it into the seconds',
  },
  // malformed IPv6 destination options (Zeek's ipv6-mobility-dst-opts trace)
  {
    capture: 'protocols/ipv6/zeek_ipv6-mobility-dst-opts.pcap',
    frame: 1,
    field: 'ports',
    ours: '30000 > 13000',
    tshark: '',
    reason:
      'an option TLV inside the Destination Options header claims 144 bytes: tshark stops at the malformed option; instacap skips the header by its own length field (24 bytes) and decodes the UDP header behind it (does not validate option TLVs)',
  },
  {
    capture: 'protocols/ipv6/zeek_ipv6-mobility-dst-opts.pcap',
    frame: 2,
    field: 'proto',
    ours: '-1',
    tshark: '17',
    reason:
      'the Destination Options header (40 bytes) is longer than the 36-byte payload: instacap reports ipv6_truncated_ext_header and no upper-layer protocol; tshark prints the next-header byte of the cut header',
  },
];

interface Values {
  time: string;
  len: string;
  cap: string;
  ip: string;
  proto: string;
  ports: string;
  vlan: string;
}

const FIELDS_COMPARED: (keyof Values)[] = ['time', 'len', 'cap', 'ip', 'proto', 'ports', 'vlan'];

function list(v: string | undefined): string[] {
  return v ? v.split(',') : [];
}

/** What tshark says, reduced to the layer instacap reports (see the file comment). */
function expected(col: (name: string) => string): Values {
  const layers = list(col('frame.protocols').replace(/:/g, ','));
  let chosen = -1;
  for (let i = 0; i < layers.length; i++) {
    const l = layers[i];
    if (l === 'ip' || l === 'ipv6') {
      chosen = i;
      continue;
    }
    if (chosen < 0 || TUNNEL_GLUE.has(l)) continue;
    break;
  }
  const before = (name: string, end: number) => layers.slice(0, end).filter((l) => l === name).length;
  let ip = '';
  let proto = '';
  let ports = '';
  if (chosen >= 0) {
    const v6 = layers[chosen] === 'ipv6';
    const k = before(layers[chosen], chosen);
    if (v6) {
      ip = `6 ${list(col('ipv6.src'))[k] ?? '?'} > ${list(col('ipv6.dst'))[k] ?? '?'}`;
      proto = list(col('ipv6.nxt'))[k] ?? '?';
    } else {
      ip = `4 ${list(col('ip.src'))[k] ?? '?'} > ${list(col('ip.dst'))[k] ?? '?'}`;
      proto = list(col('ip.proto'))[k] ?? '?';
    }
    // walk the extension headers after the chosen IP header: the last next-header wins
    let j = chosen + 1;
    while (j < layers.length && EXT_NXT[layers[j]]) {
      const f = EXT_NXT[layers[j]];
      proto = list(col(f))[before(layers[j], j)] ?? '?';
      j++;
    }
    const t = layers[j];
    if (t === 'tcp' || t === 'udp') {
      const occ = before(t, j);
      ports = `${list(col(`${t}.srcport`))[occ] ?? '?'} > ${list(col(`${t}.dstport`))[occ] ?? '?'}`;
    }
  }
  // 802.1Q tags are vlan.id, 802.1ad (0x88a8) service tags ieee8021ad.id: take them in layer order
  const vl: string[] = [];
  for (let i = 0; i < layers.length && vl.length < 2; i++) {
    if (layers[i] === 'vlan') vl.push(list(col('vlan.id'))[before('vlan', i)] ?? '?');
    else if (layers[i] === 'ieee8021ad') vl.push(list(col('ieee8021ad.id'))[before('ieee8021ad', i)] ?? '?');
  }
  return {
    time: col('frame.time_epoch'),
    len: col('frame.len'),
    cap: col('frame.cap_len'),
    ip,
    proto,
    ports,
    vlan: vl.join(','),
  };
}

/** What instacap's reader and decoder say about one packet. */
function ours(p: { tsSec: number; tsNs: number; origlen: number; caplen: number }, d: Decoded): Values {
  let ip = '';
  let proto = '';
  let ports = '';
  if (d.ipVersion === 4) ip = `4 ${formatIPv4(d.nb, d.srcOff)} > ${formatIPv4(d.nb, d.dstOff)}`;
  else if (d.ipVersion === 6) ip = `6 ${formatIPv6(d.nb, d.srcOff)} > ${formatIPv6(d.nb, d.dstOff)}`;
  if (d.ipVersion !== 0) {
    proto = String(d.proto);
    if (d.hasL4 && !d.fragHeld && (d.proto === 6 || d.proto === 17)) ports = `${d.sport} > ${d.dport}`;
  }
  const vlan = d.vlan < 0 ? '' : d.innerVlan < 0 ? String(d.vlan) : `${d.vlan},${d.innerVlan}`;
  return { time: epochString(p.tsSec, p.tsNs), len: String(p.origlen), cap: String(p.caplen), ip, proto, ports, vlan };
}

interface Diff {
  frame: number;
  field: string;
  ours: string;
  tshark: string;
}

async function compare(file: string): Promise<{ capture: string; frames: number; diffs: Diff[] }> {
  const tsv = readTsv(file);
  const capture = tsv.meta.capture;
  const idx = new Map(tsv.header.map((h, i) => [h, i]));
  const byFrame = new Map<number, string[]>();
  for (const r of tsv.rows) byFrame.set(Number(r[idx.get('frame.number')!]), r);
  const diffs: Diff[] = [];
  const d = new Decoded();
  const frag = new Reassembler();
  let n = 0;
  await forEachPacket(corpusPath(capture), (p) => {
    n++;
    decodePacket(p, d, { frag, now: p.tsSec + p.tsNs / 1e9 });
    const row = byFrame.get(p.packetNo);
    if (!row) {
      diffs.push({ frame: p.packetNo, field: 'frame', ours: 'present', tshark: 'missing' });
      return;
    }
    const exp = expected((name) => {
      const i = idx.get(name);
      if (i === undefined) throw new Error(`${file}: no column ${name}`);
      return row[i] ?? '';
    });
    const got = ours(p, d);
    for (const f of FIELDS_COMPARED) if (got[f] !== exp[f]) diffs.push({ frame: p.packetNo, field: f, ours: got[f], tshark: exp[f] });
  });
  if (n !== tsv.rows.length) diffs.push({ frame: 0, field: 'frames', ours: String(n), tshark: String(tsv.rows.length) });
  return { capture, frames: n, diffs };
}

// not read in update mode: the update script is rewriting them meanwhile
const files = UPDATING ? [] : baselineFiles('fields');

describe.skipIf(UPDATING)('golden: per-packet fields vs tshark', () => {
  it('has a representative set of baselines', () => {
    expect(files.length).toBeGreaterThanOrEqual(25);
  });

  for (const file of files) {
    const name = basename(file, '.tsv');
    it(name, async () => {
      const { capture, frames, diffs } = await compare(file);
      expect(frames).toBeGreaterThan(0);
      const known = KNOWN.filter((k) => k.capture === capture);
      const isKnown = (x: Diff) => known.some((k) => k.frame === x.frame && k.field === x.field && k.ours === x.ours && k.tshark === x.tshark);
      const unexpected = diffs.filter((x) => !isKnown(x)).map((x) => `frame ${x.frame} ${x.field}: instacap "${x.ours}" tshark "${x.tshark}"`);
      const stale = known
        .filter((k) => !diffs.some((x) => k.frame === x.frame && k.field === x.field && k.ours === x.ours && k.tshark === x.tshark))
        .map((k) => `known difference no longer seen: frame ${k.frame} ${k.field} (${k.reason})`);
      expect([...unexpected, ...stale]).toEqual([]);
    });
  }

  // real engine bugs found by this comparison: red when fixed (then delete the KNOWN entry)
  for (const k of KNOWN.filter((x) => x.bug)) {
    it.fails(`BUG ${basename(k.capture)} frame ${k.frame} ${k.field}: instacap "${k.ours}", tshark "${k.tshark}" (${k.reason})`, async () => {
      const file = files.find((f) => basename(f, '.tsv') === basename(k.capture))!;
      const { diffs } = await compare(file);
      expect(diffs.filter((x) => x.frame === k.frame && x.field === k.field)).toEqual([]);
    });
  }
});
