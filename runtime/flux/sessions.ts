// One place that turns a checkpoint component into a loaded onnxruntime session: hyperparameters
// from the weights, the graph builder, the built-graph cache, the execution provider (with its
// fallback) and the weight policy. The pipeline and the conformance runner both load through here,
// so conformance checks exactly what generation runs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { commonDir, type GraphBuilder } from '../onnx/graph.js';
import { cachedGraph, createSession, graphKey, type Provider } from '../onnx/session.js';
import { castSessionConfig, CPU_POLICY, type WeightPolicy } from '../onnx/weights.js';
import { aeParams, buildDecoder, DECODER_BUILDER_VERSION, type DecoderParams } from './graphs/autoencoder.js';
import { buildClipText, clipParams, CLIP_BUILDER_VERSION, type ClipParams } from './graphs/clip.js';
import type { ModelConfig } from './model-config.js';
import { buildT5Encoder, t5Params, T5_BUILDER_VERSION, type T5Params } from './graphs/t5.js';
import { buildT5Block, T5_BLOCK_BUILDER_VERSION } from './graphs/t5-block.js';
import { canStreamT5, StreamedT5 } from './text/t5-streamed.js';
import { OnnxSession } from '../onnx/session.js';
import { WidenPool } from '../onnx/widen-pool.js';
import { buildTransformer, transformerParams, TRANSFORMER_BUILDER_VERSION, type FluxParams } from './graphs/transformer.js';
import { buildDoubleBlock, buildSingleBlock, buildTransformerEntry, buildTransformerExit, TRANSFORMER_STREAM_BUILDER_VERSION } from './graphs/transformer-stream.js';
import { canStreamTransformer, StreamedTransformer } from './transformer-streamed.js';
import type { Weights } from '../onnx/tensor-source.js';
import { linuxMemAvailable } from '../util/memory.js';

export type ComponentName = 'transformer' | 't5' | 'clip' | 'decoder';

export interface LoadOptions {
  provider?: Provider;
  /** How FP8/16-bit weights become compute values; default: choosePolicy(). */
  policy?: WeightPolicy;
  /**
   * Build the graph as this provider's recipe (its weight policy: float16 compute, FP8 widened by
   * table or DequantizeLinear) whatever provider runs it: `{ recipe: 'webgpu', provider: 'cpu' }`
   * checks a GPU recipe's graph on the CPU where no GPU is. Default: the running provider's own.
   */
  recipe?: Provider;
  /** Intra-op threads (default: onnxruntime's choice). */
  threads?: number;
  /** Built-graph cache folder (default: $SCHNELL_HOME/cache/graphs). */
  cacheDir?: string;
  /** Write the session's optimized graph here (tests check what onnxruntime folded at load). */
  optimizedModelPath?: string;
  /** onnxruntime's per-node profile goes to files starting with this path (benchmarks). */
  profilePrefix?: string;
  /**
   * false: T5 under 'widen' as one whole-encoder graph widening FP8 inside onnxruntime, instead of
   * block by block with the weights widened by worker threads (benchmarks compare the two).
   */
  streamT5?: boolean;
  /**
   * false: the transformer under 'widen' as one whole graph widening FP8 inside onnxruntime,
   * instead of block by block with the weights widened by worker threads (benchmarks compare).
   */
  streamTransformer?: boolean;
}

export interface LoadedComponent<P> {
  session: OnnxSession;
  params: P;
  /** Milliseconds: building (or reading the cached graph) and creating the session. */
  buildMs: number;
  loadMs: number;
  cached: boolean;
}

interface Builder<P> {
  version: number;
  /** Source modules whose text is part of the cache key (a changed builder is a changed graph). */
  modules: string[];
  params(w: Weights, cfg: ModelConfig): P;
  build(w: Weights, p: P, policy: WeightPolicy): GraphBuilder;
  label: string;
  /** Session config entries for this component. */
  config?: Record<string, string>;
}

// Without prepacking, onnxruntime maps fp32 external weights straight from the file instead of
// copying them into packed buffers: ready in about the time of reading the file once, with no
// second copy resident. Step time does not change measurably for the transformer's large Gemms
// (`npm run bench:runtime`). The convolutional decoder keeps onnxruntime's default.
const NO_PREPACK = { 'session.disable_prepacking': '1' };

