import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fitModel } from '../../../runtime/models/fit-model.js';
import { loadManifest } from '../../../runtime/models/manifest.js';
import { openComponent } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { bytesOnDevice, checkFit, cpuMemory, estimateFromParams, estimateMemory, parseNvidiaSmi, queryNvidiaGpus, reportedGpu, shapeOf } from '../../../runtime/models/fit.js';
import { readSafetensorsHeader } from '../../../runtime/flux/checkpoints/safetensors.js';
import { PARTS, tiny } from './checkpoints.js';

const GiB = 1024 ** 3;

test('FP8 stays one byte per value on a GPU; the CPU path widens every float to four', () => {
  assert.equal(bytesOnDevice({ dtype: 'F8_E4M3', shape: [10, 10] }, 'gpu'), 100);
  assert.equal(bytesOnDevice({ dtype: 'BF16', shape: [10, 10] }, 'gpu'), 200);
  assert.equal(bytesOnDevice({ dtype: 'F32', shape: [10] }, 'gpu'), 40);
  assert.equal(bytesOnDevice({ dtype: 'F8_E4M3', shape: [10, 10] }, 'cpu'), 100); // kept FP8 when widening does not fit
  assert.equal(bytesOnDevice({ dtype: 'BF16', shape: [10, 10] }, 'cpu'), 400);
  assert.equal(bytesOnDevice({ dtype: 'I64', shape: [3] }, 'cpu'), 24);
});

