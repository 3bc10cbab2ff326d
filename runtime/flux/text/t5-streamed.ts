// The T5 encoder under the CPU's 'widen' policy, run block by block. Why: widening FP8 inside
// onnxruntime (a byte-pair Gather per weight) took about half of every run, while a 256-entry
// table in JavaScript worker threads widens a block's 193 M values in a fraction of the block's
// Gemm time. So one session runs one block with its float32 weights as inputs
// (graphs/t5-block.ts); the workers widen block i+1 into the second of two buffer sets while
// onnxruntime runs block i (the buffers move to the workers and back, never copied). Memory: two blocks of float32 (0.8 GB each for T5-XXL) and the page
// cache of the FP8 file, instead of the mapped file plus onnxruntime's widening workspace. The
// token embedding, the position bias and the final norm are small and computed here.
import { bucketTable, type T5Params } from '../graphs/t5.js';
import { t5BlockLinears, t5BlockNorms } from '../graphs/t5-block.js';
import type { BlockProgress, Feed, ModelRunner, OnnxSession, Output } from '../../onnx/session.js';
import { FLOAT_BYTES as BYTES, floatsOf, fp8Job, handled, isFp8Tensor as isFp8, readBytes, TensorScales, WidenPool, type WidenJob } from '../../onnx/widen-pool.js';
import type { TensorInfo, Weights } from '../../onnx/tensor-source.js';


