// `schnell serve`'s port stays the same from start to start: config.json "port" is used, a taken one
// moves to the next free one and says so, --port is exact, a bad "port" is refused. Long (four
// processes); what serve says when it starts is in serve-startup.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot, TOKEN, tempDir } from '../runtime/server/helpers.js';
import { freePort, serve } from './serve-harness.js';

let home: ReturnType<typeof tempDir>;
before(() => {
  home = tempDir('schnell-serve-start-');
});
after(() => home.cleanup());

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
