/** Address formatting: per flow, host or record (never per packet of the ingest). */

/** Decimal and two-digit hex text of every byte value (formatting is table lookups and joins). */
const DEC: string[] = Array.from({ length: 256 }, (_, i) => String(i));
const HEX2: string[] = Array.from({ length: 256 }, (_, i) => (i < 16 ? '0' : '') + i.toString(16));

/**
 * Recently formatted IPv4 addresses, direct-mapped by a hash of the address: a capture names the
 * same hosts over and over (flows, DNS answers), and one lookup replaces building the text (a
 * string per dotted part) and keeps one copy of each.
 */
const V4_SLOTS = 4096;
const v4Keys = new Float64Array(V4_SLOTS).fill(-1);
const v4Text: string[] = new Array<string>(V4_SLOTS).fill('');

export function formatIPv4(b: Uint8Array, o: number): string {
  // callers check bounds; a read past the end must still not put a wrong text in the cache
  if (o < 0 || o + 4 > b.length) return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
  const a = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const h = Math.imul(a, 0x9e3779b1) >>> 20; // top 12 bits: 0..4095
  if (v4Keys[h] === a) return v4Text[h];
  const t = DEC[b[o]] + '.' + DEC[b[o + 1]] + '.' + DEC[b[o + 2]] + '.' + DEC[b[o + 3]];
  v4Keys[h] = a;
  v4Text[h] = t;
  return t;
}

export function ipv4FromU32(a: number): string {
  return DEC[a >>> 24] + '.' + DEC[(a >>> 16) & 255] + '.' + DEC[(a >>> 8) & 255] + '.' + DEC[a & 255];
}

/** A MAC address held as a number (48 bits, as the flow tracker keeps it) in colon-hex text. */
export function macFromNumber(m: number): string {
  const hi = Math.floor(m / 4294967296);
  const lo = m >>> 0;
  return HEX2[(hi >>> 8) & 255] + ':' + HEX2[hi & 255] + ':' + HEX2[lo >>> 24] + ':' + HEX2[(lo >>> 16) & 255] + ':' + HEX2[(lo >>> 8) & 255] + ':' + HEX2[lo & 255];
}

/** RFC 5952 text form (lower case, longest zero run compressed, IPv4-mapped shown dotted). */
export function formatIPv6(b: Uint8Array, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + 2 * i] << 8) | b[o + 2 * i + 1]);
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0 && w[5] === 0xffff) {
    return `::ffff:${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]}`;
  }
  let bestS = -1;
  let bestL = 0;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestL && j - i >= 2) {
      bestS = i;
      bestL = j - i;
    }
    i = j;
  }
  const hex = (x: number) => x.toString(16);
  if (bestS < 0) return w.map(hex).join(':');
  const left = w.slice(0, bestS).map(hex).join(':');
  const right = w.slice(bestS + bestL).map(hex).join(':');
  return `${left}::${right}`;
}

export function formatMac(b: Uint8Array, o: number): string {
  return HEX2[b[o]] + ':' + HEX2[b[o + 1]] + ':' + HEX2[b[o + 2]] + ':' + HEX2[b[o + 3]] + ':' + HEX2[b[o + 4]] + ':' + HEX2[b[o + 5]];
}
