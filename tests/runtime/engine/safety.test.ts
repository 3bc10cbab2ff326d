// The safety check with a real onnxruntime session on a classifier built by GraphBuilder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { SafetyClassifier, SafetyModel, blackImageLike, locateSafetyModel, unsafeScore } from '../../../runtime/safety/classifier.js';
import { tempDir } from '../server/helpers.js';
import { installSafetyClassifier } from './safety-model.js';

const solid = (v: number, format: 'png' | 'jpeg' = 'png', w = 300, h = 200) => {
  const img = sharp({ create: { width: w, height: h, channels: 3, background: { r: v, g: v, b: v } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg().toBuffer();
};

test('the classifier sees the image: bright is flagged, dark is not (threshold 0.5)', async () => {
  const t = tempDir();
  try {
    const c = await SafetyClassifier.load(installSafetyClassifier(t.dir, 'flag-bright'));
    const white = await c.classify(await solid(255));
    const black = await c.classify(await solid(0));
    assert.ok(white.flagged && white.score > 0.99, `white ${white.score}`);
    assert.ok(!black.flagged && black.score < 0.01, `black ${black.score}`);
    // JPEG input and a non-square size go through the same preprocessing.
    assert.equal((await c.classify(await solid(250, 'jpeg', 640, 1536))).flagged, true);
    await c.release();
  } finally {
    t.cleanup();
  }
});

test('settings from safety.json: input size, normalization and threshold; broken settings are named', async () => {
  const t = tempDir();
  try {
    const file = installSafetyClassifier(t.dir, 'flag-bright');
    // With mean 0 / std 1 pixels lie in [0, 1]: mid-grey (0.5) is above the bias 0 → flagged;
    // a threshold of 0.999 un-flags it.
    fs.writeFileSync(path.join(t.dir, 'safety.json'), JSON.stringify({ inputSize: 32, mean: [0, 0, 0], std: [1, 1, 1], threshold: 0.999 }));
    const c = await SafetyClassifier.load(file);
    assert.equal(c.settings.inputSize, 32);
    const grey = await c.classify(await solid(128));
    assert.ok(grey.score > 0.9 && grey.score < 0.999 && !grey.flagged, `grey ${grey.score}`);
    await c.release();
    fs.writeFileSync(path.join(t.dir, 'safety.json'), JSON.stringify({ threshold: 2 }));
    await assert.rejects(SafetyClassifier.load(file), /threshold must be a number from 0 to 1/);
    fs.writeFileSync(path.join(t.dir, 'safety.json'), '{');
    await assert.rejects(SafetyClassifier.load(file), /safety.json is not valid JSON/);
    fs.writeFileSync(file, 'not a model');
    fs.rmSync(path.join(t.dir, 'safety.json'));
    await assert.rejects(SafetyClassifier.load(file), /could not load the safety classifier/);
  } finally {
    t.cleanup();
  }
});

test('output readings: probability, logit, class logits and class probabilities', () => {
  assert.equal(unsafeScore([0.7], { output: 'auto' }), 0.7);
  assert.ok(Math.abs(unsafeScore([0], { output: 'logit' }) - 0.5) < 1e-9);
  assert.ok(unsafeScore([4], { output: 'auto' }) > 0.98);
  assert.ok(Math.abs(unsafeScore([0.2, 0.8], { output: 'auto' }) - 0.8) < 1e-9);
  assert.ok(unsafeScore([5, -5], { output: 'auto' }) < 0.01);
  assert.ok(unsafeScore([5, -5], { output: 'auto', unsafeIndex: 0 }) > 0.99);
  assert.throws(() => unsafeScore([1, 2], { output: 'auto', unsafeIndex: 5 }), /out of range/);
  assert.throws(() => unsafeScore([NaN], { output: 'auto' }), /no usable score/);
});

test('located beside the model first, then in $SCHNELL_HOME/models/safety', () => {
  const t = tempDir();
  try {
    const modelDir = path.join(t.dir, 'model');
    const home = path.join(t.dir, 'home');
    fs.mkdirSync(modelDir);
    assert.equal(locateSafetyModel({ modelDir, home }), null);
    const shared = installSafetyClassifier(path.join(home, 'models', 'safety'), 'flag-none');
    assert.equal(locateSafetyModel({ modelDir, home }), shared);
    const own = installSafetyClassifier(modelDir, 'flag-none');
    assert.equal(locateSafetyModel({ modelDir, home }), own);
  } finally {
    t.cleanup();
  }
});

test('filter: a flagged image becomes all black, same size and format, CONTENT_FILTERED; others are untouched', async () => {
  const t = tempDir();
  try {
    installSafetyClassifier(t.dir, 'flag-bright');
    const model = new SafetyModel({ modelDir: t.dir });
    const bright = await solid(240, 'jpeg', 832, 1216);
    const dark = await solid(10, 'jpeg', 832, 1216);
    const out = await model.filter([
      { bytes: bright, seed: 1, index: 0, finishReason: 'SUCCESS', format: 'jpeg' },
      { bytes: dark, seed: 2, index: 1, finishReason: 'SUCCESS', format: 'jpeg' },
    ]);
    assert.equal(out[0]!.finishReason, 'CONTENT_FILTERED');
    const meta = await sharp(out[0]!.bytes).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['jpeg', 832, 1216]);
    assert.ok((await sharp(out[0]!.bytes).stats()).channels.every((c) => c.max <= 1));
    assert.equal(out[1]!.finishReason, 'SUCCESS');
    assert.equal(out[1]!.bytes, dark);
    // Replacing the classifier on disk takes effect without a restart.
    installSafetyClassifier(t.dir, 'flag-none');
    fs.utimesSync(path.join(t.dir, 'safety.onnx'), new Date(), new Date(Date.now() + 5000));
    assert.equal((await model.filter([{ bytes: bright, seed: 1, index: 0, finishReason: 'SUCCESS', format: 'jpeg' }]))[0]!.finishReason, 'SUCCESS');
    fs.rmSync(path.join(t.dir, 'safety.onnx'));
    assert.equal(model.locate(), null);
    await assert.rejects(model.filter([{ bytes: bright, seed: 1, index: 0, finishReason: 'SUCCESS', format: 'jpeg' }]), /safety model not installed/);
    await model.release();
    const png = await blackImageLike(await solid(200, 'png', 64, 48), 'png');
    assert.deepEqual([(await sharp(png).metadata()).format, (await sharp(png).metadata()).width], ['png', 64]);
  } finally {
    t.cleanup();
  }
});
