/**
 * Fuzz/property tests of decodeUdpTunnel (VXLAN, Geneve, GTP-U, Teredo inside UDP): random and
 * mutated payloads on the tunnel ports, and mutated packets of the corpus' tunnel captures. It
 * must never throw, must only report named anomalies, must keep the inner packet's offsets inside
 * the outer datagram, and must not read past the captured bytes (junk after them changes nothing).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Decoded, decodePacket, decodeUdpTunnel, PROTO_UDP, type DecodeContext } from '../../engine/decode/packet.js';
import { Reassembler } from '../../engine/decode/frag.js';
import { ANOMALY_NAMES } from '../../common/anomalies.js';
import { corpusPackets, eth, ipv4, rawPacket, udp } from '../fixtures/build.js';

const SEED = 4789;
const KNOWN = new Set(Object.keys(ANOMALY_NAMES));

/** Decodes an Ethernet frame with `junk` after its captured bytes; returns what the tunnel decoder made of it. */
function decodeFrame(frame: Buffer, junk: Buffer): { kind: string | null; inner: unknown[] } {
  const buf = Buffer.concat([frame, junk]);
  const ctx: DecodeContext = { frag: new Reassembler(), now: 0 };
  const d = new Decoded();
  decodePacket(rawPacket(buf, 1, { caplen: frame.length, origlen: frame.length }), d, ctx);
  const inner = new Decoded();
  const kind = d.proto === PROTO_UDP ? decodeUdpTunnel(d, inner, ctx) : null;
  if (kind === null) return { kind, inner: [] };
  expect(['vxlan', 'geneve', 'gtpv1', 'teredo']).toContain(kind);
  for (const a of inner.anomalies) expect(KNOWN.has(a), `unknown anomaly ${a}`).toBe(true);
  expect(inner.tunnelDepth).toBe(d.tunnelDepth + 1);
  const lo = d.payloadOff;
  const hi = d.payloadOff + d.payloadCaptured;
  if (inner.ipVersion !== 0 && inner.nb === d.tb) {
    const alen = inner.ipVersion === 6 ? 16 : 4;
    expect(inner.srcOff).toBeGreaterThanOrEqual(lo);
    expect(inner.dstOff + alen).toBeLessThanOrEqual(hi);
  }
  if (inner.hasL4 && inner.payloadCaptured > 0 && inner.tb === d.tb) {
    expect(inner.payloadOff).toBeGreaterThanOrEqual(lo);
    expect(inner.payloadOff + inner.payloadCaptured).toBeLessThanOrEqual(hi);
  }
  const payload = inner.hasL4 && inner.payloadCaptured > 0 ? inner.tb.toString('hex', inner.payloadOff, inner.payloadOff + inner.payloadCaptured) : '';
  return {
    kind,
    inner: [inner.ipVersion, inner.proto, inner.sport, inner.dport, inner.tcpFlags, inner.payloadLen, inner.payloadCaptured, inner.icmpType, [...inner.anomalies], payload],
  };
}

const PORTS = [4789, 6081, 2152, 3544, 40000];
/** Header starts that pass each tunnel's first checks, so that random bytes reach the inner decoders. */
const HEADS: Buffer[] = [
  Buffer.from('0800000000000100', 'hex'), // VXLAN, I flag
  Buffer.from('0000655800000100', 'hex'), // Geneve, Ethernet
  Buffer.from('0100080000000100', 'hex'), // Geneve, IPv4, one option word
  Buffer.from('30ff000000000001', 'hex'), // GTP-U T-PDU
  Buffer.from('34ff00000000000100000085', 'hex'), // GTP-U with an extension header
  Buffer.from('0000', 'hex'), // Teredo origin indication
  Buffer.from('60000000', 'hex'), // IPv6
];

describe('decodeUdpTunnel', () => {
  it('random payloads on the tunnel ports: never throws, offsets inside the datagram, no read past the capture', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PORTS),
        fc.boolean(),
        fc.integer({ min: 0, max: HEADS.length }),
        fc.uint8Array({ maxLength: 120 }),
        fc.uint8Array({ minLength: 1, maxLength: 16 }),
        (port, asSource, head, body, junk) => {
          const payload = Buffer.concat([head < HEADS.length ? HEADS[head] : Buffer.alloc(0), Buffer.from(body)]);
          const frame = eth(ipv4(udp(payload, asSource ? { sport: port, dport: 50000 } : { sport: 50000, dport: port }), { proto: 17 }));
          const a = decodeFrame(frame, Buffer.alloc(junk.length));
          const b = decodeFrame(frame, Buffer.from(junk));
          expect(b).toEqual(a);
        },
      ),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('mutated packets of the tunnel captures: never throws, invariants hold', async () => {
    const pool: Buffer[] = [];
    for (const f of ['zeek_tunnels_vxlan.pcap', 'zeek_tunnels_geneve.pcap', 'zeek_tunnels_Teredo.pcap', 'zeek_gtp1_gn_normal_incl_fragmentation.pcap']) {
      for (const p of (await corpusPackets(`protocols/tunnels/${f}`)).slice(0, 200)) if (p.linkType === 1) pool.push(p.data);
    }
    expect(pool.length).toBeGreaterThan(50);
    // the unmutated packets do carry tunnels
    expect(pool.filter((p) => decodeFrame(p, Buffer.alloc(0)).kind !== null).length).toBeGreaterThan(20);
    fc.assert(
      fc.property(fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), (pick, flips, cut) => {
        const src = pool[pick % pool.length];
        const data = Buffer.from(src.subarray(0, Math.max(14, src.length - (cut % 64))));
        for (const [at, v] of flips) data[at % data.length] = v;
        const a = decodeFrame(data, Buffer.alloc(8));
        const b = decodeFrame(data, Buffer.from('ffffffffffffffff', 'hex'));
        expect(b).toEqual(a);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });
});
