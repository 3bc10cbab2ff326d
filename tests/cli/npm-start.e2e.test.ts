// `kill` of `npm start`'s process must not leave the server running. npm runs the script through a
// shell, and SIGTERM to npm reaches the shell, not the server; the server (under npm) watches the
// process that started it and stops as on SIGTERM when it is gone. This runs the real `npm start`
// (the demo model is written on first start, so it takes a few seconds).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { TOKEN, repoRoot, request, tempDir } from '../runtime/server/helpers.js';

let home: ReturnType<typeof tempDir>;
before(() => {
  home = tempDir('schnell-npm-start-');
});
after(() => home.cleanup());

const portOpen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.destroy();
      resolve(true);
    });
    sock.on('error', () => resolve(false));
  });

test('SIGTERM to the npm process of `npm start` stops the server: the port closes', async () => {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const proc = spawn(npm, ['start', '--silent', '--', '--port', '0', '--json', '--token', TOKEN], {
    cwd: repoRoot,
    env: { ...process.env, SCHNELL_HOME: home.dir, FIREWORKS_API_KEY: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const info = await new Promise<{ url: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not print its address:\n${out}`)), 120_000);
    proc.stdout!.on('data', () => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      }
    });
    proc.once('exit', (code) => reject(new Error(`npm start exited (${code}):\n${out}`)));
  });
  assert.equal((await request(info.url, { method: 'GET', path: '/healthz', auth: null })).json().ready, true);
  assert.ok(await portOpen(info.port));

  proc.kill('SIGTERM');
  const end = Date.now() + 30_000;
  while ((await portOpen(info.port)) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  assert.equal(await portOpen(info.port), false, `the server still listens on ${info.port} after npm was stopped:\n${out}`);
});
