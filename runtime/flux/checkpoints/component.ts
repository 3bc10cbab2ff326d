// One model component (transformer, autoencoder, T5, CLIP) read from one or more .safetensors
// files: tensors under canonical names, completeness checked, configuration found beside it.
import fs from 'node:fs';
import path from 'node:path';
import type { TensorInfo, Weights } from '../../onnx/tensor-source.js';
import { CheckpointError, elementCount, readSafetensorsHeader } from './safetensors.js';
import {
  COMPONENT_LABEL, assignName, checkComponent, findComponents, listSome, precisionOf, scaleRole, scaledWeightName,
  type ComponentKind, type FoundComponent, type Layout, type Precision,
} from './layouts.js';
import { diffusersAutoencoderToBfl, diffusersTransformerToBfl } from './diffusers.js';
import { NotRegularFileError, readRegularFileSync } from '../../util/regular-file.js';

/** All tensors of a set of files (shards of one checkpoint, or a single file). */
export interface TensorSource {
  files: string[];
  tensors: Map<string, TensorInfo>;
  /** Sum of the files' sizes. */
  bytes: number;
}

export function readTensorSource(files: readonly string[]): TensorSource {
  const tensors = new Map<string, TensorInfo>();
  let bytes = 0;
  const abs = files.map((f) => path.resolve(f));
  for (const f of abs) {
    const h = readSafetensorsHeader(f);
    bytes += h.size;
    for (const t of h.tensors) {
      const prev = tensors.get(t.name);
      if (prev) throw new CheckpointError(`Tensor "${t.name}" is in both ${prev.file} and ${f}; a checkpoint's files must not repeat tensors (are two versions of the model in one folder?).`, f, t.name);
      tensors.set(t.name, t);
    }
  }
  return { files: abs, tensors, bytes };
}

const isSafetensors = (n: string) => n.endsWith('.safetensors');

/** fs.statSync, with a missing path worded for the user. */
export function statCheckpoint(abs: string): fs.Stats {
  try {
    return fs.statSync(abs);
  } catch {
    throw new CheckpointError(`Checkpoint ${abs} does not exist.`, abs);
  }
}

/**
 * The weight files a path stands for: the file itself; or in a folder, the shards its
 * `*.safetensors.index.json` lists (checked to exist and stay in the folder), else every
 * `*.safetensors` in it.
 */
export function weightFilesOf(p: string): string[] {
  const abs = path.resolve(p);
  if (!statCheckpoint(abs).isDirectory()) return abs.endsWith('.safetensors.index.json') ? shardsFromIndex(abs) : [abs];
  const names = fs.readdirSync(abs).sort();
  let indexes = names.filter((n) => n.endsWith('.safetensors.index.json'));
  // Repositories can hold precision variants (`model.fp16.safetensors.index.json`); prefer the plain one.
  if (indexes.length > 1) indexes = indexes.filter((n) => !n.slice(0, -'.safetensors.index.json'.length).includes('.'));
  if (indexes.length > 1) throw new CheckpointError(`${abs} holds several shard indexes (${indexes.join(', ')}); keep one.`, abs);
  if (indexes.length === 1) return shardsFromIndex(path.join(abs, indexes[0]!));
  let files = names.filter(isSafetensors);
  if (files.length === 0) throw new CheckpointError(`${abs} holds no .safetensors files.`, abs);
  // `model.fp16.safetensors` beside `model.safetensors` is another copy of the same weights.
  files = files.filter((n) => {
    const m = /^(.+)\.[^.]+\.safetensors$/.exec(n);
    return !(m && files.includes(`${m[1]}.safetensors`));
  });
  return files.map((n) => path.join(abs, n));
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readRegularFileSync(file, 'configuration file', 'utf8');
  } catch (e) {
    if (e instanceof NotRegularFileError) throw new CheckpointError(`${e.message}.`, file);
    throw new CheckpointError(`Cannot read ${file}: ${(e as Error).message}.`, file);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${file} is not valid JSON.`, file);
  }
}

function shardsFromIndex(index: string): string[] {
  const dir = path.dirname(index);
  const json = readJson(index) as { weight_map?: unknown };
  const map = json?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(`${index} has no "weight_map" object naming each tensor's shard.`, index);
  const shards = new Set<string>();
  for (const [tensor, shard] of Object.entries(map)) {
    if (typeof shard !== 'string' || !isSafetensors(shard) || path.isAbsolute(shard) || shard.split(/[\\/]/).includes('..')) {
      throw new CheckpointError(`${index} maps tensor "${tensor}" to ${JSON.stringify(shard)}; shards must be .safetensors files inside ${dir}.`, index, tensor);
    }
    shards.add(shard);
  }
  const files = [...shards].sort().map((s) => path.join(dir, s));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) throw new CheckpointError(`${index} lists shards that are missing: ${listSome(missing.map((f) => path.basename(f)))}; download them again.`, missing[0]!);
  const src = readTensorSource(files);
  for (const [tensor, shard] of Object.entries(map as Record<string, string>)) {
    const t = src.tensors.get(tensor);
    if (!t || t.file !== path.join(dir, shard)) throw new CheckpointError(`${index} says tensor "${tensor}" is in ${shard}, but that shard does not hold it.`, path.join(dir, shard), tensor);
  }
  return files;
}

