// Regression tests for three gaps an independent torch check found in the conformance runner:
// sizes that are not multiples of 16 (the reference decodes the whole rounded-up latent), seeds
// beyond 2^53 or negative (torch uses the low 32 bits of a 64-bit seed), and the guidance a
// guidance-distilled model gets when a case names none (BFL `denoise()`'s default, 4.0).
// No torch here: expected values are the fixture's torch outputs reused where the reference math
// makes them exact, torch-verified noise (noise.ts), and the float64 reference forward.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { runConformance, maxAbs, type CaseResult } from '../../../runtime/flux/conformance.js';
import { transformerTensors } from '../../../runtime/flux/demo/demo-weights.js';
import { randn } from '../../../runtime/flux/sampling/noise.js';
import { readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../../runtime/flux/checkpoints/safetensors.js';
import { TINY, tempDir } from './builder-harness.js';
import { referenceSample, referenceSchedule, referenceTensors } from './flux-reference.js';

const tmp = tempDir();
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const cacheDir = path.join(tmp, 'graphs');

const fixture = JSON.parse(fs.readFileSync(path.join(TINY, 'goldens.json'), 'utf8'));
const fixtureTensors = readSafetensorsHeader(path.join(TINY, fixture.goldens)).tensors;
const tolerances = fixture.tolerances;

/** The fixture's model files, by absolute path, for a goldens.json written elsewhere. */
function fixtureModels() {
  return {
    transformer: { fp32: path.join(TINY, fixture.transformer.fp32), params: fixture.transformer.params },
    ae: { file: path.join(TINY, fixture.ae.file), params: fixture.ae.params },
  };
}

/** A folder with goldens.safetensors = the fixture's tensors + `extra`, and goldens.json = `json` text. */
function folder(name: string, extra: TensorToWrite[], json: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  const copied = fixtureTensors.map((t): TensorToWrite => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) }));
  writeSafetensors(path.join(dir, 'goldens.safetensors'), [...copied, ...extra]);
  fs.writeFileSync(path.join(dir, 'goldens.json'), json);
  return dir;
}

const fixtureTensor = (name: string) => {
  const info = fixtureTensors.find((t) => t.name === name);
  if (!info) throw new Error(`the fixture has no tensor ${name}`);
  return { shape: info.shape, data: readTensor(info) };
};

/** Window [y0, y0+h) × [x0, x0+w) of a [1, C, H, W] tensor (planes) or an [H, W, C] one (interleaved). */
function window(src: Float32Array, layout: 'planes' | 'interleaved', C: number, H: number, W: number, y0: number, x0: number, h: number, w: number): Float32Array {
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    out[layout === 'planes' ? (c * h + y) * w + x : (y * w + x) * C + c] =
      src[layout === 'planes' ? (c * H + y0 + y) * W + x0 + x : ((y0 + y) * W + x0 + x) * C + c]!;
  }
  return out;
}

/** [1, C, H, W] → [1, C, W, H]. */
function transposed(src: Float32Array, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(src.length);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(c * W + x) * H + y] = src[(c * H + y) * W + x]!;
  return out;
}

const f32 = (name: string, shape: number[], data: Float32Array): TensorToWrite => ({ name, dtype: 'F32', shape, data });
const u8 = (name: string, shape: number[], data: Float32Array): TensorToWrite => ({ name, dtype: 'U8', shape, data: Uint8Array.from(data) });

function assertPasses(r: CaseResult | undefined, name: string): void {
  assert.equal(r?.ok, true, `${name}: ${JSON.stringify(r)}`);
  assert.equal(r!.error, undefined, `${name}: ${JSON.stringify(r)}`);
}

