/**
 * The field registry: every stored column of the case store is declared here once, with its
 * name, storage kind and description. The DuckDB DDL, the columnar batch layout used by the
 * engine, the CLI's `schema` output and (later) export column lists and the UI's filter glossary
 * are all generated from these declarations.
 *
 * Table and column names are a public interface: users and reports query them. Zeek's conn.log
 * names are used wherever Zeek has one.
 */

/** Storage kinds. Numeric kinds are carried in typed arrays from the decoder to the store. */
export type FieldKind =
  | 'u8'
  | 'u16'
  | 'u32'
  | 'u64' // carried as a JS number (< 2^53), stored as UBIGINT
  | 'i64'
  | 'f64'
  | 'ts' // nanoseconds since the epoch, carried as (seconds, nanoseconds), stored as TIMESTAMP_NS
  | 'bool'
  | 'enum' // one of `values`, carried as its index (Uint8Array), stored as a DuckDB ENUM
  | 'str';

export interface FieldDef {
  readonly name: string;
  readonly kind: FieldKind;
  readonly description: string;
  /** May be NULL. Numeric nullable fields carry NaN for NULL in the engine. */
  readonly nullable?: boolean;
  /** The values of an 'enum' field. */
  readonly values?: readonly string[];
}

export interface TableDef {
  readonly name: string;
  readonly description: string;
  readonly fields: readonly FieldDef[];
}

const f = (name: string, kind: FieldKind, description: string, nullable = false): FieldDef => ({
  name,
  kind,
  description,
  nullable,
});
const e = (name: string, values: readonly string[], description: string): FieldDef => ({
  name,
  kind: 'enum',
  description,
  nullable: false,
  values,
});

export const PROTO_VALUES = ['tcp', 'udp', 'icmp', 'unknown_transport'] as const;
export const CONN_STATE_VALUES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
export const END_REASON_VALUES = ['close', 'attempt', 'idle', 'reuse', 'active', 'evicted', 'eof'] as const;
export const LAYER_VALUES = ['file', 'link', 'ip', 'tcp', 'udp', 'icmp', 'flow', 'app'] as const;

export const EVIDENCE: TableDef = {
  name: 'evidence',
  description: 'One row per evidence file ingested into the case. The file itself is never modified.',
  fields: [
    f('evidence_id', 'u16', 'Number of the evidence file within the case (1, 2, ...).'),
    f('path', 'str', 'Absolute path of the evidence file when it was ingested.'),
    f('size', 'u64', 'File size in bytes.'),
    f('sha256', 'str', 'SHA-256 of the file bytes as stored on disk (compressed bytes for .gz).'),
    f('format', 'str', "Capture format: 'pcap', 'pcap-ns', 'pcapng', with '+gzip' when compressed."),
    f('link_types', 'str', 'Comma-separated link-layer header type names seen (e.g. ETHERNET,LINUX_SLL).'),
    f('first_ts', 'ts', 'Timestamp of the earliest packet.', true),
    f('last_ts', 'ts', 'Timestamp of the latest packet.', true),
    f('packets', 'u64', 'Packets read from the file.'),
    f('bytes', 'u64', 'Sum of captured packet lengths.'),
    f('status', 'str', "'complete' when the whole file was read, 'partial' when reading stopped early or records were skipped."),
    f('message', 'str', 'Why the file is partial (first reading problem, with offset), or NULL.', true),
    f('comment', 'str', 'Section comments from a pcapng section header, or NULL.', true),
    f('ingested_at', 'ts', 'When the file was ingested (wall clock).'),
  ],
};