const BUILDERS: { transformer: Builder<FluxParams>; t5: Builder<T5Params>; clip: Builder<ClipParams>; decoder: Builder<DecoderParams> } = {
  transformer: {
    version: TRANSFORMER_BUILDER_VERSION, modules: ['graphs/transformer', 'graphs/transformer-blocks', 'graphs/transformer-params', 'checkpoints/weight-rows'], label: 'transformer',
    params: (w, cfg) => transformerParams(w, cfg), build: buildTransformer, config: NO_PREPACK,
  },
  t5: { version: T5_BUILDER_VERSION, modules: ['graphs/t5', 'graphs/graph-layers'], label: 'T5 encoder', params: (w) => t5Params(w), build: buildT5Encoder, config: NO_PREPACK },
  clip: { version: CLIP_BUILDER_VERSION, modules: ['graphs/clip', 'graphs/graph-layers'], label: 'CLIP text encoder', params: (w) => clipParams(w), build: buildClipText, config: NO_PREPACK },
  decoder: { version: DECODER_BUILDER_VERSION, modules: ['graphs/autoencoder', 'graphs/graph-layers'], label: 'autoencoder decoder', params: aeParams, build: buildDecoder },
};

/**
 * onnxruntime constant-folds every node whose inputs are all initializers, at load and on any
 * provider: the 'widen' policy's Cast of an FP8 weight, or the 'table' policy's Cast(uint8 → int32)
 * + Gather, would become a widened copy of it — 2–4 bytes per parameter resident instead of 1,
 * which is what keeps the 12B transformer from fitting a 16 GB card or 24 GB of RAM. So sessions
 * that keep FP8 weights fold nothing; they widen on every run. ('dequantize' needs no such switch:
 * onnxruntime never folds DequantizeLinear.) The Transpose that used to sit after each widened
 * weight is gone for the same reason (a Gemm with transB reads the weight as stored; see
 * runtime/onnx/weights.ts `linear`), so turning the optimizer off is not what keeps memory flat.
 */
const NO_CONSTANT_FOLDING = { 'optimization.disable_specified_optimizers': 'ConstantFolding' };

/** True when the session keeps FP8 weights stored and widens them on every run. */
function widensPerRun(policy: WeightPolicy, w: Weights): boolean {
  return policy.fp8 !== 'cast' && w.keys().some((k) => /^F8_/.test(w.get(k)!.dtype));
}

function sessionConfig(builder: Builder<unknown>, policy: WeightPolicy, w: Weights): Record<string, string> | undefined {
  // 'cast' widens scaled FP8 once with DequantizeLinear, which onnxruntime folds only when told.
  if (policy.fp8 === 'cast') return { ...(builder.config ?? {}), ...castSessionConfig(w) };
  const keepFp8 = (policy.fp8 === 'table' || policy.fp8 === 'widen') && widensPerRun(policy, w);
  if (!keepFp8) return builder.config;
  return { ...(builder.config ?? {}), ...NO_CONSTANT_FOLDING };
}

/** The session config entries a component's sessions get (benchmarks compare like with like). */
export function sessionConfigFor(name: ComponentName): Record<string, string> {
  return { ...(BUILDERS[name].config ?? {}) };
}

type ParamsOf<C extends ComponentName> = (typeof BUILDERS)[C] extends Builder<infer P> ? P : never;

/** Hyperparameters of a component, from its weights (no graph is built). */
export function componentParams<C extends ComponentName>(name: C, w: Weights, cfg: ModelConfig): ParamsOf<C> {
  return (BUILDERS[name] as Builder<ParamsOf<C>>).params(w, cfg);
}

/**
 * Runs every check loading runs, without loading: the hyperparameters from the shapes, then the
 * graph as loading builds it (each tensor's shape and dtype against its use), with no session and
 * no tensor data read. `models import` and `models verify` call this, so a model that passes them
 * loads. Throws the loader's own sentence, naming the file and the tensor.
 */
export function checkComponentLoads(name: ComponentName, w: Weights, cfg: ModelConfig): void {
  const builder = BUILDERS[name] as Builder<unknown>;
  builder.build(w, builder.params(w, cfg), CPU_POLICY);
}

