// Exact widening of checkpoint dtypes to float32. Every F16/BF16/FP8 value is representable in
// float32, so these are exact (F64 and 64-bit integers round to nearest). Tensors are stored
// little-endian; so is every platform Node ships for that we support.
import type { SafetensorsDtype } from '../../onnx/tensor-source.js';

/** FP8 E4M3 "fn" (finite): bias 7, no infinities, S.1111.111 is NaN; max ±448. */
export function fp8e4m3ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0x0f;
  const m = b & 0x07;
  if (e === 0x0f && m === 0x07) return NaN;
  if (e === 0) return sign * m * 2 ** -9; // subnormal: m/8 · 2^(1-7)
  return sign * (1 + m / 8) * 2 ** (e - 7);
}

/** FP8 E5M2: IEEE-like, bias 15, with infinities and NaNs; max ±57344. */
export function fp8e5m2ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >> 2) & 0x1f;
  const m = b & 0x03;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -16; // subnormal: m/4 · 2^(1-15)
  return sign * (1 + m / 4) * 2 ** (e - 15);
}

/** IEEE binary16. */
export function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  if (e === 0) return sign * m * 2 ** -24;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;
let f16Table: Float32Array | undefined;
const table = (n: number, f: (x: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));

/** A typed-array view needs its byte offset aligned to the element size; copy when it is not. */
function aligned(bytes: Uint8Array, size: number): Uint8Array {
  return bytes.byteOffset % size === 0 ? bytes : bytes.slice();
}

/**
 * Widens raw tensor bytes of `dtype` to float32. May return a view sharing memory with `bytes`
 * (F32); pass a buffer you own.
 */
export function toFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  switch (dtype) {
    case 'F32': {
      const b = aligned(bytes, 4);
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    }
    case 'BF16': {
      const b = aligned(bytes, 2);
      const src = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
      const out = new Float32Array(src.length);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < src.length; i++) bits[i] = src[i]! << 16;
      return out;
    }
    case 'F16': {
      const t = (f16Table ??= table(65536, f16ToNumber));
      const b = aligned(bytes, 2);
      const src = new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = t[src[i]!]!;
      return out;
    }
    case 'F8_E4M3':
    case 'F8_E5M2': {
      const t = dtype === 'F8_E4M3' ? (e4m3Table ??= table(256, fp8e4m3ToNumber)) : (e5m2Table ??= table(256, fp8e5m2ToNumber));
      const out = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) out[i] = t[bytes[i]!]!;
      return out;
    }
    case 'F64': {
      const b = aligned(bytes, 8);
      return Float32Array.from(new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8));
    }
    case 'I64': {
      const b = aligned(bytes, 8);
      const src = new BigInt64Array(b.buffer, b.byteOffset, b.byteLength / 8);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]!);
      return out;
    }
    case 'I32': {
      const b = aligned(bytes, 4);
      return Float32Array.from(new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4));
    }
    case 'I16': {
      const b = aligned(bytes, 2);
      return Float32Array.from(new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2));
    }
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    case 'U8':
      return Float32Array.from(bytes);
    case 'BOOL':
      return Float32Array.from(bytes, (x) => (x ? 1 : 0));
  }
}
