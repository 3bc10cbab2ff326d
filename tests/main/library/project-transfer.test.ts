import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LibraryError, openLibrary, readImageInfo, type Library } from '../../../main/library/index.js';
import { makeJpeg, makePng, tempDir } from '../helpers.js';

// A project moved between two real libraries through a real folder: everything the catalog knows
// arrives (prompts, seeds, tags, ratings, favourites, remix chains, defaults, cover), nothing is
// added twice, and a folder someone tampered with is refused with a sentence.

interface Made {
  lib: Library;
  ids: { grand: string; parent: string; child: string; grandchild: string; other: string; jpeg: string };
}

/** A library where project "Foxes" holds a remix chain whose original lives in project "Sketches". */
async function sourceLibrary(): Promise<Made> {
  const lib = await openLibrary(path.join(tempDir(), 'source'));
  const rec = async (n: number, over: Record<string, unknown>) =>
    (await lib.recordGeneration({ prompt: `a fox number ${n}`, seed: 1000 + n, model: 'flux-1-schnell', backend: 'local', image: await makePng(24, 16, n), createdAt: 1_700_000_000_000 + n * 1000, ...over } as never)).id;
  lib.catalog.createProject('Foxes', { defaults: { width: 1344, height: 768, steps: 4, seedPolicy: 'increment', seed: 5 } });
  const grand = await rec(1, { project: 'Sketches', negativePrompt: 'blurry' });
  const parent = await rec(2, { project: 'Foxes', parentId: grand, tags: ['red', 'Night'] });
  const child = await rec(3, { project: 'Foxes', parentId: parent, steps: 6, cfgScale: 2.5, sampler: 'K_DPMPP_2M' });
  const grandchild = await rec(4, { project: 'Foxes', parentId: child, backend: 'cloud', fallbackReason: 'no GPU' });
  const other = await rec(5, { project: 'Sketches' });
  const jpeg = (await lib.recordGeneration({ prompt: 'a fox in jpeg', seed: 77, model: 'flux-1-schnell', backend: 'local', image: await makeJpeg(24, 16, 6), project: 'Foxes' })).id;
  lib.rate([parent], 5);
  lib.setFavorite([child], true);
  lib.tag([grandchild], ['keeper']);
  lib.catalog.setProjectCover('Foxes', child);
  return { lib, ids: { grand, parent, child, grandchild, other, jpeg } };
}

const stable = (lib: Library, id: string) => {
  const { file: _f, thumbnail: _t, imageHash: _h, missingAt: _m, jobId: _j, ...g } = lib.get(id)!;
  return g;
};

