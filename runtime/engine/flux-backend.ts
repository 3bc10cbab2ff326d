// The real local backend: FluxPipeline on the user's model set. The pipeline loads on the first
// generation and stays loaded; `check` only looks at the files (cheap, on every request), so a model
// removed from disk is noticed before anything is tried. A requested device that is not there, or
// that fails to load the model, is a `provider-failed` error: the router then falls back to the
// cloud under `auto` and says so under `local` — the model is never quietly moved to the CPU.
import fs from 'node:fs';
import path from 'node:path';
import type { GenerationRequest } from '../api/index.js';
import { type ModelSet, openModelSet } from '../flux/checkpoints/checkpoint.js';
import type { FluxPipeline, Progress, StageEvent } from '../flux/pipeline.js';
import { BackendError, type BackendOutput, type LocalBackend, type LocalCheck, type LocalModelInfo, type ProgressEvent, abortError } from './types.js';
import type { FluxBackendOptions } from './local.js';
import { type ModelSource, modelSourcePath, resolveModelSource } from './model-source.js';

type Provider = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';

export function createFluxBackend(opts: FluxBackendOptions): LocalBackend {
  return new FluxBackend(opts);
}

export class FluxBackend implements LocalBackend {
  private modelSet: { set: ModelSet; stamp: string } | null = null;
  private pipeline: Promise<FluxPipeline> | null = null;
  /** A path, or the component paths of an in-place import. */
  readonly modelPath: ModelSource;
  readonly device: string;
  private readonly memory: FluxBackendOptions['memory'];

  constructor(opts: FluxBackendOptions) {
    this.modelPath = resolveModelSource(opts.modelPath);
    this.device = opts.device ?? 'cpu';
    this.memory = opts.memory;
  }

  /** Size and mtime of every file: a changed file means a different model (reopen, reload). */
  private stamp(files: string[]): string | null {
    try {
      return files.map((f) => {
        const st = fs.statSync(f);
        return `${f}:${st.size}:${st.mtimeMs}`;
      }).join('|');
    } catch {
      return null;
    }
  }

  private openSet(): ModelSet {
    if (this.modelSet) {
      const stamp = this.stamp(this.modelSet.set.files);
      if (stamp === this.modelSet.stamp) return this.modelSet.set;
      // Removed or replaced on disk: forget the loaded sessions too.
      this.modelSet = null;
      void this.unload();
    }
    let set: ModelSet;
    try {
      set = openModelSet(this.modelPath);
    } catch (err) {
      throw new BackendError('model-missing', firstLine(err));
    }
    this.modelSet = { set, stamp: this.stamp(set.files) ?? '' };
    return set;
  }

  private async deviceProblem(): Promise<string | null> {
    if (this.device === 'cpu') return null;
    const { listDevices } = await import('../onnx/session.js');
    const dev = listDevices().find((d) => d.provider === this.device);
    if (!dev) return `'${this.device}' is not a device this runtime knows (use cpu, cuda, dml, coreml or webgpu)`;
    if (!dev.available) return `the ${this.device} device is not available here (${dev.note})`;
    return null;
  }

  async check(): Promise<LocalCheck> {
    try {
      this.openSet();
    } catch (err) {
      return { ok: false, kind: 'model-missing', reason: (err as Error).message };
    }
    const problem = await this.deviceProblem();
    if (problem) return { ok: false, kind: 'provider-failed', reason: problem };
    return { ok: true };
  }

  async describe(): Promise<LocalModelInfo> {
    const set = this.openSet();
    const where = modelSourcePath(this.modelPath);
    const dir = fs.statSync(where).isDirectory() ? where : path.dirname(where);
    const safety = path.join(dir, 'safety.onnx');
    return {
      name: set.name,
      path: where,
      files: set.files,
      device: this.device,
      untrained: set.untrained,
      ...(fs.existsSync(safety) ? { safetyModel: safety } : {}),
    };
  }

  /** From this machine's measured speed (speed.json beside the graph cache); loads nothing. */
  async estimateMs(request: GenerationRequest): Promise<number | undefined> {
    const set = this.openSet();
    const { estimateRequestMs } = await import('../flux/speed.js');
    return estimateRequestMs(set, { ...request, provider: this.device });
  }

  private fitted = new Set<string>();
  /** Where the pipeline's loading events go while a request waits for the load. */
  private onStage: ((e: StageEvent) => void) | undefined;

  /** Before loading (and per new size): will the model fit the device? If not, say so — the router offers the cloud. */
  private async checkFit(width: number, height: number): Promise<void> {
    const set = this.openSet();
    const key = `${width}x${height}`;
    if (this.fitted.has(key)) return;
    const { fitModelSet } = await import('../models/fit-model.js');
    const fit = await fitModelSet(set, { provider: this.device, width, height, ...(this.memory ? { device: this.memory } : {}) });
    if (fit && !fit.fits) throw new BackendError('out-of-memory', fit.message);
    this.fitted.add(key);
  }

