// FluxPipeline end to end on the untrained demo model (real files, real sessions): seeds,
// samples, progress, previews, cancellation, guidance, formats, unload, and bad input.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { DEMO_FILES, DEMO_MODEL_NAME, writeDemoModel } from '../../../runtime/flux/demo/demo-model.js';
import { FluxPipeline, type GenerateParams, type Progress } from '../../../runtime/flux/pipeline.js';
import { readSafetensorsHeader } from '../../../runtime/flux/checkpoints/safetensors.js';
import { isApiError } from '../../../runtime/api/errors.js';

let tmp: string;
let modelDir: string;
let pipeline: FluxPipeline;

const base: GenerateParams = {
  prompt: 'a lighthouse on a cliff', width: 64, height: 48, steps: 3, seed: 1234, samples: 1,
  sampler: 'K_EULER', cfgScale: 1, format: 'png',
};
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  modelDir = writeDemoModel(path.join(tmp, 'demo')).dir;
  pipeline = await FluxPipeline.load(openModelSet(modelDir), { cacheDir: path.join(tmp, 'graphs') });
});

after(async () => {
  await pipeline?.unload();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('the demo model is labelled untrained in its manifest, name, README and every weight file', () => {
  const set = openModelSet(modelDir);
  assert.equal(set.untrained, true);
  assert.equal(set.name, DEMO_MODEL_NAME);
  assert.match(set.name, /untrained/);
  assert.match(fs.readFileSync(path.join(modelDir, 'README.txt'), 'utf8'), /UNTRAINED/);
  for (const w of [set.transformer, set.autoencoder, set.t5, set.clip]) {
    const meta = readSafetensorsHeader(w.files[0]!).metadata;
    assert.equal(meta['schnell.untrained'], 'true', w.files[0]);
    assert.match(meta.description ?? '', /UNTRAINED/);
  }
  assert.equal(pipeline.info.untrained, true);
});

test('the demo weights stay labelled untrained when opened without the demo manifest', () => {
  const m = JSON.parse(fs.readFileSync(path.join(modelDir, 'schnell-model.json'), 'utf8')) as Record<string, unknown>;
  const file = (name: string) => path.join(modelDir, DEMO_FILES[name as keyof typeof DEMO_FILES]);
  const spec = {
    transformer: file('transformer'), autoencoder: file('autoencoder'), t5: file('t5'), clip: file('clip'),
    clipTokenizer: path.join(modelDir, 'tokenizer'), t5Tokenizer: path.join(modelDir, 'tokenizer_2'), name: 'my model',
  };
  assert.equal(openModelSet(spec).untrained, true);
  // A manifest of its own that leaves "untrained" out does not make the weights trained either.
  const other = fs.mkdtempSync(path.join(tmp, 'relabelled-'));
  for (const f of fs.readdirSync(modelDir)) fs.cpSync(path.join(modelDir, f), path.join(other, f), { recursive: true });
  const { untrained: _, ...rest } = m;
  fs.writeFileSync(path.join(other, 'schnell-model.json'), JSON.stringify({ ...rest, name: 'renamed' }));
  const set = openModelSet(other);
  assert.equal(set.name, 'renamed');
  assert.equal(set.untrained, true);
  // Weights without the mark are not called untrained.
  const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');
  const tiny = (f: string) => path.join(fixtures, 'flux-tiny', f);
  assert.equal(openModelSet({
    transformer: tiny('tiny-flux1-schnell.safetensors'), autoencoder: tiny('tiny-ae.safetensors'), t5: tiny('tiny-t5xxl.safetensors'), clip: tiny('tiny-clip_l.safetensors'),
    clipTokenizer: path.join(fixtures, 'tokenizers', 'clip'), t5Tokenizer: path.join(fixtures, 'tokenizers', 't5'),
  }).untrained, false);
});

test('the demo model is deterministic: writing it again gives the same bytes', () => {
  const again = writeDemoModel(path.join(tmp, 'demo-again'));
  const rel = (f: string, root: string) => path.relative(root, f);
  const first = writeDemoModel(modelDir); // rewriting its own folder is allowed
  assert.deepEqual(again.files.map((f) => rel(f, again.dir)), first.files.map((f) => rel(f, first.dir)));
  for (const f of first.files) {
    assert.equal(sha(fs.readFileSync(path.join(again.dir, rel(f, first.dir)))), sha(fs.readFileSync(f)), rel(f, first.dir));
  }
});

test('the demo model refuses to write into a folder that holds other files', () => {
  const dir = path.join(tmp, 'someone-elses');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'keep me');
  assert.throws(() => writeDemoModel(dir), /not empty and holds no demo model/);
  assert.equal(fs.readFileSync(path.join(dir, 'notes.txt'), 'utf8'), 'keep me');
});

test('a PNG of the requested size; the same seed gives identical bytes, another seed different ones', async () => {
  const a = await pipeline.generate(base);
  const b = await pipeline.generate(base);
  const c = await pipeline.generate({ ...base, seed: 1235 });
  assert.equal(a.images.length, 1);
  const img = a.images[0]!;
  assert.deepEqual([img.index, img.seed, img.format, img.width, img.height, img.finishReason], [0, 1234, 'png', 64, 48, 'SUCCESS']);
  const meta = await sharp(img.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 48, 3]);
  assert.equal(sha(b.images[0]!.bytes), sha(img.bytes));
  assert.notEqual(sha(c.images[0]!.bytes), sha(img.bytes));
  // Not a flat image: the untrained model still makes colour variation.
  const stats = await sharp(img.bytes).stats();
  assert.ok(stats.channels.some((ch) => ch.stdev > 1), 'image has variation');
  assert.equal(a.timings.transformerRuns, 3);
  assert.ok(a.timings.sessionRunMs > 0 && a.timings.sessionRunMs <= a.timings.wallMs);
});

