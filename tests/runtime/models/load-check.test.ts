// Checkpoints that verify but would not load (issue 13, defect 7): `models import` and `models
// verify` run the loader's own shape and dtype checks (graph built, no session) and name the
// tensor; an integer tensor where weights are expected is refused, not converted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { loadComponent } from '../../../runtime/flux/sessions.js';
import { ImportError, importModel } from '../../../runtime/models/import.js';
import { verifyInstalled } from '../../../runtime/models/verify.js';
import { readInstallRecord, writeInstallRecord } from '../../../runtime/models/registry.js';
import { looseFiles, tensorsOf, tokenizers, write } from './checkpoints.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = path.join(tmp, String(n++));
  fs.mkdirSync(path.join(d, 'src'), { recursive: true });
  return { home: path.join(d, 'home'), src: path.join(d, 'src') };
};

const INT_OF_SIZE: Record<number, 'I32' | 'I16' | 'I8'> = { 4: 'I32', 2: 'I16', 1: 'I8' };
const SIZE: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1 };

/** Rewrites `file` with one tensor changed (same bytes, another dtype label or shape). */
function rewrite(file: string, name: string, change: (t: { dtype: string; shape: number[] }) => void): void {
  const tensors = tensorsOf(file);
  const t = tensors.find((x) => x.name === name);
  assert.ok(t, `${name} is in ${file}`);
  change(t as unknown as { dtype: string; shape: number[] });
  fs.rmSync(file);
  write(path.dirname(file), path.basename(file), tensors);
}

async function rejectsImport(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ImportError, `expected ImportError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('an integer tensor where the transformer needs weights: import refuses it by name, and so does loading', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  rewrite(files.transformer, 'final_layer.linear.weight', (t) => (t.dtype = INT_OF_SIZE[SIZE[t.dtype]!]!));
  await rejectsImport(importModel({ paths: [src], home }), /tensor 'final_layer\.linear\.weight'.* has dtype I(32|16|8), but the transformer needs floating-point weights .*not converted/);
  // The loader says the same (it is the same check), rather than casting the integers to floats.
  const set = openModelSet({ transformer: files.transformer, autoencoder: files.autoencoder, t5: files.t5, clip: files.clip, clipTokenizer: path.join(src, 'tokenizer'), t5Tokenizer: path.join(src, 'tokenizer_2'), config: { axes_dim: [8, 12, 12] } });
  await assert.rejects(loadComponent('transformer', set.transformer, set.config), /final_layer\.linear\.weight.*floating-point/);
});

test('an autoencoder tensor of the wrong shape (same bytes) is caught by import, naming the tensor', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  rewrite(files.autoencoder, 'decoder.up.0.block.0.conv1.weight', (t) => (t.shape = [t.shape[0]!, t.shape[1]!, 1, t.shape[2]! * t.shape[3]!]));
  await rejectsImport(importModel({ paths: [src], home }), /tensor 'decoder\.up\.0\.block\.0\.conv1\.weight' has shape \[\d+, \d+, 1, 9\], expected \[\d+, \d+, 3, 3\]/);
});

test('models verify runs the load checks: a model recorded with a bad tensor (an older import) is reported with the tensor', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  const { model } = await importModel({ paths: [src], home });
  assert.equal((await verifyInstalled(model.id, { home, quick: true })).ok, true);
  // As a version without these checks would have recorded it: the file has an integer tensor and
  // the install record matches the file (size, time), so only the load checks can tell.
  rewrite(files.transformer, 'img_in.weight', (t) => (t.dtype = INT_OF_SIZE[SIZE[t.dtype]!]!));
  const rec = readInstallRecord(model.folder);
  const st = fs.statSync(files.transformer);
  for (const f of rec.files) {
    if (f.path !== files.transformer) continue;
    f.bytes = st.size;
    f.mtime_ms = st.mtimeMs;
    f.sha256 = null;
  }
  writeInstallRecord(model.folder, rec);
  const report = await verifyInstalled(model.id, { home, quick: true });
  assert.equal(report.ok, false);
  assert.match(report.message, /img_in\.weight.*floating-point/);
});
