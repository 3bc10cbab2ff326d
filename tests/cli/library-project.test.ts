import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { run } from '../../cli/library.js';
import { openLibrary } from '../../main/library/index.js';
import { makePng, tempDir } from '../main/helpers.js';

// `schnell library project …` on real libraries: the commands a person types, their JSON, and a
// project carried from one library to another through a folder.

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await run(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

test('project commands: create with defaults, rename, cover, archive, export and import into another library', async () => {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  const a = await lib.recordGeneration({ prompt: 'a heron at dawn', seed: 3, model: 'm', backend: 'local', image: await makePng(16, 16, 1), project: 'Birds' });
  const b = await lib.recordGeneration({ prompt: 'a heron at dusk', seed: 4, model: 'm', backend: 'local', image: await makePng(16, 16, 2), project: 'Birds', parentId: a.id });
  lib.close();

  let r = await cli('project', 'create', 'Fish', '--defaults', '{"steps":6,"width":1216,"height":832}', '--library', dir, '--json');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out).defaults, { steps: 6, width: 1216, height: 832 });
  r = await cli('project', 'create', 'Fish2', '--defaults', '{"steps":99}', '--library', dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /project default 'steps' is not valid/);
  r = await cli('project', 'create', 'Fish3', '--defaults', 'steps=4', '--library', dir);
  assert.equal(r.code, 2);
  assert.match(r.err, /--defaults must be JSON/);
  r = await cli('project', 'rename', 'Birds', 'Herons', '--library', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Herons {2}2 generations, 0 favourites/);
  r = await cli('project', 'cover', 'Herons', a.id, '--library', dir, '--json');
  assert.equal(JSON.parse(r.out).cover.id, a.id);
  r = await cli('project', 'archive', 'Fish', '--library', dir);
  assert.equal(r.code, 0, r.err);
  r = await cli('project', 'list', '--library', dir, '--json');
  assert.deepEqual(JSON.parse(r.out).map((p: { name: string }) => p.name), ['Herons']);
  r = await cli('project', 'list', '--all', '--library', dir, '--json');
  assert.deepEqual(JSON.parse(r.out).map((p: { name: string; archived: boolean }) => [p.name, p.archived]), [['Fish', true], ['Herons', false]]);
  r = await cli('project', 'defaults', 'Fish', '--library', dir, '--json');
  assert.deepEqual(JSON.parse(r.out), { steps: 6, width: 1216, height: 832 });

  const out = path.join(tempDir(), 'herons');
  r = await cli('project', 'export', 'Herons', '--library', dir);
  assert.equal(r.code, 2);
  assert.match(r.err, /needs --to DIR/);
  r = await cli('project', 'export', 'Herons', '--to', out, '--library', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /exported project Herons .*: 2 generations/);
  const other = path.join(tempDir(), 'other');
  r = await cli('project', 'import', out, '--library', other, '--json');
  assert.equal(r.code, 0, r.err);
  assert.deepEqual([JSON.parse(r.out).project, JSON.parse(r.out).imported.length], ['Herons', 2]);
  r = await cli('project', 'import', out, '--library', other);
  assert.match(r.out, /imported 0, already here 2, failed 0/);
  r = await cli('show', b.id, '--library', other, '--json');
  assert.deepEqual(JSON.parse(r.out).ancestors, [a.id]);

  // A mistyped library is not created by a read, and unknown commands say what exists.
  const typo = path.join(tempDir(), 'typo');
  r = await cli('project', 'list', '--library', typo);
  assert.equal(r.code, 2);
  assert.equal(fs.existsSync(typo), false);
  r = await cli('project', 'frobnicate', '--library', dir);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown project command 'frobnicate'/);
  r = await cli('project', 'delete', 'Herons', '--library', dir);
  assert.equal(r.code, 1);
  assert.match(r.err, /still holds 2 generations/);
});
