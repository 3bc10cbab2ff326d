// The one way to turn a validated request into images (BFL's sampling.py in TypeScript): encode
// the prompt once, then per image: noise from the image's seed, pack, denoise, unpack, decode,
// convert to pixels, encode PNG/JPEG. Sessions load once (load) and serve every request until
// unload. The stages are functions in stages.ts, so `schnell conformance` runs the same code on
// reference inputs.
import { invalid } from '../api/errors.js';
import type { OnnxSession, Provider } from '../onnx/session.js';
import type { WeightPolicy } from '../onnx/weights.js';
import type { DecoderParams } from './graphs/autoencoder.js';
import type { ModelSet } from './checkpoints/checkpoint.js';
import { randn } from './sampling/noise.js';
import { latentShape, pack, unpack } from './sampling/pack.js';
import { encodeImage, previewPng, toPixels, type ImageFormat } from './sampling/pixels.js';
import { SAMPLER_NAMES, type SamplerName } from './sampling/samplers.js';
import { getSchedule } from './sampling/schedule.js';
import { choosePolicy, componentParams, loadComponent, type LoadOptions } from './sessions.js';
import { decodeLatents, denoise, runClip, runT5, throwIfAborted, type Conditioning } from './stages.js';
import { loadClipTokenizer, loadT5Tokenizer, type TextTokenizer } from './text/tokenizers.js';
import type { FluxParams } from './graphs/transformer.js';

export interface GenerateParams {
  prompt: string;
  /** Used only with cfgScale > 1 (true classifier-free guidance); '' or absent = none. */
  negativePrompt?: string;
  width: number;
  height: number;
  steps: number;
  /** Image i uses seed + i (mod 2^32); the noise equals torch.randn with that seed. */
  seed: number;
  samples: number;
  sampler: SamplerName;
  cfgScale: number;
  format: ImageFormat;
  jpegQuality?: number;
  /** Distilled guidance for models with a guidance embedding (FLUX.1 dev); default 3.5. */
  guidance?: number;
}

export interface Progress {
  /** 0-based image of the request, and its seed. */
  sample: number;
  samples: number;
  seed: number;
  /** 1-based step just finished, of `steps`. */
  step: number;
  steps: number;
  /** A small PNG of the predicted final image (latent → RGB by a fixed linear map, 1/8 size). */
  preview: () => Promise<Buffer>;
}

export interface GenerateHooks {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
}

export interface GeneratedImage {
  index: number;
  seed: number;
  bytes: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
  finishReason: 'SUCCESS';
}

export interface Timings {
  wallMs: number;
  /** Time inside onnxruntime's session.run, all sessions together. */
  sessionRunMs: number;
  /** wallMs − sessionRunMs: what the pipeline itself costs. */
  overheadMs: number;
  textMs: number;
  denoiseMs: number;
  decodeMs: number;
  encodeMs: number;
  transformerRuns: number;
}

export interface GenerateResult {
  images: GeneratedImage[];
  timings: Timings;
}

export type { Conditioning } from './stages.js';

export interface PipelineOptions extends Omit<LoadOptions, 'policy'> {
  policy?: WeightPolicy;
}

export interface PipelineInfo {
  name: string;
  untrained: boolean;
  /** The provider that runs the sessions, and why it is not the one asked for (when it is not). */
  provider: Provider;
  fallbackReason?: string;
  policy: WeightPolicy;
  transformer: FluxParams;
  loadMs: number;
}

const MAX_SIDE = 4096;

export class FluxPipeline {
  private queue: Promise<void> = Promise.resolve();
  private sessions: { transformer: OnnxSession; t5: OnnxSession; clip: OnnxSession; decoder: OnnxSession } | undefined;

  private constructor(
    readonly info: PipelineInfo,
    sessions: { transformer: OnnxSession; t5: OnnxSession; clip: OnnxSession; decoder: OnnxSession },
    private readonly tokenizers: { clip: TextTokenizer; t5: TextTokenizer },
    private readonly decoderParams: DecoderParams,
  ) {
    this.sessions = sessions;
  }