/** Builds (or takes from the cache) the component's graph and loads it on the provider. */
export async function loadComponent<C extends ComponentName>(
  name: C, w: Weights, cfg: ModelConfig, opts: LoadOptions = {},
): Promise<LoadedComponent<ParamsOf<C>>> {
  const builder = BUILDERS[name] as Builder<ParamsOf<C>>;
  const policy = opts.policy ?? choosePolicy(opts.recipe ?? opts.provider ?? 'cpu', [w]);
  const t0 = performance.now();
  const params = builder.params(w, cfg);
  if (name === 't5' && streamsT5(policy, opts, w, params as T5Params)) return loadStreamedT5(w, params as T5Params, opts, t0) as Promise<LoadedComponent<ParamsOf<C>>>;
  if (name === 'transformer' && cpuWidens(policy, opts) && opts.streamTransformer !== false) {
    const streamed = await loadStreamedTransformer(w, params as FluxParams, opts, t0);
    if (streamed) return streamed as LoadedComponent<ParamsOf<C>>;
  }
  const baseDir = commonDir(w.files);
  const key = graphKey(name, builder.version, w.files, { params, policy, baseDir, source: sourceHash(builder.modules), layout: layoutHash(w) });
  const { bytes, cached } = cachedGraph(key, () => builder.build(w, params, policy).toBytes({ baseDir }), ...(opts.cacheDir ? [opts.cacheDir] : []));
  const t1 = performance.now();
  const session = await createSession(bytes, {
    baseDir,
    provider: opts.provider ?? 'cpu',
    label: builder.label,
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.optimizedModelPath ? { optimizedModelPath: opts.optimizedModelPath } : {}),
    ...(opts.profilePrefix ? { profilePrefix: opts.profilePrefix } : {}),
    config: sessionConfig(builder, policy, w),
    // The arena stays on: without it every large tensor (a widened weight, a decoder feature map)
    // is a fresh mmap whose pages fault in on every run, 2-5x slower (measured: T5 layer, decoder
    // at 512²). onnxruntime's memory pattern is off: it pre-planned one block holding every widened
    // weight of the graph at once (4 bytes per FP8 parameter resident), and for the decoder a second
    // copy of its activations. Without it the arena reuses one layer's blocks for the next; what
    // it keeps after a run is the workspace runtime/flux/memory.ts counts.
    memPattern: false,
  });
  return { session, params, buildMs: t1 - t0, loadMs: performance.now() - t1, cached };
}

/**
 * T5 under the CPU's 'widen' policy runs block by block with its FP8 weights widened by worker
 * threads (runtime/flux/text/t5-streamed.ts): `npm run bench:fp8` measures it against the
 * in-graph byte-pair widening. Other providers and recipes keep the whole-encoder graph.
 */
function streamsT5(policy: WeightPolicy, opts: LoadOptions, w: Weights, p: T5Params): boolean {
  return cpuWidens(policy, opts) && opts.streamT5 !== false && canStreamT5(w, p);
}

/** FP8 kept stored and widened per run, in float32, on the CPU (profiling wants the whole graph). */
function cpuWidens(policy: WeightPolicy, opts: LoadOptions): boolean {
  return policy.fp8 === 'widen' && policy.compute === 'float32' && (opts.provider ?? 'cpu') === 'cpu' && !opts.profilePrefix;
}

// onnxruntime's threads spin between ops by default, taking the cores the widening workers need:
// without spinning, full-depth T5-XXL encoded in 16.6 s instead of 19.0 s here.
const NO_SPINNING = { 'session.intra_op.allow_spinning': '0' };

