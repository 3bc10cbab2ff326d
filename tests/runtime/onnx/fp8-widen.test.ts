// The CPU's 'widen' policy widens FP8 weights on every run by looking up byte pairs in a 65,536 × 2
// table (runtime/onnx/weights.ts), and gathers T5's FP8 embedding rows before widening them. Both
// must give exactly the values of the FP8 formats: every one of the 65,536 byte pairs is widened by
// a real onnxruntime session and compared with the format's definition, and the flux-tiny FP8
// transformer passes its goldens under the policy. The 'cast' policy widens once at load (Cast, or
// DequantizeLinear for scaled FP8, folded by onnxruntime): the same pairs, with and without a
// per-tensor scale, must come out bit for bit as 'widen' gives them, and folded (the optimized
// graph holds the float32 values).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphBuilder } from '../../../runtime/onnx/graph.js';
import { createSession } from '../../../runtime/onnx/session.js';
import type { TensorInfo, Weights } from '../../../runtime/onnx/tensor-source.js';
import { castSessionConfig, embeddingRows, fp8ToFloat, weightAsFloat, type WeightPolicy } from '../../../runtime/onnx/weights.js';
import { runConformance } from '../../../runtime/flux/conformance.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-fp8widen-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const WIDEN: WeightPolicy = { fp8: 'widen', compute: 'float32' };
const CAST: WeightPolicy = { fp8: 'cast', compute: 'float32' };
const NO_FOLDING = { 'optimization.disable_specified_optimizers': 'ConstantFolding' };
const ONLY = ['fwd_fp8', 't5', 'clip', 'pipe64x64'];

/** A one-tensor Weights over a raw file (the graph reads it as external data, like a checkpoint). */
function rawWeights(file: string, dtype: string, shape: number[], scale?: TensorInfo): Weights {
  const info: TensorInfo = { name: 'w', dtype, shape, file, offset: 0, length: fs.statSync(file).size } as TensorInfo;
  return {
    component: 'test', files: [file, ...(scale ? [scale.file] : [])], has: (k) => k === 'w', get: (k) => (k === 'w' ? info : undefined),
    require: (k) => { if (k !== 'w') throw new Error(`no ${k}`); return info; }, keys: () => ['w'], scaleOf: (k) => (k === 'w' ? scale : undefined),
  };
}

/** Every little-endian byte pair once: [256, 512] bytes. */
function allPairs(file: string): Uint8Array {
  const bytes = new Uint8Array(65536 * 2);
  for (let i = 0; i < 65536; i++) (bytes[2 * i] = i & 255), (bytes[2 * i + 1] = i >> 8);
  fs.writeFileSync(file, bytes);
  return bytes;
}

const same = (a: number, b: number) => (Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b));