test('a project exported from one library arrives in another with every field, its lineage and its settings', async () => {
  const { lib: source, ids } = await sourceLibrary();
  const dest = await openLibrary(path.join(tempDir(), 'dest'));
  try {
    const folder = path.join(tempDir(), 'out', 'Foxes export');
    const phases = new Set<string>();
    const exported = await source.exportProject('foxes', folder, { onProgress: (p) => phases.add(p.phase) });
    assert.deepEqual([exported.project, exported.generations, exported.ancestors, exported.missing], ['Foxes', 4, 1, []]);
    assert.deepEqual(fs.readdirSync(folder).sort(), ['generations.jsonl', 'images', 'schnell-project.json']);
    assert.equal(fs.readdirSync(path.dirname(folder)).length, 1, 'no partial folder is left beside the export');
    // Each image carries its metadata too, so the images alone still tell their story.
    const images = fs.readdirSync(path.join(folder, 'images'));
    assert.equal(images.length, 5);
    const info = await readImageInfo(fs.readFileSync(path.join(folder, 'images', images.find((f) => f.includes('seed1002'))!)), 'x');
    assert.deepEqual([info.fields.prompt, info.fields.rating, info.fields.tags], ['a fox number 2', 5, ['Night', 'red']]);

    const report = await dest.importProject(folder, { onProgress: (p) => phases.add(p.phase) });
    assert.deepEqual([...phases].sort(), ['check', 'export', 'import']);
    assert.deepEqual([report.project, report.created, report.imported.length, report.existing.length, report.failed], ['Foxes', true, 5, 0, []]);
    for (const id of [ids.parent, ids.child, ids.grandchild, ids.jpeg]) assert.deepEqual(stable(dest, id), stable(source, id));
    // The original from another project came along under its own project, so the chain is whole.
    assert.deepEqual(stable(dest, ids.grand), stable(source, ids.grand));
    assert.equal(dest.get(ids.other), undefined);
    assert.deepEqual(dest.lineage(ids.grandchild).ancestors.map((g) => g.id), [ids.child, ids.parent, ids.grand]);
    assert.deepEqual(dest.lineage(ids.grand).remixes.map((g) => [g.id, g.depth]), [[ids.parent, 1], [ids.child, 2], [ids.grandchild, 3]]);
    const p = dest.catalog.project('Foxes')!;
    assert.deepEqual([p.count, p.favorites, p.cover?.id, p.cover?.chosen], [4, 1, ids.child, true]);
    assert.deepEqual(p.defaults, { width: 1344, height: 768, steps: 4, seedPolicy: 'increment', seed: 5 });
    assert.equal(dest.search({ text: 'keeper' }).items[0]?.id, ids.grandchild);
    // The files arrived whole: the thumbnails exist and a verifying scan finds nothing wrong.
    const scan = await dest.scan({ verify: true });
    assert.deepEqual([scan.orphans, scan.missing, scan.missingThumbnails], [[], [], []]);
    for (const id of Object.values(ids).filter((i) => i !== ids.other)) assert.ok(fs.existsSync(dest.get(id)!.thumbnail));

    // Importing again, or into the library it came from, adds nothing.
    const again = await dest.importProject(folder);
    assert.deepEqual([again.created, again.imported.length, again.existing.length, again.failed.length], [false, 0, 5, 0]);
    // The library it came from lost the parent's file; its exported copy (rating embedded since, so
    // other bytes) becomes that row's file.
    const lostHash = source.get(ids.parent)!.imageHash;
    fs.rmSync(source.get(ids.parent)!.file);
    const home = await source.importProject(folder);
    assert.deepEqual([home.imported.length, home.existing.length], [0, 5]);
    assert.deepEqual(home.existing.filter((e) => e.relinked).map((e) => e.existingId), [ids.parent]);
    assert.notEqual(source.get(ids.parent)!.imageHash, lostHash);
    assert.ok(fs.existsSync(source.get(ids.parent)!.file));
    // A row whose file went missing gets the exported copy back, and no second row.
    fs.rmSync(dest.get(ids.child)!.file);
    const relink = await dest.importProject(folder);
    assert.deepEqual(relink.existing.filter((e) => e.relinked).map((e) => e.existingId), [ids.child]);
    assert.ok(fs.existsSync(dest.get(ids.child)!.file));
    assert.equal(dest.get(ids.child)!.prompt, 'a fox number 3');
    assert.equal(dest.search({ limit: 1000 }).items.length, 5);
    assert.equal(source.search({ limit: 1000 }).items.length, 6);
  } finally {
    source.close();
    dest.close();
  }
});

test('a library that already has some of the images (same ids or same bytes) gets only the rest, and merge brings tags over', async () => {
  const { lib: source, ids } = await sourceLibrary();
  const dest = await openLibrary(path.join(tempDir(), 'dest'));
  try {
    const folder = path.join(tempDir(), 'foxes');
    await source.exportProject('Foxes', folder);
    // The child came over earlier as a loose file (keeping its id, untagged, unrated); the parent's
    // exact bytes came over as well.
    const childFile = fs.readdirSync(path.join(folder, 'images')).find((f) => f.includes('seed1003'))!;
    const loose = await dest.importFrom([path.join(folder, 'images', childFile)]);
    assert.equal(loose.imported[0]?.id, ids.child);
    dest.setFavorite([ids.child], false);
    dest.untag([ids.child], dest.get(ids.child)!.tags);
    const report = await dest.importProject(folder, { existing: 'merge', as: 'Foxes here' });
    assert.deepEqual([report.project, report.imported.length, report.existing.map((e) => [e.existingId, e.merged])], ['Foxes here', 4, [[ids.child, true]]]);
    assert.equal(dest.get(ids.child)!.favorite, true, 'merge brings the favourite over');
    assert.equal(dest.get(ids.grandchild)!.parentId, ids.child);
    assert.equal(dest.get(ids.child)!.parentId, ids.parent);
    assert.equal(dest.search({ limit: 1000 }).items.length, 5);
    assert.deepEqual(dest.catalog.project('Foxes here')!.count, 3, 'the loose copy kept its own project; the rest joined the new one');
  } finally {
    source.close();
    dest.close();
  }
});

