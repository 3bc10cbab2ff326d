// The FLUX transformer under the CPU's 'widen' policy, run block by block (as the T5 encoder is,
// runtime/flux/text/t5-streamed.ts). Why: widening FP8 inside onnxruntime (a byte-pair Gather per
// weight) cost as much as the Gemms of a 256² step (1.74× the same graph with float32 weights),
// while worker threads widen the next block's bytes with a table while onnxruntime runs this one.
// Four sessions (runtime/flux/graphs/transformer-stream.ts): an entry, one double-stream block and
// one single-stream block whose float32 weights are inputs, and an exit. Memory: two buffer sets of
// one double block in float32 (1.4 GB each for FLUX.1) plus the page cache of the FP8 file, which
// the system keeps while memory allows (so a second run does not read the disk) and can drop
// under pressure, instead of 12 GB of mapped pages counted as the process's own.
// Each block finished is reported through `onProgress` (progress within a step that takes minutes).
import type { BlockProgress, Feed, ModelRunner, OnnxSession, Output } from '../onnx/session.js';
import { FLOAT_BYTES, floatsOf, fp8Job, handled, isFp8Tensor as isFp8, readBytes, TensorScales, WidenPool, type WidenJob } from '../onnx/widen-pool.js';
import type { TensorInfo, Weights } from '../onnx/tensor-source.js';
import { sliceRows } from './checkpoints/weight-rows.js';
import type { BlockWeight } from './graphs/transformer-stream.js';
import type { FluxParams } from './graphs/transformer-params.js';


type BlockKind = 'double' | 'single';
const PREFIX: Record<BlockKind, string> = { double: 'double_blocks', single: 'single_blocks' };

/** Block `i`'s tensor for a block-0 key (a row range `[a:b]` of a fused weight kept as such). */
export function blockTensor(w: Weights, kind: BlockKind, i: number, key0: string): TensorInfo {
  const key = `${PREFIX[kind]}.${i}.${key0.slice(`${PREFIX[kind]}.0.`.length)}`;
  const m = /^(.*)\[(\d+):(\d+)\]$/.exec(key);
  if (!m) return w.require(key);
  const start = Number(m[2]), end = Number(m[3]);
  return sliceRows(w.require(m[1]!), start, end - start);
}

/** The checkpoint key a block tensor's scale is stored for (row ranges share their tensor's). */
function baseKey(kind: BlockKind, i: number, key0: string): string {
  return `${PREFIX[kind]}.${i}.${key0.slice(`${PREFIX[kind]}.0.`.length)}`.replace(/\[\d+:\d+\]$/, '');
}

/**
 * True when every block's matrices are FP8 single byte ranges with a scalar scale (what the workers
 * widen) and its vectors are floats in one range (read directly): the common FP8 FLUX files.
 */
export function canStreamTransformer(w: Weights, p: FluxParams, blocks: Record<BlockKind, BlockWeight[]>): boolean {
  for (const kind of ['double', 'single'] as const) {
    const count = kind === 'double' ? p.depth : p.depth_single_blocks;
    for (let i = 0; i < count; i++) {
      for (const b of blocks[kind]) {
        const t = blockTensor(w, kind, i, b.key);
        if (t.parts || !(t.dtype in FLOAT_BYTES)) return false;
        if (t.shape.length === 2 && !isFp8(t)) return false;
        const s = w.scaleOf(baseKey(kind, i, b.key));
        if (s && (s.parts || s.length !== (FLOAT_BYTES[s.dtype] ?? 0))) return false;
      }
    }
  }
  return true;
}

/** Float32 bytes the runner keeps between runs: two sets of its largest block's matrices. */
export function streamedTransformerBytes(w: Weights, blocks: Record<BlockKind, BlockWeight[]>): number {
  const matrices = (kind: BlockKind) => blocks[kind].reduce((n, b) => {
    const t = blockTensor(w, kind, 0, b.key);
    return n + (t.shape.length === 2 ? 4 * t.shape[0]! * t.shape[1]! : 0);
  }, 0);
  return 2 * Math.max(blocks.double.length ? matrices('double') : 0, blocks.single.length ? matrices('single') : 0);
}

