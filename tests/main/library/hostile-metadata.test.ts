// Hostile metadata in imported files (issue 13, defects 1 and 9): decompression bombs made of many
// small compressed text chunks, oversized JPEG comments and over-long prompts lose the metadata
// (or the part over the limit), never the image, and say what was dropped. The bomb goes through
// the real CLI in tests/cli/library-hostile.e2e.test.ts, on a capped heap.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { test } from 'node:test';
import { openLibrary } from '../../../main/library/index.js';
import sharp from 'sharp';
import { crc32, MAX_FILE_TEXT_BYTES, pngForDecoding, readPngChunks, readPngText, withPngText } from '../../../main/library/png.js';
import { readImageInfo } from '../../../main/library/metadata.js';
import { makeThumbnail, sha256 } from '../../../main/library/store.js';
import { MAX_PROMPT_CHARS } from '../../../main/catalog/validate.js';
import { makeJpeg, makePng, tempDir } from '../helpers.js';
import { bombPng } from './hostile-files.js';

test('a PNG of hundreds of small compressed text chunks reads within the per-file budget, keeping what came first', async () => {
  const bomb = await bombPng();
  assert.ok(bomb.length > 900_000 && bomb.length < 1_500_000, `${bomb.length} bytes`);
  const r = readPngText(bomb);
  const total = r.texts.reduce((n, t) => n + t.text.length, 0);
  assert.ok(total <= MAX_FILE_TEXT_BYTES, `${total} bytes of text read`);
  assert.equal(r.texts[0]!.text.split('\n')[0], 'a lighthouse at dusk');
  assert.ok(r.warnings.some((w) => /chunks? \(.*\) were dropped and the image kept/.test(w)), r.warnings.join('\n'));
  const info = await readImageInfo(bomb, 'bomb.png');
  assert.equal(info.fields.prompt, 'a lighthouse at dusk');
  assert.equal(info.source, 'a1111');
});

test('the image decoder never sees the text chunks: the thumbnail is made from the pixels alone', async () => {
  // libvips inflates every zTXt/iTXt it meets, with no total bound (1.7 GB for this file, before).
  const bomb = await bombPng(40);
  const bare = pngForDecoding(bomb);
  assert.deepEqual(readPngChunks(bare).map((c) => c.type).filter((t) => /^(tEXt|zTXt|iTXt|iCCP)$/.test(t)), []);
  assert.ok(bare.length < 10_000, `${bare.length} bytes left`);
  const plain = await makePng(16, 16, 7);
  assert.deepEqual(await sharp(bare).raw().toBuffer(), await sharp(plain).raw().toBuffer());
  assert.deepEqual(await makeThumbnail(bomb), await makeThumbnail(plain));
});

test('a JPEG whose metadata comments are over the limit keeps the image and drops the metadata with a warning', async () => {
  const jpeg = await makeJpeg(16, 16, 3);
  // 300 COM segments of ~64 KB with our prefix: about 19 MB of "metadata".
  const segment = Buffer.concat([Buffer.from([0xff, 0xfe, 0xff, 0xff]), Buffer.from('schnell:', 'latin1'), Buffer.alloc(65533 - 8, 0x61)]);
  const big = Buffer.concat([jpeg.subarray(0, 2), ...Array.from({ length: 300 }, () => segment), jpeg.subarray(2)]);
  const info = await readImageInfo(big, 'big.jpg');
  assert.equal(info.format, 'jpeg');
  assert.deepEqual([info.width, info.height], [16, 16]);
  assert.ok(info.warnings.some((w) => /over the \d+-byte limit; the metadata was dropped and the image kept/.test(w)), info.warnings.join('\n'));
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const src = path.join(tempDir(), 'big.jpg');
    fs.writeFileSync(src, big);
    const r = await lib.importFrom([src]);
    assert.equal(r.imported.length, 1, JSON.stringify(r.failed));
  } finally {
    lib.close();
  }
});

test('a prompt over the field limit is cut with a warning, whichever tool wrote it; the image is kept', async () => {
  const long = 'p'.repeat(MAX_PROMPT_CHARS + 10);
  const src = tempDir();
  const files: [string, Buffer][] = [
    ['a1111.png', withPngText(await makePng(8, 8, 1), [{ keyword: 'parameters', text: `${long}\nNegative prompt: ${long}\nSteps: 4, Seed: 1, Size: 8x8` }])],
    ['ours.png', withPngText(await makePng(8, 8, 2), [{ keyword: 'schnell', text: JSON.stringify({ schnell: 1, prompt: long, model: 'm'.repeat(600) }) }])],
    ['invoke.png', withPngText(await makePng(8, 8, 3), [{ keyword: 'invokeai_metadata', text: JSON.stringify({ positive_prompt: long, seed: 3 }) }])],
    ['comfy.png', withPngText(await makePng(8, 8, 4), [{ keyword: 'prompt', text: JSON.stringify({ 1: { class_type: 'CLIPTextEncode', inputs: { text: long } } }) }])],
  ];
  for (const [name, bytes] of files) fs.writeFileSync(path.join(src, name), bytes);
  const lib = await openLibrary(path.join(tempDir(), 'lib'));
  try {
    const r = await lib.importFrom([src]);
    assert.deepEqual(r.failed, []);
    assert.equal(r.imported.length, 4);
    for (const i of r.imported) {
      const g = lib.get(i.id)!;
      assert.equal(g.prompt.length, MAX_PROMPT_CHARS, i.file);
      assert.ok(i.warnings.some((w) => /prompt has \d+ characters, over the 1000000-character limit; cut/.test(w)), `${i.file}: ${i.warnings.join('; ')}`);
    }
    const ours = r.imported.find((i) => i.file.endsWith('ours.png'))!;
    assert.equal(lib.get(ours.id)!.model.length, 512);
    const a1111 = r.imported.find((i) => i.file.endsWith('a1111.png'))!;
    assert.equal(lib.get(a1111.id)!.negativePrompt.length, MAX_PROMPT_CHARS);
  } finally {
    lib.close();
  }
});