  /**
   * Checks that the parts fit together (from shapes alone, before any weight is read), then builds
   * (or reads from the graph cache) and loads all four sessions, once.
   */
  static async load(model: ModelSet, opts: PipelineOptions = {}): Promise<FluxPipeline> {
    const start = performance.now();
    const weights = { transformer: model.transformer, t5: model.t5, clip: model.clip, decoder: model.autoencoder };
    const fp = componentParams('transformer', weights.transformer, model.config);
    const t5p = componentParams('t5', weights.t5, model.config);
    const clipp = componentParams('clip', weights.clip, model.config);
    const aep = componentParams('decoder', weights.decoder, model.config);
    const mismatch = (what: string, got: number, want: number) =>
      new Error(`${model.name}: ${what} (${got}) does not fit the transformer (${want}); the model set mixes parts of different models.`);
    if (t5p.dModel !== fp.context_in_dim) throw mismatch('the T5 encoder\'s width', t5p.dModel, fp.context_in_dim);
    if (clipp.hidden !== fp.vec_in_dim) throw mismatch('the CLIP pooled width', clipp.hidden, fp.vec_in_dim);
    if (aep.zChannels * 4 !== fp.in_channels || fp.out_channels !== fp.in_channels) {
      throw mismatch('the autoencoder\'s latent channels × 4', aep.zChannels * 4, fp.in_channels);
    }
    const tokenizers = {
      clip: await loadClipTokenizer(model.tokenizers.clip, { maxLength: Math.min(77, clipp.maxPositions) }),
      t5: await loadT5Tokenizer(model.tokenizers.t5),
    };
    for (const [tok, size, dir, what] of [[tokenizers.t5, t5p.vocabSize, model.tokenizers.t5, 'T5'], [tokenizers.clip, clipp.vocabSize, model.tokenizers.clip, 'CLIP']] as const) {
      if (tok.vocabSize > size) {
        throw new Error(`${model.name}: the ${what} tokenizer in ${dir} has ${tok.vocabSize} tokens but the ${what} encoder only ${size}; the tokenizer belongs to another model.`);
      }
    }

    let provider: Provider = opts.provider ?? 'cpu';
    const all = Object.values(weights);
    let policy = opts.policy ?? choosePolicy(provider, all);
    const loaded: OnnxSession[] = [];
    let fallbackReason: string | undefined;
    const load = async <C extends keyof typeof weights>(name: C) => {
      let c = await loadComponent(name, weights[name], model.config, { ...opts, provider, policy });
      // A provider that fails is reported once; the rest go straight to the CPU, with the CPU's
      // weight policy (a GPU policy could cost the CPU twice the memory).
      if (c.session.fallbackReason && !fallbackReason) {
        fallbackReason = c.session.fallbackReason;
        provider = c.session.provider;
        const cpuPolicy = opts.policy ?? choosePolicy(provider, all);
        if (cpuPolicy.fp8 !== policy.fp8 || cpuPolicy.compute !== policy.compute) {
          await c.session.release();
          policy = cpuPolicy;
          c = await loadComponent(name, weights[name], model.config, { ...opts, provider, policy });
        }
      }
      loaded.push(c.session);
      return c.session;
    };
    try {
      const sessions = { transformer: await load('transformer'), t5: await load('t5'), clip: await load('clip'), decoder: await load('decoder') };
      const info: PipelineInfo = {
        name: model.name, untrained: model.untrained, provider, policy, transformer: fp,
        loadMs: performance.now() - start, ...(fallbackReason ? { fallbackReason } : {}),
      };
      return new FluxPipeline(info, sessions, tokenizers, aep);
    } catch (err) {
      await Promise.allSettled(loaded.map((s) => s.release()));
      throw err;
    }
  }

