// Creating a session costs about the memory its weight policy keeps, on every graph recipe: at full
// width (T5-XXL 4096 wide with 2 layers, the transformer 3072 wide with 1 double + 1 single block,
// the real autoencoder), each component's session is created in a child process of its own under
// each CPU weight policy, and its peak resident memory (VmHWM) above the child's baseline must stay
// within 1.2× the resident bytes runtime/flux/memory.ts (the fit check's estimate) says the policy
// keeps. The FP8 policies act only on FP8 tensors (runtime/onnx/weights.ts weightAsFloat), so CLIP
// (fp16) and the autoencoder (fp32) get the same graph under every policy and are measured once.
// T5 also runs 256 tokens twice under the CPU's FP8-keeping policy, in the child that measured its
// creation: its peak then stays within 1.2× the estimate of its text stage (weights + the widening
// workspace + activations). Linux only (/proc). The model set is shared with stage-memory.test.ts
// (fullwidth-set.ts). About 55 s of CPU once the set is written, over half of it the 'cast'
// policy's load-time widening (onnxruntime folds the FP8 Casts one value at a time).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { fullWidthSet } from './fullwidth-set.js';
import { componentMemory, stageActivations, shapeOf, WIDEN_WORKSPACE, type ComponentKind } from '../../../runtime/flux/memory.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-sessmem-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 ** 2;
const SLACK = 96 * MiB; // onnxruntime's own allocations, graph protos, thread stacks

const dir = fullWidthSet();
const set = openModelSet(dir);
const WEIGHTS = { transformer: set.transformer, t5: set.t5, clip: set.clip, decoder: set.autoencoder };
const KIND: Record<keyof typeof WEIGHTS, ComponentKind> = { transformer: 'transformer', t5: 't5', clip: 'clip', decoder: 'autoencoder' };
const tensors = (c: keyof typeof WEIGHTS) => WEIGHTS[c].keys().map((k) => ({ ...WEIGHTS[c].get(k)!, name: k }));

interface ChildResult { baselineBytes: number; peakBytes: number; run1PeakBytes?: number; fileBytes: number }

function measure(component: string, policy: string, runTokens?: number): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'session-memory-child.ts'), dir, component, policy, path.join(tmp, 'graphs')], {
    encoding: 'utf8', env: { ...process.env, ...(runTokens ? { SCHNELL_RUN_TOKENS: String(runTokens) } : {}) }, timeout: 600_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

// T5's creation under 'widen' and its two runs are one child: the runs follow the creation's peak.
let t5Widen: ChildResult | undefined;
const measureT5Widen = () => (t5Widen ??= measure('t5', 'widen:float32', 256));

for (const policy of ['widen:float32', 'dequantize:float32', 'table:float32', 'cast:float32']) {
  test(`T5 and the transformer load within 1.2× what the '${policy.split(':')[0]}' policy keeps resident`, { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
    const fp8 = policy.startsWith('cast') ? 'widened' : 'stored';
    for (const c of ['t5', 'transformer'] as const) {
      const kept = componentMemory(KIND[c], tensors(c), 'cpu', fp8);
      const m = c === 't5' && policy === 'widen:float32' ? measureT5Widen() : measure(c, policy);
      const grew = m.peakBytes - m.baselineBytes;
      assert.ok(grew <= 1.2 * kept.resident + SLACK, `${c} under ${policy}: creating the session peaked ${(grew / MiB).toFixed(0)} MiB above baseline; the policy keeps ${(kept.resident / MiB).toFixed(0)} MiB`);
    }
  });
}

test('CLIP and the decoder, with no FP8 weights, load within 1.2× what they keep under any policy', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  for (const c of ['clip', 'decoder'] as const) {
    const fp8 = tensors(c).filter((t) => /^F8_/.test(t.dtype)).map((t) => t.name);
    assert.deepEqual(fp8, [], `${c} has FP8 tensors: the FP8 policies would change its graph, measure it under each`);
    const kept = componentMemory(KIND[c], tensors(c), 'cpu', 'stored');
    assert.deepEqual(componentMemory(KIND[c], tensors(c), 'cpu', 'widened'), kept, `${c}: the estimate depends on the FP8 policy`);
    const m = measure(c, 'widen:float32');
    const grew = m.peakBytes - m.baselineBytes;
    assert.ok(grew <= 1.2 * kept.resident + SLACK, `${c}: creating the session peaked ${(grew / MiB).toFixed(0)} MiB above baseline; it keeps ${(kept.resident / MiB).toFixed(0)} MiB`);
  }
});

test('T5 at 256 tokens keeps FP8 stored: one widened block at a time, within 1.2× the text-stage estimate', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  const kept = componentMemory('t5', tensors('t5'), 'cpu', 'stored');
  const act = stageActivations(shapeOf({ t5: tensors('t5') }), 'cpu', 256, 256).text;
  // 'widen' is the CPU's FP8-keeping policy, the one the estimate describes: block by block, two
  // float32 sets of a block's weights (runtime/flux/text/t5-streamed.ts).
  const m = measureT5Widen();
  assert.ok(m.run1PeakBytes !== undefined, 'the T5 child did not run');
  const grew = m.run1PeakBytes - m.baselineBytes;
  const estimate = kept.resident + WIDEN_WORKSPACE * kept.perRun + act;
  assert.ok(grew <= 1.2 * estimate + SLACK, `T5 under widen: two runs peaked ${(grew / MiB).toFixed(0)} MiB above baseline; estimate ${(estimate / MiB).toFixed(0)} MiB (file ${(m.fileBytes / MiB).toFixed(0)} MiB)`);
});
