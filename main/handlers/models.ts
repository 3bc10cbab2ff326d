// The model commands: what is installed and available, downloads with progress (pause resumes
// from the bytes kept, state in the catalog database), import of files the user has, the fit check
// before anything is downloaded, choosing the local model, and removal. The runtime's models module
// does the work; this wires it to the studio's home and to events.
import path from 'node:path';
import type { DeviceMemory } from '../../runtime/models/fit.js';
import type { ManifestModel, ModelManifest } from '../../runtime/models/manifest.js';
import type { InstalledModel } from '../../runtime/models/registry.js';
import { homePaths, FileSecretStore } from '../../runtime/settings/index.js';
import type { DownloadInfo, InstalledModelInfo } from '../contract.js';
import { CommandError, type Handlers } from '../handlers.js';
import type { Studio } from '../studio.js';
import type { StudioHost } from './host.js';
import type { Emit } from './shell.js';

type ModelCommands = Pick<
  Handlers,
  'models.list' | 'models.download' | 'models.pauseDownload' | 'models.cancelDownload' | 'models.import' | 'models.fit' | 'models.use' | 'models.remove'
>;

// The catalogue in effect: SCHNELL_MODEL_MANIFEST or the bundled one, its huggingface.co URLs on
// the model mirror when one is set (runtime/models/mirror.ts); read again when the mirror changes.
let manifestCache: { key: string; manifest: ModelManifest } | null = null;
async function manifest(home: string): Promise<ModelManifest> {
  const { readUserConfig, modelManifestFromEnv, modelMirrorFromEnv } = await import('../../runtime/settings/index.js');
  const key = JSON.stringify([home, modelManifestFromEnv(), modelMirrorFromEnv(), readUserConfig(home).modelMirror]);
  if (manifestCache?.key !== key) manifestCache = { key, manifest: (await import('../../runtime/models/mirror.js')).loadModelCatalogue({ home }) };
  return manifestCache.manifest;
}

async function downloadState(studio: Studio) {
  const { DownloadState } = await import('../../runtime/models/state.js');
  if (!studio.library) throw new CommandError('unavailable', 'downloads need the studio library (its catalog keeps their state)');
  return new DownloadState(studio.library.db);
}

/** The downloads this studio runs now; each can be paused (kept bytes resume) or cancelled. */
export class Downloads {
  private readonly active = new Map<string, { controller: AbortController; info: DownloadInfo }>();

  constructor(private readonly studio: () => Studio, private readonly emit: Emit) {}

  list(): DownloadInfo[] {
    return [...this.active.values()].map((a) => a.info);
  }

  async start(modelId: string): Promise<boolean> {
    if (this.active.has(modelId)) return false;
    const m = await manifest(this.studio().home);
    try {
      m.model(modelId);
    } catch {
      throw new CommandError('not-found', `there is no model ${modelId} in the catalogue of models`, 'modelId');
    }
    const studio = this.studio();
    const state = await downloadState(studio);
    const { installFromManifest, DownloadError } = await Promise.all([import('../../runtime/models/install.js'), import('../../runtime/models/download.js')]).then(([a, b]) => ({ ...a, ...b }));
    const controller = new AbortController();
    const info: DownloadInfo = { modelId, status: 'downloading', bytes: 0, total: null, rate: 0, etaSeconds: null, error: null };
    this.active.set(modelId, { controller, info });
    const files = new Map<string, { bytes: number; total: number | null }>();
    const publish = () => this.emit('models.downloadProgress', { ...info });
    publish();
    void installFromManifest({
      manifest: m,
      modelId,
      home: studio.home,
      state,
      secrets: new FileSecretStore(homePaths.secrets(studio.home)),
      signal: controller.signal,
      onProgress: (file, p) => {
        files.set(file.id, { bytes: p.bytes, total: p.total ?? file.bytes });
        info.bytes = [...files.values()].reduce((n, f) => n + f.bytes, 0);
        info.total = m.filesOf(m.model(modelId)).reduce((n, f) => n + f.bytes, 0);
        info.rate = p.rate;
        info.etaSeconds = p.rate > 0 && info.total !== null ? Math.max(0, (info.total - info.bytes) / p.rate) : null;
        publish();
      },
    }).then(
      () => {
        info.status = 'complete';
        info.etaSeconds = 0;
      },
      (err: unknown) => {
        const reason = String((controller.signal as AbortSignal & { reason?: unknown }).reason ?? '');
        if (controller.signal.aborted && reason !== 'cancel') info.status = 'paused';
        else if (controller.signal.aborted) info.status = 'failed';
        else info.status = 'failed';
        info.error = controller.signal.aborted ? (reason === 'cancel' ? 'cancelled' : null) : err instanceof DownloadError || err instanceof Error ? err.message : String(err);
      },
    ).finally(() => {
      this.active.delete(modelId);
      publish();
      this.emit('models.changed', {});
    });
    return true;
  }

  pause(modelId: string): boolean {
    const a = this.active.get(modelId);
    if (!a) return false;
    a.controller.abort('pause');
    return true;
  }

  cancel(modelId: string): boolean {
    const a = this.active.get(modelId);
    if (!a) return false;
    a.controller.abort('cancel');
    return true;
  }

  pauseAll(): void {
    for (const id of this.active.keys()) this.pause(id);
  }
}

