// A complete FLUX model: transformer, autoencoder, T5, CLIP, both tokenizers and the config the
// weights cannot show. Three on-disk forms lead here — our own model folder (`schnell-model.json`),
// a ComfyUI single file with tokenizer folders beside it, a diffusers folder — plus an explicit
// spec of paths. Each is first turned into a plan (which files hold what); opening and detecting
// both work from the plan, and every missing piece is named in one error.
import fs from 'node:fs';
import path from 'node:path';
import type { Weights } from '../../onnx/tensor-source.js';
import { DEFAULT_MODEL_CONFIG, resolveModelConfig, type ModelConfig } from '../model-config.js';
import { CheckpointError, readSafetensorsHeader } from './safetensors.js';
import { COMPONENT_KINDS, COMPONENT_LABEL, findComponents, type ComponentKind } from './layouts.js';
import { CheckpointWeights, readTensorSource, weightFilesOf, weightsFrom, type TensorSource } from './component.js';
import { resolveInside, UnsafePathError } from '../../util/paths.js';
import { NotRegularFileError, readRegularFileSync } from '../../util/regular-file.js';

export const MODEL_SET_MANIFEST = 'schnell-model.json';

export interface ModelSet {
  name: string;
  /** Random weights (the demo model): label every image and screen that shows it. */
  untrained: boolean;
  transformer: Weights;
  autoencoder: Weights;
  t5: Weights;
  clip: Weights;
  /** Tokenizer folders: CLIP (vocab.json + merges.txt, or tokenizer.json), T5 (tokenizer.json or spiece.model). */
  tokenizers: { clip: string; t5: string };
  config: ModelConfig;
  /** Every file the model set reads (weights, configs, manifest), absolute. */
  files: string[];
  /** Which form it was opened from. */
  source: ModelSetSource;
}

export type ModelSetSource = 'model-set-folder' | 'comfyui-single-file' | 'diffusers-folder' | 'spec';

/** Explicit paths. Components left out are looked for in the transformer file (a ComfyUI single file). */
export interface ModelSetSpec {
  name?: string;
  untrained?: boolean;
  transformer: string;
  autoencoder?: string;
  t5?: string;
  clip?: string;
  clipTokenizer?: string;
  t5Tokenizer?: string;
  /** A JSON file holding {axes_dim, theta, scale_factor, shift_factor}, or those values. */
  config?: string | Partial<Record<keyof ModelConfig, unknown>>;
}

const HINT: Record<ComponentKind | 'clipTokenizer' | 't5Tokenizer', string> = {
  transformer: 'the transformer (e.g. flux1-schnell.safetensors)',
  autoencoder: 'the autoencoder (ae.safetensors)',
  t5: 'the T5 text encoder (e.g. t5xxl_fp16.safetensors, or a text_encoder_2/ folder)',
  clip: 'the CLIP text encoder (e.g. clip_l.safetensors, or a text_encoder/ folder)',
  clipTokenizer: 'the CLIP tokenizer folder (vocab.json + merges.txt, e.g. tokenizer/)',
  t5Tokenizer: 'the T5 tokenizer folder (tokenizer.json or spiece.model, e.g. tokenizer_2/)',
};

/** Which files hold each part; produced from any of the accepted forms. */
export interface ModelSetPlan {
  source: ModelSetSource;
  /** The folder or file it was opened from (the transformer's path for a spec). */
  path: string;
  name: string;
  untrained: boolean;
  components: Partial<Record<ComponentKind, { files: string[]; src: TensorSource }>>;
  tokenizers: { clip?: string; t5?: string };
  config: ModelConfig;
  /** Manifest and config files read. */
  extraFiles: string[];
  /** What is missing, by id (`t5`, `clip_tokenizer`, …), and a sentence for each. */
  missing: string[];
  problems: string[];
  /** The errors behind problems that came from unreadable files. */
  errors: CheckpointError[];
}

function readJsonObject(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readRegularFileSync(file, 'model description', 'utf8'));
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new CheckpointError(`${e.message}.`, file);
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : e instanceof SyntaxError ? 'is not valid JSON' : `cannot be read (${(e as Error).message})`;
    throw new CheckpointError(`${file} ${why}.`, file);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CheckpointError(`${file} must hold a JSON object.`, file);
  return json as Record<string, unknown>;
}

