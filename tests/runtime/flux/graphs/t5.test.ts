import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildT5Encoder, bucketTable, relativePositionBucket, t5Params, T5_BUILDER_VERSION } from '../../../../runtime/flux/graphs/t5.js';
import { openComponent } from '../../../../runtime/flux/checkpoints/checkpoint.js';
import type { WeightPolicy } from '../../../../runtime/onnx/weights.js';
import { loadComponent } from '../../../../runtime/flux/sessions.js';
import { canStreamT5 } from '../../../../runtime/flux/text/t5-streamed.js';
import {
  RandomCheckpoint, Rng, TINY, assertWeightsStayInFile, fp8Layout, geluTanh, get, golden, goldenIds, goldensJson, idsFeed, refLinear, relL2, runGraph,
  softmaxRow, tempDir, type RefTensor, type StoredDtype,
} from '../builder-harness.js';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- an independent float64 T5 encoder (transformers' modeling_t5.py, encoder only) -------------

interface RefT5 { heads: number; dKv: number; layers: number; buckets: number; maxDistance: number; eps: number; gated: boolean; act: (x: number) => number; embed: string }

/** PyTorch's float32 arithmetic in `_relative_position_bucket`, written out step by step. */
function refBucket(rel: number, numBuckets: number, maxDistance: number): number {
  const f32 = Math.fround;
  const nb = numBuckets >> 1;
  let bucket = rel > 0 ? nb : 0;
  const n = Math.abs(rel);
  const exact = nb >> 1;
  if (n < exact) return bucket + n;
  let v = f32(n / exact);
  v = f32(Math.log(v));
  v = f32(v / f32(Math.log(maxDistance / exact)));
  v = f32(v * (nb - exact));
  bucket += Math.min(exact + Math.trunc(v), nb - 1);
  return bucket;
}

function rms(t: Map<string, RefTensor>, key: string, x: Float64Array, rows: number, eps: number): Float64Array {
  const w = get(t, key).data;
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[r * d + i]! ** 2;
    const s = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i]! * s * w[i]!;
  }
  return y;
}

function t5Reference(t: Map<string, RefTensor>, p: RefT5, ids: number[][]): Float64Array {
  const emb = get(t, p.embed);
  const d = emb.shape[1]!;
  const inner = p.heads * p.dKv;
  const rel = get(t, 'encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight').data;
  const out: number[] = [];
  for (const row of ids) {
    const L = row.length;
    let x = new Float64Array(L * d);
    row.forEach((id, i) => x.set(emb.data.subarray(id * d, id * d + d), i * d));
    for (let l = 0; l < p.layers; l++) {
      const a = `encoder.block.${l}.layer.0.SelfAttention`;
      const h = rms(t, `encoder.block.${l}.layer.0.layer_norm.weight`, x, L, p.eps);
      const q = refLinear(t, `${a}.q`, h, L), k = refLinear(t, `${a}.k`, h, L), v = refLinear(t, `${a}.v`, h, L);
      const o = new Float64Array(L * inner);
      for (let hd = 0; hd < p.heads; hd++) {
        for (let i = 0; i < L; i++) {
          const s = new Float64Array(L);
          for (let j = 0; j < L; j++) {
            let dot = rel[refBucket(j - i, p.buckets, p.maxDistance) * p.heads + hd]!; // no 1/sqrt(d) in T5
            for (let c = 0; c < p.dKv; c++) dot += q[i * inner + hd * p.dKv + c]! * k[j * inner + hd * p.dKv + c]!;
            s[j] = dot;
          }
          softmaxRow(s);
          for (let c = 0; c < p.dKv; c++) {
            let acc = 0;
            for (let j = 0; j < L; j++) acc += s[j]! * v[j * inner + hd * p.dKv + c]!;
            o[i * inner + hd * p.dKv + c] = acc;
          }
        }
      }
      const ao = refLinear(t, `${a}.o`, o, L);
      x = x.map((val, i) => val + ao[i]!);
      const ff = `encoder.block.${l}.layer.1.DenseReluDense`;
      const f = rms(t, `encoder.block.${l}.layer.1.layer_norm.weight`, x, L, p.eps);
      let hidden = refLinear(t, `${ff}.${p.gated ? 'wi_0' : 'wi'}`, f, L).map(p.act);
      if (p.gated) {
        const linear = refLinear(t, `${ff}.wi_1`, f, L);
        hidden = hidden.map((g, i) => g * linear[i]!);
      }
      const fo = refLinear(t, `${ff}.wo`, hidden, L);
      x = x.map((val, i) => val + fo[i]!);
    }
    out.push(...rms(t, 'encoder.final_layer_norm.weight', x, L, p.eps));
  }
  return Float64Array.from(out);
}

// ---- a random T5 of other sizes -----------------------------------------------------------------

