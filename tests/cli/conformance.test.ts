// `schnell conformance` on the shared reference folders, as a user (or CI) runs it: the flux-tiny
// run as a process; the other folders, a failing case and the refusals through the CLI's own `main`
// in this process (a process per case costs about a second of CPU and checks nothing more).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FIXTURES, schnell, schnellInProcess } from './cli-harness.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
after(() => fs.rmSync(home, { recursive: true, force: true }));

test('conformance passes every case of flux-tiny (--json)', async () => {
  const r = await schnell(['conformance', path.join(FIXTURES, 'flux-tiny'), '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  const goldens = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'flux-tiny', 'goldens.json'), 'utf8'));
  assert.equal(report.ok, true);
  for (const name of Object.keys(goldens.cases)) {
    assert.equal(report.cases[name]?.ok, true, `${name}: ${JSON.stringify(report.cases[name])}`);
  }
  assert.ok(report.cases.pipe64x64.latents_relative_l2 < goldens.tolerances.relative_l2.latents);
  assert.ok(report.cases.pipe64x64.noise_max_abs < goldens.tolerances.noise_max_abs);
});

test('conformance passes every tokenizer case (--json), and prints a table without it', async () => {
  const dir = path.join(FIXTURES, 'tokenizers');
  const r = await schnellInProcess(['conformance', dir, '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.ok, true);
  assert.ok(Object.keys(report.cases).length >= 2);
  for (const [name, c] of Object.entries<{ ok: boolean; mismatches: number }>(report.cases)) {
    assert.equal(c.ok, true, name);
    assert.equal(c.mismatches, 0, name);
  }
  const plain = await schnellInProcess(['conformance', dir], { home });
  assert.equal(plain.code, 0);
  assert.match(plain.stdout, /PASS\s+tokenizer_clip/);
  assert.match(plain.stdout, /all \d+ cases pass/);
});

test('a failing case makes the exit code non-zero and is printed with its error', async () => {
  const dir = fs.mkdtempSync(path.join(home, 'strict-'));
  const spec = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'flux-tiny', 'goldens.json'), 'utf8'));
  for (const k of ['fp32', 'fp8'] as const) spec.transformer[k] = path.join(FIXTURES, 'flux-tiny', spec.transformer[k]);
  spec.goldens = path.join(FIXTURES, 'flux-tiny', spec.goldens);
  spec.tolerances.relative_l2.transformer_forward = 0;
  fs.writeFileSync(path.join(dir, 'goldens.json'), JSON.stringify(spec));
  const r = await schnellInProcess(['conformance', dir, '--case', 'fwd'], { home });
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL\s+fwd\s+relative_l2=/);
  const j = await schnellInProcess(['conformance', dir, '--case', 'fwd', '--json'], { home });
  assert.equal(j.code, 1);
  assert.equal(JSON.parse(j.stdout).cases.fwd.ok, false);
});

test('bad arguments get one sentence and a non-zero exit code', async () => {
  const none = await schnellInProcess(['conformance'], { home });
  assert.equal(none.code, 2);
  assert.match(none.stderr, /give exactly one reference folder/);
  const empty = await schnellInProcess(['conformance', home], { home });
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /has neither goldens.json nor expected_ids.json/);
  assert.doesNotMatch(empty.stderr, /\n\s+at /); // no stack trace
  const device = await schnellInProcess(['conformance', path.join(FIXTURES, 'tokenizers'), '--device', 'tpu'], { home });
  assert.equal(device.code, 2, 'a bad --device is a usage error');
  assert.match(device.stderr, /--device must be one of cpu, cuda, dml, coreml, webgpu/);
});

test('--case with a name the folder lacks names it (and the cases there), exit code 2', async () => {
  const r = await schnellInProcess(['conformance', path.join(FIXTURES, 'tokenizers'), '--case', 'nope'], { home });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /has no case 'nope' \(--case\); its cases are \S+/);
});
