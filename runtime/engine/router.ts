// Which backend serves a request, under the policy `local | cloud | auto`:
// - local: the local model only; a local failure is the answer (never the cloud).
// - cloud: Fireworks only.
// - auto:  local when a local model and a usable device exist (and the safety model, when the
//          request asks for the check), else the cloud when a key is set, else 503 naming exactly
//          what is missing. A local failure (model missing, provider fails to load, out of memory,
//          runtime crash) falls back to the cloud, and the result records why.
import { randomBytes } from 'node:crypto';
import { ApiError, type GenerationRequest, overallFinishReason, resolveSeed } from '../api/index.js';
import { FIREWORKS_KEY_HINT } from '../cloud/errors.js';
import type { BackendPolicy } from './config.js';
import {
  BackendError,
  type BackendName,
  type BackendOutput,
  type CloudBackend,
  type FailureKind,
  type GenerateOptions,
  type GeneratedImage,
  type GenerationResult,
  type LocalBackend,
  isAbortError,
  abortError,
} from './types.js';

/** What the router needs of the safety classifier (runtime/safety/classifier.ts SafetyModel). */
export interface SafetyFilter {
  locate(): string | null;
  filter(images: GeneratedImage[], jpegQuality?: number): Promise<GeneratedImage[]>;
}

export interface RouterOptions {
  policy: BackendPolicy;
  local?: LocalBackend | null;
  cloud?: CloudBackend | null;
  safety?: SafetyFilter | null;
  /** The name the local model is served under (for results). */
  localModelName?: string;
}

export interface RoutePlan {
  backend: BackendName;
  /** auto chose the cloud because local could not serve; why. */
  fallback?: { from: 'local'; kind: FailureKind; reason: string };
}

const NO_KEY = `no cloud key set (${FIREWORKS_KEY_HINT})`;
const NO_LOCAL = 'no local model installed (start with --model PATH or set "model" in config.json)';
const NO_SAFETY = 'safety model not installed (put safety.onnx beside the model or in $SCHNELL_HOME/models/safety/)';

export class Router {
  readonly policy: BackendPolicy;
  readonly local: LocalBackend | null;
  readonly cloud: CloudBackend | null;
  readonly safety: SafetyFilter | null;
  private readonly localModelName: string;

  constructor(opts: RouterOptions) {
    this.policy = opts.policy;
    this.local = opts.local ?? null;
    this.cloud = opts.cloud ?? null;
    this.safety = opts.safety ?? null;
    this.localModelName = opts.localModelName ?? 'local';
  }

  get cloudReady(): boolean {
    return this.cloud !== null && this.cloud.describe().hasKey;
  }

  /** Why local cannot serve this request right now, or null when it can. */
  private async localProblem(request: GenerationRequest): Promise<{ kind: FailureKind; reason: string } | null> {
    if (!this.local) return { kind: 'model-missing', reason: NO_LOCAL };
    const check = await this.local.check();
    if (!check.ok) return { kind: check.kind, reason: check.reason };
    if (request.safetyCheck && !this.safety?.locate()) return { kind: 'safety-missing', reason: NO_SAFETY };
    return null;
  }

  /**
   * Under auto with a cloud key: would local take far longer than the cloud (a few seconds)? From
   * the local backend's estimate at this machine's measured speed; unknown speed never diverts.
   */
  private async tooSlow(request: GenerationRequest): Promise<{ kind: FailureKind; reason: string } | null> {
    const ms = await this.local?.estimateMs?.(request).catch(() => undefined);
    if (ms === undefined || ms < TOO_SLOW_MS) return null;
    const min = ms / 60_000;
    const took = min >= 1.5 ? `${Math.round(min)} minutes` : `${Math.round(ms / 1000)} seconds`;
    return { kind: 'too-slow', reason: `the local model would take about ${took} on this machine (measured speed) and the cloud a few seconds` };
  }

  /** Decides the backend for a request, or throws 503 saying what is missing. */
  async plan(request: GenerationRequest, policy: BackendPolicy = this.policy): Promise<RoutePlan> {
    if (policy === 'cloud') {
      if (!this.cloudReady) throw new ApiError(503, `the backend is "cloud" but ${NO_KEY}`);
      return { backend: 'cloud' };
    }
    const problem = await this.localProblem(request);
    if (policy === 'local') {
      if (problem) throw new ApiError(503, problem.reason);
      return { backend: 'local' };
    }
    if (!problem) {
      const slow = this.cloudReady ? await this.tooSlow(request) : null;
      return slow ? { backend: 'cloud', fallback: { from: 'local', ...slow } } : { backend: 'local' };
    }
    if (this.cloudReady) return { backend: 'cloud', fallback: { from: 'local', ...problem } };
    throw new ApiError(503, `${problem.reason.replace(/\.$/, '')}, and ${NO_KEY}`);
  }

