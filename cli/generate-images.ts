// `schnell generate "prompt" …`: one request through the API's request schema, then a backend
// (the local pipeline in this process, or the engine's router for --backend cloud|auto), then image
// files. Sizes: the server and the cloud keep to the contract's nine resolutions; local models here
// render any multiple of 16 from 16 to 4096 (tiny and demo models are tested small).
// `runGenerate(argv, hooks)` lets the composition root (cli/generate.ts) add options and act on the
// saved images — recording them in the studio library — without runtime/ importing main/.
import fs from 'node:fs';
import path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { ApiError, createGenerationRequest, describeResolutions, isSupportedResolution, resolveSeed, type GenerationRequest } from '../runtime/api/index.js';
import { BACKEND_POLICIES, configFile, readUserConfig, type BackendPolicy, type UserConfig } from '../runtime/engine/config.js';
import type { ModelSource } from '../runtime/engine/model-source.js';
import { checkImageSize } from '../runtime/flux/pipeline.js';
import type { ImageFormat } from '../runtime/flux/sampling/pixels.js';
import { getInstalled, installedModelSource } from '../runtime/models/registry.js';
import { isSlug } from '../runtime/models/paths.js';
import type { Provider } from '../runtime/onnx/session.js';
import { writeFileAtomic } from '../runtime/util/files.js';
import { generateLocally, generateRouted, NO_MODEL, progressBar, type GenerateOutcome, type StepProgress } from './generate-backends.js';
import { argsErrorMessage, joinDashValues, parseDevice, UsageError } from './options.js';

export { generateLocally, generateRouted, type GenerateOutcome, type OutcomeImage } from './generate-backends.js';

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
  --backend local|cloud|auto
                           local: this machine only; cloud: Fireworks only (needs FIREWORKS_API_KEY
                           or a saved key; the nine API sizes only); auto: this machine, else the
                           cloud, saying why. Default: "backend" in config.json, else local when a
                           model is given or configured, else auto
  --device NAME            cpu, cuda, dml, coreml, webgpu — see \`schnell devices\`
                           (default: "device" in config.json, else cpu)
  --format png|jpeg        image format (default: from --out's extension, else png)
  --jpeg-quality N         0–100 (default 90)
  --out PATH               a file (samples become NAME-1.png, NAME-2.png, …) or a folder
  --json                   print a JSON report on stdout`;

/** parseArgs options; runGenerate's `extraOptions` extend this set (cli/generate.ts: --library, --project). */
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
  backend: { type: 'string' },
  device: { type: 'string' },
  format: { type: 'string' },
  'jpeg-quality': { type: 'string' },
  out: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface GenerateCommand {
  request: GenerationRequest;
  /**
   * Where the model comes from (a path, or a spec for an in-place import). Absent when only the
   * cloud can serve; under auto it may name a path that does not exist (the router falls back).
   */
  model: ModelSource | undefined;
  backend: BackendPolicy;
  provider: Provider;
  out: string | undefined;
  json: boolean;
  /** Every parsed option, those added by hooks included. */
  values: OptionValues;
}

export { UsageError as GenerateUsageError };


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
export function parseGenerateArgs(argv: string[], extraOptions: ParseArgsConfig['options'] = {}): GenerateCommand | 'help' {
  let parsed;
  // The command's own options win over an extra one of the same name.
  const options = { ...extraOptions, ...GENERATE_OPTIONS } as typeof GENERATE_OPTIONS;
  try {
    parsed = parseArgs({ args: joinDashValues(argv, options), allowPositionals: true, options });
  } catch (e) {
    throw new UsageError(argsErrorMessage(e as Error, 'generate'));
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
  checkOutFolder(v.out);
  request = resolveSeed({ ...request, width, height });
  const config = readUserConfig();
  const backend = chooseBackend(v.backend, config, v.model);
  if (backend === 'cloud' && !isSupportedResolution(width, height)) {
    throw new UsageError(`the cloud renders only ${describeResolutions()}; ${width}x${height} is not one of them (--width, --height)`);
  }
  return {
    request, backend, model: resolveModel(v.model, config, backend), provider: chooseDevice(v.device, config),
    out: v.out, json: v.json ?? false, values: v as OptionValues,
  };
}

/** --backend, else config.json's "backend", else local when there is a model to run, else auto. */
function chooseBackend(flag: string | undefined, config: UserConfig, modelFlag: string | undefined): BackendPolicy {
  if (flag !== undefined) {
    const b = flag.trim().toLowerCase() as BackendPolicy;
    if (!BACKEND_POLICIES.includes(b)) throw new UsageError(`--backend must be local, cloud or auto, got ${JSON.stringify(flag)}`);
    return b;
  }
  return config.backend ?? (modelFlag !== undefined || config.model ? 'local' : 'auto');
}

/** --device, else config.json's "device", else the CPU. */
function chooseDevice(flag: string | undefined, config: UserConfig): Provider {
  const fromConfig = flag === undefined && config.device !== undefined;
  try {
    return parseDevice(fromConfig ? String(config.device) : flag);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    throw new UsageError(fromConfig ? `${configFile()}: "device" ${e.message.replace(/^--device /, '')}` : e.message);
  }
}

function opt<K extends string>(key: K, value: number | undefined): Partial<Record<K, number>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, number>);
}

/**
 * --model: a path, an installed model id, or the configured model. The cloud needs none; auto
 * runs without one (cloud only) and passes a missing path on, so the router can say why it fell back.
 */