interface Shape { vocab: number; dModel: number; heads: number; dKv: number; dFf: number; layers: number; buckets: number; maxDistance: number; gated: boolean; embed: string }

const OTHER: Shape = { vocab: 50, dModel: 40, heads: 5, dKv: 12, dFf: 72, layers: 3, buckets: 16, maxDistance: 20, gated: true, embed: 'shared.weight' };

function randomT5(s: Shape, seed: number, dtypeOf?: (name: string, shape: number[]) => StoredDtype): RandomCheckpoint {
  const ck = new RandomCheckpoint(new Rng(seed), dtypeOf);
  const inner = s.heads * s.dKv;
  ck.add(s.embed, [s.vocab, s.dModel], 1);
  for (let l = 0; l < s.layers; l++) {
    const a = `encoder.block.${l}.layer.0.SelfAttention`;
    ck.add(`encoder.block.${l}.layer.0.layer_norm.weight`, [s.dModel], 0.1, 1);
    for (const n of ['q', 'k', 'v']) ck.add(`${a}.${n}.weight`, [inner, s.dModel], 0.6 / Math.sqrt(s.dModel));
    ck.add(`${a}.o.weight`, [s.dModel, inner], 1 / Math.sqrt(inner));
    if (l === 0) ck.add(`${a}.relative_attention_bias.weight`, [s.buckets, s.heads], 1);
    const ff = `encoder.block.${l}.layer.1.DenseReluDense`;
    ck.add(`encoder.block.${l}.layer.1.layer_norm.weight`, [s.dModel], 0.1, 1);
    for (const n of s.gated ? ['wi_0', 'wi_1'] : ['wi']) ck.add(`${ff}.${n}.weight`, [s.dFf, s.dModel], 1 / Math.sqrt(s.dModel));
    ck.add(`${ff}.wo.weight`, [s.dModel, s.dFf], 1 / Math.sqrt(s.dFf));
  }
  ck.add('encoder.final_layer_norm.weight', [s.dModel], 0.1, 1);
  return ck;
}

function configOf(s: Shape, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model_type: 't5', d_model: s.dModel, d_kv: s.dKv, d_ff: s.dFf, num_heads: s.heads, num_layers: s.layers,
    relative_attention_num_buckets: s.buckets, relative_attention_max_distance: s.maxDistance, layer_norm_epsilon: 1e-6,
    feed_forward_proj: s.gated ? 'gated-gelu' : 'relu', ...extra,
  };
}

function randomIds(rng: Rng, rows: number, len: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: len }, () => rng.int(vocab)));
}

const refParams = (s: Shape, act: (x: number) => number = geluTanh): RefT5 => ({
  heads: s.heads, dKv: s.dKv, layers: s.layers, buckets: s.buckets, maxDistance: s.maxDistance, eps: 1e-6, gated: s.gated, act, embed: s.embed,
});

// ---- tests --------------------------------------------------------------------------------------

test('T5 encoder matches transformers on the fixture (case t5)', async () => {
  const w = openComponent('t5', path.join(TINY, 'tiny-t5xxl.safetensors'));
  const p = t5Params(w);
  assert.deepEqual(
    { ...p },
    { vocabSize: 128, dModel: 48, numHeads: 6, dKv: 8, dFf: 96, numLayers: 2, numBuckets: 32, maxDistance: 128, eps: 1e-6, gated: true, activation: 'gelu_new', embedding: 'encoder.embed_tokens.weight' },
  );
  const g = buildT5Encoder(w, p);
  assertWeightsStayInFile(g, path.join(TINY, 'tiny-t5xxl.safetensors'));
  const out = (await runGraph(g, { input_ids: goldenIds('t5.ids') })).last_hidden_state!;
  const ref = golden('t5.out');
  assert.deepEqual(out.dims, ref.shape);
  const err = relL2(out.data as Float32Array, ref.data);
  assert.ok(err < goldensJson().tolerances.relative_l2.t5_encode!, `relative L2 ${err}`);
  assert.equal(typeof T5_BUILDER_VERSION, 'number');
});

