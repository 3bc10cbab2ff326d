import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CheckpointError, detectCheckpoint, openComponent, openModelSet, type ComponentKind,
} from '../../../../runtime/flux/checkpoints/checkpoint.js';
import { readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../../../runtime/flux/checkpoints/safetensors.js';
import { diffusersFolder } from '../../models/checkpoints.js';
import { fp8e4m3ToNumber } from '../../../../runtime/flux/checkpoints/dtypes.js';
import type { Weights } from '../../../../runtime/onnx/tensor-source.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
const tiny = (f: string) => path.join(fixtures, 'flux-tiny', f);
const PARTS: Record<ComponentKind, string> = {
  transformer: tiny('tiny-flux1-schnell.safetensors'),
  autoencoder: tiny('tiny-ae.safetensors'),
  t5: tiny('tiny-t5xxl.safetensors'),
  clip: tiny('tiny-clip_l.safetensors'),
};
const KINDS = Object.keys(PARTS) as ComponentKind[];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-ckpt-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const tmpDir = () => {
  const d = path.join(tmp, String(n++));
  fs.mkdirSync(d, { recursive: true });
  return d;
};

/** The tensors of a file as writable entries, renamed (undefined drops a tensor). */
function tensorsOf(file: string, rename: (name: string) => string | undefined = (x) => x): TensorToWrite[] {
  return readSafetensorsHeader(file).tensors.flatMap((t) => {
    const name = rename(t.name);
    return name === undefined ? [] : [{ name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) }];
  });
}

function write(dir: string, name: string, tensors: TensorToWrite[]): string {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  writeSafetensors(f, tensors);
  return f;
}

function tokenizerDirs(dir: string, clip = 'tokenizer', t5 = 'tokenizer_2'): void {
  fs.mkdirSync(path.join(dir, clip), { recursive: true });
  fs.writeFileSync(path.join(dir, clip, 'vocab.json'), '{}');
  fs.writeFileSync(path.join(dir, clip, 'merges.txt'), '#version: 0.2\n');
  fs.mkdirSync(path.join(dir, t5), { recursive: true });
  fs.writeFileSync(path.join(dir, t5, 'tokenizer.json'), '{}');
}

/** Same canonical keys, shapes, dtypes and bytes. */
function assertSameWeights(a: Weights, b: Weights): void {
  assert.deepEqual(a.keys().sort(), b.keys().sort(), `${a.component} keys`);
  for (const k of a.keys()) {
    const x = a.require(k);
    const y = b.require(k);
    assert.deepEqual([x.dtype, x.shape], [y.dtype, y.shape], k);
    assert.ok(Buffer.from(readTensorBytes(x)).equals(Buffer.from(readTensorBytes(y))), `${k}: bytes differ`);
    assert.deepEqual(readTensor(x), readTensor(y), k);
  }
}

function expectError(fn: () => unknown, pattern: RegExp, file?: string): CheckpointError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `expected CheckpointError, got ${String(e)}`);
    assert.match(e.message, pattern);
    if (file) assert.ok(e.message.includes(file), `message names ${file}: ${e.message}`);
    return e;
  }
  assert.fail(`expected an error matching ${pattern}`);
}

test('every fixture file is detected as its format, complete, with the right precision', () => {
  const expected: [string, string, string][] = [
    ['tiny-flux1-schnell.safetensors', 'bfl-transformer', 'fp32'],
    ['tiny-flux1-schnell-fp8-e4m3fn.safetensors', 'bfl-transformer', 'fp8'],
    ['tiny-ae.safetensors', 'bfl-autoencoder', 'fp32'],
    ['tiny-t5xxl.safetensors', 'hf-t5', 'fp32'],
    ['tiny-clip_l.safetensors', 'hf-clip', 'fp32'],
  ];
  for (const [file, format, precision] of expected) {
    const r = detectCheckpoint(tiny(file));
    assert.equal(r.format, format, file);
    assert.equal(r.complete, true, `${file}: ${r.message}`);
    assert.deepEqual(r.missing, []);
    assert.equal(r.precision, precision, file);
    assert.equal(r.components.length, 1);
    const elements = readSafetensorsHeader(tiny(file)).tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(r.parameters, elements, `${file}: parameter count`);
    assert.equal(r.bytes, fs.statSync(tiny(file)).size);
  }
  const t = detectCheckpoint(PARTS.transformer);
  assert.match(t.components[0]!.summary, /hidden 64, 2 double \+ 2 single blocks/);
  const goldens = detectCheckpoint(tiny('goldens.safetensors'));
  assert.equal(goldens.format, 'unknown');
  assert.equal(goldens.complete, false);
  assert.match(goldens.message, /not a recognised FLUX checkpoint/);
});

