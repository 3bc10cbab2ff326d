// Provider choice and fallback with providers that really fail here: a provider this platform's
// onnxruntime does not have (DirectML off Windows), and WebGPU, whose session creation throws
// where no adapter is found (no Vulkan driver: this machine and CI). The load continues on the
// CPU with one sentence, and a provider that failed is not tried again for the same model.
import { test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { writeDemoModel } from '../../../runtime/flux/demo/demo-model.js';
import { FluxPipeline } from '../../../runtime/flux/pipeline.js';
import { GraphBuilder } from '../../../runtime/onnx/graph.js';
import { createSession, forgetProviderFailures, listDevices, rememberedFailure } from '../../../runtime/onnx/session.js';

function addModel(): Uint8Array {
  const g = new GraphBuilder('add');
  const x = g.input('x', 'float32', [4]);
  g.output(g.op('Add', [x, x]), 'y', 'float32', [4]);
  return g.toBytes({ baseDir: os.tmpdir() });
}

async function doubled(provider: 'cpu' | 'webgpu' | 'dml', label: string) {
  const s = await createSession(addModel(), { baseDir: os.tmpdir(), provider, label });
  const out = await s.run({ x: { type: 'float32', dims: [4], data: Float32Array.of(1, 2, 3, 4) } });
  await s.release();
  return { session: s, y: [...(out.y!.data as Float32Array)] };
}

beforeEach(() => forgetProviderFailures());

test('a provider this onnxruntime does not offer here runs on the CPU with one sentence why', async () => {
  if (process.platform === 'win32') return assert.ok(listDevices().find((d) => d.provider === 'dml'));
  const { session, y } = await doubled('dml', 'test model');
  assert.deepEqual(y, [2, 4, 6, 8]);
  assert.equal(session.provider, 'cpu');
  assert.match(session.fallbackReason!, /^dml is not available here \(not offered on .+\); using the CPU$/);
  assert.equal(rememberedFailure('dml', 'test model'), undefined, 'unavailability is checked, not remembered');
});

test('a provider whose session creation throws falls back to the CPU once, and is not retried for that model', async () => {
  const first = await doubled('webgpu', 'test model');
  assert.deepEqual(first.y, [2, 4, 6, 8]);
  if (first.session.provider === 'webgpu') {
    // A machine with a working WebGPU adapter: nothing failed, so nothing is remembered.
    assert.equal(first.session.fallbackReason, undefined);
    assert.equal(rememberedFailure('webgpu', 'test model'), undefined);
    return;
  }
  assert.equal(first.session.provider, 'cpu');
  assert.match(first.session.fallbackReason!, /^webgpu failed to load the test model \(.+\); using the CPU$/);
  assert.doesNotMatch(first.session.fallbackReason!, /\n/, 'one sentence, not a stack');
  const why = rememberedFailure('webgpu', 'test model');
  assert.ok(why && first.session.fallbackReason!.includes(why));

  const second = await doubled('webgpu', 'test model');
  assert.deepEqual(second.y, [2, 4, 6, 8]);
  assert.equal(second.session.provider, 'cpu');
  assert.equal(second.session.fallbackReason, `webgpu failed to load the test model earlier in this process (${why}); using the CPU without trying it again`);

  // Another model is tried on its own (a transformer too large for a card must not send the encoders away).
  const other = await doubled('webgpu', 'other model');
  assert.match(other.session.fallbackReason!, /^webgpu failed to load the other model \(/);

  forgetProviderFailures();
  assert.equal(rememberedFailure('webgpu', 'test model'), undefined);
  const third = await doubled('webgpu', 'test model');
  assert.match(third.session.fallbackReason!, /^webgpu failed to load the test model \(/, 'tried again after forgetting');
});

test('the CPU itself never falls back and leaves no note', async () => {
  const { session, y } = await doubled('cpu', 'test model');
  assert.deepEqual(y, [2, 4, 6, 8]);
  assert.equal(session.provider, 'cpu');
  assert.equal(session.fallbackReason, undefined);
});

test('a whole pipeline asked for a failing provider loads on the CPU with one note, and the next load does not retry it', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-fallback-'));
  try {
    const set = openModelSet(writeDemoModel(path.join(tmp, 'demo')).dir);
    const opts = { provider: 'webgpu' as const, cacheDir: path.join(tmp, 'graphs') };
    const first = await FluxPipeline.load(set, opts);
    try {
      if (first.info.provider === 'webgpu') return assert.equal(first.info.fallbackReason, undefined);
      assert.equal(first.info.provider, 'cpu');
      assert.match(first.info.fallbackReason!, /^webgpu failed to load the .+; using the CPU$/);
      assert.deepEqual(first.info.policy, { fp8: 'cast', compute: 'float32' }, 'the rest load with the CPU\'s own policy');
      const image = await first.generate({ prompt: 'a lighthouse', width: 64, height: 64, steps: 1, seed: 1, samples: 1, sampler: 'K_EULER', cfgScale: 1, format: 'png' });
      assert.equal(image.images.length, 1);
      assert.ok(image.images[0]!.bytes.length > 0 && image.images[0]!.width === 64);
    } finally {
      await first.unload();
    }
    const second = await FluxPipeline.load(set, opts);
    await second.unload();
    assert.equal(second.info.provider, 'cpu');
    assert.match(second.info.fallbackReason!, /earlier in this process .*; using the CPU without trying it again$/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
