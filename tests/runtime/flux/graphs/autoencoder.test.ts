import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { aeParams, buildDecoder, decoderUpscale, DECODER_BUILDER_VERSION } from '../../../../runtime/flux/graphs/autoencoder.js';
import { openComponent } from '../../../../runtime/flux/checkpoints/checkpoint.js';
import { DEFAULT_MODEL_CONFIG, resolveModelConfig, type ModelConfig } from '../../../../runtime/flux/model-config.js';
import type { Feed } from '../../../../runtime/onnx/session.js';
import {
  RandomCheckpoint, Rng, TINY, assertWeightsStayInFile, fp8Layout, get, golden, goldensJson, relL2, runGraph, softmaxRow, tempDir, type RefTensor, type StoredDtype,
} from '../builder-harness.js';

const dir = tempDir();
after(() => fs.rmSync(dir, { recursive: true, force: true }));

// ---- an independent float64 decoder (BFL src/flux/modules/autoencoder.py) -----------------------

/** One image: channels × height × width. */
interface Image { c: number; h: number; w: number; data: Float64Array }

function conv(t: Map<string, RefTensor>, prefix: string, x: Image): Image {
  const wt = get(t, `${prefix}.weight`);
  const [o, ci, k] = wt.shape as [number, number, number, number];
  const b = get(t, `${prefix}.bias`).data;
  const pad = (k - 1) / 2;
  const y = new Float64Array(o * x.h * x.w);
  for (let oc = 0; oc < o; oc++) {
    for (let yy = 0; yy < x.h; yy++) {
      for (let xx = 0; xx < x.w; xx++) {
        let s = b[oc]!;
        for (let ic = 0; ic < ci; ic++) {
          for (let ky = 0; ky < k; ky++) {
            const sy = yy + ky - pad;
            if (sy < 0 || sy >= x.h) continue;
            for (let kx = 0; kx < k; kx++) {
              const sx = xx + kx - pad;
              if (sx < 0 || sx >= x.w) continue;
              s += wt.data[((oc * ci + ic) * k + ky) * k + kx]! * x.data[(ic * x.h + sy) * x.w + sx]!;
            }
          }
        }
        y[(oc * x.h + yy) * x.w + xx] = s;
      }
    }
  }
  return { c: o, h: x.h, w: x.w, data: y };
}

function groupNorm(t: Map<string, RefTensor>, prefix: string, x: Image): Image {
  const wt = get(t, `${prefix}.weight`).data, b = get(t, `${prefix}.bias`).data;
  const groups = 32, per = x.c / groups, hw = x.h * x.w;
  const y = new Float64Array(x.data.length);
  for (let g = 0; g < groups; g++) {
    const part = x.data.subarray(g * per * hw, (g + 1) * per * hw);
    const mean = part.reduce((a, v) => a + v, 0) / part.length;
    const variance = part.reduce((a, v) => a + (v - mean) ** 2, 0) / part.length;
    for (let i = 0; i < part.length; i++) {
      const c = g * per + Math.floor(i / hw);
      y[g * per * hw + i] = ((part[i]! - mean) / Math.sqrt(variance + 1e-6)) * wt[c]! + b[c]!;
    }
  }
  return { ...x, data: y };
}

const swish = (x: Image): Image => ({ ...x, data: x.data.map((v) => v / (1 + Math.exp(-v))) });
const add = (a: Image, b: Image): Image => ({ ...a, data: a.data.map((v, i) => v + b.data[i]!) });

function resnet(t: Map<string, RefTensor>, prefix: string, x: Image): Image {
  let h = conv(t, `${prefix}.conv1`, swish(groupNorm(t, `${prefix}.norm1`, x)));
  h = conv(t, `${prefix}.conv2`, swish(groupNorm(t, `${prefix}.norm2`, h)));
  return add(t.has(`${prefix}.nin_shortcut.weight`) ? conv(t, `${prefix}.nin_shortcut`, x) : x, h);
}

