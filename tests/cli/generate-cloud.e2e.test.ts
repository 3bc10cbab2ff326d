// `schnell generate --backend cloud|auto` end to end: the engine's router, with a second
// `schnell serve` on 127.0.0.1 playing the Fireworks cloud (same demo model, so a cloud image must
// have the very pixels a local one has), recording into a real library. Long (a server and a dozen
// CLI runs at the contract's sizes), so an e2e suite; the local recording is generate-library.test.ts.
// Every spawned process gets its own SCHNELL_HOME.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary } from '../../main/library/index.js';
import { homeMaker, NO_KEY, schnell } from './cli-harness.js';
import { type ServeProcess, spawnServe } from '../runtime/server/helpers.js';

const CLOUD_KEY = 'cloud-side-token-abcdef0123456789';
const small = ['--width', '64', '--height', '64', '--steps', '2'];

let root: string;
let model: string;
let cloud: ServeProcess;

const home = homeMaker(() => root);
const noKey = NO_KEY;
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
