import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { LibraryError, openLibrary, readImageInfo } from '../../../main/library/index.js';
import { withPngText } from '../../../main/library/png.js';
import { makeJpeg, makePng, tempDir } from '../helpers.js';

test('export writes readable names, current metadata and a manifest, never leaving the folder', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const a = await lib.recordGeneration({ prompt: 'A Cat in the Rain!', seed: 42, model: 'm', backend: 'local', image: await makePng(16, 16, 1), createdAt: Date.UTC(2026, 10, 27, 12, 34, 56) });
    const b = await lib.recordGeneration({ prompt: '../../../etc/passwd\u0000 <script>', seed: 42, model: 'm', backend: 'local', image: await makeJpeg(16, 16, 2), createdAt: Date.UTC(2026, 10, 27, 12, 34, 56) });
    const c = await lib.recordGeneration({ prompt: 'A Cat in the Rain!', seed: 42, model: 'm', backend: 'local', image: await makePng(16, 16, 3), createdAt: Date.UTC(2026, 10, 27, 12, 34, 56) });
    lib.tag([a.id], ['after recording']);
    lib.rate([a.id], 4);
    const out = path.join(tempDir(), 'export');
    const r = await lib.exportTo([a.id, b.id, c.id], out);
    const names = r.files.map((f) => path.basename(f.file));
    const stamp = (() => {
      const d = new Date(Date.UTC(2026, 10, 27, 12, 34, 56));
      const p = (n: number) => String(n).padStart(2, '0');
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}_${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
    })();
    assert.deepEqual(names, [`${stamp}_seed42_a-cat-in-the-rain.png`, `${stamp}_seed42_etc-passwd-script.jpg`, `${stamp}_seed42_a-cat-in-the-rain_2.png`]);
    for (const f of r.files) assert.equal(path.dirname(f.file), fs.realpathSync(out));
    // The copy carries what the catalog knows now, not what it knew when recording.
    const info = await readImageInfo(fs.readFileSync(r.files[0]!.file), 'x');
    assert.deepEqual(info.fields.tags, ['after recording']);
    assert.equal(info.fields.rating, 4);
    const manifest = JSON.parse(fs.readFileSync(r.manifest, 'utf8'));
    assert.deepEqual(manifest.generations.map((g: { file: string; id: string }) => [g.file, g.id]), names.map((n, i) => [n, [a.id, b.id, c.id][i]]));
    // A second export to the same folder does not overwrite.
    const again = await lib.exportTo([a.id], out);
    assert.equal(path.basename(again.files[0]!.file), `${stamp}_seed42_a-cat-in-the-rain_3.png`);
    assert.notEqual(again.manifest, r.manifest);
    await assert.rejects(lib.exportTo([a.id], path.join(lib.dir, 'images')), /overlaps the library/);
    await assert.rejects(lib.exportTo([a.id], lib.dir), /overlaps the library/);
    await assert.rejects(lib.exportTo(['01ARZ3NDEKTSV4RRFFQ69G5FAV'], out), /no generation/);
    // A file where the folder should be (or above it) is a clear LibraryError, and the file is kept.
    const aFile = path.join(tempDir(), 'a-file');
    fs.writeFileSync(aFile, 'keep me');
    for (const to of [aFile, path.join(aFile, 'below')]) {
      await assert.rejects(lib.exportTo([a.id], to), (err: Error) => err instanceof LibraryError && /is a file, not a folder/.test(err.message));
    }
    assert.equal(fs.readFileSync(aFile, 'utf8'), 'keep me');
  } finally {
    lib.close();
  }
});

