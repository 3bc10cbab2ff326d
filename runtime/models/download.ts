// Downloads one file so that it either ends verified at its destination or not at all:
// streams to `<dest>.part`, resumes with Range + If-Range, restarts from 0 when the server sends
// the whole file (200) or a different one (changed validator), retries with bounded backoff,
// aborts a stalled connection, hashes while streaming (re-hashing the kept prefix on resume),
// and only after fsync + rename reports success. State lives in the catalog (state.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { checkFreeSpace, fileSize, formatBytes, hashPrefix } from './disk.js';
import { fsyncDir } from '../util/files.js';
import { sleep } from '../util/sleep.js';
import { CANCEL, DownloadError, PAUSE } from './download-error.js';
import { httpGet, parseContentRange, validatorOf, HttpError } from './http.js';
import { Meter, type DownloadProgress } from './progress.js';
import { redact } from './secrets.js';
import { BusyError, type DownloadState } from './state.js';

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

class Stall extends Error {}

/** Node's words for a response cut short: 'aborted', a reset, a premature close. */
function isConnectionCut(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.message === 'aborted' || e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE' || e?.code === 'EPIPE';
}

function retryAfterMs(value: string | undefined, cap: number): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(value) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, cap) : undefined;
}

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

class RetryFromZero extends Error {
  constructor(override readonly cause: DownloadError) {
    super(cause.message);
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

async function downloadOnce(o: DownloadOptions & { dest: string }, round: number): Promise<DownloadResult> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new DownloadError('invalid', `not a valid URL: ${redact(o.url)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DownloadError('invalid', `only http(s) URLs can be downloaded, not ${url.protocol}`);
  const sha = o.sha256?.toLowerCase() ?? null;
  if (sha !== null && !/^[0-9a-f]{64}$/.test(sha)) throw new DownloadError('invalid', `the expected SHA-256 must be 64 hex digits, got ${JSON.stringify(o.sha256)}`);
  const dest = o.dest;
  const dir = path.dirname(dest);
  const part = `${dest}.part`;
  const name = path.basename(dest);
  const log = (m: string) => o.onLog?.(redact(m, [o.token]));
  if (!o.overwrite && fs.existsSync(dest)) throw new DownloadError('exists', `${dest} already exists; remove it first or choose another destination`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way of that folder' : (err as Error).message;
    throw new DownloadError('io', `cannot create the folder ${dir} for ${name}: ${why}; choose another destination`);
  }

  const state = o.state;
  const prev = state?.claim({
    dest, url: o.url, model_id: o.modelId ?? null, file_id: o.fileId ?? null,
    expected_sha256: sha, expected_bytes: o.expectedBytes ?? null,
  });
  // Kept bytes are ours only if they came from this URL, for this checksum, with a validator to prove
  // the server still has the same file.
  let validator = prev && prev.url === o.url && (prev.expected_sha256 ?? null) === sha ? prev.validator : null;
  let total: number | null = validator ? prev?.total_bytes ?? null : null;
  let offset = fileSize(part);
  if (offset > 0 && (!validator || round > 0)) {
    log(`${name}: discarding ${formatBytes(offset)} kept from an unknown or different download`);
    await fsp.truncate(part, 0);
    offset = 0;
    validator = null;
    total = null;
  }
  if (total !== null && offset > total) {
    await fsp.truncate(part, 0);
    offset = 0;
    validator = null;
    total = null;
  }
  const resumedFrom = offset;
  const meter = new Meter(o.onProgress, o.progressIntervalMs ?? 250, { dest, resumedFrom });
  let attempts = 0;
  const signal = o.signal;
  let hash = crypto.createHash('sha256');

  const fh = await fsp.open(part, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  let fhOpen = true;
  const closeFile = async (sync: boolean) => {
    if (!fhOpen) return;
    fhOpen = false;
    try {
      if (sync) await fh.sync();
    } finally {
      await fh.close();
    }
  };

  async function restartFromZero(why: string): Promise<void> {
    log(`${name}: ${why}; starting over from the first byte`);
    await fh.truncate(0);
    offset = 0;
    hash = crypto.createHash('sha256');
    validator = null;
    total = null;
    state?.update(dest, { received_bytes: 0, validator: null, total_bytes: null });
  }

  /** After the user's abort: keep (pause) or delete (cancel) the partial file, then say so. */
  async function stopped(err: unknown): Promise<unknown> {
    if (!signal?.aborted) return err;
    await closeFile(true).catch(() => {});
    if (signal.reason === CANCEL) {
      await fsp.rm(part, { force: true });
      state?.remove(dest);
      return new DownloadError('cancelled', `download of ${name} cancelled; the partial file was deleted`);
    }
    state?.release(dest, 'paused', { received_bytes: offset });
    return new DownloadError('paused', `download of ${name} paused at ${formatBytes(offset)}; run it again to resume`);
  }

  const retries = o.retries ?? 5;
  const maxAttempts = o.maxAttempts ?? 200;
  const stallMs = o.stallTimeoutMs ?? 30_000;
  const maxBackoff = o.maxBackoffMs ?? 30_000;
  let failuresInARow = 0;
  // The most bytes this download has held. An attempt makes progress only past it: bytes fetched
  // again after a restart from 0 (a resume answered with a mismatched range, a changed file) are
  // not progress, so a server that always breaks the resume cannot loop past --retries.
  let highWater = offset;
  let lastSaved = 0;
  let lastError: DownloadError | undefined;

  try {
    checkFreeSpace(dir, (o.expectedBytes ?? total ?? o.sizeHint ?? 0) - offset, o.reserveBytes);
    // Re-hash what we kept: the hash must cover the bytes on disk, not the bytes we remember.
    meter.tick('checking', 0, offset, 0, true);
    hash = await hashPrefix(part, offset, (n) => meter.tick('checking', n, offset, 0), signal);
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      if (total !== null && offset === total && offset > 0) break;
      if (++attempts > maxAttempts) throw lastError ?? new DownloadError('network', `${name}: gave up after ${maxAttempts} requests`);
      const bestBefore = highWater;
      const attempt = new AbortController();
      const onUserAbort = () => attempt.abort(signal!.reason);
      signal?.addEventListener('abort', onUserAbort, { once: true });
      let stallTimer: NodeJS.Timeout | undefined;
      const armStall = () => {
        clearTimeout(stallTimer);
        stallTimer = setTimeout(() => attempt.abort(new Stall()), stallMs);
      };
      let retryDelay: number | undefined;
      try {
        armStall();
        const headers: Record<string, string> = {};
        if (offset > 0) {
          headers.range = `bytes=${offset}-`;
          if (validator) headers['if-range'] = validator;
        }
        const res = await httpGet(url, { headers, token: o.token, signal: attempt.signal, userAgent: o.userAgent });
        armStall();
        const body = res.body;
        const contentLength = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
        if (res.status === 200) {
          if (offset > 0) await restartFromZero('the server sent the whole file instead of the rest');
          total = contentLength;
          validator = validatorOf(res.headers);
        } else if (res.status === 206) {
          const cr = parseContentRange(res.headers['content-range']);
          const now = validatorOf(res.headers);
          if (!cr || 'unsatisfied' in cr || cr.start !== offset || (contentLength !== null && contentLength !== cr.end - cr.start + 1)) {
            body.destroy();
            const asked = offset;
            await restartFromZero(`the server answered with a range that does not continue the file (${res.headers['content-range'] ?? 'no Content-Range'})`);
            throw new DownloadError('http', `${name}: the server answered the resume at byte ${asked} with ${res.headers['content-range'] ? `Content-Range ${res.headers['content-range']}` : 'no Content-Range'}, so the ${asked} bytes kept were thrown away`, true);
          }
          if (validator && now && now !== validator) {
            body.destroy();
            await restartFromZero('the file changed on the server since the download began');
            throw new DownloadError('http', `${name}: the file changed on the server`, true);
          }
          total = cr.total ?? (contentLength !== null ? offset + contentLength : null);
        } else if (res.status === 416) {
          body.resume();
          const cr = parseContentRange(res.headers['content-range']);
          if (cr && 'unsatisfied' in cr && cr.unsatisfied === offset && offset > 0) {
            total = offset; // the kept part is already the whole file
            break;
          }
          await restartFromZero('the server refused the range');
          throw new DownloadError('http', `${name}: the server refused the range`, true, 416);
        } else {
          body.resume();
          const st = res.status;
          if (st === 401 || st === 403) {
            throw new DownloadError('auth', o.token
              ? `${name}: the server refused the Hugging Face token (HTTP ${st}). ${o.gatedHint ?? 'Check that the token is valid and that you accepted the model\'s terms on its Hugging Face page.'}`
              : `${name} needs a Hugging Face token (HTTP ${st}). ${o.gatedHint ?? 'Accept the model\'s terms on its Hugging Face page, then set HF_TOKEN or run `schnell models login`.'}`, false, st);
          }
          if (st === 404 || st === 410) throw new DownloadError('not-found', `${name}: the server has no such file (HTTP ${st}) at ${redact(o.url)}`, false, st);
          const retryable = st === 408 || st === 425 || st === 429 || st >= 500;
          retryDelay = retryAfterMs(res.headers['retry-after'], maxBackoff);
          throw new DownloadError('http', `${name}: the server answered HTTP ${st}`, retryable, st);
        }

        if (o.expectedBytes != null && total !== null && total !== o.expectedBytes) {
          body.destroy();
          await restartFromZero('size mismatch');
          throw new DownloadError('size', `${name}: the server offers ${total} bytes but ${o.expectedBytes} were expected; the file may have changed upstream, so nothing was installed`);
        }
        checkFreeSpace(dir, (total ?? o.expectedBytes ?? o.sizeHint ?? 0) - offset, o.reserveBytes);
        state?.update(dest, { validator, total_bytes: total, received_bytes: offset, error: null });
        if (offset === 0) log(`${name}: downloading${total !== null ? ` ${formatBytes(total)}` : ''}`);
        else log(`${name}: resuming at ${formatBytes(offset)}`);

        meter.reset(offset);
        await streamBody(body, armStall, attempts);
        if (total !== null && offset < total) throw truncated();
        if (total === null) total = offset;
        break;
      } catch (err) {
        const reason = attempt.signal.reason;
        if (signal?.aborted) throw signal.reason;
        let e: DownloadError;
        if (err instanceof DownloadError) e = err;
        else if (reason instanceof Stall) e = new DownloadError('stalled', `${name}: no data for ${stallMs < 10_000 ? (stallMs / 1000).toFixed(1) : Math.round(stallMs / 1000)} s`, true);
        else if (err instanceof HttpError) e = new DownloadError('http', `${name}: ${err.message}`, false, err.status);
        else if (total !== null && offset < total && isConnectionCut(err)) e = truncated();
        else e = new DownloadError('network', `${name}: ${(err as Error)?.message ?? String(err)}`, true);
        if (!e.retryable) throw e;
        lastError = e;
        failuresInARow = offset > bestBefore ? 1 : failuresInARow + 1;
        highWater = Math.max(highWater, offset);
        if (failuresInARow > retries) {
          throw new DownloadError(e.code, `${e.message} (gave up after ${retries + 1} tries in a row; run it again to resume)`, false, e.status);
        }
        state?.update(dest, { received_bytes: offset, error: redact(e.message, [o.token]) });
        const backoff = Math.min(maxBackoff, (o.backoffMs ?? 500) * 2 ** (failuresInARow - 1));
        const delay = retryDelay ?? backoff * (0.5 + Math.random() * 0.5);
        log(`${e.message}; retrying in ${(delay / 1000).toFixed(1)} s`);
        await sleep(delay, signal);
      } finally {
        clearTimeout(stallTimer);
        signal?.removeEventListener('abort', onUserAbort);
      }
    }
  } catch (err) {
    const out = await stopped(err);
    if (out !== err || signal?.aborted) throw out;
    await closeFile(true).catch(() => {});
    const e = err instanceof DownloadError ? err : new DownloadError('io', `${name}: ${(err as Error)?.message ?? String(err)}`);
    // A refused size or checksum means the kept bytes are worthless; anything else keeps them.
    if (e.code === 'size') {
      await fsp.rm(part, { force: true });
      state?.release(dest, 'failed', { error: redact(e.message, [o.token]), received_bytes: 0, validator: null, total_bytes: null });
    } else {
      // An empty partial file (a 404, a refused connection) keeps nothing worth resuming: leave no
      // litter next to the destination.
      if (offset === 0) await fsp.rm(part, { force: true });
      state?.release(dest, 'failed', { error: redact(e.message, [o.token]), received_bytes: offset });
    }
    throw e;
  }

  // Complete: make the bytes durable, check them, and only then give the file its name.
  await closeFile(true);
  meter.tick('verifying', offset, total, attempts, true);
  const digest = hash.digest('hex');
  const actualSize = fileSize(part);
  const fail = async (e: DownloadError): Promise<never> => {
    await fsp.rm(part, { force: true });
    state?.release(dest, 'failed', { error: e.message, received_bytes: 0, validator: null, total_bytes: null });
    if (e.code === 'checksum' && resumedFrom > 0 && round === 0) throw new RetryFromZero(e);
    throw e;
  };
  if (actualSize !== offset || (total !== null && actualSize !== total)) {
    await fail(new DownloadError('size', `${name}: the file on disk has ${actualSize} bytes, ${total ?? offset} were expected; it was deleted`));
  }
  if (sha !== null && digest !== sha) {
    await fail(new DownloadError('checksum', `${name} failed its checksum (expected SHA-256 ${sha}, got ${digest}); the file was deleted and nothing was installed`));
  }
  if (o.verify) {
    try {
      await o.verify(part);
    } catch (err) {
      await fail(new DownloadError('verify', `${name} is not a valid file: ${(err as Error).message}; it was deleted`));
    }
  }
  await fsp.rename(part, dest);
  await fsyncDir(dir);
  state?.release(dest, 'complete', { sha256: digest, received_bytes: actualSize, total_bytes: actualSize, error: null });
  meter.tick('done', actualSize, actualSize, attempts, true);
  return { path: dest, bytes: actualSize, sha256: digest, resumedFrom, attempts };

  /** A body that ended before its announced length: the server (or something between) cut it short. */
  function truncated(): DownloadError {
    return new DownloadError('network', `${name}: the server closed the connection after ${offset} of ${total} bytes`, true);
  }

  // Each chunk goes to disk as it arrives, so every byte received is a byte kept: a crash or a
  // dropped connection never costs more than the chunk in flight.
  async function streamBody(body: Readable, alive: () => void, attempt: number): Promise<void> {
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        alive();
        if (total !== null && offset + chunk.length > total) {
          throw new DownloadError('size', `${name}: the server sent more bytes than the ${total} it announced`);
        }
        try {
          await fh.write(chunk, 0, chunk.length, offset);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new DownloadError(code === 'ENOSPC' || code === 'EDQUOT' ? 'disk' : 'io', `${name}: could not write ${part}: ${(err as Error).message}`);
        }
        hash.update(chunk);
        offset += chunk.length;
        meter.tick('downloading', offset, total, attempt);
        if (Date.now() - lastSaved > 1000) {
          lastSaved = Date.now();
          state?.update(dest, { received_bytes: offset });
        }
      }
    } finally {
      body.destroy();
      state?.update(dest, { received_bytes: offset });
    }
  }
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
