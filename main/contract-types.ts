// The shapes the studio sends to its UI: what each contract command answers and what each event
// carries. Plain data only (no Node types), so the renderer can import them as types and both
// transports (Electron IPC, HTTP + server-sent events) carry them unchanged as JSON.
import type { Facets, Generation, Lineage, Page } from './catalog/types.js';

export type { Facets, Generation, Lineage, Page };

/** `interrupted`: the studio stopped (a crash, a forced quit) while the job ran; `error` says so. */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

/** A generation as the UI sees it: every catalog field plus URLs the current transport serves. */
export interface GalleryItem extends Generation {
  /** The full image, streamed (`schnell-image://library/…` on the desktop, `/files/…` in a browser). */
  imageUrl: string;
  /** The 256 px WebP thumbnail. */
  thumbnailUrl: string;
}

export type BackendChoice = 'auto' | 'local' | 'cloud';
export type ServedBy = 'local' | 'cloud';

/** Why `auto` did not run where it first meant to, in the user's words. */
export interface Fallback {
  from: 'local';
  /** model-missing, provider-failed, out-of-memory, crashed, … */
  kind: string;
  reason: string;
}

/** One job of the queue. */
export interface QueueJob {
  id: string;
  status: JobStatus;
  /** Who asked: this UI, `schnell generate`, or the local HTTP API. */
  source: 'ui' | 'cli' | 'api';
  /** The request as submitted (camelCase, see GenerationParams); the seed is the one used once it starts. */
  request: Record<string, unknown>;
  backend: BackendChoice;
  project: string | null;
  parentId: string | null;
  /** Where it runs or ran, once known. */
  servedBy: ServedBy | null;
  progress: JobProgress | null;
  /** One sentence for a failed job (a crash names its cause). */
  error: string | null;
  fallback: Fallback | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  generationIds: string[];
  /** The first saved image's thumbnail, when there is one and it is still in the library. */
  thumbnailUrl: string | null;
}

export interface JobProgress {
  /** 1-based step just finished of `steps`, for image `image` (0-based) of `images`. */
  step: number;
  steps: number;
  image: number;
  images: number;
  servedBy: ServedBy;
  /** What the local runtime is doing now (loading a component, denoising, decoding), when it says. */
  stage?: 'estimate' | 'load' | 'release' | 'encode' | 'denoise' | 'decode';
  /** A sentence for the queue: "loading T5 (4.9 GB)", "image 1 of 2, step 3 of 4, block 40 of 57". */
  message?: string;
  /**
   * 0..1 within the running step (or the encode stage): measured over blocks where the model runs
   * block by block, else estimated from this machine's speed (the message then says "estimated").
   * etaMs: milliseconds left for the request, from this machine's speed.
   */
  fraction?: number;
  etaMs?: number;
}

export interface Project {
  name: string;
  /** Generations in the project, not counting the trash. */
  count: number;
  favorites: number;
  createdAt: string;
  archived: boolean;
  archivedAt: string | null;
  /** The generation shown as the project's cover: the one picked, else its newest image. */
  coverId: string | null;
  /** Whether the user picked the cover. */
  coverChosen: boolean;
  coverThumbnailUrl: string | null;
  /**
   * Editor defaults for new generations in this project: GenerationParams fields plus `backend`,
   * `model` and `seedPolicy` ('random' | 'fixed' | 'increment').
   */
  defaults: Record<string, unknown>;
}

export interface ChangeCount {
  /** How many rows changed. */
  changed: number;
}

export interface ExportResult {
  folder: string;
  files: number;
}

export interface ImportResult {
  imported: { file: string; id: string; source: string; warnings: string[] }[];
  skipped: { file: string; reason: string }[];
  failed: { file: string; error: string }[];
}

export type Theme = 'dark' | 'light' | 'system';

export interface ApiServerStatus {
  running: boolean;
  /** http://127.0.0.1:PORT while running. */
  url: string | null;
  port: number | null;
  /** Requests served through the API are recorded in the library. */
  record: boolean;
}

export interface SecretStorageInfo {
  /** 'os' (Keychain, DPAPI, libsecret/kwallet), 'basic_text' (Linux without a keyring), 'file' (0600 file). */
  backend: 'os' | 'basic_text' | 'file';
  /** Set when secrets are not encrypted by the OS: show it where the key is entered. */
  warning: string | null;
}

