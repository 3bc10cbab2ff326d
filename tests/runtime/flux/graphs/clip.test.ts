import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { buildClipText, clipParams, CLIP_BUILDER_VERSION } from '../../../../runtime/flux/graphs/clip.js';
import { openComponent } from '../../../../runtime/flux/checkpoints/checkpoint.js';
import {
  RandomCheckpoint, Rng, TINY, assertWeightsStayInFile, fp8Layout, gelu, get, golden, goldenIds, goldensJson, idsFeed, refLinear, relL2, runGraph,
  softmaxRow, tempDir, type RefTensor, type StoredDtype,
} from '../builder-harness.js';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- an independent float64 CLIP text model (transformers' modeling_clip.py) --------------------

interface RefClip { heads: number; layers: number; eps: number; act: (x: number) => number; eos: number }

const quickGelu = (x: number) => x / (1 + Math.exp(-1.702 * x));

function layerNorm(t: Map<string, RefTensor>, prefix: string, x: Float64Array, rows: number, eps: number): Float64Array {
  const w = get(t, `${prefix}.weight`).data, b = get(t, `${prefix}.bias`).data;
  const d = w.length;
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    const row = x.subarray(r * d, r * d + d);
    const mean = row.reduce((a, v) => a + v, 0) / d;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / d;
    for (let i = 0; i < d; i++) y[r * d + i] = ((row[i]! - mean) / Math.sqrt(variance + eps)) * w[i]! + b[i]!;
  }
  return y;
}

function clipReference(t: Map<string, RefTensor>, p: RefClip, ids: number[][]): { last: Float64Array; pooled: Float64Array; index: number[] } {
  const tok = get(t, 'embeddings.token_embedding.weight'), pos = get(t, 'embeddings.position_embedding.weight');
  const d = tok.shape[1]!;
  const hd = d / p.heads;
  const last: number[] = [], pooled: number[] = [], index: number[] = [];
  for (const row of ids) {
    const L = row.length;
    let x = new Float64Array(L * d);
    for (let i = 0; i < L; i++) for (let c = 0; c < d; c++) x[i * d + c] = tok.data[row[i]! * d + c]! + pos.data[i * d + c]!;
    for (let l = 0; l < p.layers; l++) {
      const a = `encoder.layers.${l}`;
      const h = layerNorm(t, `${a}.layer_norm1`, x, L, p.eps);
      const q = refLinear(t, `${a}.self_attn.q_proj`, h, L), k = refLinear(t, `${a}.self_attn.k_proj`, h, L), v = refLinear(t, `${a}.self_attn.v_proj`, h, L);
      const o = new Float64Array(L * d);
      for (let head = 0; head < p.heads; head++) {
        for (let i = 0; i < L; i++) {
          const s = new Float64Array(i + 1); // causal: keys 0..i only
          for (let j = 0; j <= i; j++) {
            let dot = 0;
            for (let c = 0; c < hd; c++) dot += q[i * d + head * hd + c]! * k[j * d + head * hd + c]!;
            s[j] = dot / Math.sqrt(hd);
          }
          softmaxRow(s);
          for (let c = 0; c < hd; c++) {
            let acc = 0;
            for (let j = 0; j <= i; j++) acc += s[j]! * v[j * d + head * hd + c]!;
            o[i * d + head * hd + c] = acc;
          }
        }
      }
      const ao = refLinear(t, `${a}.self_attn.out_proj`, o, L);
      x = x.map((val, i) => val + ao[i]!);
      const m = layerNorm(t, `${a}.layer_norm2`, x, L, p.eps);
      const mo = refLinear(t, `${a}.mlp.fc2`, refLinear(t, `${a}.mlp.fc1`, m, L).map(p.act), L);
      x = x.map((val, i) => val + mo[i]!);
    }
    const y = layerNorm(t, 'final_layer_norm', x, L, p.eps);
    // transformers: argmax of the ids when eos_token_id == 2, else the first eos position (0 if none).
    const at = p.eos === 2 ? row.indexOf(Math.max(...row)) : Math.max(0, row.indexOf(p.eos));
    last.push(...y);
    pooled.push(...y.subarray(at * d, at * d + d));
    index.push(at);
  }
  return { last: Float64Array.from(last), pooled: Float64Array.from(pooled), index };
}

// ---- a random CLIP of other sizes ---------------------------------------------------------------

interface Shape { vocab: number; hidden: number; positions: number; intermediate: number; layers: number }
const OTHER: Shape = { vocab: 60, hidden: 48, positions: 20, intermediate: 80, layers: 3 };