async function loadStreamedT5(w: Weights, params: T5Params, opts: LoadOptions, t0: number): Promise<LoadedComponent<T5Params>> {
  const key = graphKey('t5-block', T5_BLOCK_BUILDER_VERSION, [], { params, source: sourceHash(['graphs/t5-block', 'graphs/graph-layers']) });
  const { bytes, cached } = cachedGraph(key, () => buildT5Block(w, params).toBytes(), ...(opts.cacheDir ? [opts.cacheDir] : []));
  const t1 = performance.now();
  const block = await createSession(bytes, {
    baseDir: commonDir(w.files),
    label: 'T5 encoder block',
    ...(opts.threads ? { threads: opts.threads } : {}),
    config: NO_SPINNING,
    ...(opts.optimizedModelPath ? { optimizedModelPath: opts.optimizedModelPath } : {}),
    memPattern: false,
  });
  let pool: WidenPool;
  try {
    pool = new WidenPool(undefined, 'T5 encoder weights');
  } catch (err) {
    await block.release();
    throw err;
  }
  const session = new OnnxSession({ runner: new StreamedT5(block, w, params, pool) }, 'cpu', BUILDERS.t5.label);
  return { session, params, buildMs: t1 - t0, loadMs: performance.now() - t1, cached };
}

/**
 * The transformer under the CPU's 'widen' policy, block by block (runtime/flux/transformer-streamed.ts):
 * an entry and an exit graph over the checkpoint, and one
 * session per block kind with the block's float32 weights as inputs. Undefined when the checkpoint's
 * blocks are not FP8 byte ranges the workers can read (the whole graph is loaded instead).
 */
async function loadStreamedTransformer(w: Weights, params: FluxParams, opts: LoadOptions, t0: number): Promise<LoadedComponent<FluxParams> | undefined> {
  const double = params.depth > 0 ? buildDoubleBlock(w, params) : undefined;
  const single = params.depth_single_blocks > 0 ? buildSingleBlock(w, params) : undefined;
  const blocks = { double: double?.weights ?? [], single: single?.weights ?? [] };
  if (!canStreamTransformer(w, params, blocks)) return undefined;
  const baseDir = commonDir(w.files);
  const source = sourceHash(['graphs/transformer-stream', 'graphs/transformer-blocks', 'graphs/transformer-params', 'checkpoints/weight-rows']);
  let cached = true;
  const graph = (part: string, build: () => Uint8Array, layout?: string) => {
    const key = graphKey(`transformer-${part}`, TRANSFORMER_STREAM_BUILDER_VERSION, layout ? w.files : [], { params, source, ...(layout ? { baseDir, layout } : {}) });
    const r = cachedGraph(key, build, ...(opts.cacheDir ? [opts.cacheDir] : []));
    cached &&= r.cached;
    return r.bytes;
  };
  const layout = layoutHash(w);
  // Entry and exit widen their ~50 M weights once at load (0.2 GB for FLUX.1): widened on every run
  // they cost about 0.2 s a step, as much as the widening of four double blocks.
  const ends: WeightPolicy = { fp8: 'cast', compute: 'float32' };
  const bytes = {
    entry: graph('entry', () => buildTransformerEntry(w, params, ends).toBytes({ baseDir }), layout),
    exit: graph('exit', () => buildTransformerExit(w, params, ends).toBytes({ baseDir }), layout),
    double: double && graph('double-block', () => double.graph.toBytes()),
    single: single && graph('single-block', () => single.graph.toBytes()),
  };
  const t1 = performance.now();
  const label = BUILDERS.transformer.label;
  const common = { baseDir, provider: 'cpu' as const, ...(opts.threads ? { threads: opts.threads } : {}), memPattern: false };
  const made: OnnxSession[] = [];
  const make = async (part: keyof typeof bytes, config: Record<string, string>) => {
    const b = bytes[part];
    if (!b) return undefined;
    const s = await createSession(b, { ...common, label: `${label} (${part})`, config });
    made.push(s);
    return s;
  };
  let pool: WidenPool | undefined;
  try {
    const endConfig = { ...NO_PREPACK, ...NO_SPINNING, ...castSessionConfig(w) };
    const sessions = { entry: (await make('entry', endConfig))!, exit: (await make('exit', endConfig))!, double: await make('double', NO_SPINNING), single: await make('single', NO_SPINNING) };
    pool = new WidenPool(undefined, 'transformer weights');
    const runner = new StreamedTransformer({ entry: sessions.entry, exit: sessions.exit, ...(sessions.double ? { double: sessions.double } : {}), ...(sessions.single ? { single: sessions.single } : {}) }, w, params, blocks, pool);
    const session = new OnnxSession({ runner }, 'cpu', label);
    return { session, params, buildMs: t1 - t0, loadMs: performance.now() - t1, cached };
  } catch (err) {
    await Promise.allSettled([...made.map((s) => s.release()), pool?.close()]);
    throw err;
  }
}

