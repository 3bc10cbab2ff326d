// Small HTTP pieces of the local server: the Host/Origin checks that stop DNS-rebinding and
// cross-site requests, bearer-token comparison, the capped body reader, and writing a response.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { ApiError, type EncodedResponse, encodeError } from '../api/index.js';

/**
 * A Host header is allowed when it names a loopback address (127.0.0.0/8, ::1), `localhost` or a
 * `*.localhost` name, or one of `extra` (the address the server was explicitly bound to, and
 * hosts the user configured). A page on attacker.example that rebinds its name to 127.0.0.1 still
 * sends `Host: attacker.example`, so it is refused.
 */
export function hostAllowed(hostHeader: string | undefined, extra: readonly string[] = []): boolean {
  if (!hostHeader) return false;
  const host = hostName(hostHeader);
  if (host === null) return false;
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (net.isIPv4(host)) return host.startsWith('127.') || extra.includes(host);
  if (net.isIPv6(host)) return host === '::1' || host === '0:0:0:0:0:0:0:1' || extra.map((h) => h.toLowerCase()).includes(host);
  return extra.map((h) => h.toLowerCase()).includes(host);
}

/** `example.com:8080` → `example.com`, `[::1]:80` → `::1`; null when malformed. */
export function hostName(hostHeader: string): string | null {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return null;
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    return h.slice(1, end);
  }
  const m = /^([a-z0-9.-]+)(?::\d{1,5})?$/.exec(h);
  return m ? m[1]!.replace(/\.$/, '') : null;
}

/** Constant-time comparison (hashing first makes the lengths equal). */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The token from `Authorization: Bearer <token>`, or null. */
export function bearerToken(req: IncomingMessage): string | null {
  const h = req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m ? m[1]! : null;
}

