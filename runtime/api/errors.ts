// The one error shape of the API: `{"error": {"type", "message", "param"}}` with an HTTP status.
// Everything that can go wrong on the way from a request to images ends up as an ApiError, so the
// server, the CLI and the studio show the same sentence for the same problem.

export type ApiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'method_not_allowed'
  | 'not_acceptable'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limit_error'
  | 'service_unavailable'
  | 'internal_error';

const TYPE_BY_STATUS: Record<number, ApiErrorType> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limit_error',
  500: 'internal_error',
  503: 'service_unavailable',
};

export interface ApiErrorBody {
  error: { type: ApiErrorType; message: string; param: string | null };
}

export class ApiError extends Error {
  readonly type: ApiErrorType;
  /** Seconds a client should wait before retrying (429, some 503s). */
  retryAfter?: number;

  constructor(
    readonly status: number,
    message: string,
    /** The request field or header at fault, as the client spelled it (`steps`, `Jpeg-Quality`). */
    readonly param: string | null = null,
    opts: { retryAfter?: number; type?: ApiErrorType } = {},
  ) {
    super(message);
    this.name = 'ApiError';
    this.type = opts.type ?? TYPE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request_error');
    if (opts.retryAfter !== undefined) this.retryAfter = Math.max(1, Math.ceil(opts.retryAfter));
  }

  toJSON(): ApiErrorBody {
    return { error: { type: this.type, message: this.message, param: this.param } };
  }
}

export const invalid = (message: string, param: string | null = null): ApiError => new ApiError(400, message, param);

export function isApiError(err: unknown): err is ApiError {
  return err instanceof ApiError;
}
