// The commands about generating and the studio itself: submit, cancel, retry and remix parameters,
// the queue, settings and the write-only Fireworks key, devices, and the local API server.
import { createGenerationRequest } from '../../runtime/api/index.js';
import { SECRET_NAMES, fireworksKeyFromEnv, modelMirrorFromEnv, type UserConfig } from '../../runtime/settings/index.js';
import type { BackendAvailability, GenerationParams, StudioSettings } from '../contract.js';
import { CommandError, type Handlers } from '../handlers.js';
import type { StudioHost } from './host.js';
import type { Emit } from './shell.js';

type StudioCommands = Pick<
  Handlers,
  | 'studio.info' | 'studio.backends' | 'generate.submit' | 'generate.cancel' | 'generate.retry' | 'generate.paramsOf' | 'queue.list'
  | 'settings.get' | 'settings.update' | 'settings.setFireworksKey' | 'devices.list'
  | 'apiServer.status' | 'apiServer.start' | 'apiServer.stop' | 'apiServer.token'
>;

/** Keys of config.json only the studio's UI uses, kept under one object so the engine's keys stay its own. */
interface UiConfig {
  theme?: 'dark' | 'light' | 'system';
  modelFolders?: string[];
  apiServer?: { enabled?: boolean; record?: boolean };
}

const ENGINE_KEYS = ['backend', 'device', 'model', 'library'] as const;

