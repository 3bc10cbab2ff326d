// `schnell generate --project P` without --library, as a process: the image is recorded in the
// studio library of $SCHNELL_HOME; without either flag nothing is recorded (no library created).
// Long (two runs of their own); --library DIR and the refusals are in generate-library.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLibrary } from '../../main/library/index.js';
import { homeMaker, NO_KEY, schnell } from './cli-harness.js';

const small = ['--width', '64', '--height', '64', '--steps', '2'];

let root: string;
let model: string;

const home = homeMaker(() => root);
const noKey = NO_KEY;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  model = path.join(root, 'demo');
  const r = await schnell(['demo-model', '--out', model], { home: home() });
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  fs.rmSync(root, { recursive: true, force: true });
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
