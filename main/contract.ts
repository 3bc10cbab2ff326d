// The studio's one API to its UI: every command and query with its parameter schema (zod, the
// API's schema library) and its result type, and every event (contract-types.ts). The Electron
// IPC bridge and the headless studio's HTTP transport are both typed from this map, so a renderer
// call that compiles works over either; tests/main/contract.test.ts guards it at compile time.
//
// The renderer imports only types from here. How the two transports carry the map:
//   desktop  window.schnell (StudioBridge): call(name, params) → Promise<result>, on(event, fn) → unsubscribe
//   browser  POST /api/<name> with the params as JSON → 200 { result } | 4xx/5xx { error: ContractError };
//            GET /api/events → server-sent events, `event: <EventName>` and `data: <JSON payload>`.
import { z } from 'zod';
import type {
  ApiServerStatus,
  BackendAvailability,
  ChangeCount,
  ContractError,
  DeviceInfo,
  EventName,
  ExportResult,
  Facets,
  FitVerdict,
  GalleryItem,
  ImportResult,
  InstalledModelInfo,
  Lineage,
  ModelsOverview,
  Page,
  Project,
  QueueJob,
  StudioEvents,
  StudioInfo,
  StudioSettings,
} from './contract-types.js';

export type * from './contract-types.js';

/** A result type in the map: a value only the type checker sees. */
const returns = <T>(): T => undefined as T;

const id = z.string().min(1, 'must not be empty').max(64).regex(/^[A-Za-z0-9_-]+$/, 'must be a generation id');
const ids = z.array(id).min(1, 'name at least one generation').max(10_000);
const name = z.string().trim().min(1, 'must not be empty').max(200);
const tag = z.string().trim().min(1, 'must not be empty').max(100);
const path = z.string().min(1, 'must not be empty').max(4096).refine((s) => !s.includes('\0'), 'must not contain a NUL character');
const int = (min: number, max: number) => z.number().int(`must be a whole number from ${min} to ${max}`).min(min).max(max);
const backend = z.enum(['auto', 'local', 'cloud']);
const empty = z.object({}).strict().optional();

/**
 * What the editor sends to generate; the studio core applies the API's request schema and its
 * limits (resolutions, steps 1–50, samples 1–8, …) and names the field when it refuses.
 */
export const GenerationParams = z
  .object({
    prompt: z.string().max(10_000),
    negativePrompt: z.string().max(10_000).optional(),
    width: int(16, 4096).optional(),
    height: int(16, 4096).optional(),
    steps: int(1, 50).optional(),
    /** 0 or absent: a random seed (the one used is on every image). */
    seed: int(0, 0xffff_ffff).optional(),
    samples: int(1, 8).optional(),
    sampler: z.enum(['K_EULER', 'K_DPMPP_2M']).nullable().optional(),
    cfgScale: z.number().min(0).max(20).optional(),
    safetyCheck: z.boolean().optional(),
    outputFormat: z.enum(['png', 'jpeg']).optional(),
  })
  .strict();
export type GenerationParams = z.infer<typeof GenerationParams>;

/** The gallery's query: keyset pages (pass `nextCursor` back as `cursor`), text through full-text search. */
export const LibraryQuery = z
  .object({
    text: z.string().max(1000).optional(),
    project: name.optional(),
    width: int(1, 65535).optional(),
    height: int(1, 65535).optional(),
    seed: int(0, Number.MAX_SAFE_INTEGER).optional(),
    finishReason: z.string().max(50).optional(),
    backend: z.enum(['local', 'cloud', 'imported']).optional(),
    model: z.string().max(500).optional(),
    tags: z.array(tag).max(50).optional(),
    favorite: z.boolean().optional(),
    rating: int(0, 5).optional(),
    minRating: int(0, 5).optional(),
    since: z.union([z.number(), z.string().max(40)]).optional(),
    until: z.union([z.number(), z.string().max(40)]).optional(),
    trashed: z.boolean().optional(),
    /** Where it came from: made here (ui, cli, api, studio) or imported from another tool. */
    source: z.enum(['ui', 'cli', 'api', 'studio', 'a1111', 'comfyui', 'invokeai', 'unknown']).optional(),
    sort: z.enum(['newest', 'oldest', 'rating', 'favorites']).optional(),
    cursor: z.string().max(1000).optional(),
    /** The page starting at this row number, for a far jump (not with `cursor`: the catalog refuses both); its `nextCursor` goes on from there. */
    at: int(0, 1_000_000_000).optional(),
    limit: int(1, 1000).optional(),
  })
  .strict();
export type LibraryQuery = z.infer<typeof LibraryQuery>;

