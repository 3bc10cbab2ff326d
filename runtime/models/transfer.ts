// One pass of a download (see download.ts for the contract): the Transfer that requests, resumes,
// streams to `<dest>.part`, retries with backoff and finally verifies and renames. Split from
// download.ts so each file is one thing: download.ts is the public entry (one download per file,
// the clean retry from zero, errors redacted); this is the transfer itself.
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { checkFreeSpace, fileSize, formatBytes, hashPrefix } from './disk.js';
import { fsyncDir } from '../util/files.js';
import { sleep } from '../util/sleep.js';
import type { DownloadOptions, DownloadResult } from './download.js';
import { CANCEL, DownloadError } from './download-error.js';
import { httpGet, parseContentRange, validatorOf, HttpError } from './http.js';
import { Meter } from './progress.js';
import { redact } from './secrets.js';
import type { DownloadState } from './state.js';

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

/** A checksum failure after a resume: downloadFile tries once more from byte 0. */
export class RetryFromZero extends Error {
  constructor(override readonly cause: DownloadError) {
    super(cause.message);
  }
}

export function downloadOnce(o: DownloadOptions & { dest: string }, round: number): Promise<DownloadResult> {
  return Transfer.start(o, round);
}

/** What one attempt's response means for the loop: stream its body, or the kept file is complete. */
type Accepted = 'stream' | 'complete';

/**
 * One pass of a download, in named steps: check the arguments, prepare the folder and decide what
 * kept bytes are worth (`start`), re-hash them, then request → accept the response → stream the body
 * until the file is whole (`fetch`), retrying with backoff (`retryOrGiveUp`); on failure keep or drop
 * the partial file (`failed`); on success verify and rename it (`finish`). The mutable state of the
 * transfer (offset, hash, total, validator, the open file) lives in the instance.
 */
class Transfer {
  private readonly name: string;
  private readonly dir: string;
  private readonly part: string;
  private readonly state: DownloadState | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly meter: Meter;
  private hash = crypto.createHash('sha256');
  private fhOpen = true;
  private attempts = 0;
  private failuresInARow = 0;
  // The most bytes this download has held. An attempt makes progress only past it: bytes fetched
  // again after a restart from 0 (a resume answered with a mismatched range, a changed file) are
  // not progress, so a server that always breaks the resume cannot loop past --retries.
  private highWater: number;
  private lastSaved = 0;
  private lastError: DownloadError | undefined;
  private readonly retries: number;
  private readonly maxAttempts: number;
  private readonly stallMs: number;
  private readonly maxBackoff: number;

  private constructor(
    private readonly o: DownloadOptions & { dest: string },
    private readonly round: number,
    private readonly url: URL,
    private readonly sha: string | null,
    private readonly fh: fsp.FileHandle,
    private offset: number,
    private total: number | null,
    private validator: string | null,
    private readonly resumedFrom: number,
  ) {
    this.name = path.basename(o.dest);
    this.dir = path.dirname(o.dest);
    this.part = `${o.dest}.part`;
    this.state = o.state;
    this.signal = o.signal;
    this.meter = new Meter(o.onProgress, o.progressIntervalMs ?? 250, { dest: o.dest, resumedFrom });
    this.highWater = offset;
    this.retries = o.retries ?? 5;
    this.maxAttempts = o.maxAttempts ?? 200;
    this.stallMs = o.stallTimeoutMs ?? 30_000;
    this.maxBackoff = o.maxBackoffMs ?? 30_000;
  }

