// The headless studio's HTTP transport, locked down: one-time sign-in link → HttpOnly SameSite=Strict
// cookie, Host checked against DNS rebinding, cross-origin calls refused, the desktop's CSP on every
// answer, library files contained after realpath, malformed calls answered with an error object.
// A real studio core on a real library in a temp folder; no model needed for any of it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { parseStudioArgs } from '../../cli/studio.js';
import { contentSecurityPolicy } from '../../main/web/csp.js';
import type { HeadlessStudio } from '../../main/web/headless.js';
import { makePng } from './helpers.js';
import { request, signIn, startTestStudio, StudioClient, type TestStudio } from './web-helpers.js';

let running: TestStudio;
let studio: HeadlessStudio;
let client: StudioClient;
let home: string;
let base: string;
let id: string;
let thumbnailUrl: string;

before(async () => {
  running = await startTestStudio();
  ({ studio, client, home } = running);
  base = studio.web.url;
  const png = await makePng(48, 32, 5);
  const report = await client.call('library.importFile', { fileName: 'fox.png', dataBase64: png.toString('base64'), tags: ['fox'] });
  id = report.imported[0].id;
  thumbnailUrl = (await client.call('library.get', { id })).thumbnailUrl;
});
after(async () => running?.close());

const CSP = contentSecurityPolicy();