test('samples use seed, seed+1, seed+2, each the same image a single request with that seed gives', async () => {
  const many = await pipeline.generate({ ...base, samples: 3 });
  assert.deepEqual(many.images.map((i) => [i.index, i.seed]), [[0, 1234], [1, 1235], [2, 1236]]);
  const second = await pipeline.generate({ ...base, seed: 1235 });
  assert.equal(sha(many.images[1]!.bytes), sha(second.images[0]!.bytes));
  assert.equal(new Set(many.images.map((i) => sha(i.bytes))).size, 3);
});

test('seeds wrap at 2^32', async () => {
  const r = await pipeline.generate({ ...base, seed: 4294967295, samples: 2 });
  assert.deepEqual(r.images.map((i) => i.seed), [4294967295, 0]);
  const zero = await pipeline.generate({ ...base, seed: 0 });
  assert.equal(sha(r.images[1]!.bytes), sha(zero.images[0]!.bytes));
});

test('JPEG output decodes at the requested size and honours the quality', async () => {
  const hi = await pipeline.generate({ ...base, format: 'jpeg', jpegQuality: 95 });
  const lo = await pipeline.generate({ ...base, format: 'jpeg', jpegQuality: 5 });
  const meta = await sharp(hi.images[0]!.bytes).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 64, 48]);
  assert.equal(hi.images[0]!.format, 'jpeg');
  assert.ok(lo.images[0]!.bytes.length < hi.images[0]!.bytes.length);
});

test('progress after every step of every image, with a small PNG preview', async () => {
  const events: Progress[] = [];
  await pipeline.generate({ ...base, steps: 4, samples: 2 }, { onProgress: (p) => events.push(p) });
  assert.deepEqual(events.map((e) => [e.sample, e.step, e.steps, e.seed]), [
    [0, 1, 4, 1234], [0, 2, 4, 1234], [0, 3, 4, 1234], [0, 4, 4, 1234],
    [1, 1, 4, 1235], [1, 2, 4, 1235], [1, 3, 4, 1235], [1, 4, 4, 1235],
  ]);
  const preview = await events[2]!.preview();
  const meta = await sharp(preview).metadata();
  // One pixel per latent cell: 1/8 of the image.
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 8, 6]);
});

