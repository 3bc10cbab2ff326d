// The conformance runner on folders other than the shared fixture: a ComfyUI single file assembled
// from the fixture's parts, a different tiny guidance-distilled transformer with expectations from
// an independent float64 reference, and folders that must fail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runConformance } from '../../../runtime/flux/conformance.js';
import { transformerTensors } from '../../../runtime/flux/demo/demo-weights.js';
import { randn } from '../../../runtime/flux/sampling/noise.js';
import { readSafetensorsHeader, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../../runtime/flux/checkpoints/safetensors.js';
import { referenceForward, type Tensors } from './flux-reference.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const TINY = path.join(process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures'), 'flux-tiny');
const fixtureSpec = JSON.parse(fs.readFileSync(path.join(TINY, 'goldens.json'), 'utf8'));

let tmp: string;
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const cacheDir = () => path.join(tmp, 'graphs');

/** The fixture's goldens.json with file names made absolute (and any overrides). */
function specWith(over: (s: typeof fixtureSpec) => void): unknown {
  const s = structuredClone(fixtureSpec);
  s.transformer.fp32 = path.join(TINY, s.transformer.fp32);
  s.transformer.fp8 = path.join(TINY, s.transformer.fp8);
  s.ae.file = path.join(TINY, s.ae.file);
  s.t5.file = path.join(TINY, s.t5.file);
  s.t5.config = path.join(TINY, s.t5.config);
  s.clip.file = path.join(TINY, s.clip.file);
  s.clip.config = path.join(TINY, s.clip.config);
  s.goldens = path.join(TINY, s.goldens);
  over(s);
  return s;
}

function folderWith(name: string, spec: unknown): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'goldens.json'), JSON.stringify(spec));
  return dir;
}

test('a ComfyUI single file assembled from the fixture parts loads and matches every case', async () => {
  const parts: [string, string][] = [
    [fixtureSpec.transformer.fp32, 'model.diffusion_model.'],
    [fixtureSpec.ae.file, 'vae.'],
    [fixtureSpec.clip.file, 'text_encoders.clip_l.transformer.text_model.'],
    [fixtureSpec.t5.file, 'text_encoders.t5xxl.transformer.'],
  ];
  const tensors: TensorToWrite[] = [];
  for (const [file, prefix] of parts) {
    for (const t of readSafetensorsHeader(path.join(TINY, file)).tensors) {
      tensors.push({ name: prefix + t.name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) });
    }
  }
  const single = path.join(tmp, 'comfy', 'flux1-schnell-tiny-comfy.safetensors');
  fs.mkdirSync(path.dirname(single), { recursive: true });
  writeSafetensors(single, tensors);
  const dir = folderWith('comfy', specWith((s) => {
    s.transformer.fp32 = single;
    s.ae.file = single;
    s.t5.file = single;
    s.clip.file = single;
  }));
  const report = await runConformance(dir, { cacheDir: cacheDir() });
  for (const name of Object.keys(fixtureSpec.cases)) assert.equal(report.cases[name]?.ok, true, `${name}: ${JSON.stringify(report.cases[name])}`);
  assert.equal(report.ok, true);
  assert.ok((report.cases.pipe64x64!.decoded_relative_l2 as number) < 1e-3);
});

