// What a backend gives back and how it fails: generated images, results that record who served
// them, progress, and the small interfaces a local backend and the cloud client implement. It sits
// in api/, below the engine, because the cloud client and the safety check (which the engine uses)
// speak it too; runtime/engine/types.ts re-exports it as the engine's vocabulary.
import type { FinishReason, GenerationRequest, ImageFormat } from './index.js';

export interface GeneratedImage {
  /** Encoded PNG or JPEG, as `format` says. */
  bytes: Uint8Array;
  seed: number;
  index: number;
  finishReason: FinishReason;
  format: ImageFormat;
}

export interface BackendOutput {
  images: GeneratedImage[];
  /** Milliseconds spent producing the images (model time, or the cloud round trip). */
  engineMs: number;
  /** A local run's stages (load, encode, denoise, decode); the cloud has none. */
  stages?: Record<string, StageReport>;
}

/** One stage of a local run: its time, peak resident memory and bytes read (Linux), beside the fit estimate. */
export interface StageReport {
  ms: number;
  peakRssBytes?: number;
  readBytes?: number;
  estimateBytes?: number;
}

export type BackendName = 'local' | 'cloud';

/** Why the local backend could not serve (decides fallback and the sentence users see). */
export type FailureKind =
  | 'model-missing'
  | 'provider-failed'
  | 'out-of-memory'
  | 'crashed'
  | 'safety-missing'
  | 'no-backend'
  | 'cloud-failed'
  | 'cancelled'
  /** auto only: local would take far longer than the cloud here (this machine's measured speed). */
  | 'too-slow';

export interface GenerationResult {
  id: string;
  /** The base seed used (never 0). */
  seed: number;
  images: GeneratedImage[];
  finishReason: FinishReason;
  backend: BackendName;
  /** Set when `auto` meant local but local failed and the cloud served instead. */
  fallback?: { from: 'local'; kind: FailureKind; reason: string };
  /** The model name that served (local name, or the cloud model). */
  model: string;
  /** engineMs: inside the backend; safetyMs: the safety check; queueMs: waiting for the device; totalMs: all of it; stages: a local run's, per stage. */
  timings: { engineMs: number; safetyMs: number; totalMs: number; queueMs?: number; stages?: Record<string, StageReport> };
}

export interface ProgressEvent {
  /** 1-based step just finished, of `steps`, for image `image` (0-based) of `images`. */
  step: number;
  steps: number;
  image: number;
  images: number;
  /** Which backend the progress comes from (a fallback restarts progress in the cloud). */
  backend: BackendName;
  /**
   * Stage events from the local runtime (absent on plain step events): what it is doing now, at
   * least every few seconds. `step` then counts the steps finished so far.
   */
  stage?: 'estimate' | 'load' | 'release' | 'encode' | 'denoise' | 'decode';
  /**
   * A sentence for a terminal or the studio: "loading T5 (4.9 GB)", "encoding the prompt: T5 block
   * 12 of 24", "image 1 of 2, step 3 of 4, block 40 of 57", or, from an estimate, "image 1 of 2,
   * step 3 of 4, about 40 % (estimated …)".
   */
  message?: string;
  /** The component being loaded or released, and its bytes on disk. */
  component?: string;
  bytes?: number;
  /**
   * 0..1 within the running step (or the encode stage): measured (blocks run) when the model runs
   * block by block, else estimated from this machine's measured speed (the event then carries
   * `expectedMs`, and its message says "estimated").
   */
  fraction?: number;
  /** How long the step or stage that starts with this event should take here (measured speed). */
  expectedMs?: number;
  /** Estimated milliseconds left for the request, from this machine's measured speed. */
  etaMs?: number;
  /** Milliseconds since the request started on the backend. */
  elapsedMs?: number;
  /**
   * A small PNG of the image so far (the model's current guess at the clean image, one pixel per
   * latent cell), on a step event from the local runtime: the first step, then at most one every
   * ~500 ms. Absent on most events and always from the cloud, which shows nothing before the end.
   */
  preview?: Uint8Array;
}

export interface GenerateOptions {
  signal?: AbortSignal;
  onProgress?: (event: ProgressEvent) => void;
}

export interface LocalModelInfo {
  /** Display name of the model set (from the model files). */
  name: string;
  /** Where it lives on disk, and the files that back it. */
  path: string;
  files: string[];
  /** The execution provider that runs it ('cpu', 'cuda', …). */
  device: string;
  /** True for random-weight models such as the demo model. */
  untrained: boolean;
  /** A safety classifier that ships with the model set, if any. */
  safetyModel?: string;
}

export type LocalCheck = { ok: true } | { ok: false; kind: FailureKind; reason: string };

/**
 * The local runtime as the engine sees it. One real implementation wraps FluxPipeline
 * (flux-backend.ts); process-backend.ts runs any implementation in a child process so a crash of
 * the native runtime cannot take the server down.
 */
export interface LocalBackend {
  /** Cheap: do the model files exist and can the device be used? Loads nothing. */
  check(): Promise<LocalCheck>;
  describe(): Promise<LocalModelInfo>;
  /** Images in `request.outputFormat`; never runs the safety check (the router does). */
  generate(request: GenerationRequest, opts?: Omit<GenerateOptions, 'onProgress'> & { onProgress?: (e: Omit<ProgressEvent, 'backend'>) => void }): Promise<BackendOutput>;
  unload(): Promise<void>;
  /** How long the request would take here, from this machine's measured speed; undefined before anything was measured. Loads nothing. */
  estimateMs?(request: GenerationRequest): Promise<number | undefined>;
}

export interface CloudInfo {
  baseUrl: string;
  account: string;
  model: string;
  /** Whether an API key is configured (the key itself is never exposed). */
  hasKey: boolean;
}

/** The cloud as the engine sees it (runtime/cloud/fireworks.ts implements it). */
export interface CloudBackend {
  describe(): CloudInfo;
  generate(request: GenerationRequest, opts?: GenerateOptions): Promise<BackendOutput>;
}

/** A failure with a sentence for users and a kind for routing. */
export class BackendError extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    opts: { cause?: unknown; status?: number; retryAfter?: number } = {},
  ) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'BackendError';
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }
  /** HTTP status a server should answer with (defaults by kind). */
  status?: number;
  retryAfter?: number;
}

export function isAbortError(err: unknown): boolean {
  return (err as { name?: string })?.name === 'AbortError' || (err as BackendError)?.kind === 'cancelled';
}

export function abortError(reason = 'the generation was cancelled'): Error {
  const e = new Error(reason);
  e.name = 'AbortError';
  return e;
}
