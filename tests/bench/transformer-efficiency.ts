// Graph efficiency of the FLUX transformer graph on the CPU (not a test; prints numbers):
// FLOPs of one transformer step of a mid-size FLUX configuration ÷ its time, divided by the FLOP
// rate of the step's MatMul shapes chained inside one graph with the same session options (the
// fair ceiling: no output copied to JavaScript per MatMul; matmul-ceiling.ts), and by the best
// chained-MatMul rate this machine's onnxruntime reaches over a few shapes
// (../shared/docs/performance.md, "How we measure"). Each round times the chain before and after
// one step, so load from other processes hits both sides of a ratio. Then, in fresh child processes, resident
// memory and step time for fp32 weights and for FP8 weights widened once ('cast') or on every run
// ('dequantize'), so the memory numbers do not include each other.
//
//   node --import tsx tests/bench/transformer-efficiency.ts [--hidden 1024] [--heads 16]
//     [--depth 2] [--single 4] [--image-tokens 1024] [--text-tokens 256] [--runs 5] [--threads N]
//     [--json FILE] [--no-memory]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createSession, type Feed, type OnnxSession } from '../../runtime/onnx/session.js';
import { bestMatmul, chainedStepMatmuls, withSpread } from './matmul-ceiling.js';
import type { WeightPolicy } from '../../runtime/onnx/weights.js';
import { openComponent } from '../../runtime/flux/checkpoints/checkpoint.js';
import { transformerTensors } from '../../runtime/flux/demo/demo-weights.js';
import { writeSafetensors, type TensorToWrite } from '../../runtime/flux/checkpoints/safetensors.js';
import { buildTransformer, transformerParams, type FluxParams } from '../../runtime/flux/graphs/transformer.js';

const { values: opt } = parseArgs({
  options: {
    hidden: { type: 'string', default: '1024' },
    heads: { type: 'string', default: '16' },
    depth: { type: 'string', default: '2' },
    single: { type: 'string', default: '4' },
    'image-tokens': { type: 'string', default: '1024' },
    'text-tokens': { type: 'string', default: '256' },
    runs: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string' },
    json: { type: 'string' },
    'no-memory': { type: 'boolean', default: false },
    // Internal: run one variant in this process and print its JSON line.
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});
const num = (k: keyof typeof opt) => Number(opt[k]);
const hidden = num('hidden'), heads = num('heads');
const N = num('image-tokens'), L = num('text-tokens'), runs = num('runs');
const threads = opt.threads ? Number(opt.threads) : undefined;

// ---- synthetic checkpoints ------------------------------------------------------------------

function writeCheckpoints(dir: string): { fp32: string; fp8: string } {
  const tensors = transformerTensors({ hidden, heads, depth: num('depth'), depthSingle: num('single'), mlpRatio: 4, contextDim: 1024, vecDim: 768 }, 1);
  const fp32 = path.join(dir, 'bench-fp32.safetensors');
  const fp8 = path.join(dir, 'bench-fp8-e4m3fn.safetensors');
  writeSafetensors(fp32, tensors);
  // The community FP8 layout: every 2-D weight F8_E4M3 (a plain cast), everything else BF16.
  writeSafetensors(fp8, tensors.map((t): TensorToWrite => {
    const data = t.data as Float32Array;
    return t.shape.length === 2 ? { ...t, dtype: 'F8_E4M3', data: toE4m3(data) } : { ...t, dtype: 'BF16', data: toBf16(data) };
  }));
  return { fp32, fp8 };
}

const E4M3 = (() => {
  const v: number[] = [];
  for (let b = 0; b < 0x7f; b++) {
    const e = (b >> 3) & 15, m = b & 7;
    v.push(e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7));
  }
  return v; // index = byte, ascending, 0x7f (NaN) excluded
})();

