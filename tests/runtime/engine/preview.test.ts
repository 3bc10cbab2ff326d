// Live previews from the local runtime: a generation with the demo model (the real writer and the
// real pipeline) in the runtime's child process, as the studio runs it, reports progress events
// that carry a small PNG of the image so far, across the process boundary.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { createGenerationRequest } from '../../../runtime/api/index.js';
import { createLocalBackend, fluxBackendSpec } from '../../../runtime/engine/local.js';
import { ProcessBackend } from '../../../runtime/engine/process-backend.js';
import type { ProgressEvent } from '../../../runtime/engine/types.js';
import { writeTempDemoModel } from '../server/helpers.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

let demo: Awaited<ReturnType<typeof writeTempDemoModel>>;
before(async () => {
  demo = await writeTempDemoModel();
});
after(() => demo.cleanup());

test('a local generation in the child process sends PNG previews of its latents with its step events', async () => {
  const backend = createLocalBackend(fluxBackendSpec({ modelPath: demo.dir }), { isolate: true });
  assert.ok(backend instanceof ProcessBackend);
  const events: Omit<ProgressEvent, 'backend'>[] = [];
  try {
    const request = { ...createGenerationRequest({ prompt: 'a lighthouse at dusk', seed: 5, steps: 4, samples: 2 }), width: 256, height: 192 };
    const out = await backend.generate(request, { onProgress: (e) => events.push(e) });
    assert.equal(out.images.length, 2);
    assert.ok(backend.pid, 'the generation ran in a child process');
  } finally {
    await backend.unload();
  }

  const withPreview = events.filter((e) => e.preview !== undefined);
  assert.ok(withPreview.length >= 1, `no progress event carried a preview (${events.length} events)`);
  // Only step events carry one, never a stage event or a repeat, and at most one per step.
  assert.ok(withPreview.every((e) => e.stage === undefined && e.message === undefined));
  assert.ok(withPreview.length <= 4 * 2);
  // The first step of the request shows something at once.
  const firstStep = events.find((e) => e.stage === undefined)!;
  assert.deepEqual([firstStep.image, firstStep.step], [0, 1]);
  assert.ok(firstStep.preview, 'the first step carries a preview');

  for (const e of withPreview) {
    const png = e.preview!;
    assert.ok(png instanceof Uint8Array);
    assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
    // One pixel per latent cell: 1/8 of the image, decodable.
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [256 / 8, 192 / 8]);
    assert.equal(data.length, (256 / 8) * (192 / 8) * info.channels);
  }

  // A preview arrives with the step it shows: no later step was reported before it.
  const order = events.filter((e) => e.stage === undefined).map((e) => e.image * 4 + e.step);
  assert.deepEqual(order, [...order].sort((a, b) => a - b));
});