export const PACKETS: TableDef = {
  name: 'packets',
  description:
    'The packet index: one narrow row per packet, enough to re-read any packet or stream from the original evidence.',
  fields: [
    f('evidence_id', 'u16', 'Evidence file the packet is in.'),
    f('packet_no', 'u32', 'Frame number within its evidence file, from 1 (as Wireshark numbers frames).'),
    f('file_offset', 'u64', 'Byte offset of the packet record in the (decompressed) evidence file.'),
    f('ts', 'ts', 'Capture timestamp.'),
    f('caplen', 'u32', 'Captured length in bytes.'),
    f('origlen', 'u32', 'Original length on the wire in bytes.'),
    f('flow_id', 'u32', 'flows.flow_id of the connection the packet belongs to; 0 when none (e.g. ARP).'),
  ],
};

export const FLOWS: TableDef = {
  name: 'flows',
  description: "Connections with Zeek conn.log semantics (uid, conn_state, history), plus per-flow statistics for the models.",
  fields: [
    f('flow_id', 'u32', 'Numeric id of the flow within the case; packets.flow_id refers to it.'),
    f('uid', 'str', 'Zeek-style unique connection id (C + base62), stable within the case.'),
    f('ts', 'ts', 'Time of the first packet.'),
    f('last_ts', 'ts', 'Time of the last packet.'),
    f('duration', 'f64', 'Seconds from the first to the last packet.'),
    e('proto', PROTO_VALUES, "Transport: 'tcp', 'udp', 'icmp' (ICMP and ICMPv6, as Zeek), or 'unknown_transport'."),
    f('ip_proto', 'u8', 'IP protocol number (6, 17, 1, 58, ...).'),
    f('ip_version', 'u8', 'IP version: 4 or 6.'),
    f('orig_h', 'str', 'Originator address.'),
    f('orig_p', 'u16', 'Originator port (ICMP: type, as Zeek).'),
    f('resp_h', 'str', 'Responder address.'),
    f('resp_p', 'u16', 'Responder port (ICMP: code, as Zeek).'),
    f('service', 'str', 'Application protocol detected on the flow, or NULL when none was detected.', true),
    f('orig_bytes', 'u64', 'Originator payload bytes (TCP: from sequence numbers, as Zeek).'),
    f('resp_bytes', 'u64', 'Responder payload bytes (TCP: from sequence numbers, as Zeek).'),
    e('conn_state', CONN_STATE_VALUES, 'Zeek connection state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH.'),
    f('missed_bytes', 'u64', "Bytes of either side that the other side acknowledged but the capture never had (TCP content gaps, Zeek's missed_bytes: a measure of capture loss)."),
    f('history', 'str', 'Zeek history letters; upper case for the originator.'),
    f('orig_pkts', 'u64', 'Packets sent by the originator.'),
    f('orig_ip_bytes', 'u64', 'IP-level bytes sent by the originator.'),
    f('resp_pkts', 'u64', 'Packets sent by the responder.'),
    f('resp_ip_bytes', 'u64', 'IP-level bytes sent by the responder.'),
    f('vlan', 'u16', 'Outer 802.1Q VLAN id of the first packet, or NULL.', true),
    f('inner_vlan', 'u16', 'Inner (QinQ) VLAN id of the first packet, or NULL.', true),
    f('orig_l2_addr', 'str', 'Source MAC address of the first originator packet, or NULL.', true),
    f('resp_l2_addr', 'str', 'Source MAC address of the first responder packet, or NULL.', true),
    f('evidence_id', 'u16', 'Evidence file of the first packet.'),
    f('first_packet', 'u32', 'packet_no of the first packet (in evidence_id).'),
    e('end_reason', END_REASON_VALUES, "Why the flow record ended: 'close' (FIN/RST then close delay), 'attempt' (unanswered SYN), 'idle', 'reuse' (new SYN on the same ports), 'active', 'evicted', 'eof'."),
    f('orig_len_min', 'u32', 'Smallest IP packet length from the originator.', true),
    f('orig_len_max', 'u32', 'Largest IP packet length from the originator.', true),
    f('orig_len_mean', 'f64', 'Mean IP packet length from the originator.', true),
    f('orig_len_std', 'f64', 'Population standard deviation of originator IP packet lengths.', true),
    f('resp_len_min', 'u32', 'Smallest IP packet length from the responder.', true),
    f('resp_len_max', 'u32', 'Largest IP packet length from the responder.', true),
    f('resp_len_mean', 'f64', 'Mean IP packet length from the responder.', true),
    f('resp_len_std', 'f64', 'Population standard deviation of responder IP packet lengths.', true),
    f('orig_iat_min', 'f64', 'Smallest gap in seconds between consecutive originator packets.', true),
    f('orig_iat_max', 'f64', 'Largest gap in seconds between consecutive originator packets.', true),
    f('orig_iat_mean', 'f64', 'Mean gap in seconds between consecutive originator packets.', true),
    f('orig_iat_std', 'f64', 'Standard deviation of originator inter-arrival gaps.', true),
    f('resp_iat_min', 'f64', 'Smallest gap in seconds between consecutive responder packets.', true),
    f('resp_iat_max', 'f64', 'Largest gap in seconds between consecutive responder packets.', true),
    f('resp_iat_mean', 'f64', 'Mean gap in seconds between consecutive responder packets.', true),
    f('resp_iat_std', 'f64', 'Standard deviation of responder inter-arrival gaps.', true),
    f('syn_count', 'u32', 'TCP packets with SYN set (both directions).'),
    f('fin_count', 'u32', 'TCP packets with FIN set.'),
    f('rst_count', 'u32', 'TCP packets with RST set.'),
    f('psh_count', 'u32', 'TCP packets with PSH set.'),
    f('ack_count', 'u32', 'TCP packets with ACK set.'),
    f('urg_count', 'u32', 'TCP packets with URG set.'),
    f('first_payloads', 'str', 'Transport payload sizes of the first 8 packets with payload, comma-separated; negative = from the responder.'),
    f('tunnel_parents', 'str', "Uid of the UDP tunnel flow (VXLAN, Geneve, GTP-U, Teredo) that carried this connection, as Zeek's tunnel_parents (the first one when several did), or NULL.", true),
  ],
};