  /**
   * Images for a request; throws an AbortError between steps once `signal` is aborted. Requests
   * on one pipeline run one after another (the sessions already use every core).
   */
  generate(params: GenerateParams, hooks: GenerateHooks = {}): Promise<GenerateResult> {
    try {
      checkParams(params);
    } catch (err) {
      return Promise.reject(err);
    }
    const run = this.queue.then(() => this.run(params, hooks));
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  private async run(params: GenerateParams, hooks: GenerateHooks): Promise<GenerateResult> {
    const start = performance.now();
    const runBefore = this.sessionRunMs();
    const runsBefore = this.live().transformer.runs;
    const { signal, onProgress } = hooks;
    const { width, height, steps, samples } = params;
    const [, channels, h, w] = latentShape(height, width, this.decoderParams.zChannels);
    const timesteps = getSchedule(steps, (h / 2) * (w / 2), { shift: this.info.transformer.guidance_embed });
    const guided = params.cfgScale > 1 && (params.negativePrompt ?? '').trim() !== '';

    throwIfAborted(signal);
    const positive = await this.encodeText(params.prompt);
    const negative = guided ? await this.encodeText(params.negativePrompt!) : undefined;
    const textMs = performance.now() - start;
    let denoiseMs = 0, decodeMs = 0, encodeMs = 0;

    const images: GeneratedImage[] = [];
    for (let index = 0; index < samples; index++) {
      const seed = (params.seed + index) % 2 ** 32;
      const t0 = performance.now();
      const noise = pack(randn([1, channels, h, w], seed), channels, h, w);
      const latents = await denoise(this.live().transformer, this.info.transformer, noise, { h, w }, timesteps, positive, {
        sampler: params.sampler, cfgScale: params.cfgScale,
        ...(params.guidance !== undefined ? { guidance: params.guidance } : {}),
        ...(negative ? { negative } : {}), ...(signal ? { signal } : {}),
        onStep: onProgress && ((step, x0) => onProgress({
          sample: index, samples, seed, step, steps,
          preview: () => previewPng(unpack(x0, channels, h, w), channels, h, w),
        })),
      });
      const t1 = performance.now();
      throwIfAborted(signal);
      const pixels = toPixels(await decodeLatents(this.live().decoder, this.decoderParams, latents, { h, w }, height, width), height, width);
      const t2 = performance.now();
      const bytes = await encodeImage(pixels, width, height, params.format, params.jpegQuality);
      denoiseMs += t1 - t0; decodeMs += t2 - t1; encodeMs += performance.now() - t2;
      images.push({ index, seed, bytes, format: params.format, width, height, finishReason: 'SUCCESS' });
    }
    const wallMs = performance.now() - start;
    const sessionRunMs = this.sessionRunMs() - runBefore;
    return {
      images,
      timings: {
        wallMs, sessionRunMs, overheadMs: wallMs - sessionRunMs, textMs, denoiseMs, decodeMs, encodeMs,
        transformerRuns: this.live().transformer.runs - runsBefore,
      },
    };
  }

  /** T5 and CLIP features of a prompt (the tokenizers pad and truncate as the reference does). */
  async encodeText(prompt: string): Promise<Conditioning> {
    const s = this.live();
    const t5Ids = this.tokenizers.t5.encode(prompt);
    return { txt: await runT5(s.t5, t5Ids), txtTokens: t5Ids.length, vec: await runClip(s.clip, this.tokenizers.clip.encode(prompt)) };
  }

  /** Releases the sessions; the pipeline cannot generate afterwards. */
  async unload(): Promise<void> {
    await this.queue; // a running generation finishes (or is cancelled by its signal) first
    const s = this.sessions;
    this.sessions = undefined;
    if (s) await Promise.allSettled(Object.values(s).map((x) => x.release()));
  }

  get loaded(): boolean {
    return this.sessions !== undefined;
  }

  private live() {
    if (!this.sessions) throw new Error('the model was unloaded; load it again to generate');
    return this.sessions;
  }

  private sessionRunMs(): number {
    return Object.values(this.live()).reduce((sum, s) => sum + s.runMs, 0);
  }
}

/** Sizes a local model renders: multiples of 16 (one latent patch) from 16 to 4096 pixels. */
export function checkImageSize(width: number, height: number): void {
  for (const [v, name] of [[width, 'width'], [height, 'height']] as const) {
    if (!Number.isInteger(v) || v < 16 || v > MAX_SIDE || v % 16 !== 0) throw invalid(`${name} must be a multiple of 16 from 16 to ${MAX_SIDE}, got ${v}`, name);
  }
}

/** The pipeline's own preconditions (the API schema is stricter; the CLI and tests rely on these). */
function checkParams(p: GenerateParams): void {
  checkImageSize(p.width, p.height);
  if (typeof p.prompt !== 'string') throw invalid('prompt must be a string', 'prompt');
  if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > 1000) throw invalid(`steps must be an integer from 1 to 1000, got ${p.steps}`, 'steps');
  if (!Number.isInteger(p.samples) || p.samples < 1) throw invalid(`samples must be a positive integer, got ${p.samples}`, 'samples');
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > 0xffff_ffff) throw invalid(`seed must be an integer from 0 to 4294967295, got ${p.seed}`, 'seed');
  if (!SAMPLER_NAMES.includes(p.sampler)) throw invalid(`sampler must be ${SAMPLER_NAMES.join(' or ')}, got ${JSON.stringify(p.sampler)}`, 'sampler');
  if (!Number.isFinite(p.cfgScale) || p.cfgScale < 0) throw invalid(`cfgScale must be a number ≥ 0, got ${p.cfgScale}`, 'cfg_scale');
  if (p.format !== 'png' && p.format !== 'jpeg') throw invalid(`format must be png or jpeg, got ${JSON.stringify(p.format)}`, 'format');
}
