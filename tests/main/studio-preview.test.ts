// The live preview of a running job, end to end below the browser: the studio core (the demo model
// in the runtime's child process, as the studio runs it by default) emits 'job.progress' with the
// PNG bytes of the image so far; the headless studio's event stream carries only a short URL for
// it, and that URL serves the PNG to the signed-in browser while the job runs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { createGenerationRequest } from '../../runtime/api/index.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import type { EventName, StudioEvents } from '../../main/contract.js';
import { Studio } from '../../main/studio.js';
import { tempDir } from './helpers.js';
import { request as httpRequest, startTestStudio, type RawResponse } from './web-helpers.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function demoModel(root: string): string {
  const model = path.join(root, 'demo');
  if (!fs.existsSync(model)) writeDemoModel(model);
  return model;
}

test("the studio's 'job.progress' carries a PNG preview of the latents from the child process", async () => {
  const root = tempDir();
  const studio = await Studio.open({ home: path.join(root, 'home'), env: {}, library: false, model: demoModel(root), backend: 'local' });
  try {
    const previews: { step: number; image: number; png: Uint8Array }[] = [];
    let progressEvents = 0;
    studio.on('job.progress', ({ progress, preview }) => {
      progressEvents++;
      if (preview) previews.push({ step: progress.step, image: progress.image, png: preview });
    });
    const request = { ...createGenerationRequest({ prompt: 'a harbour at night', seed: 3, steps: 3 }), width: 320, height: 256 };
    const { outcome } = studio.submit(request, { source: 'ui' });
    const done = await outcome;
    assert.equal(done.job.status, 'done');
    assert.equal(done.result.backend, 'local');
    assert.ok(previews.length >= 1, `none of ${progressEvents} progress events carried a preview`);
    assert.deepEqual([previews[0]!.image, previews[0]!.step], [0, 1], 'the first step shows something at once');
    for (const p of previews) {
      assert.deepEqual([...p.png.subarray(0, 8)], PNG_SIGNATURE);
      const meta = await sharp(p.png).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height], ['png', 320 / 8, 256 / 8]);
    }
  } finally {
    await studio.close();
  }
});

test('the headless studio sends a short preview URL on its event stream, and serves the PNG there while the job runs', async () => {
  const root = tempDir();
  const s = await startTestStudio({ model: demoModel(root), studio: { backend: 'local' } });
  const events = s.client.events();
  try {
    await events.ready;
    // Fetched the moment the studio announces it (the preview lives only while its job runs),
    // then the job is cancelled: the rest of an 8-step 1024² run would teach nothing more.
    let jobId = '';
    let served: Promise<RawResponse> | undefined;
    const off = s.studio.host.subscribe(<E extends EventName>(name: E, payload: StudioEvents[E]) => {
      if (name !== 'job.progress' || served) return;
      const { previewUrl } = payload as StudioEvents['job.progress'];
      if (!previewUrl) return;
      served = httpRequest(s.client.base, { path: previewUrl, headers: { Cookie: s.client.cookie } });
      void served.finally(() => s.client.call('generate.cancel', { jobId }).catch(() => undefined));
    });
    jobId = (await s.client.call<{ jobId: string }>('generate.submit', { request: { prompt: 'a tram in the rain', seed: 9, steps: 8, width: 1024, height: 1024 } })).jobId;
    await events.until((e) => e.some((x) => (x.name === 'job.cancelled' || x.name === 'job.finished') && x.data.jobId === jobId), 180_000, 'the job to end');
    off();

    const withUrl = events.events.filter((e) => e.name === 'job.progress' && e.data.jobId === jobId && e.data.previewUrl);
    assert.ok(withUrl.length >= 1, 'no job.progress on the event stream carried a previewUrl');
    for (const e of withUrl) {
      // A URL, never the image itself: each event stays a few hundred bytes however big the preview.
      assert.match(e.data.previewUrl, new RegExp(`^/previews/${jobId}\\?step=\\d+$`));
      assert.ok(JSON.stringify(e.data).length < 1000);
    }
    assert.ok(served, 'the host announced no preview');
    const r = await served;
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'image/png');
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual([...r.body.subarray(0, 8)], PNG_SIGNATURE);
    const meta = await sharp(r.body).metadata();
    assert.deepEqual([meta.width, meta.height], [1024 / 8, 1024 / 8]);

    // Once the job has ended its preview is gone.
    const after = await httpRequest(s.client.base, { path: withUrl[0]!.data.previewUrl, headers: { Cookie: s.client.cookie } });
    assert.equal(after.status, 404);
    // And without the session cookie, no preview either.
    const anonymous = await httpRequest(s.client.base, { path: withUrl[0]!.data.previewUrl });
    assert.notEqual(anonymous.status, 200);
  } finally {
    events.close();
    await s.close();
  }
});