/** True when every block's linear weights are FP8 single byte ranges (what the workers widen). */
export function canStreamT5(w: Weights, p: T5Params): boolean {
  for (let i = 0; i < p.numLayers; i++) {
    for (const l of t5BlockLinears(p, i)) {
      const t = w.require(l.key);
      if (!isFp8(t) || t.parts) return false;
      const s = w.scaleOf(l.key);
      if (s && (s.parts || s.length !== (BYTES[s.dtype] ?? 0))) return false;
    }
  }
  for (const k of [p.embedding, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', 'encoder.final_layer_norm.weight', ...Array.from({ length: p.numLayers }, (_, i) => t5BlockNorms(i).map((n) => n.key)).flat()]) {
    const t = w.require(k);
    if (t.parts || !(t.dtype in BYTES)) return false;
  }
  return true;
}

/** Float32 values of float elements in a fixed number of bytes per block (the linear weights). */
function blockElements(w: Weights, p: T5Params): number {
  return t5BlockLinears(p, 0).reduce((n, l) => n + w.require(l.key).length, 0);
}

/** Float32 bytes the runner keeps between runs: its two block buffers. */
export function streamedT5Bytes(w: Weights, p: T5Params): number {
  return 2 * 4 * blockElements(w, p);
}

export class StreamedT5 implements ModelRunner {
  readonly inputNames = ['input_ids'];
  readonly outputNames = ['last_hidden_state'];
  /** Two sets of one float32 buffer per linear weight of a block. */
  private sets: ArrayBuffer[][];
  private readonly scales: TensorScales;
  /** After each block: (blocks done, numLayers); what lets a long encode show real progress. */
  onProgress: BlockProgress | undefined = undefined;

  constructor(private block: OnnxSession, private w: Weights, private p: T5Params, private pool: WidenPool) {
    this.scales = new TensorScales(w);
    this.sets = [this.newSet(), this.newSet()];
  }

  private newSet(): ArrayBuffer[] {
    return t5BlockLinears(this.p, 0).map((l) => new ArrayBuffer(4 * this.w.require(l.key).length));
  }

  /** A small tensor of the checkpoint as float32 (norm scales, bias table), scale applied. */
  private small(key: string): Float32Array {
    const t = this.w.require(key);
    return floatsOf(readBytes(t.file, t.offset, t.length), t.dtype, this.scales.of(key));
  }

  /** Widens block i's linear weights into buffer set `k` (the set's buffers are with the workers meanwhile). */
  private async widenBlock(i: number, k: number): Promise<void> {
    // A set lost to a failed widening (its buffers stayed detached) is allocated again.
    if (this.sets[k]!.some((b) => b.byteLength === 0)) this.sets[k] = this.newSet();
    const jobs: WidenJob[] = t5BlockLinears(this.p, i).map((l, n) => {
      const t = this.w.require(l.key);
      return fp8Job(t, this.scales.of(l.key), this.sets[k]![n]!);
    });
    this.sets[k] = await this.pool.widen(jobs);
  }

  private blockFeeds(i: number, k: number): Record<string, Feed> {
    const feeds: Record<string, Feed> = {};
    t5BlockLinears(this.p, i).forEach((l, n) => {
      const t = this.w.require(l.key);
      feeds[l.input] = { type: 'float32', dims: [...t.shape], data: new Float32Array(this.sets[k]![n]!, 0, t.length) };
    });
    for (const n of t5BlockNorms(i)) feeds[n.input] = { type: 'float32', dims: [this.p.dModel], data: this.small(n.key) };
    return feeds;
  }

  /** Rows `ids` of the token embedding, as float32 [count, d_model]. */
  private embed(ids: BigInt64Array): Float32Array {
    const t = this.w.require(this.p.embedding);
    const D = this.p.dModel, size = BYTES[t.dtype]!, s = this.scales.of(this.p.embedding);
    const out = new Float32Array(ids.length * D);
    ids.forEach((id, r) => {
      const row = Number(id);
      if (!(row >= 0 && row < this.p.vocabSize)) throw new Error(`T5 encoder: token id ${row} is outside the vocabulary (0–${this.p.vocabSize - 1}).`);
      out.set(floatsOf(readBytes(t.file, t.offset + row * D * size, D * size), t.dtype, s), r * D);
    });
    return out;
  }

  /** Relative position bias [1, H, L, L] from block 0's bucket table (as the full graph computes it). */
  private positionBias(L: number): Float32Array {
    const { numHeads: H, numBuckets, maxDistance } = this.p;
    const rb = this.small('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight'); // [buckets, H]
    const buckets = bucketTable(numBuckets, maxDistance);
    const out = new Float32Array(H * L * L);
    for (let i = 0; i < L; i++) {
      for (let j = 0; j < L; j++) {
        const b = Number(buckets[Math.max(-maxDistance, Math.min(maxDistance, j - i)) + maxDistance]!);
        for (let h = 0; h < H; h++) out[(h * L + i) * L + j] = rb[b * H + h]!;
      }
    }
    return out;
  }

  async run(feeds: Record<string, Feed>): Promise<Record<string, Output>> {
    const ids = feeds.input_ids!;
    if (ids.type !== 'int64' || ids.dims.length !== 2) throw new Error(`T5 encoder: input_ids must be int64 [batch, tokens], got ${ids.type} [${ids.dims.join(', ')}]`);
    const [B, L] = ids.dims as [number, number];
    const D = this.p.dModel;
    let widening: Promise<void> | undefined = handled(this.widenBlock(0, 0));
    try {
      let x = this.embed(ids.data as BigInt64Array);
      const bias: Feed = { type: 'float32', dims: [1, this.p.numHeads, L, L], data: this.positionBias(L) };
      for (let i = 0; i < this.p.numLayers; i++) {
        await widening;
        widening = i + 1 < this.p.numLayers ? handled(this.widenBlock(i + 1, (i + 1) % 2)) : undefined;
        const out = await this.block.run({ hidden: { type: 'float32', dims: [B, L, D], data: x }, position_bias: bias, ...this.blockFeeds(i, i % 2) });
        x = out.hidden_out!.data as Float32Array;
        this.onProgress?.(i + 1, this.p.numLayers);
      }
      return { last_hidden_state: { type: 'float32', dims: [B, L, D], data: this.finalNorm(x) } };
    } finally {
      // A failed block leaves the next widening running: wait for it so its buffer set comes back.
      await widening?.catch(() => undefined);
    }
  }

  /** T5LayerNorm over the last block's output, with the final norm's scale. */
  private finalNorm(x: Float32Array): Float32Array {
    const D = this.p.dModel;
    const scale = this.small('encoder.final_layer_norm.weight');
    const y = new Float32Array(x.length);
    for (let r = 0; r < x.length / D; r++) {
      let sq = 0;
      for (let c = 0; c < D; c++) sq += x[r * D + c]! * x[r * D + c]!;
      const inv = 1 / Math.sqrt(Math.fround(sq / D) + this.p.eps);
      for (let c = 0; c < D; c++) y[r * D + c] = x[r * D + c]! * inv * scale[c]!;
    }
    return y;
  }

  async release(): Promise<void> {
    const buffers = this.sets.flat();
    this.sets = [[], []];
    await Promise.allSettled([this.pool.close(buffers), this.block.release()]);
  }

  endProfiling(): void {
    this.block.endProfiling();
  }
}
