// `schnell generate` end to end, as the composition root wires it: --library/--project record every
// image in a real library (SQLite catalog + files with metadata), and --backend local|cloud|auto
// goes through the engine's router, with a second `schnell serve` on 127.0.0.1 playing the
// Fireworks cloud (same demo model, so a cloud image must have the very pixels a local one has).
// Every spawned process gets its own SCHNELL_HOME.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary, parseParameters, readImageInfo } from '../../main/library/index.js';
import { readPngText } from '../../main/library/png.js';
import { schnell } from './cli-harness.js';
import { type ServeProcess, spawnServe } from '../runtime/server/helpers.js';

const CLOUD_KEY = 'cloud-side-token-abcdef0123456789';
const small = ['--width', '64', '--height', '64', '--steps', '2'];

let root: string;
let model: string;
let cloud: ServeProcess;
let homes = 0;

/** A fresh, empty SCHNELL_HOME for one spawned process. */
function home(): string {
  const h = path.join(root, `home-${++homes}`);
  fs.mkdirSync(h);
  return h;
}
/** No key from the developer's environment leaks into a run. */
const noKey = { FIREWORKS_API_KEY: '', FIREWORKS_BASE_URL: '' };
const cloudEnv = () => ({ FIREWORKS_API_KEY: CLOUD_KEY, FIREWORKS_BASE_URL: cloud.url });

async function pixels(file: string | Buffer): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  model = path.join(root, 'demo');
  const r = await schnell(['demo-model', '--out', model], { home: home() });
  assert.equal(r.code, 0, r.stderr);
  // The "cloud": the same demo model behind the Fireworks contract, with its own key.
  cloud = await spawnServe(['--model', model, '--token', CLOUD_KEY, '--backend', 'local'], { SCHNELL_HOME: home(), ...noKey });
});