test('openComponent gives canonical keys and the config beside T5 and CLIP', () => {
  const tr = openComponent('transformer', PARTS.transformer);
  assert.equal(tr.component, 'transformer');
  assert.ok(tr.has('double_blocks.1.img_attn.qkv.weight') && tr.has('final_layer.adaLN_modulation.1.weight'));
  assert.equal(tr.require('img_in.weight').offset, readSafetensorsHeader(PARTS.transformer).byName.get('img_in.weight')!.offset);
  assert.equal(tr.scaleOf('img_in.weight'), undefined);
  const t5 = openComponent('t5', PARTS.t5);
  assert.equal(t5.config?.num_heads, 6);
  assert.equal(t5.config?.d_model, 48);
  const clip = openComponent('clip', PARTS.clip);
  assert.equal(clip.config?.num_attention_heads, 4);
  assert.equal(clip.component, 'CLIP');
  const fp8 = openComponent('transformer', tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors'));
  assert.equal(fp8.precision, 'fp8');
  assert.equal(fp8.require('img_in.weight').dtype, 'F8_E4M3');
  assert.equal(fp8.require('img_in.bias').dtype, 'BF16');
  const err = expectError(() => tr.require('guidance_in.in_layer.weight'), /no tensor "guidance_in.in_layer.weight"/, PARTS.transformer);
  assert.equal(err.tensor, 'guidance_in.in_layer.weight');
  expectError(() => openComponent('transformer', PARTS.autoencoder), /holds no transformer: it holds a BFL autoencoder/, PARTS.autoencoder);
  expectError(() => openComponent('clip', tiny('goldens.safetensors')), /holds no CLIP: its tensors \(.*\) match no FLUX layout/);
});

const COMFY_PREFIX: Record<ComponentKind, string> = {
  transformer: 'model.diffusion_model.',
  autoencoder: 'vae.',
  clip: 'text_encoders.clip_l.transformer.text_model.',
  t5: 'text_encoders.t5xxl.transformer.',
};

function comfyFile(dir: string, kinds: ComponentKind[] = KINDS): string {
  return write(dir, 'flux1-schnell-comfy.safetensors', kinds.flatMap((k) => tensorsOf(PARTS[k], (x) => COMFY_PREFIX[k] + x)));
}

test('a ComfyUI single file assembled from the parts opens to byte-identical tensors', () => {
  const dir = tmpDir();
  const file = comfyFile(dir);
  const r = detectCheckpoint(file);
  assert.equal(r.format, 'comfyui-single-file');
  assert.equal(r.complete, true, r.message);
  assert.deepEqual(r.components.map((c) => [c.kind, c.prefix]), KINDS.map((k) => [k, COMFY_PREFIX[k]]));
  for (const kind of KINDS) assertSameWeights(openComponent(kind, file), openComponent(kind, PARTS[kind]));

  tokenizerDirs(dir);
  const set = openModelSet(file);
  assert.equal(set.source, 'comfyui-single-file');
  assert.equal(set.name, 'flux1-schnell-comfy');
  assert.equal(set.untrained, false);
  assert.equal(set.tokenizers.clip, path.join(dir, 'tokenizer'));
  assert.equal(set.tokenizers.t5, path.join(dir, 'tokenizer_2'));
  assert.deepEqual(set.files, [file]);
  assertSameWeights(set.clip, openComponent('clip', PARTS.clip));
});

test('a ComfyUI file without T5 says exactly that; the model set names every missing piece', () => {
  const dir = tmpDir();
  const file = comfyFile(dir, ['transformer', 'autoencoder', 'clip']);
  const r = detectCheckpoint(file);
  assert.equal(r.format, 'comfyui-single-file');
  assert.equal(r.complete, false);
  assert.deepEqual(r.missing, ['t5']);
  assert.match(r.message, /no T5/);
  const err = expectError(() => openModelSet(file), /no T5.*no CLIP tokenizer.*no T5 tokenizer/, file);
  assert.equal(err.file, file);
});

/** Scaled FP8 as ComfyUI writes it: e4m3 weights divided by a per-tensor scale, plus a marker. */
function scaledFp8File(dir: string, prefix = ''): { file: string; scales: Map<string, number> } {
  const grid: [number, number][] = [];
  for (let b = 0; b < 256; b++) if (b !== 0x7f && b !== 0xff && b !== 0x80) grid.push([fp8e4m3ToNumber(b), b]);
  grid.sort((a, b) => a[0] - b[0]);
  const nearest = (x: number) => {
    let lo = 0;
    let hi = grid.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (grid[mid]![0] <= x) lo = mid; else hi = mid;
    }
    return Math.abs(grid[lo]![0] - x) <= Math.abs(grid[hi]![0] - x) ? grid[lo]![1] : grid[hi]![1];
  };
  const scales = new Map<string, number>();
  const out: TensorToWrite[] = [{ name: `${prefix}scaled_fp8`, dtype: 'F8_E4M3', shape: [0], data: new Uint8Array(0) }];
  for (const t of readSafetensorsHeader(PARTS.transformer).tensors) {
    const values = readTensor(t);
    if (t.shape.length !== 2) {
      out.push({ name: prefix + t.name, dtype: 'F32', shape: t.shape, data: values });
      continue;
    }
    const scale = Math.fround(values.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 448);
    scales.set(t.name, scale);
    const base = t.name.slice(0, -'weight'.length);
    out.push({ name: prefix + t.name, dtype: 'F8_E4M3', shape: t.shape, data: Uint8Array.from(values, (v) => nearest(v / scale)) });
    out.push({ name: `${prefix}${base}scale_weight`, dtype: 'F32', shape: [], data: new Float32Array([scale]) });
    out.push({ name: `${prefix}${base}scale_input`, dtype: 'F32', shape: [], data: new Float32Array([1]) });
  }
  return { file: write(dir, 'scaled.safetensors', out), scales };
}

