// Samplers for the rectified flow x_t = (1 − t)·x0 + t·noise, whose model predicts the velocity
// v = noise − x0 and is integrated from t = 1 to t = 0. A sampler knows nothing of the model: the
// pipeline asks the model for v at (x, t[i]) and hands it to `step(x, v, i)`, which moves x to t[i+1].

// The names are the API's (one list for the schema, the pipeline and the CLI).
export { SAMPLERS as SAMPLER_NAMES, type Sampler as SamplerName } from '../../api/request.js';
import { SAMPLERS as SAMPLER_NAMES, type Sampler as SamplerName } from '../../api/request.js';

export interface Sampler {
  readonly name: SamplerName;
  readonly timesteps: readonly number[];
  /** Model evaluations needed: timesteps.length − 1. */
  readonly steps: number;
  /**
   * Moves `x` (in place) from timesteps[i] to timesteps[i+1], given `v` = model(x, timesteps[i]).
   * Steps run in order 0, 1, 2, …; calling step 0 again starts over.
   */
  step(x: Float32Array, v: Float32Array, i: number): void;
}

export function isSamplerName(name: unknown): name is SamplerName {
  return typeof name === 'string' && (SAMPLER_NAMES as readonly string[]).includes(name);
}

export function createSampler(name: string, timesteps: readonly number[]): Sampler {
  if (!isSamplerName(name)) throw new RangeError(`Unknown sampler "${name}"; use one of ${SAMPLER_NAMES.join(', ')}.`);
  checkTimesteps(timesteps);
  const ts = Object.freeze([...timesteps]);
  const order = new StepOrder(ts.length - 1);
  const base = { name, timesteps: ts, steps: ts.length - 1 };
  if (name === 'K_EULER') {
    return {
      ...base,
      step(x, v, i) {
        order.enter(i, x, v);
        const dt = ts[i + 1]! - ts[i]!;
        for (let k = 0; k < x.length; k++) x[k] = x[k]! + dt * v[k]!;
      },
    };
  }
  return dpmpp2m(base, ts, order);
}

/**
 * DPM-Solver++(2M) in data prediction, for flow matching: sigma = t, alpha = 1 − t,
 * lambda = log(alpha / sigma), denoised x0 = x − t·v (as k-diffusion / diffusers with flow sigmas).
 * The first step (from t = 1, where lambda = −∞) and a last step to t = 0 are first order; the
 * last one returns the denoised estimate itself.
 */
function dpmpp2m(base: Omit<Sampler, 'step'>, ts: readonly number[], order: StepOrder): Sampler {
  let previous: Float64Array | null = null; // denoised estimate of the previous step
  let previousH = Number.NaN; // its lambda step
  const lambda = (t: number) => Math.log((1 - t) / t);
  return {
    ...base,
    step(x, v, i) {
      if (order.enter(i, x, v)) previous = null;
      const t = ts[i]!;
      const tNext = ts[i + 1]!;
      const denoised = new Float64Array(x.length);
      for (let k = 0; k < x.length; k++) denoised[k] = x[k]! - t * v[k]!;
      if (tNext === 0) {
        for (let k = 0; k < x.length; k++) x[k] = denoised[k]!;
      } else {
        const h = lambda(tNext) - lambda(t); // +∞ from t = 1
        const sigmaRatio = tNext / t;
        const coef = -(1 - tNext) * Math.expm1(-h);
        // 1/(2r) with r = h_prev/h; zero after the infinite first step, which makes this step first order.
        const w = previous && Number.isFinite(previousH) ? h / (2 * previousH) : 0;
        for (let k = 0; k < x.length; k++) {
          const d = w === 0 ? denoised[k]! : (1 + w) * denoised[k]! - w * previous![k]!;
          x[k] = sigmaRatio * x[k]! + coef * d;
        }
        previousH = h;
      }
      previous = denoised;
    },
  };
}

/** Classifier-free guidance: neg + scale·(pos − neg), into `out` (a new array by default). */
export function cfgCombine(neg: Float32Array, pos: Float32Array, scale: number, out = new Float32Array(neg.length)): Float32Array {
  if (neg.length !== pos.length || out.length !== neg.length) {
    throw new RangeError(`Guidance needs equal-length predictions (negative ${neg.length}, positive ${pos.length}, output ${out.length}).`);
  }
  if (!Number.isFinite(scale)) throw new RangeError(`The guidance scale ${scale} is not a finite number.`);
  for (let k = 0; k < neg.length; k++) out[k] = neg[k]! + scale * (pos[k]! - neg[k]!);
  return out;
}

function checkTimesteps(ts: readonly number[]): void {
  if (ts.length < 2) throw new RangeError('A sampler needs at least two timesteps (one step).');
  for (let i = 0; i < ts.length; i++) {
    const t = ts[i]!;
    if (!Number.isFinite(t) || t < 0 || t > 1) throw new RangeError(`Timestep ${i} (${t}) must lie in [0, 1].`);
    if (i > 0 && !(t < ts[i - 1]!)) throw new RangeError(`Timesteps must decrease strictly; timestep ${i} (${t}) does not.`);
  }
}

/** Keeps steps in order and the arrays matched; returns true when a run (re)starts at step 0. */
class StepOrder {
  private next = 0;
  private length = -1;
  constructor(private readonly steps: number) {}
  enter(i: number, x: Float32Array, v: Float32Array): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.steps) throw new RangeError(`Step ${i} is outside 0…${this.steps - 1}.`);
    if (x.length !== v.length) throw new RangeError(`The latents (${x.length} values) and the velocity (${v.length}) differ in size.`);
    if (i === 0) {
      this.length = x.length;
      this.next = 1;
      return true;
    }
    if (i !== this.next) throw new RangeError(`Step ${i} came out of order; expected step ${this.next} (start again with step 0).`);
    if (x.length !== this.length) throw new RangeError(`The latents changed size between steps (${this.length} → ${x.length}).`);
    this.next = i + 1;
    return false;
  }
}
