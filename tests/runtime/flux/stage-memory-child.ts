// Child process for stage-memory.test.ts: loads a model set with a weight policy, generates
// twice (two prompts, so the text encoders run both times) and prints each request's per-stage
// statistics (time, peak resident memory, bytes read, the estimate) as one JSON line. A process of
// its own, so the peaks are this pipeline's alone.
// Usage: node --import tsx stage-memory-child.ts MODEL_DIR FP8_POLICY SIZE CACHE_DIR
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { FluxPipeline } from '../../../runtime/flux/pipeline.js';
import type { WeightPolicy } from '../../../runtime/onnx/weights.js';

const [dir, fp8, sizeArg, cacheDir] = process.argv.slice(2) as [string, WeightPolicy['fp8'], string, string];
const size = Number(sizeArg);
const p = await FluxPipeline.load(openModelSet(dir), { policy: { fp8, compute: 'float32' }, cacheDir });
const requests = [];
for (const prompt of ['a lighthouse at dusk', 'a harbour at dawn']) {
  const r = await p.generate({ prompt, width: size, height: size, steps: 1, seed: 3, samples: 1, sampler: 'K_EULER', cfgScale: 1, format: 'png' });
  requests.push(r.timings.stages);
}
await p.unload();
console.log(JSON.stringify({ plan: p.info.memory.plan, requests }));
