// generateWithRouter / createRouter: what `schnell generate --backend local|cloud|auto` calls, on the
// real pipeline (demo model) and a fault-injecting cloud, with settings from $SCHNELL_HOME.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { ApiError, createGenerationRequest } from '../../../runtime/api/index.js';
import { createRouter, generateWithRouter } from '../../../runtime/engine/local.js';
import { listDevices } from '../../../runtime/onnx/session.js';
import { type FaultServer, startFaultServer } from '../cloud/fault-server.js';
import { tempDir, writeTempDemoModel } from '../server/helpers.js';

let demo: Awaited<ReturnType<typeof writeTempDemoModel>>;
let home: ReturnType<typeof tempDir>;
let cloud: FaultServer;

before(async () => {
  demo = await writeTempDemoModel();
  home = tempDir('schnell-home-');
  cloud = await startFaultServer();
});
after(async () => {
  await cloud.close();
  demo.cleanup();
  home.cleanup();
});

const req = createGenerationRequest({ prompt: 'a kite', seed: 8, width: 1344, height: 768, outputFormat: 'jpeg', steps: 2 });

test('local: the demo model through the real pipeline, in this process', async () => {
  const r = await generateWithRouter(req, { backend: 'local', modelPath: demo.dir, home: home.dir, env: {} });
  assert.equal(r.backend, 'local');
  const meta = await sharp(r.images[0]!.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 1344, 768]);
  assert.equal(r.seed, 8);
});

test('cloud and auto read the key and base URL from the environment / config; auto falls back when the model is missing', async () => {
  const env = { FIREWORKS_API_KEY: 'k-abc', FIREWORKS_BASE_URL: cloud.url };
  const viaCloud = await generateWithRouter(req, { backend: 'cloud', home: home.dir, env });
  assert.equal(viaCloud.backend, 'cloud');
  const missing = path.join(home.dir, 'gone');
  const auto = await generateWithRouter(req, { backend: 'auto', modelPath: missing, home: home.dir, env });
  assert.equal(auto.backend, 'cloud');
  assert.equal(auto.fallback?.kind, 'model-missing');
  await assert.rejects(generateWithRouter(req, { backend: 'local', modelPath: missing, home: home.dir, env }), (e: unknown) => e instanceof ApiError && e.status === 503 && /does not exist/.test(e.message));
});

test('config.json supplies the model and the policy when the caller does not', async () => {
  fs.writeFileSync(path.join(home.dir, 'config.json'), JSON.stringify({ model: demo.dir, backend: 'local' }));
  try {
    const router = await createRouter({ home: home.dir, env: {} });
    assert.equal(router.policy, 'local');
    assert.equal((await router.local!.describe()).path, demo.dir);
    await router.local!.unload();
  } finally {
    fs.rmSync(path.join(home.dir, 'config.json'));
  }
});

test('a device this machine lacks: auto goes to the cloud and names it; local refuses; nothing moves to the CPU quietly', async () => {
  const env = { FIREWORKS_API_KEY: 'k-abc', FIREWORKS_BASE_URL: cloud.url };
  const missing = listDevices().find((d) => !d.available)!;
  const auto = await generateWithRouter(req, { backend: 'auto', modelPath: demo.dir, device: missing.provider, home: home.dir, env });
  assert.equal(auto.backend, 'cloud');
  assert.equal(auto.fallback?.kind, 'provider-failed');
  assert.ok(auto.fallback!.reason.includes(missing.provider));
  await assert.rejects(generateWithRouter(req, { backend: 'local', modelPath: demo.dir, device: missing.provider, home: home.dir, env }), (e: unknown) => e instanceof ApiError && e.status === 503 && e.message.includes(missing.provider));
});

test('a device that is listed but fails to load the model (WebGPU without an adapter) falls back under auto', async () => {
  const env = { FIREWORKS_API_KEY: 'k-abc', FIREWORKS_BASE_URL: cloud.url };
  const webgpu = listDevices().find((d) => d.provider === 'webgpu');
  const r = await generateWithRouter(req, { backend: 'auto', modelPath: demo.dir, device: 'webgpu', home: home.dir, env });
  if (r.backend === 'local') {
    // A machine with a working WebGPU adapter serves locally, and says nothing about falling back.
    assert.equal(r.fallback, undefined);
  } else {
    assert.equal(r.fallback?.kind, 'provider-failed');
    assert.match(r.fallback!.reason, webgpu?.available ? /webgpu failed to load/ : /webgpu/);
  }
});
