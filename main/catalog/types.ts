// The catalog's vocabulary, in the user's words. These shapes are what the CLI prints with --json
// and what the studio sends to the renderer, so field names are part of the contract.

export type Backend = 'local' | 'cloud' | 'imported';
export type ImageFormat = 'png' | 'jpeg';
/** Where a generation's metadata came from: made here, or read from another tool's file. */
/**
 * Where a generation came from: made here (ui: the studio's editor, cli: `schnell generate`, api: the
 * HTTP API; studio: before the source was told apart), or read from another tool's file.
 */
export type Source = 'ui' | 'cli' | 'api' | 'studio' | 'a1111' | 'comfyui' | 'invokeai' | 'unknown';

/** One image the studio made or imported: one row of `generations`. */
export interface Generation {
  id: string;
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number | null;
  cfgScale: number | null;
  /** `K_EULER`, `K_DPMPP_2M`, null (the model's default), or another tool's sampler name. */
  sampler: string | null;
  /** How many images the request asked for. */
  samples: number;
  /** The seed actually used for this image (null when an imported file does not say). */
  seed: number | null;
  sampleIndex: number;
  finishReason: string;
  model: string;
  backend: Backend;
  device: string | null;
  durationMs: number | null;
  fallbackReason: string | null;
  imageHash: string;
  format: ImageFormat;
  favorite: boolean;
  /** 0 = unrated, 1–5 stars. */
  rating: number;
  parentId: string | null;
  project: string | null;
  jobId: string | null;
  tags: string[];
  source: Source;
  createdAt: string;
  trashedAt: string | null;
  /** Set by a reconcile scan that found the row's file gone. */
  missingAt: string | null;
}

/** What a caller supplies to add a row; the catalog fills in the rest. */
export interface NewGeneration {
  id?: string;
  prompt: string;
  negativePrompt?: string;
  width: number;
  height: number;
  steps?: number | null;
  cfgScale?: number | null;
  sampler?: string | null;
  samples?: number;
  seed?: number | null;
  sampleIndex?: number;
  finishReason?: string;
  model: string;
  backend: Backend;
  device?: string | null;
  durationMs?: number | null;
  fallbackReason?: string | null;
  imageHash: string;
  format: ImageFormat;
  favorite?: boolean;
  rating?: number;
  parentId?: string | null;
  project?: string | null;
  jobId?: string | null;
  tags?: string[];
  source?: Source;
  /** Milliseconds since the epoch, or an ISO date; default now. */
  createdAt?: number | string;
}

/** newest/oldest: by creation time; rating: most stars first; favorites: favourites first; ties newest first. */
export type SortOrder = 'newest' | 'oldest' | 'rating' | 'favorites';
export const SORT_ORDERS: readonly SortOrder[] = ['newest', 'oldest', 'rating', 'favorites'];

/** A gallery query: every field narrows the result; text goes through the full-text index. */
export interface SearchQuery {
  text?: string;
  /** A project's name, or null for the generations in no project. */
  project?: string | null;
  width?: number;
  height?: number;
  seed?: number;
  finishReason?: string;
  backend?: Backend;
  model?: string;
  /** Where the metadata came from: made here, or imported from another tool. */
  source?: Source;
  /** Generations carrying every one of these tags. */
  tags?: string[];
  favorite?: boolean;
  rating?: number;
  minRating?: number;
  /** Inclusive lower / exclusive upper bound of createdAt (ms or ISO date). */
  since?: number | string;
  until?: number | string;
  /** true: only the trash; false or absent: only what is not in the trash. */
  trashed?: boolean;
  sort?: SortOrder;
  /** From the previous page's `nextCursor`. */
  cursor?: string;
  /**
   * The page starting at this row number (0 = the first row) instead of after a cursor: for a jump
   * far down the results. Its cost grows with the number (see search.ts); the page's `nextCursor`
   * continues from there as usual.
   */
  at?: number;
  /** 1–1000, default 100. */
  limit?: number;
}

export interface Page<T = Generation> {
  items: T[];
  /** Pass back as `cursor` for the next page; null at the end. */
  nextCursor: string | null;
}

export interface FacetCount<K = string> {
  value: K;
  count: number;
}

export interface Facets {
  total: number;
  projects: FacetCount<string | null>[];
  backends: FacetCount[];
  models: FacetCount[];
  finishReasons: FacetCount[];
  resolutions: FacetCount[];
  tags: FacetCount[];
  favorites: number;
  ratings: FacetCount<number>[];
  sources: FacetCount[];
  /**
   * true: every count is exact. false: a search matched more rows than are counted at once, so the
   * counts cover the newest `counted` matches only and each is a lower bound ("at least").
   */
  exact: boolean;
  /** How many matching generations the counts are over (equals total when exact). */
  counted: number;
  /**
   * For a text search: how many generations the words match in the full-text index, before the
   * other filters and counting the trash; an estimate of the result size when `exact` is false.
   */
  textMatches?: number;
}

export interface Lineage<T = Generation> {
  /** Parent first, then its parent, … up to the original. */
  ancestors: T[];
  /** Every remix below this one, breadth first, each with its distance. */
  remixes: (T & { depth: number })[];
}

/** interrupted: a run of the studio stopped (closed or crashed) while the job ran; `error` says how. */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'interrupted';

export interface Job {
  id: string;
  status: JobStatus;
  request: unknown;
  project: string | null;
  parentId: string | null;
  attempts: number;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  generationIds: string[];
  /** Who submitted it: 'ui', 'cli' or 'api'. */
  source: string;
  /** The backend policy it asked for (local, cloud, auto), when it named one. */
  backend: string | null;
}

/** An expected problem with a caller's input: its message is meant for the user. */
export class CatalogError extends Error {
  override name = 'CatalogError';
}

