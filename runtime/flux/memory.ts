// One memory estimate for a FLUX model set on a device, per stage (text encoders, transformer,
// decoder) and weight policy. `schnell models fit` (files on disk or a manifest entry), the loader
// before anything loads, the pipeline's plan of what stays resident, and the router all ask this
// module, so they cannot disagree. Bytes are what the process will hold resident (RSS):
//  - FP8 kept as stored (policies 'widen', 'dequantize', 'table'): the file's bytes, memory-mapped,
//    plus, while a layer runs, its weight widened to 4 bytes per value (the arena is off for these
//    sessions, runtime/flux/sessions.ts, so one widened weight at a time);
//  - FP8 widened once at load ('cast'): 4 bytes per value (2 in float16);
//  - 16-bit floats on the CPU: widened once at load to float32; float32: mapped as stored;
//  - the autoencoder's encoder half is never read by the decoder graph, so it costs nothing; the
//    decoder's weights count twice on the CPU (prepacked copies beside the mapped file).
// Activations are rough formulas (a few full-width tensors per stage); at full size the weights
// dominate, and `npm run bench:fullsize` prints each stage's estimate beside its measured peak.

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
  /** Resident while the component's session is loaded. */
  resident: number;
  /** Extra while it runs: its widest weight widened for one layer (FP8 kept stored only). */
  perRun: number;
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
  activations: Record<Stage, number>;
  overhead: number;
  plan: MemoryPlan;
  /** Peak resident bytes of each stage under `plan` (steady state: the second request on). */
  stages: Record<Stage, number>;
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
  const seen = new Set<string>();
  let resident = 0, perRun = 0;
  for (const t of tensors) {
    if (kind === 'autoencoder' && t.name?.startsWith('encoder.')) continue;
    if (t.file !== undefined && t.offset !== undefined && t.offset >= 0) {
      const id = `${t.file}:${t.offset}:${t.length}`;
      if (seen.has(id)) continue;
      seen.add(id);
    }
    // The decoder keeps onnxruntime's prepacking (sessions.ts): its convolution weights are copied
    // into packed buffers beside the mapped file pages, so they count twice.
    resident += tensorBytes(t, device, fp8) * (kind === 'autoencoder' && device === 'cpu' ? 2 : 1);
    if (fp8 === 'stored' && isFp8(t.dtype)) perRun = Math.max(perRun, t.shape.reduce((a, b) => a * b, 1) * (device === 'cpu' ? 4 : 2));
  }
  return { resident, perRun };
}

/** From parameter counts and precisions (a manifest entry, before download): the same rules. */
export function componentFromParams(params: number, precision: string | undefined, device: DeviceKind, fp8: Fp8Residency, largestLayer = 0): ComponentMemory {
  const dtype = precision === 'fp8' || precision === 'scaled-fp8' ? 'F8_E4M3' : precision === 'bf16' ? 'BF16' : precision === 'fp16' ? 'F16' : 'F32';
  const resident = tensorBytes({ dtype, shape: [params] }, device, fp8);
  const perRun = fp8 === 'stored' && isFp8(dtype) ? largestLayer * (device === 'cpu' ? 4 : 2) : 0;
  return { resident, perRun };
}

/** Activation bytes per stage at a resolution (one image at a time: the pipeline runs samples in turn). */
export function stageActivations(shape: ModelShape, device: DeviceKind, width: number, height: number): Record<Stage, number> {
  const e = device === 'cpu' ? 4 : 2;
  // Transformer: image tokens (2×2 patches of the 1/8 latent) + 256 T5 tokens; the residual and
  // its projections (qkv, attention out, the 4× MLP) plus one attention score matrix.
  const tokens = Math.ceil(height / 16) * Math.ceil(width / 16) + 256;
  const denoise = tokens * shape.hidden * e * 14 + shape.heads * tokens * tokens * e;
  // Decoder: a few full-resolution feature maps, or the mid block's single-head attention.
  const latent = Math.ceil(height / 8) * Math.ceil(width / 8);
  const decode = Math.max(shape.aeChannels * width * height * e * 4, latent * latent * e + shape.aeMidChannels * latent * e * 4);
  const text = 256 * shape.t5Width * e * 10 + shape.t5Heads * 256 * 256 * e;
  return { text, denoise, decode };
}

/** Runtime, graphs, tokenizers and image buffers; a GPU adds its context and workspace. */
export function overheadBytes(device: DeviceKind): number {
  return device === 'cpu' ? 0.5 * GiB : GiB;
}

export interface EstimateInput {
  device: DeviceKind;
  fp8: Fp8Residency;
  width: number;
  height: number;
  components: Record<ComponentKind, ComponentMemory>;
  shape?: ModelShape;
}

/** Stage peaks under one plan. */
export function stagePeaks(i: EstimateInput, plan: MemoryPlan): Record<Stage, number> {
  const c = i.components;
  const act = stageActivations(i.shape ?? FLUX_SHAPE, i.device, i.width, i.height);
  const o = overheadBytes(i.device);
  const text = c.t5.resident + c.clip.resident;
  const tr = c.transformer.resident;
  return {
    text: o + text + act.text + c.t5.perRun + (plan.keepTransformer ? tr : 0),
    denoise: o + tr + act.denoise + c.transformer.perRun + (plan.keepTextEncoders ? text : 0),
    decode: o + c.autoencoder.resident + act.decode + (plan.keepTransformer ? tr : 0) + (plan.keepTextEncoders ? text : 0),
  };
}

const PLANS: readonly MemoryPlan[] = [
  { keepTextEncoders: true, keepTransformer: true },
  { keepTextEncoders: false, keepTransformer: true },
  { keepTextEncoders: false, keepTransformer: false },
];

/**
 * The estimate with the most that stays loaded while every stage fits in `freeBytes` (the last,
 * leanest plan when none fits: its peak is then the least this needs).
 */
export function estimateStages(i: EstimateInput, freeBytes = Infinity): StageEstimate {
  let chosen = PLANS[PLANS.length - 1]!;
  for (const plan of PLANS) {
    if (Math.max(...Object.values(stagePeaks(i, plan))) <= freeBytes) {
      chosen = plan;
      break;
    }
  }
  const stages = stagePeaks(i, chosen);
  const all = stagePeaks(i, PLANS[0]!);
  return {
    device: i.device, fp8: i.fp8, width: i.width, height: i.height, components: i.components,
    activations: stageActivations(i.shape ?? FLUX_SHAPE, i.device, i.width, i.height),
    overhead: overheadBytes(i.device), plan: chosen, stages,
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
