// Cloud failures, each one sentence for the user, and whether a retry can help.
import { BackendError } from '../api/backend.js';

/**
 * Where a Fireworks key can be given, for every message about a missing or rejected key: places
 * that exist for CLI and studio users alike (never a screen that is not there).
 */
export const FIREWORKS_KEY_HINT = 'set FIREWORKS_API_KEY, or save the key in the studio (Settings, Fireworks cloud) or as fireworks.api_key in $SCHNELL_HOME/secrets.json';

export type CloudErrorKind = 'auth' | 'rate-limited' | 'server' | 'dropped' | 'unreachable' | 'timeout' | 'bad-response' | 'rejected';

export class CloudError extends Error {
  readonly retryable: boolean;
  readonly status?: number;
  readonly retryAfterSeconds?: number;

  constructor(
    readonly kind: CloudErrorKind,
    message: string,
    opts: { retryable: boolean; status?: number; retryAfterSeconds?: number },
  ) {
    super(message);
    this.name = 'CloudError';
    this.retryable = opts.retryable;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.retryAfterSeconds !== undefined) this.retryAfterSeconds = opts.retryAfterSeconds;
  }

  /** The engine's view: which HTTP status our own server answers with, and the sentence. */
  toBackendError(attempts: number): BackendError {
    const tries = attempts > 1 && this.retryable ? ` (gave up after ${attempts} attempts)` : '';
    const status = this.kind === 'rate-limited' ? 429 : this.kind === 'rejected' && (this.status === 400 || this.status === 422) ? 400 : 503;
    return new BackendError('cloud-failed', `${this.message}${tries}`, {
      status,
      cause: this,
      ...(this.retryAfterSeconds !== undefined ? { retryAfter: this.retryAfterSeconds } : this.kind === 'rate-limited' ? { retryAfter: 5 } : {}),
    });
  }
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

function errorCode(err: unknown): string | undefined {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

/** A connection that dropped (reset, closed mid-body): worth another attempt. */
export function isRetryableNetworkError(err: unknown): boolean {
  const code = errorCode(err);
  if (code) return RETRYABLE_CODES.has(code);
  const message = String((err as Error)?.message ?? '');
  return /terminated|other side closed|socket hang up/i.test(message);
}

export function describeNetworkError(err: unknown): string {
  const code = errorCode(err);
  const plain: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'DNS lookup failed',
    ENETUNREACH: 'network unreachable',
    EHOSTUNREACH: 'host unreachable',
    ECONNRESET: 'connection reset',
    UND_ERR_SOCKET: 'connection closed',
    UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
    CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  };
  if (code) return plain[code] ?? code;
  const cause = (err as { cause?: { message?: string } })?.cause?.message;
  return (cause ?? (err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 120);
}