export const ANOMALIES: TableDef = {
  name: 'anomalies',
  description:
    'Named anomalies (Zeek calls them weirds): malformed, truncated or unusual input, and limits that were hit. Counted, never fatal.',
  fields: [
    f('evidence_id', 'u16', 'Evidence file where it was seen.'),
    f('packet_no', 'u32', 'Frame number, or 0 when the anomaly is about the file rather than a packet.'),
    f('file_offset', 'u64', 'Byte offset in the (decompressed) evidence file.'),
    f('ts', 'ts', 'Packet timestamp, or NULL for file-level anomalies.', true),
    f('name', 'str', 'Anomaly name, e.g. ipv4_truncated_header (see the glossary in CODE.md).'),
    e('layer', LAYER_VALUES, "Where: 'file', 'link', 'ip', 'tcp', 'udp', 'icmp', 'flow', 'app'."),
    f('detail', 'str', 'Human-readable detail, or NULL.', true),
    f('flow_id', 'u32', 'Flow concerned, or 0.'),
  ],
};

export const PACKET_COMMENTS: TableDef = {
  name: 'packet_comments',
  description: 'Packet comments (pcapng opt_comment) found in the evidence.',
  fields: [
    f('evidence_id', 'u16', 'Evidence file.'),
    f('packet_no', 'u32', 'Frame number of the commented packet.'),
    f('comment', 'str', 'The comment text.'),
  ],
};

export const NAME_RESOLUTION: TableDef = {
  name: 'name_resolution',
  description: 'Address-to-name records from pcapng Name Resolution Blocks.',
  fields: [
    f('evidence_id', 'u16', 'Evidence file.'),
    f('address', 'str', 'IPv4 or IPv6 address.'),
    f('name', 'str', 'Name recorded for the address.'),
  ],
};

