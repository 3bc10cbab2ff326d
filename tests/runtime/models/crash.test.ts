import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadState, openStateDatabase } from '../../../runtime/models/state.js';
import { FaultServer, randomBytes, sha256 } from './fault-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const child = path.join(here, 'child-download.ts');

function run(args: string[]) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, exited, output: () => out };
}

async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a download killed with SIGKILL and started again completes without fetching the kept bytes again', async () => {
  const server = await FaultServer.start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  try {
    const data = randomBytes(1024 * 1024 + 123, 5);
    server.serve('/model.safetensors', data);
    const KEPT = 400_000;
    server.fault('/model.safetensors', { kind: 'stall', after: KEPT });
    const dest = path.join(dir, 'models', 'model.safetensors');
    const dbFile = path.join(dir, 'catalog.sqlite');
    const args = [server.url('/model.safetensors'), dest, dbFile, sha256(data)];

    const first = run(args);
    const part = `${dest}.part`;
    await waitFor(() => fs.existsSync(part) && fs.statSync(part).size === KEPT, 'the first bytes on disk');
    first.proc.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed by a signal');

    const db = openStateDatabase(dbFile);
    const row = new DownloadState(db).get(dest)!;
    db.close();
    assert.equal(row.status, 'downloading', 'the dead process never got to clean up');
    assert.equal(row.owner_pid, first.proc.pid);
    assert.equal(fs.existsSync(dest), false, 'a partial file is never installed');

    const requestsBefore = server.log.length;
    const second = run(args);
    assert.equal(await second.exited, 0, second.output());
    assert.deepEqual(fs.readFileSync(dest), data);
    assert.equal(fs.existsSync(part), false);
    const resumed = server.log.slice(requestsBefore);
    assert.deepEqual(resumed.map((l) => [l.range, l.status, l.bytes]), [[`bytes=${KEPT}-`, 206, data.length - KEPT]]);
    assert.equal(server.sentFor('/model.safetensors'), data.length, 'no byte was fetched twice');
    const result = JSON.parse(second.output().trim().split('\n').at(-1)!);
    assert.equal(result.resumedFrom, KEPT);
    assert.equal(result.sha256, sha256(data));
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
