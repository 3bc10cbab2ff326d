// The Fireworks client against a fault-injecting server on 127.0.0.1: every failure mode in
// api.md ("What the cloud client must handle") ends as one sentence, retried only when a retry helps.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import sharp from 'sharp';
import { createGenerationRequest } from '../../../runtime/api/index.js';
import { FireworksClient, parseRetryAfter } from '../../../runtime/cloud/fireworks.js';
import { createFireworksClient, FIREWORKS_KEY_SECRET } from '../../../runtime/cloud/config.js';
import { BackendError } from '../../../runtime/engine/types.js';
import { type FaultServer, startFaultServer } from './fault-server.js';
import { tempDir } from '../server/helpers.js';

const KEY = 'fw_SECRET_key_abcdef123456';
let fs_: FaultServer;

before(async () => {
  fs_ = await startFaultServer({ retryAfter: '1', slowMs: 600 });
});
after(async () => {
  await fs_.close();
});

const client = (o: Partial<ConstructorParameters<typeof FireworksClient>[0]> = {}) =>
  new FireworksClient({ apiKey: KEY, baseUrl: fs_.url, backoffMs: 20, timeoutMs: 5000, ...o });
const req = (o: Parameters<typeof createGenerationRequest>[0] extends infer T ? Partial<T> : never = {}) =>
  createGenerationRequest({ prompt: 'a fox', width: 832, height: 1216, seed: 42, ...o });

async function fails(p: Promise<unknown>, pattern: RegExp, status?: number): Promise<BackendError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BackendError, `expected BackendError, got ${err}`);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes(KEY), 'the key must never appear in a message');
    assert.ok(!err.message.includes('\n'), 'one sentence');
    if (status !== undefined) assert.equal(err.status, status);
    return err;
  }
  assert.fail('expected a failure');
}

test('one image: POST to the contract path with the key, snake_case body, binary PNG back with its Seed', async () => {
  fs_.script(['ok']);
  fs_.requests.length = 0;
  const out = await client().generate(req());
  const r = fs_.requests[0]!;
  assert.equal(r.path, '/inference/v1/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image');
  assert.equal(r.headers.authorization, `Bearer ${KEY}`);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.headers.accept, 'image/png');
  assert.deepEqual(JSON.parse(r.body), { prompt: 'a fox', width: 832, height: 1216, cfg_scale: 1, sampler: 'K_EULER', samples: 1, seed: 42, steps: 4, safety_check: false });
  assert.equal(out.images.length, 1);
  const meta = await sharp(out.images[0]!.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 832, 1216]);
  assert.equal(out.images[0]!.seed, 42);
});

test('JPEG with a quality sends Accept: image/jpeg and Jpeg-Quality', async () => {
  fs_.script(['ok']);
  fs_.requests.length = 0;
  const out = await client().generate(req({ outputFormat: 'jpeg', jpegQuality: 33 }));
  assert.equal(fs_.requests[0]!.headers.accept, 'image/jpeg');
  assert.equal(fs_.requests[0]!.headers['jpeg-quality'], '33');
  assert.equal((await sharp(out.images[0]!.bytes).metadata()).format, 'jpeg');
});

test('several images come as JSON; data: prefixes are accepted; seeds are s, s+1', async () => {
  fs_.script(['ok-data-prefix']);
  fs_.requests.length = 0;
  const out = await client().generate(req({ samples: 3, outputFormat: 'jpeg' }));
  assert.equal(fs_.requests[0]!.headers.accept, 'application/json');
  assert.equal(fs_.requests[0]!.headers['json-return-image-accept'], 'image/jpeg');
  assert.equal(out.images.length, 3);
  assert.deepEqual(out.images.map((i) => i.seed), [42, 43, 44]);
  for (const img of out.images) assert.equal((await sharp(img.bytes).metadata()).format, 'jpeg');
});

test('429 with Retry-After is waited for and retried', async () => {
  fs_.script(['429', 'ok']);
  fs_.requests.length = 0;
  const out = await client().generate(req());
  assert.equal(out.images.length, 1);
  assert.equal(fs_.requests.length, 2);
  assert.ok(fs_.requests[1]!.at - fs_.requests[0]!.at >= 900, 'Retry-After: 1 is honoured');
});

test('a Retry-After longer than we wait for fails at once with 429 and the delay', async () => {
  const slow = await startFaultServer({ retryAfter: '3600' });
  try {
    slow.script(['429']);
    const e = await fails(new FireworksClient({ apiKey: KEY, baseUrl: slow.url }).generate(req()), /rate limiting.*3600 s/, 429);
    assert.equal(e.retryAfter, 3600);
    assert.equal(slow.requests.length, 1);
  } finally {
    await slow.close();
  }
});

test('5xx is retried with backoff, a bounded number of times', async () => {
  fs_.script(['500', '502', 'ok']);
  fs_.requests.length = 0;
  await client().generate(req());
  assert.equal(fs_.requests.length, 3);

  fs_.script([], '500');
  fs_.requests.length = 0;
  await fails(client({ maxRetries: 2 }).generate(req()), /server error \(HTTP 500\).*gave up after 3 attempts/, 503);
  assert.equal(fs_.requests.length, 3);
});

test('a dropped connection and a body cut off mid-stream are retried', async () => {
  fs_.script(['drop', 'truncate', 'ok']);
  fs_.requests.length = 0;
  const out = await client().generate(req());
  assert.equal(fs_.requests.length, 3);
  assert.equal((await sharp(out.images[0]!.bytes).metadata()).format, 'png');

  fs_.script([], 'truncate');
  await fails(client({ maxRetries: 1 }).generate(req()), /dropped/, 503);
});

