// The pipeline's stages as a user sees them (real demo model files, real sessions): stage events
// from the first load on, components loaded and released as the memory plan says, the last
// prompt's encoding reused, per-stage statistics beside the estimate, and a model that produces
// NaN failing the image with a sentence naming the stage instead of a black SUCCESS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { DEMO_FILES, writeDemoModel } from '../../../runtime/flux/demo/demo-model.js';
import { FluxPipeline, type GenerateParams, type StageEvent } from '../../../runtime/flux/pipeline.js';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors } from '../../../runtime/flux/checkpoints/safetensors.js';

let tmp: string;
let modelDir: string;

const base: GenerateParams = {
  prompt: 'a lighthouse on a cliff', width: 64, height: 48, steps: 2, seed: 7, samples: 1,
  sampler: 'K_EULER', cfgScale: 1, format: 'png',
};

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-stages-'));
  modelDir = writeDemoModel(path.join(tmp, 'demo')).dir;
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('stage events name each component with its size, then encoding, each step and decoding; stats carry the estimate', async () => {
  const events: StageEvent[] = [];
  const p = await FluxPipeline.load(openModelSet(modelDir), { cacheDir: path.join(tmp, 'g1'), onStage: (e) => events.push(e) });
  try {
    const loads = events.filter((e) => e.stage === 'load' && !e.done).map((e) => e.component);
    assert.deepEqual(loads, ['t5', 'clip', 'transformer', 'decoder'], 'loaded in the order they run (everything fits)');
    assert.match(events[0]!.message, /^loading T5 \(\d+ (MB|GB)\)$/);
    assert.ok(events.every((e) => e.stage !== 'load' || (e.bytes ?? 0) > 0));
    const run: StageEvent[] = [];
    const r = await p.generate({ ...base, steps: 3 }, { onStage: (e) => run.push(e) });
    const kinds = run.map((e) => `${e.stage}${e.done ? ':done' : ''}`);
    assert.ok(kinds.indexOf('encode') < kinds.indexOf('denoise') && kinds.lastIndexOf('denoise') < kinds.indexOf('decode'), kinds.join(' '));
    const steps = run.filter((e) => e.stage === 'denoise').map((e) => e.step);
    assert.deepEqual([...new Set(steps)], [1, 2, 3]);
    assert.ok(run.some((e) => e.stage === 'denoise' && /image 1 of 1, step 3 of 3/.test(e.message)));
    for (const s of ['encode', 'denoise', 'decode'] as const) {
      const st = r.timings.stages[s]!;
      assert.ok(st.ms > 0 && (st.estimateBytes ?? 0) > 0, s);
      if (process.platform === 'linux') assert.ok((st.peakRssBytes ?? 0) > 0 && st.readBytes !== undefined, s);
    }
    // The second request has this machine's speed: it says how long it will take before it starts.
    const again: StageEvent[] = [];
    await p.generate({ ...base, seed: 8 }, { onStage: (e) => again.push(e) });
    assert.equal(again[0]!.stage, 'estimate');
    assert.match(again[0]!.message, /^about \d+ s on this machine \(measured speed\)$/);
    assert.ok(!again.some((e) => e.stage === 'encode' && e.done === undefined && /loading/.test(e.message)));
  } finally {
    await p.unload();
  }
});

test('a plan that cannot keep everything releases the text encoders after encoding and the transformer and decoder after the request', async () => {
  const events: StageEvent[] = [];
  const p = await FluxPipeline.load(openModelSet(modelDir), {
    cacheDir: path.join(tmp, 'g2'), plan: { keepTextEncoders: false, keepTransformer: false }, onStage: (e) => events.push(e),
  });
  try {
    assert.deepEqual(events.filter((e) => e.stage === 'load' && !e.done).map((e) => e.component), ['t5', 'clip'], 'the rest loads when its stage comes');
    const run: StageEvent[] = [];
    const first = await p.generate(base, { onStage: (e) => run.push(e) });
    const order = run.filter((e) => (e.stage === 'load' && !e.done) || e.stage === 'release').map((e) => `${e.stage}:${e.component}`);
    assert.deepEqual(order, ['release:t5', 'release:clip', 'load:transformer', 'release:transformer', 'load:decoder', 'release:decoder']);
    const second = await p.generate({ ...base, prompt: 'another prompt' }, { onStage: (e) => run.push(e) });
    assert.equal(first.images.length, 1);
    assert.equal(second.images.length, 1);
    // Same prompt again: its encoding is reused, the text encoders are not loaded again.
    const third: StageEvent[] = [];
    await p.generate({ ...base, prompt: 'another prompt', seed: 99 }, { onStage: (e) => third.push(e) });
    assert.ok(!third.some((e) => e.stage === 'load' && (e.component === 't5' || e.component === 'clip')));
  } finally {
    await p.unload();
  }
});

test('a transformer that produces NaN fails the image with a sentence naming the stage, never a black SUCCESS', async () => {
  const dir = path.join(tmp, 'nan');
  fs.cpSync(modelDir, dir, { recursive: true });
  const file = path.join(dir, DEMO_FILES.transformer);
  const h = readSafetensorsHeader(file);
  const tensors = h.tensors.map((t) => {
    const bytes = Uint8Array.from(readTensorBytes(t));
    if (t.name === 'final_layer.linear.bias') new Float32Array(bytes.buffer).fill(NaN);
    return { name: t.name, dtype: t.dtype, shape: t.shape, data: bytes };
  });
  assert.ok(tensors.some((t) => t.name === 'final_layer.linear.bias'));
  writeSafetensors(file, tensors, h.metadata);
  const p = await FluxPipeline.load(openModelSet(dir), { cacheDir: path.join(tmp, 'g3') });
  try {
    await assert.rejects(p.generate(base), (err: Error) => {
      assert.equal(err.name, 'NonFiniteError');
      assert.match(err.message, /^image 1 \(seed 7\) failed: the transformer produced NaN values, so the image would be blank/);
      return true;
    });
  } finally {
    await p.unload();
  }
});
