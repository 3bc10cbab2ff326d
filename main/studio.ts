// The studio core: every generation — from the studio's UI, `schnell generate` or the HTTP API —
// enters through `submit`, runs on one engine (queue, router, the local runtime in its child
// process, the cloud client), and lands in the library with a catalog row, while typed events tell
// whoever listens. It owns the settings, the model registry and the library, and imports no
// Electron: the desktop shell and the headless web transport are thin layers over this class.
//
//   const studio = await Studio.open({ home?, library?, model?, device?, backend? })
//   const { id, outcome } = studio.submit(request, { source: 'ui', project?, parentId? })
//   studio.on('job.progress', ({ jobId, progress }) => …)   → unsubscribe function
//   studio.cancel(id) · studio.jobs() · studio.job(id) · await studio.wait(id)
//   studio.library (search, facets, lineage …) · studio.models() · studio.settings() …
//   await studio.startApiServer({ port }) · await studio.stopApiServer() · await studio.close()
import { ApiError, type GenerationRequest, resolveSeed } from '../runtime/api/index.js';
import { Engine } from '../runtime/engine/engine.js';
import { DEFAULT_MODEL_NAME, createRouter, releaseRouter } from '../runtime/engine/local.js';
import type { Router } from '../runtime/engine/router.js';
import { type GenerationResult, type LocalModelInfo, isAbortError } from '../runtime/engine/types.js';
import { type InstalledModel, listInstalled } from '../runtime/models/registry.js';
import type { RunningServer } from '../runtime/server/server.js';
import {
  FileSecretStore,
  SECRET_NAMES,
  type UserConfig,
  homePaths,
  readUserConfig,
  schnellHome,
  studioLibraryDir,
  updateUserConfig,
} from '../runtime/settings/index.js';
import { type Library, openLibrary } from './library/index.js';
import { type ApiServerOptions, type ApiServerStatus, startStudioServer } from './studio/api-server.js';
import { StudioEventHub } from './studio/events.js';
import { JobStore } from './studio/job-store.js';
import { type Recovery, type StudioOptions, resolveModel, waitFor } from './studio/options.js';
import { saveImages } from './studio/record.js';
import type { JobOutcome, JobProgress, ServedModel, StudioEventName, StudioEvents, StudioJob, StudioJobStatus, StudioListener, SubmitOptions, SubmittedJob } from './studio/types.js';

export * from './studio/types.js';
export type { ApiServerOptions, ApiServerStatus } from './studio/api-server.js';
export type { Recovery, StudioOptions } from './studio/options.js';

interface Running {
  controller: AbortController;
  settle: { resolve: (o: JobOutcome) => void; reject: (e: unknown) => void };
}

const STOPPED_REASON = 'the studio stopped while this job was running (a crash or a forced quit); it was not run again in case it caused the stop — submit it again to retry';
const CLOSED_REASON = 'the studio was closed while this job was running; submit it again to retry';

export class Studio {
  readonly home: string;
  readonly library: Library | null;
  readonly engine: Engine;
  /** Things the user should know now (a configured model that is missing, an untrained model …). */
  readonly warnings: string[];
  readonly recovery: Recovery = { interrupted: [], resumed: [] };
  private readonly hub = new StudioEventHub();
  private readonly store: JobStore;
  private readonly env: NodeJS.ProcessEnv;
  /** Persisted jobs waiting for their turn, in order; they run one at a time. */
  private readonly pending: string[] = [];
  private readonly waiters = new Map<string, Running['settle'][]>();
  private readonly running = new Map<string, Running>();
  private readonly settlers = new Map<string, Running['settle']>();
  private pumping = false;
  private closing = false;
  private localInfo: Promise<LocalModelInfo | null> | null = null;
  private server: { running: RunningServer; status: ApiServerStatus } | null = null;

  private constructor(home: string, env: NodeJS.ProcessEnv, library: Library | null, engine: Engine, warnings: string[]) {
    this.home = home;
    this.env = env;
    this.library = library;
    this.engine = engine;
    this.warnings = warnings;
    this.store = new JobStore(library?.jobs ?? null, engine.router.policy);
  }

