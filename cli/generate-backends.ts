// The two ways `schnell generate` makes images, with one outcome shape for both:
// - generateLocally: the FLUX pipeline in this process (--backend local). A missing device moves
//   to the CPU with a note, as the CLI always has.
// - generateRouted: the engine's router (--backend cloud|auto), which serves locally when it can
//   and otherwise in the Fireworks cloud, and records which one served and why.
import { fitModelSet } from '../runtime/models/fit-model.js';
import { ApiError, type FinishReason, type ImageFormat } from '../runtime/api/index.js';
import type { BackendName, GenerationResult } from '../runtime/engine/types.js';
import { openModelSet, type ModelSet } from '../runtime/flux/checkpoints/checkpoint.js';
import { FluxPipeline, type Progress, type Timings } from '../runtime/flux/pipeline.js';
import type { GenerateCommand } from './generate-images.js';
import { UsageError } from './options.js';

export interface OutcomeImage {
  index: number;
  seed: number;
  bytes: Uint8Array;
  format: ImageFormat;
  width: number;
  height: number;
  finishReason: FinishReason;
}

export interface GenerateOutcome {
  /** Which backend made the images. */
  backend: BackendName;
  /**
   * The model that served and where: `device` is null for the cloud. `fallbackReason` says why it
   * did not run where it was asked to (another device, or the cloud instead of this machine).
   */
  model: { name: string; untrained: boolean; device: string | null; fallbackReason?: string };
  result: { images: OutcomeImage[]; timings: Timings | GenerationResult['timings'] };
  /** Milliseconds spent making the images: model time, or the cloud round trip. */
  durationMs: number;
}

/** What both backends report while they work (the pipeline's fields the progress bar needs). */
export type StepProgress = Pick<Progress, 'sample' | 'samples' | 'seed' | 'step' | 'steps'> & { backend?: BackendName };

export interface GenerateProgressHooks {
  signal?: AbortSignal;
  onProgress?: (p: StepProgress) => void;
  /** One-line notes for people (UNTRAINED model, device or backend fallback, who served). */
  onNote?: (s: string) => void;
  /** The model is ready and generation starts. */
  onReady?: () => void;
}

export const NO_MODEL = 'no model is configured: install one with `schnell models`, or write the untrained demo model with `schnell demo-model --out DIR` and pass --model DIR';
const NO_MODEL_OR_KEY = `${NO_MODEL}; or set FIREWORKS_API_KEY to generate in the Fireworks cloud`;

const untrainedNote = (name: string) => `"${name}" is UNTRAINED (random weights): its images are colour noise, not pictures.`;

/** Runs the request on the local pipeline (loaded for this one command, then unloaded). */
export async function generateLocally(cmd: GenerateCommand, hooks: GenerateProgressHooks = {}): Promise<GenerateOutcome> {
  const { request } = cmd;
  if (cmd.model === undefined) throw new UsageError('no local model to run (give --model)');
  const set: ModelSet = openModelSet(cmd.model);
  if (set.untrained) hooks.onNote?.(untrainedNote(set.name));
  const fit = await fitModelSet(set, { provider: cmd.provider, width: request.width, height: request.height });
  if (fit && !fit.fits) throw new Error(`${fit.message} (--backend cloud)`);
  const pipeline = await FluxPipeline.load(set, { provider: cmd.provider });
  if (pipeline.info.fallbackReason) hooks.onNote?.(pipeline.info.fallbackReason);
  try {
    hooks.onReady?.();
    const result = await pipeline.generate({
      prompt: request.prompt, negativePrompt: request.negativePrompt, width: request.width, height: request.height,
      steps: request.steps, seed: request.seed, samples: request.samples, sampler: request.sampler,
      cfgScale: request.cfgScale, format: request.outputFormat, ...(request.jpegQuality !== undefined ? { jpegQuality: request.jpegQuality } : {}),
    }, { ...(hooks.signal ? { signal: hooks.signal } : {}), ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}) });
    const { provider, fallbackReason } = pipeline.info;
    return {
      backend: 'local',
      model: { name: set.name, untrained: set.untrained, device: provider, ...(fallbackReason ? { fallbackReason } : {}) },
      result,
      durationMs: result.timings.wallMs,
    };
  } finally {
    await pipeline.unload();
  }
}