  /** Plans and runs one request (no queueing: the Engine adds that). */
  async generate(request: GenerationRequest, opts: GenerateOptions & { id?: string; policy?: BackendPolicy } = {}): Promise<GenerationResult> {
    const resolved = resolveSeed(request);
    return this.run(resolved, await this.plan(resolved, opts.policy), opts);
  }

  /** Runs a planned request; under auto a local failure is retried in the cloud. */
  async run(request: GenerationRequest, plan: RoutePlan, opts: GenerateOptions & { id?: string; policy?: BackendPolicy } = {}): Promise<GenerationResult> {
    const started = performance.now();
    const id = opts.id ?? newGenerationId();
    const policy = opts.policy ?? this.policy;
    const finish = (backend: BackendName, out: BackendOutput, safetyMs: number, fallback?: RoutePlan['fallback']): GenerationResult => {
      const result: GenerationResult = {
        id,
        seed: request.seed,
        images: out.images,
        finishReason: overallFinishReason(out.images),
        backend,
        model: backend === 'local' ? this.localModelName : this.cloud!.describe().model,
        timings: { engineMs: out.engineMs, safetyMs, totalMs: performance.now() - started, ...(out.stages ? { stages: out.stages } : {}) },
      };
      if (fallback) result.fallback = fallback;
      return result;
    };

    if (plan.backend === 'cloud') {
      const out = await this.runCloud(request, opts);
      return finish('cloud', out, 0, plan.fallback);
    }

    let failure: { kind: FailureKind; reason: string; status?: number };
    try {
      const out = await this.local!.generate(request, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        onProgress: (e) => opts.onProgress?.({ ...e, backend: 'local' }),
      });
      if (opts.signal?.aborted) throw abortError();
      if (!request.safetyCheck) return finish('local', out, 0);
      const t = performance.now();
      try {
        const images = await this.safety!.filter(out.images, request.jpegQuality);
        return finish('local', { ...out, images }, performance.now() - t);
      } catch (err) {
        if (isAbortError(err)) throw err;
        failure = { kind: 'safety-missing', reason: `the safety check could not run: ${firstLine(err)}` };
      }
    } catch (err) {
      if (isAbortError(err) || opts.signal?.aborted) throw abortError();
      failure = classifyLocalFailure(err);
    }
    if (policy !== 'auto') throw new ApiError(failure.status ?? 503, failure.reason);
    if (!this.cloudReady) throw new ApiError(503, `${failure.reason.replace(/\.$/, '')}, and ${NO_KEY}`);
    try {
      const out = await this.runCloud(request, opts);
      return finish('cloud', out, 0, { from: 'local', kind: failure.kind, reason: failure.reason });
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError(err.status, `${failure.reason}; the cloud fallback failed too: ${err.message}`, err.param, err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {});
      throw err;
    }
  }

  private async runCloud(request: GenerationRequest, opts: GenerateOptions): Promise<BackendOutput> {
    try {
      return await this.cloud!.generate(request, opts);
    } catch (err) {
      if (isAbortError(err) || opts.signal?.aborted) throw abortError();
      if (err instanceof BackendError) {
        throw new ApiError(err.status ?? 503, err.message, null, err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {});
      }
      throw new ApiError(503, `the cloud request failed: ${firstLine(err)}`);
    }
  }
}

/** Sorts a local failure into the kinds the router and the user care about. */
/** Under auto, local runs estimated longer than this go to the cloud when a key is set (cloud: ~2–10 s). */
export const TOO_SLOW_MS = 120_000;

export function classifyLocalFailure(err: unknown): { kind: FailureKind; reason: string; status?: number } {
  if (err instanceof BackendError) return { kind: err.kind, reason: err.message, ...(err.status !== undefined ? { status: err.status } : {}) };
  if (err instanceof ApiError) return { kind: 'crashed', reason: err.message, status: err.status };
  const message = firstLine(err);
  if (/out of memory|bad_alloc|failed to allocate|ENOMEM|allocation failed|OOM/i.test(message)) {
    return { kind: 'out-of-memory', reason: `the local device ran out of memory (${message})` };
  }
  if (/provider|CUDA|DirectML|\bdml\b|CoreML|WebGPU|execution/i.test(message)) {
    return { kind: 'provider-failed', reason: `the local execution provider failed to load (${message})` };
  }
  if (/ENOENT|no such file|cannot be read|not found/i.test(message)) {
    return { kind: 'model-missing', reason: `the local model could not be read (${message})` };
  }
  return { kind: 'crashed', reason: `the local runtime failed (${message})` };
}

function firstLine(err: unknown): string {
  const m = (err as Error)?.message ?? String(err);
  return m.split('\n')[0]!.slice(0, 300);
}

export function newGenerationId(): string {
  return `gen_${randomBytes(12).toString('hex')}`;
}
