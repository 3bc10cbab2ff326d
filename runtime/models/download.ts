// Downloads one file so that it either ends verified at its destination or not at all:
// streams to `<dest>.part`, resumes with Range + If-Range, restarts from 0 when the server sends
// the whole file (200) or a different one (changed validator), retries with bounded backoff,
// aborts a stalled connection, hashes while streaming (re-hashing the kept prefix on resume),
// and only after fsync + rename reports success. State lives in the catalog (state.ts).
// The transfer itself (requests, resume, streaming, retries, verify and rename) is in transfer.ts.
import path from 'node:path';
import { CANCEL, DownloadError, PAUSE } from './download-error.js';
import type { DownloadProgress } from './progress.js';
import { redact } from './secrets.js';
import { BusyError, type DownloadState } from './state.js';
import { downloadOnce, RetryFromZero } from './transfer.js';

export interface DownloadOptions {
  url: string;
  dest: string;
  /** Lowercase hex; when given, a mismatch deletes the file. */
  sha256?: string | null;
  /** The exact size, when published; a server offering another size is refused. */
  expectedBytes?: number | null;
  /** An approximate size for the disk-space check when the exact one is unknown. */
  sizeHint?: number | null;
  state?: DownloadState;
  modelId?: string | null;
  fileId?: string | null;
  /** Hugging Face token: sent as `Authorization: Bearer` to the URL's own origin, never logged. */
  token?: string | null;
  /** Shown in the error when the server wants a token (401/403). */
  gatedHint?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** Notes for a log ("server ignored the range; starting over"), already redacted. */
  onLog?: (message: string) => void;
  /** Extra check on the complete `.part` before it is renamed (e.g. the safetensors header). */
  verify?: (file: string) => Promise<void> | void;
  overwrite?: boolean;
  /** Retries in a row without progress before giving up (default 5). */
  retries?: number;
  /** Hard cap on requests for this file (default 200). */
  maxAttempts?: number;
  backoffMs?: number;
  maxBackoffMs?: number;
  /** No byte for this long aborts the connection and retries (default 30 s). */
  stallTimeoutMs?: number;
  progressIntervalMs?: number;
  /** Free space to leave on the disk (default 256 MiB). */
  reserveBytes?: number;
  userAgent?: string;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes kept from an earlier attempt or session (0 for a fresh download). */
  resumedFrom: number;
  attempts: number;
}

export { CANCEL, PAUSE, DownloadError, type DownloadErrorCode } from './download-error.js';
export { checkFreeSpace, formatBytes } from './disk.js';
export { remoteFileName } from './http.js';
export type { DownloadProgress } from './progress.js';

const active = new Set<string>();

/**
 * Downloads `url` to `dest`. Resolves with the verified file; rejects with a DownloadError whose
 * message names the file and what to do. Abort `signal` with CANCEL to delete the partial file, with
 * anything else (PAUSE) to keep it for a later resume.
 */
export async function downloadFile(opts: DownloadOptions): Promise<DownloadResult> {
  const secrets = [opts.token];
  const dest = path.resolve(opts.dest);
  if (active.has(dest)) throw new DownloadError('busy', `${dest} is already being downloaded`);
  active.add(dest);
  try {
    for (let round = 0; ; round++) {
      try {
        return await downloadOnce({ ...opts, dest }, round);
      } catch (err) {
        // A mismatch after a resume may come from bytes an earlier session kept: one clean retry.
        if (err instanceof RetryFromZero && round === 0) continue;
        throw err instanceof RetryFromZero ? err.cause : err;
      }
    }
  } catch (err) {
    throw asDownloadError(err, secrets);
  } finally {
    active.delete(dest);
  }
}

function asDownloadError(err: unknown, secrets: Array<string | null | undefined>): DownloadError {
  let out: DownloadError;
  if (err instanceof DownloadError) out = err;
  else if (err instanceof BusyError) out = new DownloadError('busy', err.message);
  else out = new DownloadError('io', (err as Error)?.message ?? String(err));
  // The stack repeats the message: both go through redaction.
  out.message = redact(out.message, secrets);
  if (out.stack) out.stack = redact(out.stack, secrets);
  return out;
}

/** A download that can be paused, resumed (start it again) and cancelled from outside. */
export class DownloadJob {
  private readonly controller = new AbortController();
  readonly done: Promise<DownloadResult>;
  constructor(opts: DownloadOptions) {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.controller.signal]) : this.controller.signal;
    this.done = downloadFile({ ...opts, signal });
  }
  pause(): void {
    this.controller.abort(PAUSE);
  }
  cancel(): void {
    this.controller.abort(CANCEL);
  }
}
