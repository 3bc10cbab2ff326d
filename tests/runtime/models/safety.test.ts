// Names and paths from manifests, servers and imports never escape the models folder; secrets stay
// secret; the shipped manifest is valid and honest about what it can verify.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { containedPath, containedRelative, isSafeFileName, isSlug, UnsafePathError } from '../../../runtime/models/paths.js';
import { contentDispositionName, parseContentRange } from '../../../runtime/models/http.js';
import { loadManifest, parseManifest, ManifestError } from '../../../runtime/models/manifest.js';
import { FileSecretStore, huggingFaceToken, redact, HF_TOKEN_SECRET } from '../../../runtime/models/secrets.js';
import { remoteFileName, DownloadError } from '../../../runtime/models/download.js';
import { estimateFromParams } from '../../../runtime/models/fit.js';
import { modelFolder, removeInstalled, writeModelJson } from '../../../runtime/models/registry.js';
import { FaultServer } from './fault-server.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('plain file names pass; separators, .., absolute paths, drive letters and control characters do not', () => {
  for (const ok of ['flux1-schnell.safetensors', 'clip_l.safetensors', 'vocab.json', 'model-00001-of-00002.safetensors', 'a b.txt']) assert.ok(isSafeFileName(ok), ok);
  for (const bad of ['', '.', '..', '../x', '..\\x', 'a/b', 'a\\b', '/etc/passwd', 'C:evil', 'x\0y', 'x\ny', '.hidden', 'a..b', 'con', 'NUL.txt', 'trailing.', ' lead', 'x'.repeat(201)]) {
    assert.equal(isSafeFileName(bad), false, JSON.stringify(bad));
  }
  for (const ok of ['flux1-schnell-fp8', 'safety', 't5xxl-fp16', 'a.b_c']) assert.ok(isSlug(ok), ok);
  for (const bad of ['', 'A', '-x', '../x', 'a/b', 'a..b', '.x', 'x y', 'lpt1']) assert.equal(isSlug(bad), false, bad);
});

test('containedPath refuses escapes and symbolic links, even ones planted inside the folder', () => {
  const root = path.join(tmp, 'models');
  fs.mkdirSync(root, { recursive: true });
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  assert.equal(containedPath(root, ['m', 'file.safetensors'], { create: true }), path.join(fs.realpathSync(root), 'm', 'file.safetensors'));
  for (const segs of [['..', 'x'], ['m', '..', '..', 'x'], ['/etc'], ['a/b'], ['m\\..\\..\\x']]) {
    assert.throws(() => containedPath(root, segs), UnsafePathError, segs.join('|'));
  }
  fs.symlinkSync(outside, path.join(root, 'linked'));
  assert.throws(() => containedPath(root, ['linked', 'x.safetensors']), /symbolic link/);
  fs.writeFileSync(path.join(outside, 'secret'), 'x');
  fs.symlinkSync(path.join(outside, 'secret'), path.join(root, 'm', 'file-link'));
  assert.throws(() => containedPath(root, ['m', 'file-link']), /symbolic link/);
  for (const rel of ['../x', '/etc/passwd', 'C:\\Windows', 'a/../../x', '\\\\server\\share']) assert.throws(() => containedRelative(root, rel), UnsafePathError, rel);

  // A model folder that is a link is refused, and removing it never deletes what it points to.
  const home = path.join(tmp, 'home');
  fs.mkdirSync(path.join(home, 'models'), { recursive: true });
  fs.symlinkSync(outside, path.join(home, 'models', 'evil'));
  assert.throws(() => modelFolder('evil', home), /symbolic link/);
  assert.throws(() => removeInstalled('evil', home), /symbolic link/);
  assert.ok(fs.existsSync(path.join(outside, 'secret')));
  assert.throws(() => modelFolder('../outside', home), UnsafePathError);

  // schnell-model.json is only written with paths inside the folder.
  const folder = path.join(home, 'models', 'good');
  fs.mkdirSync(folder);
  assert.throws(() => writeModelJson(folder, 'x', { transformer: '../../x', autoencoder: 'a', t5: 'b', clip: 'c', clip_tokenizer: 'd', t5_tokenizer: 'e' }), UnsafePathError);
  assert.throws(() => writeModelJson(folder, 'x', { transformer: path.join(outside, 'secret'), autoencoder: 'a', t5: 'b', clip: 'c', clip_tokenizer: 'd', t5_tokenizer: 'e' }), UnsafePathError);
});