test('an import cut short is finished by running it again, without duplicates', async () => {
  const { lib: source } = await sourceLibrary();
  const dest = await openLibrary(path.join(tempDir(), 'dest'));
  try {
    const folder = path.join(tempDir(), 'foxes');
    await source.exportProject('Foxes', folder);
    await assert.rejects(
      dest.importProject(folder, { onProgress: (p) => { if (p.phase === 'import' && p.done === 2) throw new Error('power cut'); } }),
      /power cut/,
    );
    assert.equal(dest.search({ limit: 1000 }).items.length, 2);
    const rest = await dest.importProject(folder);
    assert.deepEqual([rest.imported.length, rest.existing.length, rest.failed.length], [3, 2, 0]);
    assert.equal(dest.search({ limit: 1000 }).items.length, 5);
    assert.equal(dest.lineage(dest.search({ text: 'number 4' }).items[0]!.id).ancestors.length, 3);
  } finally {
    source.close();
    dest.close();
  }
});

test('hostile or damaged project folders are refused with a sentence, before anything is imported', async () => {
  const { lib: source } = await sourceLibrary();
  const dest = await openLibrary(path.join(tempDir(), 'dest'));
  try {
    const original = path.join(tempDir(), 'foxes');
    await source.exportProject('Foxes', original);
    const copy = () => {
      const to = path.join(tempDir(), 'copy');
      fs.cpSync(original, to, { recursive: true });
      return to;
    };
    const list = (f: string) => fs.readFileSync(path.join(f, 'generations.jsonl'), 'utf8').trimEnd().split('\n');
    const writeList = (f: string, lines: string[], fixHash = true) => {
      const text = `${lines.join('\n')}\n`;
      fs.writeFileSync(path.join(f, 'generations.jsonl'), text);
      if (fixHash) {
        const header = JSON.parse(fs.readFileSync(path.join(f, 'schnell-project.json'), 'utf8'));
        header.listSha256 = createHash('sha256').update(text).digest('hex');
        header.generations = lines.length;
        fs.writeFileSync(path.join(f, 'schnell-project.json'), JSON.stringify(header));
      }
    };
    const edit = (f: string, i: number, change: (e: Record<string, any>) => void) => {
      const lines = list(f);
      const e = JSON.parse(lines[i]!);
      change(e);
      lines[i] = JSON.stringify(e);
      writeList(f, lines);
    };
    const refused = async (folder: string, pattern: RegExp) => {
      await assert.rejects(dest.importProject(folder), (err: Error) => err instanceof LibraryError && pattern.test(err.message), pattern.source);
      assert.equal(dest.search({ limit: 1000 }).items.length, 0, `nothing imported for ${pattern.source}`);
    };

    let f = copy();
    edit(f, 1, (e) => { e.file = 'images/../../../etc/passwd.png'; });
    await refused(f, /line 2 .*file/);
    f = copy();
    edit(f, 1, (e) => { e.file = '/etc/passwd.png'; });
    await refused(f, /line 2 .*file/);
    f = copy();
    edit(f, 0, (e) => { e.generation.rating = 9; });
    await refused(f, /line 1 field 'generation.rating'/);
    f = copy();
    edit(f, 2, (e) => { e.generation.id = JSON.parse(list(f)[0]!).generation.id; });
    await refused(f, /repeats generation/);
    f = copy();
    edit(f, 0, (e) => { e.extra = 'surprise'; });
    await refused(f, /unknown field 'extra'/);
    // A tampered list without its checksum updated.
    f = copy();
    writeList(f, list(f).map((l) => l.replace('"rating":5', '"rating":4')), false);
    await refused(f, /does not match the checksum/);
    // A symbolic link leading out of the folder, in place of an image or of the catalog file.
    f = copy();
    const victim = path.join(tempDir(), 'secret.png');
    fs.writeFileSync(victim, await makePng(8, 8, 99));
    const img = path.join(f, JSON.parse(list(f)[0]!).file);
    fs.rmSync(img);
    fs.symlinkSync(victim, img);
    await refused(f, /link/);
    f = copy();
    const outsideHeader = path.join(tempDir(), 'header.json');
    fs.renameSync(path.join(f, 'schnell-project.json'), outsideHeader);
    fs.symlinkSync(outsideHeader, path.join(f, 'schnell-project.json'));
    await refused(f, /schnell-project.json is a symbolic link/);
    // The images folder itself a link to somewhere else.
    f = copy();
    const elsewhere = path.join(tempDir(), 'elsewhere');
    fs.renameSync(path.join(f, 'images'), elsewhere);
    fs.symlinkSync(elsewhere, path.join(f, 'images'));
    await refused(f, /link/);
    f = copy();
    const header = JSON.parse(fs.readFileSync(path.join(f, 'schnell-project.json'), 'utf8'));
    fs.writeFileSync(path.join(f, 'schnell-project.json'), JSON.stringify({ ...header, schnellProject: 7 }));
    await refused(f, /project format 7, newer than this studio reads/);
    f = copy();
    fs.writeFileSync(path.join(f, 'schnell-project.json'), '{"schnellProject": 1,');
    await refused(f, /not valid JSON/);
    f = copy();
    fs.rmSync(path.join(f, 'generations.jsonl'));
    await refused(f, /generations.jsonl is missing/);
    await refused(path.join(tempDir(), 'nothing-here'), /does not exist/);

    // An edited list that makes the original a remix of its own grandchild: the loop is not closed.
    f = copy();
    const lines = list(f);
    const lastId = JSON.parse(lines[lines.length - 2]!).generation.id; // the grandchild (the JPEG is last)
    edit(f, 0, (e) => { e.generation.parentId = lastId; });
    const loop = await dest.importProject(f);
    assert.equal(loop.imported.length, 5);
    assert.match(loop.warnings.join('\n'), /would make a loop of remixes/);
    const first0 = JSON.parse(lines[0]!).generation.id;
    assert.deepEqual(dest.lineage(first0).ancestors, []);
    for (const g of dest.search({ limit: 1000 }).items) dest.trash([g.id]);
    await dest.purge();

    // A changed image (the list intact) fails that image alone, saying why; the rest arrive.
    f = copy();
    const first = JSON.parse(list(f)[0]!);
    fs.writeFileSync(path.join(f, first.file), await makePng(24, 16, 42));
    const partial = await dest.importProject(f);
    assert.deepEqual(partial.failed.map((x) => x.file), [first.file]);
    assert.match(partial.failed[0]!.error, /does not match its SHA-256/);
    assert.equal(partial.imported.length, 4);

    // Export refuses a folder with something in it, and one inside the library.
    const busy = path.join(tempDir(), 'busy');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'keep.txt'), 'mine');
    await assert.rejects(source.exportProject('Foxes', busy), /not an empty folder/);
    assert.deepEqual(fs.readdirSync(busy), ['keep.txt']);
    await assert.rejects(source.exportProject('Foxes', path.join(source.dir, 'exports')), /overlaps the library/);
    await assert.rejects(source.exportProject('Wolves', path.join(tempDir(), 'w')), /no project named "Wolves"/);
  } finally {
    source.close();
    dest.close();
  }
});
