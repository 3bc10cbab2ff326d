// `schnell generate` and `schnell demo-model` end to end: real processes, real files, real sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { schnell } from './cli-harness.js';

let home: string;
let model: string;
let out: string;
const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const small = ['--width', '64', '--height', '48', '--steps', '2'];

before(async () => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  model = path.join(home, 'demo');
  out = path.join(home, 'out');
  const r = await schnell(['demo-model', '--out', model, '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.untrained, true);
  assert.match(info.name, /untrained/);
});
after(() => fs.rmSync(home, { recursive: true, force: true }));

test('demo-model says UNTRAINED and how to use it', async () => {
  const r = await schnell(['demo-model', '--out', path.join(home, 'demo2')], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /UNTRAINED/);
  assert.match(r.stdout, /schnell generate/);
  assert.ok(fs.existsSync(path.join(home, 'demo2', 'schnell-model.json')));
});

test('writes a valid PNG and JPEG; the same seed gives identical bytes, another seed different ones', async () => {
  const png = path.join(out, 'a.png');
  const r = await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--model', model, '--out', png], { home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /seed: 42/);
  assert.match(r.stderr, /UNTRAINED/);
  const meta = await sharp(png).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', 64, 48]);

  const again = path.join(out, 'b.png');
  await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--model', model, '--out', again], { home });
  assert.equal(sha(again), sha(png));
  const other = path.join(out, 'c.png');
  await schnell(['generate', 'a red barn', ...small, '--seed', '43', '--model', model, '--out', other], { home });
  assert.notEqual(sha(other), sha(png));

  const jpg = path.join(out, 'a.jpg');
  const j = await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--model', model, '--out', jpg, '--jpeg-quality', '80'], { home });
  assert.equal(j.code, 0, j.stderr);
  const jm = await sharp(jpg).metadata();
  assert.deepEqual([jm.format, jm.width, jm.height], ['jpeg', 64, 48]);
});

test('--samples 3 writes three images with seeds s, s+1, s+2 (--json report)', async () => {
  const r = await schnell(['generate', 'a red barn', ...small, '--seed', '4294967294', '--samples', '3', '--format', 'jpeg', '--model', model, '--out', path.join(out, 'many.jpg'), '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.seed, 4294967294);
  assert.equal(report.untrained, true);
  assert.deepEqual(report.images.map((i: { seed: number }) => i.seed), [4294967294, 4294967295, 0]);
  assert.deepEqual(report.images.map((i: { path: string }) => path.basename(i.path)), ['many-1.jpg', 'many-2.jpg', 'many-3.jpg']);
  for (const img of report.images) assert.equal((await sharp(img.path).metadata()).format, 'jpeg');
  assert.equal(new Set(report.images.map((i: { path: string }) => sha(i.path))).size, 3);
  assert.ok(report.timings.engineMs > 0);
  // Each stage of the local run, with its peak resident memory beside the fit estimate.
  for (const name of ['encode', 'denoise', 'decode']) {
    const stage = report.timings.stages?.[name];
    assert.ok(stage && stage.ms >= 0, `timings.stages.${name}: ${JSON.stringify(report.timings.stages)}`);
    assert.ok(stage.estimateBytes > 0, `${name} has its estimate`);
    if (process.platform === 'linux') assert.ok(stage.peakRssBytes > 0, `${name} has its peak resident memory`);
  }
});

test('without --seed a seed is picked and printed; a folder --out names files by seed', async () => {
  const dir = path.join(out, 'folder') + path.sep;
  const r = await schnell(['generate', 'a red barn', ...small, '--model', model, '--out', dir], { home });
  assert.equal(r.code, 0, r.stderr);
  const seed = Number(/seed: (\d+)/.exec(r.stderr)?.[1]);
  assert.ok(Number.isInteger(seed) && seed > 0);
  assert.ok(fs.existsSync(path.join(dir, `schnell-${seed}.png`)));
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
    const r = await schnell(['generate', 'a red barn', '--model', model, ...extra], { home });
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, extra.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line for ${extra.join(' ')}: ${r.stderr}`);
  }
  const empty = await schnell(['generate', '   ', '--model', model], { home });
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
    const r = await schnell(['generate', ...args, ...small, '--out', path.join(bad, 'out.png')], { home });
    assert.ok(r.code !== 0 && r.code !== null, `${what}: exit code ${r.code}`);
    assert.match(r.stderr, message, what);
    assert.doesNotMatch(r.stderr, /\n\s+at |Error:/, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: ${r.stderr}`);
  }
  assert.ok(!fs.existsSync(path.join(bad, 'out.png')));
  // Unicode, emoji with joiners, bidi and control characters are a prompt like any other.
  const u = await schnell(['generate', '日本語 👩‍👩‍👧 \u202e מִשְׁפָּט \u0001\u0007 é', ...small, '--seed', '7', '--model', model, '--out', path.join(bad, 'unicode.png')], { home });
  assert.equal(u.code, 0, u.stderr);
  assert.equal((await sharp(path.join(bad, 'unicode.png')).metadata()).format, 'png');
  // A negative prompt that starts with a dash is a negative prompt.
  const neg = await schnell(['generate', 'a', '--negative-prompt', '-blurry', '--cfg-scale', '2', ...small, '--model', model, '--out', path.join(bad, 'neg.png'), '--json'], { home });
  assert.equal(neg.code, 0, neg.stderr);
});

test('an --out that cannot be written: refused before generating, or one sentence when the write fails', async () => {
  const dir = fs.mkdtempSync(path.join(home, 'out-'));
  const file = path.join(dir, 'a-file');
  fs.writeFileSync(file, 'x');
  for (const out of [path.join(file, 'x.png'), path.join(file, 'sub') + path.sep]) {
    const r = await schnell(['generate', 'a', ...small, '--model', model, '--out', out], { home });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--out .* cannot be written: .*a-file is a file, not a folder/);
    assert.doesNotMatch(r.stderr, /seed:/, 'nothing was generated');
  }
  // The second image's name is taken by a folder: the write fails after generating.
  fs.mkdirSync(path.join(dir, 'many-2.png', 'inside'), { recursive: true });
  const r = await schnell(['generate', 'a', ...small, '--samples', '2', '--model', model, '--out', path.join(dir, 'many.png')], { home });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /could not write the images to .*many\.png: .*\(EISDIR\); choose another --out/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('.tmp-')), [], 'no temp files left behind');
});

