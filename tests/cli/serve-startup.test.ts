// What `schnell serve` says when it starts: what cannot be served and why (and /healthz agrees),
// a curl line that fails loudly, and a port that stays the same from start to start (config.json
// "port", the default, or the next free one, named).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TOKEN, repoRoot, request, tempDir } from '../runtime/server/helpers.js';

let home: ReturnType<typeof tempDir>;
before(() => {
  home = tempDir('schnell-serve-start-');
});
after(() => home.cleanup());

interface Started {
  proc: ChildProcess;
  url: string;
  out: () => string;
  stop(): Promise<number | null>;
}

/** `schnell serve` without --port unless given, until its listening line (and the lines after it). */
async function serve(args: string[], env: Record<string, string>): Promise<Started> {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'serve', ...args], {
    cwd: repoRoot,
    env: { ...process.env, npm_lifecycle_event: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      // The lines after the address (problems, note, curl) come in the same tick: wait for the last.
      if (m && /(try: curl|until this is fixed:\n(  - .*\n)+)/.test(out)) {
        clearTimeout(timer);
        setTimeout(() => resolve(m[1]!), 100);
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    exited.then((code) => reject(new Error(`serve exited (${code}):\n${out}`)));
  });
  return {
    proc,
    url,
    out: () => out,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

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

test('the port is stable: config.json "port" is used, a taken one moves to the next free one and says so; --port is exact', async () => {
  const wanted = await freePort();
  const dir = path.join(home.dir, 'port');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ port: wanted }));
  const env = { SCHNELL_HOME: dir, FIREWORKS_API_KEY: '' };
  const first = await serve(['--token', TOKEN, '--backend', 'cloud'], env);
  try {
    assert.equal(new URL(first.url).port, String(wanted));
    const second = await serve(['--token', TOKEN, '--backend', 'cloud'], env);
    try {
      const port = Number(new URL(second.url).port);
      assert.ok(port > wanted && port < wanted + 20, `next free port above ${wanted}, got ${port}`);
      assert.match(second.out(), new RegExp(`port ${wanted} \\("port" in config.json\\) is in use; listening on ${port} instead`));
    } finally {
      await second.stop();
    }
    const exact = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'serve', '--token', TOKEN, '--backend', 'cloud', '--port', String(wanted)], { env: { ...process.env, ...env } });
      let out = '';
      p.stderr.on('data', (c) => (out += c));
      p.on('exit', (code) => resolve({ code, out }));
    });
    assert.equal(exact.code, 1);
    assert.match(exact.out, new RegExp(`port ${wanted} on 127.0.0.1 is already in use .*--port`));
  } finally {
    await first.stop();
  }
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ port: 'eighty' }));
  const bad = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'serve', '--backend', 'cloud'], { env: { ...process.env, ...env } });
  let badOut = '';
  bad.stderr.on('data', (c) => (badOut += c));
  const code = await new Promise((r) => bad.on('exit', r));
  assert.equal(code, 1);
  assert.match(badOut, /port/);
});
