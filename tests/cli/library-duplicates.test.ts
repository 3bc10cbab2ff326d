// One row per image (issue 13, defect 5): the catalog's unique constraint, and an export of a
// generation whose file went missing, imported back, re-linking that row. Two concurrent
// `schnell library import` processes: tests/cli/library-hostile.e2e.test.ts.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DuplicateError, openCatalog } from '../../main/catalog/index.js';
import { openLibrary } from '../../main/library/index.js';
import { generation, makePng, tempDir } from '../main/helpers.js';

test('the catalog itself refuses a second row on a file (unique index), unless a copy is asked for; a job sample is recorded once', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    const hash = 'e'.repeat(64);
    const first = c.insert(generation({ imageHash: hash }));
    assert.throws(() => c.insert(generation({ imageHash: hash })), (e: Error) => e instanceof DuplicateError && e.existingId === first);
    // Also when the first row is in the trash: restoring it must stay possible.
    c.trash([first]);
    assert.throws(() => c.insert(generation({ imageHash: hash })), (e: Error) => e instanceof DuplicateError && /in the trash/.test(e.message));
    const copy = c.insert(generation({ imageHash: hash }), undefined, { sameFile: 'copy' });
    assert.notEqual(copy, first);
    // Behind the check, the index: a raw insert of the same file as copy 0 fails too.
    assert.throws(() => c.db.prepare(`INSERT INTO generations(id, prompt, width, height, finish_reason, model, backend, image_hash, image_format, created_at)
      VALUES ('01ZZZZZZZZZZZZZZZZZZZZZZZZ', 'x', 1, 1, 'SUCCESS', 'm', 'local', ?, 'png', 1)`).run(hash), /UNIQUE/);
    c.insert(generation({ jobId: 'job-1', sampleIndex: 0 }));
    c.insert(generation({ jobId: 'job-1', sampleIndex: 1 }));
    assert.throws(() => c.insert(generation({ jobId: 'job-1', sampleIndex: 1 })), (e: Error) => e instanceof DuplicateError && e.kind === 'job-sample');
  } finally {
    c.close();
  }
});

test('an export of a generation whose file went missing, imported back, re-links the old row instead of adding one', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const g = await lib.recordGeneration({ prompt: 'a lighthouse at dusk', seed: 42, model: 'm', backend: 'local', image: await makePng(16, 16, 1), tags: ['sea'] });
    const other = await lib.recordGeneration({ prompt: 'a different one', seed: 1, model: 'm', backend: 'local', image: await makePng(16, 16, 2) });
    const out = path.join(tempDir(), 'export');
    await lib.exportTo([g.id], out);
    fs.rmSync(g.file);
    await lib.scan({ repair: true });
    assert.ok(lib.get(g.id)!.missingAt);
    const r = await lib.importFrom([out]);
    assert.equal(r.imported.length, 1, JSON.stringify(r));
    assert.equal(r.imported[0]!.id, g.id);
    assert.equal(r.imported[0]!.relinked, true);
    const back = lib.get(g.id)!;
    assert.equal(back.missingAt, null);
    assert.ok(fs.existsSync(back.file));
    assert.deepEqual(back.tags, ['sea']);
    assert.equal(lib.search().items.length, 2);
    // Importing it once more is a duplicate, and a forged copy of another row does not take it over.
    assert.equal((await lib.importFrom([out])).skipped.length, 1);
    assert.equal(lib.get(other.id)!.missingAt, null);

    // Changed since it was made (rated), so the export's bytes differ from the stored file's: the
    // row is found by the id the export carries, and points at the new file.
    lib.rate([other.id], 4);
    const out2 = path.join(tempDir(), 'export2');
    const exported = await lib.exportTo([other.id], out2);
    const oldFile = lib.get(other.id)!.file;
    fs.rmSync(oldFile);
    const r2 = await lib.importFrom([out2]);
    assert.deepEqual(r2.imported.map((i) => [i.id, i.relinked]), [[other.id, true]]);
    const relinked = lib.get(other.id)!;
    assert.notEqual(relinked.file, oldFile);
    assert.ok(fs.existsSync(relinked.file));
    assert.equal(relinked.rating, 4);
    assert.equal(lib.search().items.length, 2);
    assert.ok(fs.existsSync(exported.files[0]!.file));
  } finally {
    lib.close();
  }
});

test('a job run again after a crash records each sample once: the second recording returns the first row', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const first = await lib.recordGeneration({ prompt: 'a harbour', seed: 5, sampleIndex: 0, samples: 2, model: 'm', backend: 'local', image: await makePng(8, 8, 1), jobId: 'job-7' });
    const again = await lib.recordGeneration({ prompt: 'a harbour', seed: 5, sampleIndex: 0, samples: 2, model: 'm', backend: 'local', image: await makePng(8, 8, 2), jobId: 'job-7' });
    assert.equal(again.id, first.id);
    const second = await lib.recordGeneration({ prompt: 'a harbour', seed: 6, sampleIndex: 1, samples: 2, model: 'm', backend: 'local', image: await makePng(8, 8, 3), jobId: 'job-7' });
    assert.notEqual(second.id, first.id);
    assert.equal(lib.search().items.length, 2);
    // The second run's file was not left behind.
    const images = fs.readdirSync(path.join(lib.dir, 'images'), { recursive: true }).filter((f) => String(f).endsWith('.png'));
    assert.equal(images.length, 2);
  } finally {
    lib.close();
  }
});
