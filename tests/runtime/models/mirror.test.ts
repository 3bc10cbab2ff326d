// The model mirror and catalogue override: huggingface.co URLs move onto the mirror (path kept),
// other URLs stay; the environment wins over config.json; a bad mirror is one clear sentence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_MANIFEST, ManifestError, loadManifest } from '../../../runtime/models/manifest.js';
import { loadModelCatalogue, mirrorUrl } from '../../../runtime/models/mirror.js';
import { updateUserConfig } from '../../../runtime/settings/index.js';

test('a mirror keeps the huggingface.co path under its own base and leaves other hosts alone', () => {
  const hf = 'https://huggingface.co/Kijai/flux-fp8/resolve/main/flux1-schnell-fp8-e4m3fn.safetensors';
  assert.equal(mirrorUrl(hf, 'http://127.0.0.1:9000/hf'), 'http://127.0.0.1:9000/hf/Kijai/flux-fp8/resolve/main/flux1-schnell-fp8-e4m3fn.safetensors');
  assert.equal(mirrorUrl(hf, 'https://mirror.example.com///'), 'https://mirror.example.com/Kijai/flux-fp8/resolve/main/flux1-schnell-fp8-e4m3fn.safetensors');
  assert.equal(mirrorUrl('https://example.org/x.bin', 'https://mirror.example.com'), 'https://example.org/x.bin');
  assert.equal(mirrorUrl(hf, undefined), hf);
  assert.throws(() => mirrorUrl(hf, 'ftp://mirror'), (e: Error) => e instanceof ManifestError && /must be an http\(s\) URL/.test(e.message));
});

test('the catalogue in effect: SCHNELL_MODEL_MANIFEST, then the mirror from the environment before config.json', () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-mirror-'));
  try {
    const bundled = loadManifest(DEFAULT_MANIFEST);
    assert.deepEqual(loadModelCatalogue({ home, env: {} }).files.map((f) => f.url), bundled.files.map((f) => f.url));

    updateUserConfig({ modelMirror: 'https://corp.example/hf' }, home);
    const fromConfig = loadModelCatalogue({ home, env: {} });
    assert.ok(fromConfig.files.every((f) => f.url.startsWith('https://corp.example/hf/')), fromConfig.files[0]!.url);

    const fromEnv = loadModelCatalogue({ home, env: { HF_ENDPOINT: 'https://hf-mirror.example' } });
    assert.ok(fromEnv.files.every((f) => f.url.startsWith('https://hf-mirror.example/')));
    const ours = loadModelCatalogue({ home, env: { HF_ENDPOINT: 'https://hf-mirror.example', SCHNELL_MODEL_MIRROR: 'http://10.0.0.2:8080' } });
    assert.ok(ours.files.every((f) => f.url.startsWith('http://10.0.0.2:8080/')));
    assert.throws(() => loadModelCatalogue({ home, env: { SCHNELL_MODEL_MIRROR: 'not a url' } }), /SCHNELL_MODEL_MIRROR \("not a url"\) is not a URL/);

    const own = path.join(home, 'models.json');
    const data = JSON.parse(fs.readFileSync(DEFAULT_MANIFEST, 'utf8'));
    data.models = data.models.filter((m: { id: string }) => m.id === 'flux1-tokenizers');
    fs.writeFileSync(own, JSON.stringify(data));
    const custom = loadModelCatalogue({ home, env: { SCHNELL_MODEL_MANIFEST: own } });
    assert.deepEqual(custom.models.map((m) => m.id), ['flux1-tokenizers']);
    assert.ok(custom.files.every((f) => f.url.startsWith('https://corp.example/hf/')));
    assert.throws(() => loadModelCatalogue({ home, env: { SCHNELL_MODEL_MANIFEST: path.join(home, 'missing.json') } }), /missing\.json does not exist/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('a home that is a file or missing has no saved mirror (the registry reports the home itself)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-mirror-'));
  try {
    const file = path.join(dir, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const bundled = loadManifest(DEFAULT_MANIFEST).files.map((f) => f.url);
    assert.deepEqual(loadModelCatalogue({ home: file, env: {} }).files.map((f) => f.url), bundled);
    assert.deepEqual(loadModelCatalogue({ home: path.join(dir, 'missing'), env: {} }).files.map((f) => f.url), bundled);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
