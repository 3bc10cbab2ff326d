// Turning checkpoint tensors into graph values. Weights are external initializers pointing into
// the .safetensors files; narrower dtypes are widened inside the graph, by the op the provider
// runs best:
//  - 'cast':       Cast(fp8 → f32). On CPU onnxruntime constant-folds it at load: FP8 is widened
//                  once (4 bytes/param resident, full MatMul speed). A scaled FP8 weight is one
//                  DequantizeLinear(fp8, scale) instead, folded with FOLD_SCALED_FP8 (below). Why
//                  not the 'widen' byte-pair table, folded: onnxruntime's folding materialises every
//                  node's output and frees none until the whole pass ends, so Cast(uint16 → int32) +
//                  Gather + Reshape holds 10 bytes per parameter at once (full-width T5, 2 layers:
//                  5.1 GiB peak instead of 2.0 GiB) and took more CPU (31 s instead of 12 s), not less.
//  - 'widen':      Cast(fp8 → f32) on every run: the session turns constant folding off, so FP8
//                  stays resident (1 byte/param) and each run pays one pass over the weights (about
//                  0 to 10 % of a T5 layer's Gemm on this 2-core CPU; DequantizeLinear costs 35 %).
//                  The CPU's policy when widening once does not fit.
//  - 'dequantize': DequantizeLinear. Not folded: FP8 stays resident (1 byte/param) and is widened
//                  on every run (CUDA has FP8 DequantizeLinear kernels; on the CPU it is slower).
//  - 'table':      Cast(uint8 → int32) + Gather from a 256-entry table. For GPU providers whose
//                  DequantizeLinear/Cast for FP8 fall back to the CPU (performance.md).
import type { GraphBuilder, ElementType } from './graph.js';
import type { TensorInfo, Weights } from './tensor-source.js';

export interface WeightPolicy {
  fp8: 'cast' | 'widen' | 'dequantize' | 'table';
  /** Element type the graph computes in. */
  compute: 'float32' | 'float16';
}

export const CPU_POLICY: WeightPolicy = { fp8: 'cast', compute: 'float32' };

const DTYPE: Record<string, ElementType> = {
  F32: 'float32', F16: 'float16', BF16: 'bfloat16', F8_E4M3: 'float8e4m3fn', F8_E5M2: 'float8e5m2', F64: 'float64',
  I64: 'int64', I32: 'int32', I8: 'int8', U8: 'uint8', BOOL: 'bool',
};
const ONNX_TYPE_ID = { float32: 1, float16: 10 } as const;

const memo = new WeakMap<GraphBuilder, Map<string, string>>();

/** Initializer name for a checkpoint tensor (ONNX names are free-form; keep them readable). */
function initName(w: Weights, key: string): string {
  return `${w.component}:${key}`;
}

/** Adds the raw tensor as an external initializer, declared with its own dtype (or `as`). */
export function rawWeight(g: GraphBuilder, w: Weights, key: string, as?: ElementType): string {
  return tensorInitializer(g, w, initName(w, key), w.require(key), as);
}

function tensorInitializer(g: GraphBuilder, w: Weights, baseName: string, info: TensorInfo, as?: ElementType): string {
  const type = as ?? DTYPE[info.dtype];
  if (!type) throw new Error(`${info.file}: tensor '${info.name}' has dtype ${info.dtype}, which the ${w.component} cannot use`);
  const name = baseName + (as ? `:${as}` : '');
  const seen = memo.get(g)?.get(name);
  if (seen) return seen;
  let value = name;
  if (info.parts) {
    // A canonical tensor stored as several row blocks (diffusers' split q/k/v): one initializer per
    // block, joined in the graph. Concat of constants is folded at load, so the cost is once.
    const blocks = info.parts.map((part, i) =>
      g.external(`${name}#${i}`, { type, dims: part.shape, file: part.file, offset: part.offset, length: part.length }));
    value = g.op('Concat', blocks, { axis: 0 });
  } else {
    g.external(name, { type, dims: info.shape, file: info.file, offset: info.offset, length: info.length });
  }
  if (!memo.has(g)) memo.set(g, new Map());
  memo.get(g)!.set(name, value);
  return value;
}

