// Child process for the session-memory tests: creates one component's session from a model set
// under a weight policy and prints what that cost in resident memory, as one JSON line. A child of
// its own, so the peak (VmHWM) belongs to this session creation alone.
// Usage: node --import tsx session-memory-child.ts MODEL_DIR transformer|t5|clip|decoder FP8:COMPUTE CACHE_DIR
import fs from 'node:fs';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { loadComponent, type ComponentName } from '../../../runtime/flux/sessions.js';
import type { WeightPolicy } from '../../../runtime/onnx/weights.js';
import { distinctTensors } from '../../../runtime/onnx/tensor-source.js';

const [dir, component, policyArg, cacheDir] = process.argv.slice(2) as [string, ComponentName, string, string];
const [fp8, compute] = policyArg.split(':') as [WeightPolicy['fp8'], WeightPolicy['compute']];

function status(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

const model = openModelSet(dir);
const weights = { transformer: model.transformer, t5: model.t5, clip: model.clip, decoder: model.autoencoder }[component];
const before = status('VmRSS');
const c = await loadComponent(component, weights, model.config, { policy: { fp8, compute }, cacheDir });
const out = {
  component, policy: policyArg, cached: c.cached,
  fileBytes: distinctTensors(weights).reduce((n, t) => n + t.length, 0),
  baselineBytes: before, peakBytes: status('VmHWM'), residentBytes: status('VmRSS'), loadMs: Math.round(c.loadMs),
};
if (process.env.SCHNELL_RUN_TOKENS && component === 't5') {
  const tokens = Number(process.env.SCHNELL_RUN_TOKENS);
  const ids = BigInt64Array.from({ length: tokens }, (_, i) => BigInt((i * 7) % 1000));
  for (let r = 0; r < 2; r++) {
    const t0 = performance.now();
    await c.session.run({ input_ids: { type: 'int64', dims: [1, tokens], data: ids } });
    Object.assign(out, { [`run${r}Ms`]: Math.round(performance.now() - t0), [`run${r}PeakBytes`]: status('VmHWM') });
  }
}
console.log(JSON.stringify(out));
await c.session.release();
