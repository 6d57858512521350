/**
 * Named anomalies (Zeek: "weirds"). Decoders and readers never throw on bad input; they record one
 * of these names and go on. The glossary is generated from this table (see CODE.md and
 * `instacap schema`).
 */
export type AnomalyLayer = 'file' | 'link' | 'ip' | 'tcp' | 'udp' | 'icmp' | 'flow' | 'app';

export const ANOMALY_NAMES = {
  // file / reader
  file_not_capture: ['file', 'The file is not a pcap or pcapng capture (unknown magic number).'],
  file_empty: ['file', 'The file is empty or shorter than a capture file header.'],
  pcap_truncated_record: ['file', 'The last pcap record is cut short (the file ends inside it).'],
  pcap_bad_record_length: ['file', 'A pcap record claims an impossible captured length; the rest of the file cannot be framed.'],
  pcap_caplen_exceeds_origlen: ['file', 'A record captured more bytes than it says were on the wire.'],
  pcapng_truncated_block: ['file', 'The file ends inside a pcapng block.'],
  pcapng_corrupt_block: ['file', 'A pcapng block has an impossible length or mismatched trailer; the reader skipped to the next valid block.'],
  pcapng_no_section_header: ['file', 'pcapng data before any Section Header Block.'],
  pcapng_unknown_interface: ['file', 'A packet block refers to an interface that was not described.'],
  pcapng_bad_option: ['file', 'A pcapng option runs past the end of its block.'],
  gzip_corrupt: ['file', 'The gzip stream is corrupt or truncated; packets before the damage are kept.'],
  read_error: ['file', 'The operating system reported an error while reading the file.'],
  unknown_link_type: ['link', 'Link-layer header type that Instacap does not decode; packets are indexed but not decoded.'],
  // link
  link_truncated: ['link', 'The frame is shorter than its link-layer header.'],
  vlan_truncated: ['link', 'The frame ends inside an 802.1Q tag.'],
  vlan_too_many_tags: ['link', 'More than 8 stacked VLAN tags.'],
  arp_truncated: ['link', 'ARP packet shorter than its header.'],
  radiotap_bad_length: ['link', 'Radiotap header length is larger than the frame.'],
  wlan_truncated: ['link', '802.11 frame too short for its header.'],
  // ip
  ipv4_truncated_header: ['ip', 'IPv4 header shorter than 20 bytes or than its IHL.'],
  ipv4_bad_ihl: ['ip', 'IPv4 IHL below 5.'],
  ipv4_bad_total_length: ['ip', 'IPv4 total length smaller than the header.'],
  ipv4_truncated_payload: ['ip', 'The frame holds fewer bytes than IPv4 total length (not from snaplen).'],
  ipv4_bad_checksum: ['ip', 'IPv4 header checksum does not match (not verified by default).'],
  ipv4_bad_options: ['ip', 'Malformed IPv4 option.'],
  ip_bad_version: ['ip', 'IP version field is neither 4 nor 6.'],
  ipv6_truncated_header: ['ip', 'IPv6 header shorter than 40 bytes.'],
  ipv6_truncated_ext_header: ['ip', 'An IPv6 extension header runs past the packet.'],
  ipv6_truncated_payload: ['ip', 'The frame holds fewer bytes than IPv6 payload length.'],
  ipv6_too_many_ext_headers: ['ip', 'More than 16 IPv6 extension headers.'],
  fragment_overlap: ['ip', 'IP fragments overlap with different contents.'],
  fragment_too_large: ['ip', 'Reassembled IP datagram would exceed 65535 bytes.'],
  fragment_incomplete: ['ip', 'Fragments of a datagram never completed before the timeout or end of file.'],
  fragment_limit_reached: ['ip', 'Too many datagrams were being reassembled at once; the oldest was dropped.'],
  tunnel_too_deep: ['ip', 'More than 4 levels of IP tunnelling; inner layers not decoded.'],
  gre_truncated: ['ip', 'GRE header runs past the packet.'],
  // transport
  tcp_truncated_header: ['tcp', 'TCP header shorter than 20 bytes or than its data offset.'],
  tcp_bad_data_offset: ['tcp', 'TCP data offset below 5.'],
  tcp_bad_option: ['tcp', 'Malformed TCP option.'],
  tcp_syn_with_data: ['tcp', 'SYN segment carrying payload.'],
  tcp_flags_null: ['tcp', 'TCP segment with no flags set (NULL scan).'],
  tcp_flags_xmas: ['tcp', 'TCP segment with FIN, PSH and URG set (Xmas scan).'],
  tcp_syn_fin: ['tcp', 'TCP segment with both SYN and FIN.'],
  udp_truncated_header: ['udp', 'UDP header shorter than 8 bytes.'],
  udp_bad_length: ['udp', 'UDP length field below 8 or beyond the IP payload.'],
  icmp_truncated: ['icmp', 'ICMP message shorter than 4 bytes.'],
  // flow
  flow_table_full: ['flow', 'The flow table hit its limit; the oldest flow was ended early.'],
  // TCP stream reassembly
  tcp_overlap_inconsistent: ['tcp', 'A TCP segment overlaps data already seen with different bytes; the first copy is kept (Wireshark and Zeek do the same).'],
  tcp_content_gap: ['tcp', 'Stream bytes were never captured (capture loss); parsers are told of the gap and skip it.'],
  tcp_reassembly_limit: ['tcp', 'Out-of-order data exceeded the per-flow or total reassembly buffer; the missing bytes are treated as a gap.'],
  // application protocols
  app_detect_conflict: ['app', 'The payload looks like a different protocol than the port suggests; the payload wins.'],
  dns_malformed: ['app', 'A DNS message is shorter than its header or a record runs past the message.'],
  dns_bad_name: ['app', 'A DNS name has a bad label, a compression pointer loop or forward pointer, or exceeds 255 bytes.'],
  dns_tcp_bad_length: ['app', 'A DNS-over-TCP length prefix is zero or the stream ends inside a message.'],
  dns_unmatched_response: ['app', 'A DNS response whose query was not seen.'],
  http_malformed_request: ['app', 'An HTTP request line or header that does not parse.'],
  http_malformed_response: ['app', 'An HTTP status line or header that does not parse.'],
  http_bad_chunk: ['app', 'A chunked HTTP body with a bad chunk size line.'],
  http_body_decode_error: ['app', 'An HTTP body whose Content-Encoding could not be decoded; the raw body is kept.'],
  http_unmatched_response: ['app', 'An HTTP response without an outstanding request.'],
  http_header_limit: ['app', 'HTTP headers longer than the parser keeps (64 KiB); the message is skipped.'],
  tls_malformed_record: ['app', 'A TLS record header that does not parse (bad content type, version or length).'],
  tls_malformed_handshake: ['app', 'A TLS handshake message (ClientHello, ServerHello, Certificate) that does not parse.'],
  tls_bad_certificate: ['app', 'A certificate in a TLS Certificate message that is not valid DER X.509.'],
  ssh_malformed_banner: ['app', 'An SSH identification line that does not start with SSH- or is too long.'],
  ssh_malformed_kexinit: ['app', 'An SSH KEXINIT packet that does not parse.'],
  line_too_long: ['app', 'A line of a text protocol (FTP, SMTP, POP3, IMAP, Telnet) longer than the parser keeps.'],
  dhcp_malformed: ['app', 'A DHCP/BOOTP message shorter than its fixed header or with a bad option.'],
} as const satisfies Record<string, readonly [AnomalyLayer, string]>;

export type AnomalyName = keyof typeof ANOMALY_NAMES;

export function anomalyLayer(name: AnomalyName): AnomalyLayer {
  return ANOMALY_NAMES[name][0];
}

/**
 * A row of the `anomalies` table. `sec` NaN: a file-level anomaly without a packet time; an empty
 * `detail` is stored as NULL.
 */
export function anomalyRow(
  evidenceId: number,
  packetNo: number,
  fileOffset: number,
  sec: number,
  ns: number,
  name: AnomalyName,
  detail: string,
  flowId: number,
): Record<string, unknown> {
  return {
    evidence_id: evidenceId,
    packet_no: packetNo,
    file_offset: fileOffset,
    ts: sec === sec ? { sec, ns } : null,
    name,
    layer: anomalyLayer(name),
    detail: detail || null,
    flow_id: flowId,
  };
}