  static async start(o: DownloadOptions & { dest: string }, round: number): Promise<DownloadResult> {
    const { url, sha } = checkArguments(o);
    prepareFolder(o);
    const kept = await keptPrefix(o, sha, round);
    const fh = await fsp.open(`${o.dest}.part`, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
    const t = new Transfer(o, round, url, sha, fh, kept.offset, kept.total, kept.validator, kept.offset);
    try {
      await t.rehashKept();
      await t.fetch();
    } catch (err) {
      throw await t.failed(err);
    }
    return t.finish();
  }

  private log(m: string): void {
    this.o.onLog?.(redact(m, [this.o.token]));
  }

  private async closeFile(sync: boolean): Promise<void> {
    if (!this.fhOpen) return;
    this.fhOpen = false;
    try {
      if (sync) await this.fh.sync();
    } finally {
      await this.fh.close();
    }
  }

  /** Re-hash what we kept: the hash must cover the bytes on disk, not the bytes we remember. */
  private async rehashKept(): Promise<void> {
    checkFreeSpace(this.dir, (this.o.expectedBytes ?? this.total ?? this.o.sizeHint ?? 0) - this.offset, this.o.reserveBytes);
    this.meter.tick('checking', 0, this.offset, 0, true);
    this.hash = await hashPrefix(this.part, this.offset, (n) => this.meter.tick('checking', n, this.offset, 0), this.signal);
  }

  /** Requests until the file is whole: each attempt resumes where the last one stopped. */
  private async fetch(): Promise<void> {
    for (;;) {
      if (this.signal?.aborted) throw this.signal.reason;
      if (this.total !== null && this.offset === this.total && this.offset > 0) return;
      if (++this.attempts > this.maxAttempts) throw this.lastError ?? new DownloadError('network', `${this.name}: gave up after ${this.maxAttempts} requests`);
      if (await this.attempt()) return;
    }
  }

  /** One request. True when the file is complete; false to go round again after a retryable failure. */
  private async attempt(): Promise<boolean> {
    const bestBefore = this.highWater;
    const attempt = new AbortController();
    const signal = this.signal;
    const onUserAbort = () => attempt.abort(signal!.reason);
    signal?.addEventListener('abort', onUserAbort, { once: true });
    let stallTimer: NodeJS.Timeout | undefined;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => attempt.abort(new Stall()), this.stallMs);
    };
    const retry = { delay: undefined as number | undefined };
    try {
      armStall();
      const headers: Record<string, string> = {};
      if (this.offset > 0) {
        headers.range = `bytes=${this.offset}-`;
        if (this.validator) headers['if-range'] = this.validator;
      }
      const res = await httpGet(this.url, { headers, token: this.o.token, signal: attempt.signal, userAgent: this.o.userAgent });
      armStall();
      if ((await this.accept(res, retry)) === 'complete') return true;
      this.beforeBody(res.body);
      this.meter.reset(this.offset);
      await this.streamBody(res.body, armStall, this.attempts);
      if (this.total !== null && this.offset < this.total) throw this.truncated();
      if (this.total === null) this.total = this.offset;
      return true;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      await this.retryOrGiveUp(this.asAttemptError(err, attempt.signal.reason), bestBefore, retry.delay);
      return false;
    } finally {
      clearTimeout(stallTimer);
      signal?.removeEventListener('abort', onUserAbort);
    }
  }

  /** What the status and headers say: continue from here, start over, the file is complete, or fail. */
  private async accept(res: Awaited<ReturnType<typeof httpGet>>, retry: { delay: number | undefined }): Promise<Accepted> {
    const { name } = this;
    const body = res.body;
    const contentLength = res.headers['content-length'] !== undefined ? Number(res.headers['content-length']) : null;
    if (res.status === 200) {
      if (this.offset > 0) await this.restartFromZero('the server sent the whole file instead of the rest');
      this.total = contentLength;
      this.validator = validatorOf(res.headers);
      return 'stream';
    }
    if (res.status === 206) {
      const cr = parseContentRange(res.headers['content-range']);
      const now = validatorOf(res.headers);
      if (!cr || 'unsatisfied' in cr || cr.start !== this.offset || (contentLength !== null && contentLength !== cr.end - cr.start + 1)) {
        body.destroy();
        const asked = this.offset;
        await this.restartFromZero(`the server answered with a range that does not continue the file (${res.headers['content-range'] ?? 'no Content-Range'})`);
        throw new DownloadError('http', `${name}: the server answered the resume at byte ${asked} with ${res.headers['content-range'] ? `Content-Range ${res.headers['content-range']}` : 'no Content-Range'}, so the ${asked} bytes kept were thrown away`, true);
      }
      if (this.validator && now && now !== this.validator) {
        body.destroy();
        await this.restartFromZero('the file changed on the server since the download began');
        throw new DownloadError('http', `${name}: the file changed on the server`, true);
      }
      this.total = cr.total ?? (contentLength !== null ? this.offset + contentLength : null);
      return 'stream';
    }
    body.resume();
    if (res.status === 416) {
      const cr = parseContentRange(res.headers['content-range']);
      if (cr && 'unsatisfied' in cr && cr.unsatisfied === this.offset && this.offset > 0) {
        this.total = this.offset; // the kept part is already the whole file
        return 'complete';
      }
      await this.restartFromZero('the server refused the range');
      throw new DownloadError('http', `${name}: the server refused the range`, true, 416);
    }
    const st = res.status;
    if (st === 401 || st === 403) {
      throw new DownloadError('auth', this.o.token
        ? `${name}: the server refused the Hugging Face token (HTTP ${st}). ${this.o.gatedHint ?? 'Check that the token is valid and that you accepted the model\'s terms on its Hugging Face page.'}`
        : `${name} needs a Hugging Face token (HTTP ${st}). ${this.o.gatedHint ?? 'Accept the model\'s terms on its Hugging Face page, then set HF_TOKEN or run `schnell models login`.'}`, false, st);
    }
    if (st === 404 || st === 410) throw new DownloadError('not-found', `${name}: the server has no such file (HTTP ${st}) at ${redact(this.o.url)}`, false, st);
    const retryable = st === 408 || st === 425 || st === 429 || st >= 500;
    retry.delay = retryAfterMs(res.headers['retry-after'], this.maxBackoff);
    throw new DownloadError('http', `${name}: the server answered HTTP ${st}`, retryable, st);
  }

  /** Before the first byte of a body: the announced size must be the expected one and fit the disk. */
  private beforeBody(body: Readable): void {
    const { name, total, offset, o } = this;
    if (o.expectedBytes != null && total !== null && total !== o.expectedBytes) {
      body.destroy();
      throw new DownloadError('size', `${name}: the server offers ${total} bytes but ${o.expectedBytes} were expected; the file may have changed upstream, so nothing was installed`);
    }
    checkFreeSpace(this.dir, (total ?? o.expectedBytes ?? o.sizeHint ?? 0) - offset, o.reserveBytes);
    this.state?.update(o.dest, { validator: this.validator, total_bytes: total, received_bytes: offset, error: null });
    if (offset === 0) this.log(`${name}: downloading${total !== null ? ` ${formatBytes(total)}` : ''}`);
    else this.log(`${name}: resuming at ${formatBytes(offset)}`);
  }

  /** Any failure of an attempt as a DownloadError that says whether a retry can help. */
  private asAttemptError(err: unknown, reason: unknown): DownloadError {
    const { name, total, offset } = this;
    if (err instanceof DownloadError) return err;
    if (reason instanceof Stall) return new DownloadError('stalled', `${name}: no data for ${this.stallMs < 10_000 ? (this.stallMs / 1000).toFixed(1) : Math.round(this.stallMs / 1000)} s`, true);
    if (err instanceof HttpError) return new DownloadError('http', `${name}: ${err.message}`, false, err.status);
    if (total !== null && offset < total && isConnectionCut(err)) return this.truncated();
    return new DownloadError('network', `${name}: ${(err as Error)?.message ?? String(err)}`, true);
  }

  /** Throws when the failure is final or --retries failures came in a row; else waits its backoff. */
  private async retryOrGiveUp(e: DownloadError, bestBefore: number, retryDelay: number | undefined): Promise<void> {
    if (!e.retryable) throw e;
    this.lastError = e;
    this.failuresInARow = this.offset > bestBefore ? 1 : this.failuresInARow + 1;
    this.highWater = Math.max(this.highWater, this.offset);
    if (this.failuresInARow > this.retries) {
      throw new DownloadError(e.code, `${e.message} (gave up after ${this.retries + 1} tries in a row; run it again to resume)`, false, e.status);
    }
    this.state?.update(this.o.dest, { received_bytes: this.offset, error: redact(e.message, [this.o.token]) });
    const backoff = Math.min(this.maxBackoff, (this.o.backoffMs ?? 500) * 2 ** (this.failuresInARow - 1));
    const delay = retryDelay ?? backoff * (0.5 + Math.random() * 0.5);
    this.log(`${e.message}; retrying in ${(delay / 1000).toFixed(1)} s`);
    await sleep(delay, this.signal);
  }

  private async restartFromZero(why: string): Promise<void> {
    this.log(`${this.name}: ${why}; starting over from the first byte`);
    await this.fh.truncate(0);
    this.offset = 0;
    this.hash = crypto.createHash('sha256');
    this.validator = null;
    this.total = null;
    this.state?.update(this.o.dest, { received_bytes: 0, validator: null, total_bytes: null });
  }

  /** A body that ended before its announced length: the server (or something between) cut it short. */
  private truncated(): DownloadError {
    return new DownloadError('network', `${this.name}: the server closed the connection after ${this.offset} of ${this.total} bytes`, true);
  }

  // Each chunk goes to disk as it arrives, so every byte received is a byte kept: a crash or a
  // dropped connection never costs more than the chunk in flight.
  private async streamBody(body: Readable, alive: () => void, attempt: number): Promise<void> {
    const { name, part, state } = this;
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        alive();
        if (this.total !== null && this.offset + chunk.length > this.total) {
          throw new DownloadError('size', `${name}: the server sent more bytes than the ${this.total} it announced`);
        }
        try {
          await this.fh.write(chunk, 0, chunk.length, this.offset);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new DownloadError(code === 'ENOSPC' || code === 'EDQUOT' ? 'disk' : 'io', `${name}: could not write ${part}: ${(err as Error).message}`);
        }
        this.hash.update(chunk);
        this.offset += chunk.length;
        this.meter.tick('downloading', this.offset, this.total, attempt);
        if (Date.now() - this.lastSaved > 1000) {
          this.lastSaved = Date.now();
          state?.update(this.o.dest, { received_bytes: this.offset });
        }
      }
    } finally {
      body.destroy();
      state?.update(this.o.dest, { received_bytes: this.offset });
    }
  }

  /**
   * After a failure: the user's pause keeps the partial file, a cancel deletes it; a refused size
   * makes the kept bytes worthless; anything else keeps them for a resume. Returns what to throw.
   */
  private async failed(err: unknown): Promise<unknown> {
    const { name, part, state, signal, o } = this;
    if (signal?.aborted) {
      await this.closeFile(true).catch(() => {});
      if (signal.reason === CANCEL) {
        await fsp.rm(part, { force: true });
        state?.remove(o.dest);
        return new DownloadError('cancelled', `download of ${name} cancelled; the partial file was deleted`);
      }
      state?.release(o.dest, 'paused', { received_bytes: this.offset });
      return new DownloadError('paused', `download of ${name} paused at ${formatBytes(this.offset)}; run it again to resume`);
    }
    await this.closeFile(true).catch(() => {});
    const e = err instanceof DownloadError ? err : new DownloadError('io', `${name}: ${(err as Error)?.message ?? String(err)}`);
    // A refused size or checksum means the kept bytes are worthless; anything else keeps them.
    if (e.code === 'size') {
      await fsp.rm(part, { force: true });
      state?.release(o.dest, 'failed', { error: redact(e.message, [o.token]), received_bytes: 0, validator: null, total_bytes: null });
    } else {
      // An empty partial file (a 404, a refused connection) keeps nothing worth resuming: leave no
      // litter next to the destination.
      if (this.offset === 0) await fsp.rm(part, { force: true });
      state?.release(o.dest, 'failed', { error: redact(e.message, [o.token]), received_bytes: this.offset });
    }
    return e;
  }

  /** Complete: make the bytes durable, check them, and only then give the file its name. */
  private async finish(): Promise<DownloadResult> {
    const { name, part, state, o, offset, total } = this;
    await this.closeFile(true);
    this.meter.tick('verifying', offset, total, this.attempts, true);
    const digest = this.hash.digest('hex');
    const actualSize = fileSize(part);
    const fail = async (e: DownloadError): Promise<never> => {
      await fsp.rm(part, { force: true });
      state?.release(o.dest, 'failed', { error: e.message, received_bytes: 0, validator: null, total_bytes: null });
      if (e.code === 'checksum' && this.resumedFrom > 0 && this.round === 0) throw new RetryFromZero(e);
      throw e;
    };
    if (actualSize !== offset || (total !== null && actualSize !== total)) {
      await fail(new DownloadError('size', `${name}: the file on disk has ${actualSize} bytes, ${total ?? offset} were expected; it was deleted`));
    }
    if (this.sha !== null && digest !== this.sha) {
      await fail(new DownloadError('checksum', `${name} failed its checksum (expected SHA-256 ${this.sha}, got ${digest}); the file was deleted and nothing was installed`));
    }
    if (o.verify) {
      try {
        await o.verify(part);
      } catch (err) {
        await fail(new DownloadError('verify', `${name} is not a valid file: ${(err as Error).message}; it was deleted`));
      }
    }
    await fsp.rename(part, o.dest);
    await fsyncDir(this.dir);
    state?.release(o.dest, 'complete', { sha256: digest, received_bytes: actualSize, total_bytes: actualSize, error: null });
    this.meter.tick('done', actualSize, actualSize, this.attempts, true);
    return { path: o.dest, bytes: actualSize, sha256: digest, resumedFrom: this.resumedFrom, attempts: this.attempts };
  }
}

