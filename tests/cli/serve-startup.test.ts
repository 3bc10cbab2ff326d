// What `schnell serve` says when it starts: what cannot be served and why (and /healthz agrees),
// and a curl line that fails loudly. The port that stays the same from start to start (config.json
// "port", the default, or the next free one, named) is in serve-startup.e2e.test.ts (four processes).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { request, TOKEN, tempDir } from '../runtime/server/helpers.js';
import { serve } from './serve-harness.js';

let home: ReturnType<typeof tempDir>;
before(() => {
  home = tempDir('schnell-serve-start-');
});
after(() => home.cleanup());

test('nothing can serve (missing model, no key): said at start, no curl line, /healthz not ready and why', async () => {
  const env = { SCHNELL_HOME: path.join(home.dir, 'none'), FIREWORKS_API_KEY: '' };
  const s = await serve(['--token', TOKEN, '--port', '0', '--model', path.join(home.dir, 'no-such-model')], env);
  try {
    assert.match(s.out(), /cannot make images: every request will get 503/);
    assert.match(s.out(), /local model cannot serve: .*no-such-model/);
    assert.match(s.out(), /Fireworks cloud cannot serve: no Fireworks key is set/);
    assert.doesNotMatch(s.out(), /try: curl/);
    assert.deepEqual((await request(s.url, { method: 'GET', path: '/healthz', auth: null })).json(), { status: 'ok', ready: false });
    const h = (await request(s.url, { method: 'GET', path: '/healthz' })).json();
    assert.equal(h.ready, false);
    assert.equal(h.problems.length, 2);
    assert.equal(h.backends.cloud.available, false);
  } finally {
    assert.equal(await s.stop(), 0);
  }
});

test('a server that can serve prints a curl line with --fail (an error never lands in out.png)', async () => {
  const env = { SCHNELL_HOME: path.join(home.dir, 'cloud'), FIREWORKS_API_KEY: 'fw-test-key', FIREWORKS_BASE_URL: 'http://127.0.0.1:9' };
  const s = await serve(['--token', TOKEN, '--port', '0', '--backend', 'cloud'], env);
  try {
    assert.match(s.out(), /try: curl --fail /);
    assert.doesNotMatch(s.out(), /cannot make images/);
    assert.equal((await request(s.url, { method: 'GET', path: '/healthz' })).json().ready, true);
  } finally {
    await s.stop();
  }
});