test('import reads Schnell, A1111, ComfyUI and InvokeAI metadata into generations', async () => {
  const src = tempDir();
  const comfy = { '3': { class_type: 'KSampler', inputs: { seed: 5, steps: 20, cfg: 7, sampler_name: 'euler', positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] } }, '5': { class_type: 'EmptyLatentImage', inputs: { width: 24, height: 24, batch_size: 1 } }, '6': { class_type: 'CLIPTextEncode', inputs: { text: 'comfy castle' } }, '7': { class_type: 'CLIPTextEncode', inputs: { text: 'ugly' } } };
  fs.writeFileSync(path.join(src, 'a1111.png'), withPngText(await makePng(24, 24, 1), [{ keyword: 'parameters', text: 'a1111 lighthouse\nNegative prompt: fog\nSteps: 30, Sampler: Euler a, CFG scale: 7, Seed: 99, Size: 24x24, Model: sdxl' }]));
  fs.writeFileSync(path.join(src, 'comfy.png'), withPngText(await makePng(24, 24, 2), [{ keyword: 'prompt', text: JSON.stringify(comfy) }]));
  fs.writeFileSync(path.join(src, 'invoke.png'), withPngText(await makePng(24, 24, 3), [{ keyword: 'invokeai_metadata', text: JSON.stringify({ positive_prompt: 'invoke forest', seed: 11, width: 24, height: 24, steps: 25, cfg_scale: 5, scheduler: 'euler', model: { name: 'dreamshaper' } }) }]));
  fs.writeFileSync(path.join(src, 'plain.jpg'), await makeJpeg(24, 24, 4));
  fs.writeFileSync(path.join(src, 'broken.png'), (await makePng(24, 24, 5)).subarray(0, 60));
  fs.writeFileSync(path.join(src, 'notes.txt'), 'not an image');
  fs.writeFileSync(path.join(src, 'fake.png'), 'GIF89a pretending');
  fs.mkdirSync(path.join(src, 'sub'));
  fs.writeFileSync(path.join(src, 'sub', 'deep.png'), await makePng(24, 24, 6));

  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const r = await lib.importFrom([src], { project: 'Imported', tags: ['import'] });
    assert.deepEqual(r.imported.map((i) => [path.basename(i.file), i.source]), [['a1111.png', 'a1111'], ['comfy.png', 'comfyui'], ['invoke.png', 'invokeai'], ['plain.jpg', 'unknown']]);
    assert.deepEqual(r.failed.map((f) => path.basename(f.file)).sort(), ['broken.png', 'fake.png']);
    assert.match(r.failed.find((f) => f.file.endsWith('broken.png'))!.error, /truncated/);
    assert.match(r.failed.find((f) => f.file.endsWith('fake.png'))!.error, /not a PNG or JPEG/);
    const byPrompt = (p: string) => lib.search({ text: p }).items[0]!;
    const a = byPrompt('lighthouse');
    assert.deepEqual([a.negativePrompt, a.steps, a.sampler, a.cfgScale, a.seed, a.model, a.backend, a.project, a.tags], ['fog', 30, 'Euler a', 7, 99, 'sdxl', 'imported', 'Imported', ['import']]);
    const c = byPrompt('comfy');
    assert.deepEqual([c.negativePrompt, c.seed, c.steps, c.sampler, c.source], ['ugly', 5, 20, 'K_EULER', 'comfyui']);
    const i = byPrompt('forest');
    assert.deepEqual([i.seed, i.steps, i.cfgScale, i.model, i.source], [11, 25, 5, 'dreamshaper', 'invokeai']);
    assert.equal(lib.search({ backend: 'imported' }).items.length, 4);

    // The same files again are recognised; a recursive import finds the sub-folder.
    const again = await lib.importFrom([src], { recursive: true });
    assert.deepEqual(again.imported.map((x) => path.basename(x.file)), ['deep.png']);
    assert.equal(again.skipped.length, 4);
    assert.match(again.skipped[0]!.reason, /already in the library as/);
  } finally {
    lib.close();
  }
});

test('export then import into another library keeps ids, fields and remix links', async () => {
  const one = await openLibrary(path.join(tempDir(), 'one'));
  const two = await openLibrary(path.join(tempDir(), 'two'));
  try {
    const parent = await one.recordGeneration({ prompt: 'zz parent', seed: 1, model: 'm', backend: 'local', image: await makePng(8, 8, 1), tags: ['x'] });
    const child = await one.recordGeneration({ prompt: 'aa child', seed: 2, model: 'm', backend: 'cloud', image: await makePng(8, 8, 2), parentId: parent.id, project: 'P' });
    const out = path.join(tempDir(), 'out');
    await one.exportTo([child.id, parent.id], out);
    const r = await two.importFrom([out]); // alphabetical: the child comes before its parent
    assert.equal(r.imported.length, 2);
    const got = two.get(child.id)!;
    assert.equal(got.parentId, parent.id);
    assert.equal(got.backend, 'cloud');
    assert.equal(got.project, 'P');
    assert.deepEqual(two.get(parent.id)!.tags, ['x']);
  } finally {
    one.close();
    two.close();
  }
});

