// `npm run bench:runtime -- --device webgpu --transformer FILE …`: one FLUX transformer step on an
// execution provider (a GPU through WebGPU on the device machine; `--device cpu` to dry-run it
// here), per step and per block type, and the GPU memory that FP8 weights (the GPU recipe: kept FP8,
// widened by the 256-entry table) take against the same graph with float16 weights (widened once at
// load). Every variant runs in a fresh child process so its memory is its own. Nothing here guesses
// a figure: what the card or the provider does not report is left out and said so.
//
//   --device webgpu|cpu|…   provider (required)          --transformer FILE   BFL-layout checkpoint
//   --size 1024 --text 256  tokens: (size/16)² + text    --runs 5             timed steps (median)
//   --recipe webgpu         graph recipe when --device cpu (default: the device's own)
//   --torch FILE            PyTorch's JSON (gpu-torch.py) to compare with   --json FILE   write here
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { openComponent } from '../../runtime/flux/checkpoints/checkpoint.js';
import { DEFAULT_MODEL_CONFIG } from '../../runtime/flux/model-config.js';
import { imageIds } from '../../runtime/flux/sampling/pack.js';
import { loadComponent } from '../../runtime/flux/sessions.js';
import { runTransformer } from '../../runtime/flux/stages.js';
import type { Provider } from '../../runtime/onnx/session.js';
import type { Weights } from '../../runtime/onnx/tensor-source.js';
import type { WeightPolicy } from '../../runtime/onnx/weights.js';

const { values: opt } = parseArgs({
  strict: false,
  options: {
    device: { type: 'string' }, transformer: { type: 'string' }, size: { type: 'string', default: '1024' },
    text: { type: 'string', default: '256' }, runs: { type: 'string', default: '5' }, recipe: { type: 'string' },
    torch: { type: 'string' }, json: { type: 'string' }, child: { type: 'string' }, cache: { type: 'string' },
  },
});
const str = (k: string) => (typeof opt[k] === 'string' ? (opt[k] as string) : undefined);
const MiB = 2 ** 20;

/** The checkpoint with one kind of block hidden: the step without it prices the blocks of that kind. */
function without(w: Weights, prefix: 'double_blocks.' | 'single_blocks.' | null): Weights {
  if (!prefix) return w;
  const hidden = (k: string) => k.startsWith(prefix);
  return {
    component: w.component, files: w.files, ...(w.config ? { config: w.config } : {}),
    has: (k) => !hidden(k) && w.has(k),
    get: (k) => (hidden(k) ? undefined : w.get(k)),
    require: (k) => {
      if (hidden(k)) throw new Error(`${k} is left out of this variant`);
      return w.require(k);
    },
    keys: () => w.keys().filter((k) => !hidden(k)),
    scaleOf: (k) => w.scaleOf(k),
  };
}

const rand = (n: number, seed: number) => {
  let s = seed;
  return Float32Array.from({ length: n }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1));
};

/** What nvidia-smi says: the card, memory used on it, and by this process (absent without nvidia-smi). */
function nvidiaSmi(): { name?: string; usedMiB?: number; processMiB?: number } {
  const q = (args: string[]) => spawnSync('nvidia-smi', args, { encoding: 'utf8' });
  const gpu = q(['--query-gpu=name,memory.used', '--format=csv,noheader,nounits']);
  if (gpu.status !== 0 || !gpu.stdout) return {};
  const [name, used] = gpu.stdout.trim().split('\n')[0]!.split(',').map((s) => s.trim());
  const out: { name?: string; usedMiB?: number; processMiB?: number } = { name: name!, usedMiB: Number(used) };
  // Vulkan clients may be listed as graphics rather than compute apps; look at both.
  for (const kind of ['--query-compute-apps=pid,used_memory', '--query-graphics-apps=pid,used_memory']) {
    const apps = q([kind, '--format=csv,noheader,nounits']);
    for (const line of (apps.status === 0 ? apps.stdout : '').trim().split('\n')) {
      const [pid, mem] = line.split(',').map((s) => s.trim());
      if (Number(pid) === process.pid) out.processMiB = Number(mem);
    }
  }
  return out;
}

// ---- child: one variant in a fresh process ------------------------------------------------------

const POLICIES: Record<string, WeightPolicy | undefined> = {
  recipe: undefined, // the device's (or --recipe's) own: FP8 kept, table-widened, float16 compute on WebGPU
  f16weights: { fp8: 'cast', compute: 'float16' }, // widened to float16 once at load
};

