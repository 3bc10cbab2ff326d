// The stages of FLUX generation as small functions over loaded sessions: text encoders, one
// transformer evaluation, the sampling loop, the decoder. FluxPipeline strings them together for a
// request; `schnell conformance` calls them one by one on reference inputs.
import type { Feed, OnnxSession } from '../onnx/session.js';
import type { DecoderParams } from './graphs/autoencoder.js';
import { imageIds, textIds, unpack } from './sampling/pack.js';
import { cropPlanes } from './sampling/pixels.js';
import { cfgCombine, createSampler, type SamplerName } from './sampling/samplers.js';
import type { FluxParams } from './graphs/transformer.js';

/** Text features of one prompt: T5 tokens [1, L, ctx] and CLIP pooled [1, vec]. */
export interface Conditioning {
  txt: Float32Array;
  txtTokens: number;
  vec: Float32Array;
}

const ids = (data: BigInt64Array): Feed => ({ type: 'int64', dims: [1, data.length], data });

/** T5 encoder: token ids → last hidden state [1, L, d_model]. */
export async function runT5(session: OnnxSession, tokenIds: BigInt64Array): Promise<Float32Array> {
  return (await session.run({ input_ids: ids(tokenIds) })).last_hidden_state!.data as Float32Array;
}

/** CLIP text encoder: token ids → pooled output [1, hidden]. */
export async function runClip(session: OnnxSession, tokenIds: BigInt64Array): Promise<Float32Array> {
  return (await session.run({ input_ids: ids(tokenIds) })).pooled!.data as Float32Array;
}

export interface TransformerInputs {
  img: Float32Array;
  imgIds: Float32Array;
  txt: Float32Array;
  txtIds: Float32Array;
  y: Float32Array;
  t: number;
  guidance?: number;
}

/** One transformer evaluation (batch 1): the predicted velocity, [1, N, out_channels]. */
export async function runTransformer(session: OnnxSession, p: FluxParams, x: TransformerInputs): Promise<Float32Array> {
  const tokens = x.img.length / p.in_channels;
  const txtTokens = x.txt.length / p.context_in_dim;
  const axes = p.axes_dim.length;
  const feeds: Record<string, Feed> = {
    img: { type: 'float32', dims: [1, tokens, p.in_channels], data: x.img },
    img_ids: { type: 'float32', dims: [1, tokens, axes], data: x.imgIds },
    txt: { type: 'float32', dims: [1, txtTokens, p.context_in_dim], data: x.txt },
    txt_ids: { type: 'float32', dims: [1, txtTokens, axes], data: x.txtIds },
    y: { type: 'float32', dims: [1, p.vec_in_dim], data: x.y },
    timesteps: { type: 'float32', dims: [1], data: Float32Array.of(x.t) },
  };
  if (p.guidance_embed) feeds.guidance = { type: 'float32', dims: [1], data: Float32Array.of(x.guidance ?? 3.5) };
  return (await session.run(feeds)).out!.data as Float32Array;
}

export interface DenoiseOptions {
  sampler: SamplerName;
  /** True classifier-free guidance: with `negative`, v = neg + cfgScale·(pos − neg). */
  negative?: Conditioning;
  cfgScale?: number;
  /** Distilled guidance, for transformers with a guidance embedding. */
  guidance?: number;
  signal?: AbortSignal;
  /**
   * After every step: the 1-based step and the model's current guess of the clean latents. The next
   * step waits for a returned promise (a preview being encoded: the runtime blocks this thread while
   * a step runs, so work left pending would finish only after the next step).
   */
  onStep?: (step: number, predicted: Float32Array) => void | Promise<void>;
}

/**
 * The sampling loop (BFL `denoise`): from packed noise at t = timesteps[0] to packed latents at the
 * last timestep, one transformer run per step (two with a negative prompt).
 */
export async function denoise(
  session: OnnxSession, p: FluxParams, noise: Float32Array, grid: { h: number; w: number },
  timesteps: readonly number[], cond: Conditioning, opts: DenoiseOptions,
): Promise<Float32Array> {
  const axes = p.axes_dim.length;
  const imgIds = imageIds(grid.h / 2, grid.w / 2, axes);
  const model = (x: Float32Array, t: number, c: Conditioning, txtIds: Float32Array) =>
    runTransformer(session, p, { img: x, imgIds, txt: c.txt, txtIds, y: c.vec, t, ...(opts.guidance !== undefined ? { guidance: opts.guidance } : {}) });
  const condIds = textIds(cond.txtTokens, axes);
  const negativeIds = opts.negative && textIds(opts.negative.txtTokens, axes);
  const sampler = createSampler(opts.sampler, timesteps);
  const x = Float32Array.from(noise); // the sampler moves it in place
  for (let i = 0; i < timesteps.length - 1; i++) {
    throwIfAborted(opts.signal);
    const t = timesteps[i]!;
    let v = await model(x, t, cond, condIds);
    if (opts.negative) v = cfgCombine(await model(x, t, opts.negative, negativeIds!), v, opts.cfgScale ?? 1);
    const predicted = opts.onStep ? predictClean(x, v, t) : undefined;
    sampler.step(x, v, i);
    if (predicted) await opts.onStep!(i + 1, predicted);
  }
  return x;
}

/** Packed latents → decoded image [1, C, height, width], clamped to [-1, 1] as the reference does. */
export async function decodeLatents(
  session: OnnxSession, d: DecoderParams, latents: Float32Array, grid: { h: number; w: number }, height: number, width: number,
): Promise<Float32Array> {
  const c = d.zChannels;
  const z = unpack(latents, c, grid.h, grid.w);
  const out = (await session.run({ z: { type: 'float32', dims: [1, c, grid.h, grid.w], data: z } })).decoded!;
  const [, outC, outH, outW] = out.dims as [number, number, number, number];
  if (outH < height || outW < width) throw new Error(`internal error: the decoder made ${outW}×${outH} pixels for a ${width}×${height} image`);
  const image = cropPlanes(out.data as Float32Array, outC, outH, outW, height, width);
  for (let i = 0; i < image.length; i++) {
    const v = image[i]!;
    image[i] = v > 1 ? 1 : v < -1 ? -1 : v; // NaN stays NaN; toPixels makes it black
  }
  return image;
}

/** Rectified flow: x_t = (1 − t)·x0 + t·noise and v = noise − x0, so x0 = x_t − t·v. */
export function predictClean(x: Float32Array, v: Float32Array, t: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - t * v[i]!;
  return out;
}

/** Cancellation between steps: an Error named AbortError, with the signal's reason as cause. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const e = new Error('the generation was cancelled', { cause: signal.reason });
    e.name = 'AbortError';
    throw e;
  }
}
