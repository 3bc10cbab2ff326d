// The local server's own rules over real HTTP: request ids, Host and Origin checks, CORS only when
// configured, auth, body cap, 405/500 handling, /healthz and /v1/models, the OpenAI shim,
// disconnects cancelling jobs, graceful close.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { type Fault } from '../engine/fault-backend.js';
import { T2I, TOKEN, type TestServer, assertErrorShape, faultSpec, request, startTestServer, t2i, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let s: TestServer;
let modelFile: string;
let controlFile: string;
let logFile: string;
const setFault = (fault: Fault, stepMs = 0) => fs.writeFileSync(controlFile, JSON.stringify({ fault, stepMs }));
const small = { prompt: 'a fox', width: 640, height: 1536 };

before(async () => {
  tmp = tempDir();
  modelFile = path.join(tmp.dir, 'model.safetensors');
  controlFile = path.join(tmp.dir, 'control.json');
  logFile = path.join(tmp.dir, 'log.txt');
  fs.writeFileSync(modelFile, 'x');
  setFault('none');
  s = await startTestServer({ policy: 'local', local: faultSpec({ modelFile, controlFile, logFile }), maxQueued: 2, allowedOrigins: ['app://studio'] });
});
after(async () => {
  await s.close();
  tmp.cleanup();
});

/** A raw request line + headers over a socket (to send what http.request will not). */
function raw(url: string, text: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () => sock.end(text));
    let data = '';
    sock.on('data', (c) => (data += c));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

describe('Host and Origin', () => {
  test('loopback names and addresses are served; any other Host is 403 (DNS rebinding)', async () => {
    const port = new URL(s.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'localhost', `127.9.8.7:${port}`, `[::1]:${port}`, `studio.localhost:${port}`]) {
      const r = await request(s.url, { method: 'GET', path: '/healthz', headers: { Host: host } });
      assert.equal(r.status, 200, host);
    }
    for (const host of [`attacker.example:${port}`, 'localhost.attacker.example', '192.168.1.20', 'evil.com', '127.0.0.1.nip.io', 'local host', '[::2]']) {
      const r = await request(s.url, { method: 'GET', path: '/healthz', headers: { Host: host } });
      assertErrorShape(r, 403, 'Host');
    }
    const noHost = await raw(s.url, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.match(noHost, /^HTTP\/1\.[01] 403/);
  });

  test('no CORS headers unless an origin is configured; configured origins get them and preflight works', async () => {
    const plain = await request(s.url, { method: 'GET', path: '/v1/models' });
    assert.equal(plain.status, 200);
    assert.ok(!Object.keys(plain.headers).some((h) => h.startsWith('access-control-')));
    const foreign = await request(s.url, { method: 'GET', path: '/v1/models', headers: { Origin: 'https://attacker.example' } });
    assertErrorShape(foreign, 403, 'Origin');
    assert.ok(!Object.keys(foreign.headers).some((h) => h.startsWith('access-control-')));
    const ok = await request(s.url, { method: 'GET', path: '/v1/models', headers: { Origin: 'app://studio' } });
    assert.equal(ok.headers['access-control-allow-origin'], 'app://studio');
    const pre = await request(s.url, { method: 'OPTIONS', path: T2I, auth: null, headers: { Origin: 'app://studio', 'Access-Control-Request-Method': 'POST' } });
    assert.equal(pre.status, 204);
    assert.match(String(pre.headers['access-control-allow-headers']), /Authorization/);
  });
});

describe('auth, paths, bodies', () => {
  test('every response has a unique request id', async () => {
    const replies = await Promise.all([
      request(s.url, { method: 'GET', path: '/healthz' }),
      request(s.url, { method: 'GET', path: '/nope' }),
      t2i(s.url, small, {}, { auth: null }),
      request(s.url, { method: 'GET', path: '/healthz', headers: { Host: 'evil.example' } }),
    ]);
    const ids = replies.map((r) => r.headers['x-request-id']);
    assert.ok(ids.every((id) => typeof id === 'string' && /^req_[0-9a-f]{24}$/.test(id)));
    assert.equal(new Set(ids).size, ids.length);
  });

  test('401 names the bearer scheme; /healthz needs no token; wrong method is 405 with Allow; unknown path 404', async () => {
    const r = await t2i(s.url, small, {}, { auth: null });
    assertErrorShape(r, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assertErrorShape(await t2i(s.url, small, {}, { auth: 'x'.repeat(40) }), 401);
    assertErrorShape(await request(s.url, { method: 'GET', path: '/v1/models', auth: null }), 401);
    assert.equal((await request(s.url, { method: 'GET', path: '/healthz', auth: null })).status, 200);
    const wrong = await request(s.url, { method: 'GET', path: T2I });
    assertErrorShape(wrong, 405);
    assert.equal(wrong.headers.allow, 'POST');
    assertErrorShape(await request(s.url, { method: 'GET', path: '/v2/whatever' }), 404);
    assertErrorShape(await t2i(s.url, small, {}, { path: T2I.replace('flux-1-schnell-fp8', '%E0%A4%A') }), 404);
    assertErrorShape(await t2i(s.url, small, {}, { path: T2I.replace('flux-1-schnell-fp8', 'flux-1-schnell-fp8%2F..%2Fx') }), 404);
  });

  test('body cap: exactly 1 MiB is read, one byte more is 413 (declared, chunked, or huge)', async () => {
    const json = JSON.stringify(small);
    const exact = json + ' '.repeat(1024 * 1024 - json.length);
    assert.equal(Buffer.byteLength(exact), 1024 * 1024);
    const r = await request(s.url, { body: exact, headers: { 'Content-Type': 'application/json' } });
    assert.equal(r.status, 200, r.body.toString().slice(0, 200));
    assertErrorShape(await request(s.url, { body: exact + ' ', headers: { 'Content-Type': 'application/json' } }), 413);
    // Chunked: no Content-Length, the cap applies while reading.
    const chunked = await new Promise<number>((resolve, reject) => {
      const u = new URL(s.url);
      const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: T2I, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 18; i++) req.write(' '.repeat(64 * 1024));
      req.end();
    });
    assert.equal(chunked, 413);
    const huge = await raw(s.url, `POST ${T2I} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n{"prompt":`);
    assert.match(huge, /^HTTP\/1\.1 413/);
  });

  test('requests Node itself refuses still get the error shape and a request id: no Host, bad framing, a slow body', async () => {
    const u = new URL(s.url);
    const parse = (text: string) => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
      const error = JSON.parse(body).error;
      assert.equal(typeof error.type, 'string');
      assert.equal(typeof error.message, 'string');
      assert.ok('param' in error);
      assert.match(head, /\r\nX-Request-Id: req_[0-9a-f]{24}\r\n/i);
      return { status, error };
    };
    // Sends without half-closing (that reads as a disconnect) and reads until the server closes.
    const exchange = (url: string, text: string) =>
      new Promise<string>((resolve, reject) => {
        const t = new URL(url);
        const sock = net.connect(Number(t.port), t.hostname, () => sock.write(text));
        let data = '';
        sock.on('data', (c) => (data += c));
        sock.on('close', () => resolve(data));
        sock.on('error', reject);
      });
    const noHost = parse(await exchange(s.url, `GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n`));
    assert.equal(noHost.status, 403);
    assert.equal(noHost.error.param, 'Host');
    const head = `POST ${T2I} HTTP/1.1\r\nHost: 127.0.0.1:${u.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n`;
    for (const framing of ['Content-Length: -1\r\n', 'Content-Length: 10\r\nTransfer-Encoding: chunked\r\n', 'Content-Length: 1\r\nContent-Length: 2\r\n']) {
      assert.equal(parse(await exchange(s.url, `${head}${framing}\r\n0\r\n\r\n`)).status, 400, framing);
    }
    assert.equal(parse(await exchange(s.url, `GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\n\r\n`)).status, 431);

    // A body that never finishes arriving is cut with a 408, not held open for ever.
    const t = tempDir();
    const mf = path.join(t.dir, 'm.safetensors');
    fs.writeFileSync(mf, 'x');
    const srv = await startTestServer({ policy: 'local', local: faultSpec({ modelFile: mf, stepMs: 120 }), isolate: false, requestTimeoutMs: 400 });
    try {
      const sp = new URL(srv.url).port;
      const slow = parse(await exchange(srv.url, `POST ${T2I} HTTP/1.1\r\nHost: 127.0.0.1:${sp}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt":`));
      assert.equal(slow.status, 408);
      assert.equal(srv.engine.stats().submitted, 0, 'nothing was queued for a request that never arrived');
      // The limit is on receiving the request: a generation that runs longer than it is still answered.
      const long = await t2i(srv.url, { ...small, steps: 8 });
      assert.equal(long.status, 200);
      assert.ok(timingMs(long.headers['server-timing'], 'total') > 400, String(long.headers['server-timing']));
    } finally {
      await srv.close();
      t.cleanup();
    }
  });

  test('a UTF-8 byte order mark before the JSON is ignored; a JSON value that is not an object is a 400', async () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(small))]);
    const r = await request(s.url, { body: bom, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
    assert.equal(r.status, 200, r.body.toString().slice(0, 200));
    for (const body of ['null', '[]', '42', '"prompt"', 'true', '{"prompt":', '\ufeff']) {
      assertErrorShape(await request(s.url, { body, headers: { 'Content-Type': 'application/json' } }), 400);
    }
  });

  test('binds 127.0.0.1 by default; samples 8 is served and 9 refused; the limit is configurable', async () => {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const eight = await t2i(s.url, { ...small, samples: 8, seed: 7 }, { Accept: 'application/json' });
    assert.equal(eight.status, 200, eight.body.toString().slice(0, 200));
    assert.equal(eight.json().base64.length, 8);
    assertErrorShape(await t2i(s.url, { ...small, samples: 9 }, { Accept: 'application/json' }), 400, 'samples');
    const t = tempDir();
    const mf = path.join(t.dir, 'm.safetensors');
    fs.writeFileSync(mf, 'x');
    const two = await startTestServer({ policy: 'local', local: faultSpec({ modelFile: mf }), isolate: false, maxSamples: 2 });
    try {
      assert.equal((await t2i(two.url, { ...small, samples: 2 }, { Accept: 'application/json' })).status, 200);
      const e = assertErrorShape(await t2i(two.url, { ...small, samples: 3 }, { Accept: 'application/json' }), 400, 'samples');
      assert.match(e.message, /1 to 2/);
    } finally {
      await two.close();
      t.cleanup();
    }
  });

  test('a server-side bug is a 500 with the request id and no stack trace', async () => {
    setFault('bad-image');
    const r = await t2i(s.url, small);
    const e = assertErrorShape(r, 500);
    assert.ok(e.message.includes(String(r.headers['x-request-id'])));
    assert.ok(!/\.ts:\d+|at \w+ \(/.test(e.message));
    setFault('none');
  });
});

