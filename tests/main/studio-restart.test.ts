// Restart: three jobs queued, the studio closed while the first one runs. The running job is marked
// interrupted with the reason, the queued two stay queued, and the next open runs them: every job
// ends exactly once and no image is recorded twice. (A SIGKILLed studio: studio-crash.e2e.test.ts.)
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { createGenerationRequest } from '../../runtime/api/index.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { Studio } from '../../main/studio.js';
import { tempDir } from './helpers.js';

test('closed mid-job: the running job is interrupted, the queued ones run on the next open, nothing lost or duplicated', async () => {
  const root = tempDir();
  const model = path.join(root, 'demo');
  writeDemoModel(model);
  const open = () => Studio.open({ home: path.join(root, 'home'), env: { ...process.env, FIREWORKS_API_KEY: '' }, library: path.join(root, 'lib'), model, backend: 'local', isolate: false });
  const req = (seed: number) => ({ ...createGenerationRequest({ prompt: `a harbour ${seed}`, seed, samples: 2, steps: 3 }), width: 64, height: 64 });

  const first = await open();
  const ids = [req(11), req(22), req(33)].map((r) => first.submit(r, { source: 'ui', project: 'restart' }).id);
  const progressed = new Promise<void>((resolve) => first.on('job.progress', ({ jobId }) => jobId === ids[0] && resolve()));
  await progressed;
  await first.close();

  const second = await open();
  try {
    assert.deepEqual(second.recovery.interrupted.map((j) => j.id), [], 'close() already marked it: nothing left running');
    assert.deepEqual(second.recovery.resumed.map((j) => j.id), ids.slice(1));
    const interrupted = second.job(ids[0]!)!;
    assert.equal(interrupted.status, 'interrupted');
    assert.match(interrupted.error!, /closed while this job was running/);
    const finished = await Promise.all(ids.slice(1).map((id) => second.wait(id)));
    assert.deepEqual(finished.map((o) => o.job.status), ['done', 'done']);
    const jobs = second.jobs();
    assert.deepEqual(jobs.map((j) => [j.id, j.status]), [[ids[0], 'interrupted'], [ids[1], 'done'], [ids[2], 'done']]);
    const rows = second.library!.page({ sort: 'oldest' }).items;
    assert.equal(rows.length, 4, 'two images for each finished job, none for the interrupted one');
    assert.deepEqual(rows.map((r) => [r.jobId, r.seed, r.source]), [[ids[1], 22, 'ui'], [ids[1], 23, 'ui'], [ids[2], 33, 'ui'], [ids[2], 34, 'ui']]);
  } finally {
    await second.close();
  }
});
