// Progress counted over blocks, with real files and real onnxruntime sessions: the demo model set
// with its T5 (5 blocks) and its transformer rewritten as FP8 checkpoints under the CPU's 'widen'
// policy, so both run block by block (runtime/flux/text/t5-streamed.ts, transformer-streamed.ts). The session reports each block
// in order with the run's block count; the pipeline turns them into encode events with a measured
// share that grows to 1, and lets go of its listener when the stage ends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { openComponent } from '../../../runtime/flux/checkpoints/component.js';
import { readSafetensorsHeader, readTensor, writeSafetensors } from '../../../runtime/flux/checkpoints/safetensors.js';
import { DEMO_FILES, writeDemoModel } from '../../../runtime/flux/demo/demo-model.js';
import { asFp8Checkpoint, t5Config, t5Tensors, type T5Shape } from '../../../runtime/flux/demo/demo-weights.js';
import { FluxPipeline, type GenerateParams, type StageEvent } from '../../../runtime/flux/pipeline.js';
import { loadComponent } from '../../../runtime/flux/sessions.js';
import type { WeightPolicy } from '../../../runtime/onnx/weights.js';

const WIDEN: WeightPolicy = { fp8: 'widen', compute: 'float32' };
/** The demo's T5 width (the transformer's context width), deeper: 5 blocks to count. */
const T5: T5Shape = { dModel: 32, dKv: 8, heads: 4, dFf: 64, layers: 5, vocab: 512 };

let tmp: string;
let modelDir: string;
let t5File: string;

const base: GenerateParams = {
  prompt: 'a lighthouse on a cliff', width: 64, height: 48, steps: 2, seed: 7, samples: 1,
  sampler: 'K_EULER', cfgScale: 1, format: 'png',
};

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-blocks-'));
  modelDir = writeDemoModel(path.join(tmp, 'demo')).dir;
  t5File = path.join(modelDir, DEMO_FILES.t5);
  // The common FP8 layout (2-D weights F8_E4M3, the rest BF16), as full-size T5 files have it.
  writeSafetensors(t5File, asFp8Checkpoint(t5Tensors(T5, 11)), { format: 'pt', 'schnell.untrained': 'true', 'schnell.component': 't5' });
  fs.writeFileSync(t5File.replace(/\.safetensors$/, '.config.json'), JSON.stringify(t5Config(T5)));
  const transformerFile = path.join(modelDir, DEMO_FILES.transformer);
  const stored = readSafetensorsHeader(transformerFile).tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, data: readTensor(t) }));
  writeSafetensors(transformerFile, asFp8Checkpoint(stored), { format: 'pt', 'schnell.untrained': 'true', 'schnell.component': 'transformer' });
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('a block-by-block T5 session reports each block once, in order, with the run\'s block count; the whole-graph one reports none', async () => {
  const w = openComponent('t5', t5File);
  assert.equal(w.get('encoder.block.0.layer.0.SelfAttention.q.weight')?.dtype, 'F8_E4M3');
  const ids = { input_ids: { type: 'int64' as const, dims: [1, 6], data: BigInt64Array.from([5n, 17n, 40n, 3n, 99n, 1n]) } };
  const streamed = await loadComponent('t5', w, {} as never, { policy: WIDEN, cacheDir: path.join(tmp, 'g0'), threads: 2 });
  try {
    assert.equal(streamed.session.reportsProgress, true);
    const calls: [number, number][] = [];
    streamed.session.onProgress = (done, total) => calls.push([done, total]);
    await streamed.session.run(ids);
    assert.deepEqual(calls, [[1, 5], [2, 5], [3, 5], [4, 5], [5, 5]]);
    await streamed.session.run(ids);
    assert.equal(calls.length, 10, 'each run counts its blocks from 1 again');
    assert.deepEqual(calls[5], [1, 5]);
    streamed.session.onProgress = undefined;
    await streamed.session.run(ids);
    assert.equal(calls.length, 10, 'no listener after it was cleared');
  } finally {
    await streamed.session.release();
  }
  // One onnxruntime call for the whole encoder (the 'cast' policy): nothing to report, and a
  // listener set on it is never kept.
  const whole = await loadComponent('t5', w, {} as never, { policy: { fp8: 'cast', compute: 'float32' }, cacheDir: path.join(tmp, 'g0'), threads: 2 });
  try {
    assert.equal(whole.session.reportsProgress, false);
    whole.session.onProgress = () => assert.fail('a whole-graph session has no blocks to report');
    assert.equal(whole.session.onProgress, undefined);
    await whole.session.run(ids);
  } finally {
    await whole.session.release();
  }
});

