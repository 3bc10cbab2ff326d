// The Fireworks AI text_to_image client (the cloud fallback). It speaks the same contract as our
// server (api.md) and turns every way the network or the service can fail into one sentence a
// user understands. The API key is held in a private field and never appears in messages or logs.
import sharp from 'sharp';
import {
  DEFAULT_JPEG_QUALITY,
  type GenerationRequest,
  type ImageFormat,
  MEDIA_TYPE,
  decodeBase64Image,
  imageSeed,
  sniffImageFormat,
  toTextToImageBody,
} from '../api/index.js';
import { BackendError, type BackendOutput, type CloudBackend, type CloudInfo, type GenerateOptions, type GeneratedImage, abortError } from '../api/backend.js';
import { CloudError, describeNetworkError, FIREWORKS_KEY_HINT, isRetryableNetworkError } from './errors.js';
import { sleep } from '../util/sleep.js';

export const FIREWORKS_BASE_URL = 'https://api.fireworks.ai';
export const FIREWORKS_ACCOUNT = 'fireworks';
export const FIREWORKS_MODEL = 'flux-1-schnell-fp8';

export interface FireworksOptions {
  apiKey?: string | undefined;
  baseUrl?: string;
  account?: string;
  model?: string;
  /** Limit for one attempt, body included (default 120 s). */
  timeoutMs?: number;
  /** Retries after the first attempt on 429, 5xx and dropped connections (default 3). */
  maxRetries?: number;
  /** First backoff delay; doubles each retry, with jitter (default 500 ms). */
  backoffMs?: number;
  /** A Retry-After longer than this is not waited for: the error says when to retry (default 60 s). */
  maxRetryAfterSeconds?: number;
  /** Largest response body accepted (default 256 MiB). */
  maxResponseBytes?: number;
}

interface Attempt {
  images: GeneratedImage[];
}

export class FireworksClient implements CloudBackend {
  readonly #key: string | undefined;
  readonly baseUrl: string;
  readonly account: string;
  readonly model: string;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly backoffMs: number;
  private readonly maxRetryAfterSeconds: number;
  private readonly maxResponseBytes: number;