/** The element type a load with these options computes in (conformance picks its tolerance by it). */
export function computeTypeOf(opts: LoadOptions): WeightPolicy['compute'] {
  return opts.policy?.compute ?? choosePolicy(opts.recipe ?? opts.provider ?? 'cpu', []).compute;
}

/**
 * The weight policy for a provider. On the CPU, FP8 weights are widened once at load ('cast':
 * full MatMul speed, 4 bytes per parameter) when that fits in the memory this machine has free,
 * else kept FP8 and widened on every run ('widen': 1 byte per parameter; the Cast costs a pass
 * over the weights per run, near fp32 speed for 256-token Gemms). GPU providers widen FP8 with a table lookup on the device.
 */
export function choosePolicy(provider: Provider, weights: readonly Weights[], memory = usableMemory()): WeightPolicy {
  // GPUs compute in float16 and keep FP8 weights FP8 in memory (what lets the 12B transformer fit
  // a 16 GB card). CUDA has FP8 DequantizeLinear kernels, which onnxruntime never constant-folds;
  // WebGPU/DirectML/CoreML run DequantizeLinear for FP8 on the CPU (performance.md), so they widen
  // through a 256-entry table with ops they do run. Unverified on real cards in this repo's CI.
  if (provider === 'cuda') return { fp8: 'dequantize', compute: 'float16' };
  if (provider !== 'cpu') return { fp8: 'table', compute: 'float16' };
  let fp8Params = 0;
  let otherBytes = 0;
  for (const w of weights) {
    for (const k of w.keys()) {
      const t = w.get(k)!;
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2') fp8Params += n;
      else otherBytes += n * 4;
    }
  }
  if (fp8Params === 0) return CPU_POLICY;
  return fp8Params * 4 + otherBytes <= memory ? { fp8: 'cast', compute: 'float32' } : { fp8: 'widen', compute: 'float32' };
}

/**
 * Bytes the weights may take: 75% of what the system reports available (Linux MemAvailable, which
 * counts reclaimable cache), never more than 75% of all memory; activations need the rest.
 */
export function usableMemory(): number {
  // Not Linux: all memory, since os.freemem() leaves out the file cache on macOS and Windows and would be too strict.
  return 0.75 * (linuxMemAvailable() ?? os.totalmem());
}

/**
 * Hash of where every tensor the graph points at lies (name, dtype, shape, file, byte range, parts,
 * scale). The built graph holds these offsets, so a file rewritten with the same size and mtime
 * (cp -p, rsync -t) but another layout must not reuse it. Headers only: cheap even for 12B.
 */
export function layoutHash(w: Weights): string {
  const hash = crypto.createHash('sha256');
  for (const k of [...w.keys()].sort()) {
    const t = w.get(k)!;
    const s = w.scaleOf(k);
    hash.update(JSON.stringify([k, t.name, t.dtype, t.shape, t.file, t.offset, t.length, t.parts ?? null, s ? [s.name, s.file, s.offset, s.length] : null]));
    hash.update('\n');
  }
  return hash.digest('hex').slice(0, 16);
}

const sourceHashes = new Map<string, string>();

/** Hash of the builder modules' source text (whichever of .ts/.js exists beside this file). */
function sourceHash(modules: string[]): string {
  const id = modules.join(',');
  let h = sourceHashes.get(id);
  if (h) return h;
  const hash = crypto.createHash('sha256');
  for (const m of [...modules, '../onnx/weights', '../onnx/graph', '../onnx/onnx-proto', '../onnx/tensor-source']) {
    for (const ext of ['.ts', '.js']) {
      const file = fileURLToPath(new URL(`${m}${ext}`, import.meta.url));
      try {
        hash.update(fs.readFileSync(file));
        break;
      } catch {
        /* the other extension, or a bundled build without sources */
      }
    }
  }
  h = hash.digest('hex').slice(0, 16);
  sourceHashes.set(id, h);
  return h;
}
