import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mt19937, randn, seedToUint32 } from '../../../../runtime/flux/sampling/noise.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
const fluxTiny = path.join(fixtures, 'flux-tiny');

/** Minimal safetensors reader for F32 goldens: u64 LE header length, JSON header, data. */
function readF32(file: string, name: string): { shape: number[]; data: Float32Array } {
  const buf = fs.readFileSync(file);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8'));
  const entry = header[name] as { dtype: string; shape: number[]; data_offsets: [number, number] };
  assert.equal(entry.dtype, 'F32', name);
  const [begin, end] = entry.data_offsets;
  const bytes = buf.subarray(8 + headerLength + begin, 8 + headerLength + end);
  return { shape: entry.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

const round4 = (a: Float32Array) => Array.from(a, (x) => Math.round(x * 1e4) / 1e4);

test('noise matches torch.randn of the reference pipeline goldens (seed, shape from goldens.json)', () => {
  const goldens = JSON.parse(fs.readFileSync(path.join(fluxTiny, 'goldens.json'), 'utf8'));
  const tolerance: number = goldens.tolerances.noise_max_abs;
  let checked = 0;
  for (const c of Object.values(goldens.cases) as { kind: string; width: number; height: number; seed: number; expect: { noise: string } }[]) {
    if (c.kind !== 'pipeline') continue;
    const ref = readF32(path.join(fluxTiny, goldens.goldens), c.expect.noise);
    const shape = [1, 16, 2 * Math.ceil(c.height / 16), 2 * Math.ceil(c.width / 16)];
    assert.deepEqual(shape, ref.shape);
    const ours = randn(shape, c.seed);
    assert.equal(ours.length, ref.data.length);
    let worst = 0;
    for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - ref.data[i]!));
    assert.ok(worst <= tolerance, `${c.expect.noise}: max abs error ${worst} > ${tolerance}`);
    assert.ok(worst < 1e-6, `${c.expect.noise}: max abs error ${worst} (expected float-rounding level)`);
    checked++;
  }
  assert.ok(checked >= 2);
});

test('MT19937 is the standard generator (std::mt19937 and torch seeding)', () => {
  const byDefault = new Mt19937(5489);
  assert.equal(byDefault.next(), 3499211612);
  for (let i = 2; i < 10000; i++) byDefault.next();
  assert.equal(byDefault.next(), 4123659995, 'the C++ standard fixes the 10000th output');
  const g = new Mt19937(42);
  assert.deepEqual([g.next(), g.next(), g.next()], [1608637542, 3421126067, 4083286876]);
});

test('fewer than 16 values use the double-precision scalar path (known torch outputs)', () => {
  // torch.manual_seed(s); torch.randn(...), printed to 4 decimals.
  assert.deepEqual(round4(randn([2, 3], 0)), [1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986]);
  assert.deepEqual(round4(randn([2, 3], 42)), [0.3367, 0.1288, 0.2345, 0.2303, -1.1229, -0.1863]);
  assert.deepEqual(round4(randn([1], 0)), [1.541]);
  assert.deepEqual(round4(randn([], 42)), [0.3367], 'a scalar is one value');
  assert.equal(randn([0, 4], 1).length, 0);
  // Box–Muller pairs: the cached sine half is the next value, so a prefix of a longer draw is stable.
  assert.deepEqual(Array.from(randn([5], 7)).slice(0, 4), Array.from(randn([4], 7)));
});

test('16 or more values use normal_fill (known torch outputs)', () => {
  assert.deepEqual(round4(randn([4, 4], 42)), [
    1.9269, 1.4873, 0.9007, -2.1055, 0.6784, -1.2345, -0.0431, -1.6047, -0.7521, 1.6487, -0.3925, -1.4036, -0.7279, -0.5594, -0.7688, 0.7624,
  ]);
  assert.deepEqual(round4(randn([4, 4], 0)), [
    -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081, 0.1198, 1.2377, 1.1168, -0.2473,
  ]);
});

test('a ragged end redraws the last 16 values; full blocks before it are unchanged', () => {
  const whole = randn([32], 3);
  const ragged = randn([20], 3);
  const first = randn([16], 3);
  assert.deepEqual(Array.from(whole.slice(0, 16)), Array.from(first), 'blocks are independent of the length');
  assert.deepEqual(Array.from(ragged.slice(0, 4)), Array.from(first.slice(0, 4)), 'values before the redone block stay');
  assert.notDeepEqual(Array.from(ragged.slice(4, 16)), Array.from(first.slice(4, 16)), 'the last 16 are redrawn');
  assert.notDeepEqual(Array.from(ragged.slice(16, 20)), Array.from(whole.slice(16, 20)));
  assert.ok(ragged.every(Number.isFinite));
});

test('seeds: 64-bit values reduce to their low 32 bits as torch does; bad seeds and shapes are refused', () => {
  assert.deepEqual(randn([16], 2 ** 32 + 5), randn([16], 5));
  assert.deepEqual(randn([16], 2n ** 64n - 1n), randn([16], 2 ** 32 - 1));
  assert.deepEqual(randn([16], -1), randn([16], 4294967295));
  assert.equal(seedToUint32(4294967295), 4294967295);
  assert.notDeepEqual(randn([16], 1), randn([16], 2));
  assert.deepEqual(randn([1, 16, 8, 8], 123), randn([1, 16, 8, 8], 123), 'deterministic');
  assert.throws(() => randn([16], 1.5), /not an integer/);
  assert.throws(() => randn([16], Number.NaN), /not an integer/);
  assert.throws(() => randn([16], 2n ** 64n), /does not fit in 64 bits/);
  assert.throws(() => randn([4, -1], 1), /non-negative whole numbers/);
  assert.throws(() => randn([2.5], 1), /non-negative whole numbers/);
});

test('values are standard normal', () => {
  const x = randn([1, 16, 128, 128], 2024);
  let sum = 0;
  let sq = 0;
  for (const v of x) (sum += v), (sq += v * v);
  const mean = sum / x.length;
  const std = Math.sqrt(sq / x.length - mean * mean);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
});