export interface StudioSettings {
  backend: BackendChoice;
  device: string;
  /** Installed model id or a path; null: none chosen (the demo model or the cloud). */
  model: string | null;
  modelFolders: string[];
  libraryDir: string;
  theme: Theme;
  apiServer: { port: number; enabled: boolean; record: boolean };
  /** Whether a Fireworks key is stored. The key itself never leaves the studio core. */
  hasFireworksKey: boolean;
  secretStorage: SecretStorageInfo;
  /**
   * Where model downloads fetch huggingface.co files from instead (offline / corporate networks):
   * `saved` is the setting, `environment` SCHNELL_MODEL_MIRROR or HF_ENDPOINT, which wins when set.
   */
  modelMirror: { saved: string | null; environment: string | null };
}

export interface InstalledModelInfo {
  id: string;
  name: string;
  status: 'installed' | 'partial';
  kind: string;
  source: string;
  /** Random weights (the demo model): every image it makes is labelled so. */
  untrained: boolean;
  bytes: number;
  folder: string;
  problem: string | null;
}

export interface AvailableModelInfo {
  id: string;
  name: string;
  description: string;
  kind: string;
  diskBytes: number;
  memory: { gpuBytes: number; cpuBytes: number };
  installed: boolean;
  isDefault: boolean;
  gated: boolean;
}

export interface DownloadInfo {
  modelId: string;
  status: 'downloading' | 'paused' | 'failed' | 'complete';
  bytes: number;
  total: number | null;
  rate: number;
  etaSeconds: number | null;
  error: string | null;
}

export interface ModelsOverview {
  installed: InstalledModelInfo[];
  available: AvailableModelInfo[];
  downloads: DownloadInfo[];
  /** The model the local backend uses now (an installed id, a path, 'demo'), or null. */
  active: string | null;
}

export interface FitVerdict {
  fits: boolean;
  sequentialOnly: boolean;
  tight: boolean;
  /** One sentence for the user (it says what to do when it does not fit). */
  message: string;
  suggestion: 'cloud' | null;
  device: { kind: 'cpu' | 'gpu'; name: string; totalBytes: number; freeBytes: number };
  needBytes: number;
}

export interface DeviceInfo {
  provider: string;
  available: boolean;
  bundled: boolean;
  note: string;
  /** With `probe`: whether a one-node model really ran on it. */
  works?: boolean;
}

export interface BackendAvailability {
  /** What `auto` would pick now, and why. */
  auto: ServedBy | null;
  local: { ok: boolean; reason: string | null; model: string | null; device: string; untrained: boolean };
  cloud: { ok: boolean; reason: string | null };
}

export interface StudioInfo {
  version: string;
  /** Which shell carries the contract. */
  shell: 'desktop' | 'browser';
  platform: string;
  libraryDir: string;
  /** Things the user should know now (a plain-text secret store, an untrained model …). */
  warnings: string[];
}

/** Every event the studio pushes, by name. */
export interface StudioEvents {
  'job.queued': { job: QueueJob };
  'job.started': { jobId: string; servedBy: ServedBy | null };
  /** `previewUrl` points at a small preview of the latents when the backend makes one. */
  'job.progress': { jobId: string; progress: JobProgress; previewUrl: string | null };
  'job.imageSaved': { jobId: string; generation: GalleryItem };
  'job.finished': { jobId: string; generationIds: string[]; servedBy: ServedBy | null; fallback: Fallback | null };
  'job.failed': { jobId: string; error: string; fallback: Fallback | null };
  'job.cancelled': { jobId: string };
  /** A job the previous run left running (a crash, a forced quit); `reason` is the sentence to show. */
  'job.interrupted': { jobId: string; reason: string };
  /** Rows changed by an edit, an import or another client: refresh what shows them. */
  'library.changed': { ids: string[]; reason: string };
  'projects.changed': Record<string, never>;
  'models.downloadProgress': DownloadInfo;
  'models.changed': Record<string, never>;
  'settings.changed': { settings: StudioSettings };
  'apiServer.changed': { status: ApiServerStatus };
  /** The local runtime process stopped (a crash) and was started again. */
  'runtime.restarted': { reason: string };
  /** A menu item or app-wide shortcut of the desktop shell the page acts on. */
  'shell.menu': { command: MenuCommand };
}

/** What the desktop menu and its shortcuts ask the page to do. */
export type MenuCommand = 'generate' | 'focusPrompt' | 'focusSearch' | 'newProject' | 'openSettings' | 'openModels' | 'toggleQueue' | 'import';

export type EventName = keyof StudioEvents;

/** Every failed call answers this: one sentence, the parameter at fault if any, and a kind. */
export interface ContractError {
  code: 'invalid' | 'not-found' | 'conflict' | 'unavailable' | 'unsupported' | 'internal';
  message: string;
  /** The parameter at fault, as a dotted path (`request.steps`). */
  field?: string;
}

export type Reply<T> = { ok: true; result: T } | { ok: false; error: ContractError };