describe('models and health', () => {
  test('/v1/models: the served name, the files behind it, the device, untrained flag', async () => {
    const r = await request(s.url, { method: 'GET', path: '/v1/models' });
    const m = r.json().data[0];
    assert.equal(m.id, 'flux-1-schnell-fp8');
    assert.equal(m.backend, 'local');
    assert.equal(m.untrained, true);
    assert.deepEqual(m.local.files, [modelFile]);
    assert.equal(m.local.device, 'cpu');
    assert.equal(m.local.available, true);
    fs.renameSync(modelFile, `${modelFile}.x`);
    try {
      const gone = (await request(s.url, { method: 'GET', path: '/v1/models' })).json().data[0];
      assert.equal(gone.local.available, false);
      assert.match(gone.local.problem, /missing/);
      assertErrorShape(await t2i(s.url, small), 503);
    } finally {
      fs.renameSync(`${modelFile}.x`, modelFile);
    }
  });

  test('/healthz: liveness only without the token; counters, backends and problems with it', async () => {
    const open = (await request(s.url, { method: 'GET', path: '/healthz', auth: null })).json();
    assert.deepEqual(open, { status: 'ok', ready: true });
    const wrong = (await request(s.url, { method: 'GET', path: '/healthz', auth: 'not-the-token-0123456789' })).json();
    assert.deepEqual(Object.keys(wrong).sort(), ['ready', 'status'], 'a wrong token sees no more than none');
    const h = (await request(s.url, { method: 'GET', path: '/healthz' })).json();
    assert.equal(h.status, 'ok');
    assert.ok(h.jobs.completed >= 1);
    assert.deepEqual(h.backends.local, { available: true });
    assert.deepEqual(h.problems, []);
    fs.renameSync(modelFile, `${modelFile}.x`);
    try {
      assert.deepEqual((await request(s.url, { method: 'GET', path: '/healthz', auth: null })).json(), { status: 'ok', ready: false });
      const down = (await request(s.url, { method: 'GET', path: '/healthz' })).json();
      assert.equal(down.ready, false);
      assert.match(down.problems[0], /local model cannot serve: .*missing/);
    } finally {
      fs.renameSync(`${modelFile}.x`, modelFile);
    }
  });
});

