/**
 * Byte-order reads by direct indexing. Buffer's readUInt*() methods validate their offset on every
 * call; on the per-packet path the caller has already checked the bounds, and plain indexing is
 * several times cheaper. Out-of-range indexes read as undefined, which `|` turns into 0, so these
 * never throw either.
 */
export function u16be(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

export function u16le(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8);
}

/** Signed 32-bit big-endian: stays a small integer in V8 (no heap number). */
export function i32be(b: Uint8Array, p: number): number {
  return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3];
}

export function u32be(b: Uint8Array, p: number): number {
  return i32be(b, p) >>> 0;
}

export function i32le(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24);
}

export function u32le(b: Uint8Array, p: number): number {
  return i32le(b, p) >>> 0;
}
