import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { CatalogError } from '../../../main/catalog/index.js';
import { LibraryError, openLibrary, readImageInfo, type Library, type RecordInput } from '../../../main/library/index.js';
import { sha256 } from '../../../main/library/store.js';
import { makeJpeg, makePng, tempDir } from '../helpers.js';

async function record(lib: Library, over: Partial<RecordInput> = {}, n = 0): Promise<ReturnType<Library['get']> & object> {
  return lib.recordGeneration({
    prompt: 'a cat in the rain', negativePrompt: 'blurry', steps: 4, cfgScale: 1, sampler: 'K_EULER', samples: 1, seed: 42 + n,
    sampleIndex: 0, finishReason: 'SUCCESS', model: 'flux-1-schnell-fp8', backend: 'local', device: 'cpu', durationMs: 900,
    image: await makePng(48, 32, n), ...over,
  });
}

function listFiles(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
}

test('recording writes the image with its metadata, a 256 px WebP thumbnail, then the row', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const big = await sharp({ create: { width: 1024, height: 640, channels: 3, background: '#336699' } }).png().toBuffer();
    const g = await record(lib, { image: big, project: 'Rainy days', tags: ['weather'], fallbackReason: 'local model busy', backend: 'cloud' });
    assert.equal(lib.get(g.id)!.file, g.file);
    const bytes = fs.readFileSync(g.file);
    assert.equal(sha256(bytes), g.imageHash);
    assert.equal(path.basename(g.file), `${g.imageHash}.png`);
    assert.ok(g.file.startsWith(lib.dir));
    const thumb = await sharp(g.thumbnail).metadata();
    assert.deepEqual([thumb.format, thumb.width, thumb.height], ['webp', 256, 160]);
    const info = await readImageInfo(bytes, g.file);
    assert.equal(info.source, 'studio');
    assert.deepEqual(
      { id: info.fields.id, prompt: info.fields.prompt, seed: info.fields.seed, project: info.fields.project, tags: info.fields.tags, backend: info.fields.backend, fallbackReason: info.fields.fallbackReason },
      { id: g.id, prompt: g.prompt, seed: 42, project: 'Rainy days', tags: ['weather'], backend: 'cloud', fallbackReason: 'local model busy' },
    );
    assert.equal(g.width, 1024);
    assert.equal(g.height, 640);
    assert.equal(lib.db.pragma('integrity_check', { simple: true }), 'ok');
  } finally {
    lib.close();
  }
});

test('JPEGs are stored as .jpg with the JSON in a comment, and a remix records its parent', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const parent = await record(lib);
    const g = await record(lib, { image: await makeJpeg(40, 40), format: 'jpeg', parentId: parent.id, prompt: 'remix' });
    assert.equal(g.format, 'jpeg');
    assert.ok(g.file.endsWith('.jpg'));
    assert.equal((await readImageInfo(fs.readFileSync(g.file), g.file)).fields.parentId, parent.id);
    assert.deepEqual(lib.lineage(parent.id).remixes.map((r) => r.id), [g.id]);
  } finally {
    lib.close();
  }
});

test('recordings made at the same time all land, each with its own file and row', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const made = await Promise.all(Array.from({ length: 12 }, (_, i) => record(lib, { sampleIndex: i, samples: 12 }, i)));
    assert.equal(new Set(made.map((g) => g.id)).size, 12);
    assert.equal(lib.search().items.length, 12);
    for (const g of made) assert.ok(fs.existsSync(g.file) && fs.existsSync(g.thumbnail));
    const report = await lib.scan();
    assert.deepEqual([report.orphans, report.missing, report.tempFiles], [[], [], []]);
  } finally {
    lib.close();
  }
});