after(async () => {
  await cloud?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

test('--library DIR --project P records every sample: rows, files and PNG metadata; `library list` shows them', async () => {
  const lib = path.join(root, 'lib');
  const out = path.join(root, 'out-local') + path.sep;
  const prompt = 'a lighthouse at dusk, "quoted" & odd: chars';
  const r = await schnell(['generate', prompt, ...small, '--seed', '4294967295', '--samples', '2', '--model', model, '--out', out,
    '--library', lib, '--project', 'Coast', '--json'], { home: home(), env: noKey });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  // The report keeps its fields and gains the backend and each image's catalog id.
  assert.equal(report.backend, 'local');
  assert.equal(report.model, 'demo (untrained)');
  assert.equal(report.untrained, true);
  assert.equal(report.device, 'cpu');
  assert.equal(report.seed, 4294967295);
  assert.deepEqual(report.images.map((i: { seed: number }) => i.seed), [4294967295, 0]);
  assert.ok(report.timings.engineMs > 0);
  const ids: string[] = report.images.map((i: { id: string }) => i.id);
  assert.equal(new Set(ids).size, 2);
  for (const id of ids) assert.match(id, /^[0-9A-Z]{26}$/);

  const library = await openLibrary(lib);
  try {
    const rows = library.page({ sort: 'oldest' }).items;
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((g) => g.id).sort(), [...ids].sort());
    for (const [i, g] of [...rows].sort((a, b) => a.sampleIndex - b.sampleIndex).entries()) {
      const img = report.images[i];
      assert.equal(g.id, img.id);
      assert.equal(g.prompt, prompt);
      assert.equal(g.negativePrompt, '');
      assert.equal(g.project, 'Coast');
      assert.equal(g.seed, img.seed);
      assert.equal(g.sampleIndex, i);
      assert.equal(g.samples, 2);
      assert.equal(g.steps, 2);
      assert.equal(g.cfgScale, 1);
      assert.equal(g.sampler, 'K_EULER');
      assert.deepEqual([g.width, g.height, g.format], [64, 64, 'png']);
      assert.equal(g.finishReason, 'SUCCESS');
      assert.equal(g.backend, 'local');
      assert.equal(g.device, 'cpu');
      assert.equal(g.model, 'demo (untrained)');
      assert.equal(g.fallbackReason, null);
      assert.ok(g.durationMs !== null && g.durationMs >= 0);
      // The stored file is the image that was written to --out (same pixels), with its generation embedded.
      assert.ok(fs.existsSync(g.file) && fs.existsSync(g.thumbnail));
      const stored = fs.readFileSync(g.file);
      assert.deepEqual(await pixels(stored), await pixels(img.path));
      const info = await readImageInfo(stored, g.file);
      assert.equal(info.source, 'studio');
      assert.equal(info.fields.id, g.id);
      assert.equal(info.fields.prompt, prompt);
      assert.equal(info.fields.seed, img.seed);
      assert.equal(info.fields.project, 'Coast');
      assert.equal(info.fields.backend, 'local');
      // …and the A1111 `parameters` text other tools read.
      const parameters = readPngText(stored).texts.find((t) => t.keyword === 'parameters');
      assert.ok(parameters, 'a parameters chunk');
      const a1111 = parseParameters(parameters.text, []);
      assert.equal(a1111.prompt, prompt);
      assert.equal(a1111.seed, img.seed);
      assert.equal(a1111.steps, 2);
    }
    assert.deepEqual(library.projects().map((p) => [p.name, p.count]), [['Coast', 2]]);
  } finally {
    library.close();
  }

  const list = await schnell(['library', 'list', '--library', lib, '--project', 'Coast', '--json'], { home: home() });
  assert.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout).items;
  assert.deepEqual(listed.map((g: { id: string }) => g.id).sort(), [...ids].sort());
  for (const g of listed) assert.equal(g.prompt, prompt);

  // A second run adds to the same library (nothing is overwritten).
  const again = await schnell(['generate', 'a second prompt', ...small, '--seed', '7', '--model', model, '--out', out, '--library', lib], { home: home(), env: noKey });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /note: recorded 1 image in the library /);
  const all = JSON.parse((await schnell(['library', 'list', '--library', lib, '--json'], { home: home() })).stdout).items;
  assert.equal(all.length, 3);
  assert.equal(all.find((g: { prompt: string }) => g.prompt === 'a second prompt').project, null);
});

test('--project alone records in the studio library of $SCHNELL_HOME; without either nothing is recorded', async () => {
  const h = home();
  const out = path.join(root, 'out-default') + path.sep;
  const plain = await schnell(['generate', 'a quiet street', ...small, '--seed', '3', '--model', model, '--out', out], { home: h, env: noKey });
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(fs.existsSync(path.join(out, 'schnell-3.png')));
  assert.ok(!fs.existsSync(path.join(h, 'library')), 'no library is created when nothing asks for one');

  const r = await schnell(['generate', 'a quiet street', ...small, '--seed', '3', '--model', model, '--out', out, '--project', 'Streets', '--json'], { home: h, env: noKey });
  assert.equal(r.code, 0, r.stderr);
  const [img] = JSON.parse(r.stdout).images;
  const library = await openLibrary(path.join(h, 'library'));
  try {
    const g = library.get(img.id);
    assert.ok(g, 'the row is in $SCHNELL_HOME/library');
    assert.equal(g.project, 'Streets');
    assert.equal(g.seed, 3);
  } finally {
    library.close();
  }
});

