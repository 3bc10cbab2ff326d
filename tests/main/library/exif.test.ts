// JPEGs carry their parameters where A1111-compatible readers look: EXIF UserComment, "UNICODE"-
// prefixed UTF-16. Checked with the real exiftool (apt: libimage-exiftool-perl), on a JPEG the
// library recorded, and on the writer alone: replacing, long text, a JFIF header.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { formatParameters } from '../../../main/library/a1111.js';
import { withExifUserComment } from '../../../main/library/exif.js';
import { openLibrary, readImageInfo } from '../../../main/library/index.js';
import { makeJpeg, tempDir } from '../helpers.js';

const EXIFTOOL = process.env.EXIFTOOL ?? '/usr/bin/exiftool';
if (!fs.existsSync(EXIFTOOL)) throw new Error(`exiftool is needed for this test (${EXIFTOOL}); install it: apt-get install libimage-exiftool-perl`);

function exiftool(file: string): Record<string, unknown> {
  const out = execFileSync(EXIFTOOL, ['-j', '-b', '-EXIF:UserComment', '-Comment', '-ExifByteOrder', file], { encoding: 'utf8' });
  return (JSON.parse(out) as Record<string, unknown>[])[0]!;
}

test('a JPEG the library records carries the A1111 parameters as EXIF UserComment, read back by exiftool', async () => {
  const dir = tempDir();
  const lib = await openLibrary(path.join(dir, 'lib'));
  try {
    const fields = {
      prompt: 'a café at night, 狐 🦊\nsecond line', negativePrompt: 'blurry', steps: 4, cfgScale: 3.5, sampler: 'K_EULER', samples: 1, seed: 42,
      sampleIndex: 0, finishReason: 'SUCCESS' as const, model: 'flux-1-schnell-fp8', backend: 'local' as const, device: 'cpu', durationMs: 900,
    };
    const g = await lib.recordGeneration({ ...fields, format: 'jpeg', image: await makeJpeg(64, 48) });
    const tags = exiftool(g.file);
    assert.equal(tags.UserComment, formatParameters(g));
    assert.match(String(tags.UserComment), /^a café at night, 狐 🦊\nsecond line\nNegative prompt: blurry\nSteps: 4, Sampler: Euler, CFG scale: 3.5, Seed: 42, Size: 64x48/);
    assert.equal(tags.ExifByteOrder, 'Big-endian (Motorola, MM)');
    // Still a valid JPEG, and our own reader still finds its full JSON.
    assert.deepEqual(((m) => [m.format, m.width, m.height])(await sharp(g.file).metadata()), ['jpeg', 64, 48]);
    const info = await readImageInfo(fs.readFileSync(g.file), 'x.jpg');
    assert.equal(info.fields.prompt, fields.prompt);
  } finally {
    lib.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the writer replaces an Exif segment, keeps JFIF first, and cuts text over one segment at a whole character', async () => {
  const dir = tempDir();
  try {
    const plain = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#357' } }).jpeg().toBuffer();
    // A JFIF APP0 right after SOI, as many encoders write it (libvips leaves it out).
    const app0 = Buffer.from([0xff, 0xe0, 0, 16, ...Buffer.from('JFIF\0', 'latin1'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    const jfif = Buffer.concat([plain.subarray(0, 2), app0, plain.subarray(2)]);
    const once = withExifUserComment(jfif, 'first');
    const twice = withExifUserComment(once, 'second ✓');
    assert.equal(twice.readUInt16BE(2), 0xffe0, 'JFIF stays first');
    assert.equal(twice.indexOf(Buffer.from('Exif\0\0')), twice.lastIndexOf(Buffer.from('Exif\0\0')), 'one Exif segment');
    const file = path.join(dir, 'x.jpg');
    fs.writeFileSync(file, twice);
    assert.equal(exiftool(file).UserComment, 'second ✓');

    const long = `${'🦊'.repeat(20_000)}`; // 80,000 bytes of UTF-16: over one segment
    const cut = withExifUserComment(jfif, long);
    fs.writeFileSync(file, cut);
    const read = String(exiftool(file).UserComment);
    assert.ok(read.length > 30_000 && long.startsWith(read), `a prefix of whole characters, ${read.length} UTF-16 units`);
    assert.equal((await sharp(cut).metadata()).width, 16);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
