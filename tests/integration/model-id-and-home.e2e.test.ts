// One model resolution everywhere: `schnell serve --model <installed id>` and `schnell start` with
// an id in config.json serve that model. And an empty $SCHNELL_HOME means the default home, never
// the working folder: a generate run from an empty folder leaves it empty.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { schnell } from '../cli/cli-harness.js';
import { TOKEN, request, spawnServe, t2i } from '../runtime/server/helpers.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-model-id-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const home = path.join(root, 'home');
const demo = path.join(root, 'demo');
writeDemoModel(demo);
const env = { ...process.env, SCHNELL_HOME: home, FIREWORKS_API_KEY: '' };

test('serve --model <installed id> and start with the id in config.json both serve the installed model', async () => {
  const imp = await schnell(['models', 'import', demo, '--id', 'demo-set'], { home, env: { FIREWORKS_API_KEY: '' } });
  assert.equal(imp.code, 0, imp.stderr);

  const serve = await spawnServe(['--model', 'demo-set', '--backend', 'local', '--token', TOKEN], env);
  try {
    assert.equal(serve.info.local.untrained, true);
    assert.match(serve.info.local.path, /demo-untrained\.safetensors$/);
    const r = await t2i(serve.url, { prompt: 'an installed model', seed: 9, steps: 1, width: 1536, height: 640 });
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    assert.equal(r.headers['x-schnell-backend'], 'local');
  } finally {
    await serve.stop();
  }

  fs.writeFileSync(path.join(home, 'config.json'), JSON.stringify({ model: 'demo-set', backend: 'local' }));
  const start = await spawnServe(['--token', TOKEN, '--no-record'], env, 'start');
  try {
    assert.equal(start.info.local.untrained, true);
    assert.doesNotMatch(start.output(), /writing the untrained demo model/, 'the configured id is used, not the demo fallback');
    const models = (await request(start.url, { method: 'GET', path: '/v1/models' })).json();
    assert.ok(models.data.length >= 1);
    const r = await t2i(start.url, { prompt: 'configured by id', seed: 10, steps: 1, width: 1536, height: 640 });
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
  } finally {
    await start.stop();
  }

  // An id that is not installed is one sentence naming what is installed.
  const bad = await schnell(['serve', '--model', 'no-such-id', '--backend', 'local', '--port', '0'], { home, env: { FIREWORKS_API_KEY: '' } });
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /no-such-id does not exist: .*installed: demo-set/);
});

test('SCHNELL_HOME set but empty is the default home: nothing is written into the working folder', async () => {
  const cwd = fs.mkdtempSync(path.join(root, 'cwd-'));
  const fakeHome = fs.mkdtempSync(path.join(root, 'user-'));
  const out = path.join(root, 'empty-home.png');
  const r = await schnell(['generate', 'an empty home', '--model', demo, '--width', '64', '--height', '64', '--steps', '1', '--out', out], {
    home: '',
    cwd,
    env: { HOME: fakeHome, USERPROFILE: fakeHome, FIREWORKS_API_KEY: '' },
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(out));
  assert.deepEqual(fs.readdirSync(cwd), [], 'the working folder stays empty');
  assert.ok(fs.existsSync(path.join(fakeHome, '.schnell-studio', 'cache', 'graphs')), 'the graph cache went to the default home');
  // --project without --out records in the studio library and drops no file here either.
  const p = await schnell(['generate', 'a project image', '--model', demo, '--width', '64', '--height', '64', '--steps', '1', '--project', 'quiet', '--json'], {
    home: '',
    cwd,
    env: { HOME: fakeHome, USERPROFILE: fakeHome, FIREWORKS_API_KEY: '' },
  });
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(fs.readdirSync(cwd), []);
  const file = JSON.parse(p.stdout).images[0].path as string;
  assert.ok(file.startsWith(path.join(fakeHome, '.schnell-studio', 'library')), file);
});
