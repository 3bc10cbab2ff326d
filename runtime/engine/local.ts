// Building the engine from settings: the local backend (the FLUX pipeline, in a child process for
// the server), the cloud client, the safety model and the router. `createRouter` and
// `generateWithRouter` are what `schnell generate --backend …` and the studio call.
import { fileURLToPath } from 'node:url';
import type { GenerationRequest } from '../api/index.js';
import { createFireworksClient } from '../cloud/config.js';
import type { FireworksOptions } from '../cloud/fireworks.js';
import type { DeviceMemory } from '../models/fit.js';
import { schnellHome } from '../models/paths.js';
import { SafetyModel } from '../safety/classifier.js';
import { type BackendPolicy, readUserConfig } from './config.js';
import { type ModelSource, modelFolder, resolveModelSource } from './model-source.js';
import { type BackendSpec, ProcessBackend, loadBackend } from './process-backend.js';
import { Router } from './router.js';
import type { GenerateOptions, GenerationResult, LocalBackend, LocalCheck, LocalModelInfo } from './types.js';

/** The name a local model is served under unless the user picks another. */
export const DEFAULT_MODEL_NAME = 'flux-1-schnell-fp8';

export { modelFolder, modelSourcePath, type ModelSource } from './model-source.js';

export interface FluxBackendOptions {
  /**
   * A model-set folder, a single-file checkpoint, a diffusers folder, or explicit component paths
   * (a ModelSetSpec: how an installed in-place import is opened). Plain JSON either way.
   */
  modelPath: ModelSource;
  /** Execution provider ('cpu' default). */
  device?: string;
  /** The device's memory for the fit check, when the caller knows better than the OS (tests, the studio). */
  memory?: DeviceMemory;
}

const EXT = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

/** The spec that builds the FLUX backend (in this process or a child). */
export function fluxBackendSpec(opts: FluxBackendOptions): BackendSpec {
  return {
    module: fileURLToPath(new URL(`./flux-backend.${EXT}`, import.meta.url)),
    factory: 'createFluxBackend',
    options: { modelPath: resolveModelSource(opts.modelPath), device: opts.device ?? 'cpu', ...(opts.memory ? { memory: opts.memory } : {}) },
  };
}

/** Runs a backend in this process, built on first use (the CLI: one generation, no isolation needed). */
export class InProcessBackend implements LocalBackend {
  private backend: Promise<LocalBackend> | null = null;
  constructor(readonly spec: BackendSpec) {}
  private get(): Promise<LocalBackend> {
    return (this.backend ??= loadBackend(this.spec));
  }
  async check(): Promise<LocalCheck> {
    try {
      return await (await this.get()).check();
    } catch (err) {
      this.backend = null;
      return { ok: false, kind: 'model-missing', reason: (err as Error).message };
    }
  }
  async describe(): Promise<LocalModelInfo> {
    return (await this.get()).describe();
  }
  async generate(...args: Parameters<LocalBackend['generate']>): ReturnType<LocalBackend['generate']> {
    return (await this.get()).generate(...args);
  }
  async unload(): Promise<void> {
    const b = this.backend;
    this.backend = null;
    await b?.then((x) => x.unload()).catch(() => undefined);
  }
}

export function createLocalBackend(spec: BackendSpec, opts: { isolate?: boolean } = {}): LocalBackend {
  return opts.isolate === false ? new InProcessBackend(spec) : new ProcessBackend(spec);
}

export interface CreateRouterOptions {
  /** local | cloud | auto; default: config.json "backend", else auto. */
  backend?: BackendPolicy;
  /** Local model (a path or an in-place import's spec); default: config.json "model". Without one, only the cloud can serve. */
  modelPath?: ModelSource;
  device?: string;
  /** Served model name (default flux-1-schnell-fp8). */
  modelName?: string;
  /** Run the local model in a child process (default false here; the server uses true). */
  isolate?: boolean;
  /** A different local backend (tests, the studio). */
  localSpec?: BackendSpec;
  home?: string;
  env?: NodeJS.ProcessEnv;
  cloud?: FireworksOptions;
}

export async function createRouter(opts: CreateRouterOptions = {}): Promise<Router> {
  const env = opts.env ?? process.env;
  const home = opts.home ?? schnellHome(env);
  const config = readUserConfig(home);
  const modelPath = opts.modelPath ?? config.model;
  const device = opts.device ?? config.device;
  const spec = opts.localSpec ?? (modelPath ? fluxBackendSpec({ modelPath, ...(device ? { device } : {}) }) : null);
  const local = spec ? createLocalBackend(spec, { isolate: opts.isolate ?? false }) : null;
  const cloud = await createFireworksClient({ home, env, ...(opts.cloud ? { overrides: opts.cloud } : {}) });
  const modelDir = modelPath ? modelFolder(modelPath) : undefined;
  return new Router({
    policy: opts.backend ?? config.backend ?? 'auto',
    local,
    cloud,
    safety: new SafetyModel({ modelDir, home }),
    localModelName: opts.modelName ?? DEFAULT_MODEL_NAME,
  });
}

/** One generation with the user's settings; the router is unloaded afterwards. */
export async function generateWithRouter(request: GenerationRequest, opts: CreateRouterOptions & GenerateOptions = {}): Promise<GenerationResult> {
  const router = await createRouter(opts);
  try {
    return await router.generate(request, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    });
  } finally {
    await releaseRouter(router);
  }
}

/** Unloads what a router built by createRouter holds (the local model, the safety session). */
export async function releaseRouter(router: Router): Promise<void> {
  await router.local?.unload();
  await (router.safety as SafetyModel | null)?.release();
}