export const INTERFACES: TableDef = {
  name: 'interfaces',
  description: 'Capture interfaces described by the evidence (one for classic pcap, one per IDB for pcapng).',
  fields: [
    f('evidence_id', 'u16', 'Evidence file.'),
    f('interface_id', 'u32', 'Interface index within the file (pcapng sections are numbered consecutively).'),
    f('link_type', 'u16', 'LINKTYPE_ number.'),
    f('link_type_name', 'str', 'LINKTYPE_ name, or UNKNOWN(n).'),
    f('snaplen', 'u32', 'Snapshot length.'),
    f('ts_resolution', 'str', "Timestamp resolution, e.g. '1e-6', '1e-9', '2^-10'."),
    f('ts_offset', 'i64', 'Seconds added to every timestamp of the interface (pcapng if_tsoffset).'),
    f('section_offset', 'u64', 'File offset of the section header this interface belongs to (pcapng; 0 for pcap).'),
    f('local_id', 'u32', 'Interface number within its pcapng section, as packet blocks refer to it.'),
    f('name', 'str', 'Interface name (if_name), or NULL.', true),
    f('description', 'str', 'Interface description (if_description), or NULL.', true),
    f('packets', 'u64', 'Packets read from this interface.'),
    f('dropped', 'u64', 'Packets the capture dropped on this interface (pcapng ISB isb_ifdrop), or NULL.', true),
  ],
};


// ---- application-layer records (Zeek log names where Zeek has one) ----

/** The connection columns every application record starts with (Zeek's ts, uid and id.*). */
function connFields(what: string): FieldDef[] {
  return [
    f('ts', 'ts', `Time of the first packet of the ${what}.`),
    f('uid', 'str', 'Connection uid (flows.uid).'),
    f('flow_id', 'u32', 'Connection (flows.flow_id).'),
    f('orig_h', 'str', 'Originator address.'),
    f('orig_p', 'u16', 'Originator port.'),
    f('resp_h', 'str', 'Responder address.'),
    f('resp_p', 'u16', 'Responder port.'),
    f('evidence_id', 'u16', 'Evidence file.'),
  ];
}

export const DNS_SECTION_VALUES = ['answer', 'authority', 'additional'] as const;

export const DNS: TableDef = {
  name: 'dns',
  description: 'DNS transactions (Zeek dns.log): one row per query, joined with its response when seen (UDP and TCP).',
  fields: [
    ...connFields('query (or of the response when the query was not seen)'),
    e('proto', ['tcp', 'udp'], 'Transport of the messages: tcp or udp.'),
    f('trans_id', 'u16', 'DNS transaction id.'),
    f('rtt', 'f64', 'Seconds from query to response, or NULL.', true),
    f('query', 'str', 'Queried name (first question), or NULL.', true),
    f('qclass', 'u16', 'Query class.', true),
    f('qclass_name', 'str', 'Query class name (C_INTERNET, ...).', true),
    f('qtype', 'u16', 'Query type.', true),
    f('qtype_name', 'str', 'Query type name (A, AAAA, ...).', true),
    f('rcode', 'u16', 'Response code (with the EDNS extended bits), or NULL without a response.', true),
    f('rcode_name', 'str', 'Response code name (NOERROR, NXDOMAIN, ...).', true),
    f('AA', 'bool', 'Authoritative answer.'),
    f('TC', 'bool', 'Truncated: the message did not fit (TC flag).'),
    f('RD', 'bool', 'Recursion desired.'),
    f('RA', 'bool', 'Recursion available.'),
    f('Z', 'u8', 'The reserved Z bits.'),
    f('answers', 'str', 'Answer section data, comma-separated (details in dns_answers).', true),
    f('TTLs', 'str', 'TTLs of the answers, comma-separated.', true),
    f('rejected', 'bool', 'The server answered with a non-zero rcode.'),
    f('qdcount', 'u16', 'Questions in the message.'),
    f('ancount', 'u16', 'Answer records in the response.', true),
    f('edns_udp_size', 'u16', 'EDNS UDP payload size of the query (OPT record), or NULL.', true),
    f('query_packet', 'u32', 'Frame number of the query, or NULL.', true),
    f('response_packet', 'u32', 'Frame number of the response, or NULL.', true),
  ],
};