test('a scaled-FP8 transformer exposes its scales and hides them from the keys', () => {
  for (const prefix of ['', 'model.diffusion_model.']) {
    const { file, scales } = scaledFp8File(tmpDir(), prefix);
    const r = detectCheckpoint(file);
    assert.equal(r.precision, 'scaled-fp8');
    assert.equal(r.components[0]!.complete, true, r.message);
    // Under ComfyUI's prefix the file is a single-file checkpoint that lacks the other parts.
    assert.deepEqual(r.missing, prefix ? ['autoencoder', 't5', 'clip'] : []);
    assert.equal(r.format, prefix ? 'comfyui-single-file' : 'bfl-transformer');
    const w = openComponent('transformer', file);
    const plain = openComponent('transformer', PARTS.transformer);
    assert.deepEqual(w.keys().sort(), plain.keys().sort(), 'no scale or marker keys');
    assert.equal(w.precision, 'scaled-fp8');
    assert.equal(w.scaleOf('img_in.bias'), undefined);
    assert.equal(scales.size, readSafetensorsHeader(PARTS.transformer).tensors.filter((t) => t.shape.length === 2).length);
    for (const [key, scale] of scales) {
      const s = w.scaleOf(key);
      assert.ok(s, `scale of ${key}`);
      assert.deepEqual(s.shape, []);
      assert.equal(readTensor(s)[0], scale);
      const q = readTensor(w.require(key));
      const ref = readTensor(plain.require(key));
      for (let i = 0; i < ref.length; i++) {
        const err = Math.abs(q[i]! * scale - ref[i]!);
        assert.ok(err <= Math.abs(ref[i]!) / 16 + scale * 2 ** -10, `${key}[${i}] dequantizes to ${q[i]! * scale}, not ≈ ${ref[i]}`);
      }
    }
  }
});

