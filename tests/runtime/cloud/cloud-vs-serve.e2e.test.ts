// The cloud client and the router against a second `schnell serve` acting as the cloud: a real
// server speaking the same contract (api.md). Server B runs the demo model with --backend local and
// plays Fireworks; server A runs --backend auto on its own copy of the demo model with B as its
// cloud. Same model and seed on both sides, so a fallback must give the very same bytes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { createGenerationRequest } from '../../../runtime/api/index.js';
import { FireworksClient } from '../../../runtime/cloud/fireworks.js';
import { BackendError } from '../../../runtime/engine/types.js';
import { installSafetyClassifier } from '../engine/safety-model.js';
import { type ServeProcess, T2I, TOKEN, request, spawnServe, t2i, tempDir, writeTempDemoModel } from '../server/helpers.js';

const CLOUD_KEY = 'cloud-side-token-abcdef0123456789';
let cloudModel: Awaited<ReturnType<typeof writeTempDemoModel>>;
let localModel: Awaited<ReturnType<typeof writeTempDemoModel>>;
let home: ReturnType<typeof tempDir>;
let B: ServeProcess;
let A: ServeProcess;

before(async () => {
  [cloudModel, localModel] = await Promise.all([writeTempDemoModel(), writeTempDemoModel()]);
  home = tempDir('schnell-home-');
  installSafetyClassifier(cloudModel.dir, 'flag-all');
  B = await spawnServe(['--model', cloudModel.dir, '--token', CLOUD_KEY, '--backend', 'local'], { SCHNELL_HOME: path.join(home.dir, 'b') });
  A = await spawnServe(['--model', localModel.dir, '--token', TOKEN, '--backend', 'auto'], {
    SCHNELL_HOME: path.join(home.dir, 'a'),
    FIREWORKS_API_KEY: CLOUD_KEY,
    FIREWORKS_BASE_URL: B.url,
  });
});

after(async () => {
  await Promise.all([A?.stop(), B?.stop()]);
  cloudModel?.cleanup();
  localModel?.cleanup();
  home?.cleanup();
});

test('the client gets the same images from the real server as a direct request does', async () => {
  const client = new FireworksClient({ apiKey: CLOUD_KEY, baseUrl: B.url });
  const one = await client.generate(createGenerationRequest({ prompt: 'a harbour', seed: 21, width: 1216, height: 832 }));
  const direct = await t2i(B.url, { prompt: 'a harbour', seed: 21, width: 1216, height: 832 }, { Accept: 'image/png' }, { auth: CLOUD_KEY });
  assert.equal(direct.status, 200);
  assert.deepEqual(Buffer.from(one.images[0]!.bytes), direct.body);
  assert.equal(one.images[0]!.seed, 21);

  const two = await client.generate(createGenerationRequest({ prompt: 'a harbour', seed: 21, width: 1216, height: 832, samples: 2, outputFormat: 'jpeg' }));
  assert.deepEqual(two.images.map((i) => i.seed), [21, 22]);
  for (const img of two.images) {
    const m = await sharp(img.bytes).metadata();
    assert.deepEqual([m.format, m.width, m.height], ['jpeg', 1216, 832]);
  }
});

test('a wrong key is "your Fireworks API key was rejected"', async () => {
  const client = new FireworksClient({ apiKey: 'not-the-key-0123456789', baseUrl: B.url });
  await assert.rejects(client.generate(createGenerationRequest({ prompt: 'x' })), (e: unknown) => e instanceof BackendError && /^your Fireworks API key was rejected \(HTTP 401\)/.test(e.message));
});

test('the local runtime killed mid-request: A answers from the cloud, records why, and the bytes match', async () => {
  const body = { prompt: 'a windmill', seed: 31, width: 1536, height: 640 };
  const local = await t2i(A.url, body);
  assert.equal(local.headers['x-schnell-backend'], 'local');
  const models = (await request(A.url, { method: 'GET', path: '/v1/models' })).json();
  const pid = models.data[0].local.process_id;
  assert.ok(Number.isInteger(pid));
  const pending = t2i(A.url, body);
  for (let i = 0; i < 500; i++) {
    const h = (await request(A.url, { method: 'GET', path: '/healthz' })).json(); // counters need the token
    if (h.jobs.local.running === 1) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(pid, 'SIGKILL');
  const r = await pending;
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  assert.equal(r.headers['x-schnell-backend'], 'cloud');
  assert.match(String(r.headers['x-schnell-fallback']), /^crashed: the local runtime (stopped unexpectedly|was stopped by the system)/);
  assert.deepEqual(r.body, local.body, 'same model, same seed: the cloud answer is the local one, byte for byte');
});

test('the model removed: A serves from the cloud and says the model is missing', async () => {
  const away = `${localModel.dir}.away`;
  fs.renameSync(localModel.dir, away);
  try {
    const r = await t2i(A.url, { prompt: 'a bridge', seed: 41 }, { Accept: 'image/jpeg' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-schnell-backend'], 'cloud');
    assert.match(String(r.headers['x-schnell-fallback']), /^model-missing: .*does not exist/);
  } finally {
    fs.renameSync(away, localModel.dir);
  }
  // (That local serves again once the model is back is checked in tests/runtime/engine/router.test.ts.)
  const models = (await request(A.url, { method: 'GET', path: '/v1/models' })).json();
  assert.equal(models.data[0].local.available, true);
});

test('safety_check without a local safety model goes to the cloud, whose classifier filters the image', async () => {
  const r = await t2i(A.url, { prompt: 'a garden', seed: 51, safety_check: true }, { Accept: 'application/json' });
  assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  assert.equal(r.headers['x-schnell-backend'], 'cloud');
  assert.match(String(r.headers['x-schnell-fallback']), /^safety-missing: safety model not installed/);
  const j = r.json();
  assert.equal(j.finishReason, 'CONTENT_FILTERED');
  const img = Buffer.from(j.base64[0], 'base64');
  const meta = await sharp(img).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 1024, 1024]);
  assert.ok((await sharp(img).stats()).channels.every((c) => c.max === 0), 'an all-black image');
});

test('with --backend local, A would have answered 503 instead (local never falls back)', async () => {
  const C = await spawnServe(['--model', path.join(home.dir, 'no-such-model'), '--token', TOKEN, '--backend', 'auto'], { SCHNELL_HOME: path.join(home.dir, 'c') }).catch((e) => e as Error);
  assert.ok(!(C instanceof Error), String(C));
  try {
    const r = await t2i(C.url, { prompt: 'x' });
    assert.equal(r.status, 503);
    assert.match(r.json().error.message, /does not exist.*and no cloud key set/);
  } finally {
    await C.stop();
  }
  await assert.rejects(spawnServe(['--model', path.join(home.dir, 'no-such-model'), '--token', TOKEN, '--backend', 'local'], { SCHNELL_HOME: path.join(home.dir, 'd') }), /does not exist/);
});
