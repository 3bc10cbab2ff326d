// A bounded job queue: at most `concurrency` tasks run (1 per device: one generation at a time), at
// most `maxQueued` wait; beyond that a submit is refused with 429 + Retry-After. Cancelling a
// queued task removes it; cancelling a running task aborts the signal it was given.
import { ApiError } from '../api/index.js';
import { abortError } from './types.js';

interface Entry {
  start: () => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export interface QueueOptions {
  /** Tasks run at once (1 for a GPU or CPU device). */
  concurrency?: number;
  /** Tasks that may wait; one more is refused with 429. */
  maxQueued?: number;
  /** For messages: 'local device cpu', 'cloud'. */
  name?: string;
  /** First guess of a task's duration, for Retry-After before anything finished (seconds). */
  initialTaskSeconds?: number;
}

export class JobQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly name: string;
  private waiting: Entry[] = [];
  private running = 0;
  private closedReason: string | null = null;
  /** Running average of task durations, for Retry-After. */
  private averageSeconds: number;
  private idleWaiters: (() => void)[] = [];

  constructor(opts: QueueOptions = {}) {
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
    this.maxQueued = Math.max(0, opts.maxQueued ?? 8);
    this.name = opts.name ?? 'queue';
    this.averageSeconds = opts.initialTaskSeconds ?? 5;
  }

  get queued(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running;
  }

  /** Seconds until a newly submitted task would likely start, at least 1. */
  retryAfterSeconds(): number {
    const ahead = this.waiting.length + this.running;
    return Math.max(1, Math.ceil((ahead / this.concurrency) * this.averageSeconds));
  }

  /** Runs `task` when a slot is free. Rejects with ApiError 429 when full, AbortError when cancelled. */
  run<T>(task: (signal: AbortSignal) => Promise<T>, opts: { signal?: AbortSignal } = {}): Promise<T> {
    if (this.closedReason !== null) return Promise.reject(new ApiError(503, this.closedReason));
    if (opts.signal?.aborted) return Promise.reject(abortError());
    if (this.running >= this.concurrency && this.waiting.length >= this.maxQueued) {
      const retryAfter = this.retryAfterSeconds();
      return Promise.reject(new ApiError(429, `the ${this.name} is busy (${this.running} running, ${this.waiting.length} waiting); retry in ${retryAfter} s`, null, { retryAfter }));
    }
    return new Promise<T>((resolve, reject) => {
      const execute = () => {
        this.running++;
        const controller = new AbortController();
        const forward = () => controller.abort(opts.signal?.reason);
        opts.signal?.addEventListener('abort', forward, { once: true });
        const started = performance.now();
        let result: Promise<T>;
        try {
          result = task(controller.signal);
        } catch (err) {
          result = Promise.reject(err);
        }
        result.then(resolve, reject).finally(() => {
          opts.signal?.removeEventListener('abort', forward);
          const seconds = (performance.now() - started) / 1000;
          this.averageSeconds = 0.7 * this.averageSeconds + 0.3 * seconds;
          this.running--;
          this.next();
        });
      };
      if (this.running < this.concurrency) {
        execute();
        return;
      }
      const entry: Entry = {
        start: execute,
        reject,
        signal: opts.signal,
        onAbort: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) {
            this.waiting.splice(i, 1);
            reject(abortError());
            this.notifyIdle();
          }
        },
      };
      opts.signal?.addEventListener('abort', entry.onAbort, { once: true });
      this.waiting.push(entry);
    });
  }

  private next(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      entry.signal?.removeEventListener('abort', entry.onAbort);
      entry.start();
    }
    this.notifyIdle();
  }

  private notifyIdle(): void {
    if (this.running === 0 && this.waiting.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Resolves once nothing runs or waits. */
  idle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new tasks (503 with `reason`); with `dropQueued`, rejects the waiting ones too. */
  close(reason: string, opts: { dropQueued?: boolean } = {}): void {
    this.closedReason = reason;
    if (opts.dropQueued) {
      for (const entry of this.waiting.splice(0)) {
        entry.signal?.removeEventListener('abort', entry.onAbort);
        entry.reject(new ApiError(503, reason));
      }
      this.notifyIdle();
    }
  }
}
