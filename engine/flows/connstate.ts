/**
 * Zeek conn.log semantics as pure functions: TCP endpoint states and the conn_state summary.
 * See CODE.md ("conn_state") for the letters.
 */
export const enum TcpState {
  Inactive = 0,
  SynSent = 1,
  SynAckSent = 2,
  Partial = 3,
  Established = 4,
  Closed = 5,
  Reset = 6,
}

const RSTOS0_HISTORY = /^\^?S[^HAFGIQ]*R.*$/;

/** Zeek's conn_state for TCP from both endpoint states, payload sizes and history. */
export function tcpConnState(os: TcpState, rs: TcpState, origSize: number, respSize: number, history: string): string {
  const oInact = os === TcpState.Inactive || os === TcpState.Partial;
  const rInact = rs === TcpState.Inactive || rs === TcpState.Partial;
  if (rs === TcpState.Reset) {
    if (os === TcpState.SynSent || os === TcpState.SynAckSent || (os === TcpState.Reset && origSize === 0 && respSize === 0)) return 'REJ';
    return oInact ? 'RSTRH' : 'RSTR';
  }
  if (os === TcpState.Reset) {
    if (rInact) return RSTOS0_HISTORY.test(history) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (os === TcpState.Closed && rs === TcpState.Closed) return 'SF';
  if (os === TcpState.Closed) return rInact ? 'SH' : 'S2';
  if (rs === TcpState.Closed) return oInact ? 'SHR' : 'S3';
  if (os === TcpState.SynSent && rs === TcpState.Inactive) return 'S0';
  if (os === TcpState.Established && rs === TcpState.Established) return 'S1';
  return 'OTH';
}

/** Zeek's conn_state for UDP: which sides sent datagrams. */
export function udpConnState(origActive: boolean, respActive: boolean): string {
  if (origActive) return respActive ? 'SF' : 'S0';
  return respActive ? 'SHR' : 'OTH';
}

/** ICMP request/reply counterparts (Zeek keys both messages of a pair to one connection). */
const ICMP4_PAIRS = new Map<number, number>([
  [8, 0], [0, 8], [13, 14], [14, 13], [15, 16], [16, 15], [10, 9], [9, 10], [17, 18], [18, 17],
]);
const ICMP6_PAIRS = new Map<number, number>([
  [128, 129], [129, 128], [133, 134], [134, 133], [135, 136], [136, 135], [130, 131], [131, 130], [139, 140], [140, 139],
  [144, 145], [145, 144],
]);

/** For an ICMP message, the "responder port": the counterpart type of a request/reply pair, or -1 when one-way. */
export function icmpCounterpart(v6: boolean, type: number): number {
  const m = v6 ? ICMP6_PAIRS : ICMP4_PAIRS;
  return m.get(type) ?? -1;
}

/** Ports Zeek treats as likely server ports when deciding who the originator is. Configurable. */
export const LIKELY_SERVER_TCP = new Set([
  20, 21, 22, 23, 25, 53, 80, 88, 110, 135, 139, 143, 389, 443, 445, 465, 502, 587, 636, 993, 995, 1080, 1433, 1521, 1883, 3128,
  3306, 3389, 5060, 5061, 5222, 5432, 5900, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8081, 8443, 8888, 9200, 27017,
]);
export const LIKELY_SERVER_UDP = new Set([53, 67, 69, 88, 123, 137, 138, 161, 162, 443, 500, 514, 546, 547, 1812, 1813, 3544, 4500, 5060, 5353, 5355]);

const B62 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
const B62_CODES = Uint8Array.from(B62, (c) => c.charCodeAt(0));
/** The uid being written: 'C', then at most 6 + 9 base-62 digits. */
const uidBytes = Buffer.alloc(24);

/**
 * Base-62 digits of `x` (an integer below 2^53), least significant first, at `n` of `uidBytes`;
 * at least `width` of them. Returns the position after them. The remainder is x - q * 62: the
 * modulo of doubles costs several times a division.
 */
function b62(x: number, n: number, width: number): number {
  const end = n + width;
  do {
    const q = Math.floor(x / 62);
    uidBytes[n++] = B62_CODES[x - q * 62];
    x = q;
  } while (x > 0 || n < end);
  return n;
}

/**
 * Zeek-style uid ("C" + base62), derived deterministically from the case salt and the flow id so
 * the same case always shows the same uids. Mixed with a 32-bit multiply-xorshift (murmur3 finaliser).
 */
export function flowUid(salt: number, flowId: number): string {
  const mix = (h: number): number => {
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  };
  const a = mix(salt ^ flowId);
  const b = mix(a ^ 0x9e3779b9 ^ Math.imul(flowId, 0x27d4eb2d));
  const c = mix(b ^ salt ^ 0x165667b1);
  // `a` is a bijection of flowId (for a fixed salt) written at fixed width, so uids are unique in a case
  uidBytes[0] = 0x43; // C
  const n = b62((b & 0x1fffff) * 4294967296 + c, b62(a, 1, 6), 0);
  return uidBytes.toString('latin1', 0, n);
}