function toE4m3(x: Float32Array): Uint8Array {
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    let lo = 0, hi = E4M3.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (E4M3[mid]! <= a) lo = mid; else hi = mid;
    }
    const b = a - E4M3[lo]! <= E4M3[hi]! - a ? lo : hi;
    out[i] = b | (x[i]! < 0 ? 0x80 : 0);
  }
  return out;
}

function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  return Uint16Array.from(u, (v) => (v + 0x7fff + ((v >> 16) & 1)) >>> 16);
}

// ---- measuring ------------------------------------------------------------------------------

function stepFlops(p: FluxParams, parameters: number): { exact: number; formula: number } {
  const h = p.hidden_size, m = p.mlp_hidden_dim, T = N + L;
  const doubleMacs = (N + L) * (3 * h * h + h * h + 2 * h * m);
  const singleMacs = T * ((3 * h + m) * h + h * (h + m));
  const ioMacs = N * h * (p.in_channels + p.out_channels) + L * h * p.context_in_dim;
  const attn = 4 * T * T * h * (p.depth + p.depth_single_blocks);
  const exact = 2 * (p.depth * doubleMacs + p.depth_single_blocks * singleMacs + ioMacs) + attn;
  // performance.md's formula 2·P·T + 4·T²·h·blocks, P every parameter (modulations included).
  return { exact, formula: 2 * parameters * T + attn };
}

async function timeRuns(s: OnnxSession, feeds: Record<string, Feed>): Promise<number> {
  await s.run(feeds); // warm-up (first run allocates)
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await s.run(feeds);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const rand = (n: number) => {
  let s = 12345;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1));
};

function stepFeeds(p: FluxParams): Record<string, Feed> {
  const ids = (n: number, f: (t: number, a: number) => number) => Float32Array.from({ length: n * 3 }, (_, i) => f(Math.floor(i / 3), i % 3));
  const side = Math.ceil(Math.sqrt(N));
  const feeds: Record<string, Feed> = {
    img: { type: 'float32', dims: [1, N, p.in_channels], data: rand(N * p.in_channels) },
    img_ids: { type: 'float32', dims: [1, N, 3], data: ids(N, (t, a) => (a === 1 ? Math.floor(t / side) : a === 2 ? t % side : 0)) },
    txt: { type: 'float32', dims: [1, L, p.context_in_dim], data: rand(L * p.context_in_dim) },
    txt_ids: { type: 'float32', dims: [1, L, 3], data: new Float32Array(L * 3) },
    y: { type: 'float32', dims: [1, p.vec_in_dim], data: rand(p.vec_in_dim) },
    timesteps: { type: 'float32', dims: [1], data: Float32Array.from([0.75]) },
  };
  if (p.guidance_embed) feeds.guidance = { type: 'float32', dims: [1], data: Float32Array.from([3.5]) };
  return feeds;
}


const rssMiB = () => process.memoryUsage().rss / 2 ** 20;
function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function loadVariant(file: string, policy: WeightPolicy) {
  const w = openComponent('transformer', file);
  const p = transformerParams(w, { axes_dim: axesFor(hidden / heads), theta: 10000 });
  const parameters = w.keys().reduce((n, k) => n + w.require(k).shape.reduce((a, b) => a * b, 1), 0);
  const rssBeforeMiB = rssMiB();
  const baseDir = path.dirname(file);
  const t0 = performance.now();
  const s = await createSession(buildTransformer(w, p, policy).toBytes({ baseDir }), { baseDir, threads, label: 'transformer' });
  return { s, p, parameters, loadMs: performance.now() - t0, rssBeforeMiB, rssAfterLoadMiB: rssMiB() };
}

async function runVariant(file: string, policy: WeightPolicy) {
  const v = await loadVariant(file, policy);
  const peakLoadMiB = peakRssMiB();
  resetPeakRss();
  const stepMs = await timeRuns(v.s, stepFeeds(v.p));
  const result = {
    loadMs: v.loadMs, stepMs, rssBeforeMiB: v.rssBeforeMiB, rssAfterLoadMiB: v.rssAfterLoadMiB,
    peakLoadMiB, rssAfterRunsMiB: rssMiB(), peakRunsMiB: peakRssMiB(),
  };
  await v.s.release();
  return result;
}