test('a bad --project, --library or --backend is one sentence, exit code 2, and nothing is generated', async () => {
  const out = path.join(root, 'out-bad') + path.sep;
  const aFile = path.join(root, 'not-a-folder');
  fs.writeFileSync(aFile, 'x');
  const cases: [string[], RegExp][] = [
    [['--project', '   '], /project name cannot be empty.*\(--project\)/],
    [['--project', 'x'.repeat(200)], /longer than 128 characters/],
    [['--library', aFile], /the library .*not-a-folder cannot be opened: .*\(--library\)/],
    [['--library', ''], /--library needs a folder/],
    [['--backend', 'gpu'], /--backend must be local, cloud or auto, got "gpu"/],
    [['--device', 'gpu'], /--device must be one of cpu, cuda/],
  ];
  for (const [extra, message] of cases) {
    const r = await schnell(['generate', 'a red barn', ...small, '--model', model, '--out', out, ...extra], { home: home(), env: noKey });
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, extra.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  assert.ok(!fs.existsSync(out), 'no image was written');
  const help = await schnell(['generate', '--help'], { home: home() });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--backend local\|cloud\|auto/);
  assert.match(help.stdout, /--library DIR/);
  assert.match(help.stdout, /--project NAME/);
});

test('--backend cloud without a key says which key is missing and writes nothing', async () => {
  const out = path.join(root, 'out-nokey') + path.sep;
  const r = await schnell(['generate', 'a red barn', '--backend', 'cloud', '--out', out, '--library', path.join(root, 'lib-nokey')], { home: home(), env: noKey });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no cloud key set \(set FIREWORKS_API_KEY, or save the key in the studio \(Settings, Fireworks cloud\) or as fireworks\.api_key in \$SCHNELL_HOME\/secrets\.json\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  assert.ok(!fs.existsSync(out));
  // The cloud serves the contract's sizes only: said before anything is sent.
  const odd = await schnell(['generate', 'a red barn', '--backend', 'cloud', ...small], { home: home(), env: cloudEnv() });
  assert.equal(odd.code, 2);
  assert.match(odd.stderr, /the cloud renders only 1024x1024.*64x64 is not one of them/);
});

test('--backend cloud is served by the cloud server: the image is written and recorded with backend "cloud"', async () => {
  const out = path.join(root, 'out-cloud');
  const lib = path.join(root, 'lib-cloud');
  const r = await schnell(['generate', 'a harbour', '--backend', 'cloud', '--seed', '21', '--out', path.join(out, 'c.png'), '--library', lib, '--project', 'Sky', '--json'], { home: home(), env: cloudEnv() });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.backend, 'cloud');
  assert.equal(report.device, null);
  assert.equal(report.model, 'flux-1-schnell-fp8');
  assert.equal(report.untrained, false);
  assert.equal(report.fallbackReason, undefined);
  assert.equal(typeof report.timings.engineMs, 'number');
  const [img] = report.images;
  assert.equal(img.path, path.join(out, 'c.png'));
  const meta = await sharp(img.path).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height, img.width, img.height, img.seed], ['png', 1024, 1024, 1024, 1024, 21]);

  // Same model, same seed: the local run draws exactly what the cloud sent.
  const local = path.join(out, 'l.png');
  const l = await schnell(['generate', 'a harbour', '--backend', 'local', '--model', model, '--seed', '21', '--out', local], { home: home(), env: noKey });
  assert.equal(l.code, 0, l.stderr);
  assert.deepEqual(await pixels(img.path), await pixels(local));

  const library = await openLibrary(lib);
  try {
    const g = library.get(img.id)!;
    assert.equal(g.backend, 'cloud');
    assert.equal(g.device, null);
    assert.equal(g.model, 'flux-1-schnell-fp8');
    assert.equal(g.project, 'Sky');
    assert.equal(g.seed, 21);
    assert.equal(g.fallbackReason, null);
    assert.deepEqual(await pixels(fs.readFileSync(g.file)), await pixels(img.path));
  } finally {
    library.close();
  }
});