/** The URL and checksum, checked: one sentence for each mistake. */
function checkArguments(o: DownloadOptions & { dest: string }): { url: URL; sha: string | null } {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new DownloadError('invalid', `not a valid URL: ${redact(o.url)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DownloadError('invalid', `only http(s) URLs can be downloaded, not ${url.protocol}`);
  const sha = o.sha256?.toLowerCase() ?? null;
  if (sha !== null && !/^[0-9a-f]{64}$/.test(sha)) throw new DownloadError('invalid', `the expected SHA-256 must be 64 hex digits, got ${JSON.stringify(o.sha256)}`);
  return { url, sha };
}

/** The destination must be new (unless overwrite) and its folder must exist or be creatable. */
function prepareFolder(o: DownloadOptions & { dest: string }): void {
  const dir = path.dirname(o.dest);
  const name = path.basename(o.dest);
  if (!o.overwrite && fs.existsSync(o.dest)) throw new DownloadError('exists', `${o.dest} already exists; remove it first or choose another destination`);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EEXIST' || code === 'ENOTDIR' ? 'a file is in the way of that folder' : (err as Error).message;
    throw new DownloadError('io', `cannot create the folder ${dir} for ${name}: ${why}; choose another destination`);
  }
}

/**
 * Claims the download in the state database and decides how much of `<dest>.part` to keep: bytes
 * are ours only if they came from this URL, for this checksum, with a validator to prove the server
 * still has the same file (and never on the clean retry of round 1).
 */
async function keptPrefix(o: DownloadOptions & { dest: string }, sha: string | null, round: number): Promise<{ offset: number; total: number | null; validator: string | null }> {
  const part = `${o.dest}.part`;
  const prev = o.state?.claim({
    dest: o.dest, url: o.url, model_id: o.modelId ?? null, file_id: o.fileId ?? null,
    expected_sha256: sha, expected_bytes: o.expectedBytes ?? null,
  });
  let validator = prev && prev.url === o.url && (prev.expected_sha256 ?? null) === sha ? prev.validator : null;
  let total: number | null = validator ? prev?.total_bytes ?? null : null;
  let offset = fileSize(part);
  if (offset > 0 && (!validator || round > 0)) {
    o.onLog?.(redact(`${path.basename(o.dest)}: discarding ${formatBytes(offset)} kept from an unknown or different download`, [o.token]));
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
  return { offset, total, validator };
}
