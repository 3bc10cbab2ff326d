// The studio as a transport sees it: one open Studio (main/studio.ts), its events translated into
// the contract's (URLs instead of paths and bytes), the latest preview of each running job, and the
// dispatcher over every command. Settings the engine reads only when it opens (the model, device,
// backend policy, library folder, the Fireworks key) take effect by reopening the core once no job
// is running; queued jobs are persisted, so they survive the reopen and resume.
import path from 'node:path';
import type { SecretStore } from '../../runtime/settings/index.js';
import type { EventName, QueueJob, StudioEvents } from '../contract.js';
import { createDispatcher, type Dispatcher } from '../handlers.js';
import { Studio, type StudioEventName, type StudioEvents as CoreEvents, type StudioJob } from '../studio.js';
import { libraryHandlers } from './library.js';
import { modelHandlers, Downloads } from './models.js';
import { projectHandlers } from './projects.js';
import { galleryItem, type Emit, type Shell } from './shell.js';
import { studioHandlers } from './studio.js';

type Listener = <E extends EventName>(name: E, payload: StudioEvents[E]) => void;

export interface HostOptions {
  /** Opens the core (again, after a settings change). */
  open(): Promise<Studio>;
  shell: Shell;
  /** Where the Fireworks key is kept (the desktop: safeStorage; elsewhere secrets.json). */
  secrets: SecretStore;
  /** The local API's bearer token (the desktop keeps it in safeStorage; undefined: $SCHNELL_HOME/server-token). */
  apiToken?(): Promise<string | undefined>;
  version: string;
  log?: (line: string) => void;
}

export class StudioHost {
  private current: Studio;
  private readonly listeners = new Set<Listener>();
  private readonly previews = new Map<string, { bytes: Uint8Array; type: string }>();
  private unbind: () => void = () => undefined;
  private reopenWanted = false;
  private reopening: Promise<void> | null = null;
  readonly dispatcher: Dispatcher;
  readonly downloads: Downloads;

  private constructor(studio: Studio, readonly opts: HostOptions) {
    this.current = studio;
    this.bind(studio);
    const emit: Emit = (name, payload) => this.emit(name, payload);
    this.downloads = new Downloads(() => this.studio, emit);
    this.dispatcher = createDispatcher(
      {
        ...libraryHandlers(() => this.library(), opts.shell, emit),
        ...projectHandlers(() => this.library(), opts.shell, emit),
        ...modelHandlers(this, emit),
        ...studioHandlers(this, emit),
      },
      opts.log ? { log: opts.log } : {},
    );
  }

  static async open(opts: HostOptions): Promise<StudioHost> {
    const host = new StudioHost(await opts.open(), opts);
    await host.startApiServerIfEnabled();
    return host;
  }

  /** The local API comes back on at start when the user left it on (settings: apiServer.enabled). */
  private async startApiServerIfEnabled(): Promise<void> {
    const ui = (this.current.settings() as { studio?: { apiServer?: { enabled?: boolean; record?: boolean } } }).studio;
    if (!ui?.apiServer?.enabled || this.current.apiServer().running) return;
    try {
      await this.current.startApiServer({ ...(await this.apiServerOptions()), record: ui.apiServer.record ?? true });
    } catch (err) {
      this.opts.log?.(`studio: the local API server did not start: ${(err as Error).message}`);
    }
  }

  get studio(): Studio {
    return this.current;
  }

  get shell(): Shell {
    return this.opts.shell;
  }

