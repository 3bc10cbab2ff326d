// One memory estimate for a FLUX model set on a device, per stage (text encoders, transformer,
// decoder) and weight policy. `schnell models fit` (files on disk or a manifest entry), the loader
// before anything loads, the pipeline's plan of what stays resident, and the router all ask this
// module, so they cannot disagree. Bytes are what the process holds resident (RSS), measured at full
// width (`npm run bench:fullsize`, tests/runtime/flux/stage-memory.test.ts):
//  - `loaded`, resident from session creation: weights widened once at load (16-bit floats on the
//    CPU, FP8 under 'cast': 4 bytes per value) and the decoder's prepacked convolution weights
//    (twice its file bytes: packed copies beside the weights);
//  - `mapped`, resident once the component has run: weights used as stored (FP8 kept FP8, float32
//    without prepacking) are memory-mapped, and their pages count only after the first run touches
//    them. The T5 embedding table kept as FP8 is read by rows, so it never counts. T5 and the
//    transformer kept FP8 on the CPU run block by block (runtime/flux/text/t5-streamed.ts,
//    runtime/flux/transformer-streamed.ts): their block weights are read from the file by worker
//    threads into two float32 buffer sets of one block each, which count here instead of the file
//    (resident once a run has filled them; the file itself stays in the system's page cache while
//    memory allows, which is not the process's and is given up under pressure), plus for the
//    transformer one packed copy of its largest matrix in onnxruntime's arena; the transformer's
//    entry and exit weights (embeddings, last layer) are widened once at load;
//  - the workspace, resident once the component has run and kept while it stays loaded (onnxruntime's
//    arena keeps what a run used): the stage's activations, plus for FP8 widened inside the graph on
//    every run (whole graphs: a checkpoint the block runners cannot read, the in-graph comparison
//    the benchmarks make) about 3.5 times the largest widened layer (the widened weight, its
//    uint16-pair indices, the arena's rounding; measured 0.45 GB for T5-XXL with 1 layer, 0.68 GB
//    with 24, 0.86-0.90 GB for the transformer at 256² and 512²);
//  - the runtime itself (node, onnxruntime, tokenizers): `overheadBytes`.
// A stage holds what its component needs plus what earlier stages left resident: components the
// plan keeps loaded, with their mapped weights and workspace once they have run. So a first request
// peaks lower than later ones (the transformer's weights are not yet touched while T5 encodes), and
// `models fit` judges by the steady state, the largest stage of a second request. A block-by-block
// transformer also wants its file in the page cache (read every step): `estimateStages` leaves room
// for it when it can (runtime/models/fit.ts says so when it cannot).

export type DeviceKind = 'cpu' | 'gpu';
export type ComponentKind = 'transformer' | 'autoencoder' | 't5' | 'clip';
export type Stage = 'text' | 'denoise' | 'decode';
export const STAGES: readonly Stage[] = ['text', 'denoise', 'decode'];

export interface TensorLike {
  dtype: string;
  shape: readonly number[];
  name?: string;
  file?: string;
  offset?: number;
  length?: number;
}

/** Whether FP8 weights stay FP8 in memory ('stored') or are widened once at load ('widened'). */
export type Fp8Residency = 'stored' | 'widened';

/** What activations depend on; read from the weights' shapes where possible. */
export interface ModelShape {
  hidden: number;
  heads: number;
  aeChannels: number;
  aeMidChannels: number;
  t5Width: number;
  t5Heads: number;
}

export const FLUX_SHAPE: ModelShape = Object.freeze({ hidden: 3072, heads: 24, aeChannels: 128, aeMidChannels: 512, t5Width: 4096, t5Heads: 64 });

export interface ComponentMemory {
  /** Resident while loaded and after it has run (`loaded` + `mapped`), without its workspace. */
  resident: number;
  /** Part of `resident` held from session creation on (widened or prepacked copies). */
  loaded: number;
  /** Part of `resident` that is memory-mapped weights: resident only once a run has touched them. */
  mapped: number;
  /** The largest weight widened on every run, in bytes of the compute type (0 when nothing is). */
  perRun: number;
  /**
   * Bytes of the file read again on every run when the component runs block by block (its FP8
   * block weights): from the system's file cache when memory is left for it, else from disk.
   */
  streamed?: number;
}