test('a refused recording leaves no file behind', async () => {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  try {
    const cases: [Partial<RecordInput>, RegExp][] = [
      [{ seed: -1 }, /'seed'/],
      [{ width: 512 }, /image is 48x32 but the generation says 512x/],
      [{ format: 'jpeg' }, /bytes are png, but format says jpeg/],
      [{ image: Buffer.from('not an image') }, /neither PNG nor JPEG/],
      [{ image: (await makePng()).subarray(0, 40) }, /cannot be read|truncated/],
      [{ parentId: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, /parent generation/],
      [{ tags: ['bad\ntag'] }, /control characters/],
      [{ image: 'base64' as unknown as Buffer }, /Buffer/],
    ];
    for (const [over, message] of cases) {
      await assert.rejects(record(lib, over), (e: Error) => (e instanceof LibraryError || e instanceof CatalogError) && message.test(e.message), message.source);
    }
    // Corrupt pixel data: the header reads, the decode fails, nothing is written.
    const png = await makePng(64, 64);
    const idat = png.indexOf('IDAT');
    const corrupt = Buffer.concat([png.subarray(0, idat + 8), Buffer.alloc(png.length - idat - 8 - 16, 0x55), png.subarray(png.length - 16)]);
    await assert.rejects(record(lib, { image: corrupt, width: 64, height: 64 }), /cannot be decoded/);
    assert.deepEqual(listFiles(path.join(dir, 'images')), []);
    assert.deepEqual(listFiles(path.join(dir, 'thumbs')), []);
    assert.equal(lib.search().items.length, 0);
  } finally {
    lib.close();
  }
});

test('trash and restore keep the file; purge removes rows and files, but not a file another row still uses', async () => {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  try {
    const a = await record(lib, {}, 1);
    const b = await record(lib, {}, 2);
    lib.trash([a.id]);
    assert.equal(lib.search().items.length, 1);
    assert.ok(fs.existsSync(a.file));
    lib.restore([a.id]);
    assert.equal(lib.search().items.length, 2);
    await assert.rejects(lib.purge([a.id]), /not in the trash/);

    // A second row on the same file (an import of the same bytes, kept as a duplicate).
    const outside = path.join(tempDir(), 'copy.png');
    fs.copyFileSync(a.file, outside);
    const imported = await lib.importFrom([outside], { duplicates: 'keep' });
    const twin = imported.imported[0]!.id;
    assert.equal(lib.get(twin)!.file, a.file);

    lib.trash([a.id, b.id]);
    const r = await lib.purge();
    assert.deepEqual(r.purged.sort(), [a.id, b.id].sort());
    assert.equal(r.filesRemoved, 1);
    assert.ok(fs.existsSync(a.file), 'the twin still needs the shared file');
    assert.ok(fs.existsSync(a.thumbnail));
    assert.ok(!fs.existsSync(b.file) && !fs.existsSync(b.thumbnail));
    lib.trash([twin]);
    assert.equal((await lib.purge([twin])).filesRemoved, 1);
    assert.deepEqual(listFiles(path.join(dir, 'images')), []);
    assert.deepEqual(listFiles(path.join(dir, 'thumbs')), []);
    assert.deepEqual(lib.catalog.pendingFileDeletions(), []);
  } finally {
    lib.close();
  }
});

test('a purge cut short by a crash is finished on the next open, and never adopted back', async () => {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  const g = await record(lib);
  lib.trash([g.id]);
  lib.catalog.purge([g.id]); // rows gone and journalled; the process "dies" before removing files
  assert.ok(fs.existsSync(g.file));
  const report = await lib.scan();
  assert.deepEqual(report.orphans, [], 'a file awaiting deletion is not an orphan');
  lib.close();
  const again = await openLibrary(dir);
  try {
    assert.ok(!fs.existsSync(g.file));
    assert.ok(!fs.existsSync(g.thumbnail));
    assert.deepEqual(again.catalog.pendingFileDeletions(), []);
  } finally {
    again.close();
  }
});

test('the scan finds orphans both ways, leftovers and strangers, and repairs what is ours', async () => {
  const dir = path.join(tempDir(), 'lib');
  const lib = await openLibrary(dir);
  try {
    const kept = await record(lib, { tags: ['kept'], project: 'P' }, 1);
    const lost = await record(lib, {}, 2);
    const orphan = await record(lib, { prompt: 'an orphan with a story', tags: ['t'], project: 'Q' }, 3);
    // The orphan's row disappears (a crash between file and row looks like this).
    lib.db.prepare('DELETE FROM generations WHERE id = ?').run(orphan.id);
    // Someone deletes a file by hand, and a thumbnail.
    const lostBytes = fs.readFileSync(lost.file);
    fs.rmSync(lost.file);
    fs.rmSync(kept.thumbnail);
    // Leftovers: a temp file of a dead process, a thumbnail without image, a stranger, a link.
    const shard = path.dirname(kept.file);
    fs.writeFileSync(path.join(shard, '.tmp-999999999-abcdef'), 'partial');
    const strayThumb = path.join(dir, 'thumbs', 'ff', `${'f'.repeat(64)}.webp`);
    fs.mkdirSync(path.dirname(strayThumb), { recursive: true });
    fs.writeFileSync(strayThumb, 'x');
    fs.writeFileSync(path.join(shard, 'notes.txt'), 'mine');
    const outside = path.join(tempDir(), 'secret.png');
    fs.writeFileSync(outside, await makePng(8, 8, 9));
    const linkName = path.join(dir, 'images', sha256(fs.readFileSync(outside)).slice(0, 2), `${sha256(fs.readFileSync(outside))}.png`);
    fs.mkdirSync(path.dirname(linkName), { recursive: true });
    fs.symlinkSync(outside, linkName);

    const report = await lib.scan();
    assert.deepEqual(report.orphans.map((o) => o.hash), [orphan.imageHash]);
    assert.deepEqual(report.missing.map((m) => m.id), [lost.id]);
    assert.deepEqual(report.missingThumbnails, [kept.imageHash]);
    assert.deepEqual(report.orphanThumbnails, [strayThumb]);
    assert.equal(report.tempFiles.length, 1);
    assert.deepEqual(report.strangers.sort(), [linkName, path.join(shard, 'notes.txt')].sort());
    assert.equal(report.repaired, false);
    assert.equal(lib.get(lost.id)!.missingAt, null, 'a report changes nothing');

    const repaired = await lib.scan({ repair: true });
    assert.equal(repaired.orphans[0]!.adoptedAs, orphan.id, 'adopted under the id its metadata carries');
    const back = lib.get(orphan.id)!;
    assert.equal(back.prompt, 'an orphan with a story');
    assert.deepEqual(back.tags, ['t']);
    assert.equal(back.project, 'Q');
    assert.equal(back.createdAt, orphan.createdAt);
    assert.ok(lib.get(lost.id)!.missingAt);
    assert.ok(fs.existsSync(kept.thumbnail));
    assert.ok(!fs.existsSync(strayThumb));
    assert.ok(!fs.existsSync(path.join(shard, '.tmp-999999999-abcdef')));
    assert.ok(fs.existsSync(path.join(shard, 'notes.txt')), 'strangers are left alone');
    assert.ok(fs.existsSync(outside), 'a link is never followed or adopted');

    // The lost file comes back (from a backup): the next repair clears the mark.
    fs.writeFileSync(lost.file, lostBytes);
    const later = await lib.scan({ repair: true });
    assert.deepEqual(later.returned, [lost.id]);
    assert.deepEqual(later.orphans, []);
    assert.deepEqual(later.missing, []);
    assert.equal(lib.get(lost.id)!.missingAt, null);
  } finally {
    lib.close();
  }
});
