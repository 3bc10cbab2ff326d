// An independent plain-TypeScript forward of the FLUX.1 transformer (src/flux/model.py and
// modules/layers.py of the reference), in float64, for small random models in tests. It shares
// no code with the ONNX graph builder: it proves the graph is the reference's math for shapes the
// fixture does not cover.

export type Tensors = Map<string, { shape: number[]; data: Float64Array }>;

export interface RefConfig {
  hidden: number;
  heads: number;
  axes_dim: number[];
  theta: number;
  depth: number;
  single: number;
  guidance: boolean;
}

export interface RefInputs {
  batch: number;
  img: Float32Array; // [B, N, in]
  img_ids: Float32Array; // [B, N, axes]
  txt: Float32Array; // [B, L, ctx]
  txt_ids: Float32Array; // [B, L, axes]
  y: Float32Array; // [B, vec]
  timesteps: Float32Array; // [B]
  guidance?: Float32Array; // [B]
}

/** rows × cols matrix helpers on flat Float64Arrays. */
function linear(t: Tensors, prefix: string, x: Float64Array, rows: number): Float64Array {
  const w = t.get(`${prefix}.weight`)!;
  const [out, inn] = w.shape as [number, number];
  const b = t.get(`${prefix}.bias`)?.data;
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inn; i++) s += x[r * inn + i]! * w.data[o * inn + i]!;
      y[r * out + o] = s;
    }
  }
  return y;
}

const silu = (x: Float64Array) => x.map((v) => v / (1 + Math.exp(-v)));
const gelu = (x: Float64Array) => x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));

function layerNorm(x: Float64Array, width: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    let m = 0;
    for (let i = 0; i < width; i++) m += x[r * width + i]!;
    m /= width;
    let v = 0;
    for (let i = 0; i < width; i++) v += (x[r * width + i]! - m) ** 2;
    const inv = 1 / Math.sqrt(v / width + 1e-6);
    for (let i = 0; i < width; i++) y[r * width + i] = (x[r * width + i]! - m) * inv;
  }
  return y;
}

function timestepEmbedding(t: Float32Array, dim: number): Float64Array {
  const half = Math.floor(dim / 2);
  const out = new Float64Array(t.length * dim);
  t.forEach((tv, b) => {
    for (let i = 0; i < half; i++) {
      const arg = 1000 * tv * Math.exp((-Math.log(10000) * i) / half);
      out[b * dim + i] = Math.cos(arg);
      out[b * dim + half + i] = Math.sin(arg);
    }
  });
  return out;
}

/** (1 + scale) · LN(x) + shift, per batch element; x is [B, T, h], mod chunks are [B, h]. */
function modulate(x: Float64Array, B: number, h: number, shift: Float64Array, scale: Float64Array): Float64Array {
  const n = layerNorm(x, h);
  const T = x.length / (B * h);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let i = 0; i < h; i++) {
    const k = (b * T + t) * h + i;
    n[k] = (1 + scale[b * h + i]!) * n[k]! + shift[b * h + i]!;
  }
  return n;
}

function chunk(m: Float64Array, B: number, n: number, h: number, j: number): Float64Array {
  const out = new Float64Array(B * h);
  for (let b = 0; b < B; b++) for (let i = 0; i < h; i++) out[b * h + i] = m[b * n * h + j * h + i]!;
  return out;
}

/** x + gate ⊙ y, gate [B, h]. */
function gated(x: Float64Array, gate: Float64Array, y: Float64Array, B: number, h: number): Float64Array {
  const T = x.length / (B * h);
  return x.map((v, k) => {
    const b = Math.floor(k / (T * h));
    return v + gate[b * h + (k % h)]! * y[k]!;
  });
}

/**
 * Attention over [B, T, h] q/k/v (heads interleaved as (H D)) with QK RMSNorm already applied:
 * RoPE from per-token angles, then softmax(q kᵀ / √D) v.
 */