  library() {
    const lib = this.current.library;
    if (!lib) throw new Error('this studio has no library');
    return lib;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit<E extends EventName>(name: E, payload: StudioEvents[E]): void {
    for (const l of this.listeners) {
      try {
        l(name, payload);
      } catch (err) {
        this.opts.log?.(`studio: an event listener failed: ${(err as Error).message}`);
      }
    }
  }

  preview(jobId: string): { bytes: Uint8Array; type: string } | undefined {
    return this.previews.get(jobId);
  }

  /** For the transports' file routes: the library's own containment check (realpath, images/thumbs only). */
  resolveLibraryFile = (name: string): Promise<string> => this.library().resolveFile(name);

  /** Applies engine settings: reopens the core now if idle, else once the running job ends. */
  async applyEngineSettings(): Promise<{ applied: boolean }> {
    this.reopenWanted = true;
    if (this.current.jobs('running').length > 0) return { applied: false };
    await this.reopen();
    return { applied: true };
  }

  private async reopen(): Promise<void> {
    if (this.reopening) return this.reopening;
    this.reopenWanted = false;
    this.reopening = (async () => {
      const old = this.current;
      const wasServing = old.apiServer().running;
      this.unbind();
      await old.close();
      this.current = await this.opts.open();
      this.bind(this.current);
      if (wasServing) await this.current.startApiServer(await this.apiServerOptions()).catch((err) => this.opts.log?.(`studio: the API server did not restart: ${(err as Error).message}`));
      this.emit('models.changed', {});
    })().finally(() => {
      this.reopening = null;
    });
    return this.reopening;
  }

  async apiServerOptions(port?: number): Promise<{ port?: number; token?: string }> {
    const token = await this.opts.apiToken?.();
    const configured = (this.current.settings() as { port?: unknown }).port;
    const p = port ?? (typeof configured === 'number' ? configured : undefined);
    return { ...(p !== undefined ? { port: p } : {}), ...(token ? { token } : {}) };
  }

  async close(): Promise<void> {
    await this.reopening?.catch(() => undefined);
    this.downloads.pauseAll();
    this.unbind();
    await this.current.close();
    this.listeners.clear();
  }

  queueJob(job: StudioJob): QueueJob {
    return {
      id: job.id,
      status: job.status,
      source: job.source,
      request: { ...job.request },
      backend: job.backend,
      project: job.project,
      parentId: job.parentId,
      servedBy: job.servedBy,
      progress: job.progress,
      error: job.error,
      fallback: job.fallback,
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      generationIds: job.generationIds,
      thumbnailUrl: this.firstThumbnail(job.generationIds),
    };
  }

  /** The queue shows a finished job's first image (after a reload too, and for CLI or API jobs). */
  private firstThumbnail(ids: string[]): string | null {
    const library = this.current.library;
    const first = ids[0] !== undefined ? library?.get(ids[0]) : undefined;
    return first && library ? galleryItem(first, library.dir, this.opts.shell).thumbnailUrl : null;
  }

  /** Core events → contract events. */
  private bind(studio: Studio): void {
    const on = <K extends StudioEventName>(name: K, fn: (p: CoreEvents[K]) => void) => studio.on(name, fn);
    const offs = [
      on('job.queued', ({ job }) => this.emit('job.queued', { job: this.queueJob(job) })),
      on('job.started', ({ jobId, servedBy }) => this.emit('job.started', { jobId, servedBy })),
      on('job.progress', ({ jobId, progress, preview }) => {
        if (preview) this.previews.set(jobId, { bytes: preview, type: 'image/png' });
        const previewUrl = preview ? `${this.opts.shell.previewUrl(jobId)}?step=${progress.image * progress.steps + progress.step}` : null;
        this.emit('job.progress', { jobId, progress, previewUrl });
      }),
      on('job.imageSaved', ({ jobId, image }) => {
        if (image.generation) this.emit('job.imageSaved', { jobId, generation: galleryItem(image.generation, studio.library!.dir, this.opts.shell) });
      }),
      on('job.finished', ({ jobId, generationIds, servedBy, fallback }) => {
        this.previews.delete(jobId);
        this.emit('job.finished', { jobId, generationIds, servedBy, fallback });
        this.emit('library.changed', { ids: generationIds, reason: 'generated' });
        this.afterJob();
      }),
      on('job.failed', ({ jobId, error, fallback }) => {
        this.previews.delete(jobId);
        this.emit('job.failed', { jobId, error, fallback });
        // The local runtime runs in its own process: when it died, the next job starts a fresh one.
        if (/local runtime/i.test(error) && runtimeGone(studio)) this.emit('runtime.restarted', { reason: error });
        this.afterJob();
      }),
      on('job.cancelled', ({ jobId }) => {
        this.previews.delete(jobId);
        this.emit('job.cancelled', { jobId });
        this.afterJob();
      }),
      on('job.interrupted', ({ jobId, reason }) => this.emit('job.interrupted', { jobId, reason })),
      on('apiServer.changed', () => this.emit('apiServer.changed', { status: this.apiServerStatus() })),
    ];
    this.unbind = () => offs.forEach((off) => off());
  }

  private afterJob(): void {
    if (this.reopenWanted && this.current.jobs('running').length === 0) {
      setImmediate(() => void this.reopen().catch((err) => this.opts.log?.(`studio: reopening after a settings change failed: ${(err as Error).message}`)));
    }
  }

  apiServerStatus() {
    const s = this.current.apiServer();
    return { running: s.running, url: s.url, port: s.port, record: s.recording };
  }

  libraryDir(): string {
    return this.current.library ? this.current.library.dir : path.resolve('.');
  }
}

/** Whether the local runtime's process is gone (a ProcessBackend between a crash and the next job). */
function runtimeGone(studio: Studio): boolean {
  const local = studio.router.local as { pid?: number } | null;
  return local !== null && 'pid' in Object.getPrototypeOf(local) ? local.pid === undefined : false;
}
