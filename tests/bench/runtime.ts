// `npm run bench:runtime`: the local runtime's numbers on a mid-size FLUX configuration with
// random weights (../shared/docs/performance.md, "How we measure"). Prints a table, writes JSON.
//   graph efficiency  FLOP rate of a transformer step (fp32 weights, the product's loader) ÷ the
//                     rate of the step's MatMul shapes chained inside one graph (the fair ceiling:
//                     no output copied to JavaScript per MatMul), round by round; and ÷ the best
//                     chained-MatMul rate this machine's onnxruntime reaches over a few shapes
//                     (matmul-ceiling.ts). The old single-MatMul baseline is printed for comparison.
//   overhead          time outside session.run ÷ wall time of whole generations (FluxPipeline)
//   weights           resident memory and step time for fp32, bf16 and FP8 weights under each
//                     policy ('cast' widens once at load, 'dequantize' on every run, 'table' = GPU path),
//                     the variants alternating over --rounds rounds, medians with their range
//   load              time to ready ÷ time to read the weight bytes once, and resident memory
//                     growth ÷ weight bytes, for a ≥ 1 GB synthetic checkpoint, at ready and after
//                     the first step (memory-mapped weights are only touched by the first step)
// Memory numbers come from fresh child processes so they do not include each other.
//
//   npm run bench:runtime -- [--hidden 768] [--heads 6] [--depth 2] [--single 4] [--size 512]
//     [--steps 4] [--runs 3] [--rounds 3] [--load-gb 1.05] [--threads N] [--json FILE] [--skip-load] [--skip-weights]
//   npm run bench:runtime -- --device webgpu --transformer FILE [--size 1024] [--runs 5] [--torch FILE] [--json FILE]
//     one step on a GPU provider, per block type, FP8 vs float16 GPU memory (gpu-step.ts; README "GPU")
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { WeightPolicy } from '../../runtime/onnx/weights.js';
import { openComponent, openModelSet } from '../../runtime/flux/checkpoints/checkpoint.js';
import { DEMO_FILES, writeRandomModelSet } from '../../runtime/flux/demo/demo-model.js';
import { asBf16Checkpoint, asFp8Checkpoint, transformerTensors } from '../../runtime/flux/demo/demo-weights.js';
import { DEFAULT_MODEL_CONFIG, type ModelConfig } from '../../runtime/flux/model-config.js';
import { imageIds } from '../../runtime/flux/sampling/pack.js';
import { FluxPipeline } from '../../runtime/flux/pipeline.js';
import { readSafetensorsHeader, readTensor, writeSafetensors, type TensorToWrite } from '../../runtime/flux/checkpoints/safetensors.js';
import { choosePolicy, loadComponent, sessionConfigFor } from '../../runtime/flux/sessions.js';
import { runTransformer } from '../../runtime/flux/stages.js';
import type { FluxParams } from '../../runtime/flux/graphs/transformer.js';
import { bestMatmul, chainedStepMatmuls, singleMatmul, stats, withSpread } from './matmul-ceiling.js';

const { values: opt } = parseArgs({
  options: {
    hidden: { type: 'string', default: '768' },
    heads: { type: 'string', default: '6' },
    depth: { type: 'string', default: '2' },
    single: { type: 'string', default: '4' },
    size: { type: 'string', default: '512' },
    steps: { type: 'string', default: '4' },
    runs: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    'load-gb': { type: 'string', default: '1.05' },
    threads: { type: 'string' },
    json: { type: 'string' },
    'skip-load': { type: 'boolean', default: false },
    'skip-weights': { type: 'boolean', default: false },
    // --device: the GPU step benchmark instead (gpu-step.ts reads these itself).
    device: { type: 'string' },
    transformer: { type: 'string' },
    recipe: { type: 'string' },
    torch: { type: 'string' },
    text: { type: 'string' },
    // Internal: one measurement in a fresh process, printed as a JSON line.
    child: { type: 'string' },
    file: { type: 'string' },
    cache: { type: 'string' },
  },
});
const num = (k: keyof typeof opt) => Number(opt[k]);
const hidden = num('hidden'), heads = num('heads'), size = num('size'), runs = num('runs');
const threads = opt.threads ? Number(opt.threads) : undefined;
const TEXT_TOKENS = 256;
const imageTokens = (size / 16) ** 2;

/** FLUX's split of a head (time 1/8, rows and columns the rest), even widths. */
function axesFor(headDim: number): number[] {
  const t = 2 * Math.max(1, Math.round(headDim / 16));
  const r = 2 * Math.floor((headDim - t) / 4);
  return [t, r, headDim - t - r];
}
const config: ModelConfig = { ...DEFAULT_MODEL_CONFIG, axes_dim: axesFor(hidden / heads) };