test('an AbortSignal stops the generation between steps with an AbortError', async () => {
  const controller = new AbortController();
  const steps: number[] = [];
  const runsBefore = (await pipeline.generate(base)).timings.transformerRuns;
  assert.equal(runsBefore, 3);
  await assert.rejects(
    pipeline.generate({ ...base, steps: 6, samples: 2 }, {
      signal: controller.signal,
      onProgress: (p) => {
        steps.push(p.step);
        if (p.step === 2) controller.abort();
      },
    }),
    (e: Error) => e.name === 'AbortError' && /cancelled/.test(e.message),
  );
  assert.deepEqual(steps, [1, 2]);
  // An already-aborted signal runs nothing, and the pipeline keeps working afterwards.
  await assert.rejects(pipeline.generate(base, { signal: AbortSignal.abort() }), { name: 'AbortError' });
  assert.equal((await pipeline.generate(base)).images.length, 1);
});

test('true CFG: a negative prompt with cfg_scale > 1 runs the model twice per step and changes the image', async () => {
  const plain = await pipeline.generate(base);
  const ignored = await pipeline.generate({ ...base, negativePrompt: 'blurry', cfgScale: 1 });
  const guided = await pipeline.generate({ ...base, negativePrompt: 'blurry', cfgScale: 4 });
  const noNegative = await pipeline.generate({ ...base, cfgScale: 4 });
  assert.equal(sha(ignored.images[0]!.bytes), sha(plain.images[0]!.bytes));
  assert.equal(sha(noNegative.images[0]!.bytes), sha(plain.images[0]!.bytes));
  assert.equal(guided.timings.transformerRuns, 2 * base.steps);
  assert.notEqual(sha(guided.images[0]!.bytes), sha(plain.images[0]!.bytes));
});

test('the prompt changes the image; DPM-Solver++(2M) runs and differs from Euler', async () => {
  const a = await pipeline.generate(base);
  const b = await pipeline.generate({ ...base, prompt: 'a bowl of fruit' });
  assert.notEqual(sha(a.images[0]!.bytes), sha(b.images[0]!.bytes));
  // From t = 1 DPM-Solver++(2M)'s first two steps are first order (= Euler for a flow); with
  // five steps its second-order updates change the result.
  const euler5 = await pipeline.generate({ ...base, steps: 5 });
  const dpm5 = await pipeline.generate({ ...base, steps: 5, sampler: 'K_DPMPP_2M' });
  assert.notEqual(sha(euler5.images[0]!.bytes), sha(dpm5.images[0]!.bytes));
});

test('bad input is refused with a sentence naming the field, before any work', async () => {
  const cases: [Partial<GenerateParams>, RegExp, string][] = [
    [{ sampler: 'K_LMS' as GenerateParams['sampler'] }, /sampler must be K_EULER or K_DPMPP_2M/, 'sampler'],
    [{ width: 100 }, /width must be a multiple of 16/, 'width'],
    [{ height: 0 }, /height must be a multiple of 16/, 'height'],
    [{ width: 8192 }, /width must be a multiple of 16 from 16 to 4096/, 'width'],
    [{ steps: 0 }, /steps must be an integer/, 'steps'],
    [{ samples: 1.5 }, /samples must be a positive integer/, 'samples'],
    [{ seed: -1 }, /seed must be an integer from 0 to 4294967295/, 'seed'],
    [{ seed: 2 ** 32 }, /seed must be/, 'seed'],
    [{ cfgScale: Number.NaN }, /cfgScale/, 'cfg_scale'],
    [{ format: 'gif' as GenerateParams['format'] }, /format must be png or jpeg/, 'format'],
  ];
  for (const [patch, message, param] of cases) {
    await assert.rejects(pipeline.generate({ ...base, ...patch }), (e: unknown) => {
      assert.ok(isApiError(e), `${JSON.stringify(patch)} gives an ApiError`);
      assert.match(e.message, message);
      assert.equal(e.param, param);
      return true;
    });
  }
});

