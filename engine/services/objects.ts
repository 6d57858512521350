/**
 * HTTP object extraction: the bodies of a connection's HTTP messages, de-chunked and decompressed,
 * written to files with their SHA-256 (NetworkMiner's and Wireshark's "Export Objects"). The
 * conversation is rebuilt page by page with the follow-stream service and fed to the same HTTP
 * parser as the ingest; each body is held only until it is written (at most `maxBodyBytes`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { AnomalyName } from '../../common/anomalies.js';
import type { TableDef } from '../../common/fields.js';
import type { CaseStore } from '../store/case-store.js';
import { createHttp, type HttpObject } from '../app/http.js';
import type { AppSink } from '../app/types.js';
import { followStream } from './stream.js';

export interface ExtractedObject {
  /** File written, relative to the output directory. */
  file: string;
  trans_depth: number;
  /** 'response' (server to client) or 'request' (client to server). */
  direction: 'request' | 'response';
  host: string | null;
  uri: string | null;
  content_type: string | null;
  content_encoding: string | null;
  bytes: number;
  sha256: string;
  /** False when part of the body was never captured, it was cut at the size limit, or it could not be decoded (then the raw bytes are written). */
  complete: boolean;
}

/** Collects nothing: extraction only needs the parser's objects, not its rows. */
class QuietSink implements AppSink {
  tsSec = 0;
  tsNs = 0;
  packetNo = 0;
  readonly transport = 'tcp' as const;
  emit(_t: TableDef, _r: Record<string, unknown>): void {}
  anomaly(_n: AnomalyName, _d?: string): void {}
  service(_n: string): void {}
}

export async function extractHttpObjects(store: CaseStore, uid: string, outDir: string, opts: { maxBodyBytes?: number } = {}): Promise<ExtractedObject[]> {
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const out: ExtractedObject[] = [];
  const onObject = (o: HttpObject) => {
    const direction = o.dir === 1 ? 'response' : 'request';
    const file = `${uid}-${String(o.transDepth).padStart(3, '0')}-${direction}.bin`;
    writeNew(join(dir, file), o.body);
    out.push({
      file,
      trans_depth: o.transDepth,
      direction,
      host: o.host,
      uri: o.uri,
      content_type: o.contentType,
      content_encoding: o.contentEncoding,
      bytes: o.body.length,
      sha256: o.sha256,
      complete: o.complete,
    });
  };
  const parser = createHttp(new QuietSink(), { onObject, maxDecodedBody: opts.maxBodyBytes });
  let cursor: string | null = null;
  do {
    const page = await followStream(store, uid, { cursor });
    for (const c of page.chunks) {
      if (parser.done) break;
      if (c.data) parser.data(c.dir, c.data, 0, c.data.length);
      else parser.gap(c.dir, c.gap);
    }
    cursor = page.next;
  } while (cursor !== null && !parser.done);
  parser.end();
  writeNew(join(dir, `${uid}-objects.json`), JSON.stringify(out, null, 2) + '\n');
  return out;
}

/** Never overwrites: extracted evidence must not silently replace earlier extractions. */
function writeNew(path: string, data: Uint8Array | string): void {
  try {
    writeFileSync(path, data, { flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`${path} exists already: extract into an empty directory`);
    throw e;
  }
}