for (const [dtype, kind] of [['F8_E4M3', 'e4m3'], ['F8_E5M2', 'e5m2']] as const) {
  test(`every ${kind} byte pair widens to the format's values (pair table and embedding rows)`, async () => {
    const file = path.join(tmp, `${kind}.bin`);
    const bytes = allPairs(file);
    const w = rawWeights(file, dtype, [256, 512]);
    const g = new GraphBuilder('widen');
    const ids = g.input('ids', 'int64', [3]);
    const full = weightAsFloat(g, w, 'w', WIDEN);
    g.output(full, 'full', 'float32', [256, 512]);
    g.output(embeddingRows(g, w, 'w', ids, WIDEN), 'rows', 'float32', [3, 512]);
    const ops = (g as unknown as { nodes: { op_type: string }[] }).nodes.map((n) => n.op_type);
    assert.ok(ops.includes('Gather') && !ops.includes('DequantizeLinear'), ops.join(' '));
    const s = await createSession(g.toBytes({ baseDir: tmp }), { baseDir: tmp, config: NO_FOLDING });
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

/** The weight widened by a real session under the policy, with the config sessions.ts gives it; and the optimized graph's size. */
async function widenWhole(w: Weights, policy: WeightPolicy, name: string): Promise<{ values: Float32Array; optimizedBytes: number }> {
  const g = new GraphBuilder('widen-whole');
  // Times a graph input of 1 (exact for every value, NaN and -0 included): a weight that is itself a
  // graph output is never folded.
  const one = g.input('one', 'float32', [1]);
  g.output(g.op('Mul', [weightAsFloat(g, w, 'w', policy), one]), 'y', 'float32', [256, 512]);
  const optimized = path.join(tmp, `${name}.optimized.onnx`);
  const config = policy.fp8 === 'cast' ? castSessionConfig(w) : NO_FOLDING;
  const s = await createSession(g.toBytes({ baseDir: tmp }), { baseDir: tmp, config, optimizedModelPath: optimized });
  try {
    const values = (await s.run({ one: { type: 'float32', dims: [1], data: Float32Array.of(1) } })).y!.data as Float32Array;
    return { values, optimizedBytes: fs.statSync(optimized).size };
  } finally {
    await s.release();
  }
}

for (const [dtype, kind] of [['F8_E4M3', 'e4m3'], ['F8_E5M2', 'e5m2']] as const) {
  test(`'cast' widens every ${kind} byte pair once at load, bit for bit as 'widen' does, unscaled and scaled`, async () => {
    const file = path.join(tmp, `cast-${kind}.bin`);
    const bytes = allPairs(file);
    const f32 = path.join(tmp, 'scale-f32.bin');
    fs.writeFileSync(f32, new Uint8Array(Float32Array.of(0.3).buffer));
    const f16 = path.join(tmp, 'scale-f16.bin');
    fs.writeFileSync(f16, new Uint8Array(Uint16Array.of(0x34cd).buffer)); // 0.300048828125
    const scales: { label: string; value: number; info?: TensorInfo }[] = [
      { label: 'unscaled', value: 1 },
      { label: 'F32 scalar scale', value: Math.fround(0.3), info: { name: 'w.scale_weight', dtype: 'F32', shape: [], file: f32, offset: 0, length: 4 } as TensorInfo },
      { label: 'F16 [1] scale', value: 0.300048828125, info: { name: 'w.scale_weight', dtype: 'F16', shape: [1], file: f16, offset: 0, length: 2 } as TensorInfo },
    ];
    for (const sc of scales) {
      const w = rawWeights(file, dtype, [256, 512], sc.info);
      const cast = await widenWhole(w, CAST, `cast-${kind}-${sc.label.replace(/\W/g, '')}`);
      const widen = await widenWhole(w, WIDEN, `widen-${kind}-${sc.label.replace(/\W/g, '')}`);
      // Folded at load: the optimized 'cast' graph carries the 131,072 values as float32 (its FP8
      // bytes stay external until folded). 'widen' carries only its 512 KB pair table.
      assert.ok(cast.optimizedBytes >= 4 * bytes.length, `${kind} ${sc.label}: 'cast' did not fold (optimized graph ${cast.optimizedBytes} bytes)`);
      assert.ok(widen.optimizedBytes < 6 * bytes.length, `${kind} ${sc.label}: 'widen' folded (optimized graph ${widen.optimizedBytes} bytes)`);
      let bad = 0;
      let unlike = 0;
      for (let i = 0; i < bytes.length; i++) {
        const want = Math.fround(Math.fround(fp8ToFloat(bytes[i]!, kind)) * sc.value);
        if (!same(cast.values[i]!, want)) bad++;
        if (!same(cast.values[i]!, widen.values[i]!)) unlike++;
      }
      assert.equal(bad, 0, `${kind} ${sc.label}: ${bad} of ${bytes.length} values differ from the format's`);
      assert.equal(unlike, 0, `${kind} ${sc.label}: ${unlike} of ${bytes.length} values differ between 'cast' and 'widen'`);
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