test('missing and inconsistent tensors are named exactly', () => {
  const dir = tmpDir();
  const drop = (file: string, gone: (name: string) => boolean, name: string) => write(dir, name, tensorsOf(file, (x) => (gone(x) ? undefined : x)));

  const t1 = drop(PARTS.transformer, (x) => x === 'img_in.weight' || x === 'double_blocks.1.txt_mlp.2.bias', 't1.safetensors');
  const r1 = detectCheckpoint(t1);
  assert.equal(r1.complete, false);
  assert.deepEqual(r1.missing, ['transformer:img_in.weight', 'transformer:double_blocks.1.txt_mlp.2.bias']);
  assert.match(r1.message, /lacks img_in.weight, double_blocks.1.txt_mlp.2.bias/);
  const e1 = expectError(() => openComponent('transformer', t1), /incomplete: missing img_in.weight, double_blocks.1.txt_mlp.2.bias/, t1);
  assert.equal(e1.tensor, 'img_in.weight');

  const t2 = drop(PARTS.transformer, (x) => x.startsWith('double_blocks.0.'), 't2.safetensors');
  assert.deepEqual(detectCheckpoint(t2).missing, ['transformer:double_blocks.0.* (the whole block)']);
  const t3 = drop(PARTS.transformer, (x) => x.startsWith('single_blocks.1.linear2'), 't3.safetensors');
  assert.deepEqual(detectCheckpoint(t3).missing, ['transformer:single_blocks.1.linear2.weight', 'transformer:single_blocks.1.linear2.bias']);

  const ae = drop(PARTS.autoencoder, (x) => x === 'decoder.up.2.upsample.conv.weight' || x === 'decoder.mid.attn_1.q.bias', 'ae.safetensors');
  assert.deepEqual(detectCheckpoint(ae).missing.sort(), ['autoencoder:decoder.mid.attn_1.q.bias', 'autoencoder:decoder.up.2.upsample.conv.weight']);
  const t5 = drop(PARTS.t5, (x) => x.includes('relative_attention_bias'), 't5.safetensors');
  assert.deepEqual(detectCheckpoint(t5).missing, ['t5:encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight']);
  const t5b = drop(PARTS.t5, (x) => x === 'shared.weight' || x === 'encoder.embed_tokens.weight', 't5b.safetensors');
  assert.deepEqual(detectCheckpoint(t5b).missing, ['t5:shared.weight (or encoder.embed_tokens.weight)']);
  const clip = drop(PARTS.clip, (x) => x === 'encoder.layers.1.mlp.fc2.bias', 'clip.safetensors');
  expectError(() => openComponent('clip', clip), /missing encoder.layers.1.mlp.fc2.bias/, clip);

  // Block 1 with a differently shaped qkv: a corrupt or mixed-up file.
  const bad = tensorsOf(PARTS.transformer).map((t) => (t.name === 'double_blocks.1.img_attn.qkv.weight' ? { ...t, shape: [96, 128] } : t));
  const t4 = write(dir, 't4.safetensors', bad);
  const r4 = detectCheckpoint(t4);
  assert.equal(r4.complete, false);
  assert.match(r4.components[0]!.problems[0]!, /double_blocks.1.img_attn.qkv.weight has shape \[96, 128\] but double_blocks.0.img_attn.qkv.weight has \[192, 64\]/);
  expectError(() => openComponent('transformer', t4), /inconsistent/, t4);
});

test('shards: an index naming a missing shard, a tensor in the wrong shard, duplicates across files', () => {
  const dir = tmpDir();
  const all = tensorsOf(PARTS.t5);
  write(dir, 'model-00001-of-00002.safetensors', all.slice(0, 10));
  write(dir, 'model-00002-of-00002.safetensors', all.slice(10));
  const weightMap = Object.fromEntries(all.map((t, i) => [t.name, `model-0000${i < 10 ? 1 : 2}-of-00002.safetensors`]));
  const index = path.join(dir, 'model.safetensors.index.json');
  fs.writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: weightMap }));
  assertSameWeights(openComponent('t5', dir), openComponent('t5', PARTS.t5));

  fs.writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, extra: 'model-00003-of-00003.safetensors' } }));
  expectError(() => openComponent('t5', dir), /lists shards that are missing: model-00003-of-00003.safetensors/);
  fs.writeFileSync(index, JSON.stringify({ weight_map: { ...weightMap, [all[0]!.name]: 'model-00002-of-00002.safetensors' } }));
  const e = expectError(() => openComponent('t5', dir), /says tensor ".*" is in model-00002-of-00002.safetensors/);
  assert.equal(e.tensor, all[0]!.name);
  fs.writeFileSync(index, JSON.stringify({ weight_map: { [all[0]!.name]: '../../etc/passwd.safetensors' } }));
  expectError(() => openComponent('t5', dir), /shards must be .safetensors files inside/);

  fs.rmSync(index);
  write(dir, 'model-00002-of-00002.safetensors', all.slice(5));
  expectError(() => openComponent('t5', dir), /is in both .*model-00001-of-00002.safetensors and .*model-00002-of-00002.safetensors/);
});