const FLOAT_DTYPES = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);

/**
 * Weights are learned numbers: an integer or boolean tensor where one is expected is not a
 * quantization we know (a value of 3 is not 3.0 of anything), so it is refused, never converted.
 */
function requireFloat(w: Weights, key: string, info: TensorInfo): void {
  if (!FLOAT_DTYPES.has(info.dtype)) {
    throw new Error(`${info.file}: tensor '${info.name}' (${key}) has dtype ${info.dtype}, but the ${w.component} needs floating-point weights (F32, F16, BF16 or FP8); integer tensors are not converted`);
  }
}

/** The tensor as a value of the policy's compute type (float32 unless asked otherwise). */
export function weightAsFloat(g: GraphBuilder, w: Weights, key: string, policy: WeightPolicy = CPU_POLICY): string {
  const cacheKey = `${initName(w, key)}:as:${policy.fp8}:${policy.compute}`;
  const seen = memo.get(g)?.get(cacheKey);
  if (seen) return seen;
  const info = w.require(key);
  requireFloat(w, key, info);
  const to = ONNX_TYPE_ID[policy.compute];
  const fp8 = info.dtype === 'F8_E4M3' || info.dtype === 'F8_E5M2';
  const scale = w.scaleOf(key);
  if (scale) requireFloat(w, `${key} scale`, scale);
  let value: string;
  if (fp8 && scale && policy.fp8 === 'cast' && policy.compute === 'float32' && scale.shape.every((d) => d === 1)) {
    value = dequantizeOnce(g, w, key, scale);
  } else {
    if (fp8) {
      value = widenFp8(g, w, key, info, policy);
    } else {
      const raw = rawWeight(g, w, key);
      value = DTYPE[info.dtype] === policy.compute ? raw : g.op('Cast', [raw], { to });
    }
    if (scale) {
      const s = tensorInitializer(g, w, `${initName(w, key)}#scale`, scale);
      const sv = DTYPE[scale.dtype] === policy.compute ? s : g.op('Cast', [s], { to });
      value = g.op('Mul', [value, sv]);
    }
  }
  if (!memo.has(g)) memo.set(g, new Map());
  memo.get(g)!.set(cacheKey, value);
  return value;
}

/**
 * onnxruntime folds DequantizeLinear at load only with its QDQ transformations off (they keep DQ
 * nodes for quantized kernels; this project's graphs have none to fuse). Sessions whose graph
 * widens scaled FP8 once ('cast', see dequantizeOnce) need this entry; fp8ScaledCastConfig says when.
 */
export const FOLD_SCALED_FP8: Readonly<Record<string, string>> = { 'session.disable_quant_qdq': '1' };

/** The session config a graph built with 'cast' over these weights needs (empty when none is scaled FP8). */
export function castSessionConfig(w: Weights): Record<string, string> {
  const scaled = w.keys().some((k) => /^F8_/.test(w.get(k)!.dtype) && w.scaleOf(k) !== undefined);
  return scaled ? { ...FOLD_SCALED_FP8 } : {};
}

/**
 * A scaled FP8 weight widened once at load under 'cast': DequantizeLinear(fp8, scale) is one node,
 * so folding it holds only the float32 result. Cast then Mul folds as two nodes, and onnxruntime
 * keeps the unscaled float32 copy until the folding pass ends: 8 bytes per parameter at peak
 * (full-width T5 with 2 layers: 4.1 GiB for 2.0 GiB kept, 29 s of CPU). Same values: DQ computes
 * float(x) · scale in float32, as Cast then Mul does. The scale (one value) as a float32 scalar.
 */
function dequantizeOnce(g: GraphBuilder, w: Weights, key: string, scale: TensorInfo): string {
  let s = tensorInitializer(g, w, `${initName(w, key)}#scale`, scale);
  if (DTYPE[scale.dtype] !== 'float32') s = g.op('Cast', [s], { to: ONNX_TYPE_ID.float32 });
  if (scale.shape.length > 0) s = g.op('Reshape', [s, g.ints([])]);
  return g.op('DequantizeLinear', [rawWeight(g, w, key), s], {});
}