export class BodyTooLarge extends ApiError {
  constructor(limit: number, readonly drained: boolean) {
    super(413, `the request body is larger than ${limit} bytes (${formatBytes(limit)})`);
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(n % (1024 * 1024) ? 1 : 0)} MiB` : `${n} bytes`;
}

/**
 * Reads the body up to `limit` bytes. Past the limit it keeps reading and discarding up to
 * `drainLimit` so the client can finish sending and read our 413 (closing mid-upload makes most
 * clients report a reset instead); beyond that the connection is closed.
 */
export function readBody(req: IncomingMessage, limit: number, drainLimit = 16 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > drainLimit) {
      req.pause();
      reject(new BodyTooLarge(limit, false));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = Number.isFinite(declared) && declared > limit;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      if (tooLarge) {
        chunks.length = 0;
        if (size > drainLimit) {
          req.pause();
          reject(new BodyTooLarge(limit, false));
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => (tooLarge ? reject(new BodyTooLarge(limit, true)) : resolve(Buffer.concat(chunks))));
    req.on('error', reject);
    req.on('aborted', () => reject(new ApiError(400, 'the client closed the connection before the body arrived')));
  });
}

/** Writes an encoded response unless the client is gone. */
export function send(res: ServerResponse, r: EncodedResponse, extraHeaders: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  if (res.headersSent) {
    res.end();
    return;
  }
  for (const [k, v] of Object.entries({ ...r.headers, ...extraHeaders })) res.setHeader(k, v);
  res.statusCode = r.status;
  res.end(r.body);
}

/** JSON responses other than images and errors (/healthz, /v1/models, the OpenAI shim). */
export function jsonResponse(status: number, data: unknown, headers: Record<string, string> = {}): EncodedResponse {
  const body = Buffer.from(JSON.stringify(data));
  return { status, headers: { ...headers, 'Content-Type': 'application/json', 'Content-Length': String(body.length) }, body };
}

/** A header value built from free text (a fallback reason) must stay printable ASCII. */
export function headerSafe(text: string, max = 200): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

export function newRequestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

/**
 * The raw HTTP answer to a request Node's parser refused (the socket is all we have), in the
 * API's error shape with a request id; null when the client is simply gone.
 */
export function clientErrorResponse(err: NodeJS.ErrnoException, requestId?: unknown): string | null {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return null;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return rawErrorResponse(408, 'the request took too long to arrive; send the headers and body without pausing', {}, requestId);
  if (err.code === 'HPE_HEADER_OVERFLOW') return rawErrorResponse(431, 'the request headers are too large', {}, requestId);
  if (err.code === 'HPE_INVALID_EOF_STATE') {
    return rawErrorResponse(400, 'the client closed its side of the connection before the whole request arrived (check Content-Length)', {}, requestId);
  }
  return rawErrorResponse(400, 'the request is not valid HTTP/1.1 (check Content-Length, Transfer-Encoding and the header syntax)', {}, requestId);
}

/** Headers that must appear once: Node keeps the first of several, so different values are refused. */
const SINGLE_HEADERS = new Set(['content-type', 'authorization', 'host', 'accept', 'jpeg-quality', 'json-return-image-accept', 'expect', 'origin']);

/** The first header of SINGLE_HEADERS given several times with different values, or null. */
export function conflictingHeader(rawHeaders: readonly string[]): { name: string; count: number } | null {
  const seen = new Map<string, { name: string; values: Set<string>; count: number }>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!.toLowerCase();
    if (!SINGLE_HEADERS.has(key)) continue;
    const entry = seen.get(key) ?? { name: rawHeaders[i]!, values: new Set<string>(), count: 0 };
    entry.values.add(rawHeaders[i + 1]!.trim().toLowerCase());
    entry.count++;
    seen.set(key, entry);
  }
  for (const e of seen.values()) if (e.values.size > 1) return { name: canonicalHeaderName(e.name), count: e.count };
  return null;
}

function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** A whole HTTP/1.1 error response as text, for a bare socket (CONNECT, parser errors), closing it. */
export function rawErrorResponse(status: number, message: string, headers: Record<string, string> = {}, requestId?: unknown): string {
  const id = typeof requestId === 'string' ? requestId : newRequestId();
  const { body } = encodeError(new ApiError(status, message));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return (
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
    `X-Request-Id: ${id}\r\n${extra}Connection: close\r\n\r\n${body.toString('utf8')}`
  );
}

/** How often a half-closed client is probed (an interim 102) while its answer is being made. */
export const HALF_CLOSE_PROBE_MS = 1000;

/**
 * TCP cannot tell "done sending, still reading" (a half-close: shutdown(SHUT_WR), `nc -N`, some
 * proxies) from "gone" until something is written. Once the client's side ends, this sends
 * `102 Processing` (an interim answer clients must skip) now and every HALF_CLOSE_PROBE_MS until
 * the final answer: a client that is really gone makes the write fail, the response closes and
 * the job is cancelled; one that only half-closed reads its answer.
 */
export function watchHalfClose(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  let timer: NodeJS.Timeout | null = null;
  const probe = () => {
    if (res.headersSent || res.writableEnded || res.destroyed || socket.destroyed) return stop();
    res.writeProcessing();
  };
  const start = () => {
    if (timer || res.writableEnded) return;
    probe();
    timer = setInterval(probe, HALF_CLOSE_PROBE_MS);
    timer.unref();
  };
  const stop = () => {
    if (timer) clearInterval(timer);
    timer = null;
    socket.off('end', start);
  };
  if (socket.readableEnded) queueMicrotask(start);
  else socket.once('end', start);
  res.once('finish', stop);
  res.once('close', stop);
}

/** WebP for OpenAI's `output_format: "webp"` (the engine makes PNG; sharp re-encodes). */
export async function toWebp(png: Uint8Array, quality: number): Promise<Uint8Array> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(png.buffer, png.byteOffset, png.byteLength)).webp({ quality: Math.max(1, quality) }).toBuffer();
}
