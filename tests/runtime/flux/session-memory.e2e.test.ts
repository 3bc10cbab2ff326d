// Creating a session costs about the memory its weight policy keeps, on every graph recipe: at full
// width (T5-XXL 4096 wide with 2 layers, the transformer 3072 wide with 1 double + 1 single block,
// the real autoencoder), each component's session is created in a child process of its own under
// each CPU weight policy, and its peak resident memory (VmHWM) above the child's baseline must stay
// within 1.2× the resident bytes runtime/flux/memory.ts (the fit check's estimate) says the policy
// keeps. T5 also runs 256 tokens once under the FP8-keeping policies: its peak then stays within
// 1.2× the estimate of its text stage (weights + the arena's workspace for widened layers + activations). Linux only
// (/proc); slow (writes a 1.4 GB model set), hence e2e. SCHNELL_FULLWIDTH_DIR reuses a set made by
// `schnell demo-model --size full --double-blocks 1 --single-blocks 1 --t5-layers 2`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { writeFullSizeModel } from '../../../runtime/flux/demo/fullsize-model.js';
import { componentMemory, stageActivations, shapeOf, WIDEN_WORKSPACE, type ComponentKind } from '../../../runtime/flux/memory.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-sessmem-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const MiB = 1024 ** 2;
const SLACK = 96 * MiB; // onnxruntime's own allocations, graph protos, thread stacks

const dir = process.env.SCHNELL_FULLWIDTH_DIR ?? writeFullSizeModel(path.join(tmp, 'model'), { doubleBlocks: 1, singleBlocks: 1, t5Layers: 2 }).dir;
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

for (const policy of ['widen:float32', 'dequantize:float32', 'table:float32', 'cast:float32']) {
  test(`sessions load within 1.2× what the '${policy.split(':')[0]}' policy keeps resident`, { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
    const fp8 = policy.startsWith('cast') ? 'widened' : 'stored';
    for (const c of ['t5', 'transformer', 'clip', 'decoder'] as const) {
      const kept = componentMemory(KIND[c], tensors(c), 'cpu', fp8);
      const m = measure(c, policy);
      const grew = m.peakBytes - m.baselineBytes;
      assert.ok(grew <= 1.2 * kept.resident + SLACK, `${c} under ${policy}: creating the session peaked ${(grew / MiB).toFixed(0)} MiB above baseline; the policy keeps ${(kept.resident / MiB).toFixed(0)} MiB`);
    }
  });
}

test('T5 at 256 tokens keeps FP8 stored: one widened layer at a time, within 1.2× the text-stage estimate', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  const kept = componentMemory('t5', tensors('t5'), 'cpu', 'stored');
  const act = stageActivations(shapeOf({ t5: tensors('t5') }), 'cpu', 256, 256).text;
  // 'widen' is the CPU's FP8-keeping policy, the one the estimate describes: block by block, two
  // float32 sets of a block's weights (runtime/flux/text/t5-streamed.ts).
  for (const policy of ['widen:float32']) {
    const m = measure('t5', policy, 256);
    const grew = m.run1PeakBytes! - m.baselineBytes;
    const estimate = kept.resident + WIDEN_WORKSPACE * kept.perRun + act;
    assert.ok(grew <= 1.2 * estimate + SLACK, `T5 under ${policy}: a run peaked ${(grew / MiB).toFixed(0)} MiB above baseline; estimate ${(estimate / MiB).toFixed(0)} MiB (file ${(m.fileBytes / MiB).toFixed(0)} MiB)`);
  }
});