test('unload releases the sessions; generating afterwards says to load again', async () => {
  const p = await FluxPipeline.load(openModelSet(modelDir), { cacheDir: path.join(tmp, 'graphs') });
  assert.equal(p.loaded, true);
  const pending = p.generate(base);
  await p.unload(); // waits for the running generation
  assert.equal((await pending).images.length, 1);
  assert.equal(p.loaded, false);
  await assert.rejects(p.generate(base), /unloaded; load it again/);
  await p.unload(); // twice is fine
});

test('a model set whose parts do not fit together is refused at load, naming the mismatch', async () => {
  const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/fixtures');
  const set = openModelSet(modelDir);
  // The fixture's T5 is 48 wide; the demo transformer expects 32.
  const { openComponent } = await import('../../../runtime/flux/checkpoints/checkpoint.js');
  const mixed = { ...set, t5: openComponent('t5', path.join(fixtures, 'flux-tiny', 'tiny-t5xxl.safetensors')) };
  await assert.rejects(FluxPipeline.load(mixed, { cacheDir: path.join(tmp, 'graphs') }), /T5 encoder's width \(48\) does not fit the transformer \(32\)/);
  // The real CLIP tokenizer (49,408 tokens) with the demo's 1,024-token CLIP.
  const wrongTokenizer = { ...set, tokenizers: { ...set.tokenizers, clip: path.join(fixtures, 'tokenizers', 'clip') } };
  await assert.rejects(FluxPipeline.load(wrongTokenizer, { cacheDir: path.join(tmp, 'graphs') }), /CLIP tokenizer in .* has 49408 tokens but the CLIP encoder only 1024/);
});

test('an unavailable device falls back to the CPU and says why', async () => {
  const p = await FluxPipeline.load(openModelSet(modelDir), { provider: process.platform === 'darwin' ? 'dml' : 'coreml', cacheDir: path.join(tmp, 'graphs') });
  try {
    assert.equal(p.info.provider, 'cpu');
    assert.match(p.info.fallbackReason ?? '', /not available here.*using the CPU/);
    // The GPU weight policy was replaced by the CPU's once the CPU took over.
    assert.deepEqual(p.info.policy, { fp8: 'cast', compute: 'float32' });
    assert.equal((await p.generate(base)).images.length, 1);
  } finally {
    await p.unload();
  }
});

test('the CPU widens FP8 once when it fits in memory, keeps it FP8 when not; GPUs use the table', async () => {
  const { choosePolicy } = await import('../../../runtime/flux/sessions.js');
  const fake = (dtype: 'F8_E4M3' | 'F32', params: number) => ({
    component: 'transformer', files: [], has: () => true, keys: () => ['w'], scaleOf: () => undefined,
    get: () => ({ name: 'w', dtype, shape: [params], file: '', offset: 0, length: params }),
    require: () => ({ name: 'w', dtype, shape: [params], file: '', offset: 0, length: params }),
  });
  const gb = 2 ** 30;
  assert.deepEqual(choosePolicy('cpu', [fake('F8_E4M3', 1e9)], 8 * gb), { fp8: 'cast', compute: 'float32' });
  assert.deepEqual(choosePolicy('cpu', [fake('F8_E4M3', 12e9)], 32 * gb), { fp8: 'widen', compute: 'float32' });
  assert.deepEqual(choosePolicy('cpu', [fake('F32', 12e9)], 1 * gb), { fp8: 'cast', compute: 'float32' });
  assert.deepEqual(choosePolicy('cuda', [fake('F8_E4M3', 1e9)], 64 * gb), { fp8: 'dequantize', compute: 'float16' });
  assert.deepEqual(choosePolicy('webgpu', [fake('F8_E4M3', 1e9)], 64 * gb), { fp8: 'table', compute: 'float16' });
});
