/**
 * Properties of the DHCP parser: random bytes, random options behind a valid header and mutated
 * or truncated real messages never throw; a message is rejected only when it is shorter than the
 * BOOTP header or its op is not 1/2; and the shared transaction table accounts for every message
 * exactly once (the msg_types of all rows after flush() are the messages fed), never holds more
 * than maxOpen transactions, and ends rows only at an ACK/NAK/BOOTREPLY, an idle gap, the open
 * limit, 50 message types or flush().
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AnomalyName } from '../../common/anomalies.js';
import { DHCP } from '../../common/fields.js';
import { createDhcp, DhcpTransactions, parseDhcp, type DhcpMessage } from '../../engine/app/dhcp.js';
import { RecordingSink } from '../helpers/app-sink.js';
import { forEachDecoded } from '../helpers/capture.js';
import { PCAPS } from '../fixtures/build.js';

const CAPTURES = [
  'protocols/dhcp/zeek_dhcp_dhcp.pcap',
  'protocols/dhcp/arkime_wireshark-dhcp.pcap',
  'protocols/dhcp/sv_dhcp-extended.pcap',
  'protocols/dhcp/td_dhcp-rfc3004.pcap',
  'protocols/dhcp/zeek_dhcp_dhcp_inform.pcap',
  'protocols/dhcp/cs_dhcp_nolease_initialization.pcapng',
  'reference/ndpi/ndpi_1kxun.pcap',
  'reference/ndpi/ndpi_iphone.pcap',
];

/** UDP payloads on port 67/68 of the captures above, copied. */
let real: Uint8Array[] = [];

async function payloads(path: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  await forEachDecoded(path, (_pk, d) => {
    if (!d.hasL4 || d.proto !== 17) return;
    if (d.sport !== 67 && d.sport !== 68 && d.dport !== 67 && d.dport !== 68) return;
    out.push(Uint8Array.from(d.tb.subarray(d.payloadOff, d.payloadOff + d.payloadCaptured)));
  });
  return out;
}

beforeAll(async () => {
  real = (await Promise.all(CAPTURES.map((c) => payloads(`${PCAPS}/${c}`)))).flat();
  expect(real.length).toBeGreaterThan(40);
});

const OWN_COLUMNS = new Set(DHCP.fields.map((f) => f.name).filter((n) => !['uid', 'flow_id', 'orig_h', 'orig_p', 'resp_h', 'resp_p', 'evidence_id'].includes(n)));
const COMPLETING = new Set(['ACK', 'NAK', 'BOOTREPLY']);

const noteAnomaly = (name: AnomalyName, detail: string): void => {
  expect(name).toBe('dhcp_malformed');
  expect(typeof detail).toBe('string');
};

function checkMessage(b: Uint8Array, m: DhcpMessage | null): void {
  const headerOk = b.length >= 236 && (b[0] === 1 || b[0] === 2);
  expect(m !== null).toBe(headerOk);
  if (m === null) return;
  expect(m.xid).toBeGreaterThanOrEqual(0);
  expect(m.xid).toBeLessThan(2 ** 32);
  expect(m.ciaddr).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  if (m.leaseTime !== null) expect(Number.isInteger(m.leaseTime) && m.leaseTime >= 0).toBe(true);
  if (m.msgType !== null) expect(m.magic).toBe(true);
}

/** Every row has exactly the table's own columns; returns the message types of all rows. */
function allTypes(sinks: RecordingSink[]): string[] {
  const types: string[] = [];
  for (const s of sinks) {
    for (const row of s.table('dhcp')) {
      expect(new Set(Object.keys(row))).toEqual(OWN_COLUMNS);
      const t = (row.msg_types as string).split(',');
      expect(t.length).toBeLessThanOrEqual(50);
      // A completing type only ever ends a row.
      for (const x of t.slice(0, -1)) expect(COMPLETING.has(x)).toBe(false);
      types.push(...t);
    }
  }
  return types;
}

function mutate(b: Uint8Array, edits: { at: number; v: number; kind: number }[], cut: number): Uint8Array {
  const out = Array.from(b);
  for (const e of edits) {
    const at = e.at % (out.length + 1);
    if (e.kind === 0) out[at] = e.v;
    else if (e.kind === 1) out.splice(at, 0, e.v);
    else out.splice(at, 1);
  }
  return Uint8Array.from(out.slice(0, Math.max(0, out.length - cut)));
}