export function studioHandlers(host: StudioHost, emit: Emit): StudioCommands {
  const ui = (config: UserConfig): UiConfig => {
    const v = (config as { studio?: unknown }).studio;
    return v && typeof v === 'object' ? (v as UiConfig) : {};
  };
  const settings = async (): Promise<StudioSettings> => {
    const config = host.studio.settings();
    const u = ui(config);
    const configuredPort = (config as { port?: unknown }).port;
    return {
      backend: config.backend ?? 'auto',
      device: config.device ?? 'cpu',
      model: config.model ?? null,
      modelFolders: u.modelFolders ?? [],
      libraryDir: host.libraryDir(),
      theme: u.theme ?? 'dark',
      apiServer: { port: typeof configuredPort === 'number' ? configuredPort : 8080, enabled: u.apiServer?.enabled ?? false, record: u.apiServer?.record ?? true },
      hasFireworksKey: Boolean(await host.opts.secrets.get(SECRET_NAMES.fireworksKey)) || Boolean(fireworksKeyFromEnv()),
      secretStorage: host.shell.secretStorage ?? { backend: 'file', warning: null },
      modelMirror: { saved: config.modelMirror ?? null, environment: modelMirrorFromEnv() ?? null },
    };
  };
  const announceSettings = async () => emit('settings.changed', { settings: await settings() });

  return {
    'studio.info': async () => ({
      version: host.opts.version,
      shell: host.shell.kind,
      platform: `${process.platform}-${process.arch}`,
      libraryDir: host.libraryDir(),
      warnings: [...host.studio.warnings, ...(host.shell.secretStorage?.warning ? [host.shell.secretStorage.warning] : [])],
    }),
    'studio.backends': async (): Promise<BackendAvailability> => {
      const router = host.studio.router;
      const config = host.studio.settings();
      const check = router.local ? await router.local.check() : { ok: false as const, kind: 'model-missing', reason: 'no local model is set up: download one, import one or try the demo model' };
      const info = check.ok ? await host.studio.localModel() : null;
      const cloudOk = router.cloudReady;
      const policy = router.policy;
      const auto = policy === 'cloud' ? (cloudOk ? 'cloud' : null) : check.ok ? 'local' : policy === 'auto' && cloudOk ? 'cloud' : null;
      return {
        auto,
        local: { ok: check.ok, reason: check.ok ? null : check.reason, model: info?.name ?? config.model ?? null, device: info?.device ?? config.device ?? 'cpu', untrained: info?.untrained ?? false },
        cloud: { ok: cloudOk, reason: cloudOk ? null : 'no Fireworks key is saved: paste one in Settings to use the cloud' },
      };
    },
    'generate.submit': ({ request, backend, project, parentId }) => {
      const library = host.library();
      if (parentId && !library.get(parentId)) throw new CommandError('not-found', `the remix's parent ${parentId} is not in the library`, 'parentId');
      const { outputFormat, ...rest } = request;
      const validated = createGenerationRequest({ ...withoutUndefined(rest), ...(outputFormat ? { outputFormat } : {}) } as Parameters<typeof createGenerationRequest>[0]);
      const job = host.studio.submit(validated, {
        source: 'ui',
        ...(project !== undefined ? { project } : {}),
        ...(parentId !== undefined ? { parentId } : {}),
        ...(backend ? { backend } : {}),
      });
      return { jobId: job.id };
    },
    'generate.cancel': ({ jobId }) => ({ cancelled: host.studio.cancel(jobId) }),
    'generate.retry': ({ jobId }) => {
      const job = host.studio.job(jobId);
      if (!job) throw new CommandError('not-found', `there is no job ${jobId}`, 'jobId');
      if (job.status === 'queued' || job.status === 'running') throw new CommandError('conflict', `job ${jobId} has not ended; cancel it first or wait`, 'jobId');
      const next = host.studio.submit(job.request, { source: 'ui', project: job.project, parentId: job.parentId, backend: job.backend });
      return { jobId: next.id };
    },
    'generate.paramsOf': ({ id }) => {
      const g = host.library().get(id);
      if (!g) throw new CommandError('not-found', `there is no generation ${id} in the library`, 'id');
      const request: GenerationParams = {
        prompt: g.prompt,
        negativePrompt: g.negativePrompt,
        width: g.width,
        height: g.height,
        ...(g.steps !== null ? { steps: g.steps } : {}),
        ...(g.seed !== null ? { seed: g.seed } : {}),
        ...(g.cfgScale !== null ? { cfgScale: g.cfgScale } : {}),
        ...(g.sampler === 'K_EULER' || g.sampler === 'K_DPMPP_2M' ? { sampler: g.sampler } : {}),
        outputFormat: g.format,
      };
      return { request, project: g.project };
    },
    'queue.list': () => host.studio.jobs().map((j) => host.queueJob(j)),
    'settings.get': settings,
    'settings.update': async (patch) => {
      const changes: Partial<UserConfig> = {};
      if (patch.backend !== undefined) changes.backend = patch.backend;
      if (patch.device !== undefined) changes.device = patch.device;
      if (patch.model !== undefined) changes.model = patch.model ?? undefined;
      if (patch.libraryDir !== undefined) changes.library = patch.libraryDir;
      if (patch.modelMirror !== undefined) changes.modelMirror = patch.modelMirror ?? undefined;
      const current = ui(host.studio.settings());
      if (patch.theme !== undefined || patch.modelFolders !== undefined || patch.apiServer !== undefined) {
        const next: UiConfig = { ...current };
        if (patch.theme !== undefined) next.theme = patch.theme;
        if (patch.modelFolders !== undefined) next.modelFolders = patch.modelFolders;
        if (patch.apiServer) next.apiServer = { ...current.apiServer, ...withoutUndefined({ enabled: patch.apiServer.enabled, record: patch.apiServer.record }) };
        (changes as Record<string, unknown>).studio = next;
      }
      if (patch.apiServer?.port !== undefined) (changes as Record<string, unknown>).port = patch.apiServer.port;
      if (Object.keys(changes).length > 0) host.studio.updateSettings(changes);
      if (ENGINE_KEYS.some((k) => k in changes)) await host.applyEngineSettings();
      await announceSettings();
      return settings();
    },
    'settings.setFireworksKey': async ({ key }) => {
      if (key === null) await host.opts.secrets.delete(SECRET_NAMES.fireworksKey);
      else await host.opts.secrets.set(SECRET_NAMES.fireworksKey, key);
      await host.applyEngineSettings();
      await announceSettings();
      return { hasKey: key !== null };
    },
    'devices.list': async () => (await host.studio.devices()).map((d) => ({ provider: d.provider, available: d.available, bundled: d.provider === 'cpu' || d.available, note: d.note })),
    'apiServer.status': () => host.apiServerStatus(),
    'apiServer.start': async (p) => {
      const u = ui(host.studio.settings());
      await host.studio.startApiServer({ ...(await host.apiServerOptions(p?.port)), record: u.apiServer?.record ?? true });
      // Remembered: the server comes back on at the next start.
      host.studio.updateSettings({ studio: { ...u, apiServer: { ...u.apiServer, enabled: true } } } as Partial<UserConfig>);
      return host.apiServerStatus();
    },
    'apiServer.stop': async () => {
      await host.studio.stopApiServer();
      const u = ui(host.studio.settings());
      host.studio.updateSettings({ studio: { ...u, apiServer: { ...u.apiServer, enabled: false } } } as Partial<UserConfig>);
      return host.apiServerStatus();
    },
    'apiServer.token': async () => {
      const token = (await host.opts.apiToken?.()) ?? (await import('../../runtime/server/token.js')).ensureServerToken(host.studio.home).token;
      return { token };
    },
  };
}

function withoutUndefined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