// ---- diffusers ----------------------------------------------------------------------------------

// The diffusers folder (the conversion of scripts/convert_flux_to_diffusers.py and the LDM VAE
// converter, sharded, with configs) is shared with the import tests.
test('a diffusers folder maps onto the BFL names without copying: same bytes, qkv from parts', () => {
  const dir = diffusersFolder(tmpDir());
  const r = detectCheckpoint(dir);
  assert.equal(r.format, 'diffusers-folder');
  assert.equal(r.complete, true, r.message);
  assert.deepEqual(r.components.map((c) => [c.kind, c.layout]), [['transformer', 'diffusers'], ['autoencoder', 'diffusers'], ['t5', 'hf'], ['clip', 'hf']]);

  const set = openModelSet(dir);
  assert.equal(set.source, 'diffusers-folder');
  for (const kind of KINDS) assertSameWeights(set[kind], openComponent(kind, PARTS[kind]));
  const qkv = set.transformer.require('double_blocks.0.img_attn.qkv.weight');
  assert.equal(qkv.parts?.length, 3);
  assert.equal(qkv.offset, -1);
  assert.deepEqual(qkv.parts!.map((p) => p.name), ['transformer_blocks.0.attn.to_q.weight', 'transformer_blocks.0.attn.to_k.weight', 'transformer_blocks.0.attn.to_v.weight']);
  assert.equal(set.transformer.require('single_blocks.1.linear1.bias').parts?.length, 4);
  assert.equal(set.transformer.require('final_layer.adaLN_modulation.1.weight').parts?.length, 2);
  assert.deepEqual(set.config.axes_dim, [8, 12, 12]);
  assert.equal(set.config.scale_factor, 0.5);
  assert.equal(set.config.shift_factor, 0.25);
  assert.equal(set.t5.config?.num_heads, 6);
  assert.equal(set.clip.config?.num_attention_heads, 4);
  assert.ok(set.files.includes(path.join(dir, 'vae/config.json')));

  // Remove one of the three parts: the error names the BFL tensor and where it comes from.
  for (const shard of ['00001', '00002'].map((i) => path.join(dir, `transformer/diffusion_pytorch_model-${i}-of-00002.safetensors`))) {
    writeSafetensors(shard, tensorsOf(shard, (x) => (x === 'transformer_blocks.1.attn.to_k.bias' ? undefined : x)));
  }
  const index = path.join(dir, 'transformer/diffusion_pytorch_model.safetensors.index.json');
  const json = JSON.parse(fs.readFileSync(index, 'utf8'));
  delete json.weight_map['transformer_blocks.1.attn.to_k.bias'];
  fs.writeFileSync(index, JSON.stringify(json));
  expectError(() => openModelSet(dir), /double_blocks.1.img_attn.qkv.bias \(from transformer_blocks.1.attn.to_q.bias \+ transformer_blocks.1.attn.to_k.bias \+ transformer_blocks.1.attn.to_v.bias\)/);
});

// ---- model folders and specs ------------------------------------------------------------------