export const DNS_ANSWERS: TableDef = {
  name: 'dns_answers',
  description: 'Resource records of DNS responses, one row each (answer, authority and additional sections; OPT excluded).',
  fields: [
    f('ts', 'ts', 'Time of the response.'),
    f('uid', 'str', 'Connection uid.'),
    f('flow_id', 'u32', 'Connection (flows.flow_id).'),
    f('evidence_id', 'u16', 'Evidence file.'),
    f('packet_no', 'u32', 'Frame number of the response.'),
    f('trans_id', 'u16', 'DNS transaction id.'),
    e('section', DNS_SECTION_VALUES, 'Section of the response.'),
    f('name', 'str', 'Owner name.'),
    f('type', 'u16', 'Record type.'),
    f('type_name', 'str', 'Record type name.'),
    f('class', 'u16', 'Record class.'),
    f('ttl', 'u32', 'Time to live, seconds.'),
    f('data', 'str', 'Record data as text (address, name, text, or hex for unknown types).'),
  ],
};

export const HTTP: TableDef = {
  name: 'http',
  description: 'HTTP/1.x request/response pairs (Zeek http.log), pipelined requests included.',
  fields: [
    ...connFields('request'),
    f('trans_depth', 'u32', 'Position of the request in the connection (1 = first).'),
    f('method', 'str', 'Request method, or NULL for a response without a request.', true),
    f('host', 'str', 'Host header.', true),
    f('uri', 'str', 'Request target.', true),
    f('referrer', 'str', 'Referer header.', true),
    f('version', 'str', 'HTTP version of the response (of the request when there is no response), e.g. 1.1, as Zeek.', true),
    f('user_agent', 'str', 'User-Agent header.', true),
    f('origin', 'str', 'Origin header.', true),
    f('request_body_len', 'u64', 'Request body bytes after de-chunking (before Content-Encoding).'),
    f('response_body_len', 'u64', 'Response body bytes after de-chunking (before Content-Encoding).'),
    f('status_code', 'u16', 'Response status code, or NULL without a response.', true),
    f('status_msg', 'str', 'Response reason phrase.', true),
    f('username', 'str', 'User of HTTP Basic authentication, or of NTLM (DOMAIN\\user; Zeek logs only Basic), or NULL.', true),
    f('password_seen', 'bool', 'A Basic-auth password was sent in clear (its value is in credentials).'),
    f('request_content_type', 'str', 'Content-Type of the request body.', true),
    f('response_content_type', 'str', 'Content-Type of the response body.', true),
    f('response_content_encoding', 'str', 'Content-Encoding of the response (gzip, deflate, ...).', true),
    f('request_sha256', 'str', 'SHA-256 of the decoded request body, or NULL when empty or incomplete.', true),
    f('response_sha256', 'str', 'SHA-256 of the decoded response body (de-chunked and decompressed), or NULL when empty or incomplete.', true),
    f('request_packet', 'u32', 'Frame number where the request starts, or NULL.', true),
    f('response_packet', 'u32', 'Frame number where the response starts, or NULL.', true),
  ],
};

