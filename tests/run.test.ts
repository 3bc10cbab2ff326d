// The test runner itself: the quick set and the long set split by file name, and a checkout without
// the shared fixtures beside it gets one sentence that says what to do (not a hundred failures).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const runner = path.join(path.dirname(fileURLToPath(import.meta.url)), 'run.mjs');

test('without ../shared beside the checkout, the runner fails with one sentence naming the folder', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-run-'));
  try {
    fs.mkdirSync(path.join(tmp, 'checkout/tests'), { recursive: true });
    fs.copyFileSync(runner, path.join(tmp, 'checkout/tests/run.mjs'));
    const env = { ...process.env };
    delete env.SCHNELL_FIXTURES;
    const r = spawnSync(process.execPath, [path.join(tmp, 'checkout/tests/run.mjs')], { encoding: 'utf8', env });
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`${path.join(tmp, 'shared/fixtures').replace(/[/\\]/g, '.')}.*\\.\\./shared.*SCHNELL_FIXTURES`));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('e2e files run only with --e2e, the others only without it', () => {
  // A filter that matches no file of the asked-for set is an error that names the set.
  const quick = spawnSync(process.execPath, [runner, 'pack.e2e.test'], { encoding: 'utf8' });
  assert.equal(quick.status, 1);
  assert.match(quick.stderr, /no test files matched: pack\.e2e\.test/);
  const long = spawnSync(process.execPath, [runner, '--e2e', 'tests/run.test'], { encoding: 'utf8' });
  assert.equal(long.status, 1);
  assert.match(long.stderr, /no e2e test files matched: tests\/run\.test/);
});