function resolveModel(flag: string | undefined, config: UserConfig, backend: BackendPolicy): GenerateCommand['model'] {
  if (backend === 'cloud') return undefined;
  const chosen = flag ?? config.model;
  if (!chosen) {
    if (backend === 'local') throw new UsageError(NO_MODEL);
    return undefined;
  }
  if (!fs.existsSync(chosen) && isSlug(chosen) && getInstalled(chosen)) return installedModelSource(chosen);
  if (!fs.existsSync(chosen) && backend === 'local') throw new UsageError(`--model ${chosen} does not exist (give a model folder, a .safetensors file or an installed model id)`);
  return path.resolve(chosen);
}

/**
 * Refuses an --out whose folder cannot exist (a file stands where a folder must be) before any
 * generating, rather than losing the images at the end.
 */
function checkOutFolder(out: string | undefined): void {
  if (out === undefined) return;
  const asFolder = out.endsWith('/') || out.endsWith(path.sep) || (fs.existsSync(out) && fs.statSync(out).isDirectory());
  let p = asFolder ? path.resolve(out) : path.dirname(path.resolve(out));
  while (!fs.existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) throw new UsageError(`--out ${out} cannot be written: ${p} is a file, not a folder`);
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


/** Writes the images (atomically) where --out says; returns their paths. */
export function saveImages(out: string | undefined, images: { seed: number; bytes: Uint8Array }[], format: ImageFormat): string[] {
  const files = outputPaths(out, images, format);
  images.forEach((img, i) => writeFileAtomic(files[i]!, img.bytes, { createFolder: true }));
  return files;
}

/** Extra fields for each image of the --json report (e.g. its catalog id), in image order. */
export type ImageExtras = (Record<string, unknown> | undefined)[];

/** How another command module extends `generate` (cli/generate.ts adds --library and --project). */
export interface RunGenerateHooks {
  /** More options, parsed with the command's own (which win on a clash). */
  extraOptions?: ParseArgsConfig['options'];
  /** Lines appended to the usage text. */
  extraUsage?: string;
  /** After the arguments are checked, before anything is generated: open what afterSave needs, refuse bad values (throw GenerateUsageError for exit code 2). */
  prepare?(cmd: GenerateCommand): void | Promise<void>;
  /** After the images are written to `files`; may return per-image fields for the --json report. */
  afterSave?(outcome: GenerateOutcome, files: string[], request: GenerationRequest): ImageExtras | void | Promise<ImageExtras | void>;
  /** At the end, whatever happened (after prepare ran). */
  close?(): void | Promise<void>;
}

export function run(argv: string[]): Promise<number> {
  return runGenerate(argv);
}

export async function runGenerate(argv: string[], hooks: RunGenerateHooks = {}): Promise<number> {
  let cmd: GenerateCommand | 'help';
  try {
    cmd = parseGenerateArgs(argv, hooks.extraOptions);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    throw e;
  }
  if (cmd === 'help') {
    console.log(hooks.extraUsage ? `${USAGE}\n${hooks.extraUsage.replace(/^\n+/, '')}` : USAGE);
    return 0;
  }
  try {
    await hooks.prepare?.(cmd);
    return await generateAndSave(cmd, hooks);
  } catch (e) {
    if (e instanceof UsageError) return usageError(e);
    // Routing refusals (no key, nothing can serve, the cloud said no) are sentences, not bugs.
    if (e instanceof ApiError) {
      console.error(`schnell generate: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    await hooks.close?.();
  }
}

function usageError(e: Error): number {
  console.error(`schnell generate: ${e.message}`);
  return 2;
}

async function generateAndSave(cmd: GenerateCommand, hooks: RunGenerateHooks): Promise<number> {
  const { request, json } = cmd;
  const bar = process.stderr.isTTY && !json ? progressBar() : undefined;
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  let outcome: GenerateOutcome;
  try {
    const generate = cmd.backend === 'local' ? generateLocally : generateRouted;
    outcome = await generate(cmd, {
      signal: controller.signal,
      ...(bar ? { onProgress: (p: StepProgress) => bar.update(p) } : {}),
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
  let files: string[];
  try {
    files = saveImages(cmd.out, result.images, request.outputFormat);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (!err.code) throw e;
    // "EACCES: permission denied, open '/x/.tmp-…'" → "permission denied (EACCES)"
    const why = err.message.replace(/^E[A-Z]+: /, '').replace(/,.*$/s, '');
    console.error(`schnell generate: could not write the image${result.images.length > 1 ? 's' : ''} to ${path.resolve(cmd.out ?? '.')}: ${why} (${err.code}); choose another --out`);
    return 1;
  }
  const extras = (await hooks.afterSave?.(outcome, files, request)) ?? [];
  if (json) {
    console.log(JSON.stringify({
      model: model.name, untrained: model.untrained, device: model.device, backend: outcome.backend,
      ...(model.fallbackReason ? { fallbackReason: model.fallbackReason } : {}),
      seed: request.seed,
      images: result.images.map((img, i) => ({
        index: img.index, seed: img.seed, path: files[i], format: img.format, width: img.width, height: img.height,
        bytes: img.bytes.length, finishReason: img.finishReason, ...extras[i],
      })),
      timings: result.timings,
    }, null, 2));
  } else {
    for (const [i, img] of result.images.entries()) console.log(`${files[i]}  (seed ${img.seed})`);
  }
  return 0;
}