export interface StreamedSessions {
  entry: OnnxSession;
  double?: OnnxSession;
  single?: OnnxSession;
  exit: OnnxSession;
}

/** One buffer set: float32 buffers, and which block's matrices they hold now (input name → values). */
interface BufferSet {
  buffers: ArrayBuffer[];
  values: Map<string, Float32Array>;
}

export class StreamedTransformer implements ModelRunner {
  readonly inputNames: readonly string[];
  readonly outputNames = ['out'];
  /** Called after each block with blocks done in this run and blocks per run (an own property: OnnxSession.reportsProgress looks for it). */
  onProgress: BlockProgress | undefined = undefined;
  private readonly order: { kind: BlockKind; index: number }[] = [];
  private readonly sets: BufferSet[] = [{ buffers: [], values: new Map() }, { buffers: [], values: new Map() }];
  /** The next run's first block, widened after the last block of the previous run. */
  private prefetched: Promise<number> | undefined;
  private readonly scales: TensorScales;
  private vectors = new Map<string, Float32Array>();

  constructor(
    private s: StreamedSessions, private w: Weights, private p: FluxParams,
    private blocks: Record<BlockKind, BlockWeight[]>, private pool: WidenPool,
  ) {
    this.inputNames = s.entry.inputNames;
    this.scales = new TensorScales(w);
    for (let i = 0; i < p.depth; i++) this.order.push({ kind: 'double', index: i });
    for (let i = 0; i < p.depth_single_blocks; i++) this.order.push({ kind: 'single', index: i });
  }

  /**
   * Widens block `k` of the run order into set `n`, each matrix into the smallest free buffer of
   * the set that holds it (double and single blocks share the buffers). Resolves with `n`.
   */
  private async widen(k: number, n: number): Promise<number> {
    const { kind, index } = this.order[k]!;
    const set = this.sets[n]!;
    set.values.clear();
    // A buffer lost to a failed widening stays detached (length 0): allocate it again.
    const free = set.buffers.filter((b) => b.byteLength > 0).sort((a, b) => a.byteLength - b.byteLength);
    const matrices = this.blocks[kind]
      .map((b) => ({ b, t: blockTensor(this.w, kind, index, b.key) }))
      .filter(({ t }) => t.shape.length === 2)
      .sort((x, y) => y.t.length - x.t.length);
    const jobs: WidenJob[] = matrices.map(({ b, t }) => {
      const at = free.findIndex((buf) => buf.byteLength >= 4 * t.length);
      const out = at >= 0 ? free.splice(at, 1)[0]! : new ArrayBuffer(4 * t.length);
      return fp8Job(t, this.scales.of(baseKey(kind, index, b.key)), out);
    });
    set.buffers = free; // what this block does not use stays in the set
    const outs = await this.pool.widen(jobs);
    matrices.forEach(({ b, t }, j) => set.values.set(b.input, new Float32Array(outs[j]!, 0, t.length)));
    set.buffers.push(...outs);
    return n;
  }

  /** A block's feeds: its widened matrices from set `n`, and its vectors (biases, norm scales). */
  private blockFeeds(k: number, n: number): Record<string, Feed> {
    const { kind, index } = this.order[k]!;
    const feeds: Record<string, Feed> = {};
    for (const b of this.blocks[kind]) {
      const t = blockTensor(this.w, kind, index, b.key);
      const data = this.sets[n]!.values.get(b.input) ?? this.vector(kind, index, b.key, t);
      feeds[b.input] = { type: 'float32', dims: [...t.shape], data };
    }
    return feeds;
  }

  /**
   * A block vector as float32, read once and kept: reading them per run cost ~0.1 s a double block
   * (tens of small reads), while all of FLUX.1's take about 8 MB.
   */
  private vector(kind: BlockKind, index: number, key0: string, t: TensorInfo): Float32Array {
    const id = `${kind}.${index}.${key0}`;
    let v = this.vectors.get(id);
    if (!v) {
      v = floatsOf(readBytes(t.file, t.offset, t.length), t.dtype, this.scales.of(baseKey(kind, index, key0)));
      this.vectors.set(id, v);
    }
    return v;
  }

