import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openModelSet } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { ImportError, importModel, planImport, slugify } from '../../../runtime/models/import.js';
import { getInstalled, installedModelSource, listInstalled, MODEL_JSON, readInstallRecord, removeInstalled } from '../../../runtime/models/registry.js';
import { verifyInstalled } from '../../../runtime/models/verify.js';
import { UnsafePathError } from '../../../runtime/models/paths.js';
import { comfyFile, diffusersFolder, KINDS, looseFiles, PARTS, scaledFp8Transformer, tensorsOf, tokenizers, write } from './checkpoints.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = path.join(tmp, String(n++));
  fs.mkdirSync(path.join(d, 'src'), { recursive: true });
  return { home: path.join(d, 'home'), src: path.join(d, 'src') };
};

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

async function rejectsImport(p: Promise<unknown>, re: RegExp): Promise<ImportError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof ImportError, `expected ImportError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail('expected the import to fail');
}

function nothingRegistered(home: string): void {
  const root = path.join(home, 'models');
  const left = fs.existsSync(root) ? fs.readdirSync(root) : [];
  assert.deepEqual(left, [], 'no model folder and no staging folder is left behind');
}

test('loose BFL/Hugging Face files are imported in place: nothing copied, paths recorded, the model opens', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  const before = Object.fromEntries(KINDS.map((k) => [k, sha(files[k])]));
  const { model, plan } = await importModel({ paths: [src], home });
  assert.equal(plan.complete, true, plan.message);
  assert.equal(model.id, 'flux1-schnell');
  assert.equal(model.status, 'installed');
  const rec = readInstallRecord(model.folder);
  assert.equal(rec.mode, 'in-place');
  assert.equal(rec.spec!.transformer, files.transformer);
  assert.equal(rec.spec!.t5_tokenizer, path.join(src, 'tokenizer_2'));
  assert.ok(rec.files.every((f) => path.isAbsolute(f.path)));
  // runtime/flux refuses absolute paths in schnell-model.json, so an in-place model has none.
  assert.equal(fs.existsSync(path.join(model.folder, MODEL_JSON)), false);
  assert.deepEqual(fs.readdirSync(model.folder), ['schnell-install.json']);
  const set = openModelSet(installedModelSource(model.id, home));
  assert.deepEqual(set.transformer.files, [files.transformer]);
  assert.equal((await verifyInstalled(model.id, { home })).ok, true);

  // Removing an in-place model never touches the user's files.
  removeInstalled(model.id, home);
  assert.equal(getInstalled(model.id, home), undefined);
  for (const k of KINDS) assert.equal(sha(files[k]), before[k]);
});

test('--copy puts every part into the model folder with relative paths; the sources stay', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src, { fp8: true });
  tokenizers(src);
  const { model } = await importModel({ paths: [src], home, mode: 'copy', id: 'my-flux', name: 'My FLUX' });
  const json = JSON.parse(fs.readFileSync(path.join(model.folder, MODEL_JSON), 'utf8'));
  assert.equal(json.name, 'My FLUX');
  assert.deepEqual(json.components, {
    transformer: 'transformer/flux1-schnell-fp8-e4m3fn.safetensors', autoencoder: 'autoencoder/ae.safetensors',
    t5: 't5/t5xxl_fp16.safetensors', clip: 'clip/clip_l.safetensors', clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2',
  });
  assert.ok(fs.existsSync(path.join(model.folder, 't5', 't5xxl_fp16.config.json')), 'the T5 config travels with it');
  const set = openModelSet(model.folder);
  assert.equal(set.t5.config?.d_model, 48);
  assert.equal((set.transformer as unknown as { precision: string }).precision, 'fp8');
  const rec = readInstallRecord(model.folder);
  assert.equal(rec.mode, 'managed');
  const tr = rec.files.find((f) => f.path.startsWith('transformer/'))!;
  assert.equal(tr.sha256, sha(files.transformer));
  for (const k of KINDS) assert.ok(fs.existsSync(files[k]), 'copy leaves the source');
  assert.equal((await verifyInstalled('my-flux', { home })).ok, true);
});

test('--move moves the files in; the model works from its folder', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  const { model } = await importModel({ paths: [src], home, mode: 'move' });
  for (const k of KINDS) assert.equal(fs.existsSync(files[k]), false, `${k} was moved`);
  openModelSet(model.folder);
  assert.equal((await verifyInstalled(model.id, { home })).ok, true);
});

test('a ComfyUI single file (tokenizers beside it) is one file serving four components', async () => {
  const { home, src } = fresh();
  const file = comfyFile(src);
  tokenizers(src);
  const plan = planImport({ paths: [file], home });
  assert.equal(plan.complete, true, plan.message);
  assert.ok(plan.formats.some((f) => f.endsWith('comfyui-single-file')));
  const { model } = await importModel({ paths: [file], home, mode: 'copy' });
  const json = JSON.parse(fs.readFileSync(path.join(model.folder, MODEL_JSON), 'utf8'));
  for (const k of KINDS) assert.equal(json.components[k], 'flux1-schnell-fp8.safetensors');
  assert.equal(readInstallRecord(model.folder).files.filter((f) => f.path.endsWith('.safetensors')).length, 1, 'copied once');
  const set = openModelSet(model.folder);
  assert.equal(set.clip.keys().length, openModelSet({ transformer: PARTS.transformer, autoencoder: PARTS.autoencoder, t5: PARTS.t5, clip: PARTS.clip, clipTokenizer: path.join(src, 'tokenizer'), t5Tokenizer: path.join(src, 'tokenizer_2') }).clip.keys().length);
});

test('a diffusers folder (sharded transformer, configs) keeps its shards, index and config', async () => {
  const { home, src } = fresh();
  const dir = diffusersFolder(src);
  const plan = planImport({ paths: [dir], home });
  assert.equal(plan.complete, true, plan.message);
  assert.equal(plan.parts.transformer!.path, path.join(dir, 'transformer'));
  const { model } = await importModel({ paths: [dir], home, mode: 'copy', id: 'diffusers-flux' });
  const t = fs.readdirSync(path.join(model.folder, 'transformer')).sort();
  assert.deepEqual(t, ['config.json', 'diffusion_pytorch_model-00001-of-00002.safetensors', 'diffusion_pytorch_model-00002-of-00002.safetensors', 'diffusion_pytorch_model.safetensors.index.json']);
  const json = JSON.parse(fs.readFileSync(path.join(model.folder, MODEL_JSON), 'utf8'));
  assert.equal(json.components.transformer, 'transformer');
  // What the weights cannot show comes along from the diffusers configs.
  assert.deepEqual(json.config.axes_dim, [8, 12, 12]);
  assert.equal(json.config.scale_factor, 0.5);
  const set = openModelSet(model.folder);
  assert.equal(set.config.shift_factor, 0.25);
  assert.ok(set.transformer.has('double_blocks.1.img_attn.qkv.weight'));
});

test('a scaled-FP8 transformer is recognised as such', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  fs.rmSync(files.transformer);
  scaledFp8Transformer(src);
  tokenizers(src);
  const plan = planImport({ paths: [src], home });
  assert.equal(plan.complete, true, plan.message);
  assert.equal(plan.parts.transformer!.precision, 'scaled-fp8');
  const { model } = await importModel({ paths: [src], home });
  assert.equal(readInstallRecord(model.folder).precision, 'scaled-fp8');
});

test('single parts given one by one (files and tokenizer folders) make a model', async () => {
  const { home, src } = fresh();
  tokenizers(src, 'clip-tok', 't5-tok');
  const plan = planImport({
    paths: [PARTS.transformer, PARTS.autoencoder, PARTS.t5, PARTS.clip, path.join(src, 'clip-tok'), path.join(src, 't5-tok', 'tokenizer.json')], home,
  });
  assert.equal(plan.complete, true, plan.message);
  assert.equal(plan.parts.t5_tokenizer!.path, path.join(src, 't5-tok'));
});

test('an incomplete transformer is refused, naming exactly the missing block; nothing is registered', async () => {
  const { home, src } = fresh();
  const files = looseFiles(src);
  tokenizers(src);
  write(src, 'flux1-schnell.safetensors', tensorsOf(PARTS.transformer, (x) => (x.startsWith('double_blocks.0.') || x === 'single_blocks.1.linear2.bias' ? undefined : x)));
  const e = await rejectsImport(importModel({ paths: [src], home }), /transformer .* is incomplete: missing double_blocks\.0\.\* \(the whole block\), single_blocks\.1\.linear2\.bias/);
  assert.deepEqual(e.plan!.missing, ['transformer:double_blocks.0.* (the whole block)', 'transformer:single_blocks.1.linear2.bias']);
  nothingRegistered(home);
  assert.ok(fs.existsSync(files.transformer));
});

test('missing parts are listed one by one with what to add', async () => {
  const { home, src } = fresh();
  const file = comfyFile(src, ['transformer', 'autoencoder', 'clip']);
  const e = await rejectsImport(importModel({ paths: [file], home }), /no T5 text encoder: add a T5-XXL encoder/);
  assert.deepEqual(e.plan!.missing.sort(), ['clip_tokenizer', 't5', 't5_tokenizer']);
  assert.match(e.message, /no CLIP tokenizer: .*vocab\.json \+ merges\.txt/);
  assert.match(e.message, /schnell models download flux1-tokenizers/);
  nothingRegistered(home);
});

test('mislabelled files: content decides, the name mismatch is reported, a wrong explicit role is refused', async () => {
  const { home, src } = fresh();
  // The T5 saved as "ae.safetensors" and the autoencoder as "t5xxl_fp16.safetensors".
  looseFiles(src, { names: { autoencoder: 't5xxl_fp16.safetensors', t5: 'ae.safetensors' } });
  tokenizers(src);
  const plan = planImport({ paths: [src], home });
  assert.equal(plan.complete, true, plan.message);
  assert.equal(plan.parts.t5!.path, path.join(src, 'ae.safetensors'));
  assert.ok(plan.notes.some((x) => /ae\.safetensors is named like an autoencoder but holds a T5 text encoder/.test(x)), plan.notes.join('\n'));

  const wrong = planImport({ paths: [src], home, roles: { autoencoder: path.join(src, 'ae.safetensors') } });
  assert.equal(wrong.complete, false);
  assert.match(wrong.message, /--autoencoder .*ae\.safetensors is mislabelled: it holds a T5 text encoder, not an autoencoder/);

  // Not a safetensors file at all, under a checkpoint's name.
  fs.writeFileSync(path.join(src, 'clip_l.safetensors'), '<html>Access denied</html>');
  const bad = planImport({ paths: [src], home });
  assert.equal(bad.complete, false);
  assert.match(bad.message, /clip_l\.safetensors/);
  assert.match(bad.message, /no CLIP text encoder/);
});

test('precision in the name that the weights contradict is noted', () => {
  const { home, src } = fresh();
  looseFiles(src, { names: { transformer: 'flux1-schnell-fp8-e4m3fn.safetensors' } }); // fp32 weights
  tokenizers(src);
  const plan = planImport({ paths: [src], home });
  assert.ok(plan.notes.some((x) => /named fp8 but its weights are fp32/.test(x)), plan.notes.join('\n'));
});

test('two candidates for one part must be chosen between; choosing one works', () => {
  const { home, src } = fresh();
  looseFiles(src);
  tokenizers(src);
  fs.copyFileSync(tiny8(), path.join(src, 'flux1-schnell-fp8-e4m3fn.safetensors'));
  const plan = planImport({ paths: [src], home });
  assert.equal(plan.complete, false);
  assert.match(plan.message, /found 2 transformers \(.*\); choose one with --transformer PATH/);
  assert.match(plan.message, /flux1-schnell\.safetensors \(fp32\)/);
  assert.match(plan.message, /flux1-schnell-fp8-e4m3fn\.safetensors \(fp8\)/);
  const chosen = planImport({ paths: [src], home, roles: { transformer: path.join(src, 'flux1-schnell-fp8-e4m3fn.safetensors') } });
  assert.equal(chosen.complete, true, chosen.message);
  assert.equal(chosen.parts.transformer!.precision, 'fp8');
});

function tiny8(): string {
  return PARTS.transformer.replace('tiny-flux1-schnell.safetensors', 'tiny-flux1-schnell-fp8-e4m3fn.safetensors');
}

test('parts that do not belong together are refused with the widths that disagree', () => {
  const { home, src } = fresh();
  looseFiles(src);
  tokenizers(src);
  // An autoencoder with 8 latent channels instead of 16.
  write(src, 'ae.safetensors', tensorsOf(PARTS.autoencoder).map((t) => {
    if (t.name !== 'decoder.conv_in.weight') return t;
    const [o, , kh, kw] = t.shape as [number, number, number, number];
    return { ...t, shape: [o, 8, kh, kw], data: new Uint8Array(o * 8 * kh * kw * 4) };
  }));
  const plan = planImport({ paths: [src], home });
  assert.equal(plan.complete, false);
  assert.match(plan.message, /incompatible parts: the autoencoder has 32\/4 latent channels, which pack to 32 features, but the transformer's img_in takes 64/);
});

test('tokenizers installed with another model fill in what an import lacks, copied into the new folder', async () => {
  const { home, src } = fresh();
  // A model imported with --copy carries tokenizer folders in the registry.
  const first = path.join(src, 'first');
  looseFiles(first);
  tokenizers(first);
  await importModel({ paths: [first], home, mode: 'copy', id: 'first' });
  const second = path.join(src, 'second');
  fs.mkdirSync(second);
  const file = comfyFile(second);
  const plan = planImport({ paths: [file], home });
  assert.equal(plan.complete, true, plan.message);
  assert.ok(plan.notes.some((x) => /installed with first/.test(x)));
  const { model } = await importModel({ paths: [file], home, id: 'second' });
  const rec = readInstallRecord(model.folder);
  assert.equal(rec.spec!.clip_tokenizer, path.join(model.folder, 'tokenizer'));
  assert.ok(fs.existsSync(path.join(model.folder, 'tokenizer', 'vocab.json')));
  // Removing the model it came from does not break this one.
  removeInstalled('first', home);
  openModelSet(installedModelSource('second', home));
});

test('ids and names that would leave the models folder are refused', async () => {
  const { home, src } = fresh();
  looseFiles(src);
  tokenizers(src);
  for (const id of ['../escape', '/etc', 'a/b', '..', 'UPPER', 'con']) {
    await assert.rejects(importModel({ paths: [src], home, id }), UnsafePathError, id);
  }
  nothingRegistered(home);
  assert.equal(slugify('../../My FLUX (fp8).safetensors'), 'my-flux-fp8');
  assert.equal(slugify('...'), 'imported-model');

  // A file whose name is not a plain name cannot be copied in (it can be used in place).
  const odd = path.join(src, 'odd');
  fs.mkdirSync(odd);
  const files = looseFiles(odd, { names: { transformer: 'flux..schnell.safetensors' } });
  tokenizers(odd);
  await assert.rejects(importModel({ paths: [odd], home, mode: 'copy', id: 'odd' }), UnsafePathError);
  nothingRegistered(home);
  const { model } = await importModel({ paths: [odd], home, id: 'odd' });
  assert.equal(readInstallRecord(model.folder).spec!.transformer, files.transformer);
});

test('a managed model folder that was tampered with (a link out, a path with ..) fails verification', async () => {
  const { home, src } = fresh();
  looseFiles(src);
  tokenizers(src);
  const { model } = await importModel({ paths: [src], home, mode: 'copy', id: 'tampered' });
  const victim = path.join(model.folder, 'clip', 'clip_l.safetensors');
  fs.rmSync(victim);
  fs.symlinkSync(PARTS.clip, victim);
  const r = await verifyInstalled('tampered', { home });
  assert.equal(r.ok, false);
  assert.match(r.message, /symbolic link/);

  const recFile = path.join(model.folder, 'schnell-install.json');
  const rec = JSON.parse(fs.readFileSync(recFile, 'utf8'));
  rec.files[0].path = '../../escape.safetensors';
  fs.writeFileSync(recFile, JSON.stringify(rec));
  assert.equal(listInstalled(home).find((m) => m.id === 'tampered')!.status, 'partial');
  await assert.rejects(verifyInstalled('tampered', { home }), /outside the model folder|not completely installed/);
});

test('verification notices a changed byte in a copied model', async () => {
  const { home, src } = fresh();
  looseFiles(src);
  tokenizers(src);
  const { model } = await importModel({ paths: [src], home, mode: 'copy', id: 'flip' });
  const f = path.join(model.folder, 'autoencoder', 'ae.safetensors');
  const buf = fs.readFileSync(f);
  buf[buf.length - 1] = buf[buf.length - 1]! ^ 0xff;
  fs.writeFileSync(f, buf);
  const r = await verifyInstalled('flip', { home });
  assert.equal(r.ok, false);
  assert.match(r.message, /ae\.safetensors does not match its checksum/);
  assert.equal((await verifyInstalled('flip', { home, quick: true })).ok, true, 'a quick check only looks at sizes and headers');
});

test('a Schnell model folder imports (copied, its config kept); one whose schnell-model.json points outside is refused', async () => {
  const { home, src } = fresh();
  const first = path.join(src, 'first');
  looseFiles(first);
  tokenizers(first);
  const made = await importModel({ paths: [first], home: path.join(src, 'other-home'), mode: 'copy', id: 'made', config: { axes_dim: [8, 12, 12] } });
  const plan = planImport({ paths: [made.model.folder], home });
  assert.equal(plan.complete, true, plan.message);
  assert.ok(plan.formats.some((f) => f.endsWith('model-set-folder')));
  const { model } = await importModel({ paths: [made.model.folder], home, mode: 'copy', id: 'again' });
  assert.deepEqual(openModelSet(model.folder).config.axes_dim, [8, 12, 12]);

  const hostile = path.join(src, 'hostile');
  fs.mkdirSync(hostile);
  fs.writeFileSync(path.join(hostile, 'schnell-model.json'), JSON.stringify({
    name: 'x', components: { transformer: '../first/flux1-schnell.safetensors', autoencoder: '/etc/passwd', t5: 'a', clip: 'b', clip_tokenizer: 'c', t5_tokenizer: 'd' },
  }));
  const bad = planImport({ paths: [hostile], home });
  assert.equal(bad.complete, false);
  assert.match(bad.message, /outside the model folder|absolute path/);
  await rejectsImport(importModel({ paths: [hostile], home, mode: 'copy', id: 'hostile' }), /cannot import/);
  assert.equal(getInstalled('hostile', home), undefined);
});
