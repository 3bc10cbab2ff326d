// The Fireworks provider of the Vercel AI SDK (`ai` + `@ai-sdk/fireworks`), unchanged, pointed at
// `schnell serve` on the demo model by its base URL. generateImage with every option it exposes:
// size (sent as string sides, "832" — Fireworks reads them as numbers, so do we), aspectRatio, n
// (one request per image), seed, providerOptions (spread into the body), headers, and its errors.
// What it sends was read from node_modules/@ai-sdk/fireworks/dist/index.mjs (FireworksImageModel).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createFireworks } from '@ai-sdk/fireworks';
import { APICallError, generateImage } from 'ai';
import { type DemoServer, TOKEN, imageInfo, startDemoServer } from './demo-server.js';

let s: DemoServer;
let fireworks: ReturnType<typeof createFireworks>;
const MODEL = 'accounts/fireworks/models/flux-1-schnell-fp8';

before(async () => {
  s = await startDemoServer();
  // The provider appends /workflows/<model>/text_to_image to its base URL, as it does for api.fireworks.ai/inference/v1.
  fireworks = createFireworks({ apiKey: TOKEN, baseURL: `${s.url}/inference/v1` });
});
after(async () => {
  await s?.close();
});

describe('AI SDK generateImage against schnell serve', () => {
  test('a prompt alone: one 1024x1024 PNG, the seed we chose echoed in the response headers', async () => {
    const r = await generateImage({ model: fireworks.image(MODEL), prompt: 'a lighthouse at dusk', seed: 7 });
    assert.deepEqual(await imageInfo(r.image.uint8Array), { format: 'png', width: 1024, height: 1024 });
    assert.equal(r.image.mediaType, 'image/png');
    assert.equal(r.responses[0]!.headers?.seed, '7');
    assert.equal(r.responses[0]!.headers?.['finish-reason'], 'SUCCESS');
  });

  test('size "832x1216" (string sides on the wire) is made at that size', async () => {
    const r = await generateImage({ model: fireworks.image(MODEL), prompt: 'a tall tower', size: '832x1216', seed: 3 });
    assert.deepEqual(await imageInfo(r.image.uint8Array), { format: 'png', width: 832, height: 1216 });
    // The SDK itself warns that this model prefers aspectRatio; the request still succeeds.
    assert.ok(r.warnings.some((w) => w.type === 'unsupported' && 'feature' in w && w.feature === 'size'));
  });

  test('aspectRatio maps to the nearest supported resolution', async () => {
    const wide = await generateImage({ model: fireworks.image(MODEL), prompt: 'a wide field', aspectRatio: '16:9', seed: 1 });
    assert.deepEqual(await imageInfo(wide.image.uint8Array), { format: 'png', width: 1344, height: 768 });
    const tall = await generateImage({ model: fireworks.image(MODEL), prompt: 'a tall tree', aspectRatio: '2:5', seed: 1 });
    assert.deepEqual(await imageInfo(tall.image.uint8Array), { format: 'png', width: 640, height: 1536 });
  });

  test('n = 2 with a seed: two requests (maxImagesPerCall 1), two images, the same seed makes the same image', async () => {
    const r = await generateImage({ model: fireworks.image(MODEL), prompt: 'twins', n: 2, seed: 42, aspectRatio: '21:9' });
    assert.equal(r.images.length, 2);
    assert.equal(r.responses.length, 2);
    for (const img of r.images) assert.deepEqual(await imageInfo(img.uint8Array), { format: 'png', width: 1536, height: 640 });
    assert.deepEqual(Buffer.from(r.images[0]!.uint8Array), Buffer.from(r.images[1]!.uint8Array));
  });

  test('providerOptions.fireworks go into the body: steps, guidance_scale, negative_prompt, sampler, safety_check', async () => {
    const r = await generateImage({
      model: fireworks.image(MODEL),
      prompt: 'a quiet harbour',
      seed: 11,
      aspectRatio: '1:1',
      providerOptions: { fireworks: { num_inference_steps: 2, guidance_scale: 1, negative_prompt: 'fog', sampler: 'K_DPMPP_2M', safety_check: false } },
      headers: { 'X-Client': 'ai-sdk-test' },
    });
    assert.deepEqual(await imageInfo(r.image.uint8Array), { format: 'png', width: 1024, height: 1024 });
    // The negative prompt does nothing at guidance 1, and the server says so.
    assert.match(String(r.responses[0]!.headers?.['x-schnell-warning']), /negative_prompt is ignored because cfg_scale is 1/);
  });

  test('a request the API refuses is an APICallError with the status and the field named; a wrong key is 401', async () => {
    const bad = await generateImage({ model: fireworks.image(MODEL), prompt: 'x', size: '1536x1024', maxRetries: 0 }).catch((e: unknown) => e);
    assert.ok(APICallError.isInstance(bad), String(bad));
    assert.equal(bad.statusCode, 400);
    assert.equal(JSON.parse(bad.responseBody ?? '{}').error.param, 'width');
    const unknown = await generateImage({ model: fireworks.image(MODEL), prompt: 'x', providerOptions: { fireworks: { stepz: 2 } }, maxRetries: 0 }).catch((e: unknown) => e);
    assert.ok(APICallError.isInstance(unknown));
    assert.equal(JSON.parse(unknown.responseBody ?? '{}').error.param, 'stepz');
    const wrongKey = createFireworks({ apiKey: 'not-the-token-0123456789', baseURL: `${s.url}/inference/v1` });
    const denied = await generateImage({ model: wrongKey.image(MODEL), prompt: 'x', maxRetries: 0 }).catch((e: unknown) => e);
    assert.ok(APICallError.isInstance(denied));
    assert.equal(denied.statusCode, 401);
  });
});