function attention(q: Float64Array, k: Float64Array, v: Float64Array, B: number, T: number, cfg: RefConfig, ids: Float64Array): Float64Array {
  const { hidden: h, heads: H } = cfg;
  const D = h / H;
  const angles: number[][] = []; // per (b,t): D/2 angles
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const a: number[] = [];
    cfg.axes_dim.forEach((d, axis) => {
      for (let j = 0; j < d / 2; j++) a.push(ids[(b * T + t) * cfg.axes_dim.length + axis]! / cfg.theta ** ((2 * j) / d));
    });
    angles.push(a);
  }
  const rope = (x: Float64Array) => {
    const y = new Float64Array(x.length);
    for (let bt = 0; bt < B * T; bt++) for (let hh = 0; hh < H; hh++) for (let j = 0; j < D / 2; j++) {
      const o = bt * h + hh * D + 2 * j;
      const c = Math.cos(angles[bt]![j]!), s = Math.sin(angles[bt]![j]!);
      y[o] = c * x[o]! - s * x[o + 1]!;
      y[o + 1] = s * x[o]! + c * x[o + 1]!;
    }
    return y;
  };
  const qr = rope(q), kr = rope(k);
  const out = new Float64Array(B * T * h);
  const scores = new Float64Array(T);
  for (let b = 0; b < B; b++) for (let hh = 0; hh < H; hh++) for (let i = 0; i < T; i++) {
    let max = -Infinity;
    for (let j = 0; j < T; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += qr[(b * T + i) * h + hh * D + d]! * kr[(b * T + j) * h + hh * D + d]!;
      scores[j] = s / Math.sqrt(D);
      max = Math.max(max, scores[j]!);
    }
    let sum = 0;
    for (let j = 0; j < T; j++) sum += (scores[j] = Math.exp(scores[j]! - max));
    for (let d = 0; d < D; d++) {
      let acc = 0;
      for (let j = 0; j < T; j++) acc += scores[j]! * v[(b * T + j) * h + hh * D + d]!;
      out[(b * T + i) * h + hh * D + d] = acc / sum;
    }
  }
  return out;
}

function rmsNormHeads(x: Float64Array, D: number, scale: Float64Array): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / D; r++) {
    let ms = 0;
    for (let d = 0; d < D; d++) ms += x[r * D + d]! ** 2;
    const inv = 1 / Math.sqrt(ms / D + 1e-6);
    for (let d = 0; d < D; d++) y[r * D + d] = x[r * D + d]! * inv * scale[d]!;
  }
  return y;
}

/** Columns [from, from+width) of a [rows, cols] matrix. */
function cols(x: Float64Array, rows: number, total: number, from: number, width: number): Float64Array {
  const y = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) for (let i = 0; i < width; i++) y[r * width + i] = x[r * total + from + i]!;
  return y;
}

/** Concatenate [B, Ta, w] and [B, Tb, w] along tokens. */
function catTokens(a: Float64Array, b: Float64Array, B: number, w: number): Float64Array {
  const Ta = a.length / (B * w), Tb = b.length / (B * w);
  const y = new Float64Array(a.length + b.length);
  for (let bb = 0; bb < B; bb++) {
    y.set(a.subarray(bb * Ta * w, (bb + 1) * Ta * w), bb * (Ta + Tb) * w);
    y.set(b.subarray(bb * Tb * w, (bb + 1) * Tb * w), (bb * (Ta + Tb) + Ta) * w);
  }
  return y;
}

/** Tokens [from, from+count) of [B, T, w]. */
function tokens(x: Float64Array, B: number, w: number, from: number, count: number): Float64Array {
  const T = x.length / (B * w);
  const y = new Float64Array(B * count * w);
  for (let b = 0; b < B; b++) y.set(x.subarray((b * T + from) * w, (b * T + from + count) * w), b * count * w);
  return y;
}

