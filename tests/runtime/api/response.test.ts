// The response encoder and the helpers clients use to read responses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ApiError, decodeBase64Image, encodeError, encodeImages, sniffImageFormat } from '../../../runtime/api/index.js';

const png = () => sharp({ create: { width: 8, height: 4, channels: 3, background: '#336699' } }).png().toBuffer();
const jpeg = () => sharp({ create: { width: 8, height: 4, channels: 3, background: '#336699' } }).jpeg().toBuffer();

test('magic bytes tell PNG from JPEG from anything else', async () => {
  assert.equal(sniffImageFormat(await png()), 'png');
  assert.equal(sniffImageFormat(await jpeg()), 'jpeg');
  assert.equal(sniffImageFormat(Buffer.from('GIF89a')), null);
  assert.equal(sniffImageFormat(Buffer.from('<html>')), null);
  assert.equal(sniffImageFormat(new Uint8Array(0)), null);
});

test('base64 entries: plain, data: URLs, base64url, line breaks; garbage is null', async () => {
  const bytes = await png();
  const b64 = bytes.toString('base64');
  assert.deepEqual(decodeBase64Image(b64), bytes);
  assert.deepEqual(decodeBase64Image(`data:image/png;base64,${b64}`), bytes);
  assert.deepEqual(decodeBase64Image(`  ${b64.slice(0, 10)}\n${b64.slice(10)}  `), bytes);
  assert.deepEqual(decodeBase64Image(bytes.toString('base64url')), bytes);
  assert.equal(decodeBase64Image('data:image/png,rawtext'), null);
  assert.equal(decodeBase64Image('%%%'), null);
  assert.equal(decodeBase64Image(''), null);
});

test('binary: the image with Content-Type, Content-Length, Seed and Finish-Reason', async () => {
  const bytes = await jpeg();
  const r = encodeImages({ id: 'g1', seed: 77, images: [{ bytes, seed: 77, finishReason: 'CONTENT_FILTERED', format: 'jpeg' }] }, 'image/jpeg', { 'X-Extra': '1' });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, bytes);
  assert.deepEqual(r.headers, { 'X-Extra': '1', 'Content-Type': 'image/jpeg', 'Content-Length': String(bytes.length), Seed: '77', 'Finish-Reason': 'CONTENT_FILTERED' });
});

test('JSON: {id, base64[], finishReason, seed}; any filtered image makes the request CONTENT_FILTERED', async () => {
  const a = await png();
  const r = encodeImages({ id: 'g2', seed: 5, images: [
    { bytes: a, seed: 5, finishReason: 'SUCCESS', format: 'png' },
    { bytes: a, seed: 6, finishReason: 'CONTENT_FILTERED', format: 'png' },
  ] }, 'application/json');
  const j = JSON.parse(r.body.toString());
  assert.deepEqual(Object.keys(j), ['id', 'base64', 'finishReason', 'seed']);
  assert.equal(j.finishReason, 'CONTENT_FILTERED');
  assert.deepEqual(Buffer.from(j.base64[1], 'base64'), a);
  assert.equal(r.headers['Content-Length'], String(r.body.length));
});

test('the encoder refuses to send bytes that are not what they claim, or several images as one', async () => {
  assert.throws(() => encodeImages({ id: 'x', seed: 1, images: [{ bytes: Buffer.from('nope'), seed: 1, finishReason: 'SUCCESS', format: 'png' }] }, 'image/png'), /not the png/);
  const p = await png();
  assert.throws(() => encodeImages({ id: 'x', seed: 1, images: [{ bytes: p, seed: 1, finishReason: 'SUCCESS', format: 'png' }, { bytes: p, seed: 2, finishReason: 'SUCCESS', format: 'png' }] }, 'image/png'), /exactly one image/);
  assert.throws(() => encodeImages({ id: 'x', seed: 1, images: [{ bytes: p, seed: 1, finishReason: 'SUCCESS', format: 'png' }] }, 'image/jpeg'), /asked for image\/jpeg/);
});

test('errors: one shape, Retry-After when the error carries one', () => {
  const r = encodeError(new ApiError(429, 'busy', null, { retryAfter: 2.2 }));
  assert.equal(r.status, 429);
  assert.equal(r.headers['Retry-After'], '3');
  assert.deepEqual(JSON.parse(r.body.toString()), { error: { type: 'rate_limit_error', message: 'busy', param: null } });
  const e = JSON.parse(encodeError(new ApiError(400, 'steps must be …', 'steps')).body.toString());
  assert.deepEqual(e, { error: { type: 'invalid_request_error', message: 'steps must be …', param: 'steps' } });
});