function modelConfig(overrides: Partial<Record<keyof ModelConfig, unknown>>, source: string, file: string): ModelConfig {
  try {
    return resolveModelConfig(overrides, source);
  } catch (e) {
    throw new CheckpointError(`${(e as Error).message}.`, file);
  }
}

/** Why a tokenizer folder cannot be used, or undefined when it can. */
function tokenizerProblem(kind: 'clip' | 't5', dir: string): string | undefined {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return `the ${kind === 'clip' ? 'CLIP' : 'T5'} tokenizer folder ${dir} does not exist`;
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (kind === 'clip' && !has('tokenizer.json') && !(has('vocab.json') && has('merges.txt'))) {
    return `the CLIP tokenizer folder ${dir} lacks ${has('vocab.json') ? 'merges.txt' : has('merges.txt') ? 'vocab.json' : 'vocab.json and merges.txt'}`;
  }
  if (kind === 't5' && !has('tokenizer.json') && !has('spiece.model')) return `the T5 tokenizer folder ${dir} lacks tokenizer.json (or spiece.model)`;
  return undefined;
}

/** Plans a spec: explicit paths, the rest looked for in the transformer file. */
function planSpec(spec: ModelSetSpec, source: ModelSetSource, base: Partial<ModelSetPlan> = {}): ModelSetPlan {
  const plan: ModelSetPlan = {
    source, path: base.path ?? path.resolve(spec.transformer ?? '.'), name: spec.name ?? base.name ?? '', untrained: spec.untrained ?? false,
    components: {}, tokenizers: {}, config: base.config ?? { ...DEFAULT_MODEL_CONFIG }, extraFiles: base.extraFiles ?? [], missing: [], problems: [], errors: [],
  };
  const sources = new Map<string, TensorSource>();
  const failed = new Set<string>();
  // A file that cannot be read is one problem among the others, so the error can name them all.
  const load = (p: string, kind: ComponentKind) => {
    try {
      const files = weightFilesOf(p);
      const key = files.join('\n');
      if (!sources.has(key)) sources.set(key, readTensorSource(files));
      return { files, src: sources.get(key)! };
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      if (!failed.has(e.message)) {
        failed.add(e.message);
        plan.errors.push(e);
        plan.problems.push(e.message.replace(/\.$/, ''));
      }
      plan.missing.push(kind);
      return undefined;
    }
  };
  const main = spec.transformer ? load(spec.transformer, 'transformer') : undefined;
  const inMain = main ? findComponents(main.src.tensors.keys()).map((c) => c.kind) : [];
  for (const kind of COMPONENT_KINDS) {
    const given = spec[kind];
    if (kind === 'transformer' && main) plan.components.transformer = main;
    else if (given && kind !== 'transformer') {
      const part = load(given, kind);
      if (part) plan.components[kind] = part;
    } else if (main && inMain.includes(kind)) plan.components[kind] = main;
    else if (spec.transformer && !main) continue; // the unreadable transformer file was already named
    else {
      plan.missing.push(kind);
      plan.problems.push(`no ${COMPONENT_LABEL[kind]}: give ${HINT[kind]}`);
    }
  }
  if (main && COMPONENT_KINDS.some((k) => !spec[k] && !inMain.includes(k))) {
    const held = inMain.map((k) => `the ${COMPONENT_LABEL[k]}`).join(', ');
    plan.problems.unshift(`${main.files.length === 1 ? main.files[0] : path.dirname(main.files[0]!)} holds ${held || 'no FLUX component'}${inMain.length ? ' only' : ''}`);
  }
  for (const [kind, given, id] of [['clip', spec.clipTokenizer, 'clipTokenizer'], ['t5', spec.t5Tokenizer, 't5Tokenizer']] as const) {
    if (!given) {
      plan.missing.push(`${kind}_tokenizer`);
      plan.problems.push(`no ${kind === 'clip' ? 'CLIP' : 'T5'} tokenizer: give ${HINT[id]}`);
      continue;
    }
    const dir = path.resolve(given);
    const why = tokenizerProblem(kind, dir);
    if (why) {
      plan.missing.push(`${kind}_tokenizer`);
      plan.problems.push(why);
    } else plan.tokenizers[kind] = dir;
  }
  if (typeof spec.config === 'string') {
    const file = path.resolve(spec.config);
    plan.config = modelConfig(readJsonObject(file), `model config ${file}`, file);
    plan.extraFiles.push(file);
  } else if (spec.config) {
    plan.config = modelConfig(spec.config, 'model config', plan.path);
  }
  if (!plan.name) plan.name = path.basename(plan.path).replace(/\.safetensors$/, '');
  return plan;
}