  constructor(opts: FireworksOptions = {}) {
    this.#key = opts.apiKey?.trim() || undefined;
    this.baseUrl = (opts.baseUrl ?? FIREWORKS_BASE_URL).replace(/\/+$/, '');
    this.account = opts.account ?? FIREWORKS_ACCOUNT;
    this.model = opts.model ?? FIREWORKS_MODEL;
    this.timeoutMs = opts.timeoutMs ?? 120_000;
    this.maxRetries = Math.max(0, Math.min(10, opts.maxRetries ?? 3));
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxRetryAfterSeconds = opts.maxRetryAfterSeconds ?? 60;
    this.maxResponseBytes = opts.maxResponseBytes ?? 256 * 1024 * 1024;
    let url: URL;
    try {
      url = new URL(this.baseUrl);
    } catch {
      throw new Error(`the Fireworks base URL '${this.baseUrl}' is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`the Fireworks base URL must be http(s), got '${this.baseUrl}'`);
  }

  get endpoint(): string {
    return `${this.baseUrl}/inference/v1/workflows/accounts/${encodeURIComponent(this.account)}/models/${encodeURIComponent(this.model)}/text_to_image`;
  }

  describe(): CloudInfo {
    return { baseUrl: this.baseUrl, account: this.account, model: this.model, hasKey: this.#key !== undefined };
  }

  /** Keeps the key out of console.log / util.inspect. */
  toJSON(): CloudInfo {
    return this.describe();
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `FireworksClient(${this.baseUrl}, ${this.account}/${this.model}, key ${this.#key ? 'set' : 'not set'})`;
  }

  async generate(request: GenerationRequest, opts: GenerateOptions = {}): Promise<BackendOutput> {
    if (!this.#key) throw new BackendError('no-backend', `no Fireworks API key is set (${FIREWORKS_KEY_HINT})`, { status: 503 });
    const started = performance.now();
    for (let attempt = 0; ; attempt++) {
      if (opts.signal?.aborted) throw abortError();
      try {
        const { images } = await this.attempt(request, opts.signal);
        opts.onProgress?.({ step: request.steps, steps: request.steps, image: images.length - 1, images: images.length, backend: 'cloud' });
        return { images, engineMs: performance.now() - started };
      } catch (err) {
        if (opts.signal?.aborted) throw abortError();
        const e = toCloudError(err, this);
        if (!e.retryable || attempt >= this.maxRetries) throw e.toBackendError(attempt + 1);
        let delayMs = Math.min(30_000, this.backoffMs * 2 ** attempt) * (0.5 + Math.random() * 0.5);
        if (e.retryAfterSeconds !== undefined) {
          if (e.retryAfterSeconds > this.maxRetryAfterSeconds) throw e.toBackendError(attempt + 1);
          delayMs = e.retryAfterSeconds * 1000;
        }
        await sleep(delayMs, opts.signal, () => abortError());
      }
    }
  }

  private async attempt(request: GenerationRequest, signal: AbortSignal | undefined): Promise<Attempt> {
    // One image comes back as a binary body (headers carry Seed and Finish-Reason, and Jpeg-Quality
    // applies); several come back as JSON.
    const binary = request.samples === 1;
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#key}`,
      'Content-Type': 'application/json',
      Accept: binary ? MEDIA_TYPE[request.outputFormat] : 'application/json',
    };
    if (binary && request.outputFormat === 'jpeg' && request.jpegQuality !== undefined) headers['Jpeg-Quality'] = String(request.jpegQuality);
    if (!binary) headers['Json-Return-Image-Accept'] = MEDIA_TYPE[request.outputFormat];

    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let body: Buffer;
    try {
      res = await fetch(this.endpoint, { method: 'POST', headers, body: JSON.stringify(toTextToImageBody(request)), signal: combined, redirect: 'error' });
      body = await readBody(res, this.maxResponseBytes);
    } catch (err) {
      if (timeout.aborted && !signal?.aborted) throw new CloudError('timeout', `Fireworks did not answer within ${Math.round(this.timeoutMs / 1000)} s`, { retryable: false });
      throw err;
    }
    if (res.status !== 200) throw statusError(res, body, this);

    const contentType = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType === 'application/json' || (!binary && sniffImageFormat(body) === null)) {
      return { images: await this.fromJson(body, request) };
    }
    const finishReason = parseFinishReason(res.headers.get('finish-reason'));
    const seedHeader = Number(res.headers.get('seed'));
    const seed = Number.isInteger(seedHeader) && seedHeader > 0 ? seedHeader : request.seed;
    const bytes = await this.asImage(body, request, 0, finishReason, contentType);
    return { images: [{ bytes, seed, index: 0, finishReason, format: request.outputFormat }] };
  }

  private async fromJson(body: Buffer, request: GenerationRequest): Promise<GeneratedImage[]> {
    let data: unknown;
    try {
      data = JSON.parse(body.toString('utf8'));
    } catch {
      throw notAnImage(body);
    }
    const d = data as { base64?: unknown; finishReason?: unknown; seed?: unknown };
    if (!Array.isArray(d.base64) || !d.base64.every((x) => typeof x === 'string')) {
      throw new CloudError('bad-response', 'Fireworks answered without images (no "base64" list in its JSON)', { retryable: false });
    }
    if (d.base64.length !== request.samples) {
      throw new CloudError('bad-response', `Fireworks returned ${d.base64.length} images for a request of ${request.samples}`, { retryable: false });
    }
    const overall = parseFinishReason(typeof d.finishReason === 'string' ? d.finishReason : null);
    const base = typeof d.seed === 'number' && Number.isInteger(d.seed) && d.seed > 0 ? d.seed : request.seed;
    const images: GeneratedImage[] = [];
    for (let i = 0; i < d.base64.length; i++) {
      const raw = decodeBase64Image(d.base64[i] as string);
      if (!raw) throw new CloudError('bad-response', `Fireworks returned image ${i} as something that is not base64`, { retryable: false });
      const bytes = await this.asImage(raw, request, i, overall, '');
      // JSON carries one finish reason for the request; with several images only the black ones
      // (how filtered images come back) are marked filtered, unless none is black.
      images.push({ bytes, seed: imageSeed(base, i), index: i, finishReason: overall, format: request.outputFormat });
    }
    if (overall === 'CONTENT_FILTERED' && images.length > 1) {
      const black = await Promise.all(images.map((img) => isAllBlack(img.bytes)));
      if (black.some(Boolean)) images.forEach((img, i) => (img.finishReason = black[i] ? 'CONTENT_FILTERED' : 'SUCCESS'));
    }
    return images;
  }

  /** Checks the bytes are an image and in the format the caller wants (converting if the cloud chose another). */
  private async asImage(bytes: Buffer, request: GenerationRequest, index: number, finishReason: string, contentType: string): Promise<Uint8Array> {
    const format = sniffImageFormat(bytes);
    if (!format) {
      // A filtered image may come back empty; api.md promises an all-black image of the same size.
      if (finishReason === 'CONTENT_FILTERED') return blackImage(request.width, request.height, request.outputFormat, request.jpegQuality);
      throw notAnImage(bytes, contentType, index);
    }
    if (format === request.outputFormat && !(format === 'jpeg' && request.samples > 1 && request.jpegQuality !== undefined)) return bytes;
    try {
      const img = sharp(bytes);
      return request.outputFormat === 'png' ? await img.png().toBuffer() : await img.jpeg({ quality: Math.max(1, request.jpegQuality ?? DEFAULT_JPEG_QUALITY) }).toBuffer();
    } catch {
      throw new CloudError('bad-response', `Fireworks returned image ${index} as a damaged ${format} file`, { retryable: false });
    }
  }
}

function parseFinishReason(v: string | null): 'SUCCESS' | 'CONTENT_FILTERED' {
  return v?.trim().toUpperCase() === 'CONTENT_FILTERED' ? 'CONTENT_FILTERED' : 'SUCCESS';
}

function notAnImage(body: Buffer, contentType = '', index?: number): CloudError {
  const what = contentType ? ` (${contentType.slice(0, 40)})` : '';
  const which = index !== undefined && index > 0 ? `image ${index}` : 'a response';
  return new CloudError('bad-response', `Fireworks sent ${which} that is not an image${what}, ${body.length} bytes; a proxy or captive portal may be in the way`, { retryable: false });
}

async function readBody(res: Response, max: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) throw new CloudError('bad-response', `Fireworks sent a ${declared}-byte response, more than the ${max} accepted`, { retryable: false });
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > max) throw new CloudError('bad-response', `Fireworks sent more than the ${max} bytes accepted`, { retryable: false });
    chunks.push(Buffer.from(chunk));
  }
  const body = Buffer.concat(chunks);
  if (Number.isFinite(declared) && declared > 0 && body.length < declared) {
    throw new CloudError('dropped', `the connection to Fireworks dropped mid-response (${body.length} of ${declared} bytes)`, { retryable: true });
  }
  return body;
}

