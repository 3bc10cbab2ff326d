// One GET with redirects followed by hand, on node:http(s) so the bytes are exactly what the server
// sent (no transparent decompression) and so the token goes to the origin it was meant for only:
// Hugging Face answers a resolve URL with a redirect to a signed CDN URL that must not see it.
import http from 'node:http';
import https from 'node:https';
import { DownloadError } from './download-error.js';
import { isSafeFileName } from './paths.js';
import { redact } from './secrets.js';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** The URL that answered (after redirects). */
  url: URL;
}

export interface GetOptions {
  headers?: Record<string, string>;
  /** Sent as `Authorization: Bearer …` to the first URL's origin only. */
  token?: string | null;
  signal: AbortSignal;
  maxRedirects?: number;
  userAgent?: string;
}

export class HttpError extends Error {
  constructor(message: string, readonly status?: number) {
    super(message);
    this.name = 'HttpError';
  }
}

function once(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, { method: 'GET', headers, agent: false, signal });
    req.on('response', resolve);
    req.on('error', reject);
    req.end();
  });
}

const TLS_REASONS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its certificate chain ends in a self-signed certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its certificate cannot be verified',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its certificate was issued by an authority this machine does not trust',
  UNABLE_TO_GET_ISSUER_CERT: 'its certificate was issued by an authority this machine does not trust',
  CERT_HAS_EXPIRED: 'its certificate has expired',
  CERT_NOT_YET_VALID: 'its certificate is not valid yet',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its certificate is for another host name',
  CERT_REVOKED: 'its certificate was revoked',
  CERT_SIGNATURE_FAILURE: 'its certificate has a bad signature',
};

/** A TLS failure of a request, in words; undefined for any other error. */
function tlsProblem(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException | undefined;
  const code = e?.code ?? '';
  if (TLS_REASONS[code]) return TLS_REASONS[code];
  if (/^(ERR_SSL_|ERR_TLS_|CERT_)/.test(code) || code === 'EPROTO') {
    // OpenSSL's text is long and technical: keep its first clause only.
    const first = (e?.message ?? code).split(/[.:\n]/)[0]!.trim();
    return `the TLS handshake was refused (${first || code})`;
  }
  return undefined;
}

export async function httpGet(target: string | URL, opts: GetOptions): Promise<HttpResponse> {
  const first = new URL(target);
  let url = first;
  const max = opts.maxRedirects ?? 10;
  for (let hop = 0; ; hop++) {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(`unsupported URL scheme ${url.protocol}`);
    if (first.protocol === 'https:' && url.protocol === 'http:') throw new HttpError(`refusing a redirect from https to plain http (${url.host})`);
    const headers: Record<string, string> = {
      'user-agent': opts.userAgent ?? 'schnell-studio',
      'accept-encoding': 'identity',
      ...opts.headers,
    };
    if (opts.token && url.origin === first.origin) headers.authorization = `Bearer ${opts.token}`;
    let res: http.IncomingMessage;
    try {
      res = await once(url, headers, opts.signal);
    } catch (err) {
      const tls = tlsProblem(err);
      if (!tls) throw err;
      // One sentence, naming the host that failed and, after a redirect, where it came from.
      const via = hop > 0 ? ` (a redirect from ${first.host} led there)` : '';
      throw new HttpError(`the secure connection to ${url.host} failed: ${tls}${via}; check the system clock, a proxy that intercepts HTTPS, or NODE_EXTRA_CA_CERTS`);
    }
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location) {
      res.resume();
      if (hop >= max) throw new HttpError(`too many redirects (more than ${max})`, status);
      url = new URL(location, url);
      continue;
    }
    return { status, headers: res.headers, body: res, url };
  }
}

// Content-Range: `bytes a-b/total` (total may be a star), or `bytes (star)/total` on a 416.
export function parseContentRange(value: string | undefined): { start: number; end: number; total: number | null } | { unsatisfied: number } | null {
  if (!value) return null;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (m) {
    const start = Number(m[1]);
    const end = Number(m[2]);
    const total = m[3] === '*' ? null : Number(m[3]);
    if (end < start || (total !== null && end >= total)) return null;
    return { start, end, total };
  }
  const u = /^\s*bytes\s+\*\/(\d+)\s*$/i.exec(value);
  return u ? { unsatisfied: Number(u[1]) } : null;
}

/** The file name a server suggests (Content-Disposition), unvalidated: callers must check it. */
export function contentDispositionName(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const star = /filename\*\s*=\s*(?:UTF-8|utf-8)?'[^']*'([^;]+)/.exec(value);
  if (star) {
    try {
      return decodeURIComponent(star[1]!.trim());
    } catch {
      return star[1]!.trim();
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(value);
  if (quoted) return quoted[1]!.replace(/\\(.)/g, '$1');
  const bare = /filename\s*=\s*([^;\s]+)/.exec(value);
  return bare?.[1];
}

/** A strong validator for If-Range: a strong ETag, else Last-Modified; weak ETags cannot be used. */
export function validatorOf(headers: http.IncomingHttpHeaders): string | null {
  const etag = headers.etag;
  if (etag && !etag.startsWith('W/')) return etag;
  return headers['last-modified'] ?? null;
}

/**
 * The file name a server suggests for `url` (Content-Disposition, else the URL's last segment), for
 * `--out DIR`. Refused, never cleaned, when it is not a plain file name: a server that answers
 * `../../.bashrc` is not trusted with a path.
 */
export async function remoteFileName(url: string, opts: { token?: string | null; signal?: AbortSignal } = {}): Promise<string> {
  let suggested: string | undefined;
  try {
    const res = await httpGet(url, { headers: { range: 'bytes=0-0' }, token: opts.token, signal: opts.signal ?? AbortSignal.timeout(30_000) });
    res.body.destroy();
    if (res.status >= 400) throw new DownloadError(res.status === 401 || res.status === 403 ? 'auth' : 'http', `${redact(url)} answered HTTP ${res.status}`, false, res.status);
    suggested = contentDispositionName(res.headers['content-disposition'] as string | undefined);
  } catch (err) {
    if (err instanceof DownloadError) throw err;
    throw new DownloadError('network', `could not reach ${redact(url)}: ${(err as Error).message}`);
  }
  if (suggested === undefined) {
    const last = new URL(url).pathname.split('/').pop() ?? '';
    try {
      suggested = decodeURIComponent(last);
    } catch {
      suggested = last;
    }
  }
  if (!isSafeFileName(suggested)) {
    throw new DownloadError('invalid', `the server suggests the file name ${JSON.stringify(suggested.slice(0, 100))}, which is not a plain file name; give the full path with --out FILE`);
  }
  return suggested;
}