test('removing a model folder that holds a link deletes the link, not its target', () => {
  const home = path.join(tmp, 'home2');
  const target = path.join(tmp, 'precious');
  fs.mkdirSync(target, { recursive: true });
  fs.writeFileSync(path.join(target, 'keep.txt'), 'keep');
  const folder = path.join(home, 'models', 'linky');
  fs.mkdirSync(folder, { recursive: true });
  fs.symlinkSync(target, path.join(folder, 'tokenizer'));
  removeInstalled('linky', home);
  assert.equal(fs.existsSync(folder), false);
  assert.equal(fs.readFileSync(path.join(target, 'keep.txt'), 'utf8'), 'keep');
});

test('server-suggested names are parsed and refused when hostile', async () => {
  assert.equal(contentDispositionName('attachment; filename="flux1-schnell.safetensors"'), 'flux1-schnell.safetensors');
  assert.equal(contentDispositionName("attachment; filename*=UTF-8''ae%20v2.safetensors; filename=\"ae.safetensors\""), 'ae v2.safetensors');
  assert.equal(contentDispositionName('inline'), undefined);
  assert.deepEqual(parseContentRange('bytes 10-19/100'), { start: 10, end: 19, total: 100 });
  assert.deepEqual(parseContentRange('bytes */100'), { unsatisfied: 100 });
  assert.equal(parseContentRange('bytes 20-10/100'), null);
  assert.equal(parseContentRange('bytes 0-100/100'), null);

  const server = await FaultServer.start();
  try {
    const data = Buffer.from('safetensors-ish');
    server.serve('/plain/model.safetensors', data);
    assert.equal(await remoteFileName(server.url('/plain/model.safetensors')), 'model.safetensors');
    server.serve('/named', data, { headers: { 'content-disposition': 'attachment; filename="ae.safetensors"' } });
    assert.equal(await remoteFileName(server.url('/named')), 'ae.safetensors');
    const hostile = ['../../.bashrc', '/etc/passwd', '..\\..\\win.ini', 'a/b.safetensors', '.profile'];
    for (const [i, name] of hostile.entries()) {
      server.serve(`/cd${i}`, data, { headers: { 'content-disposition': `attachment; filename="${name}"` } });
      await assert.rejects(remoteFileName(server.url(`/cd${i}`)), (e: Error) => e instanceof DownloadError && e.code === 'invalid' && /not a plain file name/.test(e.message), name);
    }
    server.serve('/x/..%2F..%2Fescape', data);
    await assert.rejects(remoteFileName(server.url('/x/..%2F..%2Fescape')), /not a plain file name/);
  } finally {
    await server.close();
  }
});

test('a hostile or inconsistent manifest is refused with every problem named', () => {
  const file = { id: 'x', file: 'x.safetensors', url: 'https://example.com/x', kind: 'transformer', format: 'safetensors', bytes: 1, bytes_exact: true, sha256: null, license: 'MIT', gated: false, purpose: 'p' };
  const model = { id: 'm', kind: 'tokenizers', name: 'M', description: 'd', files: ['x'], disk_bytes: 1, memory: { gpu_bytes: 0, cpu_bytes: 0 } };
  const bad: [unknown, RegExp][] = [
    [{ version: 1, files: [{ ...file, file: '../../.bashrc' }], models: [model] }, /files\.0\.file: must be a plain file name/],
    [{ version: 1, files: [{ ...file, file: '/etc/passwd' }], models: [model] }, /files\.0\.file/],
    [{ version: 1, files: [{ ...file, folder: 'a/b' }], models: [model] }, /files\.0\.folder/],
    [{ version: 1, files: [{ ...file, id: 'X Y' }], models: [model] }, /files\.0\.id: must be a lowercase slug/],
    [{ version: 1, files: [file], models: [{ ...model, id: '../m' }] }, /models\.0\.id/],
    [{ version: 1, files: [{ ...file, url: 'file:///etc/passwd' }], models: [model] }, /files\.0\.url: must be an http\(s\) URL/],
    [{ version: 1, files: [{ ...file, sha256: 'abc' }], models: [model] }, /files\.0\.sha256/],
    [{ version: 1, files: [file], models: [{ ...model, files: ['nope'] }] }, /lists unknown file nope/],
    [{ version: 1, files: [file], models: [{ ...model, disk_bytes: 5 }] }, /disk_bytes is 5 but its files add up to 1/],
    [{ version: 1, files: [file, { ...file }], models: [model] }, /file id x appears twice/],
    [{ version: 1, files: [file], models: [model], extra: 1 }, /Unrecognized key/i],
  ];
  for (const [data, re] of bad) assert.throws(() => parseManifest(data), (e: Error) => e instanceof ManifestError && re.test(e.message), re.source);
});

