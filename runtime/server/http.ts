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
  let status = 400;
  let message = 'the request is not valid HTTP/1.1 (check Content-Length, Transfer-Encoding and the header syntax)';
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    message = 'the request took too long to arrive; send the headers and body without pausing';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    message = 'the request headers are too large';
  }
  const id = typeof requestId === 'string' ? requestId : newRequestId();
  const { body } = encodeError(new ApiError(status, message));
  const reason = status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request';
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
    `X-Request-Id: ${id}\r\nConnection: close\r\n\r\n${body.toString('utf8')}`
  );
}