function attention(t: Map<string, RefTensor>, prefix: string, x: Image): Image {
  const h = groupNorm(t, `${prefix}.norm`, x);
  const q = conv(t, `${prefix}.q`, h), k = conv(t, `${prefix}.k`, h), v = conv(t, `${prefix}.v`, h);
  const n = x.h * x.w, c = x.c;
  const o = new Float64Array(c * n);
  for (let i = 0; i < n; i++) {
    const s = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      let dot = 0;
      for (let ch = 0; ch < c; ch++) dot += q.data[ch * n + i]! * k.data[ch * n + j]!;
      s[j] = dot / Math.sqrt(c);
    }
    softmaxRow(s);
    for (let ch = 0; ch < c; ch++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += s[j]! * v.data[ch * n + j]!;
      o[ch * n + i] = acc;
    }
  }
  return add(x, conv(t, `${prefix}.proj_out`, { ...x, data: o }));
}

function upsample(x: Image): Image {
  const y = new Float64Array(x.c * x.h * x.w * 4);
  for (let c = 0; c < x.c; c++) {
    for (let yy = 0; yy < 2 * x.h; yy++) {
      for (let xx = 0; xx < 2 * x.w; xx++) y[(c * 2 * x.h + yy) * 2 * x.w + xx] = x.data[(c * x.h + (yy >> 1)) * x.w + (xx >> 1)]!;
    }
  }
  return { c: x.c, h: 2 * x.h, w: 2 * x.w, data: y };
}

function decodeReference(t: Map<string, RefTensor>, levels: number, blocks: number, cfg: ModelConfig, z: Image): Image {
  let x: Image = { ...z, data: z.data.map((v) => v / cfg.scale_factor + cfg.shift_factor) };
  x = conv(t, 'decoder.conv_in', x);
  x = resnet(t, 'decoder.mid.block_1', x);
  x = attention(t, 'decoder.mid.attn_1', x);
  x = resnet(t, 'decoder.mid.block_2', x);
  for (let i = levels - 1; i >= 0; i--) {
    for (let j = 0; j < blocks; j++) {
      x = resnet(t, `decoder.up.${i}.block.${j}`, x);
      if (t.has(`decoder.up.${i}.attn.${j}.q.weight`)) x = attention(t, `decoder.up.${i}.attn.${j}`, x);
    }
    if (i !== 0) x = conv(t, `decoder.up.${i}.upsample.conv`, upsample(x));
  }
  return conv(t, 'decoder.conv_out', swish(groupNorm(t, 'decoder.norm_out', x)));
}

// ---- a random decoder of other sizes ------------------------------------------------------------

interface Shape { z: number; ch: number; chMult: number[]; resBlocks: number; out: number; levelAttention: boolean[] }
const OTHER: Shape = { z: 4, ch: 32, chMult: [1, 2], resBlocks: 1, out: 3, levelAttention: [false, true] };

function randomDecoder(s: Shape, seed: number, dtypeOf?: (name: string, shape: number[]) => StoredDtype): RandomCheckpoint {
  const ck = new RandomCheckpoint(new Rng(seed), dtypeOf);
  const conv = (p: string, o: number, i: number, k: number) => ck.add(`${p}.weight`, [o, i, k, k], 1 / Math.sqrt(i * k * k)).add(`${p}.bias`, [o], 0.05);
  const norm = (p: string, c: number) => ck.add(`${p}.weight`, [c], 0.1, 1).add(`${p}.bias`, [c], 0.1);
  const resnet = (p: string, i: number, o: number) => {
    norm(`${p}.norm1`, i); conv(`${p}.conv1`, o, i, 3); norm(`${p}.norm2`, o); conv(`${p}.conv2`, o, o, 3);
    if (i !== o) conv(`${p}.nin_shortcut`, o, i, 1);
  };
  const attn = (p: string, c: number) => {
    norm(`${p}.norm`, c);
    for (const n of ['q', 'k', 'v', 'proj_out']) conv(`${p}.${n}`, c, c, 1);
  };
  let c = s.ch * s.chMult.at(-1)!;
  conv('decoder.conv_in', c, s.z, 3);
  resnet('decoder.mid.block_1', c, c);
  attn('decoder.mid.attn_1', c);
  resnet('decoder.mid.block_2', c, c);
  for (let i = s.chMult.length - 1; i >= 0; i--) {
    for (let j = 0; j <= s.resBlocks; j++) {
      resnet(`decoder.up.${i}.block.${j}`, c, s.ch * s.chMult[i]!);
      c = s.ch * s.chMult[i]!;
      if (s.levelAttention[i]) attn(`decoder.up.${i}.attn.${j}`, c);
    }
    if (i !== 0) conv(`decoder.up.${i}.upsample.conv`, c, c, 3);
  }
  norm('decoder.norm_out', c);
  conv('decoder.conv_out', s.out, c, 3);
  return ck;
}