test('no --model and none configured: says how to get one', async () => {
  const r = await schnell(['generate', 'a red barn'], { home: fs.mkdtempSync(path.join(home, 'empty-home-')) });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no model is configured: install one with `schnell models`.*`schnell demo-model/);
});

test('the configured model ($SCHNELL_HOME/config.json) is the default', async () => {
  const h = fs.mkdtempSync(path.join(home, 'configured-'));
  fs.writeFileSync(path.join(h, 'config.json'), JSON.stringify({ model }));
  const file = path.join(out, 'configured.png');
  const r = await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--out', file], { home: h });
  assert.equal(r.code, 0, r.stderr);
  const explicit = path.join(out, 'explicit.png');
  const e = await schnell(['generate', 'a red barn', ...small, '--seed', '42', '--model', model, '--out', explicit], { home: h });
  assert.equal(e.code, 0, e.stderr);
  assert.equal(sha(file), sha(explicit));
  // Another configured model gives another image: the setting is really used.
  fs.writeFileSync(path.join(h, 'config.json'), JSON.stringify({ model: path.join(home, 'demo2') }));
  fs.rmSync(path.join(home, 'demo2', 'flux1-schnell-demo-untrained.safetensors'));
  const broken = await schnell(['generate', 'a red barn', ...small, '--out', file], { home: h });
  assert.notEqual(broken.code, 0);
  assert.match(broken.stderr, /demo2/);
});

test('devices lists the CPU as available (--json) and explains the others', async () => {
  const r = await schnell(['devices', '--json'], { home });
  assert.equal(r.code, 0, r.stderr);
  const { devices } = JSON.parse(r.stdout);
  const cpu = devices.find((d: { provider: string }) => d.provider === 'cpu');
  assert.equal(cpu.available, true);
  assert.deepEqual(devices.map((d: { provider: string }) => d.provider).sort(), ['coreml', 'cpu', 'cuda', 'dml', 'webgpu']);
  for (const d of devices) assert.ok(typeof d.note === 'string' && d.note.length > 0);
  const plain = await schnell(['devices'], { home });
  assert.match(plain.stdout, /cpu/);
  // --probe loads a model on each offered provider; the CPU must work.
  const probed = JSON.parse((await schnell(['devices', '--probe', '--json'], { home })).stdout).devices;
  assert.deepEqual(probed.find((d: { provider: string }) => d.provider === 'cpu').probe, { ok: true });
  for (const d of probed) if (!d.available) assert.equal(d.probe, undefined);
});
