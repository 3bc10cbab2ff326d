// What `schnell generate --out` writes: PNG or JPEG only (a .webp name is refused before anything
// runs, never PNG bytes under a .webp name), and every file carries its parameters the way the
// library's files do, readable by the library's own reader.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { readImageInfo } from '../../main/library/index.js';
import { schnell } from './cli-harness.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-out-'));
after(() => fs.rmSync(home, { recursive: true, force: true }));
const model = path.join(home, 'demo');
writeDemoModel(model);
const small = ['--width', '64', '--height', '48', '--steps', '1', '--model', model];

test('--out x.webp (or any other extension) is refused before generating, and nothing is written', async () => {
  for (const name of ['x.webp', 'x.gif']) {
    const out = path.join(home, name);
    const r = await schnell(['generate', 'a webp', ...small, '--out', out], { home });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`ends in \\.${name.split('.')[1]}, but generate writes PNG or JPEG files; end it in \\.png, \\.jpg or \\.jpeg`));
    assert.doesNotMatch(r.stderr, /seed:/, 'nothing was generated');
    assert.ok(!fs.existsSync(out));
  }
});

test('PNG and JPEG files from --out carry the prompt, seed and settings, as library files do', async () => {
  for (const name of ['params.png', 'params.jpg']) {
    const out = path.join(home, name);
    const r = await schnell(['generate', 'a lighthouse with parameters', '--negative-prompt', 'fog', '--cfg-scale', '1.5', ...small, '--seed', '77', '--out', out], { home });
    assert.equal(r.code, 0, r.stderr);
    const info = await readImageInfo(fs.readFileSync(out), out);
    assert.equal(info.format, name.endsWith('.png') ? 'png' : 'jpeg');
    assert.deepEqual(info.warnings, []);
    assert.equal(info.fields.prompt, 'a lighthouse with parameters');
    assert.equal(info.fields.negativePrompt, 'fog');
    assert.equal(info.fields.seed, 77);
    assert.equal(info.fields.steps, 1);
    assert.equal(info.fields.cfgScale, 1.5);
    assert.equal(info.fields.model, 'demo (untrained)');
  }
});