export function referenceForward(t: Tensors, cfg: RefConfig, inp: RefInputs): Float64Array {
  const B = inp.batch, h = cfg.hidden, D = h / cfg.heads;
  const f64 = (a: Float32Array) => Float64Array.from(a);
  const inC = t.get('img_in.weight')!.shape[1]!;
  const N = inp.img.length / (B * inC);
  const ctxC = t.get('txt_in.weight')!.shape[1]!;
  const L = inp.txt.length / (B * ctxC);
  const T = L + N;
  const mlpEmb = (p: string, x: Float64Array) => linear(t, `${p}.out_layer`, silu(linear(t, `${p}.in_layer`, x, B)), B);

  let img = linear(t, 'img_in', f64(inp.img), B * N);
  const tdim = t.get('time_in.in_layer.weight')!.shape[1]!;
  let vec = mlpEmb('time_in', timestepEmbedding(inp.timesteps, tdim));
  if (cfg.guidance) {
    const g = mlpEmb('guidance_in', timestepEmbedding(inp.guidance!, t.get('guidance_in.in_layer.weight')!.shape[1]!));
    vec = vec.map((v, i) => v + g[i]!);
  }
  const yv = mlpEmb('vector_in', f64(inp.y));
  vec = vec.map((v, i) => v + yv[i]!);
  let txt = linear(t, 'txt_in', f64(inp.txt), B * L);
  const ids = catTokens(f64(inp.txt_ids), f64(inp.img_ids), B, cfg.axes_dim.length);
  const sv = silu(vec);
  const scale = (k: string) => t.get(k)!.data;

  for (let i = 0; i < cfg.depth; i++) {
    const p = `double_blocks.${i}`;
    const prep = (s: string, x: Float64Array, rows: number) => {
      const m = linear(t, `${p}.${s}_mod.lin`, sv, B);
      const c = (j: number) => chunk(m, B, 6, h, j);
      const qkv = linear(t, `${p}.${s}_attn.qkv`, modulate(x, B, h, c(0), c(1)), rows);
      return {
        q: rmsNormHeads(cols(qkv, rows, 3 * h, 0, h), D, scale(`${p}.${s}_attn.norm.query_norm.scale`)),
        k: rmsNormHeads(cols(qkv, rows, 3 * h, h, h), D, scale(`${p}.${s}_attn.norm.key_norm.scale`)),
        v: cols(qkv, rows, 3 * h, 2 * h, h),
        c,
      };
    };
    const im = prep('img', img, B * N), tx = prep('txt', txt, B * L);
    const a = attention(catTokens(tx.q, im.q, B, h), catTokens(tx.k, im.k, B, h), catTokens(tx.v, im.v, B, h), B, T, cfg, ids);
    const fin = (s: string, x: Float64Array, att: Float64Array, st: typeof im, rows: number) => {
      let y = gated(x, st.c(2), linear(t, `${p}.${s}_attn.proj`, att, rows), B, h);
      const mlp = linear(t, `${p}.${s}_mlp.2`, gelu(linear(t, `${p}.${s}_mlp.0`, modulate(y, B, h, st.c(3), st.c(4)), rows)), rows);
      y = gated(y, st.c(5), mlp, B, h);
      return y;
    };
    img = fin('img', img, tokens(a, B, h, L, N), im, B * N);
    txt = fin('txt', txt, tokens(a, B, h, 0, L), tx, B * L);
  }
  let x = catTokens(txt, img, B, h);
  for (let i = 0; i < cfg.single; i++) {
    const p = `single_blocks.${i}`;
    const m = linear(t, `${p}.modulation.lin`, sv, B);
    const c = (j: number) => chunk(m, B, 3, h, j);
    const l1 = linear(t, `${p}.linear1`, modulate(x, B, h, c(0), c(1)), B * T);
    const w1 = t.get(`${p}.linear1.weight`)!.shape[0]!;
    const mlpW = w1 - 3 * h;
    const q = rmsNormHeads(cols(l1, B * T, w1, 0, h), D, scale(`${p}.norm.query_norm.scale`));
    const k = rmsNormHeads(cols(l1, B * T, w1, h, h), D, scale(`${p}.norm.key_norm.scale`));
    const a = attention(q, k, cols(l1, B * T, w1, 2 * h, h), B, T, cfg, ids);
    const mlp = gelu(cols(l1, B * T, w1, 3 * h, mlpW));
    const both = new Float64Array(B * T * (h + mlpW));
    for (let r = 0; r < B * T; r++) {
      both.set(a.subarray(r * h, (r + 1) * h), r * (h + mlpW));
      both.set(mlp.subarray(r * mlpW, (r + 1) * mlpW), r * (h + mlpW) + h);
    }
    x = gated(x, c(2), linear(t, `${p}.linear2`, both, B * T), B, h);
  }
  const imgOut = tokens(x, B, h, L, N);
  const m = linear(t, 'final_layer.adaLN_modulation.1', sv, B);
  return linear(t, 'final_layer.linear', modulate(imgOut, B, h, chunk(m, B, 2, h, 0), chunk(m, B, 2, h, 1)), B * N);
}

