// `schnell generate "prompt" …`: one request through the API's request schema, then the local
// pipeline, then image files. Sizes: the server keeps to the contract's nine resolutions; local
// models here render any multiple of 16 from 16 to 4096 (tiny and demo models are tested small).
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, createGenerationRequest, resolveSeed, type GenerationRequest } from '../api/index.js';
import { readUserConfig } from '../engine/config.js';
import { openModelSet, type ModelSet } from '../flux/checkpoint.js';
import { checkImageSize, FluxPipeline, type GenerateResult, type Progress } from '../flux/pipeline.js';
import type { ImageFormat } from '../flux/pixels.js';
import { getInstalled, installedModelSource } from '../models/registry.js';
import { isSlug } from '../models/paths.js';
import type { Provider } from '../onnx/session.js';
import { writeFileAtomic } from '../util/files.js';
import { parseDevice } from './options.js';

const USAGE = `usage: schnell generate "prompt" [options]

  --negative-prompt TEXT   what to steer away from (only with --cfg-scale > 1)
  --width N --height N     image size, multiples of 16 (default 1024×1024)
  --steps N                denoising steps (default 4)
  --seed N                 0–4294967295; 0 or absent picks one (printed)
  --samples N              number of images; image i uses seed + i
  --sampler NAME           K_EULER (default) or K_DPMPP_2M
  --cfg-scale X            true classifier-free guidance scale (default 1: off)
  --model PATH|ID          model folder, checkpoint file or installed model id
                           (default: "model" in $SCHNELL_HOME/config.json)
  --device NAME            cpu (default), cuda, dml, coreml, webgpu — see \`schnell devices\`
  --format png|jpeg        image format (default: from --out's extension, else png)
  --jpeg-quality N         0–100 (default 90)
  --out PATH               a file (samples become NAME-1.png, NAME-2.png, …) or a folder
  --json                   print a JSON report on stdout`;

/** parseArgs options; other commands' helpers (backend choice, library recording) extend this set. */
export const GENERATE_OPTIONS = {
  'negative-prompt': { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  steps: { type: 'string' },
  seed: { type: 'string' },
  samples: { type: 'string' },
  sampler: { type: 'string' },
  'cfg-scale': { type: 'string' },
  model: { type: 'string' },
  device: { type: 'string' },
  format: { type: 'string' },
  'jpeg-quality': { type: 'string' },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface GenerateCommand {
  request: GenerationRequest;
  /** Where the model comes from (a path, or a spec for an in-place import). */
  model: string | Parameters<typeof openModelSet>[0];
  provider: Provider;
  out: string | undefined;
  json: boolean;
}

/** A user error: printed as one sentence, exit code 2. */
class UsageError extends Error {}

const FLAG: Record<string, string> = {
  negative_prompt: '--negative-prompt', cfg_scale: '--cfg-scale', jpegQuality: '--jpeg-quality', device: '--device',
  width: '--width', height: '--height', steps: '--steps', seed: '--seed', samples: '--samples', sampler: '--sampler', prompt: 'the prompt',
};

function number(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} must be a number, got ${JSON.stringify(value)}`);
  return n;
}

function formatOf(out: string | undefined, flag: string | undefined): ImageFormat {
  const ext = out ? path.extname(out).toLowerCase() : '';
  const fromExt: ImageFormat | undefined = ext === '.png' ? 'png' : ext === '.jpg' || ext === '.jpeg' ? 'jpeg' : undefined;
  if (flag === undefined) return fromExt ?? 'png';
  const f = flag.toLowerCase() === 'jpg' ? 'jpeg' : flag.toLowerCase();
  if (f !== 'png' && f !== 'jpeg') throw new UsageError(`--format must be png or jpeg, got ${JSON.stringify(flag)}`);
  if (fromExt && fromExt !== f) throw new UsageError(`--out ${out} ends in ${ext} but --format is ${f}; make them agree`);
  return f;
}

/** Turns argv into a validated request (the API's schema) plus where and how to run it. */
export function parseGenerateArgs(argv: string[]): GenerateCommand | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: GENERATE_OPTIONS });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values: v, positionals } = parsed;
  if (v.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'give the prompt, e.g. schnell generate "a lighthouse at dusk"' : `give the prompt as one argument (in quotes); got ${positionals.length} words`);
  const format = formatOf(v.out, v.format);
  const width = number(v.width, '--width') ?? 1024;
  const height = number(v.height, '--height') ?? 1024;
  let request: GenerationRequest;
  try {
    const sampler = v.sampler?.toUpperCase();
    request = createGenerationRequest({
      prompt: positionals[0]!,
      ...(v['negative-prompt'] !== undefined ? { negativePrompt: v['negative-prompt'] } : {}),
      ...opt('steps', number(v.steps, '--steps')),
      ...opt('seed', number(v.seed, '--seed')),
      ...opt('samples', number(v.samples, '--samples')),
      ...opt('cfgScale', number(v['cfg-scale'], '--cfg-scale')),
      ...(sampler !== undefined ? { sampler: sampler as GenerationRequest['sampler'] } : {}),
      ...opt('jpegQuality', number(v['jpeg-quality'], '--jpeg-quality')),
      outputFormat: format,
    }, { maxSamples: 64 });
    // The schema's resolution rule is the server's; a local model takes any multiple of 16.
    checkImageSize(width, height);
  } catch (e) {
    if (e instanceof ApiError) throw new UsageError(e.param && FLAG[e.param] ? `${e.message} (${FLAG[e.param]})` : e.message);
    throw e;
  }
  request = resolveSeed({ ...request, width, height });
  return { request, model: resolveModel(v.model), provider: parseDevice(v.device), out: v.out, json: v.json ?? false };
}

function opt<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

/** --model: a path, an installed model id, or the configured model. */
function resolveModel(flag: string | undefined): GenerateCommand['model'] {
  const chosen = flag ?? readUserConfig().model;
  if (!chosen) {
    throw new UsageError('no model is configured: install one with `schnell models`, or write the untrained demo model with `schnell demo-model --out DIR` and pass --model DIR');
  }
  if (!fs.existsSync(chosen) && isSlug(chosen) && getInstalled(chosen)) return installedModelSource(chosen);
  if (!fs.existsSync(chosen)) throw new UsageError(`--model ${chosen} does not exist (give a model folder, a .safetensors file or an installed model id)`);
  return path.resolve(chosen);
}

/** Output paths: a folder gets schnell-SEED.EXT per image; a file NAME.EXT gets NAME-1.EXT … for samples. */
export function outputPaths(out: string | undefined, images: { seed: number }[], format: ImageFormat): string[] {
  const ext = format === 'jpeg' ? '.jpg' : '.png';
  const isDir = out === undefined || out.endsWith('/') || out.endsWith(path.sep) || (fs.existsSync(out) && fs.statSync(out).isDirectory());
  if (isDir) return images.map((img) => path.resolve(out ?? '.', `schnell-${img.seed}${ext}`));
  const file = path.resolve(out!);
  if (images.length === 1) return [file];
  const stem = file.slice(0, file.length - path.extname(file).length);
  const fileExt = path.extname(file) || ext;
  return images.map((_, i) => `${stem}-${i + 1}${fileExt}`);
}

/** A one-line progress bar on stderr, redrawn in place (only on a terminal). */
function progressBar(): { update(p: Progress): void; done(): void } {
  let shown = false;
  return {
    update(p) {
      const width = 24;
      const total = p.steps * p.samples;
      const doneSteps = p.sample * p.steps + p.step;
      const filled = Math.round((doneSteps / total) * width);
      const image = p.samples > 1 ? `  image ${p.sample + 1}/${p.samples}` : '';
      process.stderr.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] step ${p.step}/${p.steps}${image}  seed ${p.seed}`);
      shown = true;
    },
    done() {
      if (shown) process.stderr.write('\n');
    },
  };
}