function randomLatent(rng: Rng, b: number, c: number, h: number, w: number): { feed: Feed; images: Image[] } {
  const data = Float32Array.from({ length: b * c * h * w }, () => rng.normal());
  const images = Array.from({ length: b }, (_, i) => ({ c, h, w, data: Float64Array.from(data.subarray(i * c * h * w, (i + 1) * c * h * w)) }));
  return { feed: { type: 'float32', dims: [b, c, h, w], data }, images };
}

/** `b (h w) (c ph pw) -> b c (h ph) (w pw)`: the reference's unpack of packed latents. */
function unpack(tokens: Float32Array, height: number, width: number): { dims: number[]; data: Float32Array } {
  const h = Math.ceil(height / 16), w = Math.ceil(width / 16);
  const c = tokens.length / (h * w * 4);
  const out = new Float32Array(tokens.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) for (let py = 0; py < 2; py++) for (let px = 0; px < 2; px++) {
    out[(ch * 2 * h + 2 * y + py) * 2 * w + 2 * x + px] = tokens[(y * w + x) * c * 4 + ch * 4 + py * 2 + px]!;
  }
  return { dims: [1, c, 2 * h, 2 * w], data: out };
}

// ---- tests --------------------------------------------------------------------------------------

test('decoder matches the reference on both pipeline cases (64x64, 32x80)', async () => {
  const goldens = goldensJson();
  const cfg = resolveModelConfig(goldens.ae.params as Partial<ModelConfig>, 'goldens.json ae.params');
  const w = openComponent('autoencoder', path.join(TINY, 'tiny-ae.safetensors'));
  const p = aeParams(w, cfg);
  assert.deepEqual(
    { zChannels: p.zChannels, outChannels: p.outChannels, ch: p.ch, chMult: p.chMult, numResBlocks: p.numResBlocks, upsample: p.upsample },
    { zChannels: 16, outChannels: 3, ch: 32, chMult: [1, 1, 1, 1], numResBlocks: 1, upsample: [false, true, true, true] },
  );
  assert.equal(decoderUpscale(p), 8);
  const g = buildDecoder(w, p);
  assertWeightsStayInFile(g, path.join(TINY, 'tiny-ae.safetensors'));
  for (const name of ['pipe64x64', 'pipe32x80']) {
    const c = goldens.cases[name] as { height: number; width: number };
    const z = unpack(golden(`${name}.latents`).data, c.height, c.width);
    const out = (await runGraph(g, { z: { type: 'float32', ...z } })).decoded!;
    const ref = golden(`${name}.decoded`);
    assert.deepEqual(out.dims, ref.shape);
    // The reference's `decoded` is after the pipeline's clamp to [-1, 1]; the graph stays raw.
    const raw = out.data as Float32Array;
    assert.ok(raw.some((v) => Math.abs(v) > 1.05), 'the graph output is not clamped');
    const err = relL2(raw.map((v) => Math.min(1, Math.max(-1, v))), ref.data);
    assert.ok(err < goldens.tolerances.relative_l2.decoded!, `${name}: relative L2 ${err}`);
  }
  assert.equal(typeof DECODER_BUILDER_VERSION, 'number');
});

