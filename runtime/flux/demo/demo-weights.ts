// Random weights in the real FLUX.1 checkpoint layouts, for the untrained demo model and the
// benchmark's synthetic checkpoints. Values come from a seeded integer PRNG and are uniform (only
// multiplications, so every platform writes the same bytes); each tensor is scaled by 1/√fan_in so
// activations stay near unit size through the blocks.
import type { TensorToWrite } from '../checkpoints/safetensors.js';

/** xoshiro128** — small, fast, and deterministic everywhere. */
export class Prng {
  private a = 0; private b = 0; private c = 0; private d = 0;
  constructor(seed: number) {
    // splitmix32 expands the seed into the four state words.
    let x = seed >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next(); this.b = next(); this.c = next(); this.d = next();
  }
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c = (this.c ^ this.a) >>> 0;
    this.d = (this.d ^ this.b) >>> 0;
    this.b = (this.b ^ this.c) >>> 0;
    this.a = (this.a ^ this.d) >>> 0;
    this.c = (this.c ^ t) >>> 0;
    this.d = rotl(this.d, 11);
    return result;
  }
  /** Uniform in [-1, 1). */
  symmetric(): number {
    return this.nextU32() / 2 ** 31 - 1;
  }
}
const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

/** A builder that collects named tensors with deterministic contents. */
export class TensorSet {
  readonly tensors: TensorToWrite[] = [];
  constructor(private rng: Prng, protected prefix = '') {}

  /** Uniform values with standard deviation `std` (uniform on ±√3·std). */
  random(name: string, shape: number[], std: number): void {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const a = Math.sqrt(3) * std;
    for (let i = 0; i < n; i++) data[i] = this.rng.symmetric() * a;
    this.tensors.push({ name: this.prefix + name, dtype: 'F32', shape, data });
  }
  fill(name: string, shape: number[], value: number): void {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value);
    this.tensors.push({ name: this.prefix + name, dtype: 'F32', shape, data });
  }
  /** A linear layer [out, in] (+ bias), scaled by gain/√in. */
  linear(name: string, out: number, inp: number, gain = 1, bias = true): void {
    this.random(`${name}.weight`, [out, inp], gain / Math.sqrt(inp));
    if (bias) this.random(`${name}.bias`, [out], 0.02);
  }
  conv(name: string, out: number, inp: number, k: number, gain = 1): void {
    this.random(`${name}.weight`, [out, inp, k, k], gain / Math.sqrt(inp * k * k));
    this.random(`${name}.bias`, [out], 0.02);
  }
  /**
   * A 3×3 convolution that mixes channels at random but blurs space with a fixed binomial kernel,
   * so a decoder built from these turns latent noise into smooth colour fields, not pixel noise.
   */
  smoothConv(name: string, out: number, inp: number, gain = 1): void {
    const kernel = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);
    const data = new Float32Array(out * inp * 9);
    const a = Math.sqrt(3) * gain / Math.sqrt(inp);
    for (let oi = 0; oi < out * inp; oi++) {
      const r = this.rng.symmetric() * a;
      for (let k = 0; k < 9; k++) data[oi * 9 + k] = r * kernel[k]!;
    }
    this.tensors.push({ name: this.prefix + `${name}.weight`, dtype: 'F32', shape: [out, inp, 3, 3], data });
    this.random(`${name}.bias`, [out], 0.02);
  }
  norm(name: string, width: number): void {
    this.fill(`${name}.weight`, [width], 1);
    this.fill(`${name}.bias`, [width], 0);
  }
}

// ---- the flow transformer (BFL flux1-schnell.safetensors layout) ------------------------------

export interface TransformerShape {
  hidden: number;
  heads: number;
  depth: number;
  depthSingle: number;
  mlpRatio: number;
  /** T5 width. */
  contextDim: number;
  /** CLIP pooled width. */
  vecDim: number;
  inChannels?: number;
  guidanceEmbed?: boolean;
}

