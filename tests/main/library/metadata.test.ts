import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatParameters, parseParameters } from '../../../main/library/a1111.js';
import { parseComfyPrompt, parseInvokeMetadata } from '../../../main/library/foreign.js';
import { readImageInfo } from '../../../main/library/metadata.js';
import { withPngText } from '../../../main/library/png.js';
import { makePng } from '../helpers.js';

test('our A1111 parameters text reads back, and reads like A1111 writes it', () => {
  const text = formatParameters({
    prompt: 'a cat, in the rain\nsecond line', negativePrompt: 'blurry', steps: 4, sampler: 'K_EULER', cfgScale: 1, seed: 123,
    width: 1024, height: 768, model: 'flux-1-schnell-fp8', samples: 4, sampleIndex: 2, finishReason: 'CONTENT_FILTERED',
  });
  assert.equal(
    text,
    'a cat, in the rain\nsecond line\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, CFG scale: 1, Seed: 123, Size: 1024x768, Model: flux-1-schnell-fp8, Batch size: 4, Batch pos: 2, Finish reason: CONTENT_FILTERED',
  );
  const warnings: string[] = [];
  assert.deepEqual(parseParameters(text, warnings), {
    prompt: 'a cat, in the rain\nsecond line', negativePrompt: 'blurry', width: 1024, height: 768, steps: 4, cfgScale: 1, seed: 123,
    sampler: 'K_EULER', model: 'flux-1-schnell-fp8', samples: 4, sampleIndex: 2, finishReason: 'CONTENT_FILTERED',
  });
  assert.deepEqual(warnings, []);
  // A model name with commas and colons is quoted, as A1111 does.
  assert.match(formatParameters({ prompt: 'x', model: 'a, b: c' }), /Model: "a, b: c"/);
  assert.equal(parseParameters(formatParameters({ prompt: 'x', model: 'a, b: c', seed: 1 }), []).model, 'a, b: c');
});

test('A1111 text from A1111 itself is understood', () => {
  const warnings: string[] = [];
  const f = parseParameters(
    'masterpiece, 1girl\nNegative prompt: lowres, bad anatomy\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3735928559, Size: 512x768, Model hash: abc123, Model: sd15, Denoising strength: 0.5, Lora hashes: "x: 1, y: 2"',
    warnings,
  );
  assert.deepEqual(f, {
    prompt: 'masterpiece, 1girl', negativePrompt: 'lowres, bad anatomy', width: 512, height: 768, steps: 20, cfgScale: 7, seed: 3735928559,
    sampler: 'DPM++ 2M Karras', model: 'sd15',
  });
  // A prompt without settings is all prompt; a bad seed is left out with a warning.
  assert.deepEqual(parseParameters('just words, nothing else', []), { prompt: 'just words, nothing else', negativePrompt: '' });
  const w: string[] = [];
  assert.equal(parseParameters('p\nSteps: 4, Seed: -1, Size: 8x8', w).seed, undefined);
  assert.match(w[0]!, /seed/);
});

test('a long settings line without colons parses in linear time', () => {
  const text = `${'word '.repeat(40_000)}\n${'a b-c/d '.repeat(30_000)}, ${'x,'.repeat(50_000)}`;
  const f = parseParameters(text, []); // A1111's backtracking regex would not return for minutes
  assert.equal(f.prompt, text.split('\n').map((l) => l.trim()).join('\n'));
});

test('a ComfyUI graph gives prompt, seed, steps, cfg, sampler, size and model', () => {
  const graph = {
    '3': { class_type: 'KSampler', inputs: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } },
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'v1-5-pruned-emaonly.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 768, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'beautiful scenery nature glass bottle', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'text, watermark', clip: ['4', 1] } },
    '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'ComfyUI', images: ['8', 0] } },
  };
  assert.deepEqual(parseComfyPrompt(JSON.stringify(graph), []), {
    prompt: 'beautiful scenery nature glass bottle', negativePrompt: 'text, watermark', seed: 156680208700286, steps: 20, cfgScale: 8,
    sampler: 'K_EULER', width: 512, height: 768, samples: 1, model: 'v1-5-pruned-emaonly.safetensors',
  });
});

