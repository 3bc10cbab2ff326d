// `npm run bench:fp8`: what keeping FP8 weights stored costs on the CPU at full width. The T5-XXL
// encoder (4096 wide) and the FLUX transformer (3072 wide, one double and one single block) are
// built from a full-width few-layer untrained set and run under each weight policy in one process,
// the variants alternating round by round (a loaded machine slows all of them alike):
//   cast        FP8 widened once at load: the same graph with float32 weights, the fair ceiling
//   widen       FP8 kept stored, widened on every run (the CPU's policy when widening once does not
//               fit): T5 block by block, its weights widened by worker threads and fed to a one-block
//               session (runtime/flux/text/t5-streamed.ts); the transformer the same way, one double
//               and one single block session (runtime/flux/transformer-streamed.ts). Its time includes
//               waiting for the next run's first block, which it widens during its last block
//   widen-graph the whole graph widening in onnxruntime by the byte-pair table (runtime/onnx/weights.ts;
//               what 'widen' ran before block streaming), for comparison
//   dequantize  FP8 kept stored, DequantizeLinear on every run (CUDA's recipe), for comparison
// Prints per component the median run time with its range, the ratio to `cast` (median of the
// per-round ratios), where the time goes under `widen` (onnxruntime's per-node profile, by op
// type), and the full-depth extrapolation: T5-XXL's 24 layers at 256 tokens and a transformer step
// (19 double + 38 single blocks), from the time per parameter of the few-layer graphs (the layers
// repeat; embeddings and norms are a small share). No timing is asserted anywhere.
//
//   npm run bench:fp8 -- [--dir /tmp/schnell-fullwidth] [--rounds 5] [--size 256] [--policies cast,widen,dequantize]
//     [--components t5,transformer] [--threads N] [--json FILE]
// The set (about 1.6 GB: T5 with 2 layers, transformer 1 + 1 blocks) is written to --dir once.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openModelSet } from '../../runtime/flux/checkpoints/checkpoint.js';
import { MODEL_SET_MANIFEST } from '../../runtime/flux/checkpoints/model-set.js';
import { writeFullSizeModel } from '../../runtime/flux/demo/fullsize-model.js';
import { imageIds, textIds } from '../../runtime/flux/sampling/pack.js';
import { loadComponent, type LoadedComponent } from '../../runtime/flux/sessions.js';
import { runT5, runTransformer } from '../../runtime/flux/stages.js';
import type { FluxParams } from '../../runtime/flux/graphs/transformer.js';
import type { WeightPolicy } from '../../runtime/onnx/weights.js';
import { distinctTensors, type Weights } from '../../runtime/onnx/tensor-source.js';
import { stats, withSpread } from './matmul-ceiling.js';

const { values: opt } = parseArgs({
  options: {
    dir: { type: 'string', default: process.env.SCHNELL_FULLWIDTH_DIR ?? '/tmp/schnell-fullwidth' },
    rounds: { type: 'string', default: '5' },
    size: { type: 'string', default: '256' },
    policies: { type: 'string', default: 'cast,widen,widen-graph,dequantize' },
    components: { type: 'string', default: 't5,transformer' },
    threads: { type: 'string' },
    json: { type: 'string' },
  },
});
const dir = path.resolve(opt.dir!);
const rounds = Number(opt.rounds);
const size = Number(opt.size);
type Variant = WeightPolicy['fp8'] | 'widen-graph';
const policies = opt.policies!.split(',') as Variant[];
const components = opt.components!.split(',') as ('t5' | 'transformer')[];
const threads = opt.threads ? Number(opt.threads) : undefined;
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

if (!fs.existsSync(path.join(dir, MODEL_SET_MANIFEST))) {
  log(`writing a full-width set (T5 2 layers, transformer 1 + 1 blocks) to ${dir}`);
  writeFullSizeModel(dir, { doubleBlocks: 1, singleBlocks: 1, t5Layers: 2 });
}
const set = openModelSet(dir);
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-bench-fp8-'));