test('a slow body within the timeout is fine; past it, or no answer at all, is a timeout sentence', async () => {
  fs_.script(['slow']);
  const out = await client().generate(req());
  assert.equal(out.images.length, 1);
  fs_.script(['slow']);
  await fails(client({ timeoutMs: 200, maxRetries: 0 }).generate(req()), /did not answer within/);
  fs_.script(['hang']);
  await fails(client({ timeoutMs: 300, maxRetries: 3 }).generate(req()), /did not answer within/);
});

test('bodies that are not images are rejected (magic bytes), not retried', async () => {
  for (const b of ['html', 'json-not-image'] as const) {
    fs_.script([b]);
    fs_.requests.length = 0;
    await fails(client().generate(req()), /not an image/);
    assert.equal(fs_.requests.length, 1);
  }
  fs_.script(['not-base64']);
  await fails(client().generate(req({ samples: 2 })), /not base64/);
  fs_.script(['json-not-image']);
  await fails(client().generate(req({ samples: 2 })), /not an image/);
  fs_.script(['wrong-count']);
  await fails(client().generate(req({ samples: 2 })), /returned 1 images for a request of 2/);
});

test('a filtered answer without image bytes becomes an all-black image of the requested size', async () => {
  fs_.script(['filtered-empty']);
  const out = await client().generate(req());
  assert.equal(out.images[0]!.finishReason, 'CONTENT_FILTERED');
  const stats = await sharp(out.images[0]!.bytes).stats();
  assert.ok(stats.channels.every((c) => c.max === 0));
  const meta = await sharp(out.images[0]!.bytes).metadata();
  assert.deepEqual([meta.width, meta.height], [832, 1216]);
});

test('401/403: "your Fireworks API key was rejected", not retried, key never shown', async () => {
  for (const b of ['401', '403'] as const) {
    fs_.script([b]);
    fs_.requests.length = 0;
    await fails(client().generate(req()), /^your Fireworks API key was rejected/, 503);
    assert.equal(fs_.requests.length, 1);
  }
  fs_.script(['400']);
  await fails(client().generate(req()), /rejected the request \(HTTP 400\): steps out of range/, 400);
});

test('no key: a clear error without touching the network; unreachable host: fails fast, no hang', async () => {
  fs_.requests.length = 0;
  await fails(new FireworksClient({ baseUrl: fs_.url }).generate(req()), /no Fireworks API key/, 503);
  assert.equal(fs_.requests.length, 0);
  const closed = await startFaultServer();
  const url = closed.url;
  await closed.close();
  await fails(new FireworksClient({ apiKey: KEY, baseUrl: url, backoffMs: 10 }).generate(req()), /could not reach Fireworks.*connection refused/, 503);
});

test('cancelling aborts a request, also while waiting to retry', async () => {
  fs_.script([], '429');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 150);
  await assert.rejects(client().generate(req(), { signal: controller.signal }), (e: Error) => e.name === 'AbortError');
  fs_.script(['hang']);
  const c2 = new AbortController();
  setTimeout(() => c2.abort(), 150);
  await assert.rejects(client().generate(req(), { signal: c2.signal }), (e: Error) => e.name === 'AbortError');
  fs_.script([]);
});

test('the key never shows in inspect or JSON', () => {
  const c = client();
  assert.ok(!util.inspect(c, { showHidden: true, depth: 5 }).includes(KEY));
  assert.ok(!JSON.stringify(c).includes(KEY));
  assert.equal(c.describe().hasKey, true);
});

test('Retry-After: seconds or an HTTP date', () => {
  assert.equal(parseRetryAfter('7'), 7);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
  const s = parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())!;
  assert.ok(s >= 8 && s <= 11);
});

test('settings: FIREWORKS_API_KEY first, then secrets.json; base URL, account and model from config.json', async () => {
  const home = tempDir();
  try {
    fs.writeFileSync(path.join(home.dir, 'config.json'), JSON.stringify({ cloud: { baseUrl: 'http://127.0.0.1:9', account: 'acme', model: 'flux-x' } }));
    let c = await createFireworksClient({ home: home.dir, env: {} });
    assert.deepEqual(c.describe(), { baseUrl: 'http://127.0.0.1:9', account: 'acme', model: 'flux-x', hasKey: false });
    assert.equal(c.endpoint, 'http://127.0.0.1:9/inference/v1/workflows/accounts/acme/models/flux-x/text_to_image');
    fs.writeFileSync(path.join(home.dir, 'secrets.json'), JSON.stringify({ [FIREWORKS_KEY_SECRET]: 'from-file-key' }), { mode: 0o600 });
    c = await createFireworksClient({ home: home.dir, env: {} });
    assert.equal(c.describe().hasKey, true);
    fs_.script(['ok']);
    fs_.requests.length = 0;
    c = await createFireworksClient({ home: home.dir, env: { FIREWORKS_API_KEY: 'from-env-key', FIREWORKS_BASE_URL: fs_.url } });
    await c.generate(req());
    assert.equal(fs_.requests[0]!.headers.authorization, 'Bearer from-env-key');
    assert.match(fs_.requests[0]!.path, /accounts\/acme\/models\/flux-x\//);
    fs.writeFileSync(path.join(home.dir, 'config.json'), '{ broken');
    await assert.rejects(createFireworksClient({ home: home.dir, env: {} }), /config.json is not valid JSON/);
  } finally {
    home.cleanup();
  }
});