test('another tiny model (guidance embedding, other widths, heads, depths, size, seed, steps) passes against a float64 reference', async () => {
  const shape = { hidden: 48, heads: 3, depth: 1, depthSingle: 3, mlpRatio: 2, contextDim: 24, vecDim: 20, guidanceEmbed: true };
  const cfg = { hidden: 48, heads: 3, axes_dim: [4, 6, 6], theta: 2000, depth: 1, single: 3, guidance: true };
  const tensors = transformerTensors(shape, 99);
  const dir = path.join(tmp, 'other');
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  const ref: Tensors = new Map(tensors.map((t) => [t.name, { shape: t.shape, data: Float64Array.from(t.data as Float32Array) }]));

  // Pipeline case: 48×80 pixels, seed 7, 3 steps, the shifted schedule of guidance-distilled models.
  const height = 48, width = 80, seed = 7, steps = 3, guidance = 2.5;
  const h = 2 * Math.ceil(height / 16), w = 2 * Math.ceil(width / 16), rows = h / 2, cols = w / 2, N = rows * cols, L = 5;
  const noise = randn([1, 16, h, w], seed);
  const img = new Float32Array(N * 64);
  for (let r = 0; r < rows; r++) for (let q = 0; q < cols; q++) for (let c = 0; c < 16; c++) for (let i = 0; i < 4; i++) {
    img[(r * cols + q) * 64 + c * 4 + i] = noise[(c * h + 2 * r + (i >> 1)) * w + 2 * q + (i & 1)]!;
  }
  const imgIds = new Float32Array(N * 3);
  for (let k = 0; k < N; k++) { imgIds[k * 3 + 1] = Math.floor(k / cols); imgIds[k * 3 + 2] = k % cols; }
  const txt = randn([1, L, 24], 11), y = randn([1, 20], 12);
  const mu = 0.5 + ((1.15 - 0.5) / (4096 - 256)) * (N - 256);
  const timesteps = Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps).map((t) => (t === 0 ? 0 : Math.exp(mu) / (Math.exp(mu) + (1 / t - 1))));
  let x = Float64Array.from(img);
  const forward = (xs: Float32Array, t: number) => referenceForward(ref, cfg, {
    batch: 1, img: xs, img_ids: imgIds, txt, txt_ids: new Float32Array(L * 3), y, timesteps: Float32Array.of(t), guidance: Float32Array.of(guidance),
  });
  const fwdOut = forward(img, 0.6);
  for (let i = 0; i < steps; i++) {
    const v = forward(Float32Array.from(x), Math.fround(timesteps[i]!));
    const dt = Math.fround(timesteps[i + 1]!) - Math.fround(timesteps[i]!);
    x = x.map((xv, k) => xv + dt * v[k]!);
  }
  const goldens: TensorToWrite[] = [
    { name: 'in.img', dtype: 'F32', shape: [1, N, 64], data: img },
    { name: 'in.img_ids', dtype: 'F32', shape: [1, N, 3], data: imgIds },
    { name: 'in.txt', dtype: 'F32', shape: [1, L, 24], data: txt },
    { name: 'in.txt_ids', dtype: 'F32', shape: [1, L, 3], data: new Float32Array(L * 3) },
    { name: 'in.y', dtype: 'F32', shape: [1, 20], data: y },
    { name: 'in.t', dtype: 'F32', shape: [1], data: Float32Array.of(0.6) },
    { name: 'in.g', dtype: 'F32', shape: [1], data: Float32Array.of(guidance) },
    { name: 'out.fwd', dtype: 'F32', shape: [1, N, 64], data: Float32Array.from(fwdOut) },
    { name: 'out.latents', dtype: 'F32', shape: [1, N, 64], data: Float32Array.from(x) },
  ];
  writeSafetensors(path.join(dir, 'reference.safetensors'), goldens);
  fs.writeFileSync(path.join(dir, 'goldens.json'), JSON.stringify({
    transformer: { fp32: 'model.safetensors', params: { axes_dim: cfg.axes_dim, theta: cfg.theta, guidance_embed: true } },
    goldens: 'reference.safetensors',
    tolerances: { relative_l2: { transformer_forward: 1e-4, latents: 1e-3 }, noise_max_abs: 1e-5, pixels_max_abs: 1, pixels_mean_abs: 0.05 },
    cases: {
      forward: { kind: 'transformer_forward', weights: 'fp32', inputs: { img: 'in.img', img_ids: 'in.img_ids', txt: 'in.txt', txt_ids: 'in.txt_ids', y: 'in.y', timesteps: 'in.t', guidance: 'in.g' }, expect: 'out.fwd' },
      sample: { kind: 'pipeline', weights: 'fp32', height, width, steps, seed, guidance, timesteps, txt: 'in.txt', vec: 'in.y', expect: { img_ids: 'in.img_ids', latents: 'out.latents' } },
    },
  }));
  const report = await runConformance(dir, { cacheDir: cacheDir() });
  assert.equal(report.cases.forward?.ok, true, JSON.stringify(report.cases.forward));
  assert.equal(report.cases.sample?.ok, true, JSON.stringify(report.cases.sample));
  assert.ok((report.cases.sample!.latents_relative_l2 as number) < 1e-4);
  assert.equal(report.ok, true);

  // The same folder with the wrong RoPE theta must fail: the runner really uses the params given.
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'goldens.json'), 'utf8'));
  spec.transformer.params.theta = 10000;
  fs.writeFileSync(path.join(dir, 'goldens.json'), JSON.stringify(spec));
  const wrong = await runConformance(dir, { cacheDir: cacheDir() });
  assert.equal(wrong.ok, false);
  assert.equal(wrong.cases.forward?.ok, false);
});

test('a failing case is reported with its measured error, and the others still run', async () => {
  const dir = folderWith('strict', specWith((s) => {
    s.tolerances.relative_l2.t5_encode = 0; // no implementation is bit-exact to torch
    s.cases.clip.expect = 'no.such.tensor';
    s.cases.bogus = { kind: 'unet_forward' };
  }));
  const report = await runConformance(dir, { cacheDir: cacheDir(), only: ['t5', 'clip', 'bogus', 'fwd'] });
  assert.equal(report.ok, false);
  assert.equal(report.cases.t5?.ok, false);
  assert.ok((report.cases.t5!.relative_l2 as number) > 0);
  assert.equal(report.cases.clip?.ok, false);
  assert.match(String(report.cases.clip!.error), /no tensor "no.such.tensor"/);
  assert.match(String(report.cases.bogus!.error), /unknown case kind "unet_forward"/);
  assert.equal(report.cases.fwd?.ok, true);
});

test('a folder without references, or with a broken goldens.json, is a clear error', async () => {
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty);
  await assert.rejects(runConformance(empty), /has neither goldens.json nor expected_ids.json/);
  fs.writeFileSync(path.join(empty, 'goldens.json'), '{ not json');
  const r = await runConformance(empty);
  assert.equal(r.ok, false);
  assert.match(String(r.cases.goldens!.error), /not valid JSON/);
  const missing = folderWith('missing-file', specWith((s) => { s.ae.file = path.join(tmp, 'nowhere.safetensors'); }));
  const m = await runConformance(missing, { cacheDir: cacheDir(), only: ['pipe64x64'] });
  assert.equal(m.cases.pipe64x64?.ok, false);
  assert.match(String(m.cases.pipe64x64!.error), /nowhere\.safetensors/);
});