test('relative-position buckets match PyTorch, including its float32 edges', () => {
  // Values computed by transformers' _relative_position_bucket with torch (CPU, float32).
  const torch32x128: [number, number][] = [
    [0, 0], [1, 17], [7, 23], [8, 24], [11, 24], [12, 25], [15, 25], [16, 26], [23, 27], [31, 27], [32, 28], [45, 28],
    [63, 29], [64, 30], [90, 30], [127, 31], [128, 31], [1000, 31],
    [-1, 1], [-7, 7], [-8, 8], [-15, 9], [-16, 10], [-31, 11], [-32, 12], [-63, 13], [-64, 14], [-127, 15], [-128, 15], [-1000, 15],
  ];
  for (const [rel, bucket] of torch32x128) assert.equal(relativePositionBucket(rel, 32, 128), bucket, `relative position ${rel}`);
  const torch16x20 = [0, 9, 10, 11, 12, 12, 13, 13, 13, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15, 15];
  torch16x20.forEach((b, rel) => assert.equal(relativePositionBucket(rel, 16, 20), b, `16 buckets, distance 20, relative ${rel}`));
  const torch12x50 = [0, 7, 8, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11];
  torch12x50.forEach((b, rel) => assert.equal(relativePositionBucket(rel, 12, 50), b, `12 buckets, distance 50, relative ${rel}`));
  // The table the graph clamps into covers ±maxDistance and saturates at both ends.
  const table = bucketTable(32, 128);
  assert.equal(table.length, 257);
  assert.equal(table[0], 15n);
  assert.equal(table[256], 31n);
  for (let r = -300; r <= 300; r++) assert.equal(relativePositionBucket(r, 32, 128), refBucket(r, 32, 128));
});

test('T5 encoder of other widths, heads, depths and buckets matches a float64 reference', async () => {
  const ck = randomT5(OTHER, 1);
  const file = ck.write(path.join(dir, 'other-t5.safetensors'), configOf(OTHER));
  const w = openComponent('t5', file);
  const p = t5Params(w);
  assert.equal(p.numHeads, 5);
  assert.equal(p.dKv, 12); // inner width 60 ≠ d_model 40
  assert.equal(p.numLayers, 3);
  assert.equal(p.maxDistance, 20);
  // 45 tokens: relative positions past max_distance exercise the saturated buckets.
  const ids = randomIds(new Rng(2), 2, 45, OTHER.vocab);
  const out = (await runGraph(buildT5Encoder(w, p), { input_ids: idsFeed(ids) })).last_hidden_state!;
  assert.deepEqual(out.dims, [2, 45, 40]);
  const ref = t5Reference(ck.values, refParams(OTHER), ids);
  const err = relL2(out.data as Float32Array, ref);
  assert.ok(err < 1e-5, `relative L2 ${err}`);

  // The same graph serves another length (L is symbolic).
  const short = randomIds(new Rng(3), 1, 3, OTHER.vocab);
  const out2 = (await runGraph(buildT5Encoder(w, p), { input_ids: idsFeed(short) })).last_hidden_state!;
  assert.ok(relL2(out2.data as Float32Array, t5Reference(ck.values, refParams(OTHER), short)) < 1e-5);
});

test('T5 v1.0 layout (plain ReLU feed-forward, embed_tokens only) and no config file', async () => {
  const s: Shape = { vocab: 30, dModel: 24, heads: 3, dKv: 8, dFf: 40, layers: 2, buckets: 8, maxDistance: 128, gated: false, embed: 'encoder.embed_tokens.weight' };
  const ck = randomT5(s, 4);
  const file = ck.write(path.join(dir, 'plain-t5.safetensors'));
  const w = openComponent('t5', file);
  const p = t5Params(w);
  // Without config.json: heads from the bias table's columns, transformers' default max distance.
  assert.equal(p.numHeads, 3);
  assert.equal(p.maxDistance, 128);
  assert.equal(p.gated, false);
  assert.equal(p.activation, 'relu');
  const ids = randomIds(new Rng(5), 2, 9, s.vocab);
  const out = (await runGraph(buildT5Encoder(w, p), { input_ids: idsFeed(ids) })).last_hidden_state!;
  const err = relL2(out.data as Float32Array, t5Reference(ck.values, refParams(s, (x) => Math.max(0, x)), ids));
  assert.ok(err < 1e-5, `relative L2 ${err}`);
});

test('T5 with FP8 matrices and BF16 norms matches the reference under every FP8 policy', async () => {
  const ck = randomT5(OTHER, 6, fp8Layout);
  const file = ck.write(path.join(dir, 'fp8-t5.safetensors'), configOf(OTHER));
  const w = openComponent('t5', file);
  assert.equal(w.get('encoder.block.0.layer.0.SelfAttention.q.weight')?.dtype, 'F8_E4M3');
  assert.equal(w.get('encoder.final_layer_norm.weight')?.dtype, 'BF16');
  const ids = randomIds(new Rng(7), 1, 12, OTHER.vocab);
  const ref = t5Reference(ck.values, refParams(OTHER), ids);
  for (const fp8 of ['cast', 'dequantize', 'table'] as const) {
    const policy: WeightPolicy = { fp8, compute: 'float32' };
    const out = (await runGraph(buildT5Encoder(w, t5Params(w), policy), { input_ids: idsFeed(ids) })).last_hidden_state!;
    const err = relL2(out.data as Float32Array, ref);
    assert.ok(err < 1e-5, `${fp8}: relative L2 ${err}`);
  }
  // float16 compute: matmuls in half precision, norms and the residual stream in float32.
  const half = (await runGraph(buildT5Encoder(w, t5Params(w), { fp8: 'table', compute: 'float16' }), { input_ids: idsFeed(ids) })).last_hidden_state!;
  const err = relL2(half.data as Float32Array, ref);
  assert.ok(err < 1e-2, `float16 compute: relative L2 ${err}`);
});

