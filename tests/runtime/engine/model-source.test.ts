// A local model given as a ModelSetSpec (how an installed in-place import is opened) through the
// engine: resolved to absolute paths, carried as JSON to the child-process backend, and drawing the
// same image as the folder it came from.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createGenerationRequest, type GenerationRequest } from '../../../runtime/api/index.js';
import type { ModelSetSpec } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { createRouter, fluxBackendSpec, releaseRouter } from '../../../runtime/engine/local.js';
import { modelFolder, modelSourcePath, resolveModelSource } from '../../../runtime/engine/model-source.js';
import { tempDir, writeTempDemoModel } from '../server/helpers.js';

let demo: Awaited<ReturnType<typeof writeTempDemoModel>>;
let home: ReturnType<typeof tempDir>;
let spec: ModelSetSpec;

before(async () => {
  demo = await writeTempDemoModel();
  home = tempDir('schnell-home-');
  const manifest = JSON.parse(fs.readFileSync(path.join(demo.dir, 'schnell-model.json'), 'utf8'));
  const c = manifest.components;
  const at = (p: string) => path.join(demo.dir, p);
  spec = {
    name: 'demo from a spec', transformer: at(c.transformer), autoencoder: at(c.autoencoder), t5: at(c.t5), clip: at(c.clip),
    clipTokenizer: at(c.clip_tokenizer), t5Tokenizer: at(c.t5_tokenizer), config: manifest.config,
  };
});
after(() => {
  demo.cleanup();
  home.cleanup();
});

// The local backend renders any multiple of 16; the schema's server sizes do not apply to it.
const req: GenerationRequest = { ...createGenerationRequest({ prompt: 'a kite', seed: 8, steps: 1 }), width: 64, height: 48 };

test('paths resolve to absolute ones, values stay values; the folder is the transformer\'s', () => {
  const relative = { ...spec, transformer: 'models/t.safetensors', t5Tokenizer: 'tok2', config: 'cfg.json' };
  const r = resolveModelSource(relative) as ModelSetSpec;
  assert.equal(r.transformer, path.resolve('models/t.safetensors'));
  assert.equal(r.t5Tokenizer, path.resolve('tok2'));
  assert.equal(r.config, path.resolve('cfg.json'));
  assert.equal(r.name, 'demo from a spec');
  assert.deepEqual((resolveModelSource(spec) as ModelSetSpec).config, spec.config);
  assert.equal(resolveModelSource('rel/model'), path.resolve('rel/model'));
  assert.equal(modelSourcePath(spec), spec.transformer);
  assert.equal(modelFolder(spec), demo.dir);
  assert.equal(modelFolder(path.join(demo.dir, 'x.safetensors')), demo.dir);
  // The backend spec survives a JSON round trip unchanged (that is how it reaches a child process).
  const backend = fluxBackendSpec({ modelPath: spec });
  assert.deepEqual(JSON.parse(JSON.stringify(backend)), backend);
});

test('a spec in a child process draws what the folder draws, and describes itself by its transformer', async () => {
  const fromSpec = await createRouter({ backend: 'local', modelPath: spec, isolate: true, home: home.dir, env: {} });
  const fromFolder = await createRouter({ backend: 'local', modelPath: demo.dir, isolate: true, home: home.dir, env: {} });
  try {
    const info = await fromSpec.local!.describe();
    assert.equal(info.name, 'demo from a spec');
    assert.equal(info.path, spec.transformer);
    const [a, b] = [await fromSpec.generate(req), await fromFolder.generate(req)];
    assert.equal(a.backend, 'local');
    assert.deepEqual(Buffer.from(a.images[0]!.bytes), Buffer.from(b.images[0]!.bytes));
    // A component that goes missing is noticed by the cheap check, by name.
    const away = `${spec.autoencoder}.away`;
    fs.renameSync(spec.autoencoder!, away);
    try {
      const check = await fromSpec.local!.check();
      assert.equal(check.ok, false);
      assert.match(check.ok ? '' : check.reason, /ae-demo-untrained/);
    } finally {
      fs.renameSync(away, spec.autoencoder!);
    }
  } finally {
    await releaseRouter(fromSpec);
    await releaseRouter(fromFolder);
  }
});