test('the estimate for a real (tiny) checkpoint counts its tensors by dtype and reads its widths', () => {
  const tensors = (w: ReturnType<typeof openComponent>) => w.keys().map((k) => ({ ...w.get(k)!, name: k }));
  const parts = {
    transformer: tensors(openComponent('transformer', tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'))),
    autoencoder: tensors(openComponent('autoencoder', PARTS.autoencoder)), t5: tensors(openComponent('t5', PARTS.t5)), clip: tensors(openComponent('clip', PARTS.clip)),
  };
  const gpu = estimateMemory(parts, { device: 'gpu', width: 64, height: 64 });
  const cpu = estimateMemory(parts, { device: 'cpu', width: 64, height: 64 });
  const h = readSafetensorsHeader(tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'));
  const stored = h.tensors.reduce((n, t) => n + t.length, 0);
  const elements = h.tensors.reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
  assert.equal(gpu.weights.transformer, stored, 'GPU: as stored');
  // CPU, FP8 kept stored: the transformer runs block by block (runtime/flux/transformer-streamed.ts):
  // two float32 sets of its largest block's matrices and a packed copy of its largest matrix; the
  // blocks' vectors are read as they run; entry and exit weights widened to float32 at load.
  const size = (t: { shape: number[] }) => t.shape.reduce((a, b) => a * b, 1);
  const blockOf = (name: string) => /^((?:double|single)_blocks\.\d+)\./.exec(name)?.[1];
  const perBlock = new Map<string, number>();
  let largest = 0, ends = 0;
  for (const t of h.tensors) {
    const b = blockOf(t.name);
    if (b === undefined) ends += size(t);
    else if (t.shape.length === 2) {
      assert.equal(t.dtype, 'F8_E4M3', t.name);
      perBlock.set(b, (perBlock.get(b) ?? 0) + size(t));
      largest = Math.max(largest, size(t));
    }
  }
  assert.ok(perBlock.size >= 2 && ends > 0);
  assert.equal(cpu.weights.transformer, 2 * 4 * Math.max(...perBlock.values()) + 4 * largest + 4 * ends, 'CPU: streamed blocks, entry and exit widened');
  assert.ok(cpu.weights.transformer < elements * 4, 'less than the whole transformer widened');
  const t5 = readSafetensorsHeader(PARTS.t5).tensors.reduce((n, t) => n + t.length, 0);
  assert.equal(gpu.weights.t5, t5, 'T5\'s shared embedding (two names, one tensor) counted once');
  assert.equal(shapeOf(parts).hidden, 64);
  assert.equal(shapeOf(parts).t5Width, 48);
  assert.ok(cpu.weightsBytes > gpu.weightsBytes, 'the CPU widens 16-bit floats to float32');
  const big = estimateMemory(parts, { device: 'gpu', width: 2048, height: 2048 });
  assert.ok(big.activationsBytes > gpu.activationsBytes * 100, 'activations grow with the resolution');
  const fit = checkFit(cpu, cpuMemory(), 'tiny');
  assert.equal(fit.fits, true, fit.message);
});

test('FLUX.1 [schnell] FP8 on cards of several sizes: fits, fits sequentially, tight, does not fit (offer the cloud)', () => {
  const parts = {
    transformer: { params: 11_901_408_320, precision: 'fp8' }, t5: { params: 4_762_310_656, precision: 'fp8' },
    clip: { params: 123_060_480, precision: 'fp16' }, autoencoder: { params: 83_819_683, precision: 'fp32' },
  };
  const est = estimateFromParams(parts, { device: 'gpu' });
  assert.ok(est.weights.transformer === 11_901_408_320, 'one byte per FP8 parameter');
  assert.ok(est.totalBytes > 18 * GiB && est.totalBytes < 20 * GiB, `total ${est.totalBytes / GiB} GiB`);

  const big = checkFit(est, reportedGpu(80 * GiB, 78 * GiB, 'H100'), 'FLUX.1 [schnell] FP8');
  assert.deepEqual([big.fits, big.sequentialOnly, big.suggestion], [true, false, undefined]);
  assert.match(big.message, /fits H100/);

  const card16 = checkFit(est, reportedGpu(16 * GiB, 15.5 * GiB), 'FLUX.1 [schnell] FP8');
  assert.deepEqual([card16.fits, card16.sequentialOnly], [true, true]);
  assert.match(card16.message, /text encoders are released after each prompt is encoded/);
  assert.deepEqual(card16.estimate.plan, { keepTextEncoders: false, keepTransformer: false });

  const busy = checkFit(est, reportedGpu(24 * GiB, 6 * GiB), 'FLUX.1 [schnell] FP8');
  assert.deepEqual([busy.fits, busy.tight, busy.suggestion], [false, true, 'cloud']);
  assert.match(busy.message, /close other programs, generate in the cloud/);

  const small = checkFit(est, reportedGpu(8 * GiB), 'FLUX.1 [schnell] FP8');
  assert.deepEqual([small.fits, small.tight, small.suggestion], [false, false, 'cloud']);
  assert.match(small.message, /too small; generate in the cloud \(Fireworks\)/);

  // The CPU keeps FP8 stored unless every weight widened fits in 75 % of the free memory, as the
  // runtime's policy does: the manifest entry and the files give the same answer.
  const cpu = estimateFromParams(parts, { device: 'cpu', freeBytes: 20 * GiB });
  assert.equal(cpu.fp8, 'stored');
  // Kept FP8 and run block by block: two float32 sets of a double block's matrices (36·h² each), a
  // packed copy of the largest layer (7·h²), entry and exit widened at load (4·h² + 5248·h).
  const h = 3072;
  assert.equal(cpu.weights.transformer, 4 * ((2 * 36 + 7 + 4) * h * h + 5248 * h), 'kept FP8 on a 24 GB machine');
  const roomy = estimateFromParams(parts, { device: 'cpu', freeBytes: 120 * GiB });
  assert.equal(roomy.weights.transformer, 11_901_408_320 * 4, 'widened once at load when it fits');
  const at24 = checkFit(cpu, { ...cpuMemory(), totalBytes: 24 * GiB, freeBytes: 20 * GiB }, 'FLUX.1 [schnell] FP8');
  assert.equal(at24.fits, true, at24.message);
  // The CPU reads the transformer's FP8 blocks from its file on every step. With 20 GiB free at
  // 1024² the plan releases components by stage so the file cache keeps that file (keeping all
  // loaded would leave too little room and every step would read the disk).
  const streamed = cpu.input.components.transformer.streamed!;
  assert.ok(streamed > 11e9 && streamed < 11_901_408_320, 'the blocks\' FP8 bytes, not the entry and exit');
  assert.deepEqual(at24.estimate.plan, { keepTextEncoders: false, keepTransformer: false });
  assert.ok(Math.max(...Object.values(at24.estimate.stages)) + streamed <= 20 * GiB);
  assert.equal(at24.rereadsWeights, undefined, at24.message);
  // At 512² everything stays loaded and the file still fits in the cache beside it.
  const at24small = checkFit(estimateFromParams(parts, { device: 'cpu', freeBytes: 20 * GiB, width: 512, height: 512 }), { ...cpuMemory(), totalBytes: 24 * GiB, freeBytes: 20 * GiB }, 'FLUX.1 [schnell] FP8');
  assert.deepEqual(at24small.estimate.plan, { keepTextEncoders: true, keepTransformer: true });
  assert.ok(at24small.estimate.stages.denoise > cpu.weights.transformer + cpu.weights.t5, 'kept components count in every stage');
  // With 8 GiB free it still fits, released by stage, but the file cannot stay cached: said, not refused.
  const at8 = checkFit(cpu, { ...cpuMemory(), totalBytes: 24 * GiB, freeBytes: 8 * GiB }, 'FLUX.1 [schnell] FP8');
  assert.equal(at8.fits, true, at8.message);
  assert.deepEqual(at8.estimate.plan, { keepTextEncoders: false, keepTransformer: false }, 'released by stage');
  assert.ok(at8.estimate.stages.text < at8.estimate.stages.denoise, 'T5 is gone before the transformer runs');
  assert.equal(at8.rereadsWeights, true);
  assert.match(at8.message, /it fits this computer's memory .*; the [\d.]+ GiB of transformer weights it reads on every step do not also fit in the file cache, so each step reads them from disk \(slower; [\d.]+ GiB free avoids it\)\.$/);
  const busy24 = checkFit(cpu, { ...cpuMemory(), totalBytes: 24 * GiB, freeBytes: 5 * GiB }, 'FLUX.1 [schnell] FP8');
  assert.equal(busy24.fits, false);
  assert.equal(busy24.suggestion, 'cloud');
  assert.match(busy24.message, /^FLUX\.1 \[schnell\] FP8 needs about [\d.]+ GiB at 1024x1024 \(text encoders .*\), more than is free .*; close other programs, generate at \d+x\d+ or smaller, or in the cloud \(Fireworks\)\.$/);
  assert.ok(busy24.fitsAt && busy24.fitsAt.width < 1024);
});

test('nvidia-smi output is parsed (MiB, with or without a header); a missing nvidia-smi means no GPUs', async () => {
  const gpus = parseNvidiaSmi('name, memory.total [MiB], memory.free [MiB]\nNVIDIA H100 80GB HBM3, 81559, 80873\nNVIDIA RTX 4090, 24564 MiB, 1200 MiB\n');
  assert.deepEqual(gpus.map((g) => [g.name, g.totalBytes / 1024 ** 2, g.freeBytes / 1024 ** 2]), [['NVIDIA H100 80GB HBM3', 81559, 80873], ['NVIDIA RTX 4090', 24564, 1200]]);
  assert.deepEqual(parseNvidiaSmi('No devices were found'), []);
  assert.deepEqual(await queryNvidiaGpus({ command: '/nonexistent/nvidia-smi' }), []);
});

test('a model still being downloaded (its folder partial) is measured from the manifest, not refused as "not installed"', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-fit-'));
  try {
    // What a paused download leaves: the model's folder with one .part file and nothing else.
    fs.mkdirSync(path.join(home, 'models', 'flux1-schnell-fp8'), { recursive: true });
    fs.writeFileSync(path.join(home, 'models', 'flux1-schnell-fp8', 'flux1-schnell-fp8-e4m3fn.safetensors.part'), Buffer.alloc(1024));
    const r = await fitModel('flux1-schnell-fp8', { home, manifest: loadManifest(), device: reportedGpu(80 * GiB, 78 * GiB, 'H100') });
    assert.equal(r.fits, true);
    assert.match(r.message, /fits H100/);
    assert.ok(r.estimate.totalBytes > 18 * GiB, 'the real model\'s estimate, from the manifest');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