function installedInfo(m: InstalledModel): InstalledModelInfo {
  const r = m.record;
  return {
    id: m.id,
    name: r?.name ?? m.id,
    status: m.status,
    kind: r?.kind ?? 'unknown',
    source: r?.source ?? 'unknown',
    untrained: false,
    bytes: r?.files.reduce((n, f) => n + f.bytes, 0) ?? 0,
    folder: m.folder,
    problem: m.problem ?? null,
  };
}

function memoryOf(m: ManifestModel) {
  return { gpuBytes: m.memory.gpu_bytes, cpuBytes: m.memory.cpu_bytes };
}

export function modelHandlers(host: StudioHost, emit: Emit): ModelCommands {
  return {
    'models.list': async () => {
      const m = await manifest(host.studio.home);
      const installed = host.studio.models();
      const ids = new Set(installed.filter((i) => i.status === 'installed').map((i) => i.id));
      const paused = host.studio.library ? (await downloadState(host.studio)).list() : [];
      const running = host.downloads.list();
      const waiting: DownloadInfo[] = [...new Set(paused.filter((r) => r.model_id && r.status !== 'complete' && !ids.has(r.model_id)).map((r) => r.model_id!))]
        .filter((id) => !running.some((d) => d.modelId === id))
        .map((id) => {
          const rows = paused.filter((r) => r.model_id === id);
          // The whole model's size, not only the files started so far (the rest have no row yet).
          const listed = m.models.find((x) => x.id === id);
          const total = listed ? listed.disk_bytes : rows.reduce((n, r) => n + (r.expected_bytes ?? 0), 0) || null;
          return { modelId: id, status: 'paused', bytes: rows.reduce((n, r) => n + r.received_bytes, 0), total, rate: 0, etaSeconds: null, error: rows.find((r) => r.error)?.error ?? null };
        });
      const config = host.studio.settings();
      const local = await host.studio.localModel();
      return {
        installed: installed.map(installedInfo),
        available: m.models.map((x) => ({
          id: x.id,
          name: x.name,
          description: x.description,
          kind: x.kind,
          diskBytes: x.disk_bytes,
          memory: memoryOf(x),
          installed: ids.has(x.id),
          isDefault: Boolean(x.default),
          gated: m.filesOf(x).some((f) => f.gated),
        })),
        downloads: [...running, ...waiting],
        active: local?.untrained ? 'demo' : (config.model ?? null),
      };
    },
    'models.download': async ({ modelId }) => ({ started: await host.downloads.start(modelId) }),
    'models.pauseDownload': ({ modelId }) => ({ paused: host.downloads.pause(modelId) }),
    'models.cancelDownload': ({ modelId }) => ({ cancelled: host.downloads.cancel(modelId) }),
    'models.import': async ({ paths, id, mode }) => {
      const { importModel } = await import('../../runtime/models/import.js');
      const { model } = await importModel({ paths: paths.map((p) => path.resolve(p)), home: host.studio.home, ...(id ? { id } : {}), ...(mode ? { mode } : {}) });
      emit('models.changed', {});
      return installedInfo(model);
    },
    'models.fit': async ({ modelId, device, width, height }) => {
      const [{ fitModel }, fit] = await Promise.all([import('../../runtime/models/fit-model.js'), import('../../runtime/models/fit.js')]);
      let memory: DeviceMemory | undefined;
      if (device === 'cpu') memory = fit.cpuMemory();
      else if (device === 'gpu') {
        memory = (await fit.queryNvidiaGpus())[0];
        if (!memory) throw new CommandError('unavailable', 'no NVIDIA GPU was found on this machine (nvidia-smi did not answer); check the CPU instead', 'device');
      }
      const r = await fitModel(modelId, { home: host.studio.home, manifest: await manifest(host.studio.home), ...(memory ? { device: memory } : {}), ...(width ? { width } : {}), ...(height ? { height } : {}) });
      return {
        fits: r.fits,
        sequentialOnly: r.sequentialOnly,
        tight: r.tight,
        message: r.message,
        suggestion: r.suggestion ?? null,
        device: { kind: r.device.kind, name: r.device.name, totalBytes: r.device.totalBytes, freeBytes: r.device.freeBytes },
        needBytes: r.estimate.totalBytes,
      };
    },
    'models.use': async ({ modelId }) => {
      let model = modelId;
      if (modelId === 'demo') {
        const { ensureDemoModel } = await import('../../runtime/flux/demo/demo-model.js');
        model = ensureDemoModel(homePaths.demoModel(host.studio.home));
      } else if (!host.studio.models().some((m) => m.id === modelId && m.status === 'installed')) {
        throw new CommandError('not-found', `model ${modelId} is not installed; download or import it first`, 'modelId');
      }
      const reply = await host.dispatcher.call('settings.update', { model });
      if (!reply.ok) throw new CommandError(reply.error.code, reply.error.message);
      emit('models.changed', {});
      return reply.result as Awaited<ReturnType<ModelCommands['models.use']>>;
    },
    'models.remove': async ({ modelId }) => {
      const { removeInstalled } = await import('../../runtime/models/registry.js');
      const state = host.studio.library ? await downloadState(host.studio) : undefined;
      const r = removeInstalled(modelId, host.studio.home, state);
      emit('models.changed', {});
      return { freedBytes: r.freedBytes };
    },
  };
}