  private load(): Promise<FluxPipeline> {
    if (!this.pipeline) {
      const set = this.openSet();
      this.pipeline = (async () => {
        const problem = await this.deviceProblem();
        if (problem) throw new BackendError('provider-failed', problem);
        const { FluxPipeline } = await import('../flux/pipeline.js');
        let pipeline: FluxPipeline;
        try {
          pipeline = await FluxPipeline.load(set, { provider: this.device as Provider, onStage: (e) => this.onStage?.(e) });
        } catch (err) {
          throw classifyLoadError(err);
        }
        if (pipeline.info.fallbackReason) {
          await pipeline.unload();
          throw new BackendError('provider-failed', pipeline.info.fallbackReason.replace(/; using the CPU$/, ''));
        }
        return pipeline;
      })();
      this.pipeline.catch(() => (this.pipeline = null));
    }
    return this.pipeline;
  }

  async generate(
    request: GenerationRequest,
    opts: { signal?: AbortSignal; onProgress?: (e: Omit<ProgressEvent, 'backend'>) => void } = {},
  ): Promise<BackendOutput> {
    if (opts.signal?.aborted) throw abortError();
    await this.checkFit(request.width, request.height);
    const stageEvent = (e: StageEvent) => opts.onProgress?.({
      step: e.step !== undefined ? e.step - 1 : 0, steps: request.steps, image: e.image ?? 0, images: request.samples,
      stage: e.stage, message: e.message, elapsedMs: e.elapsedMs,
      ...(e.component ? { component: e.component } : {}), ...(e.bytes !== undefined ? { bytes: e.bytes } : {}),
      ...(e.expectedMs !== undefined ? { expectedMs: e.expectedMs } : {}), ...(e.etaMs !== undefined ? { etaMs: e.etaMs } : {}),
      ...(e.fraction !== undefined ? { fraction: e.fraction } : {}),
    });
    this.onStage = stageEvent;
    const pipeline = await this.load().finally(() => (this.onStage = undefined));
    const previews = previewSchedule();
    const result = await pipeline.generate(
      {
        prompt: request.prompt,
        negativePrompt: request.negativePrompt,
        width: request.width,
        height: request.height,
        steps: request.steps,
        seed: request.seed,
        samples: request.samples,
        sampler: request.sampler,
        cfgScale: request.cfgScale,
        format: request.outputFormat,
        ...(request.jpegQuality !== undefined ? { jpegQuality: Math.max(1, request.jpegQuality) } : {}),
      },
      {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: (p: Progress) => stepEvent(p, previews, opts.onProgress!), onStage: stageEvent } : {}),
      },
    );
    return {
      images: result.images.map((img) => ({
        bytes: new Uint8Array(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength),
        seed: img.seed,
        index: img.index,
        finishReason: img.finishReason,
        format: img.format,
      })),
      engineMs: result.timings.wallMs,
      stages: result.timings.stages,
    };
  }

  async unload(): Promise<void> {
    const p = this.pipeline;
    this.pipeline = null;
    await p?.then((x) => x.unload()).catch(() => undefined);
  }
}

/**
 * A preview costs an unpack, a colour map and a PNG encode (about 8 ms for the 128×128 px, ~50 KB
 * preview of a 1024² image on a loaded 2-core machine), the step waits for it, and then it crosses
 * two processes and the UI's transport. A demo-model step at 1024² takes ~60 ms there, so a preview
 * on every step would spend a good part of a quick run on PNGs nobody can follow at that pace: the
 * first step of a request has one (something shows at once), then at most one every
 * PREVIEW_EVERY_MS. Steps slower than that (a full-size model: seconds each) each get theirs.
 */
export const PREVIEW_EVERY_MS = 500;

function previewSchedule(everyMs = PREVIEW_EVERY_MS): () => boolean {
  let last = -Infinity;
  return () => {
    const now = performance.now();
    if (now - last < everyMs) return false;
    last = now;
    return true;
  };
}

/** A pipeline step as the engine's progress event, with a preview when one is due. */
function stepEvent(p: Progress, due: () => boolean, emit: (e: Omit<ProgressEvent, 'backend'>) => void): void | Promise<void> {
  const e = { step: p.step, steps: p.steps, image: p.sample, images: p.samples };
  if (!due()) return emit(e);
  return p.preview().then(
    // A copy of just the PNG (a Buffer may share a larger pool), to cross to the parent process as bytes.
    (png) => emit({ ...e, preview: new Uint8Array(png) }),
    () => emit(e), // a preview that fails to encode is not worth failing the image for
  );
}

function classifyLoadError(err: unknown): BackendError {
  const message = firstLine(err);
  if (/out of memory|bad_alloc|failed to allocate|ENOMEM/i.test(message)) return new BackendError('out-of-memory', `the local device ran out of memory loading the model (${message})`);
  if (/does not exist|cannot be used|ENOENT|no such file/i.test(message)) return new BackendError('model-missing', message);
  return new BackendError('provider-failed', `the local model could not be loaded: ${message}`);
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.slice(0, 400);
}
