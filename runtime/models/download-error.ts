// The one error shape of downloads: a code a program can switch on and a sentence for people.

/** Abort reasons: `signal.abort(CANCEL)` deletes the partial file; any other reason pauses. */
export const PAUSE = 'pause';
export const CANCEL = 'cancel';

export type DownloadErrorCode =
  | 'paused' | 'cancelled' | 'checksum' | 'size' | 'disk' | 'auth' | 'not-found' | 'http'
  | 'network' | 'stalled' | 'busy' | 'invalid' | 'exists' | 'verify' | 'io';

export class DownloadError extends Error {
  constructor(readonly code: DownloadErrorCode, message: string, readonly retryable = false, readonly status?: number) {
    super(message);
    this.name = 'DownloadError';
  }
}
