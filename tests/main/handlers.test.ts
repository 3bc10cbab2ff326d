// The contract's commands on a real studio core, over the headless transport as the UI calls them
// (no model needed): projects, settings and the write-only Fireworks key, the API server switch,
// backend availability, and a job that cannot run failing with a sentence instead of hanging.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { makePng } from './helpers.js';
import { request, startTestStudio, type TestStudio } from './web-helpers.js';

let s: TestStudio;
let ids: string[] = [];
before(async () => {
  s = await startTestStudio();
  for (let i = 0; i < 2; i++) {
    const png = await makePng(32, 32, 10 + i);
    const r = await s.client.call('library.importFile', { fileName: `p${i}.png`, dataBase64: png.toString('base64') });
    ids.push(r.imported[0].id);
  }
});
after(async () => s?.close());

test('projects: create with defaults, move images in, cover, rename, archive; bad defaults name the field', async () => {
  const created = await s.client.call('projects.create', { name: 'Foxes', defaults: { steps: 4, width: 1344, height: 768 } });
  assert.equal(created.name, 'Foxes');
  assert.deepEqual(created.defaults, { steps: 4, width: 1344, height: 768 });
  assert.deepEqual(await s.client.call('library.moveToProject', { ids, project: 'Foxes' }), { changed: 2 });
  const covered = await s.client.call('projects.setCover', { name: 'Foxes', generationId: ids[1] });
  assert.equal(covered.coverId, ids[1]);
  assert.equal(covered.coverChosen, true);
  assert.match(covered.coverThumbnailUrl, /^\/files\/thumbs\//);
  assert.equal((await request(s.studio.web.url, { path: covered.coverThumbnailUrl, headers: { Cookie: s.client.cookie } })).status, 200);
  const renamed = await s.client.call('projects.rename', { from: 'Foxes', to: 'Red foxes' });
  assert.equal(renamed.count, 2);
  assert.equal((await s.client.call('library.get', { id: ids[0] })).project, 'Red foxes');
  await s.client.call('projects.archive', { name: 'Red foxes', archived: true });
  assert.deepEqual((await s.client.call('projects.list')).map((p: { name: string }) => p.name), []);
  assert.deepEqual((await s.client.call('projects.list', { includeArchived: true })).map((p: { name: string }) => p.name), ['Red foxes']);
  const bad = await s.client.raw('projects.setDefaults', { name: 'Red foxes', defaults: { steps: 99 } });
  assert.equal(bad.status, 400);
  assert.match(bad.json<{ error: { message: string } }>().error.message, /steps/);
  const dup = await s.client.raw('projects.create', { name: 'red FOXES' });
  assert.ok(dup.status >= 400 && dup.status < 500);
});

test('a project exported as a folder imports into another studio with its images', async () => {
  const folder = path.join(s.home, 'export-foxes');
  const r = await s.client.call('projects.export', { name: 'Red foxes', folder });
  assert.equal(r.files, 2);
  const other = await startTestStudio();
  try {
    const imported = await other.client.call('projects.import', { folder });
    assert.deepEqual(imported, { project: 'Red foxes', imported: 2 });
    const page = await other.client.call('library.search', { project: 'Red foxes' });
    assert.equal(page.items.length, 2);
  } finally {
    await other.close();
  }
});

test('the Fireworks key is write-only: saved, reported as set, never returned by any query', async () => {
  const key = 'fw_TESTKEY_0123456789abcdef';
  assert.deepEqual(await s.client.call('settings.setFireworksKey', { key }), { hasKey: true });
  const secrets = JSON.parse(fs.readFileSync(path.join(s.home, 'secrets.json'), 'utf8'));
  assert.equal(secrets['fireworks.api_key'], key);
  if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(s.home, 'secrets.json')).mode & 0o777, 0o600);
  assert.equal((await s.client.call('settings.get')).hasFireworksKey, true);
  for (const q of ['settings.get', 'studio.info', 'studio.backends', 'apiServer.status', 'queue.list', 'models.list', 'projects.list']) {
    const r = await s.client.raw(q, {});
    assert.doesNotMatch(r.body.toString(), /TESTKEY/, q);
  }
  assert.equal((await s.client.call('studio.backends')).cloud.ok, true, 'the cloud can serve once the key is saved');
  assert.deepEqual(await s.client.call('settings.setFireworksKey', { key: null }), { hasKey: false });
  assert.equal((await s.client.call('settings.get')).hasFireworksKey, false);
  assert.equal((await s.client.call('studio.backends')).cloud.ok, false);
});

