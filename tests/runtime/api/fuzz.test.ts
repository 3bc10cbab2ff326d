// Fuzzing the request schema: random and mutated bodies and headers. The schema either returns a
// request that satisfies every rule or throws an ApiError with a 4xx status, a sentence and the
// error shape; over HTTP nothing ever answers 500 or drops the connection.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ApiError, MAX_SEED, SUPPORTED_RESOLUTIONS, isSupportedResolution, parseTextToImage } from '../../../runtime/api/index.js';
import { type TestServer, assertErrorShape, request, startTestServer, T2I } from '../server/helpers.js';

const FIELDS = ['prompt', 'negative_prompt', 'width', 'height', 'cfg_scale', 'sampler', 'samples', 'seed', 'steps', 'safety_check', 'aspect_ratio', 'guidance_scale', 'num_inference_steps'];

const anyValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0, -1, 1, 512, 1024, 1536, 1537, MAX_SEED, MAX_SEED + 1, 1e300, -0, 4.5, 'K_EULER', 'K_DPMPP_2M', '16:9', '0:0', '', ' ', 'x'.repeat(10_001)),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 }),
);

const validBody = fc.record(
  {
    prompt: fc.string({ minLength: 1, maxLength: 50 }).filter((s) => s.trim() !== ''),
    negative_prompt: fc.string({ maxLength: 20 }),
    cfg_scale: fc.double({ min: 0, max: 20, noNaN: true }),
    sampler: fc.constantFrom(null, 'K_EULER', 'K_DPMPP_2M'),
    seed: fc.integer({ min: 0, max: MAX_SEED }),
    steps: fc.integer({ min: 1, max: 50 }),
    safety_check: fc.boolean(),
  },
  { requiredKeys: ['prompt'] },
).chain((b) => fc.option(fc.constantFrom(...SUPPORTED_RESOLUTIONS)).map((r) => (r ? { ...b, width: r.width, height: r.height } : b)));

/** A valid body with one field replaced, removed or added. */
const mutated = fc.tuple(validBody, fc.constantFrom(...FIELDS, '__proto__', 'constructor', 'Prompt', 'extra'), anyValue, fc.boolean()).map(([b, k, v, remove]) => {
  const copy: Record<string, unknown> = JSON.parse(JSON.stringify(b));
  if (remove) delete copy[k];
  else Object.defineProperty(copy, k, { value: v, enumerable: true, writable: true, configurable: true });
  return copy;
});

const headers = fc.record(
  {
    accept: fc.constantFrom('image/png', 'image/jpeg', 'application/json', '*/*', 'text/html', 'image/*;q=0', 'application/json;q=0.5, image/png', '', ',,,', 'image/png;q=abc'),
    'jpeg-quality': fc.oneof(fc.constantFrom('0', '50', '100', '101', '-1', 'abc', ' 80 ', '1e2'), fc.string({ maxLength: 4 })),
    'json-return-image-accept': fc.constantFrom('image/png', 'image/jpeg', 'image/gif', ''),
  },
  { requiredKeys: [] },
);

function checkOutcome(body: unknown, h: Record<string, string>): void {
  try {
    const { request: r, responseType } = parseTextToImage(body, h);
    assert.ok(r.prompt.trim().length > 0);
    assert.ok(isSupportedResolution(r.width, r.height));
    assert.ok(Number.isInteger(r.seed) && r.seed >= 0 && r.seed <= MAX_SEED);
    assert.ok(Number.isInteger(r.steps) && r.steps >= 1 && r.steps <= 50);
    assert.ok(Number.isInteger(r.samples) && r.samples >= 1 && r.samples <= 8);
    assert.ok(r.cfgScale >= 0 && r.cfgScale <= 20);
    assert.ok(r.samples === 1 || responseType === 'application/json');
    if (r.jpegQuality !== undefined) assert.equal(responseType, 'image/jpeg');
  } catch (err) {
    assert.ok(err instanceof ApiError, `not an ApiError: ${(err as Error)?.stack}`);
    assert.ok([400, 406].includes(err.status), `status ${err.status}`);
    assert.ok(err.message.length > 0 && !err.message.includes('\n'));
    assert.ok(err.status !== 400 || err.param === null || typeof err.param === 'string');
  }
}

test('schema: random JSON values never crash it', () => {
  fc.assert(fc.property(fc.jsonValue(), headers, (b, h) => checkOutcome(b, h as Record<string, string>)), { numRuns: 2000 });
});

test('schema: mutated valid bodies are accepted only when every rule holds', () => {
  fc.assert(fc.property(mutated, headers, (b, h) => checkOutcome(b, h as Record<string, string>)), { numRuns: 3000 });
  fc.assert(fc.property(validBody, (b) => {
    const { request: r } = parseTextToImage(b, { accept: 'application/json' });
    assert.equal(r.prompt, b.prompt);
  }), { numRuns: 500 });
});

let server: TestServer;
before(async () => {
  // No backend at all: valid requests end in 503 quickly, so the fuzz exercises parsing and errors.
  server = await startTestServer({ policy: 'auto', local: null, cloud: null });
});
after(async () => {
  await server.close();
});

test('HTTP: random bodies, bytes and headers never give a 500 or a dropped connection', async () => {
  const rawBody = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    mutated.map((v) => JSON.stringify(v)),
    fc.string({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a).toString('latin1')),
    mutated.map((v) => JSON.stringify(v).slice(0, -3)),
  );
  const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/json; charset=latin1', 'multipart/form-data');
  await fc.assert(
    fc.asyncProperty(rawBody, headers, contentType, async (body, h, ct) => {
      const hs: Record<string, string> = { 'Content-Type': ct };
      for (const [k, v] of Object.entries(h)) if (/^[\x20-\x7e]*$/.test(v as string)) hs[k] = v as string;
      const r = await request(server.url, { path: T2I, body: Buffer.from(body, 'latin1'), headers: hs });
      assert.ok([400, 406, 415, 503].includes(r.status), `status ${r.status}: ${r.body.toString().slice(0, 200)}`);
      assertErrorShape(r, r.status);
    }),
    { numRuns: 300 },
  );
});

test('HTTP: random paths and methods never give a 500', async () => {
  const segment = fc.stringMatching(/^[A-Za-z0-9%._~-]{0,12}$/);
  const pathArb = fc.oneof(
    fc.array(segment, { maxLength: 6 }).map((p) => `/${p.join('/')}`),
    segment.map((m) => `/inference/v1/workflows/accounts/fireworks/models/${m}/text_to_image`),
  );
  await fc.assert(
    fc.asyncProperty(pathArb, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'), async (p, method) => {
      const r = await request(server.url, { method, path: p, body: '{"prompt":"x"}', headers: { 'Content-Type': 'application/json' } });
      assert.ok(r.status < 500 || r.status === 503, `${method} ${p}: ${r.status}`);
      if (r.status !== 200) assertErrorShape(r, r.status);
    }),
    { numRuns: 300 },
  );
});