async function child(spec: string): Promise<unknown> {
  const [policyName, drop] = spec.split(':') as [string, string];
  const device = str('device') as Provider;
  const w = without(openComponent('transformer', str('transformer')!), drop === 'double' ? 'double_blocks.' : drop === 'single' ? 'single_blocks.' : null);
  const recipe = str('recipe') as Provider | undefined;
  const policy = POLICIES[policyName];
  const before = nvidiaSmi();
  const t0 = performance.now();
  const c = await loadComponent('transformer', w, DEFAULT_MODEL_CONFIG, {
    provider: device, cacheDir: str('cache')!, ...(policy ? { policy } : {}), ...(recipe ? { recipe } : {}),
  });
  const loadMs = performance.now() - t0;
  const side = Number(str('size')) / 16, L = Number(str('text'));
  const p = c.params;
  const inputs = {
    img: rand(side * side * p.in_channels, 1), imgIds: imageIds(side, side, p.axes_dim.length),
    txt: rand(L * p.context_in_dim, 2), txtIds: new Float32Array(L * p.axes_dim.length), y: rand(p.vec_in_dim, 3), t: 0.75,
  };
  const t1 = performance.now();
  await runTransformer(c.session, p, inputs);
  const firstStepMs = performance.now() - t1;
  const after = nvidiaSmi();
  const times: number[] = [];
  for (let i = 0; i < Number(str('runs')); i++) {
    const t = performance.now();
    await runTransformer(c.session, p, inputs);
    times.push(performance.now() - t);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result = {
    variant: spec, provider: c.session.provider, fallbackReason: c.session.fallbackReason ?? null,
    depth: p.depth, single: p.depth_single_blocks, hidden: p.hidden_size, heads: p.num_heads,
    loadMs, firstStepMs, stepMs: sorted[Math.floor(sorted.length / 2)]!, stepsMs: times,
    gpu: { before, afterFirstStep: after, processMiB: after.processMiB ?? null, usedDeltaMiB: after.usedMiB !== undefined && before.usedMiB !== undefined ? after.usedMiB - before.usedMiB : null },
    rssMiB: process.memoryUsage().rss / MiB,
  };
  await c.session.release();
  return result;
}

function runChild(spec: string, cache: string): Record<string, unknown> {
  const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', spec, '--cache', cache,
    ...['device', 'transformer', 'size', 'text', 'runs', 'recipe'].flatMap((k) => (str(k) ? [`--${k}`, str(k)!] : []))];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 16 * MiB, stdio: ['ignore', 'pipe', 'inherit'] });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !last.startsWith('{')) return { variant: spec, error: `exit ${r.status}; see the log above` };
  return JSON.parse(last);
}

// ---- the benchmark ---------------------------------------------------------------------------------

export async function main(): Promise<void> {
  if (str('child')) {
    console.log(JSON.stringify(await child(str('child')!)));
    return;
  }
  if (!str('device') || !str('transformer')) throw new Error('gpu-step: give --device PROVIDER and --transformer FILE (a BFL-layout checkpoint, e.g. from `schnell demo-model --size full --double-blocks 2 --single-blocks 4`)');
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-gpu-step-'));
  const say = (s: string) => console.log(s);
  try {
    // Each variant's result is written as it comes, so a call cut off at its time limit keeps them.
    const partial: Record<string, unknown> = {};
    const variant = (name: string, spec: string) => {
      const r = runChild(spec, cache);
      partial[name] = r;
      if (str('json')) fs.writeFileSync(str('json')!, JSON.stringify({ partial: true, ort: partial }, null, 2));
      return r;
    };
    const full = variant('full', 'recipe:');
    say(`step (FP8 weights, ${full.provider}): ${JSON.stringify({ stepMs: full.stepMs, fallback: full.fallbackReason, gpu: full.gpu })}`);
    const f16 = variant('float16Weights', 'f16weights:');
    const noDouble = variant('withoutDouble', 'recipe:double');
    const noSingle = variant('withoutSingle', 'recipe:single');
    say(`float16 weights: ${JSON.stringify({ stepMs: f16.stepMs, gpu: f16.gpu })}`);
    const n = (x: unknown) => (typeof x === 'number' ? x : NaN);
    const perBlock = {
      doubleMs: (n(full.stepMs) - n(noDouble.stepMs)) / n(full.depth),
      singleMs: (n(full.stepMs) - n(noSingle.stepMs)) / n(full.single),
      how: 'block time = (step − step without that kind of block) ÷ its count',
    };
    const gpuMiB = (v: Record<string, unknown>) => {
      const g = v.gpu as { processMiB: number | null; usedDeltaMiB: number | null } | undefined;
      return g?.processMiB ?? g?.usedDeltaMiB ?? null;
    };
    const fp8MiB = gpuMiB(full), f16MiB = gpuMiB(f16);
    const report: Record<string, unknown> = {
      date: new Date().toISOString(), card: nvidiaSmi().name ?? null, node: process.version, cpus: os.cpus().length,
      command: `npm run bench:runtime -- ${process.argv.slice(2).join(' ')}`,
      tokens: { image: (Number(str('size')) / 16) ** 2, text: Number(str('text')) },
      ort: { full, withoutDouble: noDouble, withoutSingle: noSingle, float16Weights: f16, perBlock },
      memory: { fp8MiB, float16MiB: f16MiB, ratio: fp8MiB !== null && f16MiB !== null ? fp8MiB / f16MiB : null, source: 'nvidia-smi: this process, else the card\'s memory.used after − before the load and first step' },
    };
    const torchFile = str('torch');
    if (torchFile && fs.existsSync(torchFile)) {
      const torch = JSON.parse(fs.readFileSync(torchFile, 'utf8')) as { stepMs?: number; doubleMs?: number; singleMs?: number };
      report.torch = torch;
      report.ratio = {
        step: n(full.stepMs) / n(torch.stepMs), double: perBlock.doubleMs / n(torch.doubleMs), single: perBlock.singleMs / n(torch.singleMs),
        meaning: 'onnxruntime time ÷ PyTorch time on the same card (above 1: slower than PyTorch)',
      };
    }
    say(JSON.stringify({ perBlock, memory: report.memory, ratio: report.ratio ?? null }, null, 2));
    if (str('json')) fs.writeFileSync(str('json')!, JSON.stringify(report, null, 2));
  } finally {
    fs.rmSync(cache, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
