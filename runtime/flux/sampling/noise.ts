// Initial latent noise identical to
//   torch.randn(shape, generator=torch.Generator("cpu").manual_seed(seed))   (float32)
// so a seed gives the same image here as in the reference CLI and ComfyUI. torch's CPU generator is
// MT19937; its normal sampler has two paths (ATen DistributionTemplates.h / DistributionsHelper.h):
//  - 16 or more values: `normal_fill` — one 24-bit float uniform per value, then Box–Muller on
//    blocks of 16 (u1 = 1 − a[j], u2 = a[j+8]); a ragged end redraws and redoes the last 16.
//  - fewer than 16: `normal_distribution<double>` per value — two 53-bit uniforms (random64),
//    r = sqrt(−2·log1p(−u2)), θ = 2π·u1, returning r·cos θ and caching r·sin θ for the next value.
// torch's vectorized (AVX2) kernel does the Box–Muller steps in float32 with its own log/sincos
// approximations; we round every step to float32 as it does but use exact log/sin/cos, which lands
// within ~2.4e-7 of it (plain double precision would be within ~1e-6).

const N = 624;
const M = 397;

/** MT19937 exactly as torch's `at::mt19937` (= std::mt19937) seeded with the low 32 bits of the seed. */
export class Mt19937 {
  private readonly state = new Uint32Array(N);
  private index = N;

  constructor(seed32: number) {
    const s = this.state;
    s[0] = seed32 >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = s[i - 1]!;
      s[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < N; i++) {
      const y = (s[i]! & 0x80000000) | (s[(i + 1) % N]! & 0x7fffffff);
      s[i] = s[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** Next 32-bit output. */
  next(): number {
    if (this.index >= N) this.twist();
    let y = this.state[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch `uniform_real_distribution<float>(0, 1)`: 24 random bits. */
  nextFloat24(): number {
    return (this.next() & 0xffffff) / 0x1000000;
  }

  /** torch `uniform_real_distribution<double>(0, 1)` on `random64()` (first draw is the high word): 53 random bits. */
  nextDouble53(): number {
    const hi = this.next();
    const lo = this.next();
    return ((hi & 0x1fffff) * 0x100000000 + lo) / 2 ** 53;
  }
}

/** Reduces a seed the way torch does (`manual_seed` takes a 64-bit integer; MT19937 uses its low 32 bits). */
export function seedToUint32(seed: number | bigint): number {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw new RangeError(`The seed ${seed} is not an integer; use a whole number from 0 to 4294967295.`);
  }
  const big = BigInt(seed);
  if (big < -(2n ** 63n) || big >= 2n ** 64n) {
    throw new RangeError(`The seed ${seed} does not fit in 64 bits; use a whole number from 0 to 4294967295.`);
  }
  return Number(BigInt.asUintN(32, big));
}

/** Standard normal float32 values, bit-for-bit torch's CPU `randn` order for the given shape and seed. */
export function randn(shape: readonly number[], seed: number | bigint): Float32Array {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`Noise shape [${shape.join(', ')}] must hold non-negative whole numbers.`);
    count *= d;
  }
  if (!Number.isSafeInteger(count) || count > 2 ** 31) throw new RangeError(`Noise shape [${shape.join(', ')}] is too large.`);
  const rng = new Mt19937(seedToUint32(seed));
  return count >= 16 ? normalFill(rng, count) : normalScalar(rng, count);
}

function normalFill(rng: Mt19937, count: number): Float32Array {
  const a = new Float64Array(count);
  for (let i = 0; i < count; i++) a[i] = rng.nextFloat24();
  for (let i = 0; i + 16 <= count; i += 16) boxMuller16(a, i);
  if (count % 16 !== 0) {
    const start = count - 16;
    for (let k = 0; k < 16; k++) a[start + k] = rng.nextFloat24();
    boxMuller16(a, start);
  }
  return Float32Array.from(a);
}

const f32 = Math.fround;
const TWO_PI_F32 = f32(2 * Math.PI);

function boxMuller16(a: Float64Array, at: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = 1 - a[at + j]!; // [0, 1) → (0, 1] so the log is finite; exact for 24-bit values
    const u2 = a[at + j + 8]!;
    const radius = f32(Math.sqrt(f32(-2 * f32(Math.log(u1)))));
    // θ rounded to float32 as torch computes it: the largest source of difference at large angles.
    const theta = f32(TWO_PI_F32 * u2);
    a[at + j] = f32(radius * f32(Math.cos(theta)));
    a[at + j + 8] = f32(radius * f32(Math.sin(theta)));
  }
}

function normalScalar(rng: Mt19937, count: number): Float32Array {
  const out = new Float32Array(count);
  let cached: number | undefined;
  for (let i = 0; i < count; i++) {
    if (cached !== undefined) {
      out[i] = cached;
      cached = undefined;
      continue;
    }
    const u1 = rng.nextDouble53();
    const u2 = rng.nextDouble53();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    cached = r * Math.sin(theta);
    out[i] = r * Math.cos(theta);
  }
  return out;
}