test('T5 configs that contradict the weights fail with a sentence naming the field', () => {
  const file = randomT5(OTHER, 8).write(path.join(dir, 'bad-t5.safetensors'));
  const open = (config: Record<string, unknown>) => openComponent('t5', file, { config });
  assert.throws(() => t5Params(open(configOf(OTHER, { num_heads: 4 }))), /'num_heads' is 4, but the weights have 5 relative-attention-bias heads/);
  assert.throws(() => t5Params(open(configOf(OTHER, { d_model: 64 }))), /'d_model' is 64/);
  assert.throws(() => t5Params(open(configOf(OTHER, { d_kv: 8 }))), /'d_kv' is 8/);
  assert.throws(() => t5Params(open(configOf(OTHER, { num_layers: 4 }))), /'num_layers' is 4, but the weights have 3 encoder blocks/);
  assert.throws(() => t5Params(open(configOf(OTHER, { dense_act_fn: 'mish' }))), /'dense_act_fn' is 'mish', which is not supported/);
  assert.throws(() => t5Params(open(configOf(OTHER, { relative_attention_max_distance: -3 }))), /'relative_attention_max_distance' must be a positive integer/);
  assert.throws(() => t5Params(open(configOf(OTHER, { layer_norm_epsilon: 'small' }))), /'layer_norm_epsilon' must be a positive number/);
  assert.throws(() => t5Params(open(configOf(OTHER, { relative_attention_num_buckets: 32 }))), /'relative_attention_num_buckets' is 32, but the weights have 16/);
});

test('T5 under the CPU widen policy runs block by block with worker-widened FP8 weights and matches the reference', async () => {
  const ck = randomT5(OTHER, 9, fp8Layout);
  const file = ck.write(path.join(dir, 'fp8-streamed-t5.safetensors'), configOf(OTHER));
  const w = openComponent('t5', file);
  const p = t5Params(w);
  assert.ok(canStreamT5(w, p));
  const cacheDir = path.join(dir, 'streamed-graphs');
  const loaded = await loadComponent('t5', w, {} as never, { policy: { fp8: 'widen', compute: 'float32' }, cacheDir, threads: 2 });
  try {
    // The cached graph is the one-block graph with its weights as inputs, not the whole encoder.
    const graphs = fs.readdirSync(cacheDir).map((f) => fs.readFileSync(path.join(cacheDir, f)).toString('latin1'));
    assert.equal(graphs.length, 1);
    assert.ok(graphs[0]!.includes('t5_block') && !graphs[0]!.includes('SelfAttention.q.weight'));
    for (const [seed, rows, len] of [[10, 1, 12], [11, 2, 45]] as const) {
      const ids = randomIds(new Rng(seed), rows, len, OTHER.vocab);
      const out = await loaded.session.run({ input_ids: idsFeed(ids) });
      const y = out.last_hidden_state!;
      assert.deepEqual(y.dims, [rows, len, OTHER.dModel]);
      const err = relL2(y.data as Float32Array, t5Reference(ck.values, refParams(OTHER), ids));
      assert.ok(err < 1e-5, `${rows}×${len} tokens: relative L2 ${err}`);
    }
    // A weight file cut short under a loaded session: the run fails with one sentence naming the file.
    const ids = randomIds(new Rng(12), 1, 5, OTHER.vocab);
    const copy = path.join(dir, 'fp8-streamed-t5-cut.safetensors');
    fs.copyFileSync(file, copy);
    fs.copyFileSync(file.replace(/\.safetensors$/, '.config.json'), copy.replace(/\.safetensors$/, '.config.json'));
    const cut = await loadComponent('t5', openComponent('t5', copy), {} as never, { policy: { fp8: 'widen', compute: 'float32' }, cacheDir, threads: 2 });
    try {
      fs.truncateSync(copy, w.require('encoder.block.1.layer.0.SelfAttention.q.weight').offset);
      await assert.rejects(cut.session.run({ input_ids: idsFeed(ids) }), (e: Error) => /fp8-streamed-t5-cut\.safetensors ended \d+ bytes early/.test(e.message) && !e.message.includes('\n'));
    } finally {
      await cut.session.release();
    }
    // Released: the workers are gone and a run says so.
    const again = await loadComponent('t5', w, {} as never, { policy: { fp8: 'widen', compute: 'float32' }, cacheDir, threads: 2 });
    await again.session.release();
    await assert.rejects(again.session.run({ input_ids: idsFeed(ids) }), /widening pool was already closed/);
  } finally {
    await loaded.session.release();
  }
});
