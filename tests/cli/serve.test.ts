// `schnell serve` and `schnell start` as users run them: the token made once and stored 0600,
// graceful shutdown on SIGTERM/SIGINT with a request in flight, the demo model labelled UNTRAINED.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { type FaultServer, startFaultServer } from '../runtime/cloud/fault-server.js';
import { TOKEN, repoRoot, request, spawnServe, t2i, tempDir, writeTempDemoModel } from '../runtime/server/helpers.js';

let home: ReturnType<typeof tempDir>;
let cloud: FaultServer;
before(async () => {
  home = tempDir('schnell-home-');
  cloud = await startFaultServer({ slowMs: 1500 });
});
after(async () => {
  await cloud.close();
  home.cleanup();
});

test('no --token: one is created, stored readable by the owner only, printed once', async () => {
  const env = { SCHNELL_HOME: path.join(home.dir, 'tok') };
  const first = await spawnServe(['--backend', 'cloud'], env);
  let token: string;
  try {
    token = first.info.token;
    assert.match(token, /^sk-schnell-[A-Za-z0-9_-]{32}$/);
    const file = path.join(env.SCHNELL_HOME, 'server-token');
    assert.equal(first.info.token_file, file);
    assert.equal(fs.readFileSync(file, 'utf8').trim(), token);
    if (process.platform !== 'win32') assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal((await t2i(first.url, { prompt: 'x' }, {}, { auth: null })).status, 401);
    const r = await t2i(first.url, { prompt: 'x' }, {}, { auth: token });
    assert.equal(r.status, 503, 'authorised; no key for the cloud');
    assert.match(r.json().error.message, /no cloud key set/);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  const second = await spawnServe(['--backend', 'cloud'], env);
  try {
    assert.equal(second.info.token, undefined, 'printed only when created');
    assert.ok(!second.output().includes(token));
    assert.equal((await t2i(second.url, { prompt: 'x' }, {}, { auth: token })).status, 503);
  } finally {
    await second.stop();
  }
});

test('SIGTERM finishes the request in flight, then exits 0; SIGINT on an idle server exits 0', async () => {
  const serve = await spawnServe(['--backend', 'cloud', '--token', TOKEN], { SCHNELL_HOME: path.join(home.dir, 'sig'), FIREWORKS_API_KEY: 'k-123', FIREWORKS_BASE_URL: cloud.url });
  cloud.script(['slow']);
  cloud.requests.length = 0;
  const pending = t2i(serve.url, { prompt: 'slow one', seed: 5, width: 1536, height: 640 });
  for (let i = 0; i < 500 && cloud.requests.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  const stopped = serve.stop('SIGTERM');
  const r = await pending;
  assert.equal(r.status, 200, r.body.toString().slice(0, 200));
  assert.equal((await sharp(r.body).metadata()).width, 1536);
  assert.deepEqual(await stopped, { code: 0, signal: null });

  const idle = await spawnServe(['--backend', 'cloud', '--token', TOKEN], { SCHNELL_HOME: path.join(home.dir, 'sig') });
  assert.deepEqual(await idle.stop('SIGINT'), { code: 0, signal: null });
});

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

test('bad options are one sentence and exit code 1', () => {
  for (const [args, pattern] of [
    [['--backend', 'gpu'], /--backend must be local, cloud or auto/],
    [['--port', 'eighty'], /--port must be an integer/],
    [['--token', 'short'], /--token must be 16 to 512/],
  ] as const) {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'serve', ...args], { env: { ...process.env, SCHNELL_HOME: path.join(home.dir, 'bad') }, encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  }
});
