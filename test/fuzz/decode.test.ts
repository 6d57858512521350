/**
 * Fuzz/property tests of decodePacket for every link type it handles (and an unknown one): random
 * bytes and mutated real packets from the shared corpus. The decoder must never throw, must only
 * report named anomalies, must keep every offset it reports inside the packet, and must not read
 * past the captured length (the same packet followed by different junk decodes identically).
 * Every decoded packet is also fed to a FlowTracker, which must accept it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoded, decodePacket, type DecodeContext } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { FlowTracker, type Flow } from '../../engine/flows/tracker.js';
import { ANOMALY_NAMES } from '../../common/anomalies.js';
import { corpusPackets, nullLoop, rawPacket } from '../fixtures/build.js';

const SEED = 20240611;
const RUNS = 1500;

/** Real packets per link type (captures in /work/shared/pcaps); 12, 14 and 108 are synthesised from raw IP. */
const SOURCES: Record<number, string[]> = {
  0: ['protocols/dns/zeek_dns-svcb.pcap', 'protocols/dns/td_dns-badcookie.pcap'],
  1: [
    'protocols/vlan/zeek_q-in-q.pcap',
    'protocols/tunnels/zeek_tunnels_gre-sample.pcap',
    'protocols/ip-fragments/zeek_ipv4-fragmented-1.pcap',
    'protocols/ip-fragments/zeek_ipv6-fragmented-dns.pcap',
    'protocols/tunnels/zeek_tunnels_6in4.pcap',
    'protocols/icmp/zeek_icmp6-ping.pcap',
    'protocols/tcp/zeek_handshake-reorder.pcap',
    'protocols/vlan/zeek_mpls-in-vlan.pcap',
  ],
  9: ['protocols/linktypes/ndpi_dlt_ppp.pcap'],
  101: ['protocols/linktypes/td_LINKTYPE_RAW_ipv4.pcap', 'protocols/linktypes/td_LINKTYPE_RAW_ipv6.pcap'],
  104: ['protocols/linktypes/sv_chdlc-http.pcap'],
  105: ['protocols/linktypes/zeek_wlanmon.pcap'],
  113: ['protocols/linktypes/zeek_linuxsll-arp.pcap', 'protocols/linktypes/zeek_sll-irc-starttls.pcap'],
  127: ['protocols/linktypes/zeek_radiotap.pcap'],
  228: ['protocols/linktypes/sv_linktype-228-ipv4.pcap'],
  229: ['protocols/icmp/zeek_icmp6-mldv2.pcap', 'protocols/linktypes/td_LINKTYPE_IPV6.pcap'],
  239: ['protocols/linktypes/td_nflog.pcap', 'protocols/linktypes/zeek_nflog-http.pcap'],
  258: ['protocols/linktypes/td_LINKTYPE_PKTAP.pcap'],
  276: ['protocols/linktypes/sv_decode-sll2.pcap', 'protocols/linktypes/zeek_linux_dlt_sll2.pcap'],
};
const LINK_TYPES = [0, 1, 9, 12, 14, 101, 104, 105, 108, 113, 127, 228, 229, 239, 258, 276];
const UNKNOWN_LINK = 147; // LINKTYPE_USER0

const samples = new Map<number, Buffer[]>();

beforeAll(async () => {
  for (const [lt, files] of Object.entries(SOURCES)) {
    const list: Buffer[] = [];
    for (const f of files) for (const p of await corpusPackets(f)) list.push(p.data);
    samples.set(Number(lt), list);
  }
  const raw = [...samples.get(101)!, ...samples.get(228)!, ...samples.get(229)!];
  samples.set(12, raw);
  samples.set(14, raw);
  samples.set(108, raw.map((p) => nullLoop(p, p[0] >> 4 === 6 ? 30 : 2, true)));
  samples.set(UNKNOWN_LINK, samples.get(1)!.slice(0, 20));
});

interface Summary {
  ret: boolean;
  fields: (number | boolean | string)[];
  anomalies: string[];
  addrs: string;
  payload: string;
}

