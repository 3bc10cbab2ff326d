import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createSession, type Feed } from '../../../../runtime/onnx/session.js';
import type { WeightPolicy } from '../../../../runtime/onnx/weights.js';
import { buildTransformer, transformerParams, TRANSFORMER_BUILDER_VERSION, type FluxParams } from '../../../../runtime/flux/graphs/transformer.js';
import { DEFAULT_MODEL_CONFIG, resolveModelConfig } from '../../../../runtime/flux/model-config.js';
import { readSafetensorsHeader, readTensor, writeSafetensors, type TensorToWrite } from '../../../../runtime/flux/checkpoints/safetensors.js';
import type { TensorInfo, Weights } from '../../../../runtime/onnx/tensor-source.js';
import { openComponent } from '../../../../runtime/flux/checkpoints/checkpoint.js';
import { referenceForward, type RefConfig } from '../flux-reference.js';
import { randomInputs, randomTransformer, type TinySpec } from '../transformer-harness.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = path.join(process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures'), 'flux-tiny');
const goldens = JSON.parse(fs.readFileSync(path.join(fixtures, 'goldens.json'), 'utf8'));

const openTransformer = (file: string): Weights => openComponent('transformer', file);

/**
 * Weights straight from a header, with no layout checks: the checkpoint reader refuses some
 * layouts the reference allows (qkv_bias=False, no double blocks) and catches some broken files
 * before transformerParams sees them; this lets the tests reach the builder's own handling.
 */
function headerWeights(file: string): Weights {
  const header = readSafetensorsHeader(file);
  return {
    component: 'transformer',
    files: [header.file],
    has: (k) => header.byName.has(k),
    get: (k) => header.byName.get(k),
    require(k): TensorInfo {
      const t = header.byName.get(k);
      if (!t) throw new Error(`${header.file} has no transformer tensor '${k}'.`);
      return t;
    },
    keys: () => [...header.byName.keys()],
    scaleOf: () => undefined,
  };
}

const goldenHeader = readSafetensorsHeader(path.join(fixtures, goldens.goldens));
const golden = (name: string) => {
  const info = goldenHeader.byName.get(name);
  assert.ok(info, `golden tensor ${name}`);
  return { dims: info.shape, data: readTensor(info) };
};

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

async function forward(w: Weights, params: FluxParams, policy: WeightPolicy, feeds: Record<string, Feed>) {
  const g = buildTransformer(w, params, policy);
  const baseDir = path.dirname(w.files[0]!);
  const session = await createSession(g.toBytes({ baseDir }), { baseDir, label: 'transformer' });
  try {
    const r = await session.run(feeds);
    return r.out!;
  } finally {
    await session.release();
  }
}

const caseFeeds = (name: string): Record<string, Feed> => {
  const feeds: Record<string, Feed> = {};
  for (const [input, tensor] of Object.entries(goldens.cases[name].inputs as Record<string, string>)) {
    const t = golden(tensor);
    feeds[input] = { type: 'float32', dims: t.dims, data: t.data };
  }
  return feeds;
};

const fixtureConfig = () => resolveModelConfig(goldens.transformer.params, 'goldens.json');

test('hyperparameters come from the fixture checkpoint shapes and match the reference FluxParams', () => {
  for (const kind of ['fp32', 'fp8'] as const) {
    const p = transformerParams(openTransformer(path.join(fixtures, goldens.transformer[kind])), fixtureConfig());
    for (const [k, v] of Object.entries(goldens.transformer.params)) {
      assert.deepEqual(p[k as keyof FluxParams], v, `${kind} ${k}`);
    }
    assert.equal(p.head_dim, 32);
    assert.equal(p.timestep_dim, 256);
  }
  assert.equal(typeof TRANSFORMER_BUILDER_VERSION, 'number');
});