test('the shipped manifest is valid: FP8 FLUX.1 [schnell], checksums only where published, memory in line with the estimate', () => {
  const m = loadManifest();
  const def = m.models.find((x) => x.default)!;
  assert.equal(def.kind, 'flux');
  assert.match(def.name, /FP8/);
  const kinds = new Set(m.files.map((f) => f.kind));
  for (const k of ['transformer', 't5', 'clip', 'autoencoder', 'tokenizer', 'safety', 'checkpoint']) assert.ok(kinds.has(k as never), k);
  assert.ok(m.files.some((f) => f.id.startsWith('t5') && f.precision === 'fp8') && m.files.some((f) => f.id.startsWith('t5') && f.precision === 'fp16'));
  for (const f of m.files) {
    assert.ok(f.url.startsWith('https://huggingface.co/'), f.url);
    // No checksum without a published one: the others say how they are verified instead.
    if (f.sha256 === null) assert.match(f.verify_note ?? '', /verified against/, f.id);
    if (f.sha256 !== null) assert.equal(f.bytes_exact, true, `${f.id}: a published checksum comes with the exact size`);
    if (f.repo === 'black-forest-labs/FLUX.1-schnell') assert.equal(f.gated, true, f.id);
  }
  assert.equal(m.file('flux1-schnell-bf16').license, 'Apache-2.0');
  assert.equal(m.file('clip-l').license, 'MIT');
  assert.equal(m.file('t5xxl-fp8-e4m3fn').license, 'Apache-2.0');
  for (const model of m.models) {
    if (model.kind !== 'flux') continue;
    const parts = Object.fromEntries((['transformer', 'autoencoder', 't5', 'clip'] as const).map((k) => {
      const f = m.file(model.components[k]);
      const g = f.kind === 'checkpoint' ? m.file((def as typeof model).components[k]) : f;
      return [k, { params: g.params!, precision: g.precision }];
    }));
    for (const device of ['gpu', 'cpu'] as const) {
      const est = estimateFromParams(parts, { device }).totalBytes;
      const stated = device === 'gpu' ? model.memory.gpu_bytes : model.memory.cpu_bytes;
      assert.ok(Math.abs(est - stated) / est < 0.05, `${model.id} ${device}: manifest says ${stated}, estimate ${est}`);
    }
  }
});

test('the secret store is private, and tokens are redacted from any text', async () => {
  const store = new FileSecretStore(path.join(tmp, 'sec', 'secrets.json'));
  await store.set(HF_TOKEN_SECRET, 'hf_abcdefghijklmnopqrstuvwxyz');
  assert.equal(fs.statSync(store.file).mode & 0o777, 0o600);
  fs.chmodSync(store.file, 0o644);
  assert.equal(await huggingFaceToken(store, {}), 'hf_abcdefghijklmnopqrstuvwxyz');
  assert.equal(fs.statSync(store.file).mode & 0o777, 0o600, 'a loosened file is tightened again');
  assert.equal(await huggingFaceToken(store, { HF_TOKEN: 'hf_fromEnvironment123456' }), 'hf_fromEnvironment123456');
  await store.delete(HF_TOKEN_SECRET);
  assert.equal(await huggingFaceToken(store, {}), undefined);
  fs.writeFileSync(store.file, 'hf_notjson_butsecret');
  await assert.rejects(store.get('x'), (e: Error) => !e.message.includes('hf_notjson_butsecret'));

  const t = 'hf_SuperSecretToken0123456789';
  const text = `GET https://user:pw@host/x?token=abc&x=1 Authorization: Bearer ${t} and ${t} and custom-secret-value`;
  const out = redact(text, ['custom-secret-value']);
  for (const leak of [t, 'custom-secret-value', 'user:pw', 'token=abc']) assert.ok(!out.includes(leak), `${leak} in ${out}`);
  assert.match(out, /x=1/);
});
