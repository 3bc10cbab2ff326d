// `schnell serve` as users run it: the token made once and stored 0600, graceful shutdown on
// SIGTERM/SIGINT with a request in flight; bad options through the CLI's own `main` in this process
// (a process per case costs about a second of CPU and checks nothing more). `schnell start` (the demo
// model labelled UNTRAINED, the configured model) is in start.e2e.test.ts (long).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { type FaultServer, startFaultServer } from '../runtime/cloud/fault-server.js';
import { TOKEN, spawnServe, t2i, tempDir } from '../runtime/server/helpers.js';
import { schnellInProcess } from './cli-harness.js';

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

test('bad options are one sentence and exit code 1', async () => {
  for (const [args, pattern] of [
    [['--backend', 'gpu'], /--backend must be local, cloud or auto/],
    [['--port', 'eighty'], /--port must be an integer/],
    [['--token', 'short'], /--token must be 16 to 512/],
  ] as const) {
    const r = await schnellInProcess(['serve', ...args], { home: path.join(home.dir, 'bad') });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, pattern);
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  }
});
