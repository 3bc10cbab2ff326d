// The request schema against every rule of ../shared/docs/api.md (the HTTP tests repeat the
// important ones over the wire).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ApiError,
  SUPPORTED_RESOLUTIONS,
  createGenerationRequest,
  imageSeed,
  negotiateResponseType,
  nearestResolution,
  parseAspectRatio,
  parseGenerationBody,
  parseTextToImage,
  checkContentType,
  resolveSeed,
  toTextToImageBody,
} from '../../../runtime/api/index.js';

function rejects(fn: () => unknown, status: number, param: string | null, message?: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected ApiError, got ${err}`);
    assert.equal(err.status, status, err.message);
    assert.equal(err.param, param, err.message);
    if (message) assert.match(err.message, message);
    const json = err.toJSON();
    assert.deepEqual(Object.keys(json.error).sort(), ['message', 'param', 'type']);
    return;
  }
  assert.fail('expected an error');
}

const body = (extra: Record<string, unknown> = {}) => ({ prompt: 'a red fox', ...extra });

test('defaults: 1024x1024, cfg 1, Euler, one sample, random seed, 4 steps, no safety check, PNG', () => {
  const r = parseGenerationBody(body());
  assert.deepEqual(r, {
    prompt: 'a red fox', negativePrompt: '', width: 1024, height: 1024, cfgScale: 1, sampler: 'K_EULER',
    samples: 1, seed: 0, steps: 4, safetyCheck: false, outputFormat: 'png',
  });
});

test('every field is read and normalized to camelCase', () => {
  const r = parseGenerationBody(body({
    negative_prompt: 'blurry', width: 1344, height: 768, cfg_scale: 3.5, sampler: 'K_DPMPP_2M',
    samples: 3, seed: 42, steps: 8, safety_check: true,
  }));
  assert.equal(r.negativePrompt, 'blurry');
  assert.deepEqual([r.width, r.height, r.cfgScale, r.sampler, r.samples, r.seed, r.steps, r.safetyCheck], [1344, 768, 3.5, 'K_DPMPP_2M', 3, 42, 8, true]);
  assert.equal(parseGenerationBody(body({ sampler: null })).sampler, 'K_EULER');
  assert.equal(parseGenerationBody(body({ negative_prompt: null })).negativePrompt, '');
});

test('prompt: required, non-empty after trimming, at most 10,000 characters', () => {
  rejects(() => parseGenerationBody({}), 400, 'prompt');
  rejects(() => parseGenerationBody({ prompt: '   \n\t' }), 400, 'prompt', /empty/);
  rejects(() => parseGenerationBody({ prompt: 7 }), 400, 'prompt', /string/);
  rejects(() => parseGenerationBody({ prompt: 'x'.repeat(10_001) }), 400, 'prompt', /10,000/);
  assert.equal(parseGenerationBody({ prompt: 'x'.repeat(10_000) }).prompt.length, 10_000);
  // Characters, not UTF-16 units: 10,000 emoji are allowed.
  assert.ok(parseGenerationBody({ prompt: '🦊'.repeat(10_000) }));
  rejects(() => parseGenerationBody({ prompt: '🦊'.repeat(10_001) }), 400, 'prompt');
  rejects(() => parseGenerationBody(body({ negative_prompt: 'n'.repeat(10_001) })), 400, 'negative_prompt');
  rejects(() => parseGenerationBody(body({ negative_prompt: 3 })), 400, 'negative_prompt');
});

test('every supported resolution is accepted and other pairs are rejected naming the field', () => {
  for (const { width, height } of SUPPORTED_RESOLUTIONS) {
    const r = parseGenerationBody(body({ width, height }));
    assert.deepEqual([r.width, r.height], [width, height]);
  }
  rejects(() => parseGenerationBody(body({ width: 1024, height: 512 })), 400, 'width', /not a supported resolution/);
  rejects(() => parseGenerationBody(body({ width: 768, height: 768 })), 400, 'width');
  rejects(() => parseGenerationBody(body({ height: 896 })), 400, 'height', /1024 with height 896/);
  rejects(() => parseGenerationBody(body({ width: 2048, height: 1024 })), 400, 'width', /512 to 1536/);
  rejects(() => parseGenerationBody(body({ width: 256 })), 400, 'width');
  rejects(() => parseGenerationBody(body({ height: 1024.5 })), 400, 'height', /integer/);
  // Fireworks reads decimal strings as numbers (the AI SDK sends its size that way); other text is refused.
  assert.deepEqual(((r) => [r.width, r.height])(parseGenerationBody(body({ width: '832', height: ' 1216 ' }))), [832, 1216]);
  rejects(() => parseGenerationBody(body({ width: '1024px' })), 400, 'width');
  rejects(() => parseGenerationBody(body({ width: '' })), 400, 'width');
});

test('cfg_scale 0–20, sampler options, samples ≥ 1 and ≤ the limit, steps 1–50, safety_check boolean', () => {
  assert.equal(parseGenerationBody(body({ cfg_scale: 0 })).cfgScale, 0);
  assert.equal(parseGenerationBody(body({ cfg_scale: 20 })).cfgScale, 20);
  rejects(() => parseGenerationBody(body({ cfg_scale: 20.01 })), 400, 'cfg_scale');
  rejects(() => parseGenerationBody(body({ cfg_scale: -1 })), 400, 'cfg_scale');
  rejects(() => parseGenerationBody(body({ sampler: 'DDIM' })), 400, 'sampler', /K_EULER/);
  rejects(() => parseGenerationBody(body({ samples: 0 })), 400, 'samples');
  rejects(() => parseGenerationBody(body({ samples: 9 })), 400, 'samples', /1 to 8/);
  assert.equal(parseGenerationBody(body({ samples: 12 }), { maxSamples: 12 }).samples, 12);
  rejects(() => parseGenerationBody(body({ steps: 0 })), 400, 'steps');
  rejects(() => parseGenerationBody(body({ steps: 51 })), 400, 'steps');
  assert.equal(parseGenerationBody(body({ steps: 50 })).steps, 50);
  rejects(() => parseGenerationBody(body({ safety_check: 'yes' })), 400, 'safety_check');
});

test('seed: 0 … 4294967295, 0 = random, image i uses seed + i wrapping at 2^32', () => {
  assert.equal(parseGenerationBody(body({ seed: 4294967295 })).seed, 4294967295);
  rejects(() => parseGenerationBody(body({ seed: 4294967296 })), 400, 'seed');
  rejects(() => parseGenerationBody(body({ seed: -1 })), 400, 'seed');
  rejects(() => parseGenerationBody(body({ seed: 1.5 })), 400, 'seed');
  const r = resolveSeed(parseGenerationBody(body()));
  assert.ok(r.seed >= 1 && r.seed <= 4294967295 && Number.isInteger(r.seed));
  assert.equal(resolveSeed(parseGenerationBody(body({ seed: 9 }))).seed, 9);
  assert.equal(imageSeed(4294967295, 1), 0);
  assert.equal(imageSeed(4294967294, 3), 1);
  assert.equal(imageSeed(10, 2), 12);
});

test('unknown fields are rejected naming the field; __proto__ is just another unknown field', () => {
  rejects(() => parseGenerationBody(body({ stepz: 4 })), 400, 'stepz', /unknown field 'stepz'/);
  rejects(() => parseGenerationBody(JSON.parse('{"prompt":"x","__proto__":{"steps":99}}')), 400, '__proto__');
  rejects(() => parseGenerationBody(JSON.parse('{"prompt":"x","constructor":1}')), 400, 'constructor');
});

test('aliases: aspect_ratio → nearest supported pair, guidance_scale, num_inference_steps; never both forms', () => {
  const ar = (s: string) => {
    const r = parseGenerationBody(body({ aspect_ratio: s }));
    return `${r.width}x${r.height}`;
  };
  assert.equal(ar('1:1'), '1024x1024');
  assert.equal(ar('16:9'), '1344x768');
  assert.equal(ar('9:16'), '768x1344');
  assert.equal(ar('21:9'), '1536x640');
  assert.equal(ar('4:3'), '1152x896');
  assert.equal(ar('3:2'), '1216x832');
  assert.equal(ar('1.5'), '1216x832');
  rejects(() => parseGenerationBody(body({ aspect_ratio: '0:1' })), 400, 'aspect_ratio');
  rejects(() => parseGenerationBody(body({ aspect_ratio: 'wide' })), 400, 'aspect_ratio');
  rejects(() => parseGenerationBody(body({ aspect_ratio: '16:9', width: 1344 })), 400, 'aspect_ratio', /not both/);
  assert.equal(parseGenerationBody(body({ guidance_scale: 3 })).cfgScale, 3);
  rejects(() => parseGenerationBody(body({ guidance_scale: 3, cfg_scale: 2 })), 400, 'guidance_scale');
  rejects(() => parseGenerationBody(body({ guidance_scale: 30 })), 400, 'guidance_scale');
  assert.equal(parseGenerationBody(body({ num_inference_steps: 6 })).steps, 6);
  rejects(() => parseGenerationBody(body({ num_inference_steps: 6, steps: 4 })), 400, 'num_inference_steps');
  assert.deepEqual(nearestResolution(parseAspectRatio('1000:1')!), { width: 1536, height: 640 });
});

test('a body that is not an object is a 400', () => {
  for (const b of [null, [], 'prompt', 3, true]) rejects(() => parseGenerationBody(b), 400, null, /JSON object/);
});

test('Accept: the three types, wildcards mean the default PNG, anything else is 406', () => {
  assert.equal(negotiateResponseType(undefined), 'image/png');
  assert.equal(negotiateResponseType('image/png'), 'image/png');
  assert.equal(negotiateResponseType('image/jpeg'), 'image/jpeg');
  assert.equal(negotiateResponseType('application/json'), 'application/json');
  assert.equal(negotiateResponseType('*/*'), 'image/png');
  assert.equal(negotiateResponseType('image/*'), 'image/png');
  assert.equal(negotiateResponseType('application/json, text/plain, */*'), 'application/json');
  assert.equal(negotiateResponseType('image/png;q=0.5, image/jpeg'), 'image/jpeg');
  rejects(() => negotiateResponseType('text/html'), 406, 'Accept');
  rejects(() => negotiateResponseType('image/webp'), 406, 'Accept');
  rejects(() => negotiateResponseType('image/png;q=0'), 406, 'Accept');
  rejects(() => negotiateResponseType('garbage'), 406, 'Accept');
});

test('Content-Type must be application/json (UTF-8); anything else is 415', () => {
  checkContentType('application/json');
  checkContentType('application/json; charset=utf-8');
  checkContentType('Application/JSON;charset=UTF-8');
  rejects(() => checkContentType(undefined), 415, 'Content-Type');
  rejects(() => checkContentType('text/plain'), 415, 'Content-Type');
  rejects(() => checkContentType('application/x-www-form-urlencoded'), 415, 'Content-Type');
  rejects(() => checkContentType('application/json; charset=latin1'), 415, 'Content-Type');
});

test('Jpeg-Quality: integer 0–100, only with Accept: image/jpeg', () => {
  const p = (h: Record<string, string>) => parseTextToImage(body(), h);
  assert.equal(p({ accept: 'image/jpeg', 'jpeg-quality': '35' }).request.jpegQuality, 35);
  assert.equal(p({ accept: 'image/jpeg', 'jpeg-quality': '0' }).request.jpegQuality, 0);
  assert.equal(p({ accept: 'image/jpeg', 'jpeg-quality': '100' }).request.jpegQuality, 100);
  assert.equal(p({ accept: 'image/jpeg' }).request.jpegQuality, undefined);
  assert.equal(p({ accept: 'image/jpeg' }).request.outputFormat, 'jpeg');
  for (const bad of ['101', '-1', '50.5', 'high', '', '1e2', '90, 80']) rejects(() => p({ accept: 'image/jpeg', 'jpeg-quality': bad }), 400, 'Jpeg-Quality');
  rejects(() => p({ accept: 'image/png', 'jpeg-quality': '80' }), 400, 'Jpeg-Quality', /only with Accept: image\/jpeg/);
  rejects(() => p({ accept: 'application/json', 'jpeg-quality': '80' }), 400, 'Jpeg-Quality');
});

test('Json-Return-Image-Accept: png (default) or jpeg, only with Accept: application/json', () => {
  const p = (h: Record<string, string>) => parseTextToImage(body(), h);
  assert.equal(p({ accept: 'application/json' }).request.outputFormat, 'png');
  assert.equal(p({ accept: 'application/json', 'json-return-image-accept': 'image/jpeg' }).request.outputFormat, 'jpeg');
  assert.equal(p({ accept: 'application/json', 'json-return-image-accept': 'image/png' }).request.outputFormat, 'png');
  rejects(() => p({ accept: 'application/json', 'json-return-image-accept': 'image/gif' }), 400, 'Json-Return-Image-Accept');
  rejects(() => p({ accept: 'image/png', 'json-return-image-accept': 'image/jpeg' }), 400, 'Json-Return-Image-Accept');
});

test('samples > 1 with a binary Accept is a 400 that says to use application/json', () => {
  rejects(() => parseTextToImage(body({ samples: 2 }), { accept: 'image/png' }), 400, 'samples', /application\/json/);
  rejects(() => parseTextToImage(body({ samples: 2 }), {}), 400, 'samples');
  assert.equal(parseTextToImage(body({ samples: 2 }), { accept: 'application/json' }).request.samples, 2);
});

test('header problems are reported before body problems', () => {
  rejects(() => parseTextToImage({ prompt: '' }, { accept: 'text/html' }), 406, 'Accept');
});

test('camelCase options go through the same schema; the wire body round-trips', () => {
  const r = createGenerationRequest({ prompt: 'p', width: 832, height: 1216, steps: 2, seed: 5, outputFormat: 'jpeg', jpegQuality: 70, negativePrompt: 'n' });
  assert.deepEqual([r.width, r.height, r.steps, r.seed, r.outputFormat, r.jpegQuality], [832, 1216, 2, 5, 'jpeg', 70]);
  rejects(() => createGenerationRequest({ prompt: 'p', steps: 0 }), 400, 'steps');
  rejects(() => createGenerationRequest({ prompt: 'p', jpegQuality: 101 }), 400, 'jpegQuality');
  const again = parseGenerationBody(toTextToImageBody(r), { outputFormat: 'jpeg', jpegQuality: 70 });
  assert.deepEqual(again, r);
});

test('hostile numbers and strings as JSON.parse hands them over: 1e400, -0, 1024.0, "1024", 2^53 + 1', () => {
  const wire = (text: string) => parseGenerationBody(JSON.parse(text));
  rejects(() => wire('{"prompt":"a","seed":1e400}'), 400, 'seed', /Infinity/);
  rejects(() => wire('{"prompt":"a","width":-1e400}'), 400, 'width');
  rejects(() => wire('{"prompt":"a","seed":9007199254740993}'), 400, 'seed');
  // Decimal text is read as the number it spells (as Fireworks does); anything else is refused.
  assert.equal(wire('{"prompt":"a","steps":"4"}').steps, 4);
  rejects(() => wire('{"prompt":"a","steps":"4.5"}'), 400, 'steps', /integer/);
  rejects(() => wire('{"prompt":"a","steps":"0x4"}'), 400, 'steps', /integer/);
  rejects(() => wire('{"prompt":"a","samples":2.5}'), 400, 'samples', /integer/);
  assert.equal(wire('{"prompt":"a","cfg_scale":"3.5"}').cfgScale, 3.5);
  rejects(() => wire('{"prompt":"a","cfg_scale":"3.5x"}'), 400, 'cfg_scale');
  rejects(() => wire('{"prompt":"a","cfg_scale":"Infinity"}'), 400, 'cfg_scale');
  rejects(() => wire('{"prompt":"a","seed":true}'), 400, 'seed');
  // -0 is 0 (a random seed; cfg 0); 1024.0 is the integer 1024.
  assert.ok(Object.is(wire('{"prompt":"a","seed":-0}').seed, 0));
  assert.ok(Object.is(wire('{"prompt":"a","cfg_scale":-0}').cfgScale, 0));
  assert.equal(wire('{"prompt":"a","width":1024.0,"height":1024}').width, 1024);
  // Whitespace of every kind is empty; a NUL is a character like any other.
  rejects(() => wire('{"prompt":"\\u00a0\\u3000\\u2028\\ufeff \\r\\n"}'), 400, 'prompt', /empty/);
  assert.equal(wire('{"prompt":"a\\u0000b"}').prompt, 'a\u0000b');
  // Duplicate keys: the last one counts (JSON.parse), and it is validated like any other.
  rejects(() => wire('{"prompt":"a","steps":4,"steps":99}'), 400, 'steps');
});
