// The transformer under the CPU's 'widen' policy runs block by block with worker-widened FP8
// weights (runtime/flux/transformer-streamed.ts). It must compute what the whole graph computes:
// checked against an independent float64 forward of the values the FP8 file holds (scaled and
// unscaled, with and without double or single blocks, guidance, two batch sizes and token counts
// in one session, so the next run's prefetched first block is used), against the whole graph
// widening inside onnxruntime, and for what a damaged file does mid-run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadComponent } from '../../../runtime/flux/sessions.js';
import { openComponent } from '../../../runtime/flux/checkpoints/checkpoint.js';
import { writeSafetensors } from '../../../runtime/flux/checkpoints/safetensors.js';
import { StreamedTransformer } from '../../../runtime/flux/transformer-streamed.js';
import type { WeightPolicy } from '../../../runtime/onnx/weights.js';
import { referenceForward } from './flux-reference.js';
import { randomInputs, randomTransformer, relL2, type TinySpec } from './transformer-harness.js';

const WIDEN: WeightPolicy = { fp8: 'widen', compute: 'float32' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-streamed-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const axes_dim = [4, 6, 6];

function runnerOf(session: unknown): StreamedTransformer | undefined {
  const r = (session as { runner?: unknown }).runner;
  return r instanceof StreamedTransformer ? r : undefined;
}

const cases: { name: string; spec: TinySpec; scaled: boolean }[] = [
  { name: 'scaled FP8, guidance, 2 double + 3 single blocks', spec: { hidden: 48, heads: 3, mlp: 80, inC: 12, outC: 20, vec: 10, ctx: 14, tdim: 64, depth: 2, single: 3, qkvBias: true, guidance: true }, scaled: true },
  { name: 'FP8 without scales, single blocks only', spec: { hidden: 32, heads: 2, mlp: 64, inC: 8, outC: 8, vec: 6, ctx: 5, tdim: 32, depth: 0, single: 2, qkvBias: true, guidance: false }, scaled: false },
  { name: 'FP8 without scales, one double block only', spec: { hidden: 32, heads: 2, mlp: 48, inC: 8, outC: 12, vec: 6, ctx: 5, tdim: 32, depth: 1, single: 0, qkvBias: true, guidance: false }, scaled: false },
];

for (const c of cases) {
  test(`block by block: ${c.name} — matches the float64 forward and the whole graph, run after run`, async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'm-'));
    const file = path.join(dir, 'flux.safetensors');
    const { tensors, reference } = randomTransformer(c.spec, 11, { fp8: true, scaled: c.scaled });
    writeSafetensors(file, tensors);
    const w = openComponent('transformer', file);
    const config = { axes_dim, theta: 1000 } as never;
    const streamed = await loadComponent('transformer', w, config, { policy: WIDEN, cacheDir: path.join(dir, 'graphs'), threads: 2 });
    const whole = await loadComponent('transformer', w, config, { policy: WIDEN, cacheDir: path.join(dir, 'graphs'), threads: 2, streamTransformer: false });
    const runner = runnerOf(streamed.session);
    assert.ok(runner, 'the FP8 transformer under widen loads block by block');
    assert.equal(runnerOf(whole.session), undefined);
    const blocks = c.spec.depth + c.spec.single;
    const seen: [number, number][] = [];
    runner.onProgress = (done, total) => seen.push([done, total]);
    try {
      for (const [B, N, L, seed] of [[2, 9, 4, 99], [1, 6, 7, 5], [1, 6, 7, 5]] as const) {
        seen.length = 0;
        const { inputs, feeds } = randomInputs(c.spec, B, N, L, seed);
        const out = (await streamed.session.run(feeds)).out!;
        assert.deepEqual(out.dims, [B, N, c.spec.outC]);
        const got = out.data as Float32Array;
        assert.ok(got.every(Number.isFinite));
        const ref = referenceForward(reference, { hidden: c.spec.hidden, heads: c.spec.heads, axes_dim, theta: 1000, depth: c.spec.depth, single: c.spec.single, guidance: c.spec.guidance }, inputs);
        const err = relL2(got, ref);
        assert.ok(err < 1e-4, `B=${B} N=${N} L=${L}: relative L2 vs float64 ${err}`);
        const wholeOut = (await whole.session.run(feeds)).out!.data as Float32Array;
        const diff = relL2(got, wholeOut);
        assert.ok(diff < 1e-5, `relative L2 vs the whole graph ${diff}`);
        // One progress call per block, in order, with the blocks per run as the total.
        assert.deepEqual(seen, Array.from({ length: blocks }, (_, i) => [i + 1, blocks]));
        if (B === 2) assert.ok(relL2(got.subarray(0, N * c.spec.outC), got.subarray(N * c.spec.outC)) > 1e-2, 'batch elements differ');
      }
    } finally {
      await Promise.all([streamed.session.release(), whole.session.release()]);
    }
  });
}

test('a weight file replaced by a truncated copy after loading fails the run with one sentence naming it, and the session still releases', async () => {
  const spec: TinySpec = { hidden: 32, heads: 2, mlp: 64, inC: 8, outC: 8, vec: 6, ctx: 5, tdim: 32, depth: 1, single: 2, qkvBias: true, guidance: false };
  const dir = fs.mkdtempSync(path.join(tmp, 'cut-'));
  const file = path.join(dir, 'flux.safetensors');
  writeSafetensors(file, randomTransformer(spec, 5, { fp8: true }).tensors);
  const w = openComponent('transformer', file);
  const loaded = await loadComponent('transformer', w, { axes_dim: [4, 6, 6], theta: 1000 } as never, { policy: WIDEN, cacheDir: path.join(dir, 'graphs'), threads: 2 });
  assert.ok(runnerOf(loaded.session));
  const { feeds } = randomInputs(spec, 1, 4, 3, 1);
  try {
    await loaded.session.run(feeds);
    // A copy cut inside the last single block's linear2 replaces the file (a rename: the sessions'
    // mappings keep the old file, the workers open the path and read the new one). Truncating the
    // mapped file itself would be SIGBUS, as for any memory-mapped model.
    const cut = w.require('single_blocks.1.linear2.weight');
    fs.writeFileSync(`${file}.new`, fs.readFileSync(file).subarray(0, cut.offset + 3));
    fs.renameSync(`${file}.new`, file);
    await assert.rejects(loaded.session.run(feeds), (e: Error) => {
      assert.match(e.message, /flux\.safetensors/);
      assert.match(e.message, /ended \d+ bytes early|truncated/);
      return true;
    });
  } finally {
    await loaded.session.release();
  }
});
