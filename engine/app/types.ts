/**
 * The contract between the ingest and the application-protocol parsers.
 *
 * A parser is created per connection once the protocol is recognised, and is fed either whole
 * datagrams (UDP) or the reassembled, in-order byte stream of each direction (TCP). Bytes handed
 * to a parser are only valid during the call (they are views of reused read buffers): a parser
 * copies what it keeps. Parsers never throw on bad input; they report named anomalies through
 * the sink and carry on (or give up on the connection by setting `done`).
 *
 * Parsers write records with `sink.emit(table, row)`: `row` holds the table's own columns; the
 * connection columns (uid, flow_id, orig_h, orig_p, resp_h, resp_p, evidence_id) are filled in
 * by the sink, and so is `tls.transport` (tcp or udp). `ts` is the parser's to set (the time of the record's first packet, from
 * `sink.tsSec`/`sink.tsNs` at that moment); when missing, the current packet's time is used.
 */
import type { AnomalyName } from '../../common/anomalies.js';
import type { TableDef } from '../../common/fields.js';

/** 0: bytes sent by the originator (client), 1: bytes sent by the responder (server). */
export type Dir = 0 | 1;

/** A timestamp as the store takes it. */
export interface Ts {
  sec: number;
  ns: number;
}

export interface AppSink {
  /** Time and frame number of the packet whose bytes are being delivered now. */
  readonly tsSec: number;
  readonly tsNs: number;
  readonly packetNo: number;
  /** Transport of the connection. */
  readonly transport: 'tcp' | 'udp';
  /** Writes one record; see the module comment for the columns filled in automatically. */
  emit(table: TableDef, row: Record<string, unknown>): void;
  anomaly(name: AnomalyName, detail?: string): void;
  /** Names the connection's protocol in flows.service (Zeek names: dns, http, ssl, ssh, ftp, ...). */
  service(name: string): void;
}

export interface StreamParser {
  /** In-order bytes of one direction: `bytes[start, end)`, valid only during the call. */
  data(dir: Dir, bytes: Uint8Array, start: number, end: number): void;
  /** `len` bytes of this direction were never captured; the stream continues after them. */
  gap(dir: Dir, len: number): void;
  /** The connection ended (FIN/RST/timeout) or the evidence did: flush what is pending. */
  end(): void;
  /** True once the parser needs no more bytes; the ingest then stops reassembling the connection. */
  readonly done: boolean;
  /**
   * Set together with `done` when the rest of the stream is another protocol (an accepted
   * STARTTLS: 'ssl'); the ingest hands the following bytes to that protocol's parser.
   */
  readonly upgrade?: string | null;
}

export interface DatagramParser {
  /** One UDP payload: `bytes[start, end)`, valid only during the call. */
  datagram(dir: Dir, bytes: Uint8Array, start: number, end: number): void;
  end(): void;
  readonly done: boolean;
  /**
   * True when the parser holds nothing a later datagram needs (DNS: every query answered): the
   * layer may drop it and start a fresh one for the flow's next datagram.
   */
  readonly resting?: boolean;
}

/** Start a parser for a connection. */
export type StreamParserFactory = (sink: AppSink) => StreamParser;
export type DatagramParserFactory = (sink: AppSink) => DatagramParser;
