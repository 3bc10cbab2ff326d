import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { downloadFile, DownloadJob, DownloadError, type DownloadProgress } from '../../../runtime/models/download.js';
import { DownloadState, openStateDatabase } from '../../../runtime/models/state.js';
import { FaultServer, randomBytes, sha256 } from './fault-server.js';

let server: FaultServer;
let dir: string;
let state: DownloadState;
let db: ReturnType<typeof openStateDatabase>;

const SIZE = 300 * 1024;
// Generous stall timeout (a loaded CI machine must not look stalled); the stall test sets its own.
const fast = { backoffMs: 5, maxBackoffMs: 20, stallTimeoutMs: 5000, progressIntervalMs: 0 };

before(async () => {
  server = await FaultServer.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  db = openStateDatabase(path.join(dir, 'catalog.sqlite'));
  state = new DownloadState(db);
});
after(async () => {
  db.close();
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fresh(size = SIZE): { p: string; data: Buffer; dest: string } {
  n++;
  const data = randomBytes(size, n);
  const p = `/f${n}.bin`;
  server.serve(p, data);
  return { p, data, dest: path.join(dir, `out${n}`, 'model.bin') };
}

function rejectsWith(code: string, re?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof DownloadError, `expected a DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return true;
  };
}

function assertNothingInstalled(dest: string): void {
  assert.equal(fs.existsSync(dest), false, 'the file must not be installed');
  assert.equal(fs.existsSync(`${dest}.part`), false, 'the partial file must be deleted');
}

test('a plain download ends verified, with its state complete and no partial file left', async () => {
  const { p, data, dest } = fresh();
  const progress: DownloadProgress[] = [];
  const r = await downloadFile({ url: server.url(p), dest, sha256: sha256(data), expectedBytes: data.length, state, onProgress: (x) => progress.push(x), ...fast });
  assert.equal(r.sha256, sha256(data));
  assert.deepEqual(fs.readFileSync(dest), data);
  assert.equal(fs.existsSync(`${dest}.part`), false);
  const row = state.get(dest)!;
  assert.equal(row.status, 'complete');
  assert.equal(row.sha256, sha256(data));
  assert.equal(row.owner_pid, null);
  assert.equal(progress.at(-1)!.phase, 'done');
  assert.ok(progress.some((x) => x.phase === 'downloading' && x.total === data.length));
});

test('a connection dropped halfway resumes with Range + If-Range and fetches no byte twice', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 100_000 });
  const r = await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  const reqs = server.log.filter((l) => l.path === p);
  assert.equal(reqs.length, 2);
  // Bytes still in the socket buffer when the connection dies are lost with it; the resume starts
  // right after the last byte written to disk.
  const from = Number(/^bytes=(\d+)-$/.exec(reqs[1]!.range ?? '')?.[1]);
  assert.ok(from > 0 && from <= 100_000, `resumed from ${from}`);
  assert.equal(reqs[1]!.ifRange, server.files.get(p)!.etag);
  assert.equal(r.attempts, 2);
});

test('a Content-Length larger than the body: the short body is resumed and the file still verifies', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'length', delta: 5000 });
  await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  assert.equal(server.log.filter((l) => l.path === p)[0]!.status, 200);
});

test('when every byte arrived but the announced length did not, the resume learns (416) that the file is complete', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'length', delta: 1, stall: true });
  await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  const reqs = server.log.filter((l) => l.path === p);
  assert.deepEqual(reqs.map((l) => l.status), [200, 416]);
  assert.equal(reqs[1]!.range, `bytes=${data.length}-`);
  assert.equal(server.sentFor(p), data.length);
});

test('a Content-Length smaller than the file ends in a clear checksum error and installs nothing', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'length', delta: -5000 });
  await assert.rejects(downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast }), rejectsWith('checksum', /failed its checksum/));
  assertNothingInstalled(dest);
  assert.equal(state.get(dest)!.status, 'failed');
});

test('a server offering another size than the published one is refused before anything is kept', async () => {
  const { p, data, dest } = fresh();
  await assert.rejects(downloadFile({ url: server.url(p), dest, expectedBytes: data.length + 1, state, ...fast }), rejectsWith('size', /expected/));
  assertNothingInstalled(dest);
});

test('a 200 where a 206 was expected restarts cleanly from byte 0', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 120_000 }, { kind: 'ignore-range' });
  const logs: string[] = [];
  await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, onLog: (m) => logs.push(m), ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  assert.equal(server.sentFor(p), 120_000 + data.length);
  assert.ok(logs.some((l) => /whole file/.test(l)), logs.join('\n'));
});

test('a file that changed on the server mid-resume (new ETag) is fetched again from 0, never spliced', async () => {
  const { p, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 150_000 });
  const changed = randomBytes(SIZE + 777, 999);
  // The first request is dropped; before the resume the file changes on the server.
  const job = downloadFile({
    url: server.url(p), dest, sha256: sha256(changed), state, ...fast,
    onLog: (m) => { if (/connection|closed|aborted|socket/i.test(m) && server.files.get(p)!.data.length === SIZE) server.serve(p, changed); },
  });
  await job;
  assert.deepEqual(fs.readFileSync(dest), changed);
  const last = server.log.filter((l) => l.path === p).at(-1)!;
  assert.equal(last.status, 200, 'the If-Range validator no longer matched, so the server sent the whole new file');
});

test('a server that ignores If-Range and sends a 206 of a changed file is caught by the validator', async () => {
  const { p, dest } = fresh();
  const changed = randomBytes(SIZE, 4242);
  server.fault(p, { kind: 'drop', after: 100_000 }, { kind: 'lie-206' });
  const logs: string[] = [];
  await downloadFile({
    url: server.url(p), dest, sha256: sha256(changed), state, ...fast,
    onLog: (m) => { logs.push(m); if (/connection|closed|aborted|socket/i.test(m) && !server.files.get(p)!.data.equals(changed)) server.serve(p, changed); },
  });
  assert.deepEqual(fs.readFileSync(dest), changed);
  assert.ok(logs.some((l) => /changed on the server/.test(l)), logs.join('\n'));
  assert.deepEqual(server.log.filter((l) => l.path === p).map((l) => l.status), [200, 206, 200]);
});

test('with the old checksum, a file changed upstream ends in a clear error and nothing installed', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 100_000 });
  await assert.rejects(downloadFile({
    url: server.url(p), dest, sha256: sha256(data), state, ...fast,
    onLog: (m) => { if (/connection|closed|aborted|socket/i.test(m) && server.files.get(p)!.data.equals(data)) server.serve(p, randomBytes(SIZE, 31337)); },
  }), rejectsWith('checksum'));
  assertNothingInstalled(dest);
});

test('corrupted bytes fail the checksum: the file is deleted, never installed', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'corrupt', at: 12345 });
  await assert.rejects(downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast }), rejectsWith('checksum', /nothing was installed/));
  assertNothingInstalled(dest);
  assert.equal(state.get(dest)!.status, 'failed');
});

test('a stalled connection is aborted and resumed', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'stall', after: 64 * 1024 });
  const logs: string[] = [];
  const r = await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, onLog: (m) => logs.push(m), ...fast, stallTimeoutMs: 300 });
  assert.deepEqual(fs.readFileSync(dest), data);
  assert.ok(logs.some((l) => /no data for/.test(l)), logs.join('\n'));
  assert.ok(r.attempts >= 2);
  const second = server.log.filter((l) => l.path === p)[1]!;
  assert.equal(second.range, `bytes=${64 * 1024}-`, 'the bytes before the stall were kept');
});

test('server errors are retried with backoff, and the retries are bounded', async () => {
  const a = fresh();
  server.fault(a.p, { kind: 'status', code: 503 }, { kind: 'status', code: 429, retryAfter: '0' });
  await downloadFile({ url: server.url(a.p), dest: a.dest, sha256: sha256(a.data), state, ...fast });
  assert.deepEqual(fs.readFileSync(a.dest), a.data);

  const b = fresh();
  server.fault(b.p, ...Array.from({ length: 10 }, () => ({ kind: 'status' as const, code: 500 })));
  await assert.rejects(downloadFile({ url: server.url(b.p), dest: b.dest, state, ...fast, retries: 3 }), rejectsWith('http', /gave up after 4 tries/));
  assert.equal(server.log.filter((l) => l.path === b.p).length, 4);
  assert.equal(fs.existsSync(b.dest), false);
});

test('a 404 is not retried', async () => {
  const dest = path.join(dir, 'missing.bin');
  const before = server.log.length;
  await assert.rejects(downloadFile({ url: server.url('/nope.bin'), dest, state, ...fast }), rejectsWith('not-found'));
  assert.equal(server.log.length - before, 1);
  // Nothing was received, so no empty partial file is left next to the destination.
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith('missing.bin')), []);
});

test('a gated file without a token asks for one; the token is sent, kept across resumes, and never logged', async () => {
  const token = 'hf_TopSecretTokenValue1234567890';
  const { p, data, dest } = fresh();
  server.files.get(p)!.token = token;
  await assert.rejects(downloadFile({ url: server.url(p), dest, state, ...fast }), rejectsWith('auth', /HF_TOKEN/));

  server.fault(p, { kind: 'drop', after: 50_000 }, { kind: 'drop', after: 50_000 });
  const logs: string[] = [];
  await downloadFile({ url: server.url(p), dest, sha256: sha256(data), token, state, onLog: (m) => logs.push(m), ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  const authed = server.log.filter((l) => l.path === p && l.status !== 401);
  assert.equal(authed.length, 3);
  for (const l of authed) assert.equal(l.authorization, `Bearer ${token}`);
  assert.ok(!logs.join('\n').includes(token));

  // A wrong token: the error says so without repeating it.
  const bad = 'hf_WrongTokenWrongTokenWrong00';
  const d2 = path.join(dir, 'gated2.bin');
  await assert.rejects(downloadFile({ url: server.url(p), dest: d2, token: bad, state, ...fast }), (err: Error) => {
    assert.ok(err instanceof DownloadError && err.code === 'auth');
    assert.ok(!err.message.includes(bad) && !String(err.stack).includes(bad));
    return true;
  });
  assert.ok(!JSON.stringify(state.list()).includes(bad) && !JSON.stringify(state.list()).includes(token));
});

test('the token goes to the origin it was given for, not to a redirect target elsewhere', async () => {
  const other = await FaultServer.start();
  try {
    const token = 'hf_RedirectTokenABCDEFGHIJKLMN';
    const data = randomBytes(50_000, 77);
    other.serve('/cdn/blob', data);
    server.serve('/gated/redirect.bin', data, { token });
    server.fault('/gated/redirect.bin', { kind: 'redirect', to: other.url('/cdn/blob') });
    const dest = path.join(dir, 'redirected.bin');
    await downloadFile({ url: server.url('/gated/redirect.bin'), dest, sha256: sha256(data), token, state, ...fast });
    assert.deepEqual(fs.readFileSync(dest), data);
    assert.equal(server.log.filter((l) => l.path === '/gated/redirect.bin')[0]!.authorization, `Bearer ${token}`);
    assert.equal(other.log[0]!.authorization, undefined);
  } finally {
    await other.close();
  }
});

test('pause keeps the partial file; a new job resumes it; cancel deletes it', async () => {
  const { p, data, dest } = fresh(600 * 1024);
  server.files.get(p)!.chunk = 16 * 1024;
  server.files.get(p)!.delayMs = 5;
  let job: DownloadJob;
  job = new DownloadJob({ url: server.url(p), dest, sha256: sha256(data), state, ...fast, onProgress: (x) => { if (x.bytes > 100_000) job.pause(); } });
  await assert.rejects(job.done, rejectsWith('paused', /run it again to resume/));
  const kept = fs.statSync(`${dest}.part`).size;
  assert.ok(kept > 0 && kept < data.length);
  assert.equal(state.get(dest)!.status, 'paused');
  const requestsBefore = server.log.length;

  server.files.get(p)!.delayMs = 0;
  const r = await new DownloadJob({ url: server.url(p), dest, sha256: sha256(data), state, ...fast }).done;
  assert.equal(r.resumedFrom, kept);
  assert.deepEqual(fs.readFileSync(dest), data);
  const resumed = server.log.slice(requestsBefore).filter((l) => l.path === p);
  assert.deepEqual(resumed.map((l) => [l.range, l.bytes]), [[`bytes=${kept}-`, data.length - kept]]);

  const c = fresh(600 * 1024);
  server.files.get(c.p)!.chunk = 16 * 1024;
  server.files.get(c.p)!.delayMs = 5;
  let job2: DownloadJob;
  job2 = new DownloadJob({ url: server.url(c.p), dest: c.dest, state, ...fast, onProgress: (x) => { if (x.bytes > 50_000) job2.cancel(); } });
  await assert.rejects(job2.done, rejectsWith('cancelled'));
  assertNothingInstalled(c.dest);
  assert.equal(state.get(c.dest), undefined);
});

test('kept bytes are re-hashed from disk on resume: a damaged prefix is caught and fetched again once', async () => {
  const { p, data, dest } = fresh(400 * 1024);
  server.files.get(p)!.chunk = 16 * 1024;
  server.files.get(p)!.delayMs = 5;
  let job: DownloadJob;
  job = new DownloadJob({ url: server.url(p), dest, sha256: sha256(data), state, ...fast, onProgress: (x) => { if (x.bytes > 100_000) job.pause(); } });
  await assert.rejects(job.done, rejectsWith('paused'));
  // The disk flips a bit in the kept bytes while the app is closed.
  const fd = fs.openSync(`${dest}.part`, 'r+');
  fs.writeSync(fd, Buffer.from([data[10]! ^ 1]), 0, 1, 10);
  fs.closeSync(fd);
  server.files.get(p)!.delayMs = 0;
  const r = await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast });
  assert.deepEqual(fs.readFileSync(dest), data);
  assert.equal(r.resumedFrom, 0, 'the second round starts from zero');
});

test('not enough free disk space is refused before a single request', async () => {
  const { p, dest } = fresh();
  const before = server.log.length;
  await assert.rejects(downloadFile({ url: server.url(p), dest, expectedBytes: 2 ** 52, state, ...fast }), rejectsWith('disk', /not enough free disk space/));
  assert.equal(server.log.length, before);
});

test('an extra verification (e.g. the safetensors header) that fails deletes the file', async () => {
  const { p, data, dest } = fresh();
  await assert.rejects(downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast, verify: () => { throw new Error('header says 5 tensors, file ends early'); } }), rejectsWith('verify', /header says/));
  assertNothingInstalled(dest);
});

test('an existing destination is never overwritten unless asked', async () => {
  const { p, dest } = fresh();
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.writeFileSync(dest, 'mine');
  await assert.rejects(downloadFile({ url: server.url(p), dest, state, ...fast }), rejectsWith('exists'));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'mine');
  // A file where the destination's folder should be: a clear 'io' error, the file untouched.
  const below = path.join(dest, 'inside', 'x.bin');
  await assert.rejects(downloadFile({ url: server.url(p), dest: below, state, ...fast }), rejectsWith('io', /cannot create the folder .* a file is in the way/));
  assert.equal(fs.readFileSync(dest, 'utf8'), 'mine');
});

test('a weak ETag is not used for If-Range; Last-Modified is', async () => {
  const { p, data, dest } = fresh();
  server.serve(p, data, { weakEtag: true });
  server.fault(p, { kind: 'drop', after: 70_000 });
  await downloadFile({ url: server.url(p), dest, sha256: sha256(data), state, ...fast });
  const reqs = server.log.filter((l) => l.path === p);
  assert.equal(reqs[1]!.ifRange, server.files.get(p)!.lastModified);
  assert.equal(reqs[1]!.status, 206);
});
