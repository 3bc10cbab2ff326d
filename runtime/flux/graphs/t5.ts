// The T5 encoder (Hugging Face `T5EncoderModel`, v1.1 as FLUX uses it) as an ONNX graph:
// input_ids int64 [B, L] → last_hidden_state float32 [B, L, d_model]. No attention mask: FLUX
// attends to pad tokens. Sizes come from the tensor shapes; the relative-position bucketing
// (num_buckets / max_distance) and head count come from config.json where shapes cannot show them.
import { GraphBuilder } from '../../onnx/graph.js';
import { CPU_POLICY, type WeightPolicy } from '../../onnx/weights.js';
import {
  type Activation, Layers, agree, configInt, configPositive, configString, countIndexed, describe,
  expectShape, parseActivation, shapeOf,
} from './graph-layers.js';
import type { Weights } from '../../onnx/tensor-source.js';

/** Bump when the graph this file builds changes (the built-graph cache keys on it). */
export const T5_BUILDER_VERSION = 2;

export interface T5Params {
  vocabSize: number;
  dModel: number;
  numHeads: number;
  /** Per-head width; numHeads·dKv is the attention's inner width (need not equal dModel). */
  dKv: number;
  dFf: number;
  numLayers: number;
  numBuckets: number;
  maxDistance: number;
  eps: number;
  /** v1.1: act(wi_0 x) · wi_1 x; v1.0: act(wi x). */
  gated: boolean;
  activation: Activation;
  /** Canonical key of the token embedding table. */
  embedding: string;
}

const block = (i: number) => `encoder.block.${i}`;
const attn = (i: number) => `${block(i)}.layer.0.SelfAttention`;
const ff = (i: number) => `${block(i)}.layer.1.DenseReluDense`;
const RELATIVE_BIAS = `${attn(0)}.relative_attention_bias.weight`;
/** transformers' T5Config default, used when config.json does not say. */
const DEFAULT_MAX_DISTANCE = 128;

/** Hyperparameters from the tensor shapes, plus what only config.json holds (`w.config` by default). */
export function t5Params(w: Weights, config: Record<string, unknown> | undefined = w.config): T5Params {
  const embedding = w.has('encoder.embed_tokens.weight') ? 'encoder.embed_tokens.weight' : 'shared.weight';
  if (!w.has(embedding)) {
    throw new Error(`${describe(w)} has no token embedding ('shared.weight' or 'encoder.embed_tokens.weight'); it is not a T5 encoder.`);
  }
  const [vocabSize, dModel] = shapeOf(w, embedding, 2) as [number, number];
  agree(w, 'd_model', configInt(w, config, 'd_model'), dModel, 'model width');
  const numLayers = countIndexed(w, 'encoder.block', (i) => `${attn(i)}.q.weight`);
  if (numLayers === 0) throw new Error(`${describe(w)} has no encoder blocks ('${attn(0)}.q.weight' is missing); it is not a T5 encoder.`);
  agree(w, 'num_layers', configInt(w, config, 'num_layers'), numLayers, 'encoder blocks');

  const [innerDim] = shapeOf(w, `${attn(0)}.q.weight`, 2) as [number, number];
  const [numBuckets, biasHeads] = shapeOf(w, RELATIVE_BIAS, 2) as [number, number];
  const numHeads = agree(w, 'num_heads', configInt(w, config, 'num_heads'), biasHeads, 'relative-attention-bias heads');
  if (innerDim % numHeads !== 0) {
    throw new Error(`${describe(w)}: the attention width ${innerDim} does not split into ${numHeads} heads.`);
  }
  const dKv = agree(w, 'd_kv', configInt(w, config, 'd_kv'), innerDim / numHeads, 'dimensions per head');
  agree(w, 'relative_attention_num_buckets', configInt(w, config, 'relative_attention_num_buckets'), numBuckets, 'relative-position buckets');
  const maxDistance = configInt(w, config, 'relative_attention_max_distance') ?? DEFAULT_MAX_DISTANCE;
  if (maxDistance > 1 << 20) throw new Error(`${describe(w)}: config field 'relative_attention_max_distance' (${maxDistance}) is implausibly large.`);
  if (numBuckets < 4) throw new Error(`${describe(w)}: '${RELATIVE_BIAS}' has ${numBuckets} buckets; bidirectional bucketing needs at least 4.`);

  const gated = w.has(`${ff(0)}.wi_0.weight`);
  const wiKey = gated ? `${ff(0)}.wi_0.weight` : `${ff(0)}.wi.weight`;
  const [dFf] = shapeOf(w, wiKey, 2) as [number, number];
  agree(w, 'd_ff', configInt(w, config, 'd_ff'), dFf, 'feed-forward units');

  const actName = configString(w, config, 'dense_act_fn') ?? feedForwardAct(configString(w, config, 'feed_forward_proj')) ?? (gated ? 'gelu_new' : 'relu');
  const activation = parseActivation(w, 'dense_act_fn', actName);
  const eps = configPositive(w, config, 'layer_norm_epsilon') ?? 1e-6;

  const p: T5Params = { vocabSize, dModel, numHeads, dKv, dFf, numLayers, numBuckets, maxDistance, eps, gated, activation, embedding };
  checkShapes(w, p);
  return p;
}

/** transformers' T5Config: 'gated-gelu' means gelu_new; otherwise the name after 'gated-'. */
function feedForwardAct(proj: string | undefined): string | undefined {
  if (proj === undefined) return undefined;
  if (proj === 'gated-gelu') return 'gelu_new';
  return proj.replace(/^gated-/, '');
}