function widenFp8(g: GraphBuilder, w: Weights, key: string, info: TensorInfo, policy: WeightPolicy): string {
  const to = ONNX_TYPE_ID[policy.compute];
  if (policy.fp8 === 'table') {
    const bytes = rawWeight(g, w, key, 'uint8');
    const idx = g.op('Cast', [bytes], { to: 6 /* int32 */ });
    const table = fp8Table(info.dtype === 'F8_E4M3' ? 'e4m3' : 'e5m2');
    const t = g.constant({ type: 'float32', dims: [256], data: table }, 'fp8_table');
    const tv = policy.compute === 'float32' ? t : g.op('Cast', [t], { to });
    return g.op('Gather', [tv, idx], { axis: 0 });
  }
  if (policy.fp8 === 'cast') return g.op('Cast', [rawWeight(g, w, key)], { to });
  if (policy.fp8 === 'widen') {
    const pairs = pairTable(g, w, key, info);
    if (pairs) return policy.compute === 'float32' ? pairs : g.op('Cast', [pairs], { to });
    return g.op('Cast', [rawWeight(g, w, key)], { to });
  }
  const raw = rawWeight(g, w, key);
  const deq = g.op('DequantizeLinear', [raw, g.scalar(1)], {});
  return policy.compute === 'float32' ? deq : g.op('Cast', [deq], { to });
}

/**
 * Rows `ids` of an embedding table as float32. When FP8 stays stored, the rows are gathered from
 * the stored bytes first and only they are widened (the 256-entry table): T5-XXL's 32,128 × 4,096
 * table widened whole would cost 526 MB and 131 M conversions on every run for 256 rows.
 */
export function embeddingRows(g: GraphBuilder, w: Weights, key: string, ids: string, policy: WeightPolicy = CPU_POLICY): string {
  const info = w.require(key);
  const f32: WeightPolicy = { ...policy, compute: 'float32' };
  if (!(info.dtype === 'F8_E4M3' || info.dtype === 'F8_E5M2') || policy.fp8 === 'cast' || info.parts) {
    return g.op('Gather', [weightAsFloat(g, w, key, f32), ids], { axis: 0 });
  }
  requireFloat(w, key, info);
  const rows = g.op('Gather', [rawWeight(g, w, key, 'uint8'), ids], { axis: 0 });
  const table = g.constant({ type: 'float32', dims: [256], data: fp8Table(info.dtype === 'F8_E4M3' ? 'e4m3' : 'e5m2') }, 'fp8_table');
  let value = g.op('Gather', [table, g.op('Cast', [rows], { to: 6 /* int32 */ })], { axis: 0 });
  const scale = w.scaleOf(key);
  if (scale) {
    requireFloat(w, `${key} scale`, scale);
    const sv = tensorInitializer(g, w, `${initName(w, key)}#scale`, scale);
    value = g.op('Mul', [value, DTYPE[scale.dtype] === 'float32' ? sv : g.op('Cast', [sv], { to: 1 })]);
  }
  return value;
}

/**
 * The 'widen' policy's per-run widening: the FP8 bytes read two at a time as uint16, each pair
 * looked up in a 65,536 × 2 float32 table (512 KB, stays in cache), then reshaped back. onnxruntime's
 * CPU Cast and DequantizeLinear from FP8 convert one value at a time on one thread (about 26 ns per
 * value here: 8 s per run for one T5-XXL layer and its embedding); the byte table halves the
 * lookups of the 256-entry table and Gather runs on every core (`npm run bench:fp8`). Undefined when
 * the tensor's last dimension is odd (then Cast).
 */
