// The layers of the FLUX.1 flow transformer as ONNX subgraphs, one function per module of the
// reference (src/flux/modules/layers.py). Activations stay [batch, tokens, hidden] throughout:
// attention runs through com.microsoft MultiHeadAttention and RotaryEmbedding, which take that
// layout directly, so no activation is ever transposed. Ops are chosen for what onnxruntime runs
// fused (Gemm with its bias, LayerNormalization with the modulation as scale/bias,
// SimplifiedLayerNormalization for RMSNorm, FastGelu) and that its GPU providers also implement.
// Measured per-op on the CPU (tests/bench/transformer-efficiency.ts): Gemm and attention take
// about 90% of a step; everything else together about 10%.
import { float, type GraphBuilder } from '../../onnx/graph.js';
import { weightAsFloat, type WeightPolicy } from '../../onnx/weights.js';
import type { FluxParams } from './transformer-params.js';
import type { RowSlicedWeights } from '../checkpoints/weight-rows.js';

const MS = { domain: 'com.microsoft' } as const;
const ONNX_TYPE = { float32: 1, float16: 10 } as const;

/** What every layer needs: the graph, the weights, the widening policy and the shapes. */
export interface Ctx {
  g: GraphBuilder;
  w: RowSlicedWeights;
  policy: WeightPolicy;
  p: FluxParams;
  /**
   * Where a weight comes from when not from the checkpoint: the block-by-block runner
   * (runtime/flux/transformer-streamed.ts) makes each block weight a float32 graph input.
   */
  weightInput?: (key: string) => string;
}

/** A weight as a compute-type value: a graph input under the block-by-block runner, else from the checkpoint. */
function weightOf(ctx: Ctx, key: string): string {
  return ctx.weightInput ? ctx.weightInput(key) : weightAsFloat(ctx.g, ctx.w, key, ctx.policy);
}

/** Per-token rotary tables, shared by every attention layer of one forward. */
export interface RopeTables {
  /** [B, T] int64: row of `cos`/`sin` for each token (tokens are flattened batch-major). */
  positions: string;
  /** [B·T, head_dim/2] in the compute type. */
  cos: string;
  sin: string;
}

/** A float32 value as the compute type (a Cast that onnxruntime folds when the value is constant). */
export function toCompute(ctx: Ctx, x: string): string {
  return ctx.policy.compute === 'float32' ? x : ctx.g.op('Cast', [x], { to: ONNX_TYPE[ctx.policy.compute] });
}

/** A float constant in the compute type. */
function constant(ctx: Ctx, values: number[], dims: number[] = [values.length]): string {
  return toCompute(ctx, ctx.g.floats(values, dims));
}

/**
 * A linear layer y = x·Wᵀ + b on [..., in] values, as one Gemm (transB, bias inside) over the
 * flattened rows: onnxruntime fuses neither a 3-D MatMul with its bias Add nor, for weights that
 * are widened on every run, the Transpose that `linear` puts before the MatMul.
 */
export function lin(ctx: Ctx, prefix: string, x: string): string {
  return gemm(ctx, `${prefix}.weight`, ctx.w.has(`${prefix}.bias`) ? `${prefix}.bias` : undefined, x);
}

/**
 * A fused projection (qkv, linear1) as one linear layer per row range of its weight: the
 * outputs come out separately, with no Split of the activations.
 */
export function linRows(ctx: Ctx, prefix: string, x: string, sizes: number[]): string[] {
  const weights = ctx.w.rows(`${prefix}.weight`, sizes);
  const biases = ctx.w.has(`${prefix}.bias`) ? ctx.w.rows(`${prefix}.bias`, sizes) : [];
  return weights.map((wk, i) => gemm(ctx, wk, biases[i], x));
}

function gemm(ctx: Ctx, weightKey: string, biasKey: string | undefined, x: string): string {
  const { g, w } = ctx;
  const [out, inp] = w.require(weightKey).shape as [number, number];
  const inputs = [g.op('Reshape', [x, g.ints([-1, inp])]), weightOf(ctx, weightKey)];
  if (biasKey) inputs.push(weightOf(ctx, biasKey));
  const y = g.op('Gemm', inputs, { transB: 1 });
  const lead = g.op('Shape', [x], { start: 0, end: -1 });
  return g.op('Reshape', [y, g.op('Concat', [lead, g.ints([out])], { axis: 0 })]);
}

export function silu(g: GraphBuilder, x: string): string {
  return g.op('Mul', [x, g.op('Sigmoid', [x])]);
}

/**
 * timestep_embedding(t, dim): t·1000 times `dim/2` frequencies exp(-ln(10000)·i/half), cos then
 * sin. Computed in float32 whatever the compute type (the arguments reach 1000 radians); the
 * frequencies are rounded as the reference computes them in float32.
 */