/**
 * Runs the request through the engine's router under cmd.backend (cloud or auto). Routing errors
 * (no key, nothing that can serve, the cloud refusing) are ApiErrors with a sentence for people.
 */
export async function generateRouted(cmd: GenerateCommand, hooks: GenerateProgressHooks = {}): Promise<GenerateOutcome> {
  // Loaded only here: a local run does not pay for the cloud client and the safety model.
  const { createRouter, releaseRouter } = await import('../runtime/engine/local.js');
  const { request } = cmd;
  const router = await createRouter({
    backend: cmd.backend,
    ...(cmd.model !== undefined ? { modelPath: cmd.model } : {}),
    device: cmd.provider,
    isolate: false,
  });
  try {
    if (cmd.backend === 'auto' && cmd.model === undefined && !router.cloudReady) {
      throw new UsageError(NO_MODEL_OR_KEY);
    }
    const plan = await router.plan(request);
    const local = plan.backend === 'local' ? await router.local!.describe() : undefined;
    if (local?.untrained) hooks.onNote?.(untrainedNote(local.name));
    hooks.onReady?.();
    const result = await router.run(request, plan, {
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onProgress
        ? { onProgress: (e) => hooks.onProgress!({ sample: e.image, samples: e.images, step: e.step, steps: e.steps, seed: (request.seed + e.image) % 2 ** 32, backend: e.backend }) }
        : {}),
    }).catch((err: unknown) => {
      // The router names why the cloud served only on success; on failure, say it here.
      if (plan.fallback && err instanceof ApiError) {
        throw new ApiError(err.status, `${plan.fallback.reason.replace(/\.$/, '')}; the cloud fallback failed too: ${err.message}`, err.param);
      }
      throw err;
    });
    const cloud = router.cloud?.describe();
    const served = result.backend === 'local' && local
      ? { name: local.name, untrained: local.untrained, device: local.device }
      : { name: result.model, untrained: false, device: null };
    const where = result.backend === 'local' ? `this machine ("${served.name}" on ${served.device})` : `the Fireworks cloud (${cloud?.baseUrl ?? 'unknown address'}, model ${result.model})`;
    hooks.onNote?.(result.fallback ? `served by ${where}, because the local model could not serve: ${result.fallback.reason}` : `served by ${where}`);
    return {
      backend: result.backend,
      model: { ...served, ...(result.fallback ? { fallbackReason: result.fallback.reason } : {}) },
      result: { images: await Promise.all(result.images.map(withSize)), timings: result.timings },
      durationMs: result.timings.engineMs,
    };
  } finally {
    await releaseRouter(router);
  }
}


/** The router's images carry no size; read it from the image itself (the cloud decides what it sends). */
async function withSize(img: GenerationResult['images'][number]): Promise<OutcomeImage> {
  const { default: sharp } = await import('sharp');
  const meta = await sharp(img.bytes).metadata();
  return { ...img, width: meta.width ?? 0, height: meta.height ?? 0 };
}

/** A one-line progress bar on stderr, redrawn in place (only on a terminal). */
export function progressBar(): { update(p: StepProgress): void; done(): void } {
  let shown = false;
  return {
    update(p) {
      const width = 24;
      const total = p.steps * p.samples;
      const doneSteps = p.sample * p.steps + p.step;
      const filled = Math.max(0, Math.min(width, Math.round((doneSteps / total) * width)));
      const image = p.samples > 1 ? `  image ${p.sample + 1}/${p.samples}` : '';
      const where = p.backend === 'cloud' ? '  (cloud)' : '';
      process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] step ${p.step}/${p.steps}${image}  seed ${p.seed}${where}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\n');
    },
  };
}