  async run(feeds: Record<string, Feed>): Promise<Record<string, Output>> {
    const total = this.order.length;
    let widening: Promise<number> | undefined = this.prefetched ?? handled(this.widen(0, 0));
    this.prefetched = undefined;
    try {
      const e = await this.s.entry.run(feeds);
      const hidden = this.p.hidden_size;
      const B = e.img_hidden!.dims[0]!, N = e.img_hidden!.dims[1]!, L = e.txt_hidden!.dims[1]!;
      const shared: Record<string, Feed> = {
        silu_vec: asFeed(e.silu_vec!), rope_positions: asFeed(e.rope_positions!), rope_cos: asFeed(e.rope_cos!), rope_sin: asFeed(e.rope_sin!),
      };
      let img = e.img_hidden!.data as Float32Array, txt = e.txt_hidden!.data as Float32Array;
      let x: Float32Array | undefined;
      for (let k = 0; k < total; k++) {
        const n: number = await widening!;
        // The last block's turn widens the next run's first block (a step is followed by another).
        widening = handled(this.widen((k + 1) % total, 1 - n));
        const { kind } = this.order[k]!;
        if (kind === 'double') {
          const out = await this.s.double!.run({
            img: { type: 'float32', dims: [B, N, hidden], data: img }, txt: { type: 'float32', dims: [B, L, hidden], data: txt },
            ...shared, ...this.blockFeeds(k, n),
          });
          img = out.img_out!.data as Float32Array;
          txt = out.txt_out!.data as Float32Array;
        } else {
          x ??= joinTokens(txt, img, B, L, N, hidden);
          x = (await this.s.single!.run({ x: { type: 'float32', dims: [B, L + N, hidden], data: x }, ...shared, ...this.blockFeeds(k, n) })).x_out!.data as Float32Array;
        }
        this.onProgress?.(k + 1, total);
      }
      const imgTokens = x ? imageTokens(x, B, L, N, hidden) : img;
      this.prefetched = widening;
      widening = undefined;
      return await this.s.exit.run({ img: { type: 'float32', dims: [B, N, hidden], data: imgTokens }, silu_vec: shared.silu_vec! });
    } finally {
      // A failed block leaves the next widening running: wait for it so its buffer set comes back.
      await widening?.catch(() => undefined);
    }
  }

  /** Resolves once the next run's first block is widened (benchmarks time a run with it). */
  async idle(): Promise<void> {
    await this.prefetched?.catch(() => undefined);
  }

  async release(): Promise<void> {
    await this.prefetched?.catch(() => undefined);
    const buffers = this.sets.flatMap((set) => set.buffers);
    for (const set of this.sets) (set.buffers = []), set.values.clear();
    await Promise.allSettled([this.pool.close(buffers), ...Object.values(this.s).map((s: OnnxSession) => s.release())]);
  }

  endProfiling(): void {
    for (const s of Object.values(this.s) as OnnxSession[]) s.endProfiling();
  }
}

function asFeed(o: Output): Feed {
  return { type: o.type as Feed['type'], dims: [...o.dims], data: o.data };
}

/** [B, L, C] text and [B, N, C] image tokens → [B, L + N, C], text first (as the reference concatenates). */
function joinTokens(txt: Float32Array, img: Float32Array, B: number, L: number, N: number, C: number): Float32Array {
  const x = new Float32Array(B * (L + N) * C);
  for (let b = 0; b < B; b++) {
    x.set(txt.subarray(b * L * C, (b + 1) * L * C), b * (L + N) * C);
    x.set(img.subarray(b * N * C, (b + 1) * N * C), (b * (L + N) + L) * C);
  }
  return x;
}

/** The image tokens [B, N, C] of [B, L + N, C]. */
function imageTokens(x: Float32Array, B: number, L: number, N: number, C: number): Float32Array {
  const out = new Float32Array(B * N * C);
  for (let b = 0; b < B; b++) out.set(x.subarray((b * (L + N) + L) * C, (b + 1) * (L + N) * C), b * N * C);
  return out;
}
