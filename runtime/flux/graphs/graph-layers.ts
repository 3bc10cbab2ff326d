// Building blocks shared by the T5, CLIP and autoencoder graph builders, and the helpers that
// read their hyperparameters. One precision rule for all three: values between layers are
// float32; only MatMul/Conv run in the policy's compute type (float16 on GPU providers), so
// norms, softmax and residual sums never lose range (T5 v1.1 overflows float16 otherwise).
import { float, type GraphBuilder } from '../../onnx/graph.js';
import { embeddingRows, linear as linearLayer, weightAsFloat, type WeightPolicy } from '../../onnx/weights.js';
import type { TensorInfo, Weights } from '../../onnx/tensor-source.js';

const ONNX_FLOAT = 1;
const ONNX_FLOAT16 = 10;

/** Activation functions by their Hugging Face `hidden_act` / `dense_act_fn` names. */
export type Activation = 'relu' | 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'quick_gelu' | 'silu';
const ACTIVATIONS: readonly Activation[] = ['relu', 'gelu', 'gelu_new', 'gelu_pytorch_tanh', 'quick_gelu', 'silu'];
const ACTIVATION_ALIASES: Record<string, Activation> = { gelu_fast: 'gelu_new', swish: 'silu' };

export class Layers {
  /** The same policy computing in float32: norms, biases, embeddings. */
  readonly f32: WeightPolicy;

  constructor(readonly g: GraphBuilder, readonly w: Weights, readonly policy: WeightPolicy) {
    this.f32 = { ...policy, compute: 'float32' };
  }

  private get half(): boolean {
    return this.policy.compute === 'float16';
  }

  toCompute(x: string): string {
    return this.half ? this.g.op('Cast', [x], { to: ONNX_FLOAT16 }) : x;
  }

  toFloat(x: string): string {
    return this.half ? this.g.op('Cast', [x], { to: ONNX_FLOAT }) : x;
  }

  /** A small tensor (norm scale, bias, embedding table) as float32. */
  param(key: string): string {
    return weightAsFloat(this.g, this.w, key, this.f32);
  }

  /** Rows of an embedding table as float32 (FP8 kept stored: only the rows are widened). */
  embedding(key: string, ids: string): string {
    return embeddingRows(this.g, this.w, key, ids, this.policy);
  }

  scalar(value: number): string {
    return this.g.scalar(value);
  }

  /** y = x·Wᵀ + b in the compute type; float32 in and out. */
  linear(prefix: string, x: string, policy: WeightPolicy = this.policy): string {
    const half = policy.compute === 'float16';
    const xin = half ? this.g.op('Cast', [x], { to: ONNX_FLOAT16 }) : x;
    const y0 = linearLayer(this.g, this.w, prefix, xin, policy, false);
    const y = half ? this.g.op('Cast', [y0], { to: ONNX_FLOAT }) : y0;
    return this.w.has(`${prefix}.bias`) ? this.g.op('Add', [y, this.param(`${prefix}.bias`)]) : y;
  }

  /** MatMul of two activations in the compute type; float32 out. */
  matmul(a: string, b: string): string {
    return this.toFloat(this.g.op('MatMul', [this.toCompute(a), this.toCompute(b)]));
  }

  /** A 2-D convolution with 'same' padding (BFL uses padding (k-1)/2 everywhere). */
  conv(prefix: string, x: string): string {
    const info = this.w.require(`${prefix}.weight`);
    const [, , kh, kw] = info.shape as [number, number, number, number];
    const weight = weightAsFloat(this.g, this.w, `${prefix}.weight`, this.policy);
    const inputs = [this.toCompute(x), weight];
    if (this.w.has(`${prefix}.bias`)) inputs.push(weightAsFloat(this.g, this.w, `${prefix}.bias`, this.policy));
    const ph = (kh - 1) >> 1, pw = (kw - 1) >> 1;
    return this.toFloat(this.g.op('Conv', inputs, { kernel_shape: [kh, kw], pads: [ph, pw, ph, pw] }));
  }

  layerNorm(x: string, prefix: string, eps: number): string {
    return this.g.op('LayerNormalization', [x, this.param(`${prefix}.weight`), this.param(`${prefix}.bias`)], {
      axis: -1,
      epsilon: float(eps),
    });
  }

  /** T5LayerNorm: x · rsqrt(mean(x²) + eps) · weight (no mean subtraction, no bias). */
  rmsNorm(x: string, key: string, eps: number): string {
    const g = this.g;
    const meanSq = g.op('ReduceMean', [g.op('Mul', [x, x]), g.ints([-1])], { keepdims: 1 });
    const rms = g.op('Sqrt', [g.op('Add', [meanSq, this.scalar(eps)])]);
    return g.op('Mul', [g.op('Div', [x, rms]), this.param(key)]);
  }

  /** GroupNorm over NCHW with per-channel affine (ONNX opset 21 semantics, checked in tests). */
  groupNorm(x: string, prefix: string, groups: number, eps: number): string {
    return this.g.op('GroupNormalization', [x, this.param(`${prefix}.weight`), this.param(`${prefix}.bias`)], {
      num_groups: groups,
      epsilon: float(eps),
    });
  }

