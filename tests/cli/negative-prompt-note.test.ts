// A negative prompt only acts with CFG above 1. `generate` says so when it will be ignored, in
// flag names, and stays quiet when it acts; the server says the same in X-Schnell-Warning
// (tests/runtime/server/server.test.ts, tests/interop/ai-sdk.e2e.test.ts). The two runs go through
// the CLI's own `main` in this process (generate.test.ts runs one as a process).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { schnellInProcess } from './cli-harness.js';

let home: string;
let model: string;
const small = ['--width', '32', '--height', '32', '--steps', '1', '--seed', '5'];

before(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-neg-'));
  model = path.join(home, 'demo');
  writeDemoModel(model);
});
after(() => fs.rmSync(home, { recursive: true, force: true }));

test('--negative-prompt with --cfg-scale ≤ 1 gets a note naming both flags; above 1 it does not', async () => {
  const ignored = await schnellInProcess(['generate', 'a fox', '--negative-prompt', 'fog', ...small, '--model', model, '--out', path.join(home, 'a.png')], { home });
  assert.equal(ignored.code, 0, ignored.stderr);
  assert.match(ignored.stderr, /note: --negative-prompt is ignored because --cfg-scale is 1: it acts only with --cfg-scale above 1/);
  const acts = await schnellInProcess(['generate', 'a fox', '--negative-prompt', 'fog', '--cfg-scale', '2', ...small, '--model', model, '--out', path.join(home, 'b.png')], { home });
  assert.equal(acts.code, 0, acts.stderr);
  assert.doesNotMatch(acts.stderr, /is ignored/);
});
