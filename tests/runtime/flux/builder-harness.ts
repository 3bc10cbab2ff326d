// Shared test support for the T5 / CLIP / autoencoder graph builders: fixture access, running a
// built graph in a real onnxruntime session, random checkpoints written to temp .safetensors
// files in any stored dtype, and float64 reference math that shares no code with the builders.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commonDir, type GraphBuilder } from '../../../runtime/onnx/graph.js';
import { createSession, type Feed, type Output } from '../../../runtime/onnx/session.js';
import { readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../../runtime/flux/checkpoints/safetensors.js';
import { fp8e4m3ToNumber } from '../../../runtime/flux/checkpoints/dtypes.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const FIXTURES = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
export const TINY = path.join(FIXTURES, 'flux-tiny');

export function goldensJson(): { ae: { params: Record<string, unknown> }; cases: Record<string, Record<string, unknown>>; tolerances: { relative_l2: Record<string, number> } } {
  return JSON.parse(fs.readFileSync(path.join(TINY, 'goldens.json'), 'utf8'));
}

/** A float tensor from goldens.safetensors. */
export function golden(name: string): { shape: number[]; data: Float32Array } {
  const info = readSafetensorsHeader(path.join(TINY, 'goldens.safetensors')).byName.get(name);
  if (!info) throw new Error(`goldens.safetensors has no '${name}'`);
  return { shape: info.shape, data: readTensor(info) };
}

/** An int64 tensor from goldens.safetensors, as a feed. */
export function goldenIds(name: string): Feed {
  const info = readSafetensorsHeader(path.join(TINY, 'goldens.safetensors')).byName.get(name);
  if (!info || info.dtype !== 'I64') throw new Error(`goldens.safetensors has no int64 '${name}'`);
  const bytes = readTensorBytes(info).slice();
  return { type: 'int64', dims: info.shape, data: new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8) };
}

export function idsFeed(rows: number[][]): Feed {
  return { type: 'int64', dims: [rows.length, rows[0]!.length], data: BigInt64Array.from(rows.flat(), (x) => BigInt(x)) };
}

/** Serializes the graph, loads it in a CPU session (external data from the weight files) and runs it once. */
export async function runGraph(g: GraphBuilder, feeds: Record<string, Feed>): Promise<Record<string, Output>> {
  const baseDir = commonDir(g.externalFiles);
  const session = await createSession(g.toBytes({ baseDir }), { baseDir, threads: 2, label: g.name });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/** The model references the weight file as external data and carries no copy of its bytes. */
export function assertWeightsStayInFile(g: GraphBuilder, file: string): void {
  assert.deepEqual(g.externalFiles, [path.resolve(file)]);
  const modelBytes = g.toBytes({ baseDir: path.dirname(path.resolve(file)) }).length;
  assert.ok(modelBytes < fs.statSync(file).size / 4, `the model is ${modelBytes} bytes: weights were copied into it`);
}

/** ‖out − ref‖ / ‖ref‖. */
export function relL2(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) throw new Error(`length ${out.length} vs reference ${ref.length}`);
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
}

/** Deterministic uniform / normal numbers (mulberry32 + Box–Muller). */
export class Rng {
  constructor(private s: number) {}
  uniform(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.uniform())) * Math.cos(2 * Math.PI * this.uniform());
  }
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }
}

export type StoredDtype = 'F32' | 'BF16' | 'F8_E4M3';

/** A float64 tensor: the exact values a checkpoint holds. */
export interface RefTensor {
  shape: number[];
  data: Float64Array;
}

function bf16(values: Float32Array): { bytes: Uint16Array; values: Float64Array } {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const bytes = new Uint16Array(values.length);
  const out = new Float64Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    const b = bits[i]!;
    bytes[i] = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16; // round to nearest even
    u[0] = bytes[i]! << 16;
    out[i] = f[0]!;
  }
  return { bytes, values: out };
}

let e4m3: { code: number; value: number }[] | undefined;
function fp8(values: Float32Array): { bytes: Uint8Array; values: Float64Array } {
  e4m3 ??= Array.from({ length: 256 }, (_, code) => ({ code, value: fp8e4m3ToNumber(code) })).filter((e) => Number.isFinite(e.value));
  const bytes = new Uint8Array(values.length);
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    let best = e4m3[0]!;
    for (const e of e4m3) if (Math.abs(e.value - values[i]!) < Math.abs(best.value - values[i]!)) best = e;
    bytes[i] = best.code;
    out[i] = best.value;
  }
  return { bytes, values: out };
}

/** Builds a random checkpoint tensor by tensor, remembering the exact stored values. */
export class RandomCheckpoint {
  readonly values = new Map<string, RefTensor>();
  private readonly tensors: TensorToWrite[] = [];

  constructor(private readonly rng: Rng, private readonly dtypeOf: (name: string, shape: number[]) => StoredDtype = () => 'F32') {}

  /** Normal(mean, std) values; replaces an earlier tensor of the same name. */
  add(name: string, shape: number[], std: number, mean = 0): this {
    const n = shape.reduce((a, b) => a * b, 1);
    const f32 = Float32Array.from({ length: n }, () => mean + std * this.rng.normal());
    const dtype = this.dtypeOf(name, shape);
    let data: ArrayBufferView, values: Float64Array;
    if (dtype === 'BF16') ({ bytes: data, values } = bf16(f32));
    else if (dtype === 'F8_E4M3') ({ bytes: data, values } = fp8(f32));
    else { data = f32; values = Float64Array.from(f32); }
    const at = this.tensors.findIndex((t) => t.name === name); // adding a name again replaces it
    if (at >= 0) this.tensors.splice(at, 1);
    this.tensors.push({ name, dtype, shape, data });
    this.values.set(name, { shape, data: values });
    return this;
  }

  write(file: string, config?: Record<string, unknown>): string {
    writeSafetensors(file, this.tensors);
    if (config) fs.writeFileSync(file.replace(/\.safetensors$/, '.config.json'), JSON.stringify(config));
    return file;
  }
}

/** Matrices (2-D) as FP8, everything else as BF16: the layout of community FP8 checkpoints. */
export const fp8Layout = (_: string, shape: number[]): StoredDtype => (shape.length >= 2 ? 'F8_E4M3' : 'BF16');

// ---- float64 reference math --------------------------------------------------------------------

export function get(t: Map<string, RefTensor>, key: string): RefTensor {
  const v = t.get(key);
  if (!v) throw new Error(`reference: no tensor '${key}'`);
  return v;
}

/** x [rows, in] · Wᵀ (+ b), W [out, in]. */
export function refLinear(t: Map<string, RefTensor>, prefix: string, x: Float64Array, rows: number): Float64Array {
  const w = get(t, `${prefix}.weight`);
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

export function softmaxRow(row: Float64Array): void {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += row[i] = Math.exp(row[i]! - max);
  for (let i = 0; i < row.length; i++) row[i]! /= sum;
}

export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

/** erf to ~1e-15 (series for small |x|, continued fraction for large). */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 6) return Math.sign(x);
  if (ax < 2.5) {
    let sum = 0, term = ax;
    for (let n = 0; n < 200; n++) {
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      term *= (-ax * ax) / (n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc via Lentz continued fraction
  let f = ax, c = ax, d = 0;
  for (let n = 1; n < 300; n++) {
    const an = n / 2;
    d = ax + an * d; d = 1 / d;
    c = ax + an / c;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return Math.sign(x) * (1 - erfc);
}
