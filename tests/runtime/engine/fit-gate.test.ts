// The fit check runs before a model is loaded: a model that cannot fit the device's memory is
// refused with a sentence that offers the cloud, as an out-of-memory failure the router can fall
// back from — instead of failing halfway through loading.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createGenerationRequest } from '../../../runtime/api/index.js';
import { FluxBackend } from '../../../runtime/engine/flux-backend.js';
import { BackendError } from '../../../runtime/engine/types.js';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { writeDemoModel } from '../../../runtime/flux/demo/demo-model.js';
import { fitModelSet } from '../../../runtime/models/fit-model.js';

let dir: string;
before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-fit-'));
  await writeDemoModel(path.join(dir, 'demo'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 ** 2;
const cpu = (bytes: number) => ({ kind: 'cpu' as const, name: 'test CPU', totalBytes: bytes, freeBytes: bytes, source: 'reported' });

test('fitModelSet: a model set against a device too small, big enough, and one whose memory is unknown', async () => {
  const set = openModelSet(path.join(dir, 'demo'));
  const small = await fitModelSet(set, { provider: 'cpu', width: 1024, height: 1024, device: cpu(16 * MiB) });
  assert.equal(small?.fits, false);
  assert.equal(small?.suggestion, 'cloud');
  assert.match(small!.message, /cloud/);
  const big = await fitModelSet(set, { provider: 'cpu', width: 1024, height: 1024, device: cpu(64 * 1024 * MiB) });
  assert.equal(big?.fits, true);
  // Larger images need more memory: the estimate depends on the request's size.
  const at512 = await fitModelSet(set, { provider: 'cpu', width: 512, height: 512, device: cpu(64 * 1024 * MiB) });
  assert.ok(at512!.estimate.totalBytes < big!.estimate.totalBytes);
  assert.equal(await fitModelSet(set, { provider: 'webgpu', width: 64, height: 64 }), null);
});

test('the local backend refuses a model that does not fit before loading it, as out-of-memory', async () => {
  const request = createGenerationRequest({ prompt: 'a lighthouse', seed: 7 });
  const tooSmall = new FluxBackend({ modelPath: path.join(dir, 'demo'), device: 'cpu', memory: cpu(16 * MiB) });
  await assert.rejects(tooSmall.generate(request), (err: unknown) => {
    assert.ok(err instanceof BackendError);
    assert.equal(err.kind, 'out-of-memory');
    assert.match(err.message, /demo/);
    assert.match(err.message, /cloud/);
    return true;
  });
  const roomy = new FluxBackend({ modelPath: path.join(dir, 'demo'), device: 'cpu', memory: cpu(64 * 1024 * MiB) });
  try {
    const out = await roomy.generate(createGenerationRequest({ prompt: 'a lighthouse', seed: 7, width: 1024, height: 1024 }));
    assert.equal(out.images.length, 1);
  } finally {
    await roomy.unload();
  }
});