/** FP8 parameters of the layers that repeat (what the extrapolation scales by). */
const fp8Params = (w: Weights, skip: RegExp) => distinctTensors(w).filter((t) => /^F8_/.test(t.dtype) && !skip.test(t.name)).reduce((n, t) => n + t.length, 0);
// Full depth, in FP8 parameters of the repeating layers: T5-XXL 24 layers of 4096² ×4 + 4096×10240 ×3;
// FLUX 19 double blocks and 38 single blocks at 3072 wide (the demo writer's shapes).
const T5_LAYER = 4 * 4096 * 4096 + 3 * 4096 * 10240;
const FULL = { t5: 24 * T5_LAYER };

/** The FP8 block parameters of FLUX at full depth (19 double, 38 single), from one block of each here. */
function transformerFullDepth(w: Weights): number {
  const count = (prefix: string) => new Set(w.keys().filter((k) => k.startsWith(prefix)).map((k) => k.split('.')[1])).size;
  const per = (prefix: string) => fp8Params(w, new RegExp(`^(?!${prefix})`)) / Math.max(1, count(prefix));
  return 19 * per('double_blocks') + 38 * per('single_blocks');
}

interface Run { policy: Variant; loaded: LoadedComponent<unknown>; run: () => Promise<unknown>; times: number[] }

async function variants(component: 't5' | 'transformer'): Promise<Run[]> {
  const w = component === 't5' ? set.t5 : set.transformer;
  const out: Run[] = [];
  for (const fp8 of policies) {
    const policy: WeightPolicy = { fp8: fp8 === 'widen-graph' ? 'widen' : fp8, compute: 'float32' };
    const loaded = await loadComponent(component, w, set.config, { policy, cacheDir, ...(threads ? { threads } : {}), ...(fp8 === 'widen-graph' ? { streamT5: false, streamTransformer: false } : {}) });
    const run = runner(component, loaded);
    await run(); // warm-up: maps the weights, fills the arena
    out.push({ policy: fp8, loaded, run, times: [] });
    log(`${component} ${fp8}: loaded and warmed up`);
  }
  return out;
}

/** One run of the component on fixed inputs: T5 at 256 tokens, the transformer at --size. */
function runner(component: 't5' | 'transformer', loaded: LoadedComponent<unknown>): () => Promise<unknown> {
  if (component === 't5') {
    const ids = BigInt64Array.from({ length: 256 }, (_, i) => BigInt((i * 7919) % 32000 + 5));
    return () => runT5(loaded.session, ids);
  }
  const p = loaded.params as FluxParams;
  const g = size / 16, n = g * g, L = 256, axes = p.axes_dim.length;
  const fill = (k: number) => Float32Array.from({ length: k }, (_, i) => Math.sin(i) * 0.5);
  const x = { img: fill(n * p.in_channels), imgIds: imageIds(g, g, axes), txt: fill(L * p.context_in_dim), txtIds: textIds(L, axes), y: fill(p.vec_in_dim), t: 1 };
  // A block-by-block runner widens the next run's first block after its last: wait for that too,
  // so the variant that runs next in the round is not slowed by it and this one's time includes it.
  const runner = (loaded.session as unknown as { runner?: { idle?: () => Promise<void> } }).runner;
  return async () => {
    await runTransformer(loaded.session, p, x);
    await runner?.idle?.();
  };
}

