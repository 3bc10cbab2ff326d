// The retry loops' back-off wait (cloud requests, downloads): cancelling must not wait it out.

/** Resolves after `ms`; rejects with `abortReason()` as soon as `signal` aborts (at once if it has). */
export function sleep(ms: number, signal?: AbortSignal, abortReason: () => unknown = () => signal?.reason): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