export function transformerTensors(s: TransformerShape, seed: number, t = new TensorSet(new Prng(seed))): TensorToWrite[] {
  const h = s.hidden, head = h / s.heads, mlp = Math.round(h * s.mlpRatio), inC = s.inChannels ?? 64;
  if (!Number.isInteger(head)) throw new Error(`hidden ${h} is not divisible by ${s.heads} heads`);
  t.linear('img_in', h, inC);
  t.linear('txt_in', h, s.contextDim);
  t.linear('time_in.in_layer', h, 256);
  t.linear('time_in.out_layer', h, h);
  t.linear('vector_in.in_layer', h, s.vecDim);
  t.linear('vector_in.out_layer', h, h);
  if (s.guidanceEmbed) {
    t.linear('guidance_in.in_layer', h, 256);
    t.linear('guidance_in.out_layer', h, h);
  }
  // Modulations start small so every block begins close to the identity plus a residual.
  for (let i = 0; i < s.depth; i++) {
    for (const side of ['img', 'txt']) {
      const p = `double_blocks.${i}.${side}`;
      t.linear(`${p}_mod.lin`, 6 * h, h, 0.2);
      t.linear(`${p}_attn.qkv`, 3 * h, h);
      t.fill(`${p}_attn.norm.query_norm.scale`, [head], 1);
      t.fill(`${p}_attn.norm.key_norm.scale`, [head], 1);
      t.linear(`${p}_attn.proj`, h, h, 0.5);
      t.linear(`${p}_mlp.0`, mlp, h);
      t.linear(`${p}_mlp.2`, h, mlp, 0.5);
    }
  }
  for (let i = 0; i < s.depthSingle; i++) {
    const p = `single_blocks.${i}`;
    t.linear(`${p}.linear1`, 3 * h + mlp, h);
    t.linear(`${p}.linear2`, h, h + mlp, 0.5);
    t.fill(`${p}.norm.query_norm.scale`, [head], 1);
    t.fill(`${p}.norm.key_norm.scale`, [head], 1);
    t.linear(`${p}.modulation.lin`, 3 * h, h, 0.2);
  }
  t.linear('final_layer.adaLN_modulation.1', 2 * h, h, 0.2);
  t.linear('final_layer.linear', inC, h);
  return t.tensors;
}

// ---- the autoencoder (BFL ae.safetensors layout: encoder and decoder) -------------------------

export interface AutoencoderShape {
  ch: number;
  chMult: number[];
  numResBlocks: number;
  zChannels: number;
}

export function autoencoderTensors(s: AutoencoderShape, seed: number, t = new TensorSet(new Prng(seed))): TensorToWrite[] {
  const resnet = (p: string, cin: number, cout: number) => {
    const conv3 = p.startsWith('decoder.') ? t.smoothConv.bind(t) : (n: string, o: number, i: number, g?: number) => t.conv(n, o, i, 3, g);
    t.norm(`${p}.norm1`, cin);
    conv3(`${p}.conv1`, cout, cin);
    t.norm(`${p}.norm2`, cout);
    conv3(`${p}.conv2`, cout, cout, 0.3);
    if (cin !== cout) t.conv(`${p}.nin_shortcut`, cout, cin, 1);
  };
  const attn = (p: string, c: number) => {
    t.norm(`${p}.norm`, c);
    for (const n of ['q', 'k', 'v']) t.conv(`${p}.${n}`, c, c, 1);
    t.conv(`${p}.proj_out`, c, c, 1, 0.3);
  };
  const levels = s.chMult.length;
  // Encoder: the real file has it; the demo never runs it.
  let cin = s.ch;
  t.conv('encoder.conv_in', s.ch, 3, 3);
  for (let i = 0; i < levels; i++) {
    const cout = s.ch * s.chMult[i]!;
    for (let b = 0; b < s.numResBlocks; b++) {
      resnet(`encoder.down.${i}.block.${b}`, cin, cout);
      cin = cout;
    }
    if (i !== levels - 1) t.conv(`encoder.down.${i}.downsample.conv`, cin, cin, 3);
  }
  resnet('encoder.mid.block_1', cin, cin);
  attn('encoder.mid.attn_1', cin);
  resnet('encoder.mid.block_2', cin, cin);
  t.norm('encoder.norm_out', cin);
  t.conv('encoder.conv_out', 2 * s.zChannels, cin, 3);
  // Decoder.
  let c = s.ch * s.chMult[levels - 1]!;
  t.smoothConv('decoder.conv_in', c, s.zChannels);
  resnet('decoder.mid.block_1', c, c);
  attn('decoder.mid.attn_1', c);
  resnet('decoder.mid.block_2', c, c);
  for (let i = levels - 1; i >= 0; i--) {
    const cout = s.ch * s.chMult[i]!;
    for (let b = 0; b < s.numResBlocks + 1; b++) {
      resnet(`decoder.up.${i}.block.${b}`, c, cout);
      c = cout;
    }
    if (i !== 0) t.smoothConv(`decoder.up.${i}.upsample.conv`, c, c);
  }
  t.norm('decoder.norm_out', c);
  // A colour field that spans much of [-1, 1] with little clipping.
  t.smoothConv('decoder.conv_out', 3, c, 0.6);
  return t.tensors;
}

