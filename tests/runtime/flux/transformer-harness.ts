// Random FLUX transformers of any shape, written as float32 or as the community FP8 files store
// them (2-D weights F8_E4M3, optionally with per-tensor `scale_weight`, vectors BF16), with random
// inputs and the float64 tensors the reference forward (flux-reference.ts) reads. Shared by the
// whole-graph tests (graphs/transformer.test.ts) and the block-by-block runner's tests.
import type { Feed } from '../../../runtime/onnx/session.js';
import { fp8ToFloat } from '../../../runtime/onnx/weights.js';
import type { TensorToWrite } from '../../../runtime/flux/checkpoints/safetensors.js';
import type { Tensors } from './flux-reference.js';

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface TinySpec {
  hidden: number; heads: number; mlp: number; inC: number; outC: number; vec: number; ctx: number; tdim: number;
  depth: number; single: number; qkvBias: boolean; guidance: boolean;
}

export interface WriteOptions {
  /** 2-D weights as FP8 E4M3 bytes, vectors as BF16. */
  fp8?: boolean;
  /** With `fp8`: a per-tensor `scale_weight` (F32) beside every 2-D weight, as "scaled FP8" files have. */
  scaled?: boolean;
}

/** E4M3 byte nearest to `v` (ties to the lower magnitude; never NaN, saturates at ±448). */
function toE4m3(v: number): number {
  let best = 0, bestErr = Infinity;
  for (let b = 0; b < 0x7f; b++) {
    const err = Math.abs(fp8ToFloat(b, 'e4m3') - Math.abs(v));
    if (err < bestErr) (best = b), (bestErr = err);
  }
  return (v < 0 ? 0x80 : 0) | best;
}

/** Float32 → BF16 bits (round to nearest even) and back, so the reference reads what is stored. */
function bf16(v: number): { bits: number; value: number } {
  const u = new Uint32Array(new Float32Array([v]).buffer)[0]!;
  const bits = ((u + 0x7fff + ((u >> 16) & 1)) >>> 16) & 0xffff;
  return { bits, value: new Float32Array(new Uint32Array([bits << 16]).buffer)[0]! };
}

/**
 * Random weights of a FLUX transformer with the given shapes, BFL key names, and the float64
 * values the file holds (after FP8/BF16 rounding and scales) for the reference.
 */
export function randomTransformer(spec: TinySpec, seed: number, opts: WriteOptions = {}): { tensors: TensorToWrite[]; reference: Tensors } {
  const r = rng(seed);
  const { hidden: h, heads, mlp } = spec;
  const D = h / heads;
  const tensors: TensorToWrite[] = [];
  const reference: Tensors = new Map();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, () => offset + (r() * 2 - 1) * scale);
    if (!opts.fp8) {
      tensors.push({ name, dtype: 'F32', shape, data: values });
      reference.set(name, { shape, data: Float64Array.from(values) });
    } else if (shape.length === 2) {
      // Scaled files store w / s in FP8; the value is byte · s.
      const s = opts.scaled ? 0.5 + r() : 1;
      const bytes = Uint8Array.from(values, (v) => toE4m3(v / s));
      tensors.push({ name, dtype: 'F8_E4M3', shape, data: bytes });
      if (opts.scaled) tensors.push({ name: name.replace(/weight$/, 'scale_weight'), dtype: 'F32', shape: [], data: Float32Array.of(s) });
      reference.set(name, { shape, data: Float64Array.from(bytes, (b) => fp8ToFloat(b, 'e4m3') * Math.fround(s)) });
    } else {
      const rounded = Array.from(values, (v) => bf16(v));
      tensors.push({ name, dtype: 'BF16', shape, data: Uint16Array.from(rounded, (x) => x.bits) });
      reference.set(name, { shape, data: Float64Array.from(rounded, (x) => x.value) });
    }
  };
  const lin = (name: string, o: number, i: number, bias = true) => {
    add(`${name}.weight`, [o, i], 1.7 / Math.sqrt(i));
    if (bias) add(`${name}.bias`, [o], 0.1);
  };
  lin('img_in', h, spec.inC);
  lin('txt_in', h, spec.ctx);
  lin('time_in.in_layer', h, spec.tdim);
  lin('time_in.out_layer', h, h);
  lin('vector_in.in_layer', h, spec.vec);
  lin('vector_in.out_layer', h, h);
  if (spec.guidance) {
    lin('guidance_in.in_layer', h, spec.tdim);
    lin('guidance_in.out_layer', h, h);
  }
  for (let i = 0; i < spec.depth; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      lin(`${p}_mod.lin`, 6 * h, h);
      lin(`${p}_attn.qkv`, 3 * h, h, spec.qkvBias);
      add(`${p}_attn.norm.query_norm.scale`, [D], 0.3, 1);
      add(`${p}_attn.norm.key_norm.scale`, [D], 0.3, 1);
      lin(`${p}_attn.proj`, h, h);
      lin(`${p}_mlp.0`, mlp, h);
      lin(`${p}_mlp.2`, h, mlp);
    }
  }
  for (let i = 0; i < spec.single; i++) {
    const p = `single_blocks.${i}`;
    lin(`${p}.modulation.lin`, 3 * h, h);
    lin(`${p}.linear1`, 3 * h + mlp, h);
    lin(`${p}.linear2`, h, h + mlp);
    add(`${p}.norm.query_norm.scale`, [D], 0.3, 1);
    add(`${p}.norm.key_norm.scale`, [D], 0.3, 1);
  }
  lin('final_layer.adaLN_modulation.1', 2 * h, h);
  lin('final_layer.linear', spec.outC, h);
  return { tensors, reference };
}

/** Random inputs of the given sizes; image ids on a grid, text ids on the time axis. */
export function randomInputs(spec: TinySpec, B: number, N: number, L: number, seed: number) {
  const r = rng(seed);
  const rand = (n: number) => Float32Array.from({ length: n }, () => r() * 2 - 1);
  const ids = (n: number, fill: (t: number, a: number) => number) => Float32Array.from({ length: B * n * 3 }, (_, i) => fill(Math.floor(i / 3) % n, i % 3));
  const inputs = {
    batch: B,
    img: rand(B * N * spec.inC),
    img_ids: ids(N, (t, a) => (a === 0 ? 0 : a === 1 ? Math.floor(t / 3) : t % 3)),
    txt: rand(B * L * spec.ctx),
    txt_ids: ids(L, (t, a) => (a === 0 ? t * 0.5 : 0)), // non-zero text positions exercise the time axis
    y: rand(B * spec.vec),
    timesteps: Float32Array.from({ length: B }, () => r()),
    guidance: Float32Array.from({ length: B }, () => 1 + 4 * r()),
  };
  const feeds: Record<string, Feed> = {
    img: { type: 'float32', dims: [B, N, spec.inC], data: inputs.img },
    img_ids: { type: 'float32', dims: [B, N, 3], data: inputs.img_ids },
    txt: { type: 'float32', dims: [B, L, spec.ctx], data: inputs.txt },
    txt_ids: { type: 'float32', dims: [B, L, 3], data: inputs.txt_ids },
    y: { type: 'float32', dims: [B, spec.vec], data: inputs.y },
    timesteps: { type: 'float32', dims: [B], data: inputs.timesteps },
  };
  if (spec.guidance) feeds.guidance = { type: 'float32', dims: [B], data: inputs.guidance };
  return { inputs, feeds };
}

export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