test('--backend auto with a model that does not exist falls back to the cloud and says why (JSON, text and library)', async () => {
  const missing = path.join(root, 'no-such-model');
  const lib = path.join(root, 'lib-auto');
  const out = path.join(root, 'out-auto') + path.sep;
  const r = await schnell(['generate', 'a windmill', '--backend', 'auto', '--model', missing, '--seed', '31', '--width', '1216', '--height', '832', '--out', out, '--library', lib, '--json'], { home: home(), env: cloudEnv() });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.backend, 'cloud');
  assert.match(report.fallbackReason, /no-such-model does not exist/);
  const meta = await sharp(report.images[0].path).metadata();
  assert.deepEqual([meta.width, meta.height], [1216, 832]);
  const library = await openLibrary(lib);
  try {
    const g = library.get(report.images[0].id)!;
    assert.equal(g.backend, 'cloud');
    assert.equal(g.fallbackReason, report.fallbackReason);
  } finally {
    library.close();
  }

  // In text mode the same facts are notes on stderr; stdout keeps the file list.
  const t = await schnell(['generate', 'a windmill', '--backend', 'auto', '--model', missing, '--seed', '31', '--width', '1216', '--height', '832', '--out', out], { home: home(), env: cloudEnv() });
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stderr, /note: served by the Fireworks cloud \(http:\/\/127\.0\.0\.1:\d+, model flux-1-schnell-fp8\), because the local model could not serve: .*no-such-model does not exist/);
  assert.match(t.stdout, /schnell-31\.png {2}\(seed 31\)/);

  // Without a key the same run fails with what is missing, both halves of it.
  const n = await schnell(['generate', 'a windmill', '--backend', 'auto', '--model', missing, '--out', out], { home: home(), env: noKey });
  assert.equal(n.code, 1);
  assert.match(n.stderr, /no-such-model does not exist, and no cloud key set/);
});

test('auto serves locally when it can; the defaults come from config.json', async () => {
  const out = path.join(root, 'out-defaults') + path.sep;
  // A model and a key: auto stays on this machine and says so.
  const a = await schnell(['generate', 'a pier', ...small, '--backend', 'auto', '--model', model, '--seed', '5', '--out', out], { home: home(), env: cloudEnv() });
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /note: served by this machine \("demo \(untrained\)" on cpu\)/);
  assert.match(a.stderr, /UNTRAINED/);

  // An installed in-place import (opened from a spec of component paths) runs through the router too.
  const withModel = home();
  const imp = await schnell(['models', 'import', model, '--id', 'demo-in-place', '--name', 'Demo in place'], { home: withModel });
  assert.equal(imp.code, 0, imp.stderr);
  const inPlace = await schnell(['generate', 'a pier', ...small, '--backend', 'auto', '--model', 'demo-in-place', '--seed', '5', '--out', path.join(root, 'in-place.png'), '--json'], { home: withModel, env: cloudEnv() });
  assert.equal(inPlace.code, 0, inPlace.stderr);
  const ip = JSON.parse(inPlace.stdout);
  assert.deepEqual([ip.backend, ip.model, ip.fallbackReason], ['local', 'Demo in place', undefined]);
  assert.deepEqual(await pixels(path.join(root, 'in-place.png')), await pixels(path.join(out, 'schnell-5.png')));

  // "backend": "cloud" in config.json applies when --backend is not given, even with a model configured.
  const h = home();
  fs.writeFileSync(path.join(h, 'config.json'), JSON.stringify({ backend: 'cloud', model }));
  const c = await schnell(['generate', 'a pier', '--seed', '5', '--out', out, '--json'], { home: h, env: cloudEnv() });
  assert.equal(c.code, 0, c.stderr);
  assert.equal(JSON.parse(c.stdout).backend, 'cloud');

  // No model anywhere and no backend set: auto, which goes to the cloud when a key is set…
  const none = await schnell(['generate', 'a pier', '--seed', '5', '--out', out, '--json'], { home: home(), env: cloudEnv() });
  assert.equal(none.code, 0, none.stderr);
  const report = JSON.parse(none.stdout);
  assert.equal(report.backend, 'cloud');
  assert.match(report.fallbackReason, /no local model installed/);
  // …and otherwise says how to get a model or a key.
  const nothing = await schnell(['generate', 'a pier', '--out', out], { home: home(), env: noKey });
  assert.equal(nothing.code, 2);
  assert.match(nothing.stderr, /no model is configured: install one with `schnell models`.*or set FIREWORKS_API_KEY/);
});
