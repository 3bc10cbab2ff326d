import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfgCombine, createSampler, isSamplerName, SAMPLER_NAMES, type SamplerName } from '../../../../runtime/flux/sampling/samplers.js';
import { getSchedule } from '../../../../runtime/flux/sampling/schedule.js';
import { randn } from '../../../../runtime/flux/sampling/noise.js';

// Gaussian data: x0 ~ N(mu, s²) per dimension, noise ~ N(0, 1), x_t = (1 − t)·x0 + t·noise.
// x_t ~ N((1 − t)·mu, V) with V(t) = (1 − t)²s² + t², so
//   E[x0 | x_t]    = mu + (1 − t)s²/V · (x_t − (1 − t)mu)
//   E[noise | x_t] = t/V · (x_t − (1 − t)mu)
//   v(x, t) = E[noise | x_t] − E[x0 | x_t] = (t − (1 − t)s²)/V · (x − (1 − t)mu) − mu,
// and the flow's ODE from x_1 = z is x_t = (1 − t)·mu + sqrt(V(t))·z (differentiate: it is v), so
// the exact sample at t = 0 is mu + s·z.
const D = 256;
const z = randn([D], 1);
const mu = Float64Array.from({ length: D }, (_, i) => Math.sin(1 + i * 1.7));
const s = Float64Array.from({ length: D }, (_, i) => 0.5 + ((i * 0.618034) % 1));
const exact = Float64Array.from(z, (zi, i) => mu[i]! + s[i]! * zi);

function velocity(x: Float32Array, t: number, sd: Float64Array = s): Float32Array {
  return Float32Array.from(x, (xi, i) => {
    const V = (1 - t) ** 2 * sd[i]! ** 2 + t * t;
    return ((t - (1 - t) * sd[i]! ** 2) / V) * (xi - (1 - t) * mu[i]!) - mu[i]!;
  });
}

/** RMS error at t = 0 after integrating from z with `steps` model calls. */
function rmsError(name: SamplerName, steps: number, shift: boolean): number {
  const ts = getSchedule(steps, 4096, { shift });
  const sampler = createSampler(name, ts);
  const x = Float32Array.from(z);
  for (let i = 0; i < steps; i++) sampler.step(x, velocity(x, ts[i]!), i);
  let sq = 0;
  for (let i = 0; i < D; i++) sq += (x[i]! - exact[i]!) ** 2;
  return Math.sqrt(sq / D);
}

const STEPS = [8, 16, 32, 64, 128, 256];

test('Gaussian data, schnell schedule: DPM-Solver++(2M) beats Euler and converges at second order', () => {
  const euler = STEPS.map((n) => rmsError('K_EULER', n, false));
  const dpm = STEPS.map((n) => rmsError('K_DPMPP_2M', n, false));
  STEPS.forEach((n, k) => assert.ok(dpm[k]! < euler[k]!, `${n} steps: DPM++ ${dpm[k]} vs Euler ${euler[k]}`));
  for (let k = 1; k < STEPS.length; k++) {
    const ratio = euler[k - 1]! / euler[k]!;
    assert.ok(ratio > 1.8 && ratio < 2.2, `Euler ${STEPS[k - 1]}→${STEPS[k]} steps: error ratio ${ratio} (first order ≈ 2)`);
  }
  // Uniform t-steps are O(1) steps in lambda near t = 0 and 1, which adds a log factor: ratios
  // approach 4 from about 3.2 at these step counts.
  for (let k = 3; k < STEPS.length; k++) {
    const ratio = dpm[k - 1]! / dpm[k]!;
    assert.ok(ratio > 3, `DPM++ ${STEPS[k - 1]}→${STEPS[k]} steps: error ratio ${ratio} (second order ≈ 4)`);
  }
  assert.ok(dpm[5]! < euler[5]! / 50, 'at 256 steps DPM++ is far more accurate');
});

test('Gaussian data, shifted (dev) schedule: DPM++ still beats Euler and gains more per doubling', () => {
  const euler = STEPS.map((n) => rmsError('K_EULER', n, true));
  const dpm = STEPS.map((n) => rmsError('K_DPMPP_2M', n, true));
  STEPS.forEach((n, k) => assert.ok(dpm[k]! < euler[k]!, `${n} steps: DPM++ ${dpm[k]} vs Euler ${euler[k]}`));
  const eulerGain = euler[2]! / euler[5]!; // 32 → 256 steps
  const dpmGain = dpm[2]! / dpm[5]!;
  assert.ok(eulerGain > 7 && eulerGain < 9, `Euler gain over three doublings ${eulerGain} (≈ 8)`);
  assert.ok(dpmGain > 15, `DPM++ gain over three doublings ${dpmGain}`);
  assert.ok(dpm[4]! / dpm[5]! > 2.8, `DPM++ 128→256 steps ratio ${dpm[4]! / dpm[5]!}`);
});

test('a straight flow (point-mass data) is integrated exactly by both samplers on any schedule', () => {
  const point = new Float64Array(D); // s = 0: every path is the line from z to mu
  for (const name of SAMPLER_NAMES) {
    for (const ts of [getSchedule(3, 4096, { shift: true }), [1, 0.9, 0.35, 0.2, 0], [0.8, 0.3, 0]]) {
      const sampler = createSampler(name, ts);
      const start = ts[0]!;
      const x = Float32Array.from(z, (zi, i) => (1 - start) * mu[i]! + start * zi);
      for (let i = 0; i + 1 < ts.length; i++) sampler.step(x, velocity(x, ts[i]!, point), i);
      x.forEach((xi, i) => assert.ok(Math.abs(xi - mu[i]!) < 1e-5, `${name} ${ts}: ${xi} vs ${mu[i]}`));
    }
  }
});