test('decoder of other widths, depths and latent channels (channel change, level attention) matches a float64 reference', async () => {
  const ck = randomDecoder(OTHER, 21);
  const w = openComponent('autoencoder', ck.write(path.join(dir, 'other-ae.safetensors')));
  const cfg: ModelConfig = { ...DEFAULT_MODEL_CONFIG, scale_factor: 0.5, shift_factor: -0.2 };
  const p = aeParams(w, cfg);
  assert.deepEqual(
    { z: p.zChannels, ch: p.ch, chMult: p.chMult, resBlocks: p.numResBlocks, mid: p.midChannels, attention: p.attention, scale: p.scaleFactor, shift: p.shiftFactor },
    { z: 4, ch: 32, chMult: [1, 2], resBlocks: 1, mid: 64, attention: [false, true], scale: 0.5, shift: -0.2 },
  );
  const { feed, images } = randomLatent(new Rng(22), 2, 4, 3, 5);
  const out = (await runGraph(buildDecoder(w, p), { z: feed })).decoded!;
  assert.deepEqual(out.dims, [2, 3, 6, 10]);
  const ref = images.flatMap((z) => Array.from(decodeReference(ck.values, 2, 2, cfg, z).data));
  const err = relL2(out.data as Float32Array, ref);
  assert.ok(err < 1e-5, `relative L2 ${err}`);
});

test('decoder with FP8 convolutions and BF16 norms matches the reference under cast and dequantize policies', async () => {
  const s: Shape = { z: 16, ch: 32, chMult: [1, 1, 2], resBlocks: 0, out: 3, levelAttention: [false, false, false] };
  const ck = randomDecoder(s, 23, fp8Layout);
  const w = openComponent('autoencoder', ck.write(path.join(dir, 'fp8-ae.safetensors')));
  assert.equal(w.get('decoder.conv_in.weight')?.dtype, 'F8_E4M3');
  assert.equal(w.get('decoder.norm_out.weight')?.dtype, 'BF16');
  const p = aeParams(w, DEFAULT_MODEL_CONFIG);
  const { feed, images } = randomLatent(new Rng(24), 1, 16, 2, 3);
  const ref = decodeReference(ck.values, 3, 1, DEFAULT_MODEL_CONFIG, images[0]!).data;
  for (const fp8 of ['cast', 'dequantize'] as const) {
    const out = (await runGraph(buildDecoder(w, p, { fp8, compute: 'float32' }), { z: feed })).decoded!;
    assert.deepEqual(out.dims, [1, 3, 8, 12]);
    const err = relL2(out.data as Float32Array, ref);
    assert.ok(err < 1e-5, `${fp8}: relative L2 ${err}`);
  }
  const half = (await runGraph(buildDecoder(w, p, { fp8: 'table', compute: 'float16' }), { z: feed })).decoded!;
  const err = relL2(half.data as Float32Array, ref);
  assert.ok(err < 1e-2, `float16 compute: relative L2 ${err}`);
});

test('decoders that cannot be built fail with a sentence naming the tensor', () => {
  // 48 channels do not split into GroupNorm's 32 groups.
  const odd = randomDecoder({ ...OTHER, ch: 48, levelAttention: [false, false] }, 25).write(path.join(dir, 'odd-ae.safetensors'));
  assert.throws(() => aeParams(openComponent('autoencoder', odd), DEFAULT_MODEL_CONFIG), /normalizes 48 channels, which do not split into 32 groups/);
  // conv_out wired to a width that no level produces.
  const ck = randomDecoder({ ...OTHER, levelAttention: [false, false] }, 26);
  ck.add('decoder.conv_out.weight', [3, 64, 3, 3], 0.1);
  const bad = ck.write(path.join(dir, 'bad-ae.safetensors'));
  assert.throws(() => aeParams(openComponent('autoencoder', bad), DEFAULT_MODEL_CONFIG), /'decoder.conv_out.weight' takes 64 channels but decoder level 0 gives 32/);
});