test('the sign-in link works once and gives an HttpOnly, SameSite=Strict session cookie', async () => {
  const link = studio.web.signInUrl();
  const u = new URL(link);
  const first = await request(base, { path: `${u.pathname}${u.search}` });
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/');
  const cookie = String(first.headers['set-cookie']);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  assert.match(cookie, /Path=\//);
  const again = await request(base, { path: `${u.pathname}${u.search}` });
  assert.equal(again.status, 401, 'a used link does not sign in again');
  assert.notEqual(studio.web.signInUrl(), link, 'a fresh link replaces it');
  assert.equal((await request(base, { path: '/login?code=guess' })).status, 401);
  assert.equal((await request(base, { path: '/login' })).status, 401);
});

test('without the session cookie nothing is served', async () => {
  for (const p of ['/', '/index.html', '/api/events', thumbnailUrl]) {
    const r = await request(base, { path: p });
    assert.equal(r.status, 401, p);
    assert.doesNotMatch(r.body.toString('latin1'), /RIFF|WEBP/, `${p} leaked the image`);
  }
  const call = await request(base, { method: 'POST', path: '/api/library.search', headers: { 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(call.status, 401);
  assert.match(call.json<{ error: { message: string } }>().error.message, /sign-in link/);
  const forged = await request(base, { method: 'POST', path: '/api/library.search', headers: { 'Content-Type': 'application/json', Cookie: 'schnell_studio_session=forged' }, body: '{}' });
  assert.equal(forged.status, 401);
});

test('a forged or missing Host is refused, even with a valid cookie', async () => {
  const port = new URL(base).port;
  for (const host of ['attacker.example', `attacker.example:${port}`, '192.168.1.5', 'localhost.attacker.example']) {
    const r = await request(base, { method: 'POST', path: '/api/library.search', headers: { Host: host, Cookie: client.cookie, 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(r.status, 403, `Host ${host}`);
  }
  const ok = await request(base, { method: 'POST', path: '/api/library.search', headers: { Host: `localhost:${port}`, Cookie: client.cookie, 'Content-Type': 'application/json' }, body: '{}' });
  assert.equal(ok.status, 200, 'loopback names are fine');
});

test('a cross-origin state-changing call is refused and changes nothing', async () => {
  const before = (await client.call('library.get', { id })).favorite;
  const attempts: Record<string, string>[] = [
    { Origin: 'http://evil.example' },
    { Origin: 'http://127.0.0.1:1' },
    { Origin: 'null' },
    { 'Sec-Fetch-Site': 'cross-site', Origin: base },
    { 'Sec-Fetch-Site': 'same-site', Origin: base },
  ];
  for (const h of attempts) {
    const r = await request(base, { method: 'POST', path: '/api/library.setFavorite', headers: { 'Content-Type': 'application/json', Cookie: client.cookie, ...h }, body: JSON.stringify({ ids: [id], favorite: !before }) });
    assert.equal(r.status, 403, JSON.stringify(h));
  }
  // A form post (no preflight) is refused by its content type.
  const form = await request(base, { method: 'POST', path: '/api/library.setFavorite', headers: { 'Content-Type': 'text/plain', Cookie: client.cookie }, body: JSON.stringify({ ids: [id], favorite: !before }) });
  assert.equal(form.status, 415);
  assert.equal((await client.call('library.get', { id })).favorite, before);
  assert.deepEqual(await client.call('library.setFavorite', { ids: [id], favorite: !before }), { changed: 1 }, 'the same call from the studio page works');
  assert.equal((await client.call('library.get', { id })).favorite, !before);
});

test('malformed calls get an error object naming the parameter; the studio keeps answering', async () => {
  const cases: [string, string | undefined, number, string | undefined][] = [
    ['library.rate', JSON.stringify({ ids: [id], rating: 'five' }), 400, 'rating'],
    ['generate.submit', JSON.stringify({ request: { prompt: 'x', steps: 0 } }), 400, 'request.steps'],
    ['generate.submit', JSON.stringify({ request: { prompt: 'x', width: 1000, height: 1000 } }), 400, 'width'],
    ['library.trash', JSON.stringify([1, 2]), 400, undefined],
    ['library.trash', '{"ids": [', 400, undefined],
    ['library.lineage', JSON.stringify({ id: 'NOPE' }), 404, 'id'],
    ['library.dropEverything', '{}', 404, undefined],
    ['constructor', '{}', 404, undefined],
  ];
  for (const [name, body, status, field] of cases) {
    const r = await request(base, { method: 'POST', path: `/api/${name}`, headers: { 'Content-Type': 'application/json', Cookie: client.cookie }, ...(body !== undefined ? { body } : {}) });
    assert.equal(r.status, status, `${name} ${body}: ${r.body}`);
    const e = r.json<{ error: { code: string; message: string; field?: string } }>().error;
    assert.ok(e.message.length > 5, name);
    if (field) assert.equal(e.field, field, name);
  }
  assert.equal((await request(base, { path: '/api/library.search', headers: { Cookie: client.cookie } })).status, 405);
  assert.ok(Array.isArray((await client.call('library.search', {})).items));
});

test('every answer carries the desktop window CSP and no-sniff', async () => {
  const paths = ['/', thumbnailUrl, '/api/nothing', '/login?code=x', '/missing.js'];
  for (const p of paths) {
    const r = await request(base, { path: p, headers: { Cookie: client.cookie } });
    assert.equal(r.headers['content-security-policy'], CSP, p);
    assert.equal(r.headers['x-content-type-options'], 'nosniff', p);
  }
});

test('library files stream out; paths that leave the library are refused', async () => {
  const ok = await request(base, { path: thumbnailUrl, headers: { Cookie: client.cookie } });
  assert.equal(ok.status, 200, `${thumbnailUrl}: ${ok.body}`);
  assert.equal(ok.headers['content-type'], 'image/webp');
  const lib = path.join(home, 'library');
  fs.writeFileSync(path.join(home, 'secret.txt'), 'SECRET');
  fs.mkdirSync(path.join(lib, 'images', 'aa'), { recursive: true });
  fs.symlinkSync(path.join(home, 'secret.txt'), path.join(lib, 'images', 'aa', `${'a'.repeat(64)}.png`));
  for (const p of ['/files/images/../catalog.sqlite', '/files/images/%2e%2e/catalog.sqlite', '/files/images%2f..%2fcatalog.sqlite', '/files/images/..%5c..%5csecret.txt', `/files/images/aa/${'a'.repeat(64)}.png`, '/files/images/aa/x.png%00', '/files/catalog.sqlite', '/files/../secret.txt']) {
    const r = await request(base, { path: p, headers: { Cookie: client.cookie } });
    assert.ok(r.status >= 400 && r.status < 500, `${p} → ${r.status}`);
    assert.doesNotMatch(r.body.toString('latin1'), /SECRET|SQLite format/, p);
  }
});

test('events reach signed-in browsers as server-sent events', async () => {
  const events = client.events();
  await events.ready;
  await client.call('library.tag', { ids: [id], tags: ['night'] });
  await events.until((e) => e.some((x) => x.name === 'library.changed' && x.data.reason === 'tags'), 5000, 'library.changed');
  events.close();
});

test('the UI: a placeholder until the renderer is built, then its files and the app for client routes', async () => {
  const placeholder = await request(base, { path: '/', headers: { Cookie: client.cookie } });
  assert.equal(placeholder.status, 200);
  assert.match(placeholder.body.toString(), /has not been built yet/);
  const t2 = await startTestStudio({ rendererDir: tempRenderer() });
  const { studio: s2, client: c2 } = t2;
  try {
    const index = await request(s2.web.url, { path: '/', headers: { Cookie: c2.cookie } });
    assert.match(index.body.toString(), /<div id="root">/);
    const route = await request(s2.web.url, { path: '/gallery/abc', headers: { Cookie: c2.cookie } });
    assert.match(route.body.toString(), /<div id="root">/);
    const js = await request(s2.web.url, { path: '/assets/app.js', headers: { Cookie: c2.cookie } });
    assert.match(String(js.headers['content-type']), /javascript/);
    assert.equal((await request(s2.web.url, { path: '/assets/nope.js', headers: { Cookie: c2.cookie } })).status, 404);
  } finally {
    await t2.close();
  }
});

function tempRenderer(): string {
  const dir = path.join(home, 'dist');
  fs.mkdirSync(path.join(dir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><div id="root"></div><script type="module" src="./assets/app.js"></script>');
  fs.writeFileSync(path.join(dir, 'assets', 'app.js'), 'export {}');
  return dir;
}

test('schnell studio binds loopback unless --host comes with --allow-host', () => {
  assert.deepEqual(parseStudioArgs([]), { host: '127.0.0.1', allowedHosts: [], open: false });
  assert.throws(() => parseStudioArgs(['--host', '0.0.0.0']), /--allow-host/);
  assert.deepEqual(parseStudioArgs(['--host', '0.0.0.0', '--allow-host', 'studio.lan', '--port', '8188']), { host: '0.0.0.0', allowedHosts: ['studio.lan'], open: false, port: 8188 });
  assert.throws(() => parseStudioArgs(['--port', 'http']), /--port/);
  assert.throws(() => parseStudioArgs(['--bogus']), /Unknown option/);
});

test('bound to every interface, it still answers only the names allowed', async () => {
  const t = await startTestStudio({ bind: '0.0.0.0', allowedHosts: ['studio.lan'] });
  const { studio: s, client: c } = t;
  try {
    const port = s.web.port;
    const base0 = `http://127.0.0.1:${port}`;
    const headers = { 'Content-Type': 'application/json', Cookie: c.cookie };
    assert.equal((await request(base0, { method: 'POST', path: '/api/studio.info', headers: { ...headers, Host: `studio.lan:${port}` }, body: '{}' })).status, 200);
    assert.equal((await request(base0, { method: 'POST', path: '/api/studio.info', headers: { ...headers, Host: `evil.lan:${port}` }, body: '{}' })).status, 403);
    assert.match(s.web.url, /^http:\/\/studio\.lan:/);
  } finally {
    await t.close();
  }
  void signIn;
});