/** What stays loaded between stages and requests. */
export interface MemoryPlan {
  /** Keep T5 and CLIP loaded after encoding (else released, and loaded again for the next prompt). */
  keepTextEncoders: boolean;
  /** Keep the transformer loaded across requests (else released before the next prompt's encoding). */
  keepTransformer: boolean;
}

export interface StageEstimate {
  device: DeviceKind;
  fp8: Fp8Residency;
  width: number;
  height: number;
  components: Record<ComponentKind, ComponentMemory>;
  shape: ModelShape;
  activations: Record<Stage, number>;
  overhead: number;
  plan: MemoryPlan;
  /** Peak resident bytes of each stage under `plan` (steady state: the second request on). */
  stages: Record<Stage, number>;
  /** The same for the first request after loading (weights not touched yet count nothing). */
  first: Record<Stage, number>;
  /** The largest of `stages`: what must be free. */
  peak: number;
  /** Everything loaded at once (plan keeps all). */
  allLoaded: number;
}

const GiB = 1024 ** 3;
const SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const isFp8 = (dtype: string) => dtype === 'F8_E4M3' || dtype === 'F8_E5M2';

/** Bytes one tensor holds on the device (see the file comment). */
export function tensorBytes(t: TensorLike, device: DeviceKind, fp8: Fp8Residency = 'stored'): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  if (isFp8(t.dtype)) return fp8 === 'stored' ? n : n * (device === 'cpu' ? 4 : 2);
  if (device === 'cpu' && (t.dtype === 'F16' || t.dtype === 'BF16')) return n * 4;
  return n * (SIZE[t.dtype] ?? 4);
}

/** A component's resident and per-run bytes from its tensors (aliases counted once). */
export function componentMemory(kind: ComponentKind, tensors: Iterable<TensorLike>, device: DeviceKind, fp8: Fp8Residency): ComponentMemory {
  const list = [...tensors];
  const seen = new Set<string>();
  let loaded = 0, mapped = 0, perRun = 0, streamed = 0;
  const blockOf = streamedBlocks(kind, list, device, fp8);
  const blocks = new Map<string, number>();
  let largestMatrix = 0;
  for (const t of list) {
    if (kind === 'autoencoder' && t.name?.startsWith('encoder.')) continue;
    if (t.file !== undefined && t.offset !== undefined && t.offset >= 0) {
      const id = `${t.file}:${t.offset}:${t.length}`;
      if (seen.has(id)) continue;
      seen.add(id);
    }
    const block = blockOf?.(t);
    if (block !== undefined) {
      // Widened by worker threads into one of two float32 buffer sets (runtime/flux/text/t5-streamed.ts,
      // runtime/flux/transformer-streamed.ts); a block's vectors are read as it runs.
      if (isFp8(t.dtype)) {
        const n = t.shape.reduce((a, b) => a * b, 1);
        blocks.set(block, (blocks.get(block) ?? 0) + n);
        largestMatrix = Math.max(largestMatrix, n);
        streamed += n;
      }
      continue;
    }
    // The streamed transformer's entry and exit widen their weights once at load (sessions.ts).
    const bytes = tensorBytes(t, device, blockOf && kind === 'transformer' ? 'widened' : fp8);
    const stored = bytes === storedBytes(t);
    if (kind === 'autoencoder' && device === 'cpu') {
      // The decoder keeps onnxruntime's prepacking (sessions.ts): its weights are read into memory
      // and its convolution weights copied into packed buffers beside them, so they count twice.
      loaded += 2 * bytes;
    } else if (!stored || device !== 'cpu') {
      loaded += bytes;
    } else if (!(kind === 't5' && isEmbedding(t) && isFp8(t.dtype))) {
      mapped += bytes;
    }
    if (!blockOf && fp8 === 'stored' && isFp8(t.dtype) && !isEmbedding(t)) perRun = Math.max(perRun, t.shape.reduce((a, b) => a * b, 1) * (device === 'cpu' ? 4 : 2));
  }
  // Two buffer sets of a block's matrices in float32, resident once a run has written them; the
  // transformer's Gemms also keep a packed float32 copy of their largest weight in onnxruntime's arena.
  if (blocks.size > 0) mapped += 4 * bufferSets(runOrder(blocks), kind === 'transformer') + (kind === 'transformer' ? STREAMED_PACKING * 4 * largestMatrix : 0);
  return { resident: loaded + mapped, loaded, mapped, perRun, ...(streamed > 0 ? { streamed } : {}) };
}

