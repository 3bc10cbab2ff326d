// `schnell generate` and `schnell demo-model` end to end: real processes, real files, real sessions,
// one process per run (long: about a minute of CPU). The quick checks (argument handling in process,
// one real run) are in generate.test.ts.
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

test('hostile prompts generate like any other; a dash-led negative prompt is a negative prompt', async () => {
  // The hostile prompts and models that are refused are checked in generate.test.ts (in process).
  const bad = fs.mkdtempSync(path.join(home, 'hostile-'));
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