export const TLS: TableDef = {
  name: 'tls',
  description: 'TLS handshakes over TCP and in QUIC Initial packets (Zeek ssl.log, with JA3/JA3S/JA4 and the leaf certificate for TLS 1.2 and older).',
  fields: [
    ...connFields('ClientHello'),
    e('transport', ['tcp', 'udp'], 'tcp: TLS over TCP; udp: the handshake of a QUIC connection, read from its Initial packets.'),
    f('version', 'str', 'Negotiated version (TLSv10, TLSv11, TLSv12, TLSv13, SSLv3), or NULL without a ServerHello.', true),
    f('cipher', 'str', 'Cipher suite chosen by the server (IANA name, or unknown-N as Zeek writes it).', true),
    f('curve', 'str', 'Key exchange group of a TLS 1.3 key share, or NULL.', true),
    f('server_name', 'str', 'SNI host name sent by the client.', true),
    f('resumed', 'bool', 'The server resumed a session (TLS 1.2 and older: same session id).'),
    f('next_protocol', 'str', 'ALPN protocol chosen by the server.', true),
    f('established', 'bool', 'The handshake got as far as encrypted application data in both directions.'),
    f('client_version', 'str', 'Legacy version field of the ClientHello.', true),
    f('client_supported_versions', 'str', 'supported_versions extension of the ClientHello, comma-separated.', true),
    f('client_alpn', 'str', 'ALPN protocols offered by the client, comma-separated.', true),
    f('ja3', 'str', 'JA3 fingerprint (MD5) of the ClientHello.', true),
    f('ja3s', 'str', 'JA3S fingerprint (MD5) of the ServerHello.', true),
    f('ja4', 'str', 'JA4 fingerprint of the ClientHello (FoxIO JA4, client only).', true),
    f('subject', 'str', 'Subject of the server leaf certificate.', true),
    f('issuer', 'str', 'Issuer of the server leaf certificate.', true),
    f('not_valid_before', 'ts', 'Leaf certificate validity start.', true),
    f('not_valid_after', 'ts', 'Leaf certificate validity end.', true),
    f('self_signed', 'bool', 'Leaf certificate subject equals its issuer and its signature verifies with its own key.', true),
    f('cert_sha1', 'str', 'SHA-1 fingerprint of the leaf certificate (hex).', true),
    f('cert_sha256', 'str', 'SHA-256 fingerprint of the leaf certificate (hex).', true),
    f('cert_chain_len', 'u8', 'Certificates in the server chain (0 for TLS 1.3, where they are encrypted).'),
    f('client_hello_packet', 'u32', 'Frame number of the ClientHello, or NULL.', true),
    f('server_hello_packet', 'u32', 'Frame number of the ServerHello, or NULL.', true),
  ],
};

export const QUIC: TableDef = {
  name: 'quic',
  description:
    'QUIC connections (Zeek quic.log): version, connection ids and the packet history of each QUIC connection on a UDP flow (a Retry or CONNECTION_CLOSE starts a new row). The TLS hellos of its Initial packets are in tls (transport udp).',
  fields: [
    ...connFields('first QUIC packet of the row'),
    f('version', 'str', 'QUIC version of the first long-header packet: 1, quicv2, draft-NN, or unknown-<hex> (as Zeek).'),
    f('client_initial_dcid', 'str', "Destination connection id of the client's first packet (hex): the key to its Initial packets.", true),
    f('client_scid', 'str', "Client's source connection id (hex; empty when zero-length), from its latest long-header packet.", true),
    f('server_scid', 'str', "Server's source connection id (hex), from its latest long-header packet.", true),
    f('server_name', 'str', 'SNI of the ClientHello in the Initial packets.', true),
    f('client_protocol', 'str', 'First ALPN protocol offered by the client (h3, doq, ...).', true),
    f(
      'history',
      'str',
      'Packets in order, client upper case (Zeek): I Initial, H Handshake, Z 0-RTT, R Retry, C CONNECTION_CLOSE, S TLS hello, U unknown version, X discarded (not QUIC framing after decrypted Initials), O short-header packets 1, 2, 4, 8, ... (at most 100 letters).',
    ),
  ],
};

