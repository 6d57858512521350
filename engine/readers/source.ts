import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

/** Bytes read per chunk. Large enough that per-chunk overhead vanishes, small enough to stay bounded. */
export const CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * A source of file bytes in chunks. `refill(keep)` returns a new buffer holding `keep` (the unread
 * tail of the previous buffer) followed by the next bytes, or null at end of input.
 * Plain files are read straight into the new buffer (no extra copy); gzip is inflated as a stream.
 * Evidence is opened read-only (O_RDONLY) and never written.
 */
export interface ChunkSource {
  readonly compressed: boolean;
  refill(keep: Buffer): Promise<Buffer | null>;
  close(): Promise<void>;
}

export class PlainSource implements ChunkSource {
  readonly compressed = false;
  private pos = 0;
  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string, startOffset = 0): Promise<PlainSource> {
    const fh = await open(path, constants.O_RDONLY);
    const s = new PlainSource(fh);
    s.pos = startOffset;
    return s;
  }

  async refill(keep: Buffer): Promise<Buffer | null> {
    const size = Math.max(CHUNK_SIZE, keep.length * 2);
    const buf = Buffer.allocUnsafe(size);
    keep.copy(buf, 0);
    const { bytesRead } = await this.fh.read(buf, keep.length, size - keep.length, this.pos);
    if (bytesRead === 0) return null;
    this.pos += bytesRead;
    return buf.subarray(0, keep.length + bytesRead);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}

export class GzipSource implements ChunkSource {
  readonly compressed = true;
  private readonly iter: AsyncIterator<Buffer>;
  private readonly stream: NodeJS.ReadableStream & { destroy(): void };
  private constructor(path: string) {
    const raw = createReadStream(path, { flags: 'r', highWaterMark: 1 << 20 });
    const gunzip = createGunzip({ chunkSize: 1 << 20 });
    raw.on('error', (e) => gunzip.destroy(e));
    raw.pipe(gunzip);
    this.stream = gunzip;
    this.iter = gunzip[Symbol.asyncIterator]();
  }

  static open(path: string): GzipSource {
    return new GzipSource(path);
  }

  async refill(keep: Buffer): Promise<Buffer | null> {
    const parts: Buffer[] = [keep];
    let total = keep.length;
    // gather about one CHUNK_SIZE of inflated data per refill
    while (total - keep.length < CHUNK_SIZE) {
      const r = await this.iter.next(); // throws on corrupt gzip; the reader turns that into an anomaly
      if (r.done) break;
      parts.push(r.value);
      total += r.value.length;
    }
    if (total === keep.length) return null;
    return Buffer.concat(parts, total);
  }

  async close(): Promise<void> {
    this.stream.destroy();
  }
}

/** Opens a file as a chunk source, detecting gzip by its magic bytes (1f 8b). */
export async function openSource(path: string): Promise<ChunkSource> {
  const fh = await open(path, constants.O_RDONLY);
  const head = Buffer.alloc(2);
  try {
    await fh.read(head, 0, 2, 0);
  } finally {
    await fh.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return GzipSource.open(path);
  return PlainSource.open(path);
}
