/** Address formatting. Called once per flow or host, never per packet. */

export function formatIPv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

export function ipv4FromU32(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
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
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[o + i];
    s += (i ? ':' : '') + (x < 16 ? '0' : '') + x.toString(16);
  }
  return s;
}
