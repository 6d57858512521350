/**
 * Named anomalies (Zeek: "weirds"). Decoders and readers never throw on bad input; they record one
 * of these names and go on. The glossary is generated from this table (see CODE.md and
 * `instacap schema`).
 */
export type AnomalyLayer = 'file' | 'link' | 'ip' | 'tcp' | 'udp' | 'icmp' | 'flow';

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
} as const satisfies Record<string, readonly [AnomalyLayer, string]>;

export type AnomalyName = keyof typeof ANOMALY_NAMES;

export function anomalyLayer(name: AnomalyName): AnomalyLayer {
  return ANOMALY_NAMES[name][0];
}
