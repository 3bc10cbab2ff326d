// `schnell generate`, the quick part: one real run in its own process (a real file, a real session),
// and the refusals (bad options, hostile prompts and models, no model) through the CLI's own `main`
// in this process, since a process per case costs about a second of CPU and checks nothing more;
// one refusal still runs as a process, for the exit code. Determinism, samples, --out failures, the
// configured model, `devices` and `demo-model` as processes are in generate.e2e.test.ts (long).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { schnell, schnellInProcess } from './cli-harness.js';

let home: string;
let model: string;
let out: string;
const small = ['--width', '64', '--height', '48', '--steps', '2'];

before(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  model = path.join(home, 'demo');
  out = path.join(home, 'out');
  writeDemoModel(model);
});
after(() => fs.rmSync(home, { recursive: true, force: true }));

test('a run writes a PNG of the asked size and prints the seed and UNTRAINED; a bad value exits 2 with one line', async () => {
  const png = path.join(out, 'a.png');
  const r = await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--model', model, '--out', png], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /seed: 42/);
  assert.match(r.stderr, /UNTRAINED/);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 48]);
  // The process turns main's answer into its exit code: 2 for a command line that was wrong.
  const bad = await schnell(['generate', 'a red barn', '--model', model, '--steps', '0'], { home });
  assert.equal(bad.code, 2, bad.stderr);
  assert.equal(bad.stderr.trim(), 'schnell generate: --steps must be an integer from 1 to 50, got 0');
});

test('bad input gets one clear sentence and exit code 2, and writes nothing', async () => {
  const cases: [string[], RegExp][] = [
    [['--sampler', 'K_LMS'], /^schnell generate: --sampler must be .*K_EULER.*K_DPMPP_2M/],
    [['--width', '100'], /--width must be a multiple of 16 /],
    [['--height', 'tall'], /--height must be a number/],
    [['--steps', '0'], /--steps must be an integer from 1 to 50/],
    [['--seed=-3'], /--seed must be an integer from 0 to 4294967295/],
    [['--cfg-scale', '99'], /--cfg-scale must be a number from 0 to 20/],
    [['--format', 'gif'], /--format must be png or jpeg/],
    [['--out', path.join(out, 'x.png'), '--format', 'jpeg'], /ends in \.png but --format is jpeg/],
    [['--model', path.join(home, 'nowhere')], /--model .*nowhere does not exist/],
    [['--bogus'], /Unknown option '--bogus' \(`schnell generate --help`/],
    // A dash-led value is the value, checked as such, not three lines about parser syntax.
    [['--seed', '-1'], /--seed must be an integer from 0 to 4294967295, got -1/],
    [['--cfg-scale', '-2'], /--cfg-scale must be a number from 0 to 20, got -2/],
    [['--seed', '4294967296'], /--seed must be an integer from 0 to 4294967295, got 4294967296/],
    [['--width', '17'], /--width must be a multiple of 16 .*got 17/],
    [['--out', '--json'], /--out needs a value/],
    [['--json=yes'], /--json takes no value/],
    [['--seed'], /--seed needs a value/],
  ];
  for (const [extra, message] of cases) {
    const r = await schnellInProcess(['generate', 'a red barn', '--model', model, ...extra], { home });
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, extra.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${extra.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '', extra.join(' '));
  }
  const empty = await schnellInProcess(['generate', '   ', '--model', model], { home });
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /prompt must not be empty/);
  assert.ok(!fs.existsSync(path.join(out, 'x.png')));
});

test('hostile prompts and models: one sentence, a non-zero exit, no stack trace', async () => {
  const bad = fs.mkdtempSync(path.join(home, 'hostile-'));
  const garbage = path.join(bad, 'garbage');
  fs.mkdirSync(garbage);
  fs.writeFileSync(path.join(garbage, 'model.safetensors'), crypto.randomBytes(4096));
  fs.writeFileSync(path.join(garbage, 'notes.txt'), 'hello');
  const truncated = path.join(bad, 'truncated');
  fs.cpSync(model, truncated, { recursive: true });
  const transformer = path.join(truncated, 'flux1-schnell-demo-untrained.safetensors');
  fs.truncateSync(transformer, Math.floor(fs.statSync(transformer).size / 2));
  const notSafetensors = path.join(bad, 'picture.safetensors');
  fs.writeFileSync(notSafetensors, 'this is not a safetensors file, just text\n'.repeat(10));
  const cases: [string, string[], RegExp][] = [
    ['empty prompt', ['', '--model', model], /prompt must not be empty/],
    ['100 KB prompt', ['x'.repeat(100_000), '--model', model], /prompt is longer than 10,000 characters/],
    ['a folder of garbage', ['a', '--model', garbage], new RegExp(`${garbage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*neither a model folder`)],
    ['a truncated file', ['a', '--model', truncated], /flux1-schnell-demo-untrained\.safetensors: tensor ".*" ends at byte \d+, past the end of the file .*truncated/],
    ['not a safetensors file', ['a', '--model', notSafetensors], /picture\.safetensors is not a valid \.safetensors file/],
  ];
  for (const [what, args, message] of cases) {
    const r = await schnellInProcess(['generate', ...args, ...small, '--out', path.join(bad, 'out.png')], { home });
    assert.ok(r.code !== 0 && r.code !== null, `${what}: exit code ${r.code}`);
    assert.match(r.stderr, message, what);
    assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
  }
  assert.ok(!fs.existsSync(path.join(bad, 'out.png')));
});

test('no --model and none configured: says how to get one', async () => {
  const r = await schnellInProcess(['generate', 'a red barn'], { home: fs.mkdtempSync(path.join(home, 'empty-home-')), env: { FIREWORKS_API_KEY: '', FIREWORKS_BASE_URL: '' } });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no model is configured: install one with `schnell models`.*`schnell demo-model/);
});
