// `schnell start` as users run it: without a configured model it serves the demo model, labelled
// UNTRAINED; with "model" in config.json it serves that model. Long (a server process each); `schnell
// serve` itself is in serve.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TOKEN, request, spawnServe, tempDir, writeTempDemoModel } from '../runtime/server/helpers.js';

let home: ReturnType<typeof tempDir>;
before(() => {
  home = tempDir('schnell-home-');
});
after(() => home.cleanup());

test('schnell start without a configured model serves the demo model, labelled UNTRAINED', async () => {
  const env = { SCHNELL_HOME: path.join(home.dir, 'start') };
  const s = await spawnServe(['--token', TOKEN], env, 'start', 120_000, false);
  try {
    assert.match(s.output(), /UNTRAINED DEMO MODEL/);
    assert.match(s.output(), /\[UNTRAINED demo model: images are noise\]/);
    const m = (await request(s.url, { method: 'GET', path: '/v1/models' })).json().data[0];
    assert.equal(m.untrained, true);
    assert.ok(m.local.path.startsWith(env.SCHNELL_HOME + path.sep), m.local.path);
    assert.ok(fs.existsSync(path.join(m.local.path, 'schnell-model.json')));
  } finally {
    await s.stop();
  }
});

test('schnell start with "model" in config.json serves that model', async () => {
  const demo = await writeTempDemoModel();
  const env = { SCHNELL_HOME: path.join(home.dir, 'configured') };
  fs.mkdirSync(env.SCHNELL_HOME, { recursive: true });
  fs.writeFileSync(path.join(env.SCHNELL_HOME, 'config.json'), JSON.stringify({ model: demo.dir, backend: 'local' }));
  const s = await spawnServe(['--token', TOKEN], env, 'start');
  try {
    assert.equal(s.info.local.path, demo.dir);
    assert.equal(s.info.backend, 'local');
    assert.deepEqual(fs.readdirSync(env.SCHNELL_HOME).filter((f) => /demo/.test(f)), [], 'no demo model written');
  } finally {
    await s.stop();
    demo.cleanup();
  }
});