function statusError(res: Response, body: Buffer, client: FireworksClient): CloudError {
  const status = res.status;
  const detail = errorDetail(body);
  if (status === 401 || status === 403) {
    return new CloudError('auth', `your Fireworks API key was rejected (HTTP ${status}); check it (${FIREWORKS_KEY_HINT})`, { status, retryable: false });
  }
  if (status === 429) {
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    return new CloudError('rate-limited', `Fireworks is rate limiting this key${retryAfter !== undefined ? `; retry in ${retryAfter} s` : ''}`, { status, retryable: true, ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}) });
  }
  if (status >= 500) {
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    return new CloudError('server', `Fireworks had a server error (HTTP ${status})${detail ? `: ${detail}` : ''}`, { status, retryable: true, ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}) });
  }
  if (status === 404) {
    return new CloudError('rejected', `Fireworks does not know the model ${client.account}/${client.model} (HTTP 404); check "cloud": { "model" } in $SCHNELL_HOME/config.json`, { status, retryable: false });
  }
  return new CloudError('rejected', `Fireworks rejected the request (HTTP ${status})${detail ? `: ${detail}` : ''}`, { status, retryable: false });
}

/** The `error.message` (or `message`/`detail`) of a JSON error body, short and printable. */
function errorDetail(body: Buffer): string {
  try {
    const d = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    const e = d.error;
    const m = typeof e === 'object' && e !== null ? (e as Record<string, unknown>).message : typeof e === 'string' ? e : d.message ?? d.detail;
    if (typeof m === 'string') return m.replace(/[^\x20-\x7e]/g, ' ').slice(0, 200);
  } catch {
    /* not JSON */
  }
  return '';
}

/** Retry-After as seconds (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v));
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function toCloudError(err: unknown, client: FireworksClient): CloudError {
  if (err instanceof CloudError) return err;
  if (isRetryableNetworkError(err)) return new CloudError('dropped', `the connection to Fireworks at ${client.baseUrl} dropped (${describeNetworkError(err)})`, { retryable: true });
  return new CloudError('unreachable', `could not reach Fireworks at ${client.baseUrl} (${describeNetworkError(err)}); check the internet connection`, { retryable: false });
}

async function isAllBlack(bytes: Uint8Array): Promise<boolean> {
  try {
    const stats = await sharp(bytes).stats();
    return stats.channels.slice(0, 3).every((c) => c.max <= 8);
  } catch {
    return false;
  }
}

function blackImage(width: number, height: number, format: ImageFormat, quality?: number): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: Math.max(1, quality ?? DEFAULT_JPEG_QUALITY) }).toBuffer();
}