// ---- T5 v1.1 encoder (Hugging Face T5EncoderModel layout) --------------------------------------

export interface T5Shape {
  dModel: number;
  dKv: number;
  dFf: number;
  heads: number;
  layers: number;
  vocab: number;
  buckets?: number;
}

export function t5Tensors(s: T5Shape, seed: number, t = new TensorSet(new Prng(seed))): TensorToWrite[] {
  const inner = s.heads * s.dKv;
  t.random('shared.weight', [s.vocab, s.dModel], 1);
  // T5 ties the encoder's embedding to `shared`; files carry both names.
  const shared = t.tensors[0]!;
  t.tensors.push({ ...shared, name: 'encoder.embed_tokens.weight' });
  for (let i = 0; i < s.layers; i++) {
    const p = `encoder.block.${i}.layer`;
    t.fill(`${p}.0.layer_norm.weight`, [s.dModel], 1);
    // T5 does not scale q·k by 1/√d; small q/k keep the softmax soft.
    for (const n of ['q', 'k']) t.random(`${p}.0.SelfAttention.${n}.weight`, [inner, s.dModel], 0.5 / Math.sqrt(s.dModel));
    t.random(`${p}.0.SelfAttention.v.weight`, [inner, s.dModel], 1 / Math.sqrt(s.dModel));
    t.random(`${p}.0.SelfAttention.o.weight`, [s.dModel, inner], 0.5 / Math.sqrt(inner));
    if (i === 0) t.random(`${p}.0.SelfAttention.relative_attention_bias.weight`, [s.buckets ?? 32, s.heads], 0.5);
    t.fill(`${p}.1.layer_norm.weight`, [s.dModel], 1);
    t.random(`${p}.1.DenseReluDense.wi_0.weight`, [s.dFf, s.dModel], 1 / Math.sqrt(s.dModel));
    t.random(`${p}.1.DenseReluDense.wi_1.weight`, [s.dFf, s.dModel], 1 / Math.sqrt(s.dModel));
    t.random(`${p}.1.DenseReluDense.wo.weight`, [s.dModel, s.dFf], 0.5 / Math.sqrt(s.dFf));
  }
  t.fill('encoder.final_layer_norm.weight', [s.dModel], 1);
  return t.tensors;
}

export function t5Config(s: T5Shape): Record<string, unknown> {
  return {
    architectures: ['T5EncoderModel'],
    d_ff: s.dFf, d_kv: s.dKv, d_model: s.dModel, num_heads: s.heads, num_layers: s.layers,
    vocab_size: s.vocab, dense_act_fn: 'gelu_new', feed_forward_proj: 'gated-gelu', is_gated_act: true,
    layer_norm_epsilon: 1e-6, relative_attention_num_buckets: s.buckets ?? 32, relative_attention_max_distance: 128,
    eos_token_id: 1, pad_token_id: 0, model_type: 't5', tie_word_embeddings: false,
  };
}

