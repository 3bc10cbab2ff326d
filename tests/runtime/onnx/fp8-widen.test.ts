// The CPU's 'widen' policy widens FP8 weights on every run by looking up byte pairs in a 65,536 × 2
// table (runtime/onnx/weights.ts), and gathers T5's FP8 embedding rows before widening them. Both
// must give exactly the values of the FP8 formats: every one of the 65,536 byte pairs is widened by
// a real onnxruntime session and compared with the format's definition, and the flux-tiny FP8
// transformer passes its goldens under the policy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../../runtime/onnx/graph.js';
import { createSession } from '../../../runtime/onnx/session.js';
import type { TensorInfo, Weights } from '../../../runtime/onnx/tensor-source.js';
import { embeddingRows, fp8ToFloat, weightAsFloat, type WeightPolicy } from '../../../runtime/onnx/weights.js';
import { runConformance } from '../../../runtime/flux/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-fp8widen-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const WIDEN: WeightPolicy = { fp8: 'widen', compute: 'float32' };
const ONLY = ['fwd_fp8', 't5', 'clip', 'pipe64x64'];

/** A one-tensor Weights over a raw file (the graph reads it as external data, like a checkpoint). */
function rawWeights(file: string, dtype: string, shape: number[]): Weights {
  const info: TensorInfo = { name: 'w', dtype, shape, file, offset: 0, length: fs.statSync(file).size } as TensorInfo;
  return {
    component: 'test', files: [file], has: (k) => k === 'w', get: (k) => (k === 'w' ? info : undefined),
    require: (k) => { if (k !== 'w') throw new Error(`no ${k}`); return info; }, keys: () => ['w'], scaleOf: () => undefined,
  };
}

const same = (a: number, b: number) => (Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b));

for (const [dtype, kind] of [['F8_E4M3', 'e4m3'], ['F8_E5M2', 'e5m2']] as const) {
  test(`every ${kind} byte pair widens to the format's values (pair table and embedding rows)`, async () => {
    const file = path.join(tmp, `${kind}.bin`);
    const bytes = new Uint8Array(65536 * 2);
    for (let i = 0; i < 65536; i++) (bytes[2 * i] = i & 255), (bytes[2 * i + 1] = i >> 8);
    fs.writeFileSync(file, bytes);
    const w = rawWeights(file, dtype, [256, 512]);
    const g = new GraphBuilder('widen');
    const ids = g.input('ids', 'int64', [3]);
    const full = weightAsFloat(g, w, 'w', WIDEN);
    g.output(full, 'full', 'float32', [256, 512]);
    g.output(embeddingRows(g, w, 'w', ids, WIDEN), 'rows', 'float32', [3, 512]);
    const ops = (g as unknown as { nodes: { op_type: string }[] }).nodes.map((n) => n.op_type);
    assert.ok(ops.includes('Gather') && !ops.includes('DequantizeLinear'), ops.join(' '));
    const s = await createSession(g.toBytes({ baseDir: tmp }), { baseDir: tmp, config: { 'optimization.disable_specified_optimizers': 'ConstantFolding' } });
    try {
      const rows = [0, 77, 255];
      const out = await s.run({ ids: { type: 'int64', dims: [3], data: BigInt64Array.from(rows, BigInt) } });
      const got = out.full!.data as Float32Array;
      let bad = 0;
      for (let i = 0; i < bytes.length; i++) if (!same(got[i]!, Math.fround(fp8ToFloat(bytes[i]!, kind)))) bad++;
      assert.equal(bad, 0, `${bad} of ${bytes.length} values differ`);
      const r = out.rows!.data as Float32Array;
      rows.forEach((row, j) => {
        for (let c = 0; c < 512; c++) assert.ok(same(r[j * 512 + c]!, got[row * 512 + c]!), `row ${row} column ${c}`);
      });
    } finally {
      await s.release();
    }
  });
}

test('the flux-tiny FP8 transformer and text encoders pass their goldens under the widen policy', async () => {
  const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const tiny = path.join(process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures'), 'flux-tiny');
  const report = await runConformance(tiny, { provider: 'cpu', policy: WIDEN, cacheDir: path.join(tmp, 'graphs'), only: ONLY });
  assert.deepEqual(Object.keys(report.cases).sort(), [...ONLY].sort());
  assert.ok(report.ok, JSON.stringify(report.cases));
});
