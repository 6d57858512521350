import { open } from 'node:fs/promises';
import { constants } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { openSource } from './source.js';
import { PcapReader } from './pcap.js';
import { PcapngReader } from './pcapng.js';
import type { FramedReader } from './reader.js';

export class NotACaptureError extends Error {
  override name = 'NotACaptureError';
}

/** Reads the first bytes of a file (inflating the start of a gzip file). */
async function head(path: string): Promise<{ bytes: Buffer; gzip: boolean }> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const b = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    const raw = b.subarray(0, bytesRead);
    if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
      let inflated: Buffer;
      try {
        inflated = gunzipSync(raw, { finishFlush: 2 /* Z_SYNC_FLUSH: accept a partial stream */ });
      } catch {
        inflated = Buffer.alloc(0);
      }
      return { bytes: inflated, gzip: true };
    }
    return { bytes: raw, gzip: false };
  } finally {
    await fh.close();
  }
}

/**
 * Opens a capture file, choosing the reader by magic number (pcap, pcapng; optionally
 * gzip-compressed). `readAhead`: chunks of a plain file read ahead (see PlainSource.open).
 */
export async function openCapture(path: string, readAhead?: number): Promise<FramedReader> {
  const h = await head(path);
  if (h.bytes.length === 0 && !h.gzip) {
    const src = await openSource(path, readAhead);
    return new PcapReader(src, path); // reports file_empty
  }
  let r: FramedReader;
  if (PcapReader.sniff(h.bytes)) r = new PcapReader(await openSource(path, readAhead), path);
  else if (PcapngReader.sniff(h.bytes)) r = new PcapngReader(await openSource(path, readAhead), path);
  else {
    const magic = h.bytes.subarray(0, 4).toString('hex');
    throw new NotACaptureError(`${path}: not a pcap or pcapng capture (magic ${magic || 'none'} at offset 0${h.gzip ? ' after gunzip' : ''})`);
  }
  return r;
}
