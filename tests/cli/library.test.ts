import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { run } from '../../cli/library.js';
import { openLibrary } from '../../main/library/index.js';
import { withPngText } from '../../main/library/png.js';
import { makePng, tempDir } from '../main/helpers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs the command in this process, capturing what it prints. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function seeded(): Promise<{ dir: string; ids: string[] }> {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const g = await lib.recordGeneration({
      prompt: i === 2 ? 'a dog on the beach' : `a cat in the rain ${i}`, seed: 40 + i, steps: 4, model: 'flux-1-schnell-fp8', backend: i ? 'local' : 'cloud',
      image: await makePng(16, 16, i), project: i === 1 ? 'Cats' : null, createdAt: 1_790_000_000_000 + i * 1000,
    });
    ids.push(g.id);
  }
  const child = await lib.recordGeneration({ prompt: 'a cat remix', seed: 7, model: 'm', backend: 'local', image: await makePng(16, 16, 9), parentId: ids[0], createdAt: 1_790_000_010_000 });
  ids.push(child.id);
  lib.close();
  return { dir, ids };
}

test('list and search print generations with their catalog fields in --json', async () => {
  const { dir, ids } = await seeded();
  const list = await cli('list', '--library', dir, '--json');
  assert.equal(list.code, 0, list.err);
  const page = JSON.parse(list.out);
  assert.deepEqual(page.items.map((g: { id: string }) => g.id), [...ids].reverse());
  const g = page.items.find((x: { id: string }) => x.id === ids[1]);
  for (const field of ['id', 'prompt', 'negativePrompt', 'seed', 'width', 'height', 'steps', 'finishReason', 'backend', 'model', 'createdAt', 'favorite', 'rating', 'tags', 'project', 'file', 'thumbnail']) {
    assert.ok(field in g, field);
  }
  assert.deepEqual([g.prompt, g.seed, g.width, g.height, g.finishReason, g.project], ['a cat in the rain 1', 41, 16, 16, 'SUCCESS', 'Cats']);

  const search = JSON.parse((await cli('search', 'cat', '--library', dir, '--json', '--backend', 'local')).out);
  assert.deepEqual(search.items.map((x: { id: string }) => x.id), [ids[3], ids[1]]);
  const paged = JSON.parse((await cli('list', '--library', dir, '--json', '--limit', '2')).out);
  assert.equal(paged.items.length, 2);
  const next = JSON.parse((await cli('list', '--library', dir, '--json', '--limit', '2', '--cursor', paged.nextCursor)).out);
  assert.deepEqual([...paged.items, ...next.items].map((x: { id: string }) => x.id), [...ids].reverse());
  const text = await cli('list', '--library', dir, '--project', 'cats');
  assert.match(text.out, new RegExp(`^${ids[1]}.*\\[Cats\\] a cat in the rain 1`));
  assert.match((await cli('search', 'zebra', '--library', dir)).out, /no generations match/);
});

test('show, tag, favorite, rate, trash, restore and purge work by id', async () => {
  const { dir, ids } = await seeded();
  const show = JSON.parse((await cli('show', ids[0]!, '--library', dir, '--json')).out);
  assert.equal(show.id, ids[0]);
  assert.deepEqual(show.remixes, [{ id: ids[3], depth: 1 }]);
  assert.match((await cli('show', ids[3]!, '--library', dir)).out, new RegExp(`remix of\\s+${ids[0]}`));

  assert.deepEqual(JSON.parse((await cli('tag', ids[0]!, ids[1]!, '--add', 'rain,night', '--library', dir, '--json')).out).items.map((g: { tags: string[] }) => g.tags), [['night', 'rain'], ['night', 'rain']]);
  assert.deepEqual(JSON.parse((await cli('tag', ids[0]!, '--remove', 'night', '--library', dir, '--json')).out).items[0].tags, ['rain']);
  assert.equal((await cli('favorite', ids[2]!, '--library', dir)).code, 0);
  assert.equal((await cli('rate', ids[2]!, '5', '--library', dir)).code, 0);
  const fav = JSON.parse((await cli('list', '--favorite', '--min-rating', '4', '--library', dir, '--json')).out);
  assert.deepEqual(fav.items.map((g: { id: string }) => g.id), [ids[2]]);
  assert.equal((await cli('favorite', ids[2]!, '--off', '--library', dir)).code, 0);

  const trash = await cli('trash', ids[2]!, '--library', dir);
  assert.match(trash.out, /undo: schnell library restore/);
  assert.equal(JSON.parse((await cli('list', '--trashed', '--library', dir, '--json')).out).items[0].id, ids[2]);
  await cli('restore', ids[2]!, '--library', dir);
  const refused = await cli('purge', ids[2]!, '--library', dir);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /not in the trash; trash it first/);
  const file = JSON.parse((await cli('show', ids[2]!, '--library', dir, '--json')).out).file;
  await cli('trash', ids[2]!, '--library', dir);
  const purged = JSON.parse((await cli('purge', '--library', dir, '--json')).out);
  assert.deepEqual(purged, { purged: [ids[2]], filesRemoved: 1 });
  assert.ok(!fs.existsSync(file));
});

