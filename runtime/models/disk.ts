// The disk side of downloads: free space, sizes, and re-hashing kept bytes (durable renames: runtime/util/files.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import { DownloadError } from './download-error.js';

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Throws a clear error when `dir`'s disk cannot take `need` more bytes plus the reserve. */
export function checkFreeSpace(dir: string, need: number, reserve = 256 * 1024 * 1024): void {
  if (!(need > 0)) return;
  const st = fs.statfsSync(dir);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < need + reserve) {
    throw new DownloadError('disk', `not enough free disk space in ${dir}: ${formatBytes(need)} needed (plus ${formatBytes(reserve)} to spare), ${formatBytes(free)} free`);
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

export async function hashPrefix(file: string, length: number, onBytes: (n: number) => void, signal?: AbortSignal): Promise<crypto.Hash> {
  const hash = crypto.createHash('sha256');
  if (length === 0) return hash;
  const stream = fs.createReadStream(file, { start: 0, end: length - 1, highWaterMark: 4 * 1024 * 1024 });
  let n = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (signal?.aborted) {
      stream.destroy();
      throw signal.reason;
    }
    hash.update(chunk);
    n += chunk.length;
    onBytes(n);
  }
  return hash;
}