/**
 * Resolves a path from `schnell-model.json` inside its folder: relative, no `..`, and no symbolic
 * link that leads out of it (runtime/util/paths.ts); links that stay inside are fine.
 */
export function pathInside(dir: string, rel: unknown, field: string, manifest: string): string {
  const bad = (why: string) => new CheckpointError(`${manifest}: ${field} ${why}; paths there must be relative and stay inside ${dir}.`, manifest);
  const q = JSON.stringify(rel);
  if (typeof rel !== 'string') throw bad(`is ${q}, not a path`);
  try {
    return resolveInside(dir, rel, { what: field });
  } catch (err) {
    if (!(err instanceof UnsafePathError)) throw err;
    switch (err.reason) {
      case 'empty': throw bad(`is ${q}, not a path`);
      case 'absolute': throw bad(`is the absolute path ${q}`);
      case 'nul': throw bad(`(${q}) contains a NUL character`);
      case 'parent': throw bad(`(${q}) uses '..' or points outside the model folder`);
      case 'link-outside': throw bad(`(${q}) is a link that leads outside the model folder`);
      default: throw err;
    }
  }
}

function planManifest(dir: string): ModelSetPlan {
  const manifest = path.join(dir, MODEL_SET_MANIFEST);
  const m = readJsonObject(manifest);
  if (m.name !== undefined && typeof m.name !== 'string') throw new CheckpointError(`${manifest}: "name" must be a string.`, manifest);
  if (m.untrained !== undefined && typeof m.untrained !== 'boolean') throw new CheckpointError(`${manifest}: "untrained" must be true or false.`, manifest);
  const c = m.components;
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new CheckpointError(`${manifest} has no "components" object naming the transformer, autoencoder, t5, clip, clip_tokenizer and t5_tokenizer.`, manifest);
  const comp = c as Record<string, unknown>;
  const at = (k: string) => (comp[k] === undefined ? undefined : pathInside(dir, comp[k], `components.${k}`, manifest));
  if (m.config !== undefined && (typeof m.config !== 'object' || m.config === null || Array.isArray(m.config))) throw new CheckpointError(`${manifest}: "config" must be an object.`, manifest);
  const config = modelConfig((m.config ?? {}) as Record<string, unknown>, `${manifest} config`, manifest);
  const transformer = at('transformer');
  const spec: ModelSetSpec = {
    name: (m.name as string | undefined) ?? path.basename(dir),
    untrained: (m.untrained as boolean | undefined) ?? false,
    transformer: transformer ?? '',
    ...defined({ autoencoder: at('autoencoder'), t5: at('t5'), clip: at('clip'), clipTokenizer: at('clip_tokenizer'), t5Tokenizer: at('t5_tokenizer') }),
  };
  const plan = planSpec(spec, 'model-set-folder', { path: dir, config, extraFiles: [manifest] });
  if (!transformer) plan.problems = plan.problems.map((p) => (p.startsWith('no transformer') ? `${MODEL_SET_MANIFEST} names no components.transformer` : p));
  return plan;
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const firstDir = (dir: string, names: string[]) => names.map((n) => path.join(dir, n)).find((p) => fs.existsSync(p) && fs.statSync(p).isDirectory());

/** A diffusers folder: `model_index.json` or the component subfolders. */
export function isDiffusersFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'model_index.json')) || ['transformer', 'text_encoder_2', 'vae'].filter((d) => fs.existsSync(path.join(dir, d))).length >= 2;
}

