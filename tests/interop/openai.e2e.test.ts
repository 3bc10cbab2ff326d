// The official `openai` package, unchanged, pointed at `schnell serve` on the demo model by its base
// URL: images.generate with OpenAI's sizes (those our nine resolutions cannot make are made at the
// nearest aspect ratio, said in X-Schnell-Warning and X-Schnell-Size), n, response_format url and
// b64_json (and OpenAI's model-dependent default), output_format, OpenAI model names, and errors
// that its error classes parse (status, param, code).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { type DemoServer, TOKEN, imageInfo, startDemoServer } from './demo-server.js';

let s: DemoServer;
let client: OpenAI;

before(async () => {
  s = await startDemoServer();
  client = new OpenAI({ apiKey: TOKEN, baseURL: `${s.url}/v1`, maxRetries: 0 });
});
after(async () => {
  await s?.close();
});

const b64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64');
const fromDataUrl = (url: string | undefined, type: string) => {
  assert.match(url ?? '', new RegExp(`^data:${type.replace('/', '\\/')};base64,`));
  return Buffer.from((url ?? '').split(',')[1] ?? '', 'base64');
};

describe('openai images.generate against schnell serve', () => {
  test('dall-e-3 at 1792x1024, b64_json: made at 1344x768 (same aspect), said in headers', async () => {
    const { data, response } = await client.images.generate({ model: 'dall-e-3', prompt: 'a wide harbour', size: '1792x1024', response_format: 'b64_json' }).withResponse();
    assert.equal(data.data?.length, 1);
    assert.deepEqual(await imageInfo(b64(data.data![0]!.b64_json)), { format: 'png', width: 1344, height: 768 });
    assert.equal(response.headers.get('x-schnell-size'), '1344x768');
    const warning = response.headers.get('x-schnell-warning') ?? '';
    assert.match(warning, /size 1792x1024 is not one of this model's nine resolutions; made 1344x768/);
    assert.match(warning, /model 'dall-e-3' is OpenAI's/);
  });

  test('n = 2 at 1024x1536 with response_format url: two data URLs, 832x1216 (nearest to 2:3)', async () => {
    const r = await client.images.generate({ prompt: 'two towers', n: 2, size: '1024x1536', response_format: 'url' });
    assert.equal(r.data?.length, 2);
    for (const img of r.data!) assert.deepEqual(await imageInfo(fromDataUrl(img.url, 'image/png')), { format: 'png', width: 832, height: 1216 });
    assert.equal(r.size, '832x1216' as typeof r.size);
  });

  test("dall-e-2's 256x256 with no response_format: OpenAI's default for it (a URL), made at 1024x1024", async () => {
    const r = await client.images.generate({ prompt: 'a small square', size: '256x256' });
    assert.deepEqual(await imageInfo(fromDataUrl(r.data![0]!.url, 'image/png')), { format: 'png', width: 1024, height: 1024 });
  });

  test('gpt-image-1 with size auto, output_format jpeg and output_compression: base64 JPEG', async () => {
    const r = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse', size: 'auto', output_format: 'jpeg', output_compression: 60, quality: 'low', background: 'auto', moderation: 'low', user: 'test' });
    assert.equal(r.output_format, 'jpeg');
    assert.deepEqual(await imageInfo(b64(r.data![0]!.b64_json)), { format: 'jpeg', width: 1024, height: 1024 });
  });

  test('refusals are OpenAI errors: BadRequestError with param and code, AuthenticationError, NotFoundError', async () => {
    const tooMany = await client.images.generate({ prompt: 'x', n: 10 }).catch((e: unknown) => e);
    assert.ok(tooMany instanceof OpenAI.BadRequestError, String(tooMany));
    assert.equal(tooMany.param, 'n');
    assert.equal(tooMany.code, 'invalid_value');
    assert.match(tooMany.message, /n must be an integer from 1 to 8/);
    const streaming = await client.images.generate({ prompt: 'x', stream: false, partial_images: 0, style: 'vivid' }).catch((e: unknown) => e);
    assert.ok(!(streaming instanceof Error), `stream: false and the other knobs are accepted: ${String(streaming)}`);
    const unknown = await client.images.generate({ prompt: 'x', colour: 'red' } as OpenAI.ImageGenerateParamsNonStreaming).catch((e: unknown) => e);
    assert.ok(unknown instanceof OpenAI.BadRequestError);
    assert.equal(unknown.param, 'colour');
    assert.equal(unknown.code, 'unknown_parameter');
    const other = await client.images.generate({ model: 'sdxl-turbo', prompt: 'x' }).catch((e: unknown) => e);
    assert.ok(other instanceof OpenAI.NotFoundError);
    assert.equal(other.code, 'model_not_found');
    const wrong = new OpenAI({ apiKey: 'not-the-token-0123456789', baseURL: `${s.url}/v1`, maxRetries: 0 });
    const denied = await wrong.images.generate({ prompt: 'x' }).catch((e: unknown) => e);
    assert.ok(denied instanceof OpenAI.AuthenticationError);
    assert.equal(denied.code, 'invalid_api_key');
  });
});