const SettingsPatch = z
  .object({
    backend: backend.optional(),
    device: z.string().min(1).max(40).optional(),
    model: z.string().min(1).max(4096).nullable().optional(),
    modelFolders: z.array(path).max(50).optional(),
    libraryDir: path.optional(),
    theme: z.enum(['dark', 'light', 'system']).optional(),
    apiServer: z.object({ port: int(0, 65535).optional(), enabled: z.boolean().optional(), record: z.boolean().optional() }).strict().optional(),
    /** A mirror of huggingface.co for model downloads; null removes it. */
    modelMirror: z.url({ protocol: /^https?$/, error: 'the model mirror must be an http(s) address such as https://hf-mirror.example.com' }).max(2000).nullable().optional(),
  })
  .strict();
export type SettingsPatch = z.infer<typeof SettingsPatch>;

export const contract = {
  // The studio and its shell.
  'studio.info': { params: empty, result: returns<StudioInfo>() },
  'studio.backends': { params: empty, result: returns<BackendAvailability>() },

  // Generations and the queue.
  'generate.submit': {
    params: z
      .object({
        request: GenerationParams,
        backend: backend.optional(),
        project: name.nullable().optional(),
        /** Set for a remix: the generation it started from. */
        parentId: id.nullable().optional(),
      })
      .strict(),
    result: returns<{ jobId: string }>(),
  },
  'generate.cancel': { params: z.object({ jobId: id }).strict(), result: returns<{ cancelled: boolean }>() },
  /** Submits a failed or cancelled job's request again. */
  'generate.retry': { params: z.object({ jobId: id }).strict(), result: returns<{ jobId: string }>() },
  /** The parameters of a generation, to load into the editor for a remix. */
  'generate.paramsOf': { params: z.object({ id }).strict(), result: returns<{ request: GenerationParams; project: string | null }>() },
  'queue.list': { params: empty, result: returns<QueueJob[]>() },

  // The library.
  'library.search': { params: LibraryQuery, result: returns<Page<GalleryItem>>() },
  'library.facets': { params: LibraryQuery.omit({ cursor: true, at: true, limit: true, sort: true }), result: returns<Facets>() },
  'library.get': { params: z.object({ id }).strict(), result: returns<GalleryItem | null>() },
  'library.lineage': { params: z.object({ id }).strict(), result: returns<Lineage<GalleryItem>>() },
  'library.setFavorite': { params: z.object({ ids, favorite: z.boolean() }).strict(), result: returns<ChangeCount>() },
  'library.rate': { params: z.object({ ids, rating: int(0, 5) }).strict(), result: returns<ChangeCount>() },
  'library.tag': { params: z.object({ ids, tags: z.array(tag).min(1).max(50) }).strict(), result: returns<ChangeCount>() },
  'library.untag': { params: z.object({ ids, tags: z.array(tag).min(1).max(50) }).strict(), result: returns<ChangeCount>() },
  'library.trash': { params: z.object({ ids }).strict(), result: returns<ChangeCount>() },
  'library.restore': { params: z.object({ ids }).strict(), result: returns<ChangeCount>() },
  /** Deletes trashed generations for good (the whole trash without ids). */
  'library.purge': { params: z.object({ ids: ids.optional() }).strict(), result: returns<{ purged: number }>() },
  'library.moveToProject': { params: z.object({ ids, project: name.nullable() }).strict(), result: returns<ChangeCount>() },
  'library.export': { params: z.object({ ids, folder: path }).strict(), result: returns<ExportResult>() },
  /** Files or folders on the studio's machine (the desktop's drop gives paths). */
  'library.importPaths': { params: z.object({ paths: z.array(path).min(1).max(10_000), project: name.optional(), tags: z.array(tag).max(50).optional() }).strict(), result: returns<ImportResult>() },
  /** One dropped file's bytes (a browser drop has no path), base64; at most 64 MiB. */
  'library.importFile': {
    params: z.object({ fileName: z.string().min(1).max(255), dataBase64: z.string().min(1).max(90_000_000), project: name.optional(), tags: z.array(tag).max(50).optional() }).strict(),
    result: returns<ImportResult>(),
  },
  /** Shows the image in the system's file manager (desktop only). */
  'library.reveal': { params: z.object({ id }).strict(), result: returns<{ revealed: boolean }>() },

  // Projects.
  'projects.list': { params: z.object({ includeArchived: z.boolean().optional() }).strict().optional(), result: returns<Project[]>() },
  'projects.create': { params: z.object({ name, defaults: z.record(z.string(), z.unknown()).optional() }).strict(), result: returns<Project>() },
  'projects.rename': { params: z.object({ from: name, to: name }).strict(), result: returns<Project>() },
  'projects.archive': { params: z.object({ name, archived: z.boolean() }).strict(), result: returns<Project>() },
  'projects.setCover': { params: z.object({ name, generationId: id.nullable() }).strict(), result: returns<Project>() },
  /** The catalog checks the defaults and names a bad field (see Project.defaults). */
  'projects.setDefaults': { params: z.object({ name, defaults: z.record(z.string(), z.unknown()) }).strict(), result: returns<Project>() },
  /** A self-contained folder (images with metadata + a catalog file) another studio can import. */
  'projects.export': { params: z.object({ name, folder: path }).strict(), result: returns<ExportResult>() },
  'projects.import': { params: z.object({ folder: path }).strict(), result: returns<{ project: string; imported: number }>() },

  // Settings and secrets.
  'settings.get': { params: empty, result: returns<StudioSettings>() },
  'settings.update': { params: SettingsPatch, result: returns<StudioSettings>() },
  /** Write-only: nothing reads the key back; null removes it. */
  'settings.setFireworksKey': { params: z.object({ key: z.string().trim().min(8, 'looks too short for a Fireworks key').max(512).regex(/^[\x21-\x7e]+$/, 'must not contain spaces or control characters').nullable() }).strict(), result: returns<{ hasKey: boolean }>() },

  // Models.
  'models.list': { params: empty, result: returns<ModelsOverview>() },
  'models.download': { params: z.object({ modelId: name }).strict(), result: returns<{ started: boolean }>() },
  'models.pauseDownload': { params: z.object({ modelId: name }).strict(), result: returns<{ paused: boolean }>() },
  'models.cancelDownload': { params: z.object({ modelId: name }).strict(), result: returns<{ cancelled: boolean }>() },
  'models.import': { params: z.object({ paths: z.array(path).min(1).max(20), id: name.optional(), mode: z.enum(['in-place', 'copy', 'move']).optional() }).strict(), result: returns<InstalledModelInfo>() },
  /** Will it fit this machine? Estimated before anything is downloaded or loaded. */
  'models.fit': { params: z.object({ modelId: name, device: z.enum(['cpu', 'gpu']).optional(), width: int(16, 4096).optional(), height: int(16, 4096).optional() }).strict(), result: returns<FitVerdict>() },
  /** Makes a model the local backend's (an installed id, or 'demo' for the untrained demo model). */
  'models.use': { params: z.object({ modelId: name }).strict(), result: returns<StudioSettings>() },
  'models.remove': { params: z.object({ modelId: name }).strict(), result: returns<{ freedBytes: number }>() },

  // Devices.
  'devices.list': { params: z.object({ probe: z.boolean().optional() }).strict().optional(), result: returns<DeviceInfo[]>() },

  // The local image API (the Fireworks contract on this machine).
  'apiServer.status': { params: empty, result: returns<ApiServerStatus>() },
  'apiServer.start': { params: z.object({ port: int(0, 65535).optional() }).strict().optional(), result: returns<ApiServerStatus>() },
  'apiServer.stop': { params: empty, result: returns<ApiServerStatus>() },
  /** The bearer token clients of the local API need (the user copies it into their tools). */
  'apiServer.token': { params: empty, result: returns<{ token: string }>() },
} as const satisfies Record<string, { params: z.ZodType; result: unknown }>;

