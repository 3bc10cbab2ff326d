// Issue 13 through the real `schnell` program, in child processes (slow: each starts the CLI):
// two concurrent library imports of one folder (defect 5), a decompression bomb imported and
// adopted on a capped heap (defect 1), a hostile prompt printed by every library command (defect
// 6), and FIFOs named to library import and generate --model (defect 3).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openLibrary } from '../../main/library/index.js';
import { withPngText } from '../../main/library/png.js';
import { sha256 } from '../../main/library/store.js';
import { makePng, tempDir } from '../main/helpers.js';
import { ACTIVE, bombPng, fifo, HOSTILE } from '../main/library/hostile-files.js';
import { schnell } from './cli-harness.js';

const N = 30;

test(`two library imports of the same ${N}-image folder at once give exactly ${N} rows`, async () => {
  const home = tempDir();
  const src = tempDir();
  for (let i = 0; i < N; i++) fs.writeFileSync(path.join(src, `img-${String(i).padStart(2, '0')}.png`), await makePng(12, 12, i));
  const lib = path.join(tempDir(), 'lib');
  (await openLibrary(lib)).close(); // created first, so neither child pays for the migrations alone
  const [a, b] = await Promise.all([
    schnell(['library', 'import', src, '--library', lib, '--json'], { home }),
    schnell(['library', 'import', src, '--library', lib, '--json'], { home }),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const ra = JSON.parse(a.stdout);
  const rb = JSON.parse(b.stdout);
  assert.equal(ra.imported.length + rb.imported.length, N, 'each image imported by exactly one of the two');
  assert.equal(ra.skipped.length + rb.skipped.length, N, 'and skipped by the other');
  for (const s of [...ra.skipped, ...rb.skipped]) assert.match(s.reason, /already in the library as \w{26}/);
  const db = new Database(path.join(lib, 'catalog.sqlite'), { readonly: true });
  try {
    assert.equal((db.prepare('SELECT count(*) AS n FROM generations').get() as { n: number }).n, N);
    assert.equal((db.prepare('SELECT count(DISTINCT image_hash) AS n FROM generations').get() as { n: number }).n, N);
  } finally {
    db.close();
  }
  // A third import, and a scan, change nothing.
  const again = await schnell(['library', 'import', src, '--library', lib, '--json'], { home });
  assert.equal(JSON.parse(again.stdout).imported.length, 0);
  const scan = await schnell(['library', 'scan', '--repair', '--library', lib, '--json'], { home });
  assert.equal(JSON.parse(scan.stdout).orphans.length, 0);
});

test('library import and scan --repair of a decompression-bomb PNG keep the image, on a 160 MB heap', async () => {
  const home = tempDir();
  const src = tempDir();
  const lib = path.join(tempDir(), 'lib');
  const bomb = await bombPng();
  fs.writeFileSync(path.join(src, 'bomb.png'), bomb);
  // Without the budget the text alone inflates to a gigabyte: far past this heap.
  const env = { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=160`.trim() };
  const imported = await schnell(['library', 'import', src, '--library', lib, '--json'], { home, env });
  assert.equal(imported.code, 0, imported.stderr);
  const report = JSON.parse(imported.stdout);
  assert.equal(report.imported.length, 1);
  assert.ok(report.imported[0].warnings.some((w: string) => /dropped and the image kept/.test(w)), JSON.stringify(report.imported[0].warnings));

  // The same file found in the library folder without a row: the scan adopts it, same budget.
  const hash = sha256(bomb);
  const second = path.join(tempDir(), 'lib2');
  (await openLibrary(second)).close();
  fs.mkdirSync(path.join(second, 'images', hash.slice(0, 2)), { recursive: true });
  fs.writeFileSync(path.join(second, 'images', hash.slice(0, 2), `${hash}.png`), bomb);
  const scanned = await schnell(['library', 'scan', '--repair', '--library', second, '--json'], { home, env });
  assert.equal(scanned.code, 0, scanned.stderr);
  const scan = JSON.parse(scanned.stdout);
  assert.equal(scan.orphans.length, 1);
  assert.ok(scan.orphans[0].adoptedAs, JSON.stringify(scan.orphans[0]));
  assert.ok(scan.orphans[0].warnings.some((w: string) => /dropped and the image kept/.test(w)));
  const check = await openLibrary(second);
  try {
    assert.equal(check.get(scan.orphans[0].adoptedAs)!.prompt, 'a lighthouse at dusk');
  } finally {
    check.close();
  }
});

test('library list, show, search and import print a hostile prompt escaped; the catalog keeps it as it was', async () => {
  const home = tempDir();
  const src = tempDir();
  const lib = path.join(tempDir(), 'lib');
  fs.writeFileSync(
    path.join(src, `evil\u001b[2Jname.png`),
    // Our JSON chunk: JSON can carry a NUL, which PNG text itself cannot.
    withPngText(await makePng(8, 8, 5), [
      { keyword: 'schnell', text: JSON.stringify({ schnell: 1, prompt: HOSTILE, negativePrompt: '\u001b[8mhidden', model: '\u001b]8;;http://x\u0007m', tags: ['\u202etag'] }) },
    ]),
  );
  const imported = await schnell(['library', 'import', src, '--library', lib], { home });
  assert.equal(imported.code, 0, imported.stderr);
  assert.doesNotMatch(imported.stdout, ACTIVE);
  const l = await openLibrary(lib);
  const g = l.page().items[0]!;
  l.close();
  assert.equal(g.prompt, HOSTILE, 'stored text unchanged');
  assert.equal(g.negativePrompt, '\u001b[8mhidden');
  for (const argv of [['list'], ['show', g.id], ['search', 'cat'], ['list', '--json'], ['show', g.id, '--json']]) {
    const r = await schnell(['library', ...argv, '--library', lib], { home });
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
    assert.doesNotMatch(r.stdout, ACTIVE, argv.join(' '));
    assert.doesNotMatch(r.stderr, ACTIVE, argv.join(' '));
    if (argv.includes('--json')) {
      const parsed = JSON.parse(r.stdout);
      const item = parsed.items ? parsed.items[0] : parsed;
      assert.equal(item.prompt, HOSTILE, 'JSON carries the exact text');
    }
  }
  // An error message quoting file-derived text is escaped too.
  const bad = await schnell(['library', 'show', `\u001b]0;x\u0007`, '--library', lib], { home });
  assert.equal(bad.code, 1);
  assert.doesNotMatch(bad.stderr, ACTIVE);
});

test('library import of a FIFO through the CLI answers and exits', { timeout: 60_000 }, async () => {
  const src = tempDir();
  fifo(path.join(src, 'pipe.png'));
  // The CLI, as a user runs it, answers and exits.
  const r = await schnell(['library', 'import', path.join(src, 'pipe.png'), '--library', path.join(tempDir(), 'lib2')], { home: tempDir(), timeoutMs: 25_000 });
  assert.equal(r.code, 1);
  assert.match(r.stdout + r.stderr, /FIFO/);
});

test('generate --model naming a FIFO answers instead of hanging', { timeout: 60_000 }, async () => {
  const dir = tempDir();
  const pipe = fifo(path.join(dir, 'flux1-schnell.safetensors'));
  const r = await schnell(['generate', 'a cat', '--model', pipe, '--width', '16', '--height', '16', '--out', path.join(dir, 'o.png')], { home: tempDir(), timeoutMs: 25_000 });
  assert.notEqual(r.code, null, 'the command was killed: it hung');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /FIFO|not a regular file/);
});
