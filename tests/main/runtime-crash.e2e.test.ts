// The local runtime runs in its own process. Killed mid-job (SIGKILL, as the system does when memory
// runs out), the job fails with a sentence naming the cause, the studio says the runtime restarted,
// keeps answering throughout, and the next job runs on a fresh runtime process.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ProcessBackend } from '../../runtime/engine/process-backend.js';
import { ensureDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { startTestStudio } from './web-helpers.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-crash-'));
after(() => fs.rmSync(home, { recursive: true, force: true }));

test('a runtime killed mid-job fails that job with its reason; the next job succeeds', { timeout: 300_000 }, async () => {
  const model = ensureDemoModel(path.join(home, 'demo-model'));
  const s = await startTestStudio({ home, model });
  const events = s.client.events();
  await events.ready;
  try {
    const first = (await s.client.call('generate.submit', { request: { prompt: 'cut short', width: 1024, height: 1024, steps: 6 } })).jobId;
    await events.until((e) => e.some((x) => x.name === 'job.progress' && x.data.jobId === first), 120_000, 'first progress');
    const backend = s.studio.host.studio.router.local as ProcessBackend;
    const pid = backend.pid;
    assert.ok(pid, 'the runtime runs in a child process');
    assert.notEqual(pid, process.pid);

    // Keep asking the studio while the runtime dies: every answer must come.
    let answers = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        await s.client.call('queue.list');
        answers++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    process.kill(pid, 'SIGKILL');
    await events.until((e) => e.some((x) => x.name === 'job.failed' && x.data.jobId === first), 60_000, 'first failed');
    polling = false;
    await poll;
    assert.ok(answers > 0);

    const failed = events.events.find((e) => e.name === 'job.failed' && e.data.jobId === first)!.data;
    assert.match(failed.error, /local runtime (was )?stopped/);
    assert.match(failed.error, /SIGKILL|by the system/, 'the cause is named');
    assert.ok(events.events.some((e) => e.name === 'runtime.restarted'), 'the UI is told the runtime restarts');
    const job = (await s.client.call('queue.list')).find((j: { id: string }) => j.id === first);
    assert.equal(job.status, 'failed');
    assert.equal(job.error, failed.error);

    const second = (await s.client.call('generate.submit', { request: { prompt: 'after the crash', width: 1024, height: 1024, steps: 1 } })).jobId;
    await events.until((e) => e.some((x) => (x.name === 'job.finished' || x.name === 'job.failed') && x.data.jobId === second), 120_000, 'second ended');
    assert.ok(events.events.some((e) => e.name === 'job.finished' && e.data.jobId === second), JSON.stringify(events.events.filter((e) => e.data.jobId === second)));
    assert.ok(backend.pid && backend.pid !== pid, 'a fresh runtime process');
    const page = await s.client.call('library.search', {});
    assert.deepEqual(page.items.map((g: { prompt: string }) => g.prompt), ['after the crash']);
  } finally {
    events.close();
    await s.close();
  }
});