  activation(x: string, act: Activation): string {
    const g = this.g;
    switch (act) {
      case 'relu': return g.op('Relu', [x]);
      case 'gelu': return g.op('Gelu', [x]);
      case 'gelu_new': case 'gelu_pytorch_tanh': return g.op('Gelu', [x], { approximate: 'tanh' });
      case 'quick_gelu': return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [x, this.scalar(1.702)])])]);
      case 'silu': return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    }
  }

  /**
   * Multi-head attention over [B, L, H·D] float32 projections. `scale` multiplies the scores
   * (T5 uses none); `bias` is added to the scores before softmax, broadcast against [B, H, L, L].
   */
  attention(q: string, k: string, v: string, heads: number, headDim: number, opts: { scale?: number; bias?: string } = {}): string {
    const g = this.g;
    const split = g.ints([0, 0, heads, headDim]);
    const qh = g.op('Transpose', [g.op('Reshape', [q, split])], { perm: [0, 2, 1, 3] });
    const kh = g.op('Transpose', [g.op('Reshape', [k, split])], { perm: [0, 2, 3, 1] });
    const vh = g.op('Transpose', [g.op('Reshape', [v, split])], { perm: [0, 2, 1, 3] });
    let scores = this.matmul(qh, kh);
    if (opts.scale !== undefined) scores = g.op('Mul', [scores, this.scalar(opts.scale)]);
    if (opts.bias) scores = g.op('Add', [scores, opts.bias]);
    const probs = g.op('Softmax', [scores], { axis: -1 });
    const out = g.op('Transpose', [this.matmul(probs, vh)], { perm: [0, 2, 1, 3] });
    return g.op('Reshape', [out, g.ints([0, 0, heads * headDim])]);
  }

  /** [L] int64 positions 0..L-1, where L is dimension `axis` of `x`. */
  positions(x: string, axis: number): string {
    const g = this.g;
    const len = g.op('Gather', [g.op('Shape', [x]), g.scalar(axis, 'int64')], { axis: 0 });
    return g.op('Range', [g.scalar(0, 'int64'), len, g.scalar(1, 'int64')]);
  }
}

// ---- hyperparameters from shapes and config files ------------------------------------------

/** "the T5 checkpoint (file.safetensors)": how messages name the weights. */
export function describe(w: Weights): string {
  return `the ${w.component} checkpoint (${w.files.join(', ') || 'no file'})`;
}

/** The tensor's shape, checked to have `rank` dimensions. */
export function shapeOf(w: Weights, key: string, rank: number): number[] {
  const info: TensorInfo = w.require(key);
  if (info.shape.length !== rank || info.shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new Error(`${info.file}: tensor '${key}' has shape [${info.shape.join(', ')}], but the ${w.component} needs a ${rank}-D tensor here; the file does not hold a ${w.component} of a known layout.`);
  }
  return info.shape;
}

/** Requires `key` to have exactly `expected` as its shape. */
export function expectShape(w: Weights, key: string, expected: number[]): void {
  const info = w.require(key);
  if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`${info.file}: tensor '${key}' has shape [${info.shape.join(', ')}], expected [${expected.join(', ')}] from the rest of the ${w.component}; the checkpoint is inconsistent.`);
  }
}

/**
 * How many consecutive numbered sub-modules exist (`prefix.0…`, `prefix.1…`), requiring that no
 * higher index appears after a gap (that would be a truncated or mismatched checkpoint).
 */
export function countIndexed(w: Weights, prefix: string, probe: (i: number) => string): number {
  let n = 0;
  while (w.has(probe(n))) n++;
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)\\.`);
  let highest = -1;
  for (const key of w.keys()) {
    const m = pattern.exec(key);
    if (m) highest = Math.max(highest, Number(m[1]));
  }
  if (highest >= n) {
    throw new Error(`${describe(w)} has tensors for ${prefix}.${highest} but is missing '${probe(n)}'; the file is incomplete.`);
  }
  return n;
}

type Config = Record<string, unknown> | undefined;

function configValue(config: Config, key: string): unknown {
  return config && Object.prototype.hasOwnProperty.call(config, key) ? config[key] : undefined;
}

/** A positive integer config field, or undefined when absent (null counts as absent, as in HF). */
export function configInt(w: Weights, config: Config, key: string): number | undefined {
  const v = configValue(config, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new Error(`${describe(w)}: config field '${key}' must be a positive integer, got ${JSON.stringify(v)}.`);
  }
  return v;
}

/** An integer config field that may be zero or negative (token ids). */
export function configId(w: Weights, config: Config, key: string): number | undefined {
  const v = configValue(config, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new Error(`${describe(w)}: config field '${key}' must be an integer, got ${JSON.stringify(v)}.`);
  }
  return v;
}

export function configPositive(w: Weights, config: Config, key: string): number | undefined {
  const v = configValue(config, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new Error(`${describe(w)}: config field '${key}' must be a positive number, got ${JSON.stringify(v)}.`);
  }
  return v;
}

export function configString(w: Weights, config: Config, key: string): string | undefined {
  const v = configValue(config, key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`${describe(w)}: config field '${key}' must be a string, got ${JSON.stringify(v)}.`);
  return v;
}

export function parseActivation(w: Weights, key: string, name: string): Activation {
  const act = ACTIVATION_ALIASES[name] ?? name;
  if (!(ACTIVATIONS as readonly string[]).includes(act)) {
    throw new Error(`${describe(w)}: config field '${key}' is '${name}', which is not supported (use one of ${ACTIVATIONS.join(', ')}).`);
  }
  return act as Activation;
}

/** Requires a value read from shapes to agree with the config file when the config states it. */
export function agree(w: Weights, key: string, fromConfig: number | undefined, fromShapes: number, what: string): number {
  if (fromConfig !== undefined && fromConfig !== fromShapes) {
    throw new Error(`${describe(w)}: config field '${key}' is ${fromConfig}, but the weights have ${fromShapes} ${what}; the config file belongs to another model.`);
  }
  return fromShapes;
}