/** Linux: writing 5 to clear_refs resets VmHWM, so the next peak is the runs' alone. */
function resetPeakRss(): void {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux, or not allowed: the peak then includes loading */
  }
}

/** FLUX's split (time 1/8, rows and columns the rest), rounded to even widths. */
function axesFor(headDim: number): number[] {
  const t = 2 * Math.max(1, Math.round(headDim / 16));
  const r = 2 * Math.floor((headDim - t) / 4);
  return [t, r, headDim - t - r];
}

const VARIANTS: Record<string, { weights: 'fp32' | 'fp8'; policy: WeightPolicy }> = {
  'fp32': { weights: 'fp32', policy: { fp8: 'cast', compute: 'float32' } },
  'fp8-cast': { weights: 'fp8', policy: { fp8: 'cast', compute: 'float32' } },
  'fp8-dequantize': { weights: 'fp8', policy: { fp8: 'dequantize', compute: 'float32' } },
};

async function main() {
  if (opt.child) {
    const v = VARIANTS[opt.child]!;
    const result = await runVariant(path.join(opt.dir!, v.weights === 'fp32' ? 'bench-fp32.safetensors' : 'bench-fp8-e4m3fn.safetensors'), v.policy);
    console.log(JSON.stringify(result));
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-bench-'));
  try {
    const files = writeCheckpoints(dir);
    const bytes = { fp32: fs.statSync(files.fp32).size, fp8: fs.statSync(files.fp8).size };
    // Baseline and step alternate, and the ratio is taken per round: these machines are shared,
    // so whatever else runs slows both sides of one round alike.
    const v = await loadVariant(files.fp32, VARIANTS.fp32!.policy);
    const feeds = stepFeeds(v.p);
    const flops = stepFlops(v.p, v.parameters);
    const ceilingOpts = threads ? { threads } : {};
    const best = await bestMatmul({ tokens: N + L, hidden, mlp: v.p.mlp_hidden_dim }, { ...ceilingOpts, targetFlops: Math.min(flops.exact, 40e9) });
    const mm = await chainedStepMatmuls(N + L, hidden, v.p.mlp_hidden_dim, flops.exact, ceilingOpts);
    await v.s.run(feeds);
    await mm.time();
    const rounds: { mmRate: number; stepMs: number; ratio: number }[] = [];
    // A pause before each timing lets the other session's intra-op threads stop spinning.
    const settle = () => new Promise((r) => setTimeout(r, 200));
    const mmTime = async () => {
      await settle();
      return mm.time();
    };
    for (let i = 0; i < runs; i++) {
      const before = await mmTime();
      await settle();
      const t1 = performance.now();
      await v.s.run(feeds);
      const stepMs = performance.now() - t1;
      const after = await mmTime();
      const mmRate = (2 * mm.flops) / ((before + after) / 1000);
      rounds.push({ mmRate, stepMs, ratio: flops.exact / (stepMs / 1000) / mmRate });
    }
    await mm.session.release();
    await v.s.release();
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const p = v.p;
    const stepMs = med(rounds.map((r) => r.stepMs));
    const mmRate = med(rounds.map((r) => r.mmRate));
    const ratio = med(rounds.map((r) => r.ratio));
    const ratioFormula = med(rounds.map((r) => flops.formula / (r.stepMs / 1000) / r.mmRate));
    // Best of the rounds on each side: the least disturbed estimate when others share the CPU.
    const bestStepMs = Math.min(...rounds.map((r) => r.stepMs));
    const bestMmRate = Math.max(...rounds.map((r) => r.mmRate));
    const bestRatio = flops.exact / (bestStepMs / 1000) / bestMmRate;
    const report: Record<string, unknown> = {
      config: { hidden, heads, depth: p.depth, single: p.depth_single_blocks, mlp: p.mlp_hidden_dim, imageTokens: N, textTokens: L, threads: threads ?? 'default' },
      matmulGflops: mmRate / 1e9,
      stepMs,
      stepGflop: flops.exact / 1e9,
      stepGflops: flops.exact / (stepMs / 1000) / 1e9,
      graphEfficiency: ratio,
      graphEfficiencyPerfMdFormula: ratioFormula,
      bestStepMs,
      bestMatmulGflops: bestMmRate / 1e9,
      graphEfficiencyBest: bestRatio,
      fairCeiling: mm.shape,
      bestMatmul: best,
      stepOverBestMatmul: flops.exact / (stepMs / 1000) / (best.gflops * 1e9),
      rounds,
    };
    console.log(`fair ceiling, ${mm.shape} in one graph: ${withSpread(rounds.map((r) => r.mmRate / 1e9), 1)} GFLOP/s (median (range) of ${runs} rounds)`);
    console.log(`best chained MatMul here: ${best.gflops.toFixed(1)} GFLOP/s (${best.shape}); step ÷ best: ${(report.stepOverBestMatmul as number).toFixed(3)}`);
    console.log(`transformer step (hidden ${hidden}, ${heads} heads, ${p.depth}+${p.depth_single_blocks} blocks, ${N}+${L} tokens): ${stepMs.toFixed(0)} ms, ${(flops.exact / 1e9).toFixed(1)} GFLOP, ${(flops.exact / (stepMs / 1000) / 1e9).toFixed(1)} GFLOP/s`);
    console.log(`graph efficiency: ${ratio.toFixed(3)} median of rounds, ${bestRatio.toFixed(3)} best step ÷ best MatMul (per-round ratios ${rounds.map((r) => r.ratio.toFixed(2)).join(' ')}; with performance.md's 2·P·T formula: ${ratioFormula.toFixed(3)})`);
    if (!opt['no-memory']) {
      const self = fileURLToPath(import.meta.url);
      const mem: Record<string, unknown> = {};
      console.log(`\nweights: fp32 ${(bytes.fp32 / 2 ** 20).toFixed(0)} MiB, fp8 ${(bytes.fp8 / 2 ** 20).toFixed(0)} MiB`);
      // The variants alternate over the rounds (order rotated each round), each in a fresh process.
      const rounds = Math.max(1, num('rounds'));
      const names = Object.keys(VARIANTS);
      const runsOf = new Map<string, Record<string, number>[]>(names.map((n) => [n, []]));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < names.length; k++) {
          const name = names[(k + r) % names.length]!;
          const args = ['--import', 'tsx', self, '--child', name, '--dir', dir, '--hidden', String(hidden), '--heads', String(heads), '--image-tokens', String(N), '--text-tokens', String(L), '--runs', String(Math.min(runs, 3)), ...(threads ? ['--threads', String(threads)] : [])];
          const res = spawnSync(process.execPath, args, { encoding: 'utf8' });
          if (res.status !== 0) throw new Error(`variant ${name} failed: ${res.stderr}`);
          runsOf.get(name)!.push(JSON.parse(res.stdout.trim().split('\n').pop()!));
        }
      }
      console.log(`variant (median (range) of ${rounds} alternating rounds)  load ms · step ms · RSS MiB after load / peak loading / after runs / peak running`);
      for (const name of names) {
        const ms = runsOf.get(name)!;
        const col = (k: string) => withSpread(ms.map((m) => m[k]!));
        mem[name] = { rounds: ms };
        console.log(`${name.padEnd(15)} ${col('loadMs')} · ${col('stepMs')} · ${col('rssAfterLoadMiB')} / ${col('peakLoadMiB')} / ${col('rssAfterRunsMiB')} / ${col('peakRunsMiB')}`);
      }
      report.weightsMiB = { fp32: bytes.fp32 / 2 ** 20, fp8: bytes.fp8 / 2 ** 20 };
      report.variants = mem;
    }
    if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(report, null, 2));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
