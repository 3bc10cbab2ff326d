// The engine: the router plus the job queues. One generation at a time on the local device, a few
// at once to the cloud, each queue bounded (429 + Retry-After beyond). Jobs report progress and can
// be cancelled through their AbortSignal, queued or running. Used by the server, the CLI and the studio.
import type { GenerationRequest } from '../api/index.js';
import { resolveSeed } from '../api/index.js';
import type { BackendPolicy } from './config.js';
import { JobQueue } from './queue.js';
import { Router, newGenerationId } from './router.js';
import { type BackendName, type GenerateOptions, type GenerationResult, type ProgressEvent, isAbortError } from './types.js';

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobInfo {
  id: string;
  state: JobState;
  backend?: BackendName;
  progress?: ProgressEvent;
  error?: string;
  submittedAt: number;
  finishedAt?: number;
}

export interface EngineStats {
  submitted: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Refused because a queue was full. */
  rejected: number;
  local: { running: number; queued: number };
  cloud: { running: number; queued: number };
}

export interface EngineOptions {
  router: Router;
  /** Jobs that may wait for the local device (default 8). */
  maxQueued?: number;
  /** Cloud requests in flight at once (default 4), and how many may wait (default 16). */
  cloudConcurrency?: number;
  cloudMaxQueued?: number;
  /** Device name for messages. */
  device?: string;
}

const KEEP_FINISHED_JOBS = 200;

export class Engine {
  readonly router: Router;
  private readonly localQueue: JobQueue;
  private readonly cloudQueue: JobQueue;
  private readonly jobs = new Map<string, JobInfo>();
  private readonly counters = { submitted: 0, completed: 0, failed: 0, cancelled: 0, rejected: 0 };

  constructor(opts: EngineOptions) {
    this.router = opts.router;
    this.localQueue = new JobQueue({ concurrency: 1, maxQueued: opts.maxQueued ?? 8, name: `local device${opts.device ? ` (${opts.device})` : ''}` });
    this.cloudQueue = new JobQueue({ concurrency: opts.cloudConcurrency ?? 4, maxQueued: opts.cloudMaxQueued ?? 16, name: 'cloud queue', initialTaskSeconds: 3 });
  }

  /** Runs one request through the right queue. Rejects with ApiError (429, 503, …) or AbortError. */
  async generate(request: GenerationRequest, opts: GenerateOptions & { id?: string; policy?: BackendPolicy } = {}): Promise<GenerationResult> {
    const id = opts.id ?? newGenerationId();
    const info: JobInfo = { id, state: 'queued', submittedAt: Date.now() };
    this.track(info);
    this.counters.submitted++;
    const submitted = performance.now();
    try {
      const resolved = resolveSeed(request);
      const plan = await this.router.plan(resolved, opts.policy);
      info.backend = plan.backend;
      const queue = plan.backend === 'local' ? this.localQueue : this.cloudQueue;
      let queueMs = 0;
      const result = await queue.run(
        (signal) => {
          queueMs = performance.now() - submitted;
          info.state = 'running';
          return this.router.run(resolved, plan, {
            id,
            signal,
            ...(opts.policy ? { policy: opts.policy } : {}),
            onProgress: (e) => {
              info.progress = e;
              info.backend = e.backend;
              opts.onProgress?.(e);
            },
          });
        },
        opts.signal ? { signal: opts.signal } : {},
      );
      result.timings.queueMs = queueMs;
      info.state = 'done';
      info.backend = result.backend;
      this.counters.completed++;
      return result;
    } catch (err) {
      if (isAbortError(err) || opts.signal?.aborted) {
        info.state = 'cancelled';
        this.counters.cancelled++;
      } else {
        info.state = 'failed';
        info.error = (err as Error)?.message;
        if ((err as { status?: number }).status === 429) this.counters.rejected++;
        else this.counters.failed++;
      }
      throw err;
    } finally {
      info.finishedAt = Date.now();
    }
  }

  private track(info: JobInfo): void {
    this.jobs.set(info.id, info);
    if (this.jobs.size > KEEP_FINISHED_JOBS) {
      for (const [id, j] of this.jobs) {
        if (this.jobs.size <= KEEP_FINISHED_JOBS) break;
        if (j.finishedAt !== undefined) this.jobs.delete(id);
      }
    }
  }

  job(id: string): JobInfo | undefined {
    return this.jobs.get(id);
  }

  listJobs(): JobInfo[] {
    return [...this.jobs.values()].map((j) => ({ ...j }));
  }

  stats(): EngineStats {
    return {
      ...this.counters,
      local: { running: this.localQueue.active, queued: this.localQueue.queued },
      cloud: { running: this.cloudQueue.active, queued: this.cloudQueue.queued },
    };
  }

  /** Stops taking jobs; waits for running and queued ones (up to graceMs), then unloads the model. */
  async shutdown(opts: { graceMs?: number; reason?: string } = {}): Promise<void> {
    const reason = opts.reason ?? 'the server is shutting down';
    this.localQueue.close(reason);
    this.cloudQueue.close(reason);
    const idle = Promise.all([this.localQueue.idle(), this.cloudQueue.idle()]);
    const grace = opts.graceMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      idle.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.localQueue.close(reason, { dropQueued: true });
      this.cloudQueue.close(reason, { dropQueued: true });
    }
    await this.router.local?.unload().catch(() => undefined);
  }
}