// ---- one component ------------------------------------------------------------------------------

export interface ComponentAnalysis {
  kind: ComponentKind;
  layout: Layout;
  /** Prefix of the stored names ('' for a plain file). */
  prefix: string;
  files: string[];
  tensors: Map<string, TensorInfo>;
  scales: Map<string, TensorInfo>;
  precision: Precision;
  parameters: number;
  /** Bytes of the component's tensor data. */
  bytes: number;
  missing: string[];
  problems: string[];
  summary: string;
}

export function analyseComponent(src: TensorSource, found: readonly FoundComponent[], c: FoundComponent): ComponentAnalysis {
  let local = new Map<string, TensorInfo>();
  const scales = new Map<string, TensorInfo>();
  let scaled = false;
  for (const [name, t] of src.tensors) {
    const a = assignName(found, name);
    if (a?.component !== c) continue;
    const role = scaleRole(a.local);
    if (role === 'marker' || role === 'input-scale') scaled = true;
    else if (role === 'scale') {
      scaled = true;
      scales.set(scaledWeightName(a.local), t);
    } else local.set(a.local, t);
  }
  let sources = new Map<string, string[]>();
  const problems: string[] = [];
  if (c.layout === 'diffusers') {
    const m = c.kind === 'transformer' ? diffusersTransformerToBfl(local) : diffusersAutoencoderToBfl(local);
    local = m.tensors;
    sources = m.sources;
    problems.push(...m.problems);
  }
  if (c.kind === 't5') {
    // T5 ties its input embedding to `shared`; files keep one or both names. Offer both.
    const shared = local.get('shared.weight') ?? local.get('encoder.embed_tokens.weight');
    if (shared) {
      if (!local.has('shared.weight')) local.set('shared.weight', shared);
      if (!local.has('encoder.embed_tokens.weight')) local.set('encoder.embed_tokens.weight', shared);
    }
  }
  for (const [key, s] of scales) {
    if (!local.has(key)) problems.push(`scale ${s.name} has no weight ${key} to scale`);
  }
  const check = checkComponent(c.kind, local);
  const missing = check.missing.map((k) => (sources.has(k) ? `${k} (from ${sources.get(k)!.join(' + ')})` : k));
  // Aliases (T5's shared embedding) are one tensor: count each stored tensor once.
  const distinct = new Set(local.values());
  let parameters = 0;
  let bytes = 0;
  for (const t of distinct) {
    parameters += elementCount(t.shape) ?? 0;
    bytes += t.length;
  }
  for (const s of scales.values()) bytes += s.length;
  return {
    kind: c.kind, layout: c.layout, prefix: c.root + c.inner, files: src.files, tensors: local, scales,
    precision: precisionOf(local.values(), scaled), parameters, bytes,
    missing, problems: [...problems, ...check.problems], summary: check.summary,
  };
}