test('scan, export and import from the command line', async () => {
  const { dir, ids } = await seeded();
  const out = path.join(tempDir(), 'out');
  const exp = JSON.parse((await cli('export', ids[0]!, ids[1]!, '--to', out, '--library', dir, '--json')).out);
  assert.equal(exp.files.length, 2);
  assert.match(path.basename(exp.files[0].file), /^\d{4}-\d{2}-\d{2}_\d{6}_seed40_a-cat-in-the-rain-0\.png$/);
  const src = tempDir();
  fs.writeFileSync(path.join(src, 'other.png'), withPngText(await makePng(16, 16, 77), [{ keyword: 'parameters', text: 'from a1111\nSteps: 20, Sampler: Euler, Seed: 5, Size: 16x16' }]));
  fs.writeFileSync(path.join(src, 'junk.png'), 'junk');
  const imp = await cli('import', src, '--project', 'Imports', '--library', dir);
  assert.equal(imp.code, 1, 'a failed file makes the exit code 1');
  assert.match(imp.out, /imported 1, skipped 0, failed 1/);
  assert.match(imp.out, /junk\.png: .*not a PNG or JPEG/);
  const found = JSON.parse((await cli('search', 'a1111', '--project', 'Imports', '--library', dir, '--json')).out);
  assert.equal(found.items[0].seed, 5);

  fs.rmSync(JSON.parse((await cli('show', ids[1]!, '--library', dir, '--json')).out).file);
  const scan = await cli('scan', '--library', dir);
  assert.match(scan.out, /rows without a file: 1/);
  assert.match(scan.out, /scan --repair/);
  const repaired = JSON.parse((await cli('scan', '--repair', '--library', dir, '--json')).out);
  assert.deepEqual(repaired.missing.map((m: { id: string }) => m.id), [ids[1]]);
  assert.match((await cli('list', '--library', dir)).out, /FILE MISSING/);
});

test('mistakes get one sentence and a usage exit code, never a stack trace', async () => {
  const { dir, ids } = await seeded();
  const aFile = path.join(tempDir(), 'not-a-folder');
  fs.writeFileSync(aFile, 'keep me');
  const cases: [string[], number, RegExp][] = [
    [['frobnicate', '--library', dir], 2, /unknown library command 'frobnicate'/],
    [['list', '--bogus', '--library', dir], 2, /Unknown option '--bogus'/],
    [['list', '--limit', 'ten', '--library', dir], 2, /--limit must be a whole number/],
    [['list', '--size', 'big', '--library', dir], 2, /--size must look like 1024x1024/],
    [['list', '--since', 'someday', '--library', dir], 2, /--since must be a date/],
    [['list', '--cursor', 'nonsense', '--library', dir], 1, /cursor is not one this catalog made/],
    [['show', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--library', dir], 1, /no generation with id/],
    [['rate', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--library', dir], 2, /rate needs one rating/],
    [['rate', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '2.5', '--library', dir], 2, /rating must be a whole number from 0 \(unrated\) to 5 \(got 2\.5\)/],
    [['rate', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '-1', '--library', dir], 2, /rating must be a whole number from 0 \(unrated\) to 5 \(got -1\)/],
    [['rate', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '6', '--library', dir], 2, /rating must be a whole number from 0 \(unrated\) to 5 \(got 6\)/],
    [['export', ids[0]!, '--to', aFile, '--library', dir], 1, /cannot export to .* is a file, not a folder/],
    [['list', '--library', aFile], 2, /cannot open the library .* is a file, not a folder/],
    [['list', '--library', path.join(aFile, 'below')], 2, /cannot open the library .* is a file, not a folder/],
    [['import', aFile, '--library', aFile], 1, /cannot open the library .* is a file, not a folder/],
    [['tag', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--library', dir], 2, /--add TAG or --remove TAG/],
    [['export', '01ARZ3NDEKTSV4RRFFQ69G5FAV', '--library', dir], 2, /--to DIR/],
    [['search', '--library', dir], 2, /needs the text/],
  ];
  for (const [argv, code, message] of cases) {
    const r = await cli(...argv);
    assert.equal(r.code, code, argv.join(' '));
    assert.match(r.err, message, argv.join(' '));
    assert.doesNotMatch(r.err, /\n\s+at /);
  }
  assert.equal(fs.readFileSync(aFile, 'utf8'), 'keep me');
  assert.equal((await cli()).code, 2);
  assert.equal((await cli('--help')).code, 0);
});

test('`node bin/schnell.mjs library` runs the same command end to end', async () => {
  const { dir, ids } = await seeded();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/schnell.mjs'), 'library', 'show', ids[2]!, '--library', dir, '--json'], { encoding: 'utf8', cwd: ROOT });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).prompt, 'a dog on the beach');
});
