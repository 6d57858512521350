/** Terminal renderings of followed-stream chunks: text (printable bytes) and hex dump, as Wireshark offers. */
import type { StreamChunk } from '../engine/services/stream.js';

const NAMES = ['client', 'server'];

/** Printable ASCII, tab, CR and LF as they are; anything else as '.'. */
function printable(b: Buffer): string {
  let s = '';
  for (const x of b) s += (x >= 0x20 && x < 0x7f) || x === 9 || x === 10 || x === 13 ? String.fromCharCode(x) : '.';
  return s;
}

function hexLines(b: Buffer, offset: number, indent: string): string {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 16) {
    const row = b.subarray(i, i + 16);
    const hex = Array.from(row, (x) => x.toString(16).padStart(2, '0')).join(' ');
    const asc = Array.from(row, (x) => (x >= 0x20 && x < 0x7f ? String.fromCharCode(x) : '.')).join('');
    out.push(`${indent}${(offset + i).toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${asc}`);
  }
  return out.join('\n') + '\n';
}

/**
 * Writes chunks; a marker line starts each change of direction. Server bytes are indented in hex
 * mode (as tshark's follow output). Returns the direction of the last chunk written.
 */
export function renderChunks(chunks: StreamChunk[], format: 'text' | 'hex', lastDir: number, out: (s: string) => void): number {
  for (const c of chunks) {
    if (c.dir !== lastDir) {
      out(`${format === 'text' && lastDir >= 0 ? '\n' : ''}--- ${NAMES[c.dir]} (frame ${c.packetNo}) ---\n`);
      lastDir = c.dir;
    }
    if (c.data === null) out(`[${c.gap} bytes missing (not captured)]\n`);
    else if (format === 'text') out(printable(c.data));
    else out(hexLines(c.data, c.offset, c.dir === 1 ? '\t' : ''));
  }
  return lastDir;
}
