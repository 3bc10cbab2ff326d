// The built-graph cache: a graph is reused only for the same checkpoint (file identity and tensor
// layout), the same builder (version and source) and the same weight policy.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { openComponent } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { DEFAULT_MODEL_CONFIG } from '../../../runtime/flux/model-config.js';
import { layoutHash, loadComponent } from '../../../runtime/flux/sessions.js';
import { imageIds, textIds } from '../../../runtime/flux/sampling/pack.js';
import { runClip, runTransformer } from '../../../runtime/flux/stages.js';
import { graphKey } from '../../../runtime/onnx/session.js';
import { TINY, tempDir } from './builder-harness.js';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// Copies of the fixture CLIP (weights + config) that the test may rewrite.
function clipCopy(name: string): string {
  const file = path.join(dir, `${name}.safetensors`);
  fs.copyFileSync(path.join(TINY, 'tiny-clip_l.safetensors'), file);
  fs.copyFileSync(path.join(TINY, 'tiny-clip_l.config.json'), path.join(dir, `${name}.config.json`));
  return file;
}

async function pooled(file: string, cacheDir: string, policy?: { fp8: 'cast' | 'dequantize'; compute: 'float32' | 'float16' }) {
  const c = await loadComponent('clip', openComponent('clip', file), DEFAULT_MODEL_CONFIG, { cacheDir, ...(policy ? { policy } : {}) });
  try {
    const ids = BigInt64Array.from({ length: c.params.maxPositions }, (_, i) => BigInt((i * 7 + 3) % c.params.vocabSize));
    return { cached: c.cached, out: Array.from(await runClip(c.session, ids)) };
  } finally {
    await c.session.release();
  }
}

test('a built graph is reused for the same checkpoint and policy, rebuilt for another policy', async () => {
  const file = clipCopy('same');
  const cache = path.join(dir, 'graphs-same');
  const first = await pooled(file, cache);
  assert.equal(first.cached, false);
  const again = await pooled(file, cache);
  assert.equal(again.cached, true);
  assert.deepEqual(again.out, first.out);
  assert.equal(fs.readdirSync(cache).filter((f) => f.endsWith('.onnx')).length, 1);
  const f16 = await pooled(file, cache, { fp8: 'cast', compute: 'float16' });
  assert.equal(f16.cached, false);
  assert.equal(fs.readdirSync(cache).filter((f) => f.endsWith('.onnx')).length, 2);
});

test('a checkpoint rewritten with the same size and mtime but another tensor layout is not served a stale graph', async () => {
  const file = clipCopy('swapped');
  const cache = path.join(dir, 'graphs-swapped');
  const stamp = new Date('2026-01-01T00:00:00Z'); // whole seconds: utimes keeps them exactly
  fs.utimesSync(file, stamp, stamp);
  const before = await pooled(file, cache);
  const layoutBefore = layoutHash(openComponent('clip', file));

  // Swap the byte ranges of two same-shape tensors in the header (same header length, same file
  // size), then put the modification time back, as `cp -p` or `rsync -t` of another file would.
  const st = fs.statSync(file);
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { data_offsets: number[] }>;
  const q = 'encoder.layers.0.self_attn.q_proj.weight', v = 'encoder.layers.0.self_attn.v_proj.weight';
  [header[q]!.data_offsets, header[v]!.data_offsets] = [header[v]!.data_offsets, header[q]!.data_offsets];
  const text = Buffer.from(JSON.stringify(header).padEnd(n, ' '), 'utf8');
  assert.equal(text.length, n, 'the rewritten header keeps its length');
  text.copy(bytes, 8);
  fs.writeFileSync(file, bytes);
  fs.utimesSync(file, stamp, stamp);
  const now = fs.statSync(file);
  assert.deepEqual([now.size, now.mtimeMs], [st.size, st.mtimeMs]);

  assert.notEqual(layoutHash(openComponent('clip', file)), layoutBefore);
  const after = await pooled(file, cache);
  assert.equal(after.cached, false);
  assert.notDeepEqual(after.out, before.out);
  // What the cache now serves is what a fresh build gives.
  const fresh = await pooled(file, path.join(dir, 'graphs-fresh'));
  assert.deepEqual(after.out, fresh.out);
});