function pairTable(g: GraphBuilder, w: Weights, key: string, info: TensorInfo): string | undefined {
  const last = info.shape[info.shape.length - 1] ?? 0;
  if (info.parts || last % 2 !== 0 || info.shape.length === 0) return undefined;
  const kind = info.dtype === 'F8_E4M3' ? 'e4m3' : 'e5m2';
  const dims = [...info.shape.slice(0, -1), last / 2];
  const pairs = g.external(`${initName(w, key)}:uint16`, { type: 'uint16', dims, file: info.file, offset: info.offset, length: info.length });
  // One table per graph (512 KB), shared by every weight.
  if (!memo.has(g)) memo.set(g, new Map());
  const tables = memo.get(g)!;
  let table = tables.get(`#fp8_pairs_${kind}`);
  if (!table) tables.set(`#fp8_pairs_${kind}`, (table = g.constant({ type: 'float32', dims: [65536, 2], data: fp8PairTable(kind) }, `fp8_pairs_${kind}`)));
  const wide = g.op('Gather', [table, g.op('Cast', [pairs], { to: 6 /* int32 */ })], { axis: 0 });
  return g.op('Reshape', [wide, g.ints([...info.shape])]);
}

const pairTables = new Map<string, Float32Array>();

/** Both values of every little-endian byte pair: entry i holds [value(i & 255), value(i >> 8)]. */
export function fp8PairTable(kind: 'e4m3' | 'e5m2'): Float32Array {
  let t = pairTables.get(kind);
  if (t) return t;
  const one = fp8Table(kind);
  t = new Float32Array(65536 * 2);
  for (let i = 0; i < 65536; i++) (t[2 * i] = one[i & 255]!), (t[2 * i + 1] = one[i >> 8]!);
  pairTables.set(kind, t);
  return t;
}

/** The 256 values of an FP8 format, indexed by byte (NaN codes map to NaN). */
export function fp8Table(kind: 'e4m3' | 'e5m2'): Float32Array {
  const out = new Float32Array(256);
  for (let b = 0; b < 256; b++) out[b] = fp8ToFloat(b, kind);
  return out;
}

export function fp8ToFloat(b: number, kind: 'e4m3' | 'e5m2'): number {
  const sign = b & 0x80 ? -1 : 1;
  if (kind === 'e4m3') {
    const e = (b >> 3) & 0xf, m = b & 7;
    if (e === 15 && m === 7) return NaN; // e4m3fn: no infinities, one NaN per sign
    return sign * (e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
  }
  const e = (b >> 2) & 0x1f, m = b & 3;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (e === 0 ? (m / 4) * 2 ** -14 : (1 + m / 4) * 2 ** (e - 15));
}

/**
 * A linear layer y = x·Wᵀ + b with BFL/HF weight layout [out, in], as one Gemm with `transB` over
 * the flattened rows: the weight is used as stored. Why not Transpose → MatMul: under a policy that
 * widens on every run (`dequantize`, `table`), onnxruntime's transpose optimizer moves that
 * Transpose onto the stored FP8 weight and constant-folds it at session creation, on every
 * provider: a transposed copy of each weight plus the optimizer's temporaries, about 9 bytes per
 * FP8 parameter at peak (T5-XXL: 2 layers peaked at 3.7 GB for a 0.4 GB file) before the graph
 * keeps the 1 byte it needs. Gemm reads B transposed itself, so there is nothing to materialise;
 * the same choice the transformer's `gemm` makes, and no optimizer needs turning off.
 */
export function linear(g: GraphBuilder, w: Weights, prefix: string, x: string, policy: WeightPolicy = CPU_POLICY, bias = true): string {
  const [out, inp] = w.require(`${prefix}.weight`).shape as [number, number];
  const inputs = [g.op('Reshape', [x, g.ints([-1, inp])]), weightAsFloat(g, w, `${prefix}.weight`, policy)];
  if (bias && w.has(`${prefix}.bias`)) inputs.push(weightAsFloat(g, w, `${prefix}.bias`, policy));
  const y = g.op('Gemm', inputs, { transB: 1 });
  const lead = g.op('Shape', [x], { start: 0, end: -1 });
  return g.op('Reshape', [y, g.op('Concat', [lead, g.ints([out])], { axis: 0 })]);
}
