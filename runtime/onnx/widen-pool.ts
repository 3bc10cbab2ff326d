// FP8 weights widened to float32 outside onnxruntime, by worker threads, into buffers moved to and from them. Why:
// onnxruntime's CPU Cast from FP8 converts one value at a time on one thread (about 26 ns per
// value here) and its Gather copies about 2.8 ns per value; a 256-entry table lookup in a tight
// JavaScript loop is about 1 ns per value per core. A caller (the block-by-block T5 runner) widens
// the next layer's weights here while onnxruntime runs the current one, and feeds the float32
// result to the session as inputs. The workers read the weight file themselves (page cache, no
// mapping kept), so memory holds only the float32 buffers the caller owns.
import fs from 'node:fs';
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { fp8Table } from './weights.js';
import type { TensorInfo, Weights } from './tensor-source.js';

/** One FP8 tensor (a contiguous byte range of a file), widened into `out` through `table`. */
export interface WidenJob {
  file: string;
  /** Byte offset in `file`. */
  offset: number;
  /** Number of FP8 values (bytes); `out` holds at least 4·count bytes. */
  count: number;
  /**
   * Where the float32 values go. Moved to a worker and back (no copy): after `widen` this buffer
   * is detached, and the same memory comes back in the result. Not a SharedArrayBuffer:
   * onnxruntime-node refuses tensors over shared memory ("Invalid argument").
   */
  out: ArrayBuffer;
  /** The 256 float32 values of the format, already multiplied by the tensor's scale if any. */
  table: Float32Array;
}

