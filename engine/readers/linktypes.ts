/** LINKTYPE_ numbers (tcpdump.org link-layer header types) that Instacap knows by name. */
export const LINKTYPE = {
  NULL: 0,
  ETHERNET: 1,
  PPP: 9,
  FDDI: 10,
  RAW: 101,
  C_HDLC: 104,
  IEEE802_11: 105,
  LOOP: 108,
  LINUX_SLL: 113,
  IEEE802_11_RADIOTAP: 127,
  PPI: 192,
  IPV4: 228,
  IPV6: 229,
  NFLOG: 239,
  PKTAP: 258,
  LINUX_SLL2: 276,
} as const;

const NAMES = new Map<number, string>(Object.entries(LINKTYPE).map(([k, v]) => [v, k]));
// Some OpenBSD/legacy values used for raw IP in pcap files (DLT_RAW differs between systems).
NAMES.set(12, 'RAW');
NAMES.set(14, 'RAW');

export function linkTypeName(lt: number): string {
  return NAMES.get(lt) ?? `UNKNOWN(${lt})`;
}