/** Where the time of one `widen` run goes, by op type (onnxruntime's profile). */
async function profile(component: 't5' | 'transformer'): Promise<Record<string, number>> {
  const w = component === 't5' ? set.t5 : set.transformer;
  const prefix = path.join(cacheDir, `profile-${component}`);
  const loaded = await loadComponent(component, w, set.config, { policy: { fp8: 'widen', compute: 'float32' }, cacheDir, profilePrefix: prefix, ...(threads ? { threads } : {}) });
  const run = runner(component, loaded);
  await run();
  await run();
  loaded.session.endProfiling();
  await loaded.session.release();
  const file = fs.readdirSync(cacheDir).filter((f) => f.startsWith(`profile-${component}_`)).map((f) => path.join(cacheDir, f))[0]!;
  const events = JSON.parse(fs.readFileSync(file, 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  const byOp: Record<string, number> = {};
  for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time') && e.args?.op_name) byOp[e.args.op_name] = (byOp[e.args.op_name] ?? 0) + e.dur / 1000 / 2;
  return byOp;
}

const report: Record<string, unknown> = { load: os.loadavg(), cores: os.cpus().length, rounds, size, components: {} };
const lines: string[] = [];
for (const component of components) {
  const vs = await variants(component);
  for (let r = 0; r < rounds; r++) {
    for (const v of r % 2 ? [...vs].reverse() : vs) {
      const t = performance.now();
      await v.run();
      v.times.push(performance.now() - t);
    }
    log(`${component} round ${r + 1}/${rounds}: ${vs.map((v) => `${v.policy} ${v.times.at(-1)!.toFixed(0)} ms`).join(', ')}`);
  }
  const cast = vs.find((v) => v.policy === 'cast');
  const w = component === 't5' ? set.t5 : set.transformer;
  const repeating = component === 't5' ? fp8Params(w, /embed|shared/) : fp8Params(w, /^(?!double_blocks|single_blocks)/);
  const scale = (component === 't5' ? FULL.t5 : transformerFullDepth(w)) / repeating;
  const entry: Record<string, unknown> = { repeatingFp8Params: repeating, fullDepthScale: scale, variants: {} };
  for (const v of vs) {
    const ratio = cast ? stats(v.times.map((t, i) => t / cast.times[i]!)) : undefined;
    const med = stats(v.times).median;
    (entry.variants as Record<string, unknown>)[v.policy] = { ms: v.times, medianMs: med, ratioToCast: ratio, fullDepthS: (med * scale) / 1000 };
    lines.push(`| ${component} | ${v.policy} | ${withSpread(v.times)} ms | ${ratio ? `${ratio.median.toFixed(2)}× (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})` : '—'} | ${((med * scale) / 1000).toFixed(1)} s |`);
  }
  const streamed = vs.find((v) => v.policy === 'widen');
  if (component === 't5' && streamed && cast) {
    // T5 block by block: only the first block's widening is not overlapped with a run: it is in the
    // few-layer time once, so the linear extrapolation above is an upper bound; full depth at cast's
    // per-block speed plus that excess once is the lower bound. (The transformer's first block is
    // widened during the previous run's last, so its few-layer ratio holds at depth.)
    const excess = stats(streamed.times).median - stats(cast.times).median;
    const low = (stats(cast.times).median * scale + excess) / 1000;
    entry.widenFullDepthLowS = low;
    lines.push(`| t5 | widen, full depth bounds | | | ${low.toFixed(1)}–${((stats(streamed.times).median * scale) / 1000).toFixed(1)} s |`);
  }
  for (const v of vs) await v.loaded.session.release();
  if (policies.includes('widen')) {
    const p = await profile(component);
    entry.widenProfileMs = p;
    const total = Object.values(p).reduce((a, b) => a + b, 0);
    lines.push(`| ${component} | widen-graph, by op | ${Object.entries(p).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, ms]) => `${k} ${(100 * ms / total).toFixed(0)} %`).join(', ')} | | |`);
  }
  (report.components as Record<string, unknown>)[component] = entry;
}
report.loadAfter = os.loadavg();
console.log(`full-width few-layer graphs, ${size}² for the transformer (${(size / 16) ** 2} image + 256 text tokens), T5 at 256 tokens; ${rounds} alternating rounds; load average ${(report.load as number[]).map((x) => x.toFixed(1)).join(' ')} → ${(report.loadAfter as number[]).map((x) => x.toFixed(1)).join(' ')} on ${os.cpus().length} cores`);
console.log('| component | policy | run, median (range) | ÷ cast (fp32 weights) | full depth (extrapolated) |');
console.log('|---|---|---|---|---|');
for (const l of lines) console.log(l);
if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(report, null, 2));
fs.rmSync(cacheDir, { recursive: true, force: true });