function modelFolder(manifest?: (m: Record<string, unknown>) => void): string {
  const dir = tmpDir();
  write(dir, 'transformer.safetensors', tensorsOf(tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors')));
  write(dir, 'ae.safetensors', tensorsOf(PARTS.autoencoder));
  write(dir, 'text/t5.safetensors', tensorsOf(PARTS.t5));
  fs.copyFileSync(tiny('tiny-t5xxl.config.json'), path.join(dir, 'text/t5.config.json'));
  write(dir, 'text/clip_l.safetensors', tensorsOf(PARTS.clip, (x) => `text_model.${x}`));
  fs.copyFileSync(tiny('tiny-clip_l.config.json'), path.join(dir, 'text/clip_l.config.json'));
  tokenizerDirs(dir);
  const m: Record<string, unknown> = {
    name: 'tiny demo', untrained: true,
    components: { transformer: 'transformer.safetensors', autoencoder: 'ae.safetensors', t5: 'text/t5.safetensors', clip: 'text/clip_l.safetensors', clip_tokenizer: 'tokenizer', t5_tokenizer: 'tokenizer_2' },
    config: { axes_dim: [8, 12, 12], theta: 10000, scale_factor: 0.3611, shift_factor: 0.1159 },
  };
  manifest?.(m);
  fs.writeFileSync(path.join(dir, 'schnell-model.json'), JSON.stringify(m));
  return dir;
}

test('a model folder (schnell-model.json) opens every part, its config and tokenizers', () => {
  const dir = modelFolder();
  const set = openModelSet(dir);
  assert.equal(set.name, 'tiny demo');
  assert.equal(set.untrained, true);
  assert.equal(set.source, 'model-set-folder');
  assert.deepEqual(set.config.axes_dim, [8, 12, 12]);
  assert.equal(set.transformer.require('img_in.weight').dtype, 'F8_E4M3');
  assert.equal(set.t5.config?.d_model, 48);
  assert.deepEqual(set.tokenizers, { clip: path.join(dir, 'tokenizer'), t5: path.join(dir, 'tokenizer_2') });
  assert.deepEqual(new Set(set.files), new Set(['schnell-model.json', 'transformer.safetensors', 'ae.safetensors', 'text/t5.safetensors', 'text/t5.config.json', 'text/clip_l.safetensors', 'text/clip_l.config.json'].map((f) => path.join(dir, f))));
  assertSameWeights(set.clip, openComponent('clip', PARTS.clip));
  const r = detectCheckpoint(dir);
  assert.equal(r.format, 'model-set-folder');
  assert.equal(r.complete, true, r.message);
  assert.equal(r.precision, 'mixed');
  assert.equal(r.components.length, 4);
});

test('model folder paths may not escape the folder (.., absolute, symlink)', () => {
  const outside = path.join(tmp, 'outside.safetensors');
  fs.copyFileSync(PARTS.autoencoder, outside);
  const cases: [(m: Record<string, unknown>, dir: string) => void, RegExp][] = [
    [(m) => { (m.components as Record<string, string>).autoencoder = '../outside.safetensors'; }, /components.autoencoder.*points outside the model folder/],
    [(m) => { (m.components as Record<string, string>).autoencoder = 'sub/../../outside.safetensors'; }, /points outside the model folder/],
    [(m) => { (m.components as Record<string, string>).autoencoder = outside; }, /components.autoencoder is the absolute path/],
    [(m) => { (m.components as Record<string, string>).t5_tokenizer = '/etc'; }, /components.t5_tokenizer is the absolute path/],
    [(m, dir) => {
      fs.symlinkSync(outside, path.join(dir, 'link.safetensors'));
      (m.components as Record<string, string>).autoencoder = 'link.safetensors';
    }, /is a link that leads outside the model folder/],
    [(m, dir) => {
      fs.symlinkSync(path.dirname(outside), path.join(dir, 'linkdir'));
      (m.components as Record<string, string>).clip_tokenizer = 'linkdir';
    }, /components.clip_tokenizer.*link that leads outside/],
  ];
  for (const [edit, re] of cases) {
    const dir = modelFolder();
    const m = JSON.parse(fs.readFileSync(path.join(dir, 'schnell-model.json'), 'utf8'));
    edit(m, dir);
    fs.writeFileSync(path.join(dir, 'schnell-model.json'), JSON.stringify(m));
    const e = expectError(() => openModelSet(dir), re, path.join(dir, 'schnell-model.json'));
    assert.equal(e.file, path.join(dir, 'schnell-model.json'));
  }
  // A link that stays inside is fine.
  const dir = modelFolder();
  fs.symlinkSync(path.join(dir, 'ae.safetensors'), path.join(dir, 'ae-link.safetensors'));
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'schnell-model.json'), 'utf8'));
  m.components.autoencoder = 'ae-link.safetensors';
  fs.writeFileSync(path.join(dir, 'schnell-model.json'), JSON.stringify(m));
  assert.equal(openModelSet(dir).autoencoder.component, 'autoencoder');
});

