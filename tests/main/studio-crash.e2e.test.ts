// A studio killed with SIGKILL mid-job (the crash close() cannot soften): the next open marks the
// job that was running as interrupted with the reason, runs the two that were queued, and records
// each image once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { Studio } from '../../main/studio.js';
import { tempDir } from './helpers.js';

const CHILD = fileURLToPath(new URL('./studio-crash-child.ts', import.meta.url));

test('killed mid-job: the running job is interrupted with the reason, the queued ones finish, nothing lost or duplicated', async () => {
  const root = tempDir();
  const model = path.join(root, 'demo');
  writeDemoModel(model);
  const home = path.join(root, 'home');
  const lib = path.join(root, 'lib');
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, home, lib, model], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('progress\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child exited (${code}) before progress:\n${out}\n${err}`)));
  });
  child.kill('SIGKILL');
  await exited;
  const ids = [...out.matchAll(/^job (\S+)$/gm)].map((m) => m[1]!);
  assert.equal(ids.length, 3);

  const studio = await Studio.open({ home, library: lib, model, backend: 'local', isolate: false, env: { ...process.env, FIREWORKS_API_KEY: '' } });
  try {
    assert.deepEqual(studio.recovery.interrupted.map((j) => j.id), [ids[0]]);
    assert.match(studio.recovery.interrupted[0]!.error!, /the studio stopped while this job was running/);
    assert.deepEqual(studio.recovery.resumed.map((j) => j.id), ids.slice(1));
    await Promise.all(ids.slice(1).map((id) => studio.wait(id)));
    assert.deepEqual(studio.jobs().map((j) => [j.id, j.status]), [[ids[0], 'interrupted'], [ids[1], 'done'], [ids[2], 'done']]);
    const rows = studio.library!.page({ sort: 'oldest' }).items;
    assert.deepEqual(rows.map((r) => [r.jobId, r.seed]), [[ids[1], 42], [ids[2], 43]]);
  } finally {
    await studio.close();
  }
});