  /** Opens the library, builds the engine from the settings, and (unless resume is false) takes over the catalog's jobs. */
  static async open(opts: StudioOptions = {}): Promise<Studio> {
    const env = opts.env ?? process.env;
    const home = opts.home ?? schnellHome(env);
    const config = readUserConfig(home);
    const warnings: string[] = [];
    const backend = opts.backend ?? config.backend ?? 'auto';
    const model = resolveModel(opts.model === undefined ? config.model : opts.model, home, backend, warnings);
    const device = opts.device ?? config.device ?? 'cpu';
    const router = await createRouter({
      backend,
      ...(model !== undefined ? { modelPath: model } : {}),
      device,
      modelName: opts.modelName ?? DEFAULT_MODEL_NAME,
      isolate: opts.isolate ?? true,
      home,
      env,
      ...(opts.localSpec ? { localSpec: opts.localSpec } : {}),
      ...(opts.cloud ? { cloud: opts.cloud } : {}),
    });
    if (model === undefined && !opts.localSpec && !router.cloudReady && backend === 'auto') {
      warnings.push('no model is configured and no cloud key is set: nothing can generate yet (install a model with `schnell models`, or save a Fireworks key)');
    }
    // The engine's own bound applies to the API; the studio's queue of persisted jobs feeds it one at a time.
    const engine = new Engine({ router, device, ...(opts.maxQueued !== undefined ? { maxQueued: opts.maxQueued } : {}) });
    let library: Library | null = null;
    try {
      library = opts.library === false ? null : await openLibrary(opts.library ?? studioLibraryDir(home));
    } catch (err) {
      await releaseRouter(router);
      throw err;
    }
    const studio = new Studio(home, env, library, engine, warnings);
    if (opts.resume !== false) studio.resume();
    return studio;
  }

  // ---- events --------------------------------------------------------------------------------

  /** Subscribes to one event; returns the unsubscribe function. */
  on<K extends StudioEventName>(name: K, listener: StudioListener<K>): () => void {
    return this.hub.on(name, listener);
  }

  /** Subscribes to every event (a transport forwards them all); returns the unsubscribe function. */
  onAny(listener: <K extends StudioEventName>(name: K, payload: StudioEvents[K]) => void): () => void {
    return this.hub.onAny(listener);
  }

  // ---- jobs ----------------------------------------------------------------------------------

