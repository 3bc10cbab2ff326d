import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { DownloadError, PAUSE } from '../../../runtime/models/download.js';
import { installFromManifest } from '../../../runtime/models/install.js';
import { parseManifest, type ModelManifest } from '../../../runtime/models/manifest.js';
import { getInstalled, listInstalled, MODEL_JSON, readInstallRecord, removeInstalled } from '../../../runtime/models/registry.js';
import { FileSecretStore, HF_TOKEN_SECRET } from '../../../runtime/models/secrets.js';
import { DownloadState, openStateDatabase } from '../../../runtime/models/state.js';
import { verifyInstalled } from '../../../runtime/models/verify.js';
import { fixtures, PARTS, tiny } from './checkpoints.js';
import { FaultServer, sha256 } from './fault-server.js';

const TOKEN = 'hf_InstallTestTokenABCDEFGHIJ123';
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

const fast = { backoffMs: 5, maxBackoffMs: 20, stallTimeoutMs: 5000, progressIntervalMs: 0, reserveBytes: 0 };
let n = 0;

/** A manifest whose files the test server serves (`prefix` keeps each test's paths apart). */
function setup(opts: { gated?: boolean } = {}) {
  const prefix = `/t${n++}`;
  const home = path.join(tmp, prefix);
  const sources: Record<string, { file: string; folder?: string; local: string; kind: string; format: string; exact: boolean; sha: boolean }> = {
    transformer: { file: 'flux1-schnell-fp8-e4m3fn.safetensors', local: tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'), kind: 'transformer', format: 'safetensors', exact: true, sha: true },
    t5: { file: 't5xxl_fp8_e4m3fn.safetensors', local: PARTS.t5, kind: 't5', format: 'safetensors', exact: false, sha: false },
    clip: { file: 'clip_l.safetensors', local: PARTS.clip, kind: 'clip', format: 'safetensors', exact: true, sha: true },
    ae: { file: 'ae.safetensors', local: PARTS.autoencoder, kind: 'autoencoder', format: 'safetensors', exact: true, sha: true },
    vocab: { folder: 'tokenizer', file: 'vocab.json', local: path.join(fixtures, 'tokenizers/clip/vocab.json'), kind: 'tokenizer', format: 'json', exact: false, sha: false },
    merges: { folder: 'tokenizer', file: 'merges.txt', local: path.join(fixtures, 'tokenizers/clip/merges.txt'), kind: 'tokenizer', format: 'text', exact: false, sha: false },
    t5tok: { folder: 'tokenizer_2', file: 'tokenizer.json', local: path.join(fixtures, 'tokenizers/t5/tokenizer.json'), kind: 'tokenizer', format: 'json', exact: false, sha: false },
  };
  const files = Object.entries(sources).map(([id, s]) => {
    const data = fs.readFileSync(s.local);
    const urlPath = `${prefix}/${s.folder ? `${s.folder}/` : ''}${s.file}`;
    server.serve(urlPath, data, opts.gated && id === 'ae' ? { token: TOKEN } : {});
    return {
      id, ...(s.folder ? { folder: s.folder } : {}), file: s.file, url: server.url(urlPath), repo: 'test-org/flux-test', kind: s.kind, format: s.format,
      bytes: s.exact ? data.length : data.length + 1000, bytes_exact: s.exact, sha256: s.sha ? sha256(data) : null,
      license: 'Apache-2.0', gated: Boolean(opts.gated && id === 'ae'), purpose: `test ${id}`,
    };
  });
  const ids = files.map((f) => f.id);
  const manifest: ModelManifest = parseManifest({
    version: 1,
    files,
    models: [{
      id: 'tiny-flux', kind: 'flux', name: 'Tiny FLUX', description: 'test', files: ids,
      components: { transformer: 'transformer', autoencoder: 'ae', t5: 't5', clip: 'clip', clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2' },
      disk_bytes: files.reduce((s, f) => s + f.bytes, 0), memory: { gpu_bytes: 1, cpu_bytes: 1 },
    }],
  }, 'test-manifest.json');
  const db = openStateDatabase(path.join(home, 'catalog.sqlite'));
  const state = new DownloadState(db);
  const urlOf = (id: string) => new URL(files.find((f) => f.id === id)!.url).pathname;
  return { prefix, home, manifest, db, state, urlOf, env: {} as NodeJS.ProcessEnv };
}

test('a gated model without a token stops before a single byte, saying where to accept the terms', async () => {
  const s = setup({ gated: true });
  const before = server.log.length;
  await assert.rejects(installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast }), (e: Error) => {
    assert.ok(e instanceof DownloadError && e.code === 'auth');
    assert.match(e.message, /gated Hugging Face repository \(test-org\/flux-test\)/);
    assert.match(e.message, /https:\/\/huggingface\.co\/test-org\/flux-test/);
    assert.match(e.message, /schnell models login/);
    return true;
  });
  assert.equal(server.log.length, before);
  s.db.close();
});