function summary(ret: boolean, d: Decoded): Summary {
  const alen = d.ipVersion === 6 ? 16 : 4;
  return {
    ret,
    fields: [
      d.macOff, d.vlan, d.innerVlan, d.etherType, d.isArp, d.ipVersion, d.srcOff, d.dstOff, d.ipLen, d.ipHdrLen, d.proto, d.fragHeld,
      d.tunnelDepth, d.hasL4, d.sport, d.dport, d.tcpFlags, d.seq, d.ack, d.win, d.payloadLen, d.payloadCaptured, d.mss, d.wscale,
      d.sackOk, (d as unknown as { tsValI?: number }).tsValI ?? (d as unknown as { tsVal?: number }).tsVal ?? 0, d.icmpType, d.icmpCode,
    ],
    anomalies: [...d.anomalies],
    addrs: d.ipVersion ? d.nb.toString('hex', d.srcOff, d.srcOff + alen) + '>' + d.nb.toString('hex', d.dstOff, d.dstOff + alen) : '',
    payload: d.hasL4 && d.payloadCaptured > 0 ? d.tb.toString('hex', d.payloadOff, d.payloadOff + d.payloadCaptured) : '',
  };
}

const KNOWN = new Set(Object.keys(ANOMALY_NAMES));

/** Decodes `data` placed at `off` in a buffer with `junk` around it; checks the invariants. */
function decodeChecked(data: Buffer, linkType: number, lead: Buffer, junk: Buffer, snapped: boolean, ctx?: DecodeContext): Summary {
  const buf = Buffer.concat([lead, data, junk]);
  const pk = rawPacket(buf, linkType, { off: lead.length, caplen: data.length, origlen: snapped ? data.length + 100 : data.length });
  const d = new Decoded();
  const c = ctx ?? { frag: new Reassembler(), now: 0 };
  const ret = decodePacket(pk, d, c);
  expect(typeof ret).toBe('boolean');
  if (!ret) {
    expect(d.ipVersion).toBe(0);
    expect(d.anomalies).toEqual([]);
  }
  expect(d.anomalies.length).toBeLessThanOrEqual(16);
  expect(d.details.length).toBe(d.anomalies.length);
  for (const a of d.anomalies) expect(KNOWN.has(a), `unknown anomaly ${a}`).toBe(true);
  const lo = lead.length;
  const hi = lead.length + data.length;
  if (d.ipVersion !== 0) {
    expect([4, 6]).toContain(d.ipVersion);
    expect(d.nb).toBe(buf);
    const alen = d.ipVersion === 6 ? 16 : 4;
    // addresses lie inside the captured bytes of this packet
    expect(d.srcOff).toBeGreaterThanOrEqual(lo);
    expect(d.srcOff + alen).toBeLessThanOrEqual(hi);
    expect(d.dstOff).toBeGreaterThanOrEqual(lo);
    expect(d.dstOff + alen).toBeLessThanOrEqual(hi);
    expect(d.ipLen).toBeGreaterThanOrEqual(0);
  }
  if (d.macOff >= 0) expect(d.macOff + 12).toBeLessThanOrEqual(hi);
  if (d.hasL4) {
    expect(d.payloadLen).toBeGreaterThanOrEqual(0);
    expect(d.payloadCaptured).toBeGreaterThanOrEqual(0);
    expect(d.payloadCaptured).toBeLessThanOrEqual(d.payloadLen);
    if (d.payloadCaptured > 0) {
      expect(d.payloadOff).toBeGreaterThanOrEqual(0);
      expect(d.payloadOff + d.payloadCaptured).toBeLessThanOrEqual(d.tb === buf ? hi : d.tb.length);
      if (d.tb === buf) expect(d.payloadOff).toBeGreaterThanOrEqual(lo);
    }
    expect(d.sport).toBeGreaterThanOrEqual(0);
    expect(d.sport).toBeLessThanOrEqual(0xffff);
    expect(d.dport).toBeLessThanOrEqual(0xffff);
  }
  if (d.fragHeld) expect(d.hasL4).toBe(false);
  return summary(ret, d);
}

/** Mutations of a real packet: bit flips, byte overwrites, truncation, extension. */
const mutation = fc.record({
  flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 4 }),
  sets: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  truncate: fc.option(fc.nat(), { nil: undefined }),
  extend: fc.uint8Array({ maxLength: 40 }),
});

