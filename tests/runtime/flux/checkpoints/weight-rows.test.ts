import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RowSlicedWeights } from '../../../../runtime/flux/checkpoints/weight-rows.js';
import type { TensorInfo, Weights } from '../../../../runtime/onnx/tensor-source.js';

function weightsOf(tensors: TensorInfo[], scales: Record<string, TensorInfo> = {}): Weights {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  return {
    component: 'transformer',
    files: ['/m/a.safetensors'],
    has: (k) => byName.has(k),
    get: (k) => byName.get(k),
    require(k) {
      const t = byName.get(k);
      if (!t) throw new Error(`no tensor ${k}`);
      return t;
    },
    keys: () => [...byName.keys()],
    scaleOf: (k) => scales[k],
  };
}

test('row ranges of a single byte range are consecutive byte ranges with their own shapes', () => {
  const qkv: TensorInfo = { name: 'qkv.weight', dtype: 'BF16', shape: [12, 4], file: '/m/a.safetensors', offset: 1000, length: 96 };
  const scale: TensorInfo = { name: 'qkv.scale_weight', dtype: 'F32', shape: [], file: '/m/a.safetensors', offset: 8, length: 4 };
  const w = new RowSlicedWeights(weightsOf([qkv], { 'qkv.weight': scale }));
  const [q, k, v] = w.rows('qkv.weight', [4, 4, 4]) as [string, string, string];
  assert.deepEqual([q, k, v].map((key) => [w.require(key).offset, w.require(key).length, w.require(key).shape]), [
    [1000, 32, [4, 4]], [1032, 32, [4, 4]], [1064, 32, [4, 4]],
  ]);
  assert.ok(w.has(k) && !w.has('qkv.weight[0:5]'));
  assert.equal(w.scaleOf(v), scale, 'a slice keeps its tensor\'s scale');
  assert.deepEqual(w.rows('qkv.weight', [4, 4, 4]), [q, k, v], 'asking again gives the same keys');
  assert.throws(() => w.rows('qkv.weight', [4, 4]), /do not cover/);
  assert.throws(() => w.rows('missing.weight', [1]), /no tensor missing\.weight/);
});

test('row ranges of a tensor stored in parts map onto the parts', () => {
  // A diffusers-style qkv: to_q, to_k, to_v stored separately (F32, 2 columns = 8 bytes a row).
  const part = (name: string, offset: number, rows: number) => ({ name, file: `/m/${name}.safetensors`, offset, length: rows * 8, shape: [rows, 2] });
  const qkv: TensorInfo = {
    name: 'qkv.weight', dtype: 'F32', shape: [9, 2], file: '/m/to_q.safetensors', offset: -1, length: 72,
    parts: [part('to_q', 100, 3), part('to_k', 500, 3), part('to_v', 900, 3)],
  };
  const w = new RowSlicedWeights(weightsOf([qkv]));
  const [q, k, v] = w.rows('qkv.weight', [3, 3, 3]).map((key) => w.require(key));
  assert.deepEqual([q!.file, q!.offset, k!.file, k!.offset, v!.file, v!.offset], ['/m/to_q.safetensors', 100, '/m/to_k.safetensors', 500, '/m/to_v.safetensors', 900]);
  assert.ok(!q!.parts && !v!.parts);
  // A range across a part boundary stays in parts, trimmed to the rows asked for.
  const [, across] = w.rows('qkv.weight', [2, 5, 2]).map((key) => w.require(key));
  assert.equal(across!.offset, -1);
  assert.deepEqual(across!.parts!.map((p) => [p.name, p.offset, p.length, p.shape[0]]), [['to_q', 116, 8, 1], ['to_k', 500, 24, 3], ['to_v', 900, 8, 1]]);
  assert.equal(across!.length, 40);
});