test('a size that is not a multiple of 16 is checked at the padded size the reference decodes, or cropped when the reference is', async () => {
  // The reference samples a 2·ceil(H/16) × 2·ceil(W/16) latent and decodes all of it, so the
  // fixture's torch outputs for 32×80 (seed 42) are exactly its outputs for a 24×72 request, and
  // those for 64×64 are its outputs for 64×50.
  const pipe = (c: string) => ({ noise: `${c}.noise`, img_ids: `${c}.img_ids`, latents: `${c}.latents` });
  const base = { kind: 'pipeline', weights: 'fp32', steps: 4, seed: 42, timesteps: [1, 0.75, 0.5, 0.25, 0], txt: 't5.out', vec: 'clip.pooled' };
  const at = (height: number, width: number, expect: Record<string, string>) => ({ ...base, height, width, expect });
  const dec = fixtureTensor('pipe32x80.decoded').data, pix = fixtureTensor('pipe32x80.pixels').data;
  assert.deepEqual(fixtureTensor('pipe32x80.decoded').shape, [1, 3, 32, 80]);
  const crop = (y0: number, x0: number) => ({ decoded: window(dec, 'planes', 3, 32, 80, y0, x0, 24, 72), pixels: window(pix, 'interleaved', 3, 32, 80, y0, x0, 24, 72) });
  const topLeft = crop(0, 0), bottomRight = crop(8, 8);
  const extra = [
    f32('crop.decoded', [1, 3, 24, 72], topLeft.decoded), u8('crop.pixels', [24, 72, 3], topLeft.pixels),
    f32('shifted.decoded', [1, 3, 24, 72], bottomRight.decoded),
    f32('wrong.decoded', [1, 3, 32, 64], window(dec, 'planes', 3, 32, 80, 0, 0, 32, 64)),
    u8('wrong.pixels', [32, 64, 3], window(pix, 'interleaved', 3, 32, 80, 0, 0, 32, 64)),
    f32('swapped.decoded', [1, 3, 72, 24], transposed(topLeft.decoded, 3, 24, 72)),
  ];
  const dir = folder('odd-sizes', extra, JSON.stringify({
    ...fixtureModels(), goldens: 'goldens.safetensors', tolerances,
    cases: {
      padded24x72: at(24, 72, { ...pipe('pipe32x80'), decoded: 'pipe32x80.decoded', pixels: 'pipe32x80.pixels' }),
      padded64x50: at(64, 50, { ...pipe('pipe64x64'), decoded: 'pipe64x64.decoded', pixels: 'pipe64x64.pixels' }),
      cropped24x72: at(24, 72, { ...pipe('pipe32x80'), decoded: 'crop.decoded', pixels: 'crop.pixels' }),
      croppedPixelsOnly: at(24, 72, { pixels: 'crop.pixels' }),
      croppedElsewhere: at(24, 72, { decoded: 'shifted.decoded' }),
      wrongDecoded: at(24, 72, { decoded: 'wrong.decoded' }),
      wrongPixels: at(24, 72, { pixels: 'wrong.pixels' }),
      swappedDecoded: at(24, 72, { decoded: 'swapped.decoded' }),
    },
  }));
  const { cases } = await runConformance(dir, { cacheDir });

  for (const name of ['padded24x72', 'padded64x50', 'cropped24x72']) {
    const r = cases[name];
    assertPasses(r, name);
    assert.ok((r!.decoded_relative_l2 as number) < 1e-4, `${name}: ${JSON.stringify(r)}`);
    assert.ok((r!.latents_relative_l2 as number) < 1e-4, `${name}: ${JSON.stringify(r)}`);
    assert.ok((r!.pixels_max_abs as number) <= 1);
  }
  assertPasses(cases.croppedPixelsOnly, 'croppedPixelsOnly');
  // A reference of the right shape but another part of the image fails on its numbers.
  const shifted = cases.croppedElsewhere!;
  assert.equal(shifted.ok, false);
  assert.equal(shifted.error, undefined);
  assert.ok((shifted.decoded_relative_l2 as number) > 0.05, JSON.stringify(shifted));
  // A shape that is neither the padded nor the requested size is an error naming both shapes,
  // never a silent Infinity or a comparison of mismatched pixels.
  const mismatches: [string, string, string][] = [
    ['wrongDecoded', '[1, 3, 32, 80]', '[1, 3, 32, 64]'],
    ['wrongPixels', '[32, 80, 3]', '[32, 64, 3]'],
    ['swappedDecoded', '[1, 3, 32, 80]', '[1, 3, 72, 24]'],
  ];
  for (const [name, ours, theirs] of mismatches) {
    const r = cases[name]!;
    assert.equal(r.ok, false, name);
    assert.equal(typeof r.error, 'string', `${name}: ${JSON.stringify(r)}`);
    assert.ok(r.error!.includes(ours) && r.error!.includes(theirs), `${name}: ${r.error}`);
    assert.equal(r.decoded_relative_l2, undefined, `${name}: ${JSON.stringify(r)}`);
    assert.equal(r.pixels_max_abs, undefined, `${name}: ${JSON.stringify(r)}`);
  }
});