  /**
   * The one way in. Persists the job (ui and cli jobs, when the studio has a library), queues it,
   * and returns at once; `outcome` settles when it ends. API jobs run at once on the engine's
   * bounded queue (429 beyond it) and live in memory: their client holds the request.
   * `record: false` keeps the images out of the library (`schnell serve --no-record`).
   */
  submit(request: GenerationRequest, opts: SubmitOptions & { record?: boolean }): SubmittedJob {
    if (this.closing) throw new ApiError(503, 'the studio is closing');
    const persist = opts.source !== 'api' && this.library !== null && opts.record !== false;
    const job = this.store.add({
      request,
      source: opts.source,
      backend: opts.backend ?? this.engine.router.policy,
      project: opts.project ?? null,
      parentId: opts.parentId ?? null,
      persist,
    });
    const outcome = new Promise<JobOutcome>((resolve, reject) => this.settlers.set(job.id, { resolve, reject }));
    // Nobody may be waiting (a UI job): a failure is an event, not an unhandled rejection.
    outcome.catch(() => undefined);
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(() => this.cancel(job.id));
      else opts.signal.addEventListener('abort', () => this.cancel(job.id), { once: true });
    }
    this.hub.emit('job.queued', { job });
    if (opts.source === 'api') void this.runJob(job.id, opts.record !== false);
    else {
      this.pending.push(job.id);
      this.pump();
    }
    return { id: job.id, job, outcome };
  }

  /** Cancels a queued or running job; false when it had already ended (or is unknown). */
  cancel(jobId: string): boolean {
    const queued = this.pending.indexOf(jobId);
    if (queued >= 0) {
      this.pending.splice(queued, 1);
      const job = this.store.finish(jobId, 'cancelled', 'cancelled');
      this.hub.emit('job.cancelled', { jobId, job });
      this.settle(jobId, new ApiError(499, 'the job was cancelled'));
      return true;
    }
    const run = this.running.get(jobId);
    if (!run) return false;
    run.controller.abort();
    return true;
  }

  /** Every job this studio knows (the catalog's, and this run's in-memory ones), oldest first. */
  jobs(status?: StudioJobStatus): StudioJob[] {
    return this.store.list(status);
  }

  job(jobId: string): StudioJob | undefined {
    return this.store.get(jobId);
  }

  /** The outcome of a job submitted or resumed by this run (rejects if it fails or is cancelled). */
  wait(jobId: string): Promise<JobOutcome> {
    const settle = this.settlers.get(jobId);
    if (!settle) return Promise.reject(new Error(`job ${jobId} is not running or queued in this studio`));
    return new Promise<JobOutcome>((resolve, reject) => {
      const list = this.waiters.get(jobId) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(jobId, list);
    });
  }

  private resume(): void {
    if (!this.library) return;
    for (const job of this.store.list('running')) {
      const done = this.store.finish(job.id, 'interrupted', STOPPED_REASON);
      this.recovery.interrupted.push(done);
    }
    for (const job of this.store.list('queued')) {
      this.recovery.resumed.push(job);
      this.settlers.set(job.id, { resolve: () => undefined, reject: () => undefined });
      this.pending.push(job.id);
    }
    // Let the caller subscribe before the first job starts.
    if (this.pending.length) setImmediate(() => this.pump());
  }

  private pump(): void {
    if (this.pumping || this.closing) return;
    const next = this.pending.shift();
    if (next === undefined) return;
    this.pumping = true;
    void this.runJob(next, true).finally(() => {
      this.pumping = false;
      this.pump();
    });
  }

  private async runJob(jobId: string, record: boolean): Promise<void> {
    if (!this.store.claim(jobId)) return; // cancelled meanwhile, or another process took it
    const controller = new AbortController();
    this.running.set(jobId, { controller, settle: this.settlers.get(jobId)! });
    let job = this.store.get(jobId)!;
    const request = resolveSeed(job.request);
    this.store.setRequest(jobId, request);
    this.hub.emit('job.started', { jobId, servedBy: null });
    try {
      const result = await this.engine.generate(request, {
        id: jobId,
        signal: controller.signal,
        policy: job.backend,
        onProgress: (e) => {
          const progress: JobProgress = {
            step: e.step, steps: e.steps, image: e.image, images: e.images, servedBy: e.backend,
            ...(e.stage ? { stage: e.stage } : {}),
            ...(e.message ? { message: e.message } : {}),
            ...(e.fraction !== undefined ? { fraction: e.fraction } : {}), ...(e.etaMs !== undefined ? { etaMs: e.etaMs } : {}),
          };
          this.store.setLive(jobId, { servedBy: e.backend, progress });
          // The local runtime's PNG of the image so far, now and then; the cloud sends none.
          this.hub.emit('job.progress', { jobId, progress, preview: e.preview ?? null });
        },
      });
      this.store.setLive(jobId, { servedBy: result.backend, fallback: result.fallback ?? null });
      const model = await this.servedModel(result);
      const images = await saveImages({
        library: record ? this.library : null,
        request,
        result,
        model,
        source: job.source,
        project: job.project,
        parentId: job.parentId,
        jobId: job.persisted ? jobId : null,
        onSaved: (image) => {
          if (image.generation && !job.persisted) this.store.addGeneration(jobId, image.generation.id);
          this.hub.emit('job.imageSaved', { jobId, image });
        },
      });
      job = this.store.finish(jobId, 'done');
      this.hub.emit('job.finished', { jobId, job, generationIds: job.generationIds, servedBy: result.backend, fallback: result.fallback ?? null });
      this.settle(jobId, null, { job, result, images, model });
    } catch (err) {
      if (this.closing && job.persisted) {
        job = this.store.finish(jobId, 'interrupted', CLOSED_REASON);
        this.hub.emit('job.interrupted', { jobId, job, reason: CLOSED_REASON });
        this.settle(jobId, new ApiError(503, CLOSED_REASON));
      } else if (isAbortError(err) || controller.signal.aborted) {
        job = this.store.finish(jobId, 'cancelled', 'cancelled');
        this.hub.emit('job.cancelled', { jobId, job });
        this.settle(jobId, err);
      } else {
        const message = (err as Error)?.message ?? String(err);
        job = this.store.finish(jobId, 'failed', message);
        this.hub.emit('job.failed', { jobId, job, error: message, fallback: job.fallback });
        this.settle(jobId, err);
      }
    } finally {
      this.running.delete(jobId);
    }
  }

  private settle(jobId: string, err: unknown, outcome?: JobOutcome): void {
    const all = [this.settlers.get(jobId), ...(this.waiters.get(jobId) ?? [])];
    this.settlers.delete(jobId);
    this.waiters.delete(jobId);
    for (const s of all) {
      if (!s) continue;
      if (outcome) s.resolve(outcome);
      else s.reject(err);
    }
  }

  /** The model as the catalog records it: the local model set's own name and device, or the cloud model. */
  private async servedModel(result: GenerationResult): Promise<ServedModel> {
    if (result.backend === 'cloud') return { name: result.model, untrained: false, device: null };
    const info = await this.localModel();
    return info ? { name: info.name, untrained: info.untrained, device: info.device } : { name: result.model, untrained: false, device: null };
  }

  /** The local model's description (name, path, device, untrained), or null when there is none or it cannot be read. */
  localModel(): Promise<LocalModelInfo | null> {
    const local = this.engine.router.local;
    if (!local) return Promise.resolve(null);
    this.localInfo ??= local.describe().catch(() => {
      this.localInfo = null;
      return null;
    });
    return this.localInfo;
  }

  // ---- what the UI shows and sets ------------------------------------------------------------

  get router(): Router {
    return this.engine.router;
  }

  /** The models installed with `schnell models` (in this studio's home). */
  models(): InstalledModel[] {
    return listInstalled(this.home);
  }

  /** config.json as it is now (validated; unknown keys kept). */
  settings(): UserConfig {
    return readUserConfig(this.home);
  }

  /** Changes some settings (undefined removes a key), atomically; engine settings apply on the next open. */
  updateSettings(changes: Partial<UserConfig>): UserConfig {
    const next = updateUserConfig(changes, this.home);
    this.hub.emit('settings.changed', { keys: Object.keys(changes) });
    return next;
  }

  /** Saves a secret (write-only: nothing reads one back out; see secretsSet). */
  async setSecret(name: keyof typeof SECRET_NAMES, value: string): Promise<void> {
    const v = value.trim();
    if (!/^[\x21-\x7e]{8,512}$/.test(v)) throw new Error(`the ${name} must be 8 to 512 printable characters without spaces`);
    await this.secretStore().set(SECRET_NAMES[name], v);
    this.hub.emit('settings.changed', { keys: [name] });
  }

  async deleteSecret(name: keyof typeof SECRET_NAMES): Promise<void> {
    await this.secretStore().delete(SECRET_NAMES[name]);
    this.hub.emit('settings.changed', { keys: [name] });
  }

  /** Which secrets are set (never their values). */
  async secretsSet(): Promise<Record<keyof typeof SECRET_NAMES, boolean>> {
    const store = this.secretStore();
    return {
      fireworksKey: Boolean(await store.get(SECRET_NAMES.fireworksKey)),
      huggingFaceToken: Boolean(await store.get(SECRET_NAMES.huggingFaceToken)),
    };
  }

  private secretStore(): FileSecretStore {
    return new FileSecretStore(homePaths.secrets(this.home));
  }

  /** The execution providers this machine offers (loads onnxruntime on first call). */
  async devices(): Promise<{ provider: string; available: boolean; note: string }[]> {
    const { listDevices } = await import('../runtime/onnx/session.js');
    return listDevices().map((d) => ({ provider: d.provider, available: d.available, note: d.note ?? '' }));
  }

  // ---- the local HTTP API --------------------------------------------------------------------

  /** Starts the HTTP API on this studio's engine; its images are recorded unless `record` is false. */
  async startApiServer(opts: ApiServerOptions = {}): Promise<ApiServerStatus> {
    if (this.server) return this.server.status;
    const record = (opts.record ?? true) && this.library !== null;
    const drain = (graceMs: number) => waitFor(() => ![...this.running.keys()].some((id) => this.store.get(id)?.source === 'api'), graceMs);
    const { server, status } = await startStudioServer(this.engine, (r, o) => this.submit(r, o), drain, this.home, {
      ...opts,
      record,
      modelNames: opts.modelNames ?? [DEFAULT_MODEL_NAME],
    });
    this.server = { running: server, status };
    this.hub.emit('apiServer.changed', { running: true, url: server.url });
    return status;
  }

  /** The running HTTP server itself (its address, its node:http server), or null. */
  runningApiServer(): RunningServer | null {
    return this.server?.running ?? null;
  }

  apiServer(): ApiServerStatus {
    return this.server?.status ?? { running: false, url: null, port: null, tokenFile: null, newToken: null, recording: false, portNote: null };
  }

  async stopApiServer(opts: { graceMs?: number } = {}): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    await s.running.close({ graceMs: opts.graceMs ?? 5000 });
    this.hub.emit('apiServer.changed', { running: false, url: null });
  }

  /**
   * Stops: the API server, then running jobs (persisted ones are marked interrupted, queued ones
   * stay queued for the next open), then the engine and the library. `graceMs`: how long running
   * jobs may take to finish before they are stopped (default 0: stop them now).
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.closing) return;
    await this.stopApiServer({ graceMs: opts.graceMs ?? 0 });
    if (opts.graceMs) await waitFor(() => this.running.size === 0, opts.graceMs);
    this.closing = true;
    this.pending.length = 0;
    const stopping = [...this.running.keys()].map((id) => this.settlers.get(id) && new Promise<void>((resolve) => {
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), { resolve: () => resolve(), reject: () => resolve() }]);
    }));
    for (const r of this.running.values()) r.controller.abort();
    await Promise.all(stopping);
    await this.engine.shutdown({ graceMs: 0, reason: 'the studio is closing' });
    await releaseRouter(this.engine.router);
    this.library?.close();
  }
}
