/** Re-reads a flow's packets from the original evidence through the packet index. */
import type { CaseStore } from '../store/case-store.js';
import { EvidenceReader, tsUnitsOf, type IndexedInterface, type ReadPacket } from '../readers/random.js';

export interface FlowPacket {
  evidenceId: number;
  packetNo: number;
  fileOffset: number;
  packet: ReadPacket;
}

const UID_RE = /^C[0-9A-Za-z]{6,24}$/;

/**
 * The flows row of a uid (the listed columns); a malformed uid or one the case does not hold is an
 * error. The uid is checked against its alphabet before it goes into SQL.
 */
export async function flowByUid(store: CaseStore, uid: string, columns: string): Promise<Record<string, unknown>> {
  if (!UID_RE.test(uid)) throw new Error(`'${uid}' is not a flow uid (C followed by letters and digits)`);
  const f = await store.query(`SELECT ${columns} FROM flows WHERE uid = '${uid}'`);
  if (f.rows.length === 0) throw new Error(`no flow with uid ${uid} in this case`);
  return f.rows[0];
}

export async function readFlowPackets(store: CaseStore, uid: string): Promise<FlowPacket[]> {
  const flowId = Number((await flowByUid(store, uid, 'flow_id')).flow_id);
  const idx = await store.query(
    `SELECT p.evidence_id, p.packet_no, p.file_offset, e.path, e.format
       FROM packets p JOIN evidence e USING (evidence_id)
      WHERE p.flow_id = ${flowId} ORDER BY p.evidence_id, p.file_offset`,
  );
  const out: FlowPacket[] = [];
  let reader: EvidenceReader | null = null;
  let current = -1;
  try {
    for (const r of idx.rows) {
      const ev = Number(r.evidence_id);
      if (ev !== current) {
        if (reader) await reader.close();
        reader = await openEvidence(store, ev, String(r.path), String(r.format));
        current = ev;
      }
      const off = Number(r.file_offset);
      out.push({ evidenceId: ev, packetNo: Number(r.packet_no), fileOffset: off, packet: await reader!.packetAt(off) });
    }
  } finally {
    if (reader) await reader.close();
  }
  // packets in capture time order, as Wireshark shows a conversation
  out.sort((a, b) => a.packet.tsSec - b.packet.tsSec || a.packet.tsNs - b.packet.tsNs || a.evidenceId - b.evidenceId || a.packetNo - b.packetNo);
  return out;
}

/** Opens evidence `ev` for reading packets by offset, with its interfaces as the case recorded them. */
export async function openEvidence(store: CaseStore, ev: number, path: string, format: string): Promise<EvidenceReader> {
  const ifs = await store.query(
    `SELECT interface_id, link_type, ts_resolution, ts_offset, section_offset, local_id FROM interfaces WHERE evidence_id = ${ev} ORDER BY interface_id`,
  );
  const interfaces: IndexedInterface[] = ifs.rows.map((i) => ({
    interfaceId: Number(i.interface_id),
    linkType: Number(i.link_type),
    tsUnits: tsUnitsOf(String(i.ts_resolution)),
    tsOffset: Number(i.ts_offset),
    sectionOffset: Number(i.section_offset),
    localId: Number(i.local_id),
  }));
  return EvidenceReader.open(path, format, interfaces);
}
