// The GPU recipes' graphs (float16 compute; FP8 widened by a 256-entry table for WebGPU/DirectML/
// CoreML, by DequantizeLinear for CUDA) built as those providers get them and run on the CPU
// provider, against the shared flux-tiny goldens. No GPU is needed: this is what can be checked
// before device time. The float16 tolerance is FLOAT16_RELATIVE_L2 (runtime/flux/conformance.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLOAT16_RELATIVE_L2, runConformance, type ConformanceReport } from '../../../runtime/flux/conformance.js';
import { openComponent } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { buildTransformer } from '../../../runtime/flux/graphs/transformer.js';
import { resolveModelConfig } from '../../../runtime/flux/model-config.js';
import { choosePolicy, componentParams, computeTypeOf } from '../../../runtime/flux/sessions.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY = path.join(process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures'), 'flux-tiny');
const spec = JSON.parse(fs.readFileSync(path.join(TINY, 'goldens.json'), 'utf8'));

let tmp: string;
let webgpuOnCpu: ConformanceReport;
let fp32OnCpu: ConformanceReport;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-f16-'));
  const cacheDir = path.join(tmp, 'graphs');
  webgpuOnCpu = await runConformance(TINY, { provider: 'cpu', recipe: 'webgpu', cacheDir });
  fp32OnCpu = await runConformance(TINY, { provider: 'cpu', cacheDir, only: ['fwd', 'fwd_fp8'] });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Op types of the transformer graph built under a provider's recipe. */
function transformerOps(provider: 'webgpu' | 'cuda', file: string): string[] {
  const w = openComponent('transformer', path.join(TINY, file));
  const g = buildTransformer(w, componentParams('transformer', w, resolveModelConfig({ axes_dim: spec.transformer.params.axes_dim, theta: spec.transformer.params.theta })), choosePolicy(provider, [w]));
  return (g as unknown as { nodes: { op_type: string }[] }).nodes.map((n) => n.op_type);
}

test('the WebGPU recipe computes in float16 with FP8 widened by the table, and the CUDA recipe by DequantizeLinear', () => {
  assert.deepEqual(choosePolicy('webgpu', []), { fp8: 'table', compute: 'float16' });
  assert.deepEqual(choosePolicy('cuda', []), { fp8: 'dequantize', compute: 'float16' });
  assert.equal(computeTypeOf({ provider: 'cpu', recipe: 'webgpu' }), 'float16');
  assert.equal(computeTypeOf({ provider: 'cpu' }), 'float32');
  const table = transformerOps('webgpu', spec.transformer.fp8);
  assert.ok(table.includes('Gather'), 'the table widening is a Gather from the 256-entry table');
  assert.ok(!table.includes('DequantizeLinear'));
  const cuda = transformerOps('cuda', spec.transformer.fp8);
  assert.ok(cuda.includes('DequantizeLinear'));
});

test('every flux-tiny case passes on the CPU with the WebGPU recipe, within the float16 tolerance', () => {
  assert.equal(webgpuOnCpu.compute, 'float16');
  assert.equal(webgpuOnCpu.provider, 'cpu');
  assert.equal(webgpuOnCpu.fallbackReason, undefined);
  for (const name of Object.keys(spec.cases)) {
    const c = webgpuOnCpu.cases[name];
    assert.ok(c, `case ${name} ran`);
    assert.equal(c.ok, true, `${name}: ${JSON.stringify(c)}`);
  }
  assert.equal(webgpuOnCpu.ok, true);
  for (const name of ['fwd', 'fwd_fp8', 't5', 'clip']) {
    const c = webgpuOnCpu.cases[name]!;
    assert.equal(c.tolerance, Math.max(FLOAT16_RELATIVE_L2, spec.tolerances.relative_l2[String(c.kind)]));
    assert.ok((c.relative_l2 as number) <= FLOAT16_RELATIVE_L2, `${name}: ${c.relative_l2}`);
  }
});

test('the float16 recipe really ran in float16: its error is float16-sized, far above the float32 run', () => {
  for (const name of ['fwd', 'fwd_fp8']) {
    const half = webgpuOnCpu.cases[name]!.relative_l2 as number;
    const full = fp32OnCpu.cases[name]!.relative_l2 as number;
    assert.equal(fp32OnCpu.cases[name]!.tolerance, spec.tolerances.relative_l2.transformer_forward, 'float32 keeps the golden tolerance');
    // float16's unit roundoff is 4.9e-4; float32 matches the goldens to ~1e-6.
    assert.ok(half > 1e-4, `${name}: float16 error ${half}`);
    assert.ok(half > 10 * full, `${name}: float16 ${half} vs float32 ${full}`);
  }
});