test('the pipeline reports encoding T5 block by block with a measured share that grows to 1, and lets go of its listener after the stage', async () => {
  const p = await FluxPipeline.load(openModelSet(modelDir), { cacheDir: path.join(tmp, 'g1'), policy: WIDEN, threads: 2 });
  try {
    const first: StageEvent[] = [];
    await p.generate(base, { onStage: (e) => first.push(e) });
    const blocks = first.filter((e) => e.stage === 'encode' && e.fraction !== undefined);
    // The first block always, the last always; the rest at most one per ~500 ms.
    assert.ok(blocks.length >= 2, first.map((e) => e.message).join(' | '));
    assert.equal(blocks[0]!.message, 'encoding the prompt: T5 block 1 of 5');
    assert.equal(blocks[0]!.fraction, 1 / 5);
    assert.equal(blocks.at(-1)!.message, 'encoding the prompt: T5 block 5 of 5');
    assert.equal(blocks.at(-1)!.fraction, 1);
    for (const [i, e] of blocks.entries()) {
      assert.match(e.message, /^encoding the prompt: T5 block [1-5] of 5$/);
      assert.equal(e.expectedMs, undefined, 'a measured share carries no step-time estimate');
      if (i > 0) assert.ok(e.fraction! > blocks[i - 1]!.fraction!, 'the share only grows');
    }
    // The block events come between the encode stage's start and its end.
    const kinds = first.map((e) => `${e.stage}${e.done ? ':done' : e.fraction !== undefined ? ':block' : ''}`);
    assert.ok(kinds.indexOf('encode') < kinds.indexOf('encode:block') && kinds.lastIndexOf('encode:block') < kinds.indexOf('encode:done'), kinds.join(' '));

    // Under classifier-free guidance T5 encodes the negative prompt too: the share counts both
    // prompts' blocks (the positive ends half way), and the first request's listener heard nothing more.
    const heard = first.length;
    const guided: StageEvent[] = [];
    await p.generate({ ...base, prompt: 'a harbour at dusk', negativePrompt: 'blurry', cfgScale: 2 }, { onStage: (e) => guided.push(e) });
    assert.equal(first.length, heard, 'the listener of a finished request was cleared');
    const g = guided.filter((e) => e.stage === 'encode' && e.fraction !== undefined);
    assert.deepEqual(g[0] && [g[0].message, g[0].fraction], ['encoding the prompt: T5 block 1 of 5', 1 / 10]);
    assert.deepEqual(g.filter((e) => /block 5 of 5$/.test(e.message)).map((e) => [e.message, e.fraction]), [
      ['encoding the prompt: T5 block 5 of 5', 0.5],
      ['encoding the negative prompt: T5 block 5 of 5', 1],
    ]);
    for (let i = 1; i < g.length; i++) assert.ok(g[i]!.fraction! > g[i - 1]!.fraction!);

    // A denoising step's events: measured per block (the FP8 transformer runs block by block), the
    // first block always; under guidance a step is two runs, so its first block is half as far.
    const blocksOf = (events: StageEvent[]) => events.filter((x) => x.stage === 'denoise' && x.fraction !== undefined);
    const plain = blocksOf(first), cfg = blocksOf(guided);
    assert.ok(plain.length >= 1 && cfg.length >= 1, first.concat(guided).map((e) => e.message).join(' | '));
    const total = Number(/block 1 of (\d+)$/.exec(plain[0]!.message)?.[1]);
    assert.ok(total >= 2, plain[0]!.message);
    assert.deepEqual([plain[0]!.message, plain[0]!.fraction], [`image 1 of 1, step 1 of 2, block 1 of ${total}`, 1 / total]);
    assert.deepEqual([cfg[0]!.message, cfg[0]!.fraction], [`image 1 of 1, step 1 of 2, block 1 of ${total}`, 1 / (2 * total)]);
    for (const e of [...plain, ...cfg]) {
      assert.equal(e.expectedMs, undefined, 'never an estimate and a measured share on one event');
      assert.match(e.message, /^image 1 of 1, step [12] of 2, block \d+ of \d+$/);
      assert.ok(e.fraction! > 0 && e.fraction! <= 1, String(e.fraction));
    }
  } finally {
    await p.unload();
  }
});

test('a cancel during a block-by-block step takes effect at the next block, and the pipeline generates again after it', async () => {
  const p = await FluxPipeline.load(openModelSet(modelDir), { cacheDir: path.join(tmp, 'g2'), policy: WIDEN, threads: 2 });
  try {
    const controller = new AbortController();
    const events: StageEvent[] = [];
    await assert.rejects(p.generate({ ...base, steps: 4 }, {
      signal: controller.signal,
      onStage: (e) => {
        events.push(e);
        if (e.stage === 'denoise' && /step 1 of 4, block 1 of \d+$/.test(e.message)) controller.abort();
      },
    }), (e: Error) => e.name === 'AbortError');
    const denoise = events.filter((e) => e.stage === 'denoise').map((e) => e.message);
    assert.ok(denoise.some((m) => /block 1 of/.test(m)), denoise.join(' | '));
    assert.ok(!denoise.some((m) => /step [234] of 4/.test(m)), `stopped within the first step: ${denoise.join(' | ')}`);
    const again = await p.generate(base);
    assert.equal(again.images.length, 1);
  } finally {
    await p.unload();
  }
});
