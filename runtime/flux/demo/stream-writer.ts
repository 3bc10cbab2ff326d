// Writes a .safetensors file whose tensors are drawn while they are written, a chunk at a time:
// the full-size untrained model set is 17 GB, and generating it must not need 17 GB of memory.
// The header (names, dtypes, shapes, byte ranges) is known up front; the data follows in the
// header's order. Values come from a seeded xorshift generator, so a file is the same every time.
import { DTYPE_SIZE, CheckpointError, safetensorsHeader } from '../checkpoints/safetensors.js';
import { writeAll, writeFileAtomic } from '../../util/files.js';
import type { SafetensorsDtype } from '../../onnx/tensor-source.js';

export interface StreamedTensor {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /**
   * How values are drawn: uniform with standard deviation `std`; a constant; or `smooth` (one
   * uniform value per [out, in] pair spread over a 3×3 binomial kernel, as TensorSet.smoothConv).
   */
  values: { kind: 'uniform'; std: number; seed: number } | { kind: 'fill'; value: number } | { kind: 'smooth'; std: number; seed: number };
}

const CHUNK = 1 << 22; // elements per write (4 Mi: 4–16 MB of buffers)
const KERNEL = [1, 2, 1, 2, 4, 2, 1, 2, 1].map((v) => v / 16);

export function streamSafetensors(file: string, tensors: readonly StreamedTensor[], metadata: Record<string, string>, onBytes?: (written: number, total: number) => void): void {
  for (const t of tensors) {
    if (!(t.dtype in DTYPE_SIZE)) throw new CheckpointError(`Cannot write ${file}: tensor "${t.name}" has dtype ${t.dtype}.`, file, t.name);
  }
  const { len, header, dataBytes: offset } = safetensorsHeader(tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, bytes: count(t) * DTYPE_SIZE[t.dtype] })), metadata);
  writeFileAtomic(file, (fd) => {
    writeAll(fd, len);
    writeAll(fd, header);
    let written = 0;
    for (const t of tensors) {
      for (const chunk of draw(t)) {
        writeAll(fd, chunk);
        written += chunk.byteLength;
        onBytes?.(written, offset);
      }
    }
  });
}

function count(t: StreamedTensor): number {
  return t.shape.reduce((a, b) => a * b, 1);
}

/** The tensor's bytes, CHUNK elements at a time (a whole number of 3×3 kernels for `smooth`). */
function* draw(t: StreamedTensor): Generator<Uint8Array> {
  const n = count(t);
  const v = t.values;
  const rng = { state: v.kind === 'fill' ? 1 : (v.seed >>> 0) || 1 };
  const step = v.kind === 'smooth' ? CHUNK - (CHUNK % 9) : CHUNK;
  if (t.dtype === 'F8_E4M3' && v.kind === 'uniform') {
    // One random byte per value, mapped through a 256-entry table of FP8 codes for ±√3·std.
    const table = new Uint8Array(256);
    const a = Math.sqrt(3) * v.std;
    for (let b = 0; b < 256; b++) table[b] = fp8e4m3Code(((b + 0.5) / 128 - 1) * a);
    const words = new Uint32Array(CHUNK / 4);
    const out = new Uint8Array(CHUNK);
    for (let i = 0; i < n; i += CHUNK) {
      const m = Math.min(CHUNK, n - i);
      randomWords(rng, words, (m + 3) >> 2);
      mapBytes(new Uint8Array(words.buffer), out, table, m);
      yield out.subarray(0, m);
    }
    return;
  }
  const f = new Float32Array(step);
  const words = new Uint32Array(step);
  for (let i = 0; i < n; i += step) {
    const m = Math.min(step, n - i);
    if (v.kind === 'fill') f.fill(v.value, 0, m);
    else {
      randomWords(rng, words, v.kind === 'uniform' ? m : Math.ceil(m / 9));
      uniform(words, f, m, Math.sqrt(3) * v.std, v.kind === 'smooth');
    }
    yield encode(f.subarray(0, m), t.dtype);
  }
}

/** xorshift32: fast, seeded, the same everywhere. */
function randomWords(rng: { state: number }, out: Uint32Array, n: number): void {
  let x = rng.state | 0;
  for (let j = 0; j < n; j++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[j] = x;
  }
  rng.state = x;
}

function mapBytes(src: Uint8Array, out: Uint8Array, table: Uint8Array, n: number): void {
  for (let j = 0; j < n; j++) out[j] = table[src[j]!]!;
}

function uniform(words: Uint32Array, f: Float32Array, m: number, a: number, smooth: boolean): void {
  const s = a / 2 ** 31;
  if (!smooth) {
    for (let j = 0; j < m; j++) f[j] = words[j]! * s - a;
    return;
  }
  for (let j = 0, w = 0; j < m; j += 9, w++) {
    const r = words[w]! * s - a;
    for (let k = 0; k < 9; k++) f[j + k] = r * KERNEL[k]!;
  }
}

function encode(f: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  const bits = new Uint32Array(f.buffer, f.byteOffset, f.length);
  if (dtype === 'BF16') {
    const out = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) { const u = bits[i]!; out[i] = (u + 0x7fff + ((u >>> 16) & 1)) >>> 16; }
    return new Uint8Array(out.buffer);
  }
  if (dtype === 'F16') {
    const out = new Uint16Array(f.length);
    for (let i = 0; i < f.length; i++) out[i] = f16Bits(f[i]!);
    return new Uint8Array(out.buffer);
  }
  if (dtype === 'F8_E4M3') {
    const out = new Uint8Array(f.length);
    for (let i = 0; i < f.length; i++) out[i] = fp8e4m3Code(f[i]!);
    return out;
  }
  throw new Error(`the stream writer cannot encode ${dtype}`);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float → IEEE half bits, round to nearest even (saturating; no NaN/Inf inputs here). */
export function f16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = (u >>> 16) & 0x8000;
  const e = ((u >>> 23) & 0xff) - 127 + 15;
  const m = u & 0x7fffff;
  if (e >= 31) return sign | 0x7bff;
  if (e <= 0) {
    if (e < -10) return sign;
    const mm = m | 0x800000;
    const shift = 14 - e;
    const half = mm >>> shift;
    const rem = mm & ((1 << shift) - 1), mid = 1 << (shift - 1);
    return sign | (half + (rem > mid || (rem === mid && (half & 1)) ? 1 : 0));
  }
  const half = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  return sign | (half + (rem > 0x1000 || (rem === 0x1000 && (half & 1)) ? 1 : 0));
}

/** float → FP8 E4M3 (fn) code, round to nearest, saturating at ±448. */
export function fp8e4m3Code(x: number): number {
  const sign = x < 0 ? 0x80 : 0;
  const a = Math.abs(x);
  if (a >= 448) return sign | 0x7e;
  if (a < 2 ** -10) return sign; // below half the smallest subnormal (2^-9)
  let e = Math.floor(Math.log2(a));
  if (e < -6) return sign | Math.round(a / 2 ** -9); // subnormal: m · 2^-9
  let m = Math.round((a / 2 ** e - 1) * 8);
  if (m === 8) { m = 0; e++; }
  if (e > 8 || (e === 8 && m === 7)) return sign | 0x7e;
  return sign | ((e + 7) << 3) | m;
}