function mutate(p: Buffer, m: { flips: [number, number][]; sets: [number, number][]; truncate?: number; extend: Uint8Array }): Buffer {
  let b = Buffer.from(p);
  for (const [i, bit] of m.flips) if (b.length) b[i % b.length] ^= 1 << bit;
  for (const [i, v] of m.sets) if (b.length) b[i % b.length] = v;
  if (m.truncate !== undefined) b = b.subarray(0, m.truncate % (b.length + 1));
  return Buffer.concat([b, Buffer.from(m.extend)]);
}

const junkArb = fc.uint8Array({ minLength: 0, maxLength: 64 }).map((u) => Buffer.from(u));
const leadArb = fc.integer({ min: 0, max: 9 }).map((n) => Buffer.alloc(n, 0xa5));

function trackAll(packets: { d: Decoded; ts: number }[]): Flow[] {
  const flows: Flow[] = [];
  const t = new FlowTracker((f) => flows.push(f));
  for (const { d, ts } of packets) t.packet(d, ts, 0, 1, 1, null);
  t.finish();
  return flows;
}

describe.each([...LINK_TYPES, UNKNOWN_LINK])('decodePacket, link type %i', (lt) => {
  it('the unmutated seed packets decode (so mutations start from deep, valid packets)', () => {
    const pool = samples.get(lt)!;
    let l4 = 0;
    for (const p of pool) {
      const s = decodeChecked(p, lt, Buffer.alloc(0), Buffer.alloc(0), false);
      expect(s.anomalies).toEqual([]);
      if (s.fields[13] === true) l4++;
    }
    if (lt === UNKNOWN_LINK) expect(l4).toBe(0);
    else expect(l4 / pool.length).toBeGreaterThan(0.5);
  });

  it('random bytes: never throws, named anomalies only, offsets inside the packet, no read past caplen', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 160 }), leadArb, junkArb, junkArb, fc.boolean(), (u, lead, j1, j2, snapped) => {
        const data = Buffer.from(u);
        const a = decodeChecked(data, lt, lead, j1, snapped);
        const b = decodeChecked(data, lt, lead, j2, snapped);
        expect(b).toEqual(a);
        if (lt === UNKNOWN_LINK) expect(a.ret).toBe(false);
        else expect(a.ret).toBe(true);
      }),
      { seed: SEED + lt, numRuns: RUNS },
    );
  });

  it('mutated real packets: never throws, invariants hold, no read past caplen; the flow tracker accepts them', () => {
    const pool = samples.get(lt)!;
    expect(pool.length).toBeGreaterThan(0);
    fc.assert(
      fc.property(fc.nat(), mutation, leadArb, junkArb, junkArb, fc.boolean(), (pick, m, lead, j1, j2, snapped) => {
        const data = mutate(pool[pick % pool.length], m);
        const a = decodeChecked(data, lt, lead, j1, snapped);
        const b = decodeChecked(data, lt, lead, j2, snapped);
        expect(b).toEqual(a);
      }),
      { seed: SEED + lt, numRuns: RUNS },
    );
  });

  it('a stream of mutated packets through one reassembler and one flow tracker never throws', () => {
    const pool = samples.get(lt)!;
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), mutation, fc.integer({ min: 0, max: 30 })), { minLength: 1, maxLength: 40 }), (items) => {
        const ctx: DecodeContext = { frag: new Reassembler({ maxDatagrams: 4, maxBytes: 4096, timeoutSec: 10 }), now: 0 };
        const decoded: { d: Decoded; ts: number }[] = [];
        let ts = 1_600_000_000;
        const flows: Flow[] = [];
        const tracker = new FlowTracker((f) => flows.push(f));
        let assigned = 0;
        for (const [pick, m, dt] of items) {
          ts += dt;
          ctx.now = ts;
          const data = mutate(pool[pick % pool.length], m);
          const d = new Decoded();
          const ok = decodePacket(rawPacket(data, lt), d, ctx);
          if (ok) {
            const id = tracker.packet(d, ts, 0, 1, 1, data);
            expect(id).toBeGreaterThanOrEqual(0);
            if (id > 0) assigned++;
          }
          decoded.push({ d, ts });
        }
        ctx.frag.flush(() => {});
        tracker.finish();
        expect(flows.reduce((s, f) => s + f.o.pkts + f.r.pkts, 0)).toBe(assigned);
      }),
      { seed: SEED + lt, numRuns: 150 },
    );
    expect(trackAll([])).toEqual([]);
  });
});