test('hostile metadata in an imported PNG is survived: damaged chunks skipped, a taken id replaced', async () => {
  const src = tempDir();
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const g = await lib.recordGeneration({ prompt: 'original', seed: 1, model: 'm', backend: 'local', image: await makePng(8, 8, 1) });
    // Same id as g, different pixels: a copy from another library, or a forgery.
    const forged = withPngText(await makePng(8, 8, 2), [{ keyword: 'schnell', text: JSON.stringify({ schnell: 1, id: g.id, prompt: 'forged', tags: ['ok', 'bad,tag'], project: 'x\u0007y' }) }]);
    fs.writeFileSync(path.join(src, 'forged.png'), forged);
    // A damaged JSON chunk (CRC broken) next to a good A1111 one.
    const damaged = withPngText(await makePng(8, 8, 3), [{ keyword: 'parameters', text: 'still readable\nSteps: 4, Seed: 3, Size: 8x8' }, { keyword: 'schnell', text: '{"schnell":1,"prompt":"evil"}' }]);
    const at = damaged.indexOf('schnell', 8);
    damaged[at + 12] = damaged[at + 12]! ^ 0xff; // flip a byte inside the JSON: the CRC no longer matches
    fs.writeFileSync(path.join(src, 'damaged.png'), damaged);
    const r = await lib.importFrom([src]);
    assert.equal(r.imported.length, 2);
    const [d, f] = r.imported;
    assert.notEqual(f!.id, g.id);
    const forgedRow = lib.get(f!.id)!;
    assert.equal(forgedRow.prompt, 'forged');
    assert.deepEqual(forgedRow.tags, ['ok']);
    assert.equal(forgedRow.project, null);
    assert.ok(f!.warnings.some((w) => /comma/.test(w)) && f!.warnings.some((w) => /control characters/.test(w)));
    assert.equal(lib.get(g.id)!.prompt, 'original');
    assert.equal(lib.get(d!.id)!.prompt, 'still readable');
    assert.equal(d!.source, 'a1111');
    assert.ok(d!.warnings.some((w) => /CRC/.test(w)));
  } finally {
    lib.close();
  }
});

test('import paths that try to leave an allowed root are refused: .., absolute, links, NUL', async () => {
  const root = tempDir();
  const outside = tempDir();
  fs.writeFileSync(path.join(outside, 'secret.png'), await makePng(8, 8, 7));
  fs.writeFileSync(path.join(root, 'ok.png'), await makePng(8, 8, 8));
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'link.png'));
  fs.symlinkSync(outside, path.join(root, 'linkdir'));
  fs.mkdirSync(path.join(root, 'inner'));
  fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'inner', 'sneaky.png'));
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const r = await lib.importFrom(['../' + path.basename(outside) + '/secret.png', path.join(outside, 'secret.png'), 'link.png', 'linkdir/secret.png', 'ok\u0000.png', 'inner', 'ok.png'], { root });
    assert.deepEqual(r.imported.map((i) => path.basename(i.file)), ['ok.png']);
    const errors = r.failed.map((f) => f.error);
    assert.match(errors[0]!, /climbs out with '\.\.'/);
    assert.match(errors[1]!, /is absolute/);
    assert.match(errors[2]!, /symbolic link/);
    assert.match(errors[3]!, /outside|link/);
    assert.match(errors[4]!, /NUL/);
    assert.deepEqual(r.skipped.map((s) => [path.basename(s.file), s.reason]), [['sneaky.png', 'a symbolic link; links are not followed']]);
    assert.equal(lib.search().items.length, 1);
    // Without a root (the CLI), a path is the user's own, but links are still not followed and
    // files already in the library are not imported into it again.
    const direct = await lib.importFrom([path.join(root, 'link.png'), lib.get(r.imported[0]!.id)!.file]);
    assert.match(direct.failed[0]!.error, /symbolic link/);
    assert.match(direct.failed[1]!.error, /inside the library already/);
  } finally {
    lib.close();
  }
});

test('resolveFile serves only the library’s images and thumbnails', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const g = await lib.recordGeneration({ prompt: 'x', seed: 1, model: 'm', backend: 'local', image: await makePng(8, 8) });
    const rel = path.relative(lib.dir, g.file);
    assert.equal(await lib.resolveFile(rel), g.file);
    assert.equal(await lib.resolveFile(path.relative(lib.dir, g.thumbnail)), g.thumbnail);
    const outside = path.join(tempDir(), 'x.png');
    fs.writeFileSync(outside, 'secret');
    fs.symlinkSync(outside, path.join(lib.dir, 'images', 'evil.png'));
    const hostile: [string, RegExp][] = [
      ['../catalog.sqlite', /climbs out/],
      ['images/../../etc/passwd', /climbs out/],
      ['images\\..\\..\\x', /climbs out/],
      ['/etc/passwd', /absolute/],
      ['C:\\Windows\\win.ini', /absolute/],
      ['catalog.sqlite', /not an image or thumbnail/],
      ['images/evil.png', /outside/],
      ['images/x\u0000.png', /NUL/],
      ['', /empty/],
    ];
    for (const [name, message] of hostile) {
      await assert.rejects(lib.resolveFile(name), (e: Error) => e instanceof LibraryError && message.test(e.message), name);
    }
  } finally {
    lib.close();
  }
});
