// The ceilings a transformer step's FLOP rate is compared with (bench:runtime and
// transformer-efficiency.ts). A single MatMul run from JavaScript pays for copying its output back
// every call and for waking the thread pool, so dividing by it flatters the graph. The fair ceiling
// is MatMuls chained inside one graph — the step's own shapes (tokens × hidden → 4·hidden → hidden),
// distinct weights, as many as make about one step's FLOPs, one session.run, one small output.
// The best MatMul is the highest rate this machine's onnxruntime reaches on chained MatMuls of any
// of a few shapes (square 256…2048 and the step's), with the same session options.
import os from 'node:os';
import { GraphBuilder } from '../../runtime/onnx/graph.js';
import { createSession, type Feed, type OnnxSession } from '../../runtime/onnx/session.js';

export interface CeilingOptions {
  threads?: number;
  /** Session config entries (the transformer's: sessionConfigFor('transformer')). */
  config?: Record<string, string>;
}

export interface MatmulGraph {
  session: OnnxSession;
  feeds: Record<string, Feed>;
  flops: number;
  shape: string;
  /** Milliseconds of one session.run. */
  time(): Promise<number>;
}

const rand = (n: number, seed: number, scale = 1) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1) * scale);
};

async function session(g: GraphBuilder, label: string, opts: CeilingOptions): Promise<OnnxSession> {
  return createSession(g.toBytes({ baseDir: os.tmpdir() }), { baseDir: os.tmpdir(), label, ...(opts.config ? { config: opts.config } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
}

function timed(s: OnnxSession, feeds: Record<string, Feed>): () => Promise<number> {
  return async () => {
    const t = performance.now();
    await s.run(feeds);
    return performance.now() - t;
  };
}

/**
 * x[T, k0] · W1[k0, k1] · W2[k1, k2] · … inside one graph. Weights are scaled by √(3/K) so values
 * stay near unit size along the chain (no overflow or denormals to slow it down).
 */
async function chain(rows: number, widths: number[], label: string, opts: CeilingOptions): Promise<MatmulGraph> {
  const g = new GraphBuilder(label);
  let x = g.input('x', 'float32', [rows, widths[0]!]);
  let flops = 0;
  for (let i = 1; i < widths.length; i++) {
    const k = widths[i - 1]!, n = widths[i]!;
    const w = g.constant({ type: 'float32', dims: [k, n], data: rand(k * n, 100 + i, Math.sqrt(3 / k)) }, `w${i}`);
    x = g.op('MatMul', [x, w]);
    flops += 2 * rows * k * n;
  }
  g.output(x, 'y', 'float32', [rows, widths[widths.length - 1]!]);
  const s = await session(g, label, opts);
  const feeds: Record<string, Feed> = { x: { type: 'float32', dims: [rows, widths[0]!], data: rand(rows * widths[0]!, 7) } };
  return { session: s, feeds, flops, shape: `${widths.length - 1} × MatMul ${rows}×${widths.slice(0, 2).join('×')}…`, time: timed(s, feeds) };
}

/** The fair ceiling: the step's MatMul shapes chained in one graph, about `targetFlops` in all. */
export async function chainedStepMatmuls(tokens: number, hidden: number, mlp: number, targetFlops: number, opts: CeilingOptions = {}): Promise<MatmulGraph> {
  const perPair = 2 * 2 * tokens * hidden * mlp;
  const pairs = Math.max(1, Math.round(targetFlops / perPair));
  const widths = [hidden];
  for (let i = 0; i < pairs; i++) widths.push(mlp, hidden);
  const m = await chain(tokens, widths, 'matmul-chain', opts);
  return { ...m, shape: `${2 * pairs} chained MatMuls ${tokens}×${hidden}→${mlp}→${hidden}` };
}

/** The old baseline, kept for comparison: one MatMul whose whole output is copied to JavaScript each run. */
export async function singleMatmul(tokens: number, hidden: number, out: number, opts: CeilingOptions = {}): Promise<MatmulGraph> {
  const m = await chain(tokens, [hidden, out], 'matmul-single', opts);
  return { ...m, shape: `one MatMul ${tokens}×${hidden}×${out}, output copied to JS` };
}

export interface BestMatmul {
  gflops: number;
  shape: string;
  tried: { shape: string; gflops: number }[];
}

/** The highest chained-MatMul rate over a few shapes: best of `runs` after a warm-up, per shape. */
export async function bestMatmul(stepShape: { tokens: number; hidden: number; mlp: number }, opts: CeilingOptions & { runs?: number; targetFlops?: number } = {}): Promise<BestMatmul> {
  const target = opts.targetFlops ?? 20e9;
  const tried: { shape: string; gflops: number }[] = [];
  const candidates: (() => Promise<MatmulGraph>)[] = [256, 512, 1024, 2048].map((n) => () => chain(n, Array.from({ length: Math.min(64, Math.max(2, Math.round(target / (2 * n ** 3)))) + 1 }, () => n), `square-${n}`, opts));
  candidates.push(() => chainedStepMatmuls(stepShape.tokens, stepShape.hidden, stepShape.mlp, target, opts));
  for (const make of candidates) {
    const m = await make();
    await m.time();
    let best = Infinity;
    for (let i = 0; i < (opts.runs ?? 3); i++) best = Math.min(best, await m.time());
    tried.push({ shape: m.shape, gflops: m.flops / (best / 1000) / 1e9 });
    await m.session.release();
  }
  const top = tried.reduce((a, b) => (b.gflops > a.gflops ? b : a));
  return { gflops: top.gflops, shape: top.shape, tried };
}

/** Median and spread (min–max) of a list, for tables. */
export function stats(xs: number[]): { median: number; min: number; max: number; n: number } {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** "412 (398–431)": a median with its range. */
export function withSpread(xs: number[], digits = 0): string {
  const s = stats(xs);
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}