export const SSH: TableDef = {
  name: 'ssh',
  description: 'SSH connections (Zeek ssh.log): identification banners, algorithms from KEXINIT, HASSH fingerprints.',
  fields: [
    ...connFields('connection'),
    f('version', 'u8', 'SSH protocol major version from the banners (1 or 2), or NULL.', true),
    f('client', 'str', 'Client identification string.', true),
    f('server', 'str', 'Server identification string.', true),
    f('hassh', 'str', 'HASSH fingerprint (MD5) of the client KEXINIT.', true),
    f('hassh_server', 'str', 'HASSH fingerprint (MD5) of the server KEXINIT.', true),
    f('kex_alg', 'str', 'Key exchange algorithm both sides support (first client choice the server offers).', true),
    f('host_key_alg', 'str', 'Host key algorithm agreed.', true),
    f('cipher_alg', 'str', 'Client-to-server cipher agreed.', true),
    f('mac_alg', 'str', 'Client-to-server MAC agreed (NULL with an AEAD cipher).', true),
    f('compression_alg', 'str', 'Client-to-server compression agreed.', true),
  ],
};

export const CREDENTIAL_SERVICE_VALUES = ['ftp', 'http', 'telnet', 'pop3', 'imap', 'smtp'] as const;

export const CREDENTIALS: TableDef = {
  name: 'credentials',
  description: 'Logins sent in clear text (FTP, HTTP Basic, Telnet, POP3, IMAP, SMTP AUTH). Passwords are evidence: stored, but shown only when asked.',
  fields: [
    ...connFields('login'),
    e('service', CREDENTIAL_SERVICE_VALUES, 'Protocol the login used.'),
    f('username', 'str', 'User name as sent.', true),
    f('password', 'str', 'Password as sent (clear text), the bearer token of SASL XOAUTH2/OAUTHBEARER, or NULL (none seen, or a mechanism that sends none: CRAM-MD5, NTLM).', true),
    f('success', 'bool', 'Whether the server accepted it, or NULL when not visible.', true),
    f('packet_no', 'u32', 'Frame number of the packet that carried the credentials.'),
  ],
};


export const DHCP: TableDef = {
  name: 'dhcp',
  description: 'DHCP transactions (Zeek dhcp.log): the messages of one transaction id aggregated; the connection columns are those of its first message.',
  fields: [
    ...connFields('transaction'),
    f('trans_id', 'u32', 'DHCP transaction id (xid).'),
    f('mac', 'str', 'Client hardware address (chaddr).', true),
    f('client_addr', 'str', 'Client IP address (ciaddr) when the client already had one.', true),
    f('server_addr', 'str', 'DHCP server (option 54, or the sender of the OFFER/ACK).', true),
    f('requested_addr', 'str', 'Address the client asked for (option 50).', true),
    f('assigned_addr', 'str', 'Address the server offered or acknowledged (yiaddr).', true),
    f('lease_time', 'f64', 'Lease time in seconds (option 51).', true),
    f('host_name', 'str', 'Client host name (option 12).', true),
    f('client_fqdn', 'str', 'Client FQDN (option 81).', true),
    f('domain', 'str', 'Domain name given by the server (option 15).', true),
    f('vendor_class', 'str', 'Vendor class identifier (option 60), e.g. MSFT 5.0.', true),
    f('msg_types', 'str', 'Message types in order, comma-separated (DISCOVER, OFFER, REQUEST, ACK, NAK, RELEASE, INFORM, DECLINE).'),
    f('duration', 'f64', 'Seconds from the first to the last message.'),
    f('first_packet', 'u32', 'Frame number of the first message.'),
  ],
};