/** Block sizes in the order a run widens them: double blocks, then single blocks, each by index. */
function runOrder(blocks: Map<string, number>): number[] {
  const rank = (k: string) => {
    const m = /^(?:(double|single)_blocks\.)?(\d+)$/.exec(k);
    return m ? (m[1] === 'single' ? 1e6 : 0) + Number(m[2]) : 0;
  };
  return [...blocks.entries()].sort((a, b) => rank(a[0]) - rank(b[0])).map(([, n]) => n);
}

/**
 * Values the two buffer sets hold at most. Block i goes to set i mod 2, and a set's buffers grow to
 * the largest block it has held. The transformer also widens the next run's first block during a
 * run's last (runtime/flux/transformer-streamed.ts): with an odd number of blocks the sets swap
 * parity every run, so each ends up holding the largest block.
 */
function bufferSets(sizes: number[], cyclic: boolean): number {
  if (cyclic && (sizes.length % 2 === 1)) return 2 * Math.max(...sizes);
  const even = sizes.filter((_, i) => i % 2 === 0), odd = sizes.filter((_, i) => i % 2 === 1);
  return Math.max(...even) + (odd.length ? Math.max(...odd) : 0);
}

/**
 * For a component the CPU runs block by block (FP8 kept stored), which block a tensor belongs to
 * (undefined for the rest); undefined when it is not run that way. T5: its block linear weights.
 * The transformer: every tensor of a double or single block, when all their matrices are FP8 (as
 * runtime/flux/transformer-streamed.ts requires; otherwise the whole graph widens in onnxruntime).
 */
function streamedBlocks(kind: ComponentKind, list: TensorLike[], device: DeviceKind, fp8: Fp8Residency): ((t: TensorLike) => string | undefined) | undefined {
  if (device !== 'cpu' || fp8 !== 'stored') return undefined;
  if (kind === 't5') return (t) => (isFp8(t.dtype) ? T5_BLOCK_LINEAR.exec(t.name ?? '')?.[1] : undefined);
  if (kind !== 'transformer') return undefined;
  const block = (t: TensorLike) => FLUX_BLOCK.exec(t.name ?? '')?.[1];
  const matrices = list.filter((t) => block(t) !== undefined && t.shape.length === 2);
  if (matrices.length === 0 || !matrices.every((t) => isFp8(t.dtype))) return undefined;
  return block;
}

/** A FLUX transformer block's tensor; group 1: the block ("double_blocks.3"). */
const FLUX_BLOCK = /(?:^|\.)((?:double|single)_blocks\.\d+)\./;
/** Packed copies of its largest weight the block-by-block transformer's Gemms keep (measured). */
const STREAMED_PACKING = 1;

/** A T5 block's linear weight (what the CPU's block-by-block T5 widens in worker threads); group 1: the block. */
const T5_BLOCK_LINEAR = /(?:^|\.)block\.(\d+)\.layer\.\d+\.(?:SelfAttention\.[qkvo]|DenseReluDense\.(?:wi|wi_0|wi_1|wo))\.weight$/;
/**
 * FLUX.1's double block matrices per largest layer (36·h² over a single block's linear1, 7·h²), and
 * its entry and exit weights (img_in, txt_in, time_in, vector_in, final layer: 4·h² + 5248·h at
 * h = 3072) per the same.
 */
const FLUX_DOUBLE_PER_LARGEST = 36 / 7;
const FLUX_ENDS_PER_LARGEST = (4 * 3072 * 3072 + 5248 * 3072) / (7 * 3072 * 3072);
/** T5-XXL's token embedding (32128 × 4096, not widened per run) per largest layer. */
const T5_XXL_EMBEDDING_PER_LARGEST = (32128 * 4096) / (10240 * 4096);
/** T5-XXL's block linear weights per largest layer (4·4096² + 3·4096·10240 over 4096·10240). */
const T5_XXL_BLOCK_PER_LARGEST = 4 * 4096 / 10240 + 3;

