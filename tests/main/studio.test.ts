// The studio core with real parts: the demo model (in-process backend, to keep it fast), a real
// library in a temp folder, the real catalog. One submit from the UI source ends as a file plus a
// catalog row carrying source, seeds and finish reason; events arrive in order; cancel works.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createGenerationRequest } from '../../runtime/api/index.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { readImageInfo } from '../../main/library/index.js';
import { toNewGeneration } from '../../main/library/metadata.js';
import { Studio, type StudioEventName } from '../../main/studio.js';
import { tempDir } from './helpers.js';

const env = { ...process.env, FIREWORKS_API_KEY: '' };

async function openStudio(root: string, extra: Parameters<typeof Studio.open>[0] = {}): Promise<Studio> {
  const model = path.join(root, 'demo');
  if (!fs.existsSync(model)) writeDemoModel(model);
  return Studio.open({ home: path.join(root, 'home'), env, library: path.join(root, 'library'), model, backend: 'local', isolate: false, ...extra });
}

const request = (seed: number, samples = 1) => ({ ...createGenerationRequest({ prompt: `a lighthouse ${seed}`, seed, samples, steps: 2 }), width: 64, height: 64 });

test('a UI submit is recorded with its source, seeds and finish reason, and emits its events in order', async () => {
  const root = tempDir();
  const studio = await openStudio(root);
  try {
    const seen: StudioEventName[] = [];
    studio.onAny((name) => seen.push(name));
    const { id, outcome } = studio.submit(request(7, 2), { source: 'ui', project: 'harbour' });
    const done = await outcome;
    assert.equal(done.job.status, 'done');
    assert.equal(done.images.length, 2);
    assert.deepEqual(done.images.map((i) => i.seed), [7, 8]);
    const rows = done.images.map((i) => studio.library!.get(i.generation!.id)!);
    for (const [i, row] of rows.entries()) {
      assert.equal(row.source, 'ui');
      assert.equal(row.seed, 7 + i);
      assert.equal(row.finishReason, 'SUCCESS');
      assert.equal(row.jobId, id);
      assert.equal(row.project, 'harbour');
      assert.equal(row.backend, 'local');
      assert.equal(row.device, 'cpu');
      assert.equal(row.model, 'demo (untrained)');
      assert.ok(fs.existsSync(row.file));
      // The file says the same (a library rebuilt from its folder keeps the source and the backend).
      const info = await readImageInfo(fs.readFileSync(row.file), row.file);
      assert.deepEqual(info.warnings, []);
      assert.equal(info.source, 'ui');
      assert.equal(toNewGeneration(info, 'x'.repeat(64), 0).backend, 'local');
    }
    assert.deepEqual(studio.job(id)!.generationIds.sort(), rows.map((r) => r.id).sort());
    assert.equal(seen[0], 'job.queued');
    assert.equal(seen[1], 'job.started');
    assert.ok(seen.includes('job.progress'));
    assert.deepEqual(seen.filter((n) => n === 'job.imageSaved').length, 2);
    assert.equal(seen.at(-1), 'job.finished');
  } finally {
    await studio.close();
  }
});

test('a queued job can be cancelled; a studio without a library keeps jobs in memory and writes nothing', async () => {
  const root = tempDir();
  const studio = await openStudio(root, { library: false });
  try {
    const first = studio.submit(request(1), { source: 'cli' });
    const second = studio.submit(request(2), { source: 'cli' });
    assert.equal(studio.cancel(second.id), true);
    await assert.rejects(second.outcome);
    const done = await first.outcome;
    assert.equal(done.images[0]!.generation, null);
    assert.equal(studio.job(second.id)!.status, 'cancelled');
    assert.equal(studio.job(first.id)!.persisted, false);
    assert.equal(fs.existsSync(path.join(root, 'library')), false);
  } finally {
    await studio.close();
  }
});

test('settings: secrets are write-only and 0600; a broken config.json names the key', async () => {
  const root = tempDir();
  const studio = await openStudio(root);
  try {
    await studio.setSecret('fireworksKey', 'fw-test-key-123456');
    assert.deepEqual(await studio.secretsSet(), { fireworksKey: true, huggingFaceToken: false });
    const file = path.join(root, 'home', 'secrets.json');
    if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    studio.updateSettings({ device: 'cpu' });
    assert.equal(studio.settings().device, 'cpu');
    fs.writeFileSync(path.join(root, 'home', 'config.json'), JSON.stringify({ backend: 'gpu' }));
    assert.throws(() => studio.settings(), /config\.json: "backend" must be "local", "cloud" or "auto"/);
  } finally {
    await studio.close();
  }
});
