// Timesteps of the rectified flow, as Black Forest Labs' `get_schedule` (flux/sampling.py) computes
// them in float32 torch: linspace(1, 0, steps + 1), then — for guidance-distilled models such as
// FLUX.1 [dev] — a shift towards t = 1 that grows with the image's token count. Schnell uses no shift.

export interface ScheduleOptions {
  /** Shift the schedule (FLUX.1 dev); schnell passes false. */
  shift: boolean;
  /** mu at 256 image tokens. */
  baseShift?: number;
  /** mu at 4096 image tokens. */
  maxShift?: number;
}

const f32 = Math.fround;

/** `torch.linspace(start, end, steps)` in float32 (both halves counted from their own end, as ATen does). */
export function linspace32(start: number, end: number, steps: number): number[] {
  if (steps === 1) return [f32(start)];
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)))));
}

/** mu on the line through (256, baseShift) and (4096, maxShift), as BFL's `get_lin_function`. */
export function shiftMu(imageSeqLen: number, baseShift = 0.5, maxShift = 1.15): number {
  const m = (maxShift - baseShift) / (4096 - 256);
  const b = baseShift - m * 256;
  return m * imageSeqLen + b;
}

/** BFL `time_shift(mu, sigma, t)` = e^mu / (e^mu + (1/t − 1)^sigma), in float32 like the torch tensor ops. */
export function timeShift(mu: number, sigma: number, t: number): number {
  const em = f32(Math.exp(mu));
  const ratio = f32(f32(1 / t) - 1);
  const powered = sigma === 1 ? ratio : f32(ratio ** sigma);
  return f32(em / f32(em + powered));
}

/** Image tokens of a FLUX latent: one per 16×16 pixel patch (2×2 patches of the 8× latent). */
export function imageSeqLen(width: number, height: number): number {
  return Math.ceil(height / 16) * Math.ceil(width / 16);
}

/** `numSteps + 1` timesteps from 1 down to 0; the sampler steps from t[i] to t[i+1]. */
export function getSchedule(numSteps: number, imageSeqLen: number, opts: ScheduleOptions): number[] {
  if (!Number.isInteger(numSteps) || numSteps < 1) throw new RangeError(`The step count ${numSteps} must be a whole number of at least 1.`);
  const t = linspace32(1, 0, numSteps + 1);
  if (!opts.shift) return t;
  if (!(imageSeqLen > 0)) throw new RangeError(`The image token count ${imageSeqLen} must be positive to shift the schedule.`);
  const mu = shiftMu(imageSeqLen, opts.baseShift ?? 0.5, opts.maxShift ?? 1.15);
  return t.map((x) => timeShift(mu, 1.0, x));
}