const storedBytes = (t: TensorLike) => t.shape.reduce((a, b) => a * b, 1) * (SIZE[t.dtype] ?? 4);
const isEmbedding = (t: TensorLike) => /(^|\.)(shared|embed_tokens|token_embedding)\.weight$/.test(t.name ?? '');

/** From parameter counts and precisions (a manifest entry, before download): the same rules. */
export function componentFromParams(params: number, precision: string | undefined, device: DeviceKind, fp8: Fp8Residency, largestLayer = 0, kind?: ComponentKind): ComponentMemory {
  const dtype = precision === 'fp8' || precision === 'scaled-fp8' ? 'F8_E4M3' : precision === 'bf16' ? 'BF16' : precision === 'fp16' ? 'F16' : 'F32';
  const bytes = tensorBytes({ dtype, shape: [params] }, device, fp8);
  if (kind === 't5' && device === 'cpu' && fp8 === 'stored' && isFp8(dtype) && largestLayer > 0) {
    // Block by block (see componentMemory): two float32 sets of a block's linear weights; the rest
    // (embedding rows, norms) is read as needed.
    const sets = 2 * 4 * largestLayer * T5_XXL_BLOCK_PER_LARGEST;
    return { resident: sets, loaded: 0, mapped: sets, perRun: 0, streamed: params - largestLayer * T5_XXL_EMBEDDING_PER_LARGEST };
  }
  if (kind === 'transformer' && device === 'cpu' && fp8 === 'stored' && isFp8(dtype) && largestLayer > 0) {
    // Block by block: two float32 sets of a double block's matrices and a packed copy of the
    // largest one (runtime/flux/transformer-streamed.ts); entry and exit widened at load.
    const mapped = 4 * largestLayer * (2 * FLUX_DOUBLE_PER_LARGEST + STREAMED_PACKING);
    const loaded = 4 * largestLayer * FLUX_ENDS_PER_LARGEST;
    return { resident: loaded + mapped, loaded, mapped, perRun: 0, streamed: params - largestLayer * FLUX_ENDS_PER_LARGEST };
  }
  const perRun = fp8 === 'stored' && isFp8(dtype) ? largestLayer * (device === 'cpu' ? 4 : 2) : 0;
  if (kind === 'autoencoder' && device === 'cpu') return { resident: 2 * bytes, loaded: 2 * bytes, mapped: 0, perRun };
  const stored = bytes === storedBytes({ dtype, shape: [params] }) && device === 'cpu';
  return stored ? { resident: bytes, loaded: 0, mapped: bytes, perRun } : { resident: bytes, loaded: bytes, mapped: 0, perRun };
}

/** Activation bytes per stage at a resolution (one image at a time: the pipeline runs samples in turn). */
export function stageActivations(shape: ModelShape, device: DeviceKind, width: number, height: number): Record<Stage, number> {
  const e = device === 'cpu' ? 4 : 2;
  // Transformer: image tokens (2×2 patches of the 1/8 latent) + 256 T5 tokens; the residual and
  // its projections (qkv, attention out, the 4× MLP) plus one attention score matrix.
  const tokens = Math.ceil(height / 16) * Math.ceil(width / 16) + 256;
  const denoise = tokens * shape.hidden * e * 14 + shape.heads * tokens * tokens * e;
  // Decoder: about ten full-resolution feature maps of the last block's width (measured at full
  // width: 0.34 GB at 256², 1.36 GB at 512²), or the mid block's single-head attention.
  const latent = Math.ceil(height / 8) * Math.ceil(width / 8);
  const decode = Math.max(shape.aeChannels * width * height * e * (device === 'cpu' ? 10 : 4), latent * latent * e + shape.aeMidChannels * latent * e * 4);
  const text = 256 * shape.t5Width * e * 10 + shape.t5Heads * 256 * 256 * e;
  return { text, denoise, decode };
}

/** How many times its largest widened layer a session widening on every run keeps in its arena. */
export const WIDEN_WORKSPACE = 3.5;