test('Euler is x += (t_next − t)·v; the last DPM++ step to t = 0 returns the denoised estimate x − t·v', () => {
  const ts = [1, 0.75, 0.5, 0.25, 0];
  const euler = createSampler('K_EULER', ts);
  const x = Float32Array.from([1, -2, 0.5]);
  euler.step(x, Float32Array.from([2, 4, -1]), 0);
  assert.deepEqual(Array.from(x), [0.5, -3, 0.75]);
  euler.step(x, Float32Array.from([1, 1, 1]), 1);
  assert.deepEqual(Array.from(x), [0.25, -3.25, 0.5]);

  const oneStep = createSampler('K_DPMPP_2M', [1, 0]);
  const y = Float32Array.from([3, -1]);
  oneStep.step(y, Float32Array.from([1, 2]), 0);
  assert.deepEqual(Array.from(y), [2, -3]);

  // First step from t = 1 (lambda = −∞) is the exact first-order update t'·x + (1 − t')·denoised.
  const dpm = createSampler('K_DPMPP_2M', [1, 0.6, 0]);
  const w = Float32Array.from([3, -1]);
  dpm.step(w, Float32Array.from([1, 2]), 0);
  assert.ok(Math.abs(w[0]! - (0.6 * 3 + 0.4 * 2)) < 1e-6 && Math.abs(w[1]! - (0.6 * -1 + 0.4 * -3)) < 1e-6);
});

test('samplers are stateful steppers: in order, restartable, size-checked', () => {
  const ts = getSchedule(4, 256, { shift: false });
  const run = (sampler: ReturnType<typeof createSampler>) => {
    const x = Float32Array.from(z);
    for (let i = 0; i < 4; i++) sampler.step(x, velocity(x, ts[i]!), i);
    return x;
  };
  const sampler = createSampler('K_DPMPP_2M', ts);
  assert.equal(sampler.steps, 4);
  assert.equal(sampler.name, 'K_DPMPP_2M');
  assert.deepEqual(sampler.timesteps, ts);
  const first = run(sampler);
  assert.deepEqual(run(sampler), first, 'step 0 starts a fresh run');
  assert.deepEqual(run(createSampler('K_DPMPP_2M', ts)), first);

  const x = Float32Array.from(z);
  sampler.step(x, velocity(x, ts[0]!), 0);
  assert.throws(() => sampler.step(x, velocity(x, ts[2]!), 2), /out of order; expected step 1/);
  assert.throws(() => sampler.step(x, new Float32Array(3), 1), /differ in size/);
  assert.throws(() => sampler.step(x, velocity(x, ts[0]!), 4), /outside 0…3/);
  assert.throws(() => sampler.step(x, velocity(x, ts[0]!), -1), /outside 0…3/);
  const short = new Float32Array(8);
  assert.throws(() => sampler.step(short, new Float32Array(8), 1), /changed size/);
});

test('unknown samplers and bad timesteps are refused with a sentence', () => {
  assert.ok(isSamplerName('K_EULER') && isSamplerName('K_DPMPP_2M'));
  assert.ok(!isSamplerName('k_euler') && !isSamplerName(null));
  assert.throws(() => createSampler('DDIM', [1, 0]), /Unknown sampler "DDIM"; use one of K_EULER, K_DPMPP_2M/);
  assert.throws(() => createSampler('K_EULER', [1]), /at least two timesteps/);
  assert.throws(() => createSampler('K_EULER', [1, 0.5, 0.5, 0]), /decrease strictly; timestep 2/);
  assert.throws(() => createSampler('K_EULER', [0, 0.5, 1]), /decrease strictly/);
  assert.throws(() => createSampler('K_DPMPP_2M', [1.5, 0]), /must lie in \[0, 1\]/);
  assert.throws(() => createSampler('K_DPMPP_2M', [1, Number.NaN, 0]), /must lie in \[0, 1\]/);
});

test('classifier-free guidance: neg + scale·(pos − neg)', () => {
  const neg = Float32Array.from([1, 2, -3]);
  const pos = Float32Array.from([2, 0, -1]);
  assert.deepEqual(Array.from(cfgCombine(neg, pos, 3.5)), [4.5, -5, 4]);
  assert.deepEqual(Array.from(cfgCombine(neg, pos, 1)), Array.from(pos));
  assert.deepEqual(Array.from(cfgCombine(neg, pos, 0)), Array.from(neg));
  const out = new Float32Array(3);
  assert.equal(cfgCombine(neg, pos, 2, out), out, 'writes into the given array');
  assert.deepEqual(Array.from(out), [3, -2, 1]);
  assert.deepEqual(Array.from(cfgCombine(neg, pos, 2, neg)), [3, -2, 1], 'may overwrite the negative prediction');
  assert.throws(() => cfgCombine(neg, new Float32Array(2), 2), /equal-length/);
  assert.throws(() => cfgCombine(neg, pos, Number.POSITIVE_INFINITY), /not a finite number/);
});