// ---- CLIP text encoder (Hugging Face CLIPTextModel layout) -------------------------------------

export interface ClipShape {
  hidden: number;
  heads: number;
  layers: number;
  intermediate: number;
  vocab: number;
  positions: number;
}

/** `prefix` is 'text_model.' for the layout of released clip_l files. */
export function clipTensors(s: ClipShape, seed: number, prefix = 'text_model.', t = new TensorSet(new Prng(seed), prefix)): TensorToWrite[] {
  t.random('embeddings.token_embedding.weight', [s.vocab, s.hidden], 0.5);
  t.random('embeddings.position_embedding.weight', [s.positions, s.hidden], 0.1);
  for (let i = 0; i < s.layers; i++) {
    const p = `encoder.layers.${i}`;
    t.norm(`${p}.layer_norm1`, s.hidden);
    for (const n of ['q_proj', 'k_proj', 'v_proj']) t.linear(`${p}.self_attn.${n}`, s.hidden, s.hidden);
    t.linear(`${p}.self_attn.out_proj`, s.hidden, s.hidden, 0.5);
    t.norm(`${p}.layer_norm2`, s.hidden);
    t.linear(`${p}.mlp.fc1`, s.intermediate, s.hidden);
    t.linear(`${p}.mlp.fc2`, s.hidden, s.intermediate, 0.5);
  }
  t.norm('final_layer_norm', s.hidden);
  return t.tensors;
}

export function clipConfig(s: ClipShape): Record<string, unknown> {
  return {
    architectures: ['CLIPTextModel'],
    hidden_size: s.hidden, intermediate_size: s.intermediate, num_attention_heads: s.heads,
    num_hidden_layers: s.layers, max_position_embeddings: s.positions, vocab_size: s.vocab,
    hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, projection_dim: s.hidden,
    // As in released clip_l configs: eos id 2 means "pool at the largest token id" (the end token).
    bos_token_id: 0, eos_token_id: 2, pad_token_id: 1, model_type: 'clip_text_model',
  };
}

// ---- narrower copies, as the community FP8 / BF16 checkpoints store them ----------------------

const E4M3_VALUES = (() => {
  const v: number[] = [];
  for (let b = 0; b < 0x7f; b++) {
    const e = (b >> 3) & 15, m = b & 7;
    v.push(e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
  }
  return v; // ascending by byte; 0x7f (NaN) left out
})();

/** float32 → FP8 E4M3 (fn) bytes, round to nearest, saturating at ±448 (a plain cast, no scale). */
export function toFp8E4m3(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    let lo = 0, hi = E4M3_VALUES.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (E4M3_VALUES[mid]! <= a) lo = mid; else hi = mid;
    }
    out[i] = (a - E4M3_VALUES[lo]! <= E4M3_VALUES[hi]! - a ? lo : hi) | (x[i]! < 0 ? 0x80 : 0);
  }
  return out;
}

/** float32 → bfloat16 bits, round to nearest even. */
export function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (v) => (v + 0x7fff + ((v >>> 16) & 1)) >>> 16);
}

/** The community FP8 layout: every 2-D weight F8_E4M3, everything else BF16. */
export function asFp8Checkpoint(tensors: TensorToWrite[]): TensorToWrite[] {
  return tensors.map((t): TensorToWrite => {
    const data = t.data as Float32Array;
    return t.shape.length === 2 ? { ...t, dtype: 'F8_E4M3', data: toFp8E4m3(data) } : { ...t, dtype: 'BF16', data: toBf16(data) };
  });
}

export function asBf16Checkpoint(tensors: TensorToWrite[]): TensorToWrite[] {
  return tensors.map((t): TensorToWrite => ({ ...t, dtype: 'BF16', data: toBf16(t.data as Float32Array) }));
}