test('seeds beyond 2^53 and negative seeds give torch\'s noise: the low 32 bits of the 64-bit seed', async () => {
  // 48×32 pixels → a [1, 16, 6, 4] latent. Expected noise comes from noise.ts's torch-verified
  // generator, seeded with the 32-bit value torch's manual_seed would keep.
  const shape = [1, 16, 6, 4];
  const expected: [string, number][] = [['n7', 7], ['n1', 1], ['nNeg5', 2 ** 32 - 5], ['nMax', 2 ** 32 - 1]];
  for (const [a, b] of [[7, 0], [7, 1], [2 ** 32 - 5, 5]]) assert.ok(maxAbs(randn(shape, a!), randn(shape, b!)) > 0.5, `seeds ${a} and ${b} must differ`);
  const extra = expected.map(([name, seed]) => f32(name, shape, randn(shape, seed)));
  const noiseCase = (seed: string, noise: string) =>
    `{"kind": "pipeline", "weights": "fp32", "height": 48, "width": 32, "steps": 1, "seed": ${seed}, "txt": "t5.out", "vec": "clip.pooled", "expect": {"noise": "${noise}"}}`;
  // Written as text: these numbers must reach the runner exactly as a user's goldens.json holds them.
  const json = `{
    "transformer": ${JSON.stringify(fixtureModels().transformer)}, "goldens": "goldens.safetensors", "tolerances": ${JSON.stringify(tolerances)},
    "cases": {
      "seed2p63plus7": ${noiseCase('9223372036854775815', 'n7')},
      "seed2p53plus1": ${noiseCase('9007199254740993', 'n1')},
      "seedMinus5": ${noiseCase('-5', 'nNeg5')},
      "seedMinus2p63plus7": ${noiseCase('-9223372036854775801', 'n7')},
      "seed2p64minus1": ${noiseCase('18446744073709551615', 'nMax')},
      "seed2p64": ${noiseCase('18446744073709551616', 'n7')},
      "seed2p63plus42": {"kind": "pipeline", "weights": "fp32", "height": 32, "width": 80, "steps": 4, "seed": 9223372036854775850,
        "txt": "t5.out", "vec": "clip.pooled", "expect": {"noise": "pipe32x80.noise", "latents": "pipe32x80.latents"}}
    }
  }`;
  const { cases } = await runConformance(folder('seeds', extra, json), { cacheDir });
  for (const name of ['seed2p63plus7', 'seed2p53plus1', 'seedMinus5', 'seedMinus2p63plus7', 'seed2p64minus1']) {
    assertPasses(cases[name], name);
    assert.equal(cases[name]!.noise_max_abs, 0, `${name}: ${JSON.stringify(cases[name])}`);
  }
  // torch's outputs for seed 42 are its outputs for 2^63 + 42.
  assertPasses(cases.seed2p63plus42, 'seed2p63plus42');
  assert.ok((cases.seed2p63plus42!.noise_max_abs as number) <= tolerances.noise_max_abs);
  assert.ok((cases.seed2p63plus42!.latents_relative_l2 as number) < 1e-4);
  // torch refuses a seed past 64 bits; so does the runner, as that case's error.
  assert.equal(cases.seed2p64!.ok, false);
  assert.match(String(cases.seed2p64!.error), /18446744073709551616.*64 bits/);
});

test('a guidance-distilled model\'s pipeline case without "guidance" uses the reference default 4.0', async () => {
  const shape = { hidden: 32, heads: 2, depth: 1, depthSingle: 1, mlpRatio: 2, contextDim: 16, vecDim: 8, guidanceEmbed: true };
  const cfg = { hidden: 32, heads: 2, axes_dim: [4, 6, 6], theta: 10000, depth: 1, single: 1, guidance: true };
  const tensors = transformerTensors(shape, 4242);
  const dir = path.join(tmp, 'guidance');
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'model.safetensors'), tensors);

  const height = 32, width = 48, seed = 3, steps = 2, L = 3;
  const h = 2 * Math.ceil(height / 16), w = 2 * Math.ceil(width / 16);
  const txt = randn([1, L, 16], 21), y = randn([1, 8], 22);
  const timesteps = referenceSchedule(steps, (h / 2) * (w / 2), true);
  const latents = referenceSample(referenceTensors(tensors), cfg, { noise: randn([1, 16, h, w], seed), channels: 16, h, w, txt, y, timesteps, guidance: 4.0 });
  writeSafetensors(path.join(dir, 'reference.safetensors'), [
    f32('txt', [1, L, 16], txt), f32('y', [1, 8], y), f32('latents', [1, (h / 2) * (w / 2), 64], Float32Array.from(latents)),
  ]);
  const pipeline = (extra: Record<string, unknown>) => ({
    kind: 'pipeline', weights: 'fp32', height, width, steps, seed, timesteps, txt: 'txt', vec: 'y', expect: { latents: 'latents' }, ...extra,
  });
  fs.writeFileSync(path.join(dir, 'goldens.json'), JSON.stringify({
    transformer: { fp32: 'model.safetensors', params: { axes_dim: cfg.axes_dim, theta: cfg.theta, guidance_embed: true } },
    goldens: 'reference.safetensors', tolerances,
    cases: { unset: pipeline({}), explicit4: pipeline({ guidance: 4.0 }), explicit3p5: pipeline({ guidance: 3.5 }) },
  }));
  const { cases } = await runConformance(dir, { cacheDir });
  assertPasses(cases.unset, 'unset');
  assertPasses(cases.explicit4, 'explicit4');
  assert.ok((cases.unset!.timesteps_max_abs as number) <= 1e-6, 'the shifted schedule of guidance-distilled models');
  const err = (name: string) => cases[name]!.latents_relative_l2 as number;
  assert.ok(err('unset') < 1e-4, JSON.stringify(cases.unset));
  // Same inputs, same guidance: the very same latents.
  assert.equal(err('unset'), err('explicit4'));
  // 3.5 (the product's own default) is not what the reference uses: its latents differ.
  assert.equal(cases.explicit3p5!.ok, false);
  assert.ok(err('explicit3p5') > tolerances.relative_l2.latents, JSON.stringify(cases.explicit3p5));
});
