// A catalog edited outside the studio (issue 13, defects 2 and 8): a path where an image hash
// belongs must never become a path that purge deletes or show/export read; a date that is not a
// date, binary data where text belongs and a damaged full-text index give one sentence naming the
// repair command (never a JavaScript message or silently empty results), and the repair fixes them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { CatalogDamageError, REPAIR_COMMAND } from '../../../main/catalog/index.js';
import { openLibrary, type Library } from '../../../main/library/index.js';
import { run } from '../../../cli/library.js';
import { makePng, tempDir } from '../helpers.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const { log, error } = console;
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  try {
    return { code: await run(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function seeded(n = 3): Promise<{ dir: string; ids: string[] }> {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  const ids: string[] = [];
  try {
    for (let i = 0; i < n; i++) ids.push((await lib.recordGeneration({ prompt: `a lighthouse number ${i}`, seed: i, model: 'm', backend: 'local', image: await makePng(8, 8, i) })).id);
  } finally {
    lib.close();
  }
  return { dir, ids };
}

/** Edits the catalog file behind the studio's back, as another program would. */
function tamper(dir: string, sql: string, ...params: unknown[]): void {
  const db = new Database(path.join(dir, 'catalog.sqlite'));
  db.unsafeMode(true); // lets it write the search index's own tables, as the sqlite3 shell can
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const damage = (e: unknown) => e instanceof CatalogDamageError && e.message.includes(REPAIR_COMMAND);

test('a path-like image hash never reaches the file system: purge, show and export refuse, files outside stay', async () => {
  const { dir, ids } = await seeded();
  const outside = tempDir();
  const victim = path.join(outside, 'victim.png');
  fs.writeFileSync(victim, 'precious');
  const rel = path.relative(path.join(dir, 'images', 'xx'), path.join(outside, 'victim'));
  for (const hash of [rel, victim.replace(/\.png$/, ''), '../'.repeat(8) + 'etc/passwd', 'A'.repeat(64)]) {
    tamper(dir, 'UPDATE generations SET image_hash = ? WHERE id = ?', hash, ids[0]);
    const show = await cli('show', ids[0]!, '--library', dir);
    assert.equal(show.code, 1);
    assert.match(show.err, /damaged.*schnell library repair/);
    const exported = await cli('export', ids[0]!, '--to', path.join(tempDir(), 'out'), '--library', dir);
    assert.equal(exported.code, 1);
    assert.match(exported.err, /schnell library repair/);
    // Trash and purge through SQL (trash reads no file), and a forged deletion journal entry.
    tamper(dir, 'UPDATE generations SET trashed_at = 1 WHERE id = ?', ids[0]);
    tamper(dir, "INSERT OR IGNORE INTO file_deletions(image_hash, image_format, queued_at) VALUES (?, 'png', 1)", hash);
    const lib = await openLibrary(dir); // settles journalled deletions on open
    try {
      await lib.purge();
    } finally {
      lib.close();
    }
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious', hash);
    // Put the row back for the next variant.
    const again = await openLibrary(dir);
    try {
      ids[0] = (await again.recordGeneration({ prompt: 'again', seed: 9, model: 'm', backend: 'local', image: await makePng(8, 8, 50 + ids.length++) })).id;
    } finally {
      again.close();
    }
  }
  const lib = await openLibrary(dir);
  try {
    // resolveFile, the protocol handler's way in, stays inside too.
    await assert.rejects(lib.resolveFile(path.relative(dir, victim)));
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  } finally {
    lib.close();
  }
});

test('a repair gives a tampered hash a neutral name and marks the row missing; it reads again, nothing outside is touched', async () => {
  const { dir, ids } = await seeded();
  tamper(dir, 'UPDATE generations SET image_hash = ? WHERE id = ?', '../../../../tmp/x', ids[1]);
  const scan = await cli('scan', '--library', dir, '--json');
  assert.equal(scan.code, 0, scan.err);
  assert.deepEqual(JSON.parse(scan.out).damagedRows, [ids[1]]);
  const r = await cli('repair', '--library', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /1 damaged value fixed/);
  const lib = await openLibrary(dir);
  try {
    const g = lib.get(ids[1]!)!;
    assert.match(g.imageHash, /^[0-9a-f]{64}$/);
    assert.ok(g.missingAt, 'the row is marked missing');
    assert.equal(g.prompt, 'a lighthouse number 1');
    assert.ok(g.file.startsWith(path.join(dir, 'images')));
  } finally {
    lib.close();
  }
});

test('a bad date and binary data where text belongs: a sentence with the repair command, then repaired', async () => {
  const { dir, ids } = await seeded();
  tamper(dir, "UPDATE generations SET created_at = 'last tuesday' WHERE id = ?", ids[0]);
  tamper(dir, 'UPDATE generations SET prompt = ? WHERE id = ?', Buffer.from('a lighthouse in binary'), ids[1]);
  tamper(dir, 'UPDATE generations SET created_at = 1e300 WHERE id = ?', ids[2]);
  for (const argv of [['list'], ['show', ids[0]!], ['show', ids[1]!], ['show', ids[2]!], ['list', '--json']]) {
    const r = await cli(...argv, '--library', dir);
    assert.equal(r.code, 1, argv.join(' '));
    assert.match(r.err, /^schnell library \w+: the catalog is damaged: generation \w+ has .* as its '(createdAt|prompt)'; run 'schnell library repair' to fix it$/, argv.join(' '));
    assert.doesNotMatch(r.err, /TypeError|RangeError|Invalid time value|is not a function/);
  }
  const lib0 = await openLibrary(dir);
  try {
    assert.throws(() => lib0.get(ids[0]!), damage);
    assert.throws(() => lib0.page(), damage);
  } finally {
    lib0.close();
  }
  const r = await cli('repair', '--library', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /3 damaged values fixed/);
  const lib = await openLibrary(dir);
  try {
    assert.equal(lib.page().items.length, 3);
    assert.equal(lib.get(ids[1]!)!.prompt, 'a lighthouse in binary');
    assert.ok(Number.isFinite(Date.parse(lib.get(ids[0]!)!.createdAt)));
    assert.deepEqual(lib.search({ text: 'binary' }).items.map((g) => g.id), [ids[1]]);
  } finally {
    lib.close();
  }
});

async function expectSearchDamage(dir: string): Promise<void> {
  const r = await cli('search', 'lighthouse', '--library', dir);
  assert.equal(r.code, 1, `search answered: ${r.out}`);
  assert.match(r.err, /search index is damaged .*; run 'schnell library repair' to rebuild it/);
}

test('a search index that lost rows or whose pages are garbage is named, not answered with nothing; repair rebuilds it', async () => {
  const { dir, ids } = await seeded();
  // Lost rows: every entry gone, the generations still there.
  tamper(dir, 'DELETE FROM generations_fts');
  await expectSearchDamage(dir);
  assert.equal((await cli('repair', '--library', dir)).code, 0);
  let found = await cli('search', 'lighthouse', '--library', dir, '--json');
  assert.deepEqual(JSON.parse(found.out).items.map((g: { id: string }) => g.id).sort(), [...ids].sort());
  // Lost only its newest entry: the answer would be short, not empty; named all the same.
  tamper(dir, 'DELETE FROM generations_fts WHERE rowid = (SELECT max(seq) FROM generations)');
  await expectSearchDamage(dir);
  assert.equal((await cli('repair', '--library', dir)).code, 0);

  // Garbage pages: the index's own storage overwritten.
  tamper(dir, "UPDATE generations_fts_data SET block = x'00ff00ff00ff00ff00ff' WHERE id > 1");
  await expectSearchDamage(dir);
  // A write that touches the index says the same, instead of a SQLite message.
  const lib = await openLibrary(dir);
  try {
    await assert.rejects(lib.recordGeneration({ prompt: 'a lighthouse again', seed: 7, model: 'm', backend: 'local', image: await makePng(8, 8, 77) }), (e: Error) => /search index is damaged/.test(e.message) || damage(e));
  } finally {
    lib.close();
  }
  assert.equal((await cli('repair', '--library', dir)).code, 0);
  found = await cli('search', 'lighthouse', '--library', dir, '--json');
  assert.equal(JSON.parse(found.out).items.length, 3);
  // A real miss is still an empty answer.
  const miss = await cli('search', 'zeppelin', '--library', dir);
  assert.equal(miss.code, 0);
  assert.match(miss.out, /no generations match/);
});

test('scan --repair runs the same catalog repair', async () => {
  const { dir } = await seeded(2);
  tamper(dir, 'DELETE FROM generations_fts');
  const r = await cli('scan', '--repair', '--library', dir);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /search index rebuilt \(2 entries\)/);
  const lib: Library = await openLibrary(dir);
  try {
    assert.equal(lib.search({ text: 'lighthouse' }).items.length, 2);
  } finally {
    lib.close();
  }
});

test('a bad date in a job or a project is named with the repair command too, and repaired', async () => {
  const { dir, ids } = await seeded(1);
  let jobId: string;
  const lib = await openLibrary(dir);
  try {
    jobId = lib.jobs.enqueue({ prompt: 'x' }).id;
    lib.setProject(ids, 'Harbour');
  } finally {
    lib.close();
  }
  tamper(dir, "UPDATE jobs SET created_at = 'soon' WHERE id = ?", jobId);
  tamper(dir, 'UPDATE projects SET created_at = ? WHERE name = ?', Buffer.from('xx'), 'Harbour');
  const broken = await openLibrary(dir);
  try {
    assert.throws(() => broken.jobs.get(jobId), damage);
    assert.throws(() => broken.projects(), damage);
  } finally {
    broken.close();
  }
  assert.equal((await cli('repair', '--library', dir)).code, 0);
  const fixed = await openLibrary(dir);
  try {
    assert.ok(Number.isFinite(Date.parse(fixed.jobs.get(jobId)!.createdAt)));
    assert.equal(fixed.projects().find((p) => p.name === 'Harbour')?.count, 1);
  } finally {
    fixed.close();
  }
});