function randomClip(s: Shape, seed: number, dtypeOf?: (name: string, shape: number[]) => StoredDtype): RandomCheckpoint {
  const ck = new RandomCheckpoint(new Rng(seed), dtypeOf);
  ck.add('embeddings.token_embedding.weight', [s.vocab, s.hidden], 1);
  ck.add('embeddings.position_embedding.weight', [s.positions, s.hidden], 0.5);
  for (let l = 0; l < s.layers; l++) {
    const a = `encoder.layers.${l}`;
    for (const n of ['layer_norm1', 'layer_norm2']) ck.add(`${a}.${n}.weight`, [s.hidden], 0.1, 1).add(`${a}.${n}.bias`, [s.hidden], 0.1);
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) ck.add(`${a}.self_attn.${n}.weight`, [s.hidden, s.hidden], 1 / Math.sqrt(s.hidden)).add(`${a}.self_attn.${n}.bias`, [s.hidden], 0.1);
    ck.add(`${a}.mlp.fc1.weight`, [s.intermediate, s.hidden], 1 / Math.sqrt(s.hidden)).add(`${a}.mlp.fc1.bias`, [s.intermediate], 0.1);
    ck.add(`${a}.mlp.fc2.weight`, [s.hidden, s.intermediate], 1 / Math.sqrt(s.intermediate)).add(`${a}.mlp.fc2.bias`, [s.hidden], 0.1);
  }
  ck.add('final_layer_norm.weight', [s.hidden], 0.1, 1).add('final_layer_norm.bias', [s.hidden], 0.1);
  return ck;
}

const configOf = (s: Shape, extra: Record<string, unknown> = {}) => ({
  model_type: 'clip_text_model', vocab_size: s.vocab, hidden_size: s.hidden, intermediate_size: s.intermediate, num_hidden_layers: s.layers,
  max_position_embeddings: s.positions, num_attention_heads: 3, hidden_act: 'gelu', layer_norm_eps: 1e-5, eos_token_id: 7, ...extra,
});

// Rows: eos (7) in the middle, eos twice (first counts), no eos at all (position 0), eos last.
const IDS = [
  [1, 30, 12, 7, 59, 59, 0, 4, 3, 9, 11, 2],
  [5, 7, 8, 9, 7, 10, 11, 12, 13, 14, 15, 16],
  [3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15],
  [40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 7],
];

// ---- tests --------------------------------------------------------------------------------------

test('CLIP pooled output matches transformers on the fixture (case clip)', async () => {
  const w = openComponent('clip', path.join(TINY, 'tiny-clip_l.safetensors'));
  const p = clipParams(w);
  assert.deepEqual(
    { ...p },
    { vocabSize: 128, hidden: 32, maxPositions: 16, numLayers: 2, numHeads: 4, headDim: 8, intermediate: 64, eps: 1e-5, activation: 'quick_gelu', eosTokenId: 2 },
  );
  const ids = goldenIds('clip.ids');
  const g = buildClipText(w, p);
  assertWeightsStayInFile(g, path.join(TINY, 'tiny-clip_l.safetensors'));
  const out = await runGraph(g, { input_ids: ids });
  const ref = golden('clip.pooled');
  assert.deepEqual(out.pooled!.dims, ref.shape);
  const err = relL2(out.pooled!.data as Float32Array, ref.data);
  assert.ok(err < goldensJson().tolerances.relative_l2.clip_pooled!, `relative L2 ${err}`);
  // pooled is the last hidden state at the first position of the largest id.
  const row = Array.from(ids.data as BigInt64Array, Number);
  const at = row.indexOf(Math.max(...row));
  assert.deepEqual(out.last_hidden_state!.dims, [1, 16, 32]);
  assert.deepEqual(Array.from((out.last_hidden_state!.data as Float32Array).subarray(at * 32, at * 32 + 32)), Array.from(out.pooled!.data as Float32Array));
  assert.equal(typeof CLIP_BUILDER_VERSION, 'number');
});