/** Every layer's tensors must have the shapes the first layer implies (clear error otherwise). */
function checkShapes(w: Weights, p: T5Params): void {
  const inner = p.numHeads * p.dKv;
  for (let i = 0; i < p.numLayers; i++) {
    for (const n of ['q', 'k', 'v']) expectShape(w, `${attn(i)}.${n}.weight`, [inner, p.dModel]);
    expectShape(w, `${attn(i)}.o.weight`, [p.dModel, inner]);
    expectShape(w, `${block(i)}.layer.0.layer_norm.weight`, [p.dModel]);
    expectShape(w, `${block(i)}.layer.1.layer_norm.weight`, [p.dModel]);
    for (const n of p.gated ? ['wi_0', 'wi_1'] : ['wi']) expectShape(w, `${ff(i)}.${n}.weight`, [p.dFf, p.dModel]);
    expectShape(w, `${ff(i)}.wo.weight`, [p.dModel, p.dFf]);
  }
  expectShape(w, 'encoder.final_layer_norm.weight', [p.dModel]);
}

/**
 * transformers' `T5Attention._relative_position_bucket` (bidirectional) for one relative position
 * `key − query`, reproducing its float32 arithmetic so bucket edges (e.g. distance 16, 32, 64 with
 * the defaults) land where PyTorch puts them.
 */
export function relativePositionBucket(relative: number, numBuckets: number, maxDistance: number): number {
  const f = Math.fround;
  const half = Math.floor(numBuckets / 2);
  const offset = relative > 0 ? half : 0;
  const n = Math.abs(relative);
  const maxExact = Math.floor(half / 2);
  if (n < maxExact) return offset + n;
  const ratio = f(f(Math.log(f(n / maxExact))) / f(Math.log(maxDistance / maxExact)));
  const large = maxExact + Math.trunc(f(ratio * (half - maxExact)));
  return offset + Math.min(large, half - 1);
}

/**
 * Buckets for relative positions −maxDistance…maxDistance. Beyond ±maxDistance every bucket is
 * the last one, so clamping the relative position to this range keeps L symbolic and exact.
 */
export function bucketTable(numBuckets: number, maxDistance: number): BigInt64Array {
  const out = new BigInt64Array(2 * maxDistance + 1);
  for (let r = -maxDistance; r <= maxDistance; r++) out[r + maxDistance] = BigInt(relativePositionBucket(r, numBuckets, maxDistance));
  return out;
}

export function buildT5Encoder(w: Weights, p: T5Params = t5Params(w), policy: WeightPolicy = CPU_POLICY): GraphBuilder {
  const g = new GraphBuilder('t5_encoder');
  const nn = new Layers(g, w, policy);
  const ids = g.input('input_ids', 'int64', ['batch', 'tokens']);
  let x = nn.embedding(p.embedding, ids);

  // Position bias [1, H, L, L], computed once (block 0's table) and shared by every layer.
  const pos = nn.positions(ids, 1);
  const rel = g.op('Sub', [g.op('Unsqueeze', [pos, g.ints([0])]), g.op('Unsqueeze', [pos, g.ints([1])])]);
  const clamped = g.op('Clip', [rel, g.scalar(-p.maxDistance, 'int64'), g.scalar(p.maxDistance, 'int64')]);
  const table = g.constant({ type: 'int64', dims: [2 * p.maxDistance + 1], data: bucketTable(p.numBuckets, p.maxDistance) }, 't5_buckets');
  const buckets = g.op('Gather', [table, g.op('Add', [clamped, g.scalar(p.maxDistance, 'int64')])], { axis: 0 });
  const biasLLH = g.op('Gather', [nn.param(RELATIVE_BIAS), buckets], { axis: 0 });
  const positionBias = g.op('Unsqueeze', [g.op('Transpose', [biasLLH], { perm: [2, 0, 1] }), g.ints([0])]);

  // The feed-forward output projection stays float32 even under a float16 policy, as transformers
  // keeps `wo` in float32: T5 v1.1 activations overflow float16 there.
  const woPolicy: WeightPolicy = { ...policy, compute: 'float32' };
  for (let i = 0; i < p.numLayers; i++) {
    const h = nn.rmsNorm(x, `${block(i)}.layer.0.layer_norm.weight`, p.eps);
    const q = nn.linear(`${attn(i)}.q`, h);
    const k = nn.linear(`${attn(i)}.k`, h);
    const v = nn.linear(`${attn(i)}.v`, h);
    const a = nn.attention(q, k, v, p.numHeads, p.dKv, { bias: positionBias });
    x = g.op('Add', [x, nn.linear(`${attn(i)}.o`, a)]);

    const f = nn.rmsNorm(x, `${block(i)}.layer.1.layer_norm.weight`, p.eps);
    const hidden = p.gated
      ? g.op('Mul', [nn.activation(nn.linear(`${ff(i)}.wi_0`, f), p.activation), nn.linear(`${ff(i)}.wi_1`, f)])
      : nn.activation(nn.linear(`${ff(i)}.wi`, f), p.activation);
    x = g.op('Add', [x, nn.linear(`${ff(i)}.wo`, hidden, woPolicy)]);
  }
  const out = nn.rmsNorm(x, 'encoder.final_layer_norm.weight', p.eps);
  g.output(out, 'last_hidden_state', 'float32', ['batch', 'tokens', p.dModel]);
  return g;
}