export interface GenerateOutcome {
  model: { name: string; untrained: boolean; device: Provider; fallbackReason?: string };
  result: GenerateResult;
}

/**
 * Runs the request on the local pipeline (loaded for this one command, then unloaded). This is
 * the step a `--backend local|cloud|auto` option replaces with the engine's router.
 */
export async function generateLocally(cmd: GenerateCommand, hooks: { signal?: AbortSignal; onProgress?: (p: Progress) => void; onNote?: (s: string) => void; onReady?: () => void } = {}): Promise<GenerateOutcome> {
  const { request } = cmd;
  const set: ModelSet = openModelSet(cmd.model);
  if (set.untrained) hooks.onNote?.(`"${set.name}" is UNTRAINED (random weights): its images are colour noise, not pictures.`);
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
    return { model: { name: set.name, untrained: set.untrained, device: provider, ...(fallbackReason ? { fallbackReason } : {}) }, result };
  } finally {
    await pipeline.unload();
  }
}

/** Writes the images (atomically) where --out says; returns their paths. Library recording hooks in after this. */
export function saveImages(out: string | undefined, images: GenerateResult['images'], format: ImageFormat): string[] {
  const files = outputPaths(out, images, format);
  images.forEach((img, i) => writeFileAtomic(files[i]!, img.bytes, { createFolder: true }));
  return files;
}

export async function run(argv: string[]): Promise<number> {
  let cmd: GenerateCommand | 'help';
  try {
    cmd = parseGenerateArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`schnell generate: ${e.message}`);
      return 2;
    }
    throw e;
  }
  if (cmd === 'help') {
    console.log(USAGE);
    return 0;
  }
  const { request, json } = cmd;
  const bar = process.stderr.isTTY && !json ? progressBar() : undefined;
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  let outcome: GenerateOutcome;
  try {
    outcome = await generateLocally(cmd, {
      signal: controller.signal,
      ...(bar ? { onProgress: (p: Progress) => bar.update(p) } : {}),
      ...(!json ? { onNote: (s: string) => console.error(`note: ${s}`), onReady: () => console.error(`seed: ${request.seed}`) } : {}),
    });
  } catch (e) {
    bar?.done();
    if ((e as Error).name === 'AbortError') {
      console.error('schnell generate: cancelled');
      return 130;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  bar?.done();

  const { model, result } = outcome;
  const files = saveImages(cmd.out, result.images, request.outputFormat);
  if (json) {
    console.log(JSON.stringify({
      model: model.name, untrained: model.untrained, device: model.device,
      ...(model.fallbackReason ? { fallbackReason: model.fallbackReason } : {}),
      seed: request.seed,
      images: result.images.map((img, i) => ({ index: img.index, seed: img.seed, path: files[i], format: img.format, width: img.width, height: img.height, bytes: img.bytes.length, finishReason: img.finishReason })),
      timings: result.timings,
    }, null, 2));
  } else {
    for (const [i, img] of result.images.entries()) console.log(`${files[i]}  (seed ${img.seed})`);
  }
  return 0;
}