test('installing from the manifest: every file verified, record then schnell-model.json, the model opens', async () => {
  const s = setup({ gated: true });
  // The token comes from the secret store, as after `schnell models login`.
  const secrets = new FileSecretStore(path.join(s.home, 'secrets.json'));
  await secrets.set(HF_TOKEN_SECRET, TOKEN);
  assert.equal(fs.statSync(secrets.file).mode & 0o777, 0o600);
  server.fault(`${s.prefix}/ae.safetensors`, { kind: 'drop', after: 200_000 });
  const logs: string[] = [];
  const r = await installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, secrets, env: {}, download: fast, onLog: (m) => logs.push(m) });
  assert.equal(r.alreadyInstalled, false);
  assert.equal(r.model.status, 'installed');
  const json = JSON.parse(fs.readFileSync(path.join(r.model.folder, MODEL_JSON), 'utf8'));
  assert.deepEqual(json.components, {
    transformer: 'flux1-schnell-fp8-e4m3fn.safetensors', autoencoder: 'ae.safetensors', t5: 't5xxl_fp8_e4m3fn.safetensors', clip: 'clip_l.safetensors',
    clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2',
  });
  const set = openModelSet(r.model.folder);
  assert.equal(set.name, 'Tiny FLUX');
  assert.ok(set.transformer.has('img_in.weight'));
  // Only the gated file's requests carried the token.
  for (const l of server.log.filter((x) => x.path.startsWith(s.prefix))) {
    assert.equal(l.authorization, l.path.endsWith('/ae.safetensors') ? `Bearer ${TOKEN}` : undefined, l.path);
  }
  assert.ok(!logs.join('\n').includes(TOKEN));
  const rec = readInstallRecord(r.model.folder);
  assert.equal(rec.source, 'download');
  assert.equal(rec.files.length, 7);
  assert.ok(s.state.list('tiny-flux').every((row) => row.status === 'complete'));
  assert.equal((await verifyInstalled('tiny-flux', { home: s.home })).ok, true);

  // Asking again changes nothing and fetches nothing.
  const before = server.log.length;
  const again = await installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, secrets, env: {}, download: fast });
  assert.equal(again.alreadyInstalled, true);
  assert.equal(server.log.length, before);

  removeInstalled('tiny-flux', s.home, s.state);
  assert.equal(getInstalled('tiny-flux', s.home), undefined);
  assert.deepEqual(s.state.list('tiny-flux'), []);
  s.db.close();
});

test('a tampered file stops the install: nothing is marked installed; the next run keeps the verified files', async () => {
  const s = setup();
  const good = fs.readFileSync(PARTS.clip);
  const bad = Buffer.from(good);
  bad[bad.length - 10] = bad[bad.length - 10]! ^ 0x55;
  server.serve(s.urlOf('clip'), bad);
  await assert.rejects(installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast }),
    (e: Error) => e instanceof DownloadError && e.code === 'checksum' && /clip_l\.safetensors failed its checksum/.test(e.message));
  const m = getInstalled('tiny-flux', s.home)!;
  assert.equal(m.status, 'partial');
  assert.equal(fs.existsSync(path.join(m.folder, MODEL_JSON)), false);
  assert.equal(fs.existsSync(path.join(m.folder, 'schnell-install.json')), false);
  assert.equal(fs.existsSync(path.join(m.folder, 'clip_l.safetensors')), false);
  assert.equal(listInstalled(s.home).find((x) => x.id === 'tiny-flux')!.status, 'partial');

  server.serve(s.urlOf('clip'), good);
  const sentBefore = server.sentFor(s.urlOf('transformer'));
  const r = await installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast });
  assert.equal(r.model.status, 'installed');
  assert.ok(r.keptFiles >= 2, 'files verified in the first run are kept');
  assert.equal(server.sentFor(s.urlOf('transformer')), sentBefore, 'the transformer was not fetched again');
  s.db.close();
});

test('a file that is not what the manifest says (a T5 where the transformer belongs) is refused and deleted', async () => {
  const s = setup();
  const manifest = parseManifest({
    ...JSON.parse(JSON.stringify({ version: 1, files: s.manifest.files, models: s.manifest.models })),
    files: s.manifest.files.map((f) => (f.id === 'transformer' ? { ...f, sha256: null, bytes_exact: false } : f)),
  });
  server.serve(s.urlOf('transformer'), fs.readFileSync(PARTS.t5));
  await assert.rejects(installFromManifest({ manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast }),
    (e: Error) => e instanceof DownloadError && e.code === 'verify' && /is not a valid file: it is not a FLUX transformer/.test(e.message));
  assert.equal(fs.existsSync(path.join(s.home, 'models', 'tiny-flux', 'flux1-schnell-fp8-e4m3fn.safetensors')), false);
  assert.equal(getInstalled('tiny-flux', s.home)!.status, 'partial');
  s.db.close();
});

test('a paused install resumes where it stopped', async () => {
  const s = setup();
  for (const f of s.manifest.files) {
    const p = new URL(f.url).pathname;
    Object.assign(server.files.get(p)!, { chunk: 16 * 1024, delayMs: 2 });
  }
  const ac = new AbortController();
  await assert.rejects(installFromManifest({
    manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast, signal: ac.signal,
    onProgress: (f, p) => { if (f.id === 'ae' && p.bytes > 300_000) ac.abort(PAUSE); },
  }), (e: Error) => e instanceof DownloadError && e.code === 'paused');
  const part = path.join(s.home, 'models', 'tiny-flux', 'ae.safetensors.part');
  const kept = fs.statSync(part).size;
  assert.ok(kept > 300_000);
  assert.equal(getInstalled('tiny-flux', s.home)!.status, 'partial');
  const before = server.log.length;
  for (const f of s.manifest.files) Object.assign(server.files.get(new URL(f.url).pathname)!, { delayMs: 0 });
  await installFromManifest({ manifest: s.manifest, modelId: 'tiny-flux', home: s.home, state: s.state, env: {}, download: fast });
  const ae = server.log.slice(before).filter((l) => l.path === s.urlOf('ae'));
  assert.deepEqual(ae.map((l) => [l.range, l.bytes]), [[`bytes=${kept}-`, fs.statSync(PARTS.autoencoder).size - kept]]);
  assert.equal(getInstalled('tiny-flux', s.home)!.status, 'installed');
  s.db.close();
});
