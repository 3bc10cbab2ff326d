import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run, type ModelsIO } from '../../cli/models.js';
import { FaultServer, randomBytes, sha256 } from '../runtime/models/fault-server.js';
import { looseFiles, PARTS, tokenizers } from '../runtime/models/checkpoints.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = 'hf_CliTestTokenZYXWVUTSRQ987654';
let server: FaultServer;
let tmp: string;
before(async () => {
  server = await FaultServer.start();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
});
after(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

function sink() {
  let text = '';
  const w = new Writable({ write(chunk, _e, cb) { text += String(chunk); cb(); } });
  return { w, text: () => text };
}

async function cli(args: string[], env: NodeJS.ProcessEnv, stdin = '', onInterrupt?: ModelsIO['onInterrupt']): Promise<{ code: number; out: string; err: string }> {
  const o = sink();
  const e = sink();
  const io: ModelsIO = { stdout: o.w, stderr: e.w, stdin: Readable.from([stdin]) as unknown as NodeJS.ReadableStream, env, ...(onInterrupt ? { onInterrupt } : {}) };
  const code = await run(args, io);
  return { code, out: o.text(), err: e.text() };
}

test('list on an empty home shows what can be downloaded, as text and JSON', async () => {
  const env = { SCHNELL_HOME: path.join(tmp, 'empty') };
  const json = await cli(['list', '--json'], env);
  assert.equal(json.code, 0, json.err);
  const data = JSON.parse(json.out);
  assert.deepEqual(data.installed, []);
  assert.ok(data.available.some((m: { id: string; default: boolean; gated: boolean }) => m.id === 'flux1-schnell-fp8' && m.default && m.gated));
  const text = await cli(['list'], env);
  assert.match(text.out, /\* flux1-schnell-fp8 .*needs a Hugging Face token/);
  assert.match(text.out, /none yet/);
});

test('download state lives in the studio catalog file, $SCHNELL_HOME/library/catalog.sqlite, by default', async () => {
  const home = path.join(tmp, 'shared-db');
  const r = await cli(['list', '--json'], { SCHNELL_HOME: home });
  assert.equal(r.code, 0, r.err);
  const catalog = path.join(home, 'library', 'catalog.sqlite');
  assert.ok(fs.existsSync(catalog), 'the catalog file holds the download state');
  assert.equal(fs.existsSync(path.join(home, 'catalog.sqlite')), false, 'no second database next to the library');
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(catalog, { readonly: true });
  try {
    assert.ok(db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'model_downloads'").get());
  } finally {
    db.close();
  }
  // A state file that is not a database, or a home that is a file: one sentence naming it, exit 1.
  const notDb = path.join(tmp, 'not-a-database.txt');
  fs.writeFileSync(notDb, 'just text');
  const bad = await cli(['list', '--state', notDb], { SCHNELL_HOME: home });
  assert.equal(bad.code, 1);
  assert.match(bad.err, /cannot open the download state database .*not-a-database\.txt/);
  assert.equal(fs.readFileSync(notDb, 'utf8'), 'just text');
  const fileHome = await cli(['list', '--json'], { SCHNELL_HOME: notDb });
  assert.equal(fileHome.code, 1);
  assert.match(fileHome.err, /cannot use .*not-a-database\.txt.*: a folder on that path is a file/);
  assert.equal(JSON.parse(fileHome.out).ok, false);
  assert.doesNotMatch(bad.err + fileHome.err, /\n\s+at /);
});

test('download URL --sha256 --out: verified file; a wrong checksum fails and leaves nothing; flags are required', async () => {
  const env = { SCHNELL_HOME: path.join(tmp, 'url') };
  const data = randomBytes(200_000, 9);
  server.serve('/one/file.bin', data);
  const out = path.join(tmp, 'url-out', 'file.bin');
  const ok = await cli(['download', server.url('/one/file.bin'), '--sha256', sha256(data).toUpperCase(), '--out', out, '--json'], env);
  assert.equal(ok.code, 0, ok.err);
  assert.equal(JSON.parse(ok.out).sha256, sha256(data));
  assert.deepEqual(fs.readFileSync(out), data);
  assert.match(ok.err, /^$/, 'no progress output with --json');

  const wrong = await cli(['download', server.url('/one/file.bin'), '--sha256', 'a'.repeat(64), '--out', path.join(tmp, 'url-out', 'bad.bin')], env);
  assert.equal(wrong.code, 1);
  assert.match(wrong.err, /failed its checksum/);
  assert.equal(fs.existsSync(path.join(tmp, 'url-out', 'bad.bin')), false);
  assert.equal(fs.existsSync(path.join(tmp, 'url-out', 'bad.bin.part')), false);

  const noSha = await cli(['download', server.url('/one/file.bin'), '--out', out], env);
  assert.equal(noSha.code, 2);
  assert.match(noSha.err, /needs --sha256/);

  // --out DIR/ takes the server's name, checked.
  server.serve('/one/named', data, { headers: { 'content-disposition': 'attachment; filename="weights.bin"' } });
  const dir = await cli(['download', server.url('/one/named'), '--sha256', sha256(data), '--out', path.join(tmp, 'url-dir') + '/'], env);
  assert.equal(dir.code, 0, dir.err);
  assert.ok(fs.existsSync(path.join(tmp, 'url-dir', 'weights.bin')));
  assert.match(dir.err, /weights.bin \[#{20}\] done/, 'progress lines on a non-terminal stderr');
  server.serve('/one/evil', data, { headers: { 'content-disposition': 'attachment; filename="../../evil.sh"' } });
  const evil = await cli(['download', server.url('/one/evil'), '--sha256', sha256(data), '--out', path.join(tmp, 'url-dir') + '/'], env);
  assert.equal(evil.code, 1);
  assert.match(evil.err, /not a plain file name/);
  assert.equal(fs.existsSync(path.join(tmp, 'evil.sh')), false);
});

test('Ctrl-C pauses a download (exit 130, partial file kept); the same command resumes it', async () => {
  const env = { SCHNELL_HOME: path.join(tmp, 'pause') };
  const data = randomBytes(700_000, 11);
  server.serve('/slow.bin', data, { chunk: 16 * 1024, delayMs: 5 });
  const out = path.join(tmp, 'pause-out', 'slow.bin');
  const args = ['download', server.url('/slow.bin'), '--sha256', sha256(data), '--out', out];
  let timer: NodeJS.Timeout | undefined;
  const first = await cli(args, env, '', (handler) => {
    timer = setTimeout(handler, 150); // the user presses Ctrl-C
    return () => clearTimeout(timer);
  });
  assert.equal(first.code, 130, first.err);
  assert.match(first.err, /paused at .*run it again to resume/);
  const kept = fs.statSync(`${out}.part`).size;
  assert.ok(kept > 0 && kept < data.length);
  const listed = JSON.parse((await cli(['list', '--json'], env)).out);
  assert.deepEqual(listed.downloads.map((d: { status: string; bytes: number }) => [d.status, d.bytes]), [['paused', kept]]);
  server.files.get('/slow.bin')!.delayMs = 0;
  const second = await cli([...args, '--json'], env);
  assert.equal(second.code, 0, second.err);
  assert.equal(JSON.parse(second.out).resumed_from, kept);
  assert.deepEqual(fs.readFileSync(out), data);
});

test('login stores the token privately; a gated manifest download uses it and never prints it', async () => {
  const home = path.join(tmp, 'gated');
  const env = { SCHNELL_HOME: home };
  const login = await cli(['login'], env, `${TOKEN}\n`);
  assert.equal(login.code, 0, login.err);
  assert.equal(fs.statSync(path.join(home, 'secrets.json')).mode & 0o777, 0o600);
  assert.ok(!login.out.includes(TOKEN) && !login.err.includes(TOKEN));

  const vocab = fs.readFileSync(path.join(path.dirname(PARTS.clip), '..', 'tokenizers', 'clip', 'vocab.json'));
  const merges = fs.readFileSync(path.join(path.dirname(PARTS.clip), '..', 'tokenizers', 'clip', 'merges.txt'));
  server.serve('/gated/tokenizer/vocab.json', vocab, { token: TOKEN });
  server.serve('/gated/tokenizer/merges.txt', merges, { token: TOKEN });
  const manifest = path.join(tmp, 'gated-manifest.json');
  const file = (id: string, name: string, data: Buffer, format: string) => ({
    id, folder: 'tokenizer', file: name, url: server.url(`/gated/tokenizer/${name}`), repo: 'org/gated', kind: 'tokenizer', format,
    bytes: data.length, bytes_exact: true, sha256: sha256(data), license: 'MIT', gated: true, purpose: 'test',
  });
  fs.writeFileSync(manifest, JSON.stringify({
    version: 1,
    files: [file('vocab', 'vocab.json', vocab, 'json'), file('merges', 'merges.txt', merges, 'text')],
    models: [{ id: 'toks', kind: 'tokenizers', name: 'Tokenizers', description: 'd', files: ['vocab', 'merges'], disk_bytes: vocab.length + merges.length, memory: { gpu_bytes: 0, cpu_bytes: 0 } }],
  }));
  const r = await cli(['download', 'toks', '--manifest', manifest], env);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Tokenizers is installed/);
  assert.ok(!r.out.includes(TOKEN) && !r.err.includes(TOKEN));
  assert.ok(server.log.filter((l) => l.path.startsWith('/gated/')).every((l) => l.authorization === `Bearer ${TOKEN}`));
  const listed = JSON.parse((await cli(['list', '--json', '--manifest', manifest], env)).out);
  assert.deepEqual(listed.installed.map((m: { id: string; status: string }) => [m.id, m.status]), [['toks', 'installed']]);

  const out = await cli(['logout'], env);
  assert.equal(out.code, 0);
  const again = await cli(['download', 'toks', '--manifest', manifest, '--json'], { SCHNELL_HOME: path.join(tmp, 'gated2') });
  assert.equal(again.code, 1);
  assert.equal(JSON.parse(again.out).code, 'auth');
});

test('import, verify, fit and remove from the command line', async () => {
  const home = path.join(tmp, 'imp');
  const env = { SCHNELL_HOME: home };
  const src = path.join(tmp, 'imp-src');
  looseFiles(src);
  tokenizers(src);
  const dry = await cli(['import', src, '--dry-run'], env);
  assert.equal(dry.code, 0, dry.err);
  assert.match(dry.out, /found a complete FLUX model/);
  const imp = await cli(['import', src, '--copy', '--id', 'cli-flux', '--json'], env);
  assert.equal(imp.code, 0, imp.err);
  assert.equal(JSON.parse(imp.out).id, 'cli-flux');
  const v = await cli(['verify', 'cli-flux', '--json'], env);
  assert.equal(v.code, 0, v.err);
  assert.equal(JSON.parse(v.out).ok, true);
  const vText = await cli(['verify', 'cli-flux'], env);
  assert.equal(vText.code, 0, vText.err);
  assert.match(vText.out, /cli-flux is intact/);
  const fit = await cli(['fit', 'cli-flux', '--device', 'cpu', '--width', '64', '--height', '64', '--json'], env);
  assert.equal(fit.code, 0, fit.err);
  assert.equal(JSON.parse(fit.out).fits, true);
  const small = await cli(['fit', 'flux1-schnell-fp8', '--gpu-memory', '8'], env);
  assert.equal(small.code, 1, 'a model that does not fit is a failed check: exit code 1');
  assert.match(small.out, /cloud/);
  const unknown = await cli(['fit', 'no-such-model', '--device', 'cpu'], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /no-such-model is not an installed model, a manifest model or a file or folder/);
  const huge = await cli(['fit', 'cli-flux', '--device', 'cpu', '--width', '100000'], env);
  assert.equal(huge.code, 2);
  assert.match(huge.err, /--width must be a whole number from 1 to 16384 \(got 100000\)/);
  const bad = await cli(['import', path.join(src, 'ae.safetensors'), '--json'], env);
  assert.equal(bad.code, 1);
  assert.ok(JSON.parse(bad.out).plan.missing.includes('transformer'));
  assert.equal((await cli(['import', src, '--id', '../x'], env)).code, 2);
  for (const id of ['a/b', 'nul', 'CON', 'x..y']) {
    const r = await cli(['import', src, '--id', id], env);
    assert.equal(r.code, 2, id);
    assert.match(r.err, /is not a valid id: use 1 to 80 lowercase letters.*no Windows device names/, id);
  }
  assert.deepEqual(fs.readdirSync(path.join(home, 'models')), ['cli-flux']);
  const rm = await cli(['remove', 'cli-flux'], env);
  assert.equal(rm.code, 0, rm.err);
  assert.equal(fs.existsSync(path.join(home, 'models', 'cli-flux')), false);
  assert.equal((await cli(['remove', 'cli-flux'], env)).code, 1);
  assert.equal((await cli(['nope'], env)).code, 2);
});

test('`schnell models` is wired into the real command', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'models', 'list', '--json'], {
    env: { ...process.env, SCHNELL_HOME: path.join(tmp, 'spawned') }, encoding: 'utf8', timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).available.length >= 3);
});