describe('parseDhcp properties', () => {
  it('random bytes never throw; only short or non-BOOTP input is rejected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), fc.constantFrom(1, 2, 0, 7), (bytes, op) => {
        if (bytes.length > 0) bytes[0] = op;
        checkMessage(bytes, parseDhcp(bytes, 0, bytes.length, noteAnomaly));
      }),
      { seed: 0xd4c9, numRuns: 3000 },
    );
  });

  it('random options behind a valid header and cookie never throw', () => {
    const header = new Uint8Array(240);
    header[0] = 1;
    header[1] = 1;
    header[2] = 6;
    header.set([99, 130, 83, 99], 236);
    // Options biased toward the codes the parser reads, with plausible and implausible lengths.
    const opt = fc.tuple(fc.constantFrom(0, 12, 15, 50, 51, 52, 53, 54, 55, 56, 60, 61, 81, 255, 77), fc.uint8Array({ maxLength: 40 }), fc.boolean());
    fc.assert(
      fc.property(fc.array(opt, { maxLength: 20 }), fc.uint8Array({ maxLength: 192 }), (opts, fields) => {
        const parts: number[] = Array.from(header);
        parts.splice(44, fields.length, ...fields); // sname and file: room for overloaded options
        parts.length = 240;
        for (const [code, val, lie] of opts) parts.push(code, lie ? (val.length + 7) & 255 : val.length, ...val);
        const b = Uint8Array.from(parts);
        const m = parseDhcp(b, 0, b.length, noteAnomaly);
        checkMessage(b, m);
        expect(m!.magic).toBe(true);
      }),
      { seed: 0x5eed, numRuns: 3000 },
    );
  });

  it('every truncation of every real message parses without throwing', () => {
    for (const b of real) {
      for (let n = 0; n <= b.length; n++) checkMessage(b.subarray(0, n), parseDhcp(b, 0, n, noteAnomaly));
    }
  });
});

describe('transactions properties', () => {
  it('mutated real messages through createDhcp: every accepted message is in exactly one row', () => {
    const edit = fc.record({ at: fc.nat(700), v: fc.integer({ min: 0, max: 255 }), kind: fc.integer({ min: 0, max: 2 }) });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(real.length - 1), fc.array(edit, { maxLength: 6 }), fc.nat(20), fc.nat(3), fc.nat(90)), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 120 }),
        (steps, maxOpen, idleSec) => {
          const tx = new DhcpTransactions({ maxOpen, idleSec });
          const sinks = [0, 1, 2, 3].map(() => new RecordingSink('udp'));
          const parsers = sinks.map((s) => createDhcp(s, tx));
          let sec = 1_000_000;
          let accepted = 0;
          for (const [i, edits, cut, conn, dt] of steps) {
            const b = mutate(real[i], edits, cut);
            sec += dt;
            sinks[conn].at(sec, 0);
            if (b.length >= 236 && (b[0] === 1 || b[0] === 2) && !parsers[conn].done) accepted++;
            parsers[conn].datagram(0, b, 0, b.length);
            expect(tx.size).toBeLessThanOrEqual(maxOpen);
          }
          tx.flush();
          expect(tx.size).toBe(0);
          expect(allTypes(sinks)).toHaveLength(accepted);
          for (const s of sinks) for (const a of s.anomalies) expect(a.name).toBe('dhcp_malformed');
        },
      ),
      { seed: 0xbad1, numRuns: 300 },
    );
  });

  it('random message sequences: rows account for every message and respect the idle time', () => {
    const base = real.find((b) => b.length >= 240)!;
    const msg = fc.record({
      xid: fc.integer({ min: 1, max: 4 }),
      macLast: fc.integer({ min: 0, max: 1 }),
      type: fc.option(fc.integer({ min: 1, max: 9 }), { nil: null }),
      op: fc.constantFrom(1, 2),
      dt: fc.constantFrom(0, 1, 30, 61, 200),
      sink: fc.nat(2),
    });
    fc.assert(
      fc.property(fc.array(msg, { maxLength: 120 }), fc.integer({ min: 1, max: 5 }), (msgs, maxOpen) => {
        const tx = new DhcpTransactions({ maxOpen });
        const sinks = [0, 1, 2].map(() => new RecordingSink('udp'));
        const m0 = parseDhcp(base, 0, base.length, noteAnomaly)!;
        let sec = 5000;
        let sent = 0;
        for (const x of msgs) {
          sec += x.dt;
          const m: DhcpMessage = { ...m0, xid: x.xid, op: x.op, msgType: x.type, chaddr: `mac${x.macLast}`, mac: `00:00:00:00:00:0${x.macLast}` };
          sinks[x.sink].at(sec, 0);
          tx.message(sinks[x.sink], m);
          sent++;
          expect(tx.size).toBeLessThanOrEqual(maxOpen);
        }
        tx.flush();
        const rows = sinks.flatMap((s) => s.table('dhcp'));
        expect(allTypes(sinks)).toHaveLength(sent);
        for (const r of rows) {
          expect(r.duration as number).toBeGreaterThanOrEqual(0);
          // Consecutive messages of a transaction are at most idleSec (60) apart, and it has at most 50.
          expect(r.duration as number).toBeLessThanOrEqual(49 * 60);
        }
      }),
      { seed: 0x7a11, numRuns: 500 },
    );
  });
});