test('the graph key changes with the builder, its version, the files and their modification', () => {
  const file = clipCopy('key');
  const key = graphKey('clip', 1, [file], { a: 1 });
  assert.equal(graphKey('clip', 1, [file], { a: 1 }), key);
  assert.notEqual(graphKey('clip', 2, [file], { a: 1 }), key);
  assert.notEqual(graphKey('t5', 1, [file], { a: 1 }), key);
  assert.notEqual(graphKey('clip', 1, [file], { a: 2 }), key);
  const other = clipCopy('key-other');
  assert.notEqual(graphKey('clip', 1, [other], { a: 1 }), key);
  const st = fs.statSync(file);
  fs.utimesSync(file, st.atime, new Date(st.mtimeMs + 5000));
  assert.notEqual(graphKey('clip', 1, [file], { a: 1 }), key);
});

test('the table policy (GPU providers) keeps FP8 weights FP8 after load; the CPU\'s cast policy widens them once', async () => {
  // What stays resident is decided by what onnxruntime folds at load, the same on every provider:
  // the optimized graph shows it. FP8 weights kept as external data = 1 byte per parameter.
  const file = path.join(TINY, 'tiny-flux1-schnell-fp8-e4m3fn.safetensors');
  const w = openComponent('transformer', file);
  const fp8Bytes = w.keys().map((k) => w.get(k)!).filter((t) => t.dtype === 'F8_E4M3').reduce((a, t) => a + t.length, 0);
  assert.ok(fp8Bytes > 100_000, `the fixture has FP8 weights (${fp8Bytes} bytes)`);
  const cfg = { ...DEFAULT_MODEL_CONFIG, axes_dim: [8, 12, 12] };
  const cache = path.join(dir, 'graphs-fp8');
  const run = async (policy: { fp8: 'cast' | 'table'; compute: 'float32' }) => {
    const optimized = path.join(dir, `optimized-${policy.fp8}.onnx`);
    const c = await loadComponent('transformer', w, cfg, { policy, cacheDir: cache, optimizedModelPath: optimized });
    try {
      const p = c.params;
      const rows = 2, cols = 3, txt = 4;
      const fill = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * k) * 0.5);
      const out = await runTransformer(c.session, p, {
        img: fill(rows * cols * p.in_channels, 0.37), imgIds: imageIds(rows, cols, p.axes_dim.length),
        txt: fill(txt * p.context_in_dim, 0.91), txtIds: textIds(txt, p.axes_dim.length), y: fill(p.vec_in_dim, 1.3), t: 0.75,
      });
      return { out, inlined: fs.statSync(optimized).size };
    } finally {
      await c.session.release();
    }
  };
  const cast = await run({ fp8: 'cast', compute: 'float32' });
  const table = await run({ fp8: 'table', compute: 'float32' });
  // cast: the widened float32 weights are inlined into the optimized graph (4 bytes per parameter).
  assert.ok(cast.inlined > 3 * fp8Bytes, `cast folds FP8 to float32 at load (${cast.inlined} bytes inlined)`);
  // table: no widened copy; the weights stay external FP8 bytes, widened on every run.
  assert.ok(table.inlined < fp8Bytes / 2, `table keeps FP8 resident (${table.inlined} bytes inlined, FP8 weights ${fp8Bytes})`);
  // Both compute the same thing (the table is exact for every FP8 code).
  let maxDiff = 0;
  for (let i = 0; i < cast.out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(cast.out[i]! - table.out[i]!));
  assert.ok(maxDiff < 1e-5, `max |cast − table| = ${maxDiff}`);
});
