// `schnell generate`'s arguments: every option through the API's one request schema (local sizes:
// any multiple of 16 from 16 to 4096; the cloud keeps to the contract's nine), the backend, the
// device and the model from the flags or config.json, and an --out checked before anything runs.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, createGenerationRequest, describeResolutions, isSupportedResolution, resolveSeed, type GenerationRequest, type ImageFormat } from '../runtime/api/index.js';
import { BACKEND_POLICIES, configFile, readUserConfig, type BackendPolicy, type UserConfig } from '../runtime/settings/index.js';
import { argsErrorMessage, joinDashValues, parseDevice, UsageError } from './options.js';
import { inFlagWords } from './usage.js';

export const NO_MODEL = 'no model is configured: install one with `schnell models`, or write the untrained demo model with `schnell demo-model --out DIR` and pass --model DIR';

export const USAGE = `usage: schnell generate "prompt" [options]

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
  --device NAME            cpu, cuda, dml, coreml, webgpu — see \`schnell devices\`; a device that
                           is not there is refused under local (auto goes to the cloud, saying why)
                           (default: "device" in config.json, else cpu)
  --format png|jpeg        image format (default: from --out's extension, else png)
  --jpeg-quality N         0–100 (default 90)
  --out PATH               a file (samples become NAME-1.png, NAME-2.png, …) or a folder; the
                           files carry their parameters (PNG text / JPEG comment)
  --json                   print a JSON report on stdout

library (records every image: a catalog row, and the file with its parameters embedded):
  --library DIR            record in the library in DIR (created if needed)
  --project NAME           file the images under project NAME; alone, records in the studio
                           library ($SCHNELL_HOME/library). With --json, each image gets its catalog "id".
                           When recording without --out, the library's files are the output.`;

const OPTIONS = {
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
  library: { type: 'string' },
  project: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface GenerateCommand {
  request: GenerationRequest;
  /** The model as given or configured (a path or an installed id); resolved by the studio core. */
  model: string | undefined;
  backend: BackendPolicy;
  device: string;
  out: string | undefined;
  json: boolean;
  /** --library DIR; with --project alone, the studio library; undefined: record nothing. */
  library: string | undefined | 'studio';
  project: string | undefined;
}

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

/** The format from --format and --out's extension; an extension we cannot write is refused, not ignored. */
function formatOf(out: string | undefined, flag: string | undefined): ImageFormat {
  const ext = out && !isFolderOut(out) ? path.extname(out).toLowerCase() : '';
  const fromExt: ImageFormat | undefined = ext === '.png' ? 'png' : ext === '.jpg' || ext === '.jpeg' ? 'jpeg' : undefined;
  if (ext && !fromExt) throw new UsageError(`--out ${out} ends in ${ext}, but generate writes PNG or JPEG files; end it in .png, .jpg or .jpeg`);
  if (flag === undefined) return fromExt ?? 'png';
  const f = flag.toLowerCase() === 'jpg' ? 'jpeg' : flag.toLowerCase();
  if (f !== 'png' && f !== 'jpeg') throw new UsageError(`--format must be png or jpeg, got ${JSON.stringify(flag)}`);
  if (fromExt && fromExt !== f) throw new UsageError(`--out ${out} ends in ${ext} but --format is ${f}; make them agree`);
  return f;
}

/** Turns argv into a validated request plus where and how to run it. */
export function parseGenerateArgs(argv: string[]): GenerateCommand | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: joinDashValues(argv, OPTIONS), allowPositionals: true, options: OPTIONS });
  } catch (e) {
    throw new UsageError(argsErrorMessage(e as Error, 'generate'));
  }
  const { values: v, positionals } = parsed;
  if (v.help) return 'help';
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'give the prompt, e.g. schnell generate "a lighthouse at dusk"' : `give the prompt as one argument (in quotes); got ${positionals.length} words`);
  if (v.library !== undefined && v.library.trim() === '') throw new UsageError('--library needs a folder, e.g. --library ~/Pictures/schnell');
  const format = formatOf(v.out, v.format);
  let request: GenerationRequest;
  try {
    const sampler = v.sampler?.toUpperCase();
    request = createGenerationRequest({
      prompt: positionals[0]!,
      ...(v['negative-prompt'] !== undefined ? { negativePrompt: v['negative-prompt'] } : {}),
      ...opt('width', number(v.width, '--width')),
      ...opt('height', number(v.height, '--height')),
      ...opt('steps', number(v.steps, '--steps')),
      ...opt('seed', number(v.seed, '--seed')),
      ...opt('samples', number(v.samples, '--samples')),
      ...opt('cfgScale', number(v['cfg-scale'], '--cfg-scale')),
      ...(sampler !== undefined ? { sampler: sampler as GenerationRequest['sampler'] } : {}),
      ...opt('jpegQuality', number(v['jpeg-quality'], '--jpeg-quality')),
      outputFormat: format,
    }, { maxSamples: 64, localSizes: true });
  } catch (e) {
    if (e instanceof ApiError) throw new UsageError(inFlagWords(e.message, e.param, FLAG));
    throw e;
  }
  checkOutWritable(v.out);
  request = resolveSeed(request);
  const config = readUserConfig();
  const backend = chooseBackend(v.backend, config, v.model);
  if (backend === 'cloud' && !isSupportedResolution(request.width, request.height)) {
    throw new UsageError(`the cloud renders only ${describeResolutions()}; ${request.width}x${request.height} is not one of them (--width, --height)`);
  }
  const model = backend === 'cloud' ? undefined : (v.model ?? config.model);
  if (model === undefined && backend === 'local') throw new UsageError(NO_MODEL);
  return {
    request, backend, model, device: chooseDevice(v.device, config), out: v.out, json: v.json ?? false,
    library: v.library ?? (v.project !== undefined ? 'studio' : undefined), project: v.project,
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
function chooseDevice(flag: string | undefined, config: UserConfig): string {
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

function isFolderOut(out: string): boolean {
  return out.endsWith('/') || out.endsWith(path.sep) || (fs.existsSync(out) && fs.statSync(out).isDirectory());
}

/**
 * Refuses an --out that cannot be written before any generating: a file where a folder must be, or
 * a folder this user may not write in (the nearest one that exists decides).
 */
function checkOutWritable(out: string | undefined): void {
  if (out === undefined) return;
  let p = isFolderOut(out) ? path.resolve(out) : path.dirname(path.resolve(out));
  while (!fs.existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
  if (fs.existsSync(p) && !fs.statSync(p).isDirectory()) throw new UsageError(`--out ${out} cannot be written: ${p} is a file, not a folder`);
  try {
    fs.accessSync(p, fs.constants.W_OK);
  } catch {
    throw new UsageError(`--out ${out} cannot be written: you may not write in ${p}; choose another --out`);
  }
}

/** Output paths: a folder gets schnell-SEED.EXT per image; a file NAME.EXT gets NAME-1.EXT … for samples. */
export function outputPaths(out: string | undefined, images: { seed: number }[], format: ImageFormat): string[] {
  const ext = format === 'jpeg' ? '.jpg' : '.png';
  if (out === undefined || isFolderOut(out)) return images.map((img) => path.resolve(out ?? '.', `schnell-${img.seed}${ext}`));
  const file = path.resolve(out);
  if (images.length === 1) return [file];
  const stem = file.slice(0, file.length - path.extname(file).length);
  const fileExt = path.extname(file) || ext;
  return images.map((_, i) => `${stem}-${i + 1}${fileExt}`);
}