test('a ComfyUI FLUX graph (custom sampler, guidance, noise node) is followed through its links', () => {
  const graph = {
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a fox in the snow', clip: ['11', 0] } },
    '26': { class_type: 'FluxGuidance', inputs: { guidance: 3.5, conditioning: ['6', 0] } },
    '22': { class_type: 'BasicGuider', inputs: { model: ['12', 0], conditioning: ['26', 0] } },
    '25': { class_type: 'RandomNoise', inputs: { noise_seed: 42 } },
    '16': { class_type: 'KSamplerSelect', inputs: { sampler_name: 'euler' } },
    '17': { class_type: 'BasicScheduler', inputs: { scheduler: 'simple', steps: 4, denoise: 1, model: ['12', 0] } },
    '27': { class_type: 'EmptySD3LatentImage', inputs: { width: 1024, height: 1024, batch_size: 1 } },
    '13': { class_type: 'SamplerCustomAdvanced', inputs: { noise: ['25', 0], guider: ['22', 0], sampler: ['16', 0], sigmas: ['17', 0], latent_image: ['27', 0] } },
    '12': { class_type: 'UNETLoader', inputs: { unet_name: 'flux1-schnell.safetensors', weight_dtype: 'fp8_e4m3fn' } },
  };
  const f = parseComfyPrompt(JSON.stringify(graph), [])!;
  assert.equal(f.prompt, 'a fox in the snow');
  assert.equal(f.seed, 42);
  assert.equal(f.steps, 4);
  assert.equal(f.sampler, 'K_EULER');
  assert.deepEqual([f.width, f.height], [1024, 1024]);
  assert.equal(f.model, 'flux1-schnell.safetensors');
});

test('hostile ComfyUI and InvokeAI JSON: wrong types, link cycles and garbage are left out, not trusted', () => {
  const w: string[] = [];
  const cyclic = {
    '1': { class_type: 'KSampler', inputs: { seed: ['2', 0], steps: 'many', cfg: { x: 1 }, positive: ['2', 0], latent_image: ['3', 0] } },
    '2': { class_type: 'Loop', inputs: { seed: ['1', 0], conditioning: ['2', 0], value: ['2', 0] } },
    '3': { class_type: 'EmptyLatentImage', inputs: { width: -5, height: 1e12 } },
  };
  assert.deepEqual(parseComfyPrompt(JSON.stringify(cyclic), w), { prompt: '', negativePrompt: '' });
  assert.equal(parseComfyPrompt('[1,2,3]', w), undefined);
  assert.equal(parseComfyPrompt('{not json', w), undefined);
  assert.equal(parseComfyPrompt('{"1": {"class_type": "SaveImage"}}', w), undefined);
  assert.ok(w.length >= 3);
  const iw: string[] = [];
  assert.deepEqual(parseInvokeMetadata(JSON.stringify({
    positive_prompt: 'a castle', negative_prompt: 'ugly', seed: 7, width: 832, height: 1216, steps: 30, cfg_scale: 6.5, scheduler: 'dpmpp_2m', model: { name: 'juggernaut', base: 'sdxl' },
  }), iw), { prompt: 'a castle', negativePrompt: 'ugly', seed: 7, width: 832, height: 1216, steps: 30, cfgScale: 6.5, sampler: 'K_DPMPP_2M', model: 'juggernaut' });
  assert.deepEqual(parseInvokeMetadata(JSON.stringify({ positive_prompt: 'x', seed: 'lots', width: '1024', model: 42 }), iw), { prompt: 'x' });
  assert.equal(parseInvokeMetadata(JSON.stringify({ prompt: 'no positive_prompt' }), iw), undefined);
  assert.ok(iw.some((m) => /seed/.test(m)));
});

test('the image is the truth: metadata that lies about the size, ids or values is overruled or dropped', async () => {
  const png = withPngText(await makePng(16, 8), [{
    keyword: 'schnell',
    text: JSON.stringify({ schnell: 1, id: '../../etc/passwd', prompt: 'liar', width: 4096, height: 4096, rating: 99, seed: -3, tags: 'not a list', parentId: 7, backend: 'mars', createdAt: 'tomorrow' }),
  }]);
  const info = await readImageInfo(png, 'liar.png');
  assert.equal(info.source, 'studio');
  assert.deepEqual(info.fields, { prompt: 'liar', width: 16, height: 8 });
  assert.ok(info.warnings.some((w) => /says 4096x4096 but the image is 16x8/.test(w)));
  for (const field of ['id', 'rating', 'seed', 'tags', 'parentId', 'backend', 'createdAt']) {
    assert.ok(info.warnings.some((w) => w.includes(`'${field}'`)), field);
  }
  await assert.rejects(readImageInfo(Buffer.from('GIF89a...'), 'x.gif'), /not a PNG or JPEG/);
  const unknownVersion = withPngText(await makePng(), [{ keyword: 'schnell', text: '{"schnell": 99, "prompt": "future"}' }, { keyword: 'parameters', text: 'fallback prompt' }]);
  const fallback = await readImageInfo(unknownVersion, 'future.png');
  assert.equal(fallback.source, 'a1111');
  assert.equal(fallback.fields.prompt, 'fallback prompt');
});