function planDiffusers(dir: string): ModelSetPlan {
  const sub = (n: string) => (fs.existsSync(path.join(dir, n)) ? path.join(dir, n) : undefined);
  // What the weights cannot show lives in the subfolders' configs.
  const overrides: Record<string, unknown> = {};
  const extraFiles: string[] = [];
  const t = path.join(dir, 'transformer', 'config.json');
  if (fs.existsSync(t)) {
    const c = readJsonObject(t);
    if (c.axes_dims_rope !== undefined) overrides.axes_dim = c.axes_dims_rope;
    extraFiles.push(t);
  }
  const v = path.join(dir, 'vae', 'config.json');
  if (fs.existsSync(v)) {
    const c = readJsonObject(v);
    if (c.scaling_factor !== undefined) overrides.scale_factor = c.scaling_factor;
    if (c.shift_factor !== undefined) overrides.shift_factor = c.shift_factor;
    extraFiles.push(v);
  }
  const config = modelConfig(overrides, `diffusers configs in ${dir}`, dir);
  const spec: ModelSetSpec = {
    name: path.basename(dir),
    transformer: sub('transformer') ?? '',
    ...defined({ autoencoder: sub('vae'), t5: sub('text_encoder_2'), clip: sub('text_encoder'), clipTokenizer: sub('tokenizer'), t5Tokenizer: sub('tokenizer_2') }),
  };
  const plan = planSpec(spec, 'diffusers-folder', { path: dir, config, extraFiles });
  plan.problems = plan.problems.map((p) => p
    .replace(/^no transformer: .*/, `no transformer: ${dir} has no transformer/ folder`)
    .replace(/^no (CLIP|T5) tokenizer: .*/, (_, k: string) => `no ${k} tokenizer: ${dir} has no ${k === 'CLIP' ? 'tokenizer' : 'tokenizer_2'}/ folder`));
  return plan;
}

/** Works out which files make up the model set at `pathOrSpec`, without opening the components. */
export function planModelSet(pathOrSpec: string | ModelSetSpec): ModelSetPlan {
  if (typeof pathOrSpec !== 'string') return planSpec(pathOrSpec, 'spec');
  const p = path.resolve(pathOrSpec);
  if (!fs.existsSync(p)) throw new CheckpointError(`The model ${p} does not exist.`, p);
  if (fs.statSync(p).isDirectory()) {
    if (fs.existsSync(path.join(p, MODEL_SET_MANIFEST))) return planManifest(p);
    if (isDiffusersFolder(p)) return planDiffusers(p);
    throw new CheckpointError(`${p} is neither a model folder (no ${MODEL_SET_MANIFEST}) nor a diffusers folder (no model_index.json, transformer/, vae/, text_encoder_2/).`, p);
  }
  // A single file: the ComfyUI layout, with tokenizer folders beside it.
  const dir = path.dirname(p);
  return planSpec({
    transformer: p,
    ...defined({ clipTokenizer: firstDir(dir, ['tokenizer', 'clip_tokenizer']), t5Tokenizer: firstDir(dir, ['tokenizer_2', 't5_tokenizer']) }),
  }, 'comfyui-single-file');
}

/**
 * Whether any weight file says it is untrained (`schnell.untrained` in its metadata, as the demo
 * model writes): demo files named by a spec or another manifest are still labelled untrained.
 */
function labelledUntrained(w: Weights): boolean {
  return w.files.some((f) => {
    try {
      return readSafetensorsHeader(f).metadata['schnell.untrained'] === 'true';
    } catch {
      return false; // it opened a moment ago; a file that vanished since fails later, with its own message
    }
  });
}

/** Opens a whole model set; throws one CheckpointError naming everything that is missing. */
export function openModelSet(pathOrSpec: string | ModelSetSpec): ModelSet {
  const plan = planModelSet(pathOrSpec);
  const problems = [...plan.problems];
  const errors: CheckpointError[] = [...plan.errors];
  const opened: Partial<Record<ComponentKind, Weights>> = {};
  for (const kind of COMPONENT_KINDS) {
    const part = plan.components[kind];
    if (!part) continue;
    try {
      opened[kind] = weightsFrom(part.src, kind);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      errors.push(e);
      problems.push(e.message.replace(/\.$/, ''));
    }
  }
  if (problems.length === 1 && errors.length === 1) throw errors[0]!;
  if (problems.length) {
    throw new CheckpointError(`The model ${plan.path} cannot be used: ${problems.join('; ')}.`, errors[0]?.file ?? plan.path, errors[0]?.tensor);
  }
  const files = new Set<string>(plan.extraFiles);
  for (const w of Object.values(opened)) {
    for (const f of w.files) files.add(f);
    if (w instanceof CheckpointWeights && w.configFile) files.add(w.configFile);
  }
  return {
    name: plan.name,
    untrained: plan.untrained || Object.values(opened).some(labelledUntrained),
    transformer: opened.transformer!,
    autoencoder: opened.autoencoder!,
    t5: opened.t5!,
    clip: opened.clip!,
    tokenizers: { clip: plan.tokenizers.clip!, t5: plan.tokenizers.t5! },
    config: plan.config,
    files: [...files],
    source: plan.source,
  };
}