/** What a file that lacks the wanted component seems to be, for the error message. */
export function describeContents(src: TensorSource): string {
  const found = findComponents(src.tensors.keys());
  if (found.length) return `it holds ${found.map((c) => `${c.layout === 'bfl' ? 'a BFL' : c.layout === 'hf' ? 'a Hugging Face' : 'a diffusers'} ${COMPONENT_LABEL[c.kind]}${c.root ? ` under "${c.root}"` : ''}`).join(', ')}`;
  const names = [...src.tensors.keys()];
  return names.length ? `its tensors (${listSome(names, 4)}) match no FLUX layout` : 'it holds no tensors';
}

// ---- Weights ------------------------------------------------------------------------------------

export class CheckpointWeights implements Weights {
  readonly component: string;
  readonly files: string[];
  readonly config?: Record<string, unknown>;
  /** The file `config` was read from (absent for a built-in or given config). */
  readonly configFile?: string;
  readonly kind: ComponentKind;
  readonly layout: Layout;
  /** Prefix of the stored names, e.g. `model.diffusion_model.` in a ComfyUI file. */
  readonly prefix: string;
  readonly precision: Precision;
  readonly parameters: number;
  private readonly tensors: Map<string, TensorInfo>;
  private readonly scales: Map<string, TensorInfo>;

  constructor(a: ComponentAnalysis, config?: Record<string, unknown>, configFile?: string) {
    this.kind = a.kind;
    this.component = COMPONENT_LABEL[a.kind];
    this.files = a.files;
    this.layout = a.layout;
    this.prefix = a.prefix;
    this.precision = a.precision;
    this.parameters = a.parameters;
    this.tensors = a.tensors;
    this.scales = a.scales;
    if (config) this.config = config;
    if (configFile) this.configFile = configFile;
  }

  has(key: string): boolean { return this.tensors.has(key); }
  get(key: string): TensorInfo | undefined { return this.tensors.get(key); }
  keys(): string[] { return [...this.tensors.keys()]; }
  scaleOf(key: string): TensorInfo | undefined { return this.scales.get(key); }

  require(key: string): TensorInfo {
    const t = this.tensors.get(key);
    if (t) return t;
    const where = this.files.length === 1 ? this.files[0]! : `${path.dirname(this.files[0] ?? '')} (${this.files.length} files)`;
    const stored = this.layout === 'diffusers' ? '' : ` (looked for "${this.prefix}${key}")`;
    throw new CheckpointError(`The ${this.component} checkpoint ${where} has no tensor "${key}"${stored}; the file is incomplete or of another model.`, this.files[0] ?? '', key);
  }
}

// ---- configuration ------------------------------------------------------------------------------

const CONFIG_KIND: Record<ComponentKind, (c: Record<string, unknown>) => boolean> = {
  t5: (c) => c.model_type === undefined || /t5/i.test(String(c.model_type)),
  clip: (c) => c.model_type === undefined || /clip/i.test(String(c.model_type)),
  // A bare config.json beside a transformer or autoencoder file is too likely someone else's.
  transformer: (c) => /Flux/i.test(String(c._class_name)),
  autoencoder: (c) => /Autoencoder/i.test(String(c._class_name)),
};

/**
 * The Hugging Face / diffusers config beside the weights: `<name>.config.json` next to
 * `<name>.safetensors`, else `config.json` in the same folder when it describes this kind.
 */
export function findConfig(kind: ComponentKind, files: readonly string[]): { file: string; config: Record<string, unknown> } | undefined {
  const first = files[0];
  if (!first) return undefined;
  const dir = path.dirname(first);
  const candidates = [
    ...(files.length === 1 ? [first.replace(/\.safetensors$/, '') + '.config.json'] : []),
    path.join(dir, 'config.json'),
  ];
  for (const file of candidates) {
    if (!fs.existsSync(file)) continue;
    const json = readJson(file);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CheckpointError(`${file} is not a JSON object.`, file);
    if (CONFIG_KIND[kind](json as Record<string, unknown>)) return { file, config: json as Record<string, unknown> };
  }
  return undefined;
}

