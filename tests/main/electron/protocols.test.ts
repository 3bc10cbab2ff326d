// The desktop's custom protocols, driven with real Requests against a real library on disk:
// images and thumbnails stream out; '..', encoded separators, NUL, links out of the library and
// files that are not images are refused; the app's pages carry the window's CSP.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, test } from 'node:test';
import { appProtocolHandler, imageProtocolHandler } from '../../../main/electron/protocols.js';
import { DESKTOP_CSP, IMAGE_ORIGIN, PREVIEW_ORIGIN, APP_ORIGIN } from '../../../main/electron/security.js';
import { openLibrary, type Library } from '../../../main/library/index.js';
import { makePng, tempDir } from '../helpers.js';

let lib: Library;
let image: string;
let thumb: string;
let outside: string;
let handler: (r: Request) => Promise<Response>;
const root = tempDir();
const dist = tempDir();

before(async () => {
  lib = await openLibrary(path.join(root, 'library'));
  const g = await lib.recordGeneration({ prompt: 'a lighthouse', seed: 7, model: 'test', backend: 'local', image: await makePng(40, 30, 1) });
  image = path.relative(lib.dir, g.file).split(path.sep).join('/');
  thumb = path.relative(lib.dir, g.thumbnail).split(path.sep).join('/');
  outside = path.join(root, 'secret.png');
  fs.writeFileSync(outside, await makePng(8, 8, 2));
  handler = imageProtocolHandler((name) => lib.resolveFile(name), (jobId) => (jobId === 'job1' ? { bytes: new Uint8Array([1, 2, 3]), type: 'image/png' } : undefined));
});

const get = (url: string, method = 'GET') => handler(new Request(url, { method }));

test('library images and thumbnails stream out with their type and the CSP', async () => {
  const r = await get(`${IMAGE_ORIGIN}/${image}`);
  assert.equal(r.status, 200, await r.clone().text());
  assert.equal(r.headers.get('content-type'), 'image/png');
  assert.equal(r.headers.get('content-security-policy'), DESKTOP_CSP);
  assert.ok(r.body instanceof ReadableStream, 'a stream, not a buffer');
  assert.deepEqual(Buffer.from(await r.arrayBuffer()), fs.readFileSync(path.join(lib.dir, image)));
  const t = await get(`${IMAGE_ORIGIN}/${thumb}`);
  assert.equal(t.status, 200);
  assert.equal(t.headers.get('content-type'), 'image/webp');
});

test('paths that climb out or hide a separator are refused', async () => {
  const attempts = [
    `${IMAGE_ORIGIN}/images/../catalog.sqlite`,
    `${IMAGE_ORIGIN}/images/%2e%2e/catalog.sqlite`,
    `${IMAGE_ORIGIN}/images%2f..%2fcatalog.sqlite`,
    `${IMAGE_ORIGIN}/images%5c..%5ccatalog.sqlite`,
    `${IMAGE_ORIGIN}/images/..%2f..%2fsecret.png`,
    `${IMAGE_ORIGIN}/${image}%00.png`,
    `${IMAGE_ORIGIN}/images\\..\\catalog.sqlite`,
    `${IMAGE_ORIGIN}/catalog.sqlite`,
    `${IMAGE_ORIGIN}/%252e%252e/catalog.sqlite`,
    `${IMAGE_ORIGIN}/images/zz/${'0'.repeat(64)}.png`,
  ];
  for (const url of attempts) {
    const r = await get(url);
    assert.ok(r.status >= 400 && r.status < 500, `${url} → ${r.status}`);
    const body = Buffer.from(await r.arrayBuffer());
    assert.ok(!body.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), `${url} leaked an image`);
    assert.doesNotMatch(body.toString('latin1'), /SQLite format/, url);
  }
});

test('a symbolic link planted in the library that leads out of it is refused after realpath', async () => {
  const dir = path.join(lib.dir, 'images', 'ff');
  fs.mkdirSync(dir, { recursive: true });
  const name = `${'f'.repeat(64)}.png`;
  fs.symlinkSync(outside, path.join(dir, name));
  const r = await get(`${IMAGE_ORIGIN}/images/ff/${name}`);
  assert.equal(r.status, 403);
  // And a link to a folder outside, used as a step of the path.
  fs.symlinkSync(path.dirname(outside), path.join(lib.dir, 'images', 'ee'));
  const r2 = await get(`${IMAGE_ORIGIN}/images/ee/secret.png`);
  assert.ok(r2.status === 403 || r2.status === 404, String(r2.status));
});

test('other hosts, methods and previews', async () => {
  assert.equal((await get(`schnell-image://elsewhere/${image}`)).status, 404);
  assert.equal((await get(`${IMAGE_ORIGIN}/${image}`, 'POST')).status, 405);
  const p = await get(`${PREVIEW_ORIGIN}/job1?step=3`);
  assert.equal(p.status, 200);
  assert.deepEqual([...new Uint8Array(await p.arrayBuffer())], [1, 2, 3]);
  assert.equal((await get(`${PREVIEW_ORIGIN}/job2`)).status, 404);
  assert.equal((await get(`${PREVIEW_ORIGIN}/..%2fx`)).status, 404);
});

test('the app protocol serves the built renderer with the CSP, a placeholder before it is built', async () => {
  const app = appProtocolHandler(dist);
  const placeholder = await app(new Request(`${APP_ORIGIN}/index.html`));
  assert.equal(placeholder.status, 200);
  assert.match(await placeholder.text(), /has not been built yet/);
  assert.equal(placeholder.headers.get('content-security-policy'), DESKTOP_CSP);
  fs.writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>x</title>');
  fs.mkdirSync(path.join(dist, 'assets'));
  fs.writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
  const index = await app(new Request(`${APP_ORIGIN}/`));
  assert.equal(await index.text(), '<!doctype html><title>x</title>');
  const js = await app(new Request(`${APP_ORIGIN}/assets/app.js`));
  assert.match(js.headers.get('content-type')!, /javascript/);
  assert.equal(js.headers.get('content-security-policy'), DESKTOP_CSP);
  assert.equal((await app(new Request(`${APP_ORIGIN}/assets/../../etc/passwd`))).status >= 400, true);
  assert.equal((await app(new Request(`${APP_ORIGIN}/assets%2f..%2f..%2fsecret`))).status, 400);
  assert.equal((await app(new Request(`${APP_ORIGIN}/missing.js`))).status, 404);
});