/** A checkpoint's float32 tensors as the float64 map `referenceForward` reads. */
export function referenceTensors(list: readonly { name: string; shape: number[]; data: ArrayBufferView }[]): Tensors {
  return new Map(list.map((t) => [t.name, { shape: t.shape, data: Float64Array.from(t.data as Float32Array) }]));
}

/**
 * The reference timesteps (sampling.py `get_schedule`): linspace(1, 0, steps + 1), shifted for
 * guidance-distilled models by mu = linear in the token count (0.5 at 256 → 1.15 at 4096).
 */
export function referenceSchedule(steps: number, tokens: number, shift: boolean): number[] {
  const ts = Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
  if (!shift) return ts;
  const mu = 0.5 + ((1.15 - 0.5) / (4096 - 256)) * (tokens - 256);
  return ts.map((t) => (t === 0 ? 0 : Math.exp(mu) / (Math.exp(mu) + (1 / t - 1))));
}

export interface RefSampleInputs {
  /** The latent noise [1, C, h, w] (h, w even). */
  noise: Float32Array;
  channels: number;
  h: number;
  w: number;
  txt: Float32Array; // [1, L, ctx]
  y: Float32Array; // [1, vec]
  timesteps: readonly number[];
  guidance?: number;
}

/**
 * The reference sampling path (sampling.py `prepare` + `denoise`) for batch 1: pack 2×2 patches,
 * (0, row, column) image ids, zero text ids, then Euler steps img += (t_next − t) · model(img, t)
 * with t in float32 as torch holds it. Returns the packed latents [N, C·4] in float64.
 */
export function referenceSample(t: Tensors, cfg: RefConfig, s: RefSampleInputs): Float64Array {
  const rows = s.h / 2, cols = s.w / 2, N = rows * cols, width = s.channels * 4;
  const img = new Float32Array(N * width);
  for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) for (let c = 0; c < s.channels; c++) for (let i = 0; i < 4; i++) {
    img[(r * cols + q) * width + c * 4 + i] = s.noise[(c * s.h + 2 * r + (i >> 1)) * s.w + 2 * q + (i & 1)]!;
  }
  const axes = cfg.axes_dim.length;
  const imgIds = new Float32Array(N * axes);
  for (let k = 0; k < N; k++) { imgIds[k * axes + 1] = Math.floor(k / cols); imgIds[k * axes + 2] = k % cols; }
  const L = s.txt.length / t.get('txt_in.weight')!.shape[1]!;
  let x = Float64Array.from(img);
  for (let i = 0; i + 1 < s.timesteps.length; i++) {
    const tc = Math.fround(s.timesteps[i]!);
    const v = referenceForward(t, cfg, {
      batch: 1, img: Float32Array.from(x), img_ids: imgIds, txt: s.txt, txt_ids: new Float32Array(L * axes), y: s.y,
      timesteps: Float32Array.of(tc), ...(s.guidance !== undefined ? { guidance: Float32Array.of(s.guidance) } : {}),
    });
    const dt = Math.fround(s.timesteps[i + 1]!) - tc;
    x = x.map((xv, k) => xv + dt * v[k]!);
  }
  return x;
}