test('a model folder with missing or broken pieces names every one of them', () => {
  const dir = modelFolder((m) => {
    const c = m.components as Record<string, string>;
    delete c.t5;
    c.clip = 'text/nope.safetensors';
    delete c.clip_tokenizer;
  });
  fs.rmSync(path.join(dir, 'tokenizer_2', 'tokenizer.json'));
  const e = expectError(() => openModelSet(dir), /no T5.*does not exist.*no CLIP tokenizer.*T5 tokenizer folder .*tokenizer_2 lacks tokenizer.json/, dir);
  assert.match(e.message, /nope\.safetensors/);
  const r = detectCheckpoint(dir);
  assert.equal(r.complete, false);
  assert.deepEqual(new Set(r.missing), new Set(['t5', 'clip', 'clip_tokenizer', 't5_tokenizer']));

  // A truncated component file: the one error names the file and the tensor.
  const ok = modelFolder();
  const ae = path.join(ok, 'ae.safetensors');
  fs.truncateSync(ae, fs.statSync(ae).size - 1000);
  const e2 = expectError(() => openModelSet(ok), /truncated/, ae);
  assert.ok(e2.tensor);

  const bad = modelFolder();
  fs.writeFileSync(path.join(bad, 'schnell-model.json'), '{"name": "x", "components": ');
  expectError(() => openModelSet(bad), /schnell-model.json is not valid JSON/);
  const badCfg = modelFolder((m) => { m.config = { axes_dim: [3, 5] }; });
  expectError(() => openModelSet(badCfg), /axes_dim must be a list of positive even integers/, 'schnell-model.json');
  const noComponents = modelFolder((m) => { delete m.components; });
  expectError(() => openModelSet(noComponents), /has no "components" object/);
  expectError(() => openModelSet(tmpDir()), /neither a model folder .* nor a diffusers folder/);
  expectError(() => openModelSet(path.join(tmp, 'nowhere')), /does not exist/);
});

test('a spec of separate files opens; a spec with only a transformer names all that is missing', () => {
  const tokenizers = path.join(fixtures, 'tokenizers');
  const set = openModelSet({
    transformer: PARTS.transformer, autoencoder: PARTS.autoencoder, t5: PARTS.t5, clip: PARTS.clip,
    clipTokenizer: path.join(tokenizers, 'clip'), t5Tokenizer: path.join(tokenizers, 't5'),
    config: { axes_dim: [8, 12, 12] },
  });
  assert.equal(set.source, 'spec');
  assert.equal(set.name, 'tiny-flux1-schnell');
  assert.deepEqual(set.config.axes_dim, [8, 12, 12]);
  assert.equal(set.config.theta, 10000);
  assert.ok(set.files.includes(tiny('tiny-t5xxl.config.json')));
  const e = expectError(() => openModelSet({ transformer: PARTS.transformer }), /holds the transformer only; no autoencoder: give the autoencoder \(ae.safetensors\).*no T5.*no CLIP.*no CLIP tokenizer.*no T5 tokenizer/);
  assert.ok(e.message.includes(PARTS.transformer));
  expectError(() => openModelSet({ transformer: PARTS.autoencoder, autoencoder: PARTS.autoencoder, t5: PARTS.t5, clip: PARTS.clip, clipTokenizer: path.join(tokenizers, 'clip'), t5Tokenizer: path.join(tokenizers, 't5') }), /holds no transformer/);
  const half = tmpDir();
  fs.writeFileSync(path.join(half, 'merges.txt'), '#version: 0.2\n');
  expectError(() => openModelSet({ transformer: PARTS.transformer, autoencoder: PARTS.autoencoder, t5: PARTS.t5, clip: PARTS.clip, clipTokenizer: half, t5Tokenizer: path.join(tokenizers, 't5') }), /CLIP tokenizer folder .* lacks vocab.json/);
});

/** A checkpoint with real-size shapes but no data on disk (a sparse file): headers only matter here. */
function sparseCheckpoint(file: string, tensors: [string, number[]][]): string {
  let offset = 0;
  const header: Record<string, unknown> = {};
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(file, Buffer.concat([len, json]));
  fs.truncateSync(file, 8 + json.length + offset);
  return file;
}

