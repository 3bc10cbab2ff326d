import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { test } from 'node:test';
import sharp from 'sharp';
import { crc32, PngError, pngSize, readPngChunks, readPngText, textChunk, withPngText } from '../../../main/library/png.js';
import { readJpegComment, withJpegComment, JpegError } from '../../../main/library/jpeg.js';
import { makeJpeg, makePng } from '../helpers.js';

function chunk(type: string, data: Buffer, crc?: number): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc ?? crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, tail]);
}

/** Splices raw chunk bytes right after IHDR of a real PNG. */
async function pngWith(...extra: Buffer[]): Promise<Buffer> {
  const png = await makePng(8, 8);
  const ihdrEnd = 8 + 12 + 13;
  return Buffer.concat([png.subarray(0, ihdrEnd), ...extra, png.subarray(ihdrEnd)]);
}

test('crc32 matches the PNG reference value', () => {
  assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
  assert.equal(crc32(Buffer.from('IE'), Buffer.from('ND')), 0xae426082);
});

test('text written into a PNG reads back, tEXt for Latin-1 and iTXt for the rest, and sharp still decodes it', async () => {
  const png = await makePng(40, 30);
  const entries = [
    { keyword: 'parameters', text: 'a cat\nSteps: 4, Seed: 1' },
    { keyword: 'schnell', text: JSON.stringify({ prompt: '猫 🙂 "q"\u0000' }) },
    { keyword: 'Comment', text: 'naïve café' },
  ];
  const out = withPngText(png, entries);
  const types = readPngChunks(out).map((c) => c.type);
  assert.deepEqual(types.slice(0, 4), ['IHDR', 'tEXt', 'iTXt', 'tEXt']);
  assert.deepEqual(readPngText(out), { texts: entries, warnings: [] });
  // Replacing keeps one chunk per keyword.
  const again = withPngText(out, [{ keyword: 'parameters', text: 'new' }]);
  assert.deepEqual(readPngText(again).texts.filter((t) => t.keyword === 'parameters'), [{ keyword: 'parameters', text: 'new' }]);
  const meta = await sharp(again).metadata();
  assert.deepEqual([meta.width, meta.height], [40, 30]);
  assert.deepEqual(pngSize(again), { width: 40, height: 30 });
  assert.throws(() => textChunk('', 'x'), PngError);
  assert.throws(() => textChunk('x'.repeat(80), 'x'), PngError);
});

test('compressed zTXt and iTXt are read, and a decompression bomb is ignored with a warning', async () => {
  const z = chunk('zTXt', Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), zlib.deflateSync(Buffer.from('from ztxt', 'latin1'))]));
  const i = chunk('iTXt', Buffer.concat([Buffer.from('schnell\0\x01\0en\0\0', 'latin1'), zlib.deflateSync(Buffer.from('ütf', 'utf8'))]));
  const bomb = chunk('zTXt', Buffer.concat([Buffer.from('bomb\0\0', 'latin1'), zlib.deflateSync(Buffer.alloc(64 * 1024 * 1024))]));
  const r = readPngText(await pngWith(z, i, bomb));
  assert.deepEqual(r.texts, [{ keyword: 'parameters', text: 'from ztxt' }, { keyword: 'schnell', text: 'ütf' }]);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0]!, /inflates past/);
});

test('damaged text chunks are skipped with a warning naming the problem', async () => {
  const good = chunk('tEXt', Buffer.from('parameters\0fine', 'latin1'));
  const badCrc = chunk('tEXt', Buffer.from('schnell\0{"evil":1}', 'latin1'), 0xdeadbeef);
  const noKeyword = chunk('tEXt', Buffer.from('no separator here', 'latin1'));
  const longKeyword = chunk('tEXt', Buffer.from(`${'k'.repeat(100)}\0x`, 'latin1'));
  const badUtf8 = chunk('iTXt', Buffer.concat([Buffer.from('k\0\0\0\0\0', 'latin1'), Buffer.from([0xff, 0xfe, 0xc0])]));
  const badFlag = chunk('iTXt', Buffer.from('k\0\x07\0\0\0x', 'latin1'));
  const shortITxt = chunk('iTXt', Buffer.from('k\0', 'latin1'));
  const badZlib = chunk('zTXt', Buffer.from('k\0\0not zlib at all', 'latin1'));
  const r = readPngText(await pngWith(good, badCrc, noKeyword, longKeyword, badUtf8, badFlag, shortITxt, badZlib));
  assert.deepEqual(r.texts, [{ keyword: 'parameters', text: 'fine' }]);
  assert.equal(r.warnings.length, 7);
  assert.match(r.warnings[0]!, /CRC/);
  assert.match(r.warnings[1]!, /keyword/);
  assert.match(r.warnings[3]!, /UTF-8/);
  assert.match(r.warnings[6]!, /not valid compressed data/);
});

test('an oversized text chunk is ignored with a warning, not read into the catalog', async () => {
  const huge = chunk('tEXt', Buffer.concat([Buffer.from('parameters\0', 'latin1'), Buffer.alloc(17 * 1024 * 1024, 0x61)]));
  const r = readPngText(await pngWith(huge, chunk('tEXt', Buffer.from('ok\0yes', 'latin1'))));
  assert.deepEqual(r.texts, [{ keyword: 'ok', text: 'yes' }]);
  assert.match(r.warnings[0]!, /over the \d+-byte limit/);
});

test('structurally broken PNGs are refused with a sentence: signature, truncation, lying lengths', async () => {
  const png = await makePng(8, 8);
  const lying = Buffer.from(png);
  lying.writeUInt32BE(0x7ffffff0, 8 + 12 + 13); // the chunk after IHDR claims ~2 GB
  const huge = Buffer.from(png);
  huge.writeUInt32BE(0xffffffff, 8 + 12 + 13);
  const badType = Buffer.from(png);
  badType.write('I\x00AT', 8 + 12 + 13 + 4, 'latin1');
  const noIhdr = Buffer.concat([png.subarray(0, 8), png.subarray(8 + 12 + 13)]);
  const cases: [Buffer, RegExp][] = [
    [Buffer.from('GIF89a'), /signature/],
    [png.subarray(0, 30), /truncated/],
    [png.subarray(0, png.length - 12), /no IEND|truncated/],
    [lying, /claims \d+ bytes but only \d+ remain/],
    [huge, /more than PNG allows/],
    [badType, /invalid chunk type/],
    [noIhdr, /instead of IHDR/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => readPngText(bytes), (e: Error) => e instanceof PngError && message.test(e.message), message.source);
  }
  // Bytes after IEND are not the image: ignored.
  assert.deepEqual(readPngText(Buffer.concat([png, Buffer.from('trailing junk')])).texts, []);
});

test('JPEG comments carry our JSON across many segments and survive re-writing', async () => {
  const jpg = await makeJpeg(20, 20);
  const text = JSON.stringify({ prompt: 'ä'.repeat(100_000) }); // over 65 KB: needs several segments
  const out = withJpegComment(jpg, text);
  assert.equal(readJpegComment(out), text);
  assert.equal(readJpegComment(withJpegComment(out, 'short')), 'short');
  assert.equal(readJpegComment(jpg), null);
  assert.equal((await sharp(out).metadata()).width, 20);
  const broken = Buffer.from(out);
  broken.writeUInt16BE(0xffff, 4); // first COM segment claims to run past the end
  assert.throws(() => readJpegComment(broken.subarray(0, 2000)), JpegError);
  assert.throws(() => readJpegComment(Buffer.from('not a jpeg')), JpegError);
});
