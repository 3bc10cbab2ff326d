// The studio core's public vocabulary: what `submit` takes, what a job looks like, and every event
// it emits. Plain data (bytes as Uint8Array), so the Electron shell and the headless web transport
// can map them onto main/contract.ts without reaching into the engine.
import type { FinishReason, GenerationRequest, ImageFormat } from '../../runtime/api/index.js';
import type { BackendName, FailureKind, GenerationResult } from '../../runtime/engine/types.js';
import type { BackendPolicy } from '../../runtime/settings/index.js';
import type { LibraryGeneration } from '../library/index.js';

/** Who asked for a generation: the studio's UI, `schnell generate`, or the HTTP API. */
export type JobSource = 'ui' | 'cli' | 'api';
export const JOB_SOURCES: readonly JobSource[] = ['ui', 'cli', 'api'];

export type StudioJobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface SubmitOptions {
  source: JobSource;
  /** File the images under this project (created when new). */
  project?: string | null;
  /** A remix: the generation it started from. */
  parentId?: string | null;
  /** local | cloud | auto for this job; default the studio's. */
  backend?: BackendPolicy;
  /** Aborting cancels the job (queued or running): the HTTP server passes the client's disconnect. */
  signal?: AbortSignal;
}

export interface JobProgress {
  /** 1-based step just finished of `steps`, for image `image` (0-based) of `images`. */
  step: number;
  steps: number;
  image: number;
  images: number;
  servedBy: BackendName;
  /** What the local runtime is doing now (load, encode, denoise, decode …), on stage events. */
  stage?: 'estimate' | 'load' | 'release' | 'encode' | 'denoise' | 'decode';
  /** A sentence for people: "loading T5 (4.9 GB)", "image 1 of 2, step 3 of 4, block 40 of 57". */
  message?: string;
  /** 0..1 within the running step (or encode stage): measured over blocks, or estimated (the message says so). */
  fraction?: number;
  /** Milliseconds left for the request, from this machine's measured speed. */
  etaMs?: number;
}

export interface Fallback {
  from: 'local';
  kind: FailureKind;
  reason: string;
}

/** One job, as list() and the events show it. */
export interface StudioJob {
  id: string;
  status: StudioJobStatus;
  source: JobSource;
  /** The validated request (seed resolved once the job starts). */
  request: GenerationRequest;
  backend: BackendPolicy;
  project: string | null;
  parentId: string | null;
  servedBy: BackendName | null;
  progress: JobProgress | null;
  /** One sentence: why it failed, or why it was interrupted. */
  error: string | null;
  fallback: Fallback | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** Catalog ids of the images recorded so far. */
  generationIds: string[];
  /** False for jobs that live only in memory (API requests, or a studio without a library). */
  persisted: boolean;
}

/** One image a job made: the bytes, and its catalog row when the studio records. */
export interface SavedImage {
  index: number;
  seed: number;
  bytes: Uint8Array;
  format: ImageFormat;
  width: number;
  height: number;
  finishReason: FinishReason;
  /** The catalog row and file (null when the studio has no library). */
  generation: LibraryGeneration | null;
}

/** Where the images were made, in the words the catalog records. */
export interface ServedModel {
  /** The model's own name (local), or the cloud model. */
  name: string;
  untrained: boolean;
  /** The execution provider (local), or null (cloud). */
  device: string | null;
}

export interface JobOutcome {
  job: StudioJob;
  /** The engine's result: backend, fallback, timings, image bytes as made (what the HTTP API answers). */
  result: GenerationResult;
  images: SavedImage[];
  model: ServedModel;
}

/** A submitted job: its id at once, and its outcome when it ends (rejects when it fails or is cancelled). */
export interface SubmittedJob {
  id: string;
  job: StudioJob;
  outcome: Promise<JobOutcome>;
}

/** Every event the core emits, by name (the same names as main/contract.ts). */
export interface StudioEvents {
  'job.queued': { job: StudioJob };
  'job.started': { jobId: string; servedBy: BackendName | null };
  /** `preview`: a small PNG of the image so far, when the backend makes one. */
  'job.progress': { jobId: string; progress: JobProgress; preview: Uint8Array | null };
  'job.imageSaved': { jobId: string; image: SavedImage };
  'job.finished': { jobId: string; job: StudioJob; generationIds: string[]; servedBy: BackendName; fallback: Fallback | null };
  'job.failed': { jobId: string; job: StudioJob; error: string; fallback: Fallback | null };
  'job.cancelled': { jobId: string; job: StudioJob };
  /** A job the previous run left running (a crash, or close() mid-job); `reason` says which. */
  'job.interrupted': { jobId: string; job: StudioJob; reason: string };
  'settings.changed': { keys: string[] };
  'apiServer.changed': { running: boolean; url: string | null };
}

export type StudioEventName = keyof StudioEvents;
export type StudioListener<K extends StudioEventName> = (payload: StudioEvents[K]) => void;
