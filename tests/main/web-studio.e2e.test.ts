// The headless studio driven over HTTP as the UI drives it, on the untrained demo model: three
// generations with their events in order, one cancelled mid-run, a remix with its parent recorded,
// then a restart with a job running and one queued: the catalog, the files and the lineage are
// intact, the running job is marked interrupted with its reason, and the queued job finishes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ensureDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { request, startTestStudio, type TestStudio } from './web-helpers.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-studio-'));
after(() => fs.rmSync(home, { recursive: true, force: true }));
const model = ensureDemoModel(path.join(home, 'demo-model'));
const small = { width: 1024, height: 1024, steps: 2 };

test('generate, cancel, remix, restart: everything the UI made is still there', { timeout: 600_000 }, async () => {
  let s: TestStudio = await startTestStudio({ home, model });
  const events = s.client.events();
  await events.ready;
  try {
    // Three generations; the first is cancelled as soon as it reports progress.
    const a = (await s.client.call('generate.submit', { request: { prompt: 'a lighthouse at dusk', seed: 11, ...small } })).jobId;
    const b = (await s.client.call('generate.submit', { request: { prompt: 'a red fox in snow', seed: 22, ...small }, project: 'foxes' })).jobId;
    const c = (await s.client.call('generate.submit', { request: { prompt: 'a tram in the rain', seed: 33, ...small } })).jobId;
    await events.until((e) => e.some((x) => x.name === 'job.progress' && x.data.jobId === a), 120_000, `progress of ${a}`);
    assert.deepEqual(await s.client.call('generate.cancel', { jobId: a }), { cancelled: true });
    await events.until((e) => [b, c].every((j) => e.some((x) => x.name === 'job.finished' && x.data.jobId === j)), 300_000, 'b and c finished');

    // Events arrive in order for each job.
    assert.deepEqual(events.of(a).filter((n) => n !== 'job.progress'), ['job.queued', 'job.started', 'job.cancelled']);
    for (const j of [b, c]) {
      const names = events.of(j);
      const order = ['job.queued', 'job.started', 'job.progress', 'job.imageSaved', 'job.finished'];
      assert.deepEqual([...new Set(names)], order, `${j}: ${names.join(', ')}`);
      // Denoising steps only go up, to the last one (stage reports such as decoding may follow).
      const steps = events.events.filter((e) => e.name === 'job.progress' && e.data.jobId === j).map((e) => e.data.progress.step as number);
      const untilLast = steps.slice(0, steps.indexOf(small.steps) + 1);
      assert.ok(untilLast.length > 0, `the last step is reported: ${steps.join(',')}`);
      assert.deepEqual(untilLast, [...untilLast].sort((x, y) => x - y), 'steps only go up');
    }
    // The jobs ran one after the other: b started after a was cancelled.
    const at = (name: string, jobId: string) => events.events.findIndex((e) => e.name === name && e.data.jobId === jobId);
    assert.ok(at('job.cancelled', a) < at('job.started', b));

    const saved = events.events.find((e) => e.name === 'job.imageSaved' && e.data.jobId === b)!.data.generation;
    assert.equal(saved.project, 'foxes');
    assert.equal(saved.seed, 22);
    assert.equal(saved.source, 'ui');
    assert.match(saved.model, /untrained/);

    // A remix of b: its parent is recorded.
    const params = await s.client.call('generate.paramsOf', { id: saved.id });
    assert.equal(params.request.prompt, 'a red fox in snow');
    const d = (await s.client.call('generate.submit', { request: { ...params.request, seed: 23 }, parentId: saved.id, project: params.project })).jobId;
    await events.until((e) => e.some((x) => x.name === 'job.finished' && x.data.jobId === d), 180_000, 'remix finished');
    const remixId = events.events.find((e) => e.name === 'job.finished' && e.data.jobId === d)!.data.generationIds[0];

    // Two more: the first will be running and the second queued when the studio stops.
    const e1 = (await s.client.call('generate.submit', { request: { prompt: 'interrupted by a restart', ...small, steps: 4 } })).jobId;
    const f = (await s.client.call('generate.submit', { request: { prompt: 'queued across a restart', seed: 44, ...small } })).jobId;
    await events.until((e) => e.some((x) => x.name === 'job.started' && x.data.jobId === e1), 60_000, 'e1 started');
    events.close();
    await s.studio.close();

    // Restart on the same home.
    s = await startTestStudio({ home, model });
    const deadline = Date.now() + 240_000;
    let jobs: { id: string; status: string; error: string | null; generationIds: string[]; thumbnailUrl: string | null }[] = [];
    for (;;) {
      jobs = await s.client.call('queue.list');
      if (jobs.find((j) => j.id === f)?.status === 'done') break;
      if (Date.now() > deadline) throw new Error(`the queued job did not finish: ${JSON.stringify(jobs.map((j) => [j.id, j.status]))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const byId = new Map(jobs.map((j) => [j.id, j]));
    assert.equal(byId.get(e1)!.status, 'interrupted');
    assert.match(byId.get(e1)!.error!, /studio (stopped|was closed)/);
    assert.equal(byId.get(a)!.status, 'cancelled');
    for (const j of [b, c, d, f]) assert.equal(byId.get(j)!.status, 'done', j);
    // After the restart the queue still shows each finished job's image, and it loads.
    for (const j of [b, c, d, f]) {
      const thumb = byId.get(j)!.thumbnailUrl;
      assert.ok(thumb, `job ${j} has its thumbnail in the queue`);
      assert.equal((await request(s.studio.web.url, { path: thumb, headers: { Cookie: s.client.cookie } })).status, 200);
    }
    assert.equal(byId.get(a)!.thumbnailUrl, null, 'a cancelled job has no image');

    // Catalog and files intact.
    const page = await s.client.call('library.search', { limit: 100 });
    const prompts = page.items.map((g: { prompt: string }) => g.prompt).sort();
    assert.deepEqual(prompts, ['a red fox in snow', 'a red fox in snow', 'a tram in the rain', 'queued across a restart']);
    for (const g of page.items) {
      const img = await request(s.studio.web.url, { path: g.imageUrl, headers: { Cookie: s.client.cookie } });
      assert.equal(img.status, 200);
      assert.deepEqual([...img.body.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG');
      assert.equal((await request(s.studio.web.url, { path: g.thumbnailUrl, headers: { Cookie: s.client.cookie } })).status, 200);
    }
    // Lineage both ways.
    const lineage = await s.client.call('library.lineage', { id: remixId });
    assert.deepEqual(lineage.ancestors.map((g: { id: string }) => g.id), [saved.id]);
    const parentLineage = await s.client.call('library.lineage', { id: saved.id });
    assert.deepEqual(parentLineage.remixes.map((g: { id: string }) => g.id), [remixId]);
    const facets = await s.client.call('library.facets', {});
    assert.equal(facets.total, 4);
  } finally {
    events.close();
    await s.close();
  }
});