/** Runtime, graphs, tokenizers and image buffers; a GPU adds its context and workspace. */
export function overheadBytes(device: DeviceKind): number {
  return device === 'cpu' ? 0.2 * GiB : GiB;
}

export interface EstimateInput {
  device: DeviceKind;
  fp8: Fp8Residency;
  width: number;
  height: number;
  components: Record<ComponentKind, ComponentMemory>;
  shape?: ModelShape;
}

/** Which components have run since they were loaded (their mapped weights and workspace are resident). */
export type Warm = Partial<Record<ComponentKind, boolean>>;

/** Everything the plan keeps has run: the second request on. */
const STEADY: Warm = { t5: true, clip: true, transformer: true, autoencoder: true };

const RUNS: Record<Stage, ComponentKind[]> = { text: ['t5', 'clip'], denoise: ['transformer'], decode: ['autoencoder'] };

/** Bytes a component holds once it has run: mapped weights and its workspace. */
function workspace(i: EstimateInput, kind: ComponentKind, act: Record<Stage, number>): number {
  const c = i.components[kind];
  const widen = i.device === 'cpu' ? WIDEN_WORKSPACE * c.perRun : c.perRun;
  if (kind === 't5') return act.text + widen;
  if (kind === 'transformer') return act.denoise + widen;
  if (kind === 'autoencoder') return act.decode;
  return 0;
}

/**
 * Which components are loaded during a stage under a plan, as the pipeline loads and releases
 * them: with `keepTextEncoders` everything loads up front; otherwise T5 and CLIP load for encoding
 * and are released after it, the transformer loads for denoising and the decoder for decoding;
 * both stay with `keepTransformer`, else they are released after the request.
 */
export function loadedDuring(stage: Stage, plan: MemoryPlan, warm: Warm): Record<ComponentKind, boolean> {
  if (plan.keepTextEncoders) return { t5: true, clip: true, transformer: true, autoencoder: true };
  return {
    t5: stage === 'text',
    clip: stage === 'text',
    // Released before the last image's decode when the plan cannot keep it (pipeline.ts).
    transformer: stage === 'denoise' || (plan.keepTransformer && !!warm.transformer),
    autoencoder: stage === 'decode' || (plan.keepTransformer && !!warm.autoencoder),
  };
}

/**
 * Peak resident bytes of one stage under a plan, given which components have already run (`warm`;
 * default: the steady state of a second request). `skipText`: the prompt's encoding is reused, so
 * the text encoders do not run (or load) in the text stage. `loadedNow`: what is loaded at the
 * stage's start (the pipeline's sessions), instead of what the plan implies.
 */
export function stagePeak(i: EstimateInput, plan: MemoryPlan, stage: Stage, warm: Warm = STEADY, skipText = false, loadedNow?: Warm): number {
  const act = stageActivations(i.shape ?? FLUX_SHAPE, i.device, i.width, i.height);
  const loaded = loadedDuring(stage, plan, warm);
  // The pipeline knows what is loaded now: that, plus what this stage loads.
  if (loadedNow) for (const k of Object.keys(loaded) as ComponentKind[]) loaded[k] = !!loadedNow[k] || (RUNS[stage].includes(k) && !(stage === 'text' && skipText));
  if (stage === 'text' && skipText && !plan.keepTextEncoders) loaded.t5 = loaded.clip = false;
  let bytes = overheadBytes(i.device);
  for (const kind of Object.keys(loaded) as ComponentKind[]) {
    if (!loaded[kind]) continue;
    const c = i.components[kind];
    const running = RUNS[stage].includes(kind) && !(stage === 'text' && skipText);
    // A GPU's weights are uploaded at load, and only the running stage's workspace is counted there
    // (unmeasured in this repository; the CPU's arena keeps each loaded component's).
    if (i.device !== 'cpu') bytes += c.loaded + c.mapped + (running ? workspace(i, kind, act) : 0);
    else bytes += c.loaded + (running || warm[kind] ? c.mapped + workspace(i, kind, act) : 0);
  }
  return bytes;
}

/** Stage peaks under one plan (default: the steady state, every kept component has run). */
export function stagePeaks(i: EstimateInput, plan: MemoryPlan, warm: Warm = STEADY): Record<Stage, number> {
  return { text: stagePeak(i, plan, 'text', warm), denoise: stagePeak(i, plan, 'denoise', warm), decode: stagePeak(i, plan, 'decode', warm) };
}