export function timestepEmbedding(ctx: Ctx, t: string, dim: number): string {
  const { g } = ctx;
  const half = Math.floor(dim / 2);
  const lnMax = Math.fround(-Math.log(10000));
  const freqs = Array.from({ length: half }, (_, i) => Math.fround(Math.exp(Math.fround(Math.fround(lnMax * i) / half))));
  const scaled = g.op('Mul', [t, g.scalar(1000)]);
  const args = g.op('Mul', [g.op('Unsqueeze', [scaled, g.ints([1])]), g.floats(freqs)]);
  let emb = g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: 1 });
  if (dim % 2) emb = g.op('Pad', [emb, g.ints([0, 0, 0, 1])]);
  return toCompute(ctx, emb);
}

/** MLPEmbedder: in_layer → SiLU → out_layer. */
export function mlpEmbedder(ctx: Ctx, prefix: string, x: string): string {
  return lin(ctx, `${prefix}.out_layer`, silu(ctx.g, lin(ctx, `${prefix}.in_layer`, x)));
}

/**
 * EmbedND + rope: token t's angle for frequency pair j is ids[t, axis(j)] · θ^(−2k/axes_dim[axis])
 * — one small MatMul of the ids with a [axes, head_dim/2] matrix that holds each pair's
 * frequency in its axis's row and zeros elsewhere, so every angle is a single exact product.
 */
export function ropeTables(ctx: Ctx, ids: string): RopeTables {
  const { g, p } = ctx;
  const half = p.head_dim / 2;
  const m = new Float32Array(p.axes_dim.length * half);
  let j = 0;
  p.axes_dim.forEach((d, axis) => {
    for (let k = 0; k < d / 2; k++, j++) m[axis * half + j] = 1 / p.theta ** ((2 * k) / d);
  });
  const angles = g.op('MatMul', [ids, g.constant({ type: 'float32', dims: [p.axes_dim.length, half], data: m }, 'rope_freqs')]);
  const flat = g.op('Reshape', [angles, g.ints([-1, half])]);
  const count = g.op('Shape', [flat], { start: 0, end: 1 });
  const range = g.op('Range', [g.scalar(0, 'int64'), g.op('Squeeze', [count, g.ints([0])]), g.scalar(1, 'int64')]);
  const positions = g.op('Reshape', [range, g.op('Shape', [angles], { start: 0, end: 2 })]);
  return { positions, cos: toCompute(ctx, g.op('Cos', [flat])), sin: toCompute(ctx, g.op('Sin', [flat])) };
}

/** Modulation: Linear(SiLU(vec)) split into `n` [B, 1, hidden] chunks (shift, scale, gate, …). */
export function modulation(ctx: Ctx, prefix: string, siluVec: string, n: number): string[] {
  const { g, p } = ctx;
  const m = g.op('Unsqueeze', [lin(ctx, prefix, siluVec), g.ints([1])]);
  return g.ops('Split', [m, g.ints(Array(n).fill(p.hidden_size))], { axis: -1 }, n);
}

/**
 * (1 + scale) · LayerNorm(x) + shift, LayerNorm without affine parameters (eps 1e-6): the
 * modulation goes in as LayerNormalization's scale and bias ([B, 1, hidden], broadcast over the
 * tokens), one fused kernel instead of three passes over the activations. onnxruntime's CPU and
 * CUDA kernels support exactly this [B, 1, D] broadcast (added for SD3 and FLUX, onnxruntime#23297).
 */
export function modulatedNorm(ctx: Ctx, x: string, shift: string, scale: string): string {
  const { g } = ctx;
  const onePlus = g.op('Add', [scale, constant(ctx, [1], [])]);
  return g.op('LayerNormalization', [x, onePlus, shift], { axis: -1, epsilon: float(1e-6) });
}

/** QKNorm's RMSNorm over each head's width, with its learned scale. [B, T, hidden] in and out. */
export function headRmsNorm(ctx: Ctx, x: string, scaleKey: string): string {
  const { g, p } = ctx;
  const perHead = g.op('Reshape', [x, g.ints([0, 0, p.num_heads, p.head_dim])]);
  const normed = g.op('SimplifiedLayerNormalization', [perHead, weightOf(ctx, scaleKey)], { axis: -1, epsilon: float(1e-6) });
  return g.op('Reshape', [normed, g.ints([0, 0, p.hidden_size])]);
}