export type Contract = typeof contract;
export type CommandName = keyof Contract;
/** What a caller passes (defaults not yet applied). */
export type Params<K extends CommandName> = z.input<Contract[K]['params']>;
/** What a handler receives, after validation. */
export type ValidParams<K extends CommandName> = z.output<Contract[K]['params']>;
export type Result<K extends CommandName> = Contract[K]['result'];

export const COMMANDS = Object.keys(contract) as CommandName[];

/** Commands that only read: they may be answered to any same-origin page load; the rest change state. */
export const QUERIES: ReadonlySet<CommandName> = new Set<CommandName>([
  'studio.info', 'studio.backends', 'generate.paramsOf', 'queue.list', 'library.search', 'library.facets', 'library.get',
  'library.lineage', 'projects.list', 'settings.get', 'models.list', 'models.fit', 'devices.list', 'apiServer.status',
]);

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(contract, name);
}

/** The calls a transport makes; optional params may be left out. */
export type CallArgs<K extends CommandName> = undefined extends Params<K> ? [params?: Params<K>] : [params: Params<K>];

/** What the renderer talks to, whichever shell it runs in. */
export interface StudioClient {
  call<K extends CommandName>(name: K, ...args: CallArgs<K>): Promise<Result<K>>;
  on<E extends EventName>(event: E, listener: (payload: StudioEvents[E]) => void): () => void;
}

/** `window.schnell` in the desktop app: the contract and nothing else. */
export interface StudioBridge extends StudioClient {
  readonly shell: 'desktop';
  /** The path of a file dropped into the window (Electron hides it from the page). */
  pathForFile(file: unknown): string;
  /** Starts dragging these images out of the window to the file system. */
  startDrag(ids: string[]): void;
}

/** Thrown by a client when the studio answers a call with an error. */
export class StudioCallError extends Error {
  override name = 'StudioCallError';
  constructor(readonly error: ContractError) {
    super(error.message);
  }
}

/** Every event name, for transports that subscribe to all of them. */
export const EVENTS: readonly EventName[] = [
  'job.queued', 'job.started', 'job.progress', 'job.imageSaved', 'job.finished', 'job.failed', 'job.cancelled',
  'job.interrupted', 'library.changed', 'projects.changed', 'models.downloadProgress', 'models.changed', 'settings.changed',
  'apiServer.changed', 'runtime.restarted', 'shell.menu',
] satisfies readonly EventName[];