// Plain CommonJS evaluated in the worker (no loader, no TypeScript: the same under tsx, node and a
// bundled build). Reads 1 MB at a time and looks the bytes up two at a time in a 65,536-entry table
// whose entries are the two float32 values of a byte pair read as one float64: one 8-byte load and
// store per pair, with no float32 ↔ float64 conversion (about 20 % faster than one float32 per
// lookup, 40 % faster than one byte at a time, in V8 here). The bits are copied unchanged: an
// entry is a NaN only if its upper float32 is infinite or NaN, which no FP8 value times a finite
// scale is; a table holding one (a NaN byte, an infinite scale) takes the one-value-at-a-time path,
// which keeps each value's bits. The pair order assumes a little-endian CPU, as x86-64 and arm64 are.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
// Below onnxruntime's threads, relative to the thread that started it (Linux: a thread's own nice
// value; elsewhere it may be the process's or refused, and then nothing changes).
if (workerData && workerData.nice) { try { const os = require('node:os'); os.setPriority(Math.min(19, os.getPriority() + workerData.nice)); } catch {} }
const bytes = new Uint8Array(1 << 20);
const pairsOf = new Uint16Array(bytes.buffer);
const pair = new Float32Array(65536 * 2);
const pair64 = new Float64Array(pair.buffer);
function widen(out, out64, at, n, table, exact) {
  // Whole pairs need an even start: chunks are 1 MB, so only after a short read is it odd.
  if (exact || (at & 1)) {
    for (let i = 0; i < n; i++) out[at + i] = table[bytes[i]];
    return;
  }
  const half = n >> 1, base = at >> 1;
  for (let i = 0; i < half; i++) out64[base + i] = pair64[pairsOf[i]];
  if (n & 1) out[at + n - 1] = table[bytes[n - 1]];
}
parentPort.on('message', ({ id, jobs }) => {
  if (!jobs) return; // buffers handed over to be freed with this thread (WidenPool.close)
  const outs = jobs.map((j) => j.out);
  try {
    for (const j of jobs) {
      const out = new Float32Array(j.out, 0, j.count);
      const out64 = new Float64Array(j.out, 0, j.count >> 1);
      const table = j.table;
      const exact = table.some((v) => !Number.isFinite(v));
      for (let i = 0; i < 65536; i++) { pair[2 * i] = table[i & 255]; pair[2 * i + 1] = table[i >> 8]; }
      const fd = fs.openSync(j.file, 'r');
      try {
        let done = 0;
        while (done < j.count) {
          const n = fs.readSync(fd, bytes, 0, Math.min(bytes.length, j.count - done), j.offset + done);
          if (n <= 0) throw new Error(j.file + ' ended ' + (j.count - done) + ' bytes early at offset ' + (j.offset + done) + ' (truncated or replaced since it was loaded); check the file and load the model again');
          widen(out, out64, done, n, table, exact);
          done += n;
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    parentPort.postMessage({ id, outs }, outs);
  } catch (e) {
    parentPort.postMessage({ id, outs, error: String(e && e.message || e) }, outs);
  }
});`;

/**
 * How much nicer than their creator the workers run. On a few cores, workers widening at full priority preempt onnxruntime's
 * threads in the middle of a Gemm, whose other threads then wait at its barrier: the transformer
 * step ran 1.27–1.37× its float32-weight time that way, 1.10–1.17× with the workers at nice 5–10
 * (`npm run bench:fp8`, 256² and 512², 2 cores). They still get their share when onnxruntime waits
 * between ops, and at 5 (a third of the CPU against a busy thread) another busy program does not
 * starve them (at 10, 1.97× once under load).
 */
const WIDEN_NICE = 5;

interface Pending { resolve: (outs: ArrayBuffer[]) => void; reject: (e: Error) => void }

/** A fixed set of worker threads widening FP8 tensors; `close()` ends them (also on any failure). */
export class WidenPool {
  private workers: Worker[] = [];
  private pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | undefined;
  private closed = false;

  constructor(readonly size = Math.max(1, os.availableParallelism?.() ?? os.cpus().length), private label = 'FP8 weights') {
    for (let i = 0; i < size; i++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { nice: WIDEN_NICE } });
      // An idle pool never keeps the process alive (a session its owner forgot to release).
      w.unref();
      w.on('message', (m: { id: number; outs: ArrayBuffer[]; error?: string }) => this.settle(m.id, m.outs, m.error));
      w.on('error', (e) => this.fail(`a worker widening the ${this.label} failed (${e.message})`));
      w.on('exit', (code) => { if (!this.closed) this.fail(`a worker widening the ${this.label} stopped (exit code ${code})`); });
      this.workers.push(w);
    }
  }

  /**
   * Widens every job; whole tensors go to the workers, largest first to the least loaded one.
   * Resolves with each job's `out` buffer, in job order, once all values are written.
   */
  async widen(jobs: WidenJob[]): Promise<ArrayBuffer[]> {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error(`the ${this.label} widening pool was already closed`);
    const shares: number[][] = this.workers.map(() => []);
    const load = this.workers.map(() => 0);
    for (const i of jobs.map((_, i) => i).sort((a, b) => jobs[b]!.count - jobs[a]!.count)) {
      const k = load.indexOf(Math.min(...load));
      shares[k]!.push(i);
      load[k] = load[k]! + jobs[i]!.count;
    }
    const result: ArrayBuffer[] = new Array(jobs.length);
    await Promise.all(this.workers.map(async (w, k) => {
      const mine = shares[k]!;
      if (mine.length === 0) return;
      const id = this.nextId++;
      const outs = await new Promise<ArrayBuffer[]>((resolve, reject) => {
        this.pending.set(id, { resolve, reject });
        w.ref(); // busy: keep the process alive until the result arrives
        const sent = mine.map((i) => jobs[i]!);
        w.postMessage({ id, jobs: sent }, sent.map((j) => j.out));
      });
      mine.forEach((i, n) => (result[i] = outs[n]!));
    }));
    return result;
  }

  private settle(id: number, outs: ArrayBuffer[], error?: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    if (error) p.reject(new Error(`could not widen the ${this.label}: ${error}`));
    else p.resolve(outs);
  }

  private fail(sentence: string): void {
    if (this.failure) return;
    this.failure = new Error(`${sentence}; reload the model to try again.`);
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    void this.close();
  }

  /**
   * Ends the workers (idempotent). Pending widenings reject. `release`: the caller's float32 buffers,
   * handed to a worker so they are freed when it ends — now, not whenever the main thread's garbage
   * collector next runs, which the memory plan cannot wait for (gigabytes for a released model).
   */
  async close(release: ArrayBuffer[] = []): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = this.failure ?? new Error(`the ${this.label} widening pool was closed`);
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    const held = release.filter((b) => b.byteLength > 0);
    if (held.length > 0 && this.workers[0]) {
      try {
        this.workers[0].postMessage({ id: -1 }, held);
      } catch {
        /* a worker already gone: the garbage collector frees them instead */
      }
    }
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * The promise, marked handled: a widening that fails while its block waits behind a running one
 * must surface when that block awaits it, not as an unhandled rejection that ends the process.
 */
export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/** Bytes per value of the float dtypes the block runners read. */
export const FLOAT_BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1 };

export const isFp8Tensor = (t: TensorInfo): boolean => t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2';

/** Per-tensor scales of a checkpoint ("scaled FP8"), read once each; 1 where a tensor has none. */
export class TensorScales {
  private known = new Map<string, number>();
  constructor(private w: Weights) {}

  of(key: string): number {
    let s = this.known.get(key);
    if (s === undefined) {
      const info = this.w.scaleOf(key);
      s = info ? floatsOf(readBytes(info.file, info.offset, info.length), info.dtype)[0]! : 1;
      this.known.set(key, s);
    }
    return s;
  }
}

/** A job widening FP8 tensor `t` into `out` with its scale folded into the table. */
export function fp8Job(t: TensorInfo, scale: number, out: ArrayBuffer): WidenJob {
  const base = fp8Table(t.dtype === 'F8_E4M3' ? 'e4m3' : 'e5m2');
  return { file: t.file, offset: t.offset, count: t.length, out, table: scale === 1 ? base : base.map((v) => v * scale) };
}

/** Reads `length` bytes of `file` at `offset` (small tensors: norms, embedding rows, the position bias table). */
export function readBytes(file: string, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, buf, done, length - done, offset + done);
      if (n <= 0) throw new Error(`${file} ended ${length - done} bytes early at offset ${offset + done}; the file is truncated.`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

/** A small float tensor (any stored float dtype, FP8 included) as float32, times `scale`. */
export function floatsOf(bytes: Uint8Array, dtype: string, scale = 1): Float32Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = dtype === 'F64' ? 8 : dtype === 'F32' ? 4 : dtype === 'F16' || dtype === 'BF16' ? 2 : 1;
  const n = bytes.byteLength / size;
  const out = new Float32Array(n);
  const table = dtype === 'F8_E4M3' ? fp8Table('e4m3') : dtype === 'F8_E5M2' ? fp8Table('e5m2') : undefined;
  if (dtype === 'BF16') {
    // A bfloat16 is the upper half of a float32's bits.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
    if (scale !== 1) for (let i = 0; i < n; i++) out[i] = out[i]! * scale;
    return out;
  }
  for (let i = 0; i < n; i++) {
    let v: number;
    if (table) v = table[bytes[i]!]!;
    else if (dtype === 'F32') v = dv.getFloat32(4 * i, true);
    else if (dtype === 'F64') v = dv.getFloat64(8 * i, true);
    else if (dtype === 'F16') v = half(dv.getUint16(2 * i, true));
    else throw new Error(`dtype ${dtype} is not a floating-point weight`);
    out[i] = v * scale;
  }
  return out;
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