describe('OpenAI-style /v1/images/generations on the same engine', () => {
  const post = (body: unknown) => request(s.url, { path: '/v1/images/generations', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  test('n, size, output_format, response_format', async () => {
    const r = await post({ prompt: 'a fox', n: 2, size: '832x1216', seed: 9, quality: 'hd', user: 'me', response_format: 'b64_json' });
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    const j = r.json();
    assert.equal(j.data.length, 2);
    const meta = await sharp(Buffer.from(j.data[0].b64_json, 'base64')).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ['png', 832, 1216]);
    assert.equal(r.headers.seed, '9');
    const jpeg = (await post({ prompt: 'a fox', size: '1536x640', output_format: 'jpeg', output_compression: 40, response_format: 'url' })).json();
    assert.match(jpeg.data[0].url, /^data:image\/jpeg;base64,/);
  });
  test("errors are in OpenAI's shape {message, type, param, code} with OpenAI's field names", async () => {
    const openaiError = (r: Awaited<ReturnType<typeof post>>, status: number, param: string | null, code: string | null) => {
      const e = assertErrorShape(r, status, param) as { type: string; code?: string | null };
      assert.deepEqual(Object.keys(r.json().error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(e.code, code);
      return e;
    };
    assert.equal(openaiError(await post({ prompt: 'x', size: 'big' }), 400, 'size', 'invalid_value').type, 'invalid_request_error');
    openaiError(await post({ prompt: 'x', n: 20 }), 400, 'n', 'invalid_value');
    openaiError(await post({ prompt: 'x', style2: 1 }), 400, 'style2', 'unknown_parameter');
    openaiError(await post({ prompt: '' }), 400, 'prompt', 'invalid_value');
    openaiError(await post({ prompt: 'x', stream: true }), 400, 'stream', 'invalid_value');
    openaiError(await post({ prompt: 'x', model: 'no-such-model' }), 404, 'model', 'model_not_found');
    openaiError(await request(s.url, { path: '/v1/images/generations', body: 'x', headers: { 'Content-Type': 'text/plain' } }), 415, 'Content-Type', 'unsupported_media_type');
    openaiError(await request(s.url, { path: '/v1/images/generations', body: '{}', auth: null, headers: { 'Content-Type': 'application/json' } }), 401, 'Authorization', 'invalid_api_key');
    // Refusals before routing (a foreign Host) on this path are in OpenAI's shape too.
    openaiError(await request(s.url, { path: '/v1/images/generations', body: '{}', headers: { 'Content-Type': 'application/json', Host: 'evil.example' } }), 403, 'Host', 'forbidden');
    // The Fireworks route keeps its own shape (no code).
    assert.ok(!('code' in assertErrorShape(await t2i(s.url, { prompt: '' }), 400, 'prompt')));
  });
  test('an OpenAI size we cannot make is made at the nearest aspect ratio, and said so; OpenAI model names are served', async () => {
    const r = await post({ prompt: 'a fox', size: '1536x1024', model: 'gpt-image-1', n: null, quality: null });
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    assert.equal(r.headers['x-schnell-size'], '1216x832');
    const warning = String(r.headers['x-schnell-warning']);
    assert.match(warning, /size 1536x1024 is not one of .*made 1216x832, the nearest in aspect ratio/);
    assert.match(warning, /model 'gpt-image-1' is OpenAI's/);
    const j = r.json();
    assert.equal(j.size, '1216x832');
    const meta = await sharp(Buffer.from(j.data[0].b64_json, 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [1216, 832]);
    const webp = (await post({ prompt: 'a fox', size: '1024x1792', output_format: 'webp', output_compression: 50, response_format: 'b64_json' })).json();
    // No response_format and no model (OpenAI's dall-e-2 default) or dall-e-3: a URL, as OpenAI answers.
    assert.match((await post({ prompt: 'a fox', size: '1024x1024', model: 'dall-e-3' })).json().data[0].url, /^data:image\/png;base64,/);
    const wm = await sharp(Buffer.from(webp.data[0].b64_json, 'base64')).metadata();
    assert.deepEqual([wm.format, wm.width, wm.height, webp.output_format], ['webp', 768, 1344, 'webp']);
  });
});

describe('disconnects and shutdown', () => {
  test('a client that disconnects cancels its running or queued job; nothing else is lost', async () => {
    setFault('none', 150);
    const before = s.engine.stats();
    const linesBefore = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').split('\n').length : 0;
    const a = new AbortController();
    const b = new AbortController();
    const pa = t2i(s.url, { ...small, steps: 20, prompt: 'running' }, {}, { signal: a.signal }).catch((e) => e);
    await waitFor(() => s.engine.stats().local.running === 1);
    const pb = t2i(s.url, { ...small, steps: 20, prompt: 'queued' }, {}, { signal: b.signal }).catch((e) => e);
    await waitFor(() => s.engine.stats().local.queued === 1);
    b.abort();
    await waitFor(() => s.engine.stats().local.queued === 0);
    a.abort();
    await Promise.all([pa, pb]);
    await waitFor(() => s.engine.stats().local.running === 0);
    const after = s.engine.stats();
    assert.equal(after.cancelled - before.cancelled, 2);
    const linesAfter = fs.readFileSync(logFile, 'utf8').split('\n').length;
    assert.equal(linesAfter, linesBefore, 'neither cancelled job finished a generation');
    setFault('none');
    assert.equal((await t2i(s.url, small)).status, 200, 'the device is free again');
  });

  test('close: stops accepting, lets the running job answer, then shuts', async () => {
    const t = tempDir();
    const mf = path.join(t.dir, 'm.safetensors');
    fs.writeFileSync(mf, 'x');
    const srv = await startTestServer({ policy: 'local', local: faultSpec({ modelFile: mf, stepMs: 100 }), isolate: false });
    try {
      const inflight = t2i(srv.url, { ...small, steps: 5 });
      await waitFor(() => srv.engine.stats().local.running === 1);
      const closing = srv.server.close({ graceMs: 10_000 });
      const r = await inflight;
      assert.equal(r.status, 200);
      await closing;
      await assert.rejects(t2i(srv.url, small), /ECONNREFUSED|socket hang up|ECONNRESET/);
    } finally {
      t.cleanup();
    }
  });
});

function timingMs(header: unknown, name: string): number {
  return Number(new RegExp(`${name};dur=([0-9.]+)`).exec(String(header ?? ''))?.[1]);
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