test('CLIP of other widths, heads and depths, with an eos id lookup, matches a float64 reference', async () => {
  const ck = randomClip(OTHER, 11);
  const w = openComponent('clip', ck.write(path.join(dir, 'other-clip.safetensors'), configOf(OTHER)));
  const p = clipParams(w);
  assert.equal(p.numHeads, 3);
  assert.equal(p.headDim, 16);
  assert.equal(p.activation, 'gelu');
  assert.equal(p.eosTokenId, 7);
  const out = await runGraph(buildClipText(w, p), { input_ids: idsFeed(IDS) });
  const ref = clipReference(ck.values, { heads: 3, layers: 3, eps: 1e-5, act: gelu, eos: 7 }, IDS);
  assert.deepEqual(ref.index, [3, 1, 0, 11]);
  assert.deepEqual(out.pooled!.dims, [4, 48]);
  const errLast = relL2(out.last_hidden_state!.data as Float32Array, ref.last);
  const errPooled = relL2(out.pooled!.data as Float32Array, ref.pooled);
  assert.ok(errLast < 1e-5 && errPooled < 1e-5, `relative L2 ${errLast} / ${errPooled}`);
});

test('CLIP with eos_token_id 2 pools at the first largest id (transformers legacy rule)', async () => {
  const ck = randomClip(OTHER, 12);
  const file = ck.write(path.join(dir, 'legacy-clip.safetensors'));
  const w = openComponent('clip', file, { config: configOf(OTHER, { eos_token_id: 2, hidden_act: 'quick_gelu' }) });
  const p = clipParams(w);
  const rows = IDS.slice(0, 3).map((r) => r.slice(0, 9)); // 9 tokens: another length, same graph shape rules
  const out = await runGraph(buildClipText(w, p), { input_ids: idsFeed(rows) });
  const ref = clipReference(ck.values, { heads: 3, layers: 3, eps: 1e-5, act: quickGelu, eos: 2 }, rows);
  assert.deepEqual(ref.index, [4, 8, 8]); // row 0 has 59 twice: the first wins
  const err = relL2(out.pooled!.data as Float32Array, ref.pooled);
  assert.ok(err < 1e-5, `relative L2 ${err}`);
});

test('CLIP with FP8 matrices and BF16 vectors matches the reference (table policy, float16 compute too)', async () => {
  const ck = randomClip(OTHER, 13, fp8Layout);
  const w = openComponent('clip', ck.write(path.join(dir, 'fp8-clip.safetensors'), configOf(OTHER)));
  assert.equal(w.get('encoder.layers.0.mlp.fc1.weight')?.dtype, 'F8_E4M3');
  const ref = clipReference(ck.values, { heads: 3, layers: 3, eps: 1e-5, act: gelu, eos: 7 }, IDS);
  for (const compute of ['float32', 'float16'] as const) {
    const out = await runGraph(buildClipText(w, clipParams(w), { fp8: 'table', compute }), { input_ids: idsFeed(IDS) });
    const err = relL2(out.pooled!.data as Float32Array, ref.pooled);
    assert.ok(err < (compute === 'float32' ? 1e-5 : 1e-2), `${compute}: relative L2 ${err}`);
  }
});

test('CLIP without config.json assumes 64-wide heads', () => {
  const s: Shape = { vocab: 20, hidden: 128, positions: 8, intermediate: 64, layers: 1 };
  const w = openComponent('clip', randomClip(s, 14).write(path.join(dir, 'bare-clip.safetensors')));
  const p = clipParams(w);
  assert.equal(p.numHeads, 2);
  assert.equal(p.headDim, 64);
  assert.equal(p.activation, 'quick_gelu');
  assert.equal(p.eosTokenId, 2);
  assert.equal(p.maxPositions, 8);
});

test('CLIP configs that contradict the weights fail with a sentence naming the field', () => {
  const file = randomClip(OTHER, 15).write(path.join(dir, 'bad-clip.safetensors'));
  const open = (extra: Record<string, unknown>) => clipParams(openComponent('clip', file, { config: configOf(OTHER, extra) }));
  assert.throws(() => open({ num_attention_heads: 5 }), /hidden size 48 does not split into 5 attention heads/);
  assert.throws(() => open({ hidden_size: 64 }), /'hidden_size' is 64, but the weights have 48/);
  assert.throws(() => open({ num_hidden_layers: 12 }), /'num_hidden_layers' is 12, but the weights have 3 encoder layers/);
  assert.throws(() => open({ max_position_embeddings: 77 }), /'max_position_embeddings' is 77/);
  assert.throws(() => open({ hidden_act: 'tanh' }), /'hidden_act' is 'tanh', which is not supported/);
  assert.throws(() => open({ eos_token_id: 'end' }), /'eos_token_id' must be an integer/);
  assert.throws(() => open({ num_attention_heads: 0 }), /'num_attention_heads' must be a positive integer/);
});