export const HOSTS: TableDef = {
  name: 'hosts',
  description: 'Every IP address seen in the case, rebuilt after each ingest from flows and records: MAC, names learned, activity, and offline GeoIP (DB-IP Lite, CC BY 4.0).',
  fields: [
    f('ip', 'str', 'IP address.'),
    f('ip_version', 'u8', 'IP version: 4 or 6.'),
    f('mac', 'str', 'MAC address seen most often with this address as the source on the local link, or NULL.', true),
    f('names', 'str', 'Names learned for the address (DNS answers, DHCP host names, TLS SNI), comma-separated, or NULL.', true),
    f('first_seen', 'ts', 'Start of the first flow of the address.'),
    f('last_seen', 'ts', 'End of the last flow of the address.'),
    f('flows_orig', 'u64', 'Flows the address originated.'),
    f('flows_resp', 'u64', 'Flows the address answered.'),
    f('bytes_sent', 'u64', 'IP bytes sent by the address.'),
    f('bytes_received', 'u64', 'IP bytes received by the address.'),
    f('is_private', 'bool', 'Private, loopback, link-local, multicast or otherwise non-global address.'),
    f('country_code', 'str', 'ISO 3166 country code (GeoIP), or NULL.', true),
    f('region', 'str', 'Region or state (GeoIP), or NULL.', true),
    f('city', 'str', 'City (GeoIP), or NULL.', true),
    f('latitude', 'f64', 'Latitude of the city (GeoIP, approximate), or NULL.', true),
    f('longitude', 'f64', 'Longitude of the city (GeoIP, approximate), or NULL.', true),
    f('asn', 'u32', 'Autonomous system number, or NULL.', true),
    f('as_org', 'str', 'Autonomous system organisation, or NULL.', true),
  ],
};

/** Application-layer tables, in DDL order. */
export const APP_TABLES: readonly TableDef[] = [DNS, DNS_ANSWERS, HTTP, TLS, QUIC, SSH, CREDENTIALS, DHCP, HOSTS];
/** The application records: kept in the case's second database file (see engine/store/case-store.ts). */
export const RECORD_TABLES: readonly TableDef[] = [DNS, DNS_ANSWERS, HTTP, TLS, QUIC, SSH, CREDENTIALS, DHCP];

export const TABLES: readonly TableDef[] = [EVIDENCE, PACKETS, FLOWS, ANOMALIES, INTERFACES, PACKET_COMMENTS, NAME_RESOLUTION, ...APP_TABLES];

const DUCK_TYPES: Record<FieldKind, string> = {
  u8: 'UTINYINT',
  u16: 'USMALLINT',
  u32: 'UINTEGER',
  u64: 'UBIGINT',
  i64: 'BIGINT',
  f64: 'DOUBLE',
  ts: 'TIMESTAMP_NS',
  bool: 'BOOLEAN',
  enum: 'ENUM',
  str: 'VARCHAR',
};

export function duckType(kind: FieldKind, values?: readonly string[]): string {
  if (kind === 'enum') return `ENUM(${(values ?? []).map((v) => `'${v.replace(/'/g, "''")}'`).join(', ')})`;
  return DUCK_TYPES[kind];
}

/** `"table"`, or `"catalog"."main"."table"` in an attached database. */
export function qualifiedName(table: string, catalog?: string): string {
  return catalog === undefined ? `"${table}"` : `"${catalog}"."main"."${table}"`;
}

/** A string literal for SQL: quotes doubled (descriptions and paths are never pasted raw). */
export function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** CREATE TABLE statement for one table (in the attached database `catalog` if given). */
export function createTableSql(t: TableDef, catalog?: string): string {
  const cols = t.fields.map((c) => `  "${c.name}" ${duckType(c.kind, c.values)}${c.nullable ? '' : ' NOT NULL'}`);
  return `CREATE TABLE IF NOT EXISTS ${qualifiedName(t.name, catalog)} (\n${cols.join(',\n')}\n)`;
}

/** COMMENT ON statements so that `duckdb_columns()` documents the schema too. */
export function commentSql(t: TableDef, catalog?: string): string[] {
  const name = qualifiedName(t.name, catalog);
  return [`COMMENT ON TABLE ${name} IS ${sqlString(t.description)}`, ...t.fields.map((c) => `COMMENT ON COLUMN ${name}."${c.name}" IS ${sqlString(c.description)}`)];
}

export function tableByName(name: string): TableDef | undefined {
  return TABLES.find((t) => t.name === name);
}