test('bare CLIP-L and T5-XXL files (no config.json) get the released models\' configs; others get none', () => {
  const dir = tmpDir();
  const clipL: [string, number[]][] = [['text_model.embeddings.token_embedding.weight', [49408, 768]], ['text_model.embeddings.position_embedding.weight', [77, 768]], ['text_model.final_layer_norm.weight', [768]], ['text_model.final_layer_norm.bias', [768]]];
  for (let i = 0; i < 12; i++) {
    for (const p of ['layer_norm1', 'layer_norm2']) clipL.push([`text_model.encoder.layers.${i}.${p}.weight`, [768]], [`text_model.encoder.layers.${i}.${p}.bias`, [768]]);
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) clipL.push([`text_model.encoder.layers.${i}.self_attn.${p}.weight`, [768, 768]], [`text_model.encoder.layers.${i}.self_attn.${p}.bias`, [768]]);
    clipL.push([`text_model.encoder.layers.${i}.mlp.fc1.weight`, [3072, 768]], [`text_model.encoder.layers.${i}.mlp.fc1.bias`, [3072]]);
    clipL.push([`text_model.encoder.layers.${i}.mlp.fc2.weight`, [768, 3072]], [`text_model.encoder.layers.${i}.mlp.fc2.bias`, [768]]);
  }
  const clip = openComponent('clip', sparseCheckpoint(path.join(dir, 'clip_l.safetensors'), clipL));
  assert.equal(clip.config?.num_attention_heads, 12);
  assert.equal(clip.config?.hidden_act, 'quick_gelu');
  assert.match(String(clip.config?._source), /built-in/);
  assert.equal(clip.precision, 'bf16');
  assert.equal(clip.parameters, 123_060_480);

  const t5xxl: [string, number[]][] = [['shared.weight', [32128, 4096]], ['encoder.final_layer_norm.weight', [4096]]];
  for (let i = 0; i < 24; i++) {
    for (const p of ['q', 'k', 'v', 'o']) t5xxl.push([`encoder.block.${i}.layer.0.SelfAttention.${p}.weight`, [4096, 4096]]);
    if (i === 0) t5xxl.push(['encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight', [32, 64]]);
    t5xxl.push([`encoder.block.${i}.layer.0.layer_norm.weight`, [4096]], [`encoder.block.${i}.layer.1.layer_norm.weight`, [4096]]);
    t5xxl.push([`encoder.block.${i}.layer.1.DenseReluDense.wi_0.weight`, [10240, 4096]], [`encoder.block.${i}.layer.1.DenseReluDense.wi_1.weight`, [10240, 4096]], [`encoder.block.${i}.layer.1.DenseReluDense.wo.weight`, [4096, 10240]]);
  }
  const t5 = openComponent('t5', sparseCheckpoint(path.join(dir, 't5xxl_bf16.safetensors'), t5xxl));
  assert.equal(t5.config?.num_heads, 64);
  assert.equal(t5.config?.d_kv, 64);
  assert.ok(t5.has('encoder.embed_tokens.weight'), 'the tied embedding is offered under both names');
  const r = detectCheckpoint(path.join(dir, 't5xxl_bf16.safetensors'));
  assert.equal(r.format, 'hf-t5');
  assert.equal(r.parameters, 4_762_310_656);

  // A tiny CLIP without a config beside it: no guessing.
  const bare = write(dir, 'bare/clip.safetensors', tensorsOf(PARTS.clip));
  assert.equal(openComponent('clip', bare).config, undefined);
  // A config.json beside it that belongs to another kind of model is not taken.
  fs.writeFileSync(path.join(dir, 'bare/config.json'), JSON.stringify({ model_type: 't5', num_heads: 3 }));
  assert.equal(openComponent('clip', bare).config, undefined);
  fs.writeFileSync(path.join(dir, 'bare/config.json'), '{"model_type": "clip_text_model", ');
  expectError(() => openComponent('clip', bare), /config.json is not valid JSON/);
});

test('folders: precision variants are not mistaken for shards; an index file can be given directly', () => {
  const dir = tmpDir();
  write(dir, 'model.safetensors', tensorsOf(PARTS.clip, (x) => `text_model.${x}`));
  write(dir, 'model.fp16.safetensors', tensorsOf(PARTS.clip, (x) => `text_model.${x}`));
  const w = openComponent('clip', dir);
  assert.deepEqual(w.files, [path.join(dir, 'model.safetensors')]);

  const shards = tmpDir();
  const all = tensorsOf(PARTS.autoencoder);
  write(shards, 'ae-1.safetensors', all.slice(0, 50));
  write(shards, 'ae-2.safetensors', all.slice(50));
  const index = path.join(shards, 'ae.safetensors.index.json');
  fs.writeFileSync(index, JSON.stringify({ weight_map: Object.fromEntries(all.map((t, i) => [t.name, i < 50 ? 'ae-1.safetensors' : 'ae-2.safetensors'])) }));
  assertSameWeights(openComponent('autoencoder', index), openComponent('autoencoder', PARTS.autoencoder));
  assert.equal(detectCheckpoint(index).format, 'bfl-autoencoder');
});
