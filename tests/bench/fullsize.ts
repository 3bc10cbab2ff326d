// `npm run bench:fullsize` (not in CI; about 18 GB of disk): the real FLUX.1 [schnell] shapes on
// this machine. Writes the full-size untrained model set once to a cache folder
// ($SCHNELL_FULLSIZE_DIR, default /tmp/schnell-fullsize), then generates 256² and 512² at one step
// and 1024² at four steps — each after the fit check, which may refuse with its sentence, and the
// duration estimate from this machine's measured speed, which skips a case longer than
// --max-minutes (default 30) — and prints per stage: time, peak resident memory, bytes read from
// disk, and the fit estimate beside each peak: the stage as this request meets it (runtime/flux/
// memory.ts; the first request has not yet touched the transformer's weights while T5 encodes, the
// next one has). Writes .tmp/bench-fullsize.json.
// Options: --cases 256x256x1,512x512x1,1024x1024x4  --max-minutes N  --dir DIR
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openModelSet } from '../../runtime/flux/checkpoints/checkpoint.js';
import { writeFullSizeModel } from '../../runtime/flux/demo/fullsize-model.js';
import { MODEL_SET_MANIFEST } from '../../runtime/flux/checkpoints/model-set.js';
import { FluxPipeline, type StageEvent } from '../../runtime/flux/pipeline.js';
import { fitModelSet } from '../../runtime/models/fit-model.js';
import { cpuMemory } from '../../runtime/models/fit.js';

const { values } = parseArgs({ options: { cases: { type: 'string' }, 'max-minutes': { type: 'string' }, dir: { type: 'string' } } });
const root = path.resolve(values.dir ?? process.env.SCHNELL_FULLSIZE_DIR ?? '/tmp/schnell-fullsize');
const modelDir = path.join(root, 'model');
const maxMs = Number(values['max-minutes'] ?? 30) * 60_000;
const cases = (values.cases ?? '256x256x1,512x512x1,1024x1024x4').split(',').map((c) => {
  const [w, h, s] = c.split('x').map(Number);
  return { width: w!, height: h!, steps: s! };
});
const GB = 1e9;
const gb = (b: number | undefined) => (b === undefined ? '—' : (b / GB).toFixed(2));
const log = (s: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${s}`);

function meminfo(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const out: Record<string, unknown> = { machine: { memTotal: meminfo('MemTotal'), memAvailableAtStart: meminfo('MemAvailable') }, cases: [] as unknown[] };

let writeMs = 0;
if (!fs.existsSync(path.join(modelDir, MODEL_SET_MANIFEST))) {
  log(`writing the full-size untrained model set to ${modelDir} (once; about 17 GB)`);
  const t0 = performance.now();
  let last = 0;
  writeFullSizeModel(modelDir, {
    onFile: (f, b) => log(`wrote ${path.basename(f)} (${gb(b)} GB)`),
    onBytes: (f, done, total) => {
      if (performance.now() - last > 10_000) (last = performance.now()), log(`${path.basename(f)}: ${gb(done)} of ${gb(total)} GB`);
    },
  });
  writeMs = performance.now() - t0;
}
out.writeMs = writeMs;
const set = openModelSet(modelDir);
const onStage = (e: StageEvent) => log(e.message);
log(`MemAvailable ${gb(meminfo('MemAvailable'))} GB; loading (the pipeline loads what the memory plan keeps)`);
const t0 = performance.now();
const pipeline = await FluxPipeline.load(set, { cacheDir: path.join(root, 'graphs'), onStage });
out.load = { ms: performance.now() - t0, policy: pipeline.info.policy, plan: pipeline.info.memory.plan };
log(`ready in ${((performance.now() - t0) / 1000).toFixed(1)} s, policy ${JSON.stringify(pipeline.info.policy)}, plan ${JSON.stringify(pipeline.info.memory.plan)}`);

const rows: string[] = [];
try {
  for (const c of cases) {
    const label = `${c.width}²×${c.steps}`;
    const fit = await fitModelSet(set, { provider: 'cpu', width: c.width, height: c.height, device: cpuMemory() });
    if (fit && !fit.fits) {
      log(`${label}: refused by the fit check: ${fit.message}`);
      (out.cases as unknown[]).push({ ...c, refused: fit.message });
      rows.push(`| ${label} | refused | ${fit.message} |`);
      continue;
    }
    let estimateMs: number | undefined;
    const r = await pipeline.generate(
      { prompt: 'a lighthouse at dusk, full size', width: c.width, height: c.height, steps: c.steps, seed: 42, samples: 1, sampler: 'K_EULER', cfgScale: 1, format: 'png' },
      {
        onStage: (e) => {
          if (e.stage === 'estimate') {
            estimateMs = e.etaMs;
            if (e.etaMs !== undefined && e.etaMs > maxMs) throw new Error(`estimated ${Math.round(e.etaMs / 60000)} min, over --max-minutes`);
          }
          onStage(e);
        },
      },
    ).catch((err: Error) => err);
    if (r instanceof Error) {
      log(`${label}: ${r.message}`);
      (out.cases as unknown[]).push({ ...c, skipped: r.message, estimateMs });
      rows.push(`| ${label} | skipped | ${r.message} |`);
      continue;
    }
    const stages = r.timings.stages;
    (out.cases as unknown[]).push({ ...c, wallMs: r.timings.wallMs, estimateMs, stages, fitEstimate: fit?.estimate.stages, plan: fit?.estimate.plan });
    for (const [name, s] of Object.entries(stages)) {
      rows.push(`| ${label} | ${name} | ${(s!.ms / 1000).toFixed(1)} s | ${gb(s!.peakRssBytes)} GB | ${gb(s!.readBytes)} GB | ${gb(s!.estimateBytes)} GB | ${s!.peakRssBytes && s!.estimateBytes ? `${(100 * (s!.estimateBytes / s!.peakRssBytes - 1)).toFixed(0)} %` : '—'} |`);
    }
    rows.push(`| ${label} | total | ${(r.timings.wallMs / 1000).toFixed(1)} s | | | estimate before start: ${estimateMs ? `${(estimateMs / 1000).toFixed(0)} s` : 'none (first run)'} | |`);
    log(`${label}: ${(r.timings.wallMs / 1000).toFixed(1)} s`);
  }
} finally {
  await pipeline.unload();
}
console.log('| case | stage | time | peak RSS | read from disk | estimate | estimate vs peak |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
fs.mkdirSync('.tmp', { recursive: true });
fs.writeFileSync('.tmp/bench-fullsize.json', JSON.stringify(out, null, 2));
log('wrote .tmp/bench-fullsize.json');