/** The peaks of a first request after loading (nothing has run yet; each stage warms what it runs). */
export function firstRequestPeaks(i: EstimateInput, plan: MemoryPlan): Record<Stage, number> {
  return {
    text: stagePeak(i, plan, 'text', {}),
    denoise: stagePeak(i, plan, 'denoise', plan.keepTextEncoders ? { t5: true, clip: true } : {}),
    decode: stagePeak(i, plan, 'decode', plan.keepTextEncoders ? { t5: true, clip: true, transformer: true } : { transformer: true }),
  };
}

const PLANS: readonly MemoryPlan[] = [
  { keepTextEncoders: true, keepTransformer: true },
  { keepTextEncoders: false, keepTransformer: true },
  { keepTextEncoders: false, keepTransformer: false },
];

/**
 * The estimate with the most that stays loaded while every stage fits in `freeBytes` — with room
 * left for the file cache to hold a streamed transformer's weights when some plan allows it — (the
 * last, leanest plan when none fits: its peak is then the least this needs).
 */
export function estimateStages(i: EstimateInput, freeBytes = Infinity): StageEstimate {
  // A transformer run block by block reads its file on every step: a plan that leaves the file
  // cache room for it is preferred over one that keeps more loaded but reads the disk every step.
  const streamed = i.device === 'cpu' ? i.components.transformer.streamed ?? 0 : 0;
  const fits = (plan: MemoryPlan, extra: number) => Math.max(...Object.values(stagePeaks(i, plan))) + extra <= freeBytes;
  const leanest = PLANS[PLANS.length - 1]!;
  // When no plan leaves it all that room, the leanest leaves the most (steps read less from disk).
  const chosen = PLANS.find((plan) => fits(plan, streamed)) ?? (streamed > 0 ? leanest : PLANS.find((plan) => fits(plan, 0)) ?? leanest);
  const stages = stagePeaks(i, chosen);
  const all = stagePeaks(i, PLANS[0]!);
  return {
    device: i.device, fp8: i.fp8, width: i.width, height: i.height, components: i.components, shape: i.shape ?? FLUX_SHAPE,
    activations: stageActivations(i.shape ?? FLUX_SHAPE, i.device, i.width, i.height),
    overhead: overheadBytes(i.device), plan: chosen, stages, first: firstRequestPeaks(i, chosen),
    peak: Math.max(...Object.values(stages)), allLoaded: Math.max(...Object.values(all)),
  };
}

/** Reads the widths that set the activations from canonical tensor names, defaulting to FLUX's. */
export function shapeOf(components: Partial<Record<ComponentKind, Iterable<TensorLike>>>): ModelShape {
  const find = (kind: ComponentKind, suffix: string) => {
    for (const t of components[kind] ?? []) if (t.name?.endsWith(suffix)) return t.shape;
    return undefined;
  };
  const hidden = find('transformer', 'img_in.weight')?.[0] ?? FLUX_SHAPE.hidden;
  const t5Width = find('t5', 'shared.weight')?.[1] ?? find('t5', 'embed_tokens.weight')?.[1] ?? FLUX_SHAPE.t5Width;
  return {
    hidden,
    // FLUX's head size is 128 (the RoPE axes sum); tiny models have smaller heads, so at least 1.
    heads: Math.max(1, Math.round(hidden / 128)),
    aeChannels: find('autoencoder', 'decoder.conv_out.weight')?.[1] ?? FLUX_SHAPE.aeChannels,
    aeMidChannels: find('autoencoder', 'decoder.mid.attn_1.q.weight')?.[0] ?? FLUX_SHAPE.aeMidChannels,
    t5Width,
    t5Heads: Math.max(1, Math.round(t5Width / 64)),
  };
}

/**
 * The residency the CPU policy picks (runtime/flux/sessions.ts choosePolicy): FP8 widened once
 * when every component widened fits in `usable` bytes, else kept stored.
 */
export function cpuFp8Residency(widenedBytes: number, usable: number): Fp8Residency {
  return widenedBytes <= usable ? 'widened' : 'stored';
}