const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MiB = 2 ** 20;
const rss = () => process.memoryUsage().rss;
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}
/** Linux: writing 5 to clear_refs resets the peak, so the next peak is what follows alone. */
function resetPeak(): void {
  try { fs.writeFileSync('/proc/self/clear_refs', '5'); } catch { /* not Linux */ }
}
const rand = (n: number, seed = 12345) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1));
};

// ---- FLOPs and feeds ------------------------------------------------------------------------

/** Multiply-adds ×2 of every MatMul in a step, plus attention's 4·T²·h per block. */
function stepFlops(p: FluxParams, N: number, L: number): number {
  const h = p.hidden_size, m = p.mlp_hidden_dim, T = N + L;
  const doubleMacs = T * (3 * h * h + h * h + 2 * h * m);
  const singleMacs = T * ((3 * h + m) * h + h * (h + m));
  const ioMacs = N * h * (p.in_channels + p.out_channels) + L * h * p.context_in_dim;
  // Modulations and embedders run on one row per request: negligible, left out.
  return 2 * (p.depth * doubleMacs + p.depth_single_blocks * singleMacs + ioMacs) + 4 * T * T * h * (p.depth + p.depth_single_blocks);
}

function stepInputs(p: FluxParams, N: number, L: number) {
  const side = Math.sqrt(N);
  return {
    img: rand(N * p.in_channels, 1), imgIds: imageIds(side, side, p.axes_dim.length),
    txt: rand(L * p.context_in_dim, 2), txtIds: new Float32Array(L * p.axes_dim.length), y: rand(p.vec_in_dim, 3), t: 0.75,
  };
}


// ---- children: one measurement per fresh process ---------------------------------------------

const POLICIES: Record<string, WeightPolicy> = {
  cast: { fp8: 'cast', compute: 'float32' },
  dequantize: { fp8: 'dequantize', compute: 'float32' },
  table: { fp8: 'table', compute: 'float32' },
};

async function child(kind: string, file: string, cache: string): Promise<unknown> {
  if (kind === 'read') {
    // Reading the weight bytes once, as a loader that only copies them would.
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.allocUnsafe(64 * MiB);
    const t0 = performance.now();
    let pos = 0, n: number;
    while ((n = fs.readSync(fd, buf, 0, buf.length, pos)) > 0) pos += n;
    fs.closeSync(fd);
    return { readMs: performance.now() - t0, bytes: pos };
  }
  const [what, policyName] = kind.split(':') as [string, string];
  const policy = POLICIES[policyName]!;
  const rss0 = rss();
  resetPeak();
  const t0 = performance.now();
  const w = openComponent('transformer', file);
  const c = await loadComponent('transformer', w, config, { policy, cacheDir: cache, ...(threads ? { threads } : {}) });
  const loadMs = performance.now() - t0;
  const out: Record<string, number | boolean> = { loadMs, cached: c.cached, rssAfterLoad: rss() - rss0, peakLoad: peakRss() - rss0 };
  if (what === 'load') {
    // Memory-mapped weights are read on first use: ready is not ready until one step has run.
    const inputs = stepInputs(c.params, imageTokens, TEXT_TOKENS);
    const t1 = performance.now();
    await runTransformer(c.session, c.params, inputs);
    Object.assign(out, { firstStepMs: performance.now() - t1, readyAfterFirstStepMs: performance.now() - t0, rssAfterFirstStep: rss() - rss0, peakFirstStep: peakRss() - rss0 });
  }
  if (what === 'step') {
    const inputs = stepInputs(c.params, imageTokens, TEXT_TOKENS);
    await runTransformer(c.session, c.params, inputs);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await runTransformer(c.session, c.params, inputs);
      times.push(performance.now() - t);
    }
    Object.assign(out, { stepMs: med(times), rssAfterRuns: rss() - rss0, peak: peakRss() - rss0 });
  }
  await c.session.release();
  return out;
}