// The released text encoders FLUX uses, for files that come without a config (ComfyUI single
// files, bare clip_l / t5xxl files). Only used when the shapes match these models exactly.
const KNOWN_CONFIGS: { kind: ComponentKind; match: (t: ReadonlyMap<string, TensorInfo>) => boolean; config: Record<string, unknown> }[] = [
  {
    kind: 'clip',
    match: (t) => t.get('embeddings.token_embedding.weight')?.shape.join() === '49408,768' && t.has('encoder.layers.11.mlp.fc2.weight') && !t.has('encoder.layers.12.mlp.fc2.weight'),
    config: {
      _source: 'built-in: CLIP ViT-L/14 text encoder (no config.json beside the weights)', model_type: 'clip_text_model',
      hidden_size: 768, intermediate_size: 3072, num_attention_heads: 12, num_hidden_layers: 12, hidden_act: 'quick_gelu',
      layer_norm_eps: 1e-5, max_position_embeddings: 77, vocab_size: 49408, bos_token_id: 49406, eos_token_id: 2, pad_token_id: 1, projection_dim: 768,
    },
  },
  {
    kind: 't5',
    match: (t) => t.get('shared.weight')?.shape[1] === 4096 && t.get('encoder.block.0.layer.0.SelfAttention.q.weight')?.shape.join() === '4096,4096' && t.has('encoder.block.23.layer.1.layer_norm.weight') && !t.has('encoder.block.24.layer.1.layer_norm.weight'),
    config: {
      _source: 'built-in: T5 v1.1 XXL encoder (no config.json beside the weights)', model_type: 't5',
      d_model: 4096, d_ff: 10240, d_kv: 64, num_heads: 64, num_layers: 24, feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new', is_gated_act: true,
      layer_norm_epsilon: 1e-6, relative_attention_num_buckets: 32, relative_attention_max_distance: 128, vocab_size: 32128, pad_token_id: 0, eos_token_id: 1,
    },
  },
];

export interface OpenOptions {
  /** A config to use instead of looking beside the files. */
  config?: Record<string, unknown>;
}

/** The component's Weights from an analysed source; throws CheckpointError if it is incomplete. */
export function weightsFrom(src: TensorSource, kind: ComponentKind, opts: OpenOptions = {}): CheckpointWeights {
  const found = findComponents(src.tensors.keys());
  const c = found.find((f) => f.kind === kind);
  const where = src.files.length === 1 ? src.files[0]! : `${path.dirname(src.files[0] ?? '')} (${src.files.length} files)`;
  if (!c) throw new CheckpointError(`${where} holds no ${COMPONENT_LABEL[kind]}: ${describeContents(src)}.`, src.files[0] ?? '');
  const a = analyseComponent(src, found, c);
  if (a.missing.length) {
    throw new CheckpointError(`The ${COMPONENT_LABEL[kind]} in ${where} is incomplete: missing ${listSome(a.missing)}. Download it again or use a complete checkpoint.`, src.files[0] ?? '', a.missing[0]!.split(' ')[0]);
  }
  if (a.problems.length) {
    throw new CheckpointError(`The ${COMPONENT_LABEL[kind]} in ${where} is inconsistent: ${listSome(a.problems, 4)}.`, src.files[0] ?? '');
  }
  if (opts.config) return new CheckpointWeights(a, opts.config);
  const beside = findConfig(kind, src.files);
  if (beside) return new CheckpointWeights(a, beside.config, beside.file);
  return new CheckpointWeights(a, KNOWN_CONFIGS.find((k) => k.kind === kind && k.match(a.tensors))?.config);
}

/**
 * Opens one component: `fileOrFiles` is a .safetensors file (also a ComfyUI single file, from
 * which the component is picked by prefix), a list of shard files, or a folder (shards with
 * their index, as in a diffusers `transformer/` folder).
 */
export function openComponent(kind: ComponentKind, fileOrFiles: string | readonly string[], opts: OpenOptions = {}): CheckpointWeights {
  const files = typeof fileOrFiles === 'string' ? weightFilesOf(fileOrFiles) : fileOrFiles.flatMap((f) => weightFilesOf(f));
  if (files.length === 0) throw new CheckpointError(`No checkpoint files were given for the ${COMPONENT_LABEL[kind]}.`, '');
  return weightsFrom(readTensorSource(files), kind, opts);
}