test('settings persist: theme and API server preferences survive a restart', async () => {
  const updated = await s.client.call('settings.update', { theme: 'light', apiServer: { record: false } });
  assert.equal(updated.theme, 'light');
  assert.equal(updated.apiServer.record, false);
  const again = await startTestStudio({ home: s.home });
  try {
    const settings = await again.client.call('settings.get');
    assert.equal(settings.theme, 'light');
    assert.equal(settings.apiServer.record, false);
  } finally {
    await again.studio.close();
  }
});

test('the local API server starts and stops on command, with its token', async () => {
  const started = await s.client.call('apiServer.start', { port: 0 });
  assert.equal(started.running, true);
  assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const { token } = await s.client.call('apiServer.token');
  assert.ok(token.length >= 16);
  const models = await request(started.url, { path: '/v1/models', headers: { Authorization: `Bearer ${token}` } });
  assert.equal(models.status, 200);
  assert.equal((await s.client.call('settings.get')).apiServer.enabled, true, 'remembered as on');
  // Left on, it comes back with the next start.
  const again = await startTestStudio({ home: s.home });
  try {
    const status = await again.client.call('apiServer.status');
    assert.equal(status.running, true);
    await again.client.call('apiServer.stop');
  } finally {
    await again.studio.close();
  }
  assert.equal((await s.client.call('apiServer.stop')).running, false);
  await assert.rejects(request(started.url, { path: '/healthz' }));
  assert.equal((await s.client.call('settings.get')).apiServer.enabled, false);
});

test('with no model and no key, a job fails with a sentence and the backends say why', async () => {
  const backends = await s.client.call('studio.backends');
  assert.equal(backends.local.ok, false);
  assert.ok(backends.local.reason.length > 10);
  assert.equal(backends.auto, null);
  const events = s.client.events();
  await events.ready;
  const { jobId } = await s.client.call('generate.submit', { request: { prompt: 'nothing can make me' } });
  await events.until((e) => e.some((x) => x.name === 'job.failed' && x.data.jobId === jobId), 30_000, 'job.failed');
  const failed = events.events.find((x) => x.name === 'job.failed')!.data;
  assert.match(failed.error, /model|key/i);
  events.close();
  const missing = await s.client.raw('generate.submit', { request: { prompt: 'remix' }, parentId: 'NOSUCHPARENT' });
  assert.equal(missing.status, 404);
  assert.equal(missing.json<{ error: { field: string } }>().error.field, 'parentId');
  const retry = await s.client.call('generate.retry', { jobId });
  assert.notEqual(retry.jobId, jobId);
});

test('models: the catalogue with the fit check before any download, and the demo model chosen in one call', async () => {
  const overview = await s.client.call('models.list');
  const def = overview.available.find((m: { isDefault: boolean; kind: string }) => m.isDefault && m.kind === 'flux');
  assert.ok(def, 'the manifest names a default image model');
  assert.equal(def.installed, false);
  const fit = await s.client.call('models.fit', { modelId: def.id, device: 'cpu', width: 1024, height: 1024 });
  assert.equal(typeof fit.fits, 'boolean');
  assert.match(fit.message, /needs about/);
  assert.ok(fit.needBytes > 1e9, 'a 12B model needs gigabytes');
  const unknown = await s.client.raw('models.fit', { modelId: 'no-such-model', device: 'cpu' });
  assert.ok(unknown.status >= 400 && unknown.status < 500);
  const settings = await s.client.call('models.use', { modelId: 'demo' });
  assert.match(settings.model, /demo-model$/);
  const backends = await s.client.call('studio.backends');
  assert.equal(backends.local.ok, true);
  assert.equal(backends.local.untrained, true, 'the demo model is labelled untrained');
  assert.equal(backends.auto, 'local');
  assert.equal((await s.client.call('models.list')).active, 'demo');
  const notInstalled = await s.client.raw('models.use', { modelId: def.id });
  assert.equal(notInstalled.status, 404);
});