for (const name of ['fwd', 'fwd_fp8'] as const) {
  test(`golden case ${name} matches the reference within the conformance tolerance`, async () => {
    const c = goldens.cases[name];
    const w = openTransformer(path.join(fixtures, goldens.transformer[c.weights]));
    const params = transformerParams(w, fixtureConfig());
    const expect = golden(c.expect);
    const policies: WeightPolicy['fp8'][] = name === 'fwd_fp8' ? ['cast', 'dequantize', 'table'] : ['cast'];
    const outs: Float32Array[] = [];
    for (const fp8 of policies) {
      const out = await forward(w, params, { fp8, compute: 'float32' }, caseFeeds(name));
      assert.deepEqual(out.dims, expect.dims);
      const err = relL2(out.data as Float32Array, expect.data);
      assert.ok(err < goldens.tolerances.relative_l2.transformer_forward, `${name} with fp8 '${fp8}': relative L2 error ${err}`);
      outs.push(out.data as Float32Array);
    }
    for (const o of outs.slice(1)) assert.ok(relL2(o, outs[0]!) < 1e-4, 'FP8 policies agree');
  });
}

test('float16 compute runs on the CPU and stays close to the golden', async () => {
  const w = openTransformer(path.join(fixtures, goldens.transformer.fp32));
  const out = await forward(w, transformerParams(w, fixtureConfig()), { fp8: 'cast', compute: 'float16' }, caseFeeds('fwd'));
  const err = relL2(out.data as Float32Array, golden('fwd.out').data);
  assert.ok(err < 2e-3, `float16 relative L2 error ${err}`);
});

// ---- a second, different model: random weights written to a temp file ----------------------------

const tmpDirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  tmpDirs.push(d);
  return d;
}
process.on('exit', () => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

for (const qkvBias of [true, false]) {
  test(`another shape family (3 heads, guidance, qkv bias ${qkvBias}) matches an independent float64 forward at two sizes in one session`, async () => {
    const spec: TinySpec = { hidden: 48, heads: 3, mlp: 80, inC: 12, outC: 20, vec: 10, ctx: 14, tdim: 64, depth: 1, single: 3, qkvBias, guidance: true };
    const axes_dim = [4, 6, 6];
    const file = path.join(tempDir(), 'other-flux.safetensors');
    const { tensors, reference: t } = randomTransformer(spec, 7);
    writeSafetensors(file, tensors);
    const w = qkvBias ? openTransformer(file) : headerWeights(file);
    const params = transformerParams(w, { axes_dim, theta: 1000 });
    assert.deepEqual(
      [params.hidden_size, params.num_heads, params.head_dim, params.mlp_hidden_dim, params.depth, params.depth_single_blocks, params.qkv_bias, params.guidance_embed, params.in_channels, params.out_channels, params.vec_in_dim, params.context_in_dim, params.timestep_dim],
      [48, 3, 16, 80, 1, 3, qkvBias, true, 12, 20, 10, 14, 64],
    );
    assert.equal(params.mlp_ratio, 80 / 48);

    const cfg: RefConfig = { hidden: 48, heads: 3, axes_dim, theta: 1000, depth: 1, single: 3, guidance: true };
    const baseDir = path.dirname(file);
    const session = await createSession(buildTransformer(w, params, { fp8: 'cast', compute: 'float32' }).toBytes({ baseDir }), { baseDir });
    try {
      // The session is built once and serves other batch sizes and token counts (symbolic dims).
      for (const [B, N, L, seed] of [[2, 9, 4, 99], [1, 6, 7, 5]] as const) {
        const { inputs, feeds } = randomInputs(spec, B, N, L, seed);
        const out = (await session.run(feeds)).out!;
        assert.deepEqual(out.dims, [B, N, spec.outC]);
        const data = out.data as Float32Array;
        assert.ok(data.every(Number.isFinite));
        const err = relL2(data, referenceForward(t, cfg, inputs));
        assert.ok(err < 1e-4, `B=${B} N=${N} L=${L}: relative L2 error vs the float64 reference ${err}`);
        // Batch elements differ (the graph neither mixes nor wrongly broadcasts them).
        if (B === 2) assert.ok(relL2(data.subarray(0, N * spec.outC), data.subarray(N * spec.outC)) > 1e-2);
      }
    } finally {
      await session.release();
    }
  });
}

test('single-stream-only models (no double blocks) build and match the float64 forward', async () => {
  const spec: TinySpec = { hidden: 32, heads: 4, mlp: 64, inC: 8, outC: 8, vec: 6, ctx: 5, tdim: 33, depth: 0, single: 1, qkvBias: true, guidance: false };
  const file = path.join(tempDir(), 'single.safetensors');
  const { tensors, reference: t } = randomTransformer(spec, 3);
  writeSafetensors(file, tensors);
  const w = headerWeights(file);
  const axes_dim = [2, 2, 4];
  const params = transformerParams(w, { axes_dim, theta: 10000 });
  const { inputs, feeds } = randomInputs(spec, 1, 3, 2, 5);
  const out = await forward(w, params, { fp8: 'cast', compute: 'float32' }, feeds);
  const ref = referenceForward(t, { hidden: 32, heads: 4, axes_dim, theta: 10000, depth: 0, single: 1, guidance: false }, inputs);
  const err = relL2(out.data as Float32Array, ref);
  assert.ok(err < 1e-4, `relative L2 error ${err}`);
});

// ---- bad configurations fail with one sentence naming the file ------------------------------------

test('axes_dim that does not sum to the head width is refused, naming the checkpoint', () => {
  const file = path.join(fixtures, goldens.transformer.fp32);
  const w = openTransformer(file);
  assert.throws(() => transformerParams(w, DEFAULT_MODEL_CONFIG), (e: Error) => {
    assert.match(e.message, /tiny-flux1-schnell\.safetensors/);
    assert.match(e.message, /axes_dim \[16, 56, 56\].*head width 32/);
    assert.equal(e.message.split('\n').length, 1);
    return true;
  });
  assert.throws(() => transformerParams(w, { axes_dim: [7, 13, 12], theta: 10000 }), /positive even numbers/);
});

test('inconsistent or incomplete block layouts are refused, naming file and tensor', () => {
  const spec: TinySpec = { hidden: 16, heads: 2, mlp: 32, inC: 4, outC: 4, vec: 3, ctx: 3, tdim: 16, depth: 2, single: 2, qkvBias: true, guidance: false };
  const good = randomTransformer(spec, 1).tensors;
  const cases: [string, (t: TensorToWrite[]) => TensorToWrite[], RegExp][] = [
    ['wrong mlp width in block 1', (t) => t.map((x) => (x.name === 'double_blocks.1.txt_mlp.0.weight' ? { ...x, shape: [24, 16], data: new Float32Array(24 * 16) } : x)), /double_blocks\.1\.txt_mlp\.0\.weight.*\[24, 16\].*\[32, 16\]/],
    ['missing block 0 of single blocks', (t) => t.filter((x) => !x.name.startsWith('single_blocks.0.')), /single_blocks.*block 0 missing/],
    ['head width that does not divide hidden', (t) => t.map((x) => (x.name.endsWith('norm.query_norm.scale') ? { ...x, shape: [5], data: new Float32Array(5) } : x)), /does not divide the hidden width 16/],
    ['qkv bias in one block only', (t) => t.filter((x) => x.name !== 'double_blocks.1.img_attn.qkv.bias'), /double block 1 lacks/],
    ['missing final layer', (t) => t.filter((x) => !x.name.startsWith('final_layer.linear')), /final_layer\.linear\.weight/],
    ['a 1-D img_in', (t) => t.map((x) => (x.name === 'img_in.weight' ? { ...x, shape: [64], data: new Float32Array(64) } : x)), /img_in\.weight.*2-D/],
  ];
  const dir = tempDir();
  for (const [what, mutate, pattern] of cases) {
    const file = path.join(dir, `${what.replace(/\W+/g, '-')}.safetensors`);
    writeSafetensors(file, mutate(good));
    assert.throws(() => transformerParams(headerWeights(file), { axes_dim: [2, 2, 4], theta: 10000 }), (e: Error) => {
      assert.match(e.message, pattern, what);
      assert.ok(e.message.includes(file), `${what}: names the file (${e.message})`);
      return true;
    });
  }
});