/** RoPE on q and k (adjacent pairs, as apply_rope), then softmax(q·kᵀ/√d)·v over all tokens. */
export function attention(ctx: Ctx, q: string, k: string, v: string, rope: RopeTables): string {
  const { g, p } = ctx;
  const rotate = (x: string) =>
    g.op('RotaryEmbedding', [x, rope.positions, rope.cos, rope.sin], { interleaved: 1, num_heads: p.num_heads }, MS);
  return g.op('MultiHeadAttention', [rotate(q), rotate(k), v], { num_heads: p.num_heads, scale: float(1 / Math.sqrt(p.head_dim)) }, MS);
}

/** Linear layer then GELU (tanh approximation). */
export function linearGelu(ctx: Ctx, prefix: string, x: string): string {
  return ctx.g.op('FastGelu', [lin(ctx, prefix, x)], {}, MS);
}

/** x + gate · y */
function gated(g: GraphBuilder, x: string, gate: string, y: string): string {
  return g.op('Add', [x, g.op('Mul', [gate, y])]);
}

/** Tokens along axis 1 of a [B, T, C] value, as a 1-element int64 tensor. */
export function tokenCount(g: GraphBuilder, x: string): string {
  return g.op('Shape', [x], { start: 1, end: 2 });
}

/** DoubleStreamBlock: separate weights for image and text, one attention over both. */
export function doubleStreamBlock(ctx: Ctx, i: number, img: string, txt: string, siluVec: string, rope: RopeTables): [string, string] {
  const { g, p } = ctx;
  const h = p.hidden_size;
  const pre = `double_blocks.${i}`;
  const stream = (name: 'img' | 'txt', x: string) => {
    const [shift1, scale1, gate1, shift2, scale2, gate2] = modulation(ctx, `${pre}.${name}_mod.lin`, siluVec, 6) as [string, string, string, string, string, string];
    const [q, k, v] = linRows(ctx, `${pre}.${name}_attn.qkv`, modulatedNorm(ctx, x, shift1, scale1), [h, h, h]) as [string, string, string];
    return {
      q: headRmsNorm(ctx, q, `${pre}.${name}_attn.norm.query_norm.scale`),
      k: headRmsNorm(ctx, k, `${pre}.${name}_attn.norm.key_norm.scale`),
      v, gate1, shift2, scale2, gate2,
    };
  };
  const im = stream('img', img);
  const tx = stream('txt', txt);
  const cat = (a: string, b: string) => g.op('Concat', [a, b], { axis: 1 });
  const attn = attention(ctx, cat(tx.q, im.q), cat(tx.k, im.k), cat(tx.v, im.v), rope);
  const sizes = g.op('Concat', [tokenCount(g, txt), tokenCount(g, img)], { axis: 0 });
  const [txtAttn, imgAttn] = g.ops('Split', [attn, sizes], { axis: 1 }, 2) as [string, string];
  const finish = (name: 'img' | 'txt', x: string, a: string, s: typeof im) => {
    const y = gated(g, x, s.gate1, lin(ctx, `${pre}.${name}_attn.proj`, a));
    const mlp = lin(ctx, `${pre}.${name}_mlp.2`, linearGelu(ctx, `${pre}.${name}_mlp.0`, modulatedNorm(ctx, y, s.shift2, s.scale2)));
    return gated(g, y, s.gate2, mlp);
  };
  return [finish('img', img, imgAttn, im), finish('txt', txt, txtAttn, tx)];
}

/** SingleStreamBlock: one linear gives q, k, v and the MLP input; attention and MLP in parallel. */
export function singleStreamBlock(ctx: Ctx, i: number, x: string, siluVec: string, rope: RopeTables): string {
  const { g, p } = ctx;
  const h = p.hidden_size;
  const pre = `single_blocks.${i}`;
  const [shift, scale, gate] = modulation(ctx, `${pre}.modulation.lin`, siluVec, 3) as [string, string, string];
  const xm = modulatedNorm(ctx, x, shift, scale);
  const [q, k, v, mlp] = linRows(ctx, `${pre}.linear1`, xm, [h, h, h, p.mlp_hidden_dim]) as [string, string, string, string];
  const attn = attention(ctx, headRmsNorm(ctx, q, `${pre}.norm.query_norm.scale`), headRmsNorm(ctx, k, `${pre}.norm.key_norm.scale`), v, rope);
  const out = lin(ctx, `${pre}.linear2`, g.op('Concat', [attn, g.op('FastGelu', [mlp], {}, MS)], { axis: -1 }));
  return gated(g, x, gate, out);
}

/** LastLayer: adaLN (shift, then scale) and the output projection. */
export function lastLayer(ctx: Ctx, x: string, siluVec: string): string {
  const [shift, scale] = modulation(ctx, 'final_layer.adaLN_modulation.1', siluVec, 2) as [string, string];
  return lin(ctx, 'final_layer.linear', modulatedNorm(ctx, x, shift, scale));
}