function runChild(kind: string, file: string, cache: string): Record<string, number> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', kind, '--file', file, '--cache', cache,
    '--hidden', String(hidden), '--heads', String(heads), '--size', String(size), '--runs', String(runs), ...(threads ? ['--threads', String(threads)] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MiB });
  if (r.status !== 0) throw new Error(`${kind} failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// ---- the benchmark -----------------------------------------------------------------------------

function midSizeModelSet(dir: string): string {
  const ctx = 256, vec = 256;
  writeRandomModelSet(dir, {
    transformer: { hidden, heads, depth: num('depth'), depthSingle: num('single'), mlpRatio: 4, contextDim: ctx, vecDim: vec },
    autoencoder: { ch: 32, chMult: [1, 1, 1, 1], numResBlocks: 0, zChannels: 16 },
    t5: { dModel: ctx, dKv: 64, heads: 4, dFf: 512, layers: 2, vocab: 512 },
    clip: { hidden: vec, heads: 4, layers: 2, intermediate: 512, vocab: 1024, positions: 77 },
    config,
  });
  return dir;
}

function narrowCopies(fp32: string, dir: string): { bf16: string; fp8: string } {
  const tensors: TensorToWrite[] = readSafetensorsHeader(fp32).tensors.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: readTensor(t) }));
  const bf16 = path.join(dir, 'transformer-bf16.safetensors');
  const fp8 = path.join(dir, 'transformer-fp8-e4m3fn.safetensors');
  writeSafetensors(bf16, asBf16Checkpoint(tensors));
  writeSafetensors(fp8, asFp8Checkpoint(tensors));
  return { bf16, fp8 };
}

async function main(): Promise<void> {
  if (opt.device) return (await import('./gpu-step.js')).main();
  if (opt.child) {
    console.log(JSON.stringify(await child(opt.child, opt.file!, opt.cache!)));
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-bench-'));
  const cache = path.join(dir, 'graphs');
  const report: Record<string, unknown> = {
    date: new Date().toISOString(), cpus: os.cpus().length, cpu: os.cpus()[0]?.model, totalMemGiB: os.totalmem() / 2 ** 30, node: process.version,
  };
  const line = (s = '') => console.log(s);
  try {
    const setDir = midSizeModelSet(path.join(dir, 'set'));
    const fp32 = path.join(setDir, DEMO_FILES.transformer);
    const N = imageTokens, L = TEXT_TOKENS;

    // 1. Graph efficiency. The fair ceiling is the step's own MatMul shapes chained inside one
    //    graph (about one step's FLOPs, one run, one small output), timed just before and just
    //    after each step; the ratio is taken per round, since these machines are shared and
    //    whatever else runs then slows both sides of one round alike. The best chained-MatMul rate
    //    over a few shapes is what this machine's onnxruntime can reach at all.
    const sessionOpts = { config: sessionConfigFor('transformer'), ...(threads ? { threads } : {}) };
    const tr = await loadComponent('transformer', openComponent('transformer', fp32), config, { cacheDir: cache, ...(threads ? { threads } : {}) });
    const p = tr.params;
    const inputs = stepInputs(p, N, L);
    const flops = stepFlops(p, N, L);
    const best = await bestMatmul({ tokens: N + L, hidden, mlp: p.mlp_hidden_dim }, { ...sessionOpts, targetFlops: Math.min(flops, 40e9) });
    const fair = await chainedStepMatmuls(N + L, hidden, p.mlp_hidden_dim, flops, sessionOpts);
    const single = await singleMatmul(N + L, hidden, 4 * hidden, sessionOpts);
    const singleRepeat = Math.max(1, Math.round(flops / single.flops / 2));
    const timeSingle = async () => {
      let ms = 0;
      for (let i = 0; i < singleRepeat; i++) ms += await single.time();
      return ms;
    };
    await runTransformer(tr.session, p, inputs);
    await fair.time();
    await single.time();
    const rounds: { stepMs: number; fairGflops: number; ratio: number; singleGflops: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const before = await fair.time();
      const singleBefore = await timeSingle();
      const t = performance.now();
      await runTransformer(tr.session, p, inputs);
      const stepMs = performance.now() - t;
      const singleAfter = await timeSingle();
      const after = await fair.time();
      const fairRate = (2 * fair.flops) / ((before + after) / 1000);
      const singleRate = (2 * singleRepeat * single.flops) / ((singleBefore + singleAfter) / 1000);
      rounds.push({ stepMs, fairGflops: fairRate / 1e9, singleGflops: singleRate / 1e9, ratio: flops / (stepMs / 1000) / fairRate });
    }
    await fair.session.release();
    await single.session.release();
    await tr.session.release();
    const stepMs = stats(rounds.map((r) => r.stepMs)).median;
    const stepGflops = flops / (stepMs / 1000) / 1e9;
    const efficiency = {
      config: { hidden, heads, depth: p.depth, single: p.depth_single_blocks, mlp: p.mlp_hidden_dim, axes: p.axes_dim, imageTokens: N, textTokens: L, threads: threads ?? 'default' },
      stepGflop: flops / 1e9, stepMs, stepGflops,
      fairCeiling: { shape: fair.shape, gflops: stats(rounds.map((r) => r.fairGflops)) },
      ratio: stats(rounds.map((r) => r.ratio)).median,
      ratioSpread: stats(rounds.map((r) => r.ratio)),
      bestMatmul: best,
      ratioToBest: stepGflops / best.gflops,
      singleMatmulCopiedToJs: { shape: single.shape, gflops: stats(rounds.map((r) => r.singleGflops)), ratio: stepGflops / stats(rounds.map((r) => r.singleGflops)).median },
      rounds,
    };
    report.graphEfficiency = efficiency;

    // 2. Overhead of whole generations.
    const pipeline = await FluxPipeline.load(openModelSet(setDir), { cacheDir: cache, ...(threads ? { threads } : {}) });
    const params = { prompt: 'a lighthouse on a cliff at dusk', width: size, height: size, steps: num('steps'), seed: 42, samples: 1, sampler: 'K_EULER' as const, cfgScale: 1, format: 'png' as const };
    await pipeline.generate(params);
    const gens = [];
    for (let i = 0; i < Math.max(2, runs - 1); i++) gens.push((await pipeline.generate({ ...params, seed: 43 + i })).timings);
    await pipeline.unload();
    const overhead = {
      wallMs: med(gens.map((g) => g.wallMs)), sessionRunMs: med(gens.map((g) => g.sessionRunMs)),
      ratio: med(gens.map((g) => g.overheadMs / g.wallMs)), encodeMs: med(gens.map((g) => g.encodeMs)), runs: gens,
    };
    report.overhead = overhead;

    line(`Schnell runtime benchmark — ${report.cpus} × ${report.cpu}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.version}`);
    line(`mid-size FLUX: hidden ${hidden}, ${heads} heads, ${p.depth}+${p.depth_single_blocks} blocks, ${size}² = ${N} image + ${L} text tokens`);
    line();
    line('metric                       value     target   detail');
    line(`graph efficiency (fair)      ${efficiency.ratio.toFixed(2).padStart(6)}     ≥ 0.50   step ${withSpread(rounds.map((r) => r.stepMs))} ms for ${efficiency.stepGflop.toFixed(1)} GFLOP = ${stepGflops.toFixed(1)} GFLOP/s ÷ ${fair.shape} in one graph ${withSpread(rounds.map((r) => r.fairGflops), 1)} GFLOP/s; per-round ratios ${withSpread(rounds.map((r) => r.ratio), 2)}`);
    line(`step ÷ best MatMul here      ${efficiency.ratioToBest.toFixed(2).padStart(6)}              best chained MatMul ${best.gflops.toFixed(1)} GFLOP/s (${best.shape}); tried ${best.tried.map((t) => `${t.shape.split(' ').slice(0, 4).join(' ')} ${t.gflops.toFixed(0)}`).join(', ')}`);
    line(`  (old baseline: one MatMul copied to JS each call, ${efficiency.singleMatmulCopiedToJs.gflops.median.toFixed(1)} GFLOP/s, would give ${efficiency.singleMatmulCopiedToJs.ratio.toFixed(2)})`);
    line(`overhead                     ${(overhead.ratio * 100).toFixed(1).padStart(5)}%     ≤ 3%     ${overhead.wallMs.toFixed(0)} ms per ${size}² image, ${(overhead.wallMs - overhead.sessionRunMs).toFixed(0)} ms outside session.run (PNG ${overhead.encodeMs.toFixed(0)} ms)`);

    // 3. Weight dtypes and FP8 policies, each in a fresh process.
    if (!opt['skip-weights']) {
      const narrow = narrowCopies(fp32, dir);
      const variants: [string, string, string][] = [
        ['fp32', fp32, 'cast'], ['bf16', narrow.bf16, 'cast'],
        ['fp8 cast', narrow.fp8, 'cast'], ['fp8 dequantize', narrow.fp8, 'dequantize'], ['fp8 table', narrow.fp8, 'table'],
      ];
      const weights: Record<string, unknown> = {};
      // Variants alternate over the rounds (the order rotates each round), each in a fresh process,
      // so a burst of load from elsewhere lands on all of them rather than on whichever ran then.
      const rounds = Math.max(1, num('rounds'));
      const results = new Map<string, Record<string, number>[]>(variants.map(([name]) => [name, []]));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < variants.length; k++) {
          const [name, file, policy] = variants[(k + r) % variants.length]!;
          results.get(name)!.push(runChild(`step:${policy}`, file, cache));
        }
        process.stderr.write(`weights: round ${r + 1} of ${rounds} done\n`);
      }
      line();
      line(`weights (${rounds} rounds, median (min–max))  file MiB  load ms            step ms            resident MiB after load / after runs / peak`);
      for (const [name, file, policy] of variants) {
        const ms = results.get(name)!;
        const col = (k: string, scale = 1) => ms.map((m) => m[k]! / scale);
        const fileMiB = fs.statSync(file).size / MiB;
        weights[name] = {
          file: path.basename(file), fileMiB, policy, rounds: ms,
          loadMs: stats(col('loadMs')), stepMs: stats(col('stepMs')),
          rssAfterLoadMiB: stats(col('rssAfterLoad', MiB)), rssAfterRunsMiB: stats(col('rssAfterRuns', MiB)), peakMiB: stats(col('peak', MiB)),
        };
        line(`${name.padEnd(16)} ${fileMiB.toFixed(0).padStart(8)}  ${withSpread(col('loadMs')).padEnd(18)} ${withSpread(col('stepMs')).padEnd(18)} ${withSpread(col('rssAfterLoad', MiB))} / ${withSpread(col('rssAfterRuns', MiB))} / ${withSpread(col('peak', MiB))}`);
      }
      const fp8Weights = openComponent('transformer', narrow.fp8);
      const chosen = choosePolicy('cpu', [fp8Weights]);
      weights.cpuDefault = { policy: chosen.fp8, rule: 'cast (widen once at load) when 4 bytes per parameter fit in 75% of available memory, else dequantize (1 byte per parameter resident, slower steps)' };
      line(`CPU default for FP8 here: '${chosen.fp8}' (widen once at load when 4 B/param fits in 75% of available memory, else 'dequantize')`);
      report.weights = weights;
    }

    // 4. Load of a ≥ 1 GB checkpoint.
    if (!opt['skip-load']) {
      const big = path.join(dir, 'big-fp32.safetensors');
      // hidden 1024: a double block holds ~37.8 M parameters, a single one ~15.7 M.
      const targetBytes = num('load-gb') * 1e9;
      const perPair = (36 * 1024 * 1024 + 15 * 1024 * 1024) * 4;
      const pairs = Math.max(1, Math.ceil(targetBytes / perPair));
      writeSafetensors(big, transformerTensors({ hidden: 1024, heads: 8, depth: pairs, depthSingle: pairs, mlpRatio: 4, contextDim: 256, vecDim: 256 }, 7));
      const bytes = fs.statSync(big).size;
      runChild('read', big, cache); // warm the page cache for both sides
      const read = runChild('read', big, cache);
      const first = runChild('load:cast', big, cache);
      const cached = runChild('load:cast', big, cache);
      fs.rmSync(big);
      const load = {
        weightBytes: bytes, readMs: read.readMs, firstLoadMs: first.loadMs, cachedLoadMs: cached.loadMs,
        ratio: cached.loadMs! / read.readMs!, ratioFirst: first.loadMs! / read.readMs!,
        rssGrowth: cached.rssAfterLoad! / bytes, peakGrowth: cached.peakLoad! / bytes,
        // After the first step the mapped weights have been read: the honest "ready" and resident size.
        readyAfterFirstStepMs: cached.readyAfterFirstStepMs, firstStepMs: cached.firstStepMs,
        rssGrowthAfterFirstStep: cached.rssAfterFirstStep! / bytes, peakGrowthFirstStep: cached.peakFirstStep! / bytes, first, cached,
      };
      report.load = load;
      line();
      line(`load (${(bytes / 1e9).toFixed(2)} GB fp32 checkpoint, page cache warm)`);
      line(`time to ready ÷ read once   ${load.ratio.toFixed(2).padStart(6)}     ≤ 1.5    ready ${load.cachedLoadMs!.toFixed(0)} ms (graph cached; ${load.firstLoadMs!.toFixed(0)} ms building it) vs read ${load.readMs!.toFixed(0)} ms`);
      line(`resident growth ÷ weights   ${load.rssGrowth.toFixed(2).padStart(6)}     ≤ 1.1    peak while loading ${load.peakGrowth.toFixed(2)}×`);
      line(`after the first step (${size}², weights now touched):`);
      line(`  ready + one step           ${load.readyAfterFirstStepMs!.toFixed(0).padStart(6)} ms           of which the step ${load.firstStepMs!.toFixed(0)} ms`);
      line(`  resident growth ÷ weights  ${load.rssGrowthAfterFirstStep.toFixed(2).padStart(6)}     ≤ 1.1    peak ${load.peakGrowthFirstStep.toFixed(2)}×`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const out = path.resolve(opt.json ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '../../.tmp/bench-runtime.json'));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(report, null, 2));
  line(`\nJSON: ${out}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
