// The one way to turn a validated request into images (BFL's sampling.py in TypeScript): encode
// the prompt once, then per image: noise from the image's seed, pack, denoise, unpack, decode,
// convert to pixels, encode PNG/JPEG. Sessions load once (load) and serve every request until
// unload. The stages are functions in stages.ts, so `schnell conformance` runs the same code on
// reference inputs.
import { invalid } from '../api/errors.js';
import { imageSeed, MAX_CFG_SCALE, MAX_SEED, MAX_STEPS } from '../api/request.js';
import { isLocalSize, LOCAL_MAX_SIDE, LOCAL_MIN_SIDE, LOCAL_SIDE_STEP } from '../api/resolutions.js';
import type { BlockProgress, OnnxSession, Provider } from '../onnx/session.js';
import type { WeightPolicy } from '../onnx/weights.js';
import type { DecoderParams } from './graphs/autoencoder.js';
import type { ModelSet } from './checkpoints/checkpoint.js';
import { randn } from './sampling/noise.js';
import { latentShape, pack, unpack } from './sampling/pack.js';
import { encodeImage, previewPng, toPixels, type ImageFormat } from './sampling/pixels.js';
import { SAMPLER_NAMES, type SamplerName } from './sampling/samplers.js';
import { getSchedule } from './sampling/schedule.js';
import { choosePolicy, componentParams, loadComponent, usableMemory, type ComponentName, type LoadOptions } from './sessions.js';
import { componentMemory, estimateStages, firstRequestPeaks, shapeOf, stagePeak, stagePeaks, type MemoryPlan, type Stage, type StageEstimate } from './memory.js';
import { assertFinite, blockEventsDue, formatDuration, formatGB, StageMeter, type StageEvent, type StageName, type StageStats } from './run-monitor.js';
import { paramCount, SpeedLog, speedKey, transformerFlop } from './speed.js';
import { decodeLatents, denoise, runClip, runT5, throwIfAborted, type Conditioning } from './stages.js';
import { loadClipTokenizer, loadT5Tokenizer, type TextTokenizer } from './text/tokenizers.js';
import type { FluxParams } from './graphs/transformer.js';
import { distinctTensors, type Weights } from '../onnx/tensor-source.js';

export type { StageEvent } from './run-monitor.js';

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
  /**
   * After each step. A listener that wants the preview returns the promise that uses it: the next
   * step starts once it settles, so the preview shows the step it belongs to (the runtime holds
   * this thread during a step, and an encode left pending would land a whole step late).
   */
  onProgress?: (p: Progress) => unknown;
  /** What happens now: loading (with sizes), encoding, each step (every ~2 s while it runs), decoding. */
  onStage?: (e: StageEvent) => void;
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
  /** Per stage: time, peak resident memory and bytes read from disk (Linux), with the estimate. */
  stages: Partial<Record<StageName, StageStats & { estimateBytes?: number }>>;
}

export interface GenerateResult {
  images: GeneratedImage[];
  timings: Timings;
}

export type { Conditioning } from './stages.js';

export interface PipelineOptions extends Omit<LoadOptions, 'policy'> {
  policy?: WeightPolicy;
  /** What stays loaded between stages and requests; default: planned from free memory (memory.ts). */
  plan?: MemoryPlan;
  /** Loading events (each component with its size). */
  onStage?: (e: StageEvent) => void;
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
  /** The memory estimate per stage and what stays loaded. */
  memory: StageEstimate;
}


type Sessions = Partial<Record<ComponentName, OnnxSession>>;
type ComponentWeights = Record<ComponentName, Weights>;

export class FluxPipeline {
  private queue: Promise<void> = Promise.resolve();
  private sessions: Sessions | undefined;
  private readonly speed: SpeedLog;
  private lastText: { prompt: string; cond: Conditioning } | undefined;
  private textWasCached = false;

  private constructor(
    readonly info: PipelineInfo,
    sessions: Sessions,
    private readonly tokenizers: { clip: TextTokenizer; t5: TextTokenizer },
    private readonly decoderParams: DecoderParams,
    private readonly weights: ComponentWeights,
    private readonly model: ModelSet,
    private readonly opts: PipelineOptions,
  ) {
    this.sessions = sessions;
    this.speed = new SpeedLog(opts.cacheDir, speedKey(info.provider, info.policy));
  }

  /**
   * Checks that the parts fit together (from shapes alone, before any weight is read), plans what
   * stays loaded from the memory estimate, then builds (or reads from the graph cache) and loads the
   * sessions in the order they run: text encoders, then — when the plan keeps everything — the
   * transformer and the decoder (else they load when their stage comes).
   */
  static async load(model: ModelSet, opts: PipelineOptions = {}): Promise<FluxPipeline> {
    const start = performance.now();
    const weights: ComponentWeights = { transformer: model.transformer, t5: model.t5, clip: model.clip, decoder: model.autoencoder };
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
    const memory = planMemory(weights, policy, provider, 1024, 1024, opts.plan);
    const sessions: Sessions = {};
    let fallbackReason: string | undefined;
    const load = async (name: ComponentName) => {
      const t0 = performance.now();
      const bytes = fileBytes(weights[name]);
      const what = `${LABELS[name]} (${formatGB(bytes)})`;
      opts.onStage?.({ stage: 'load', component: name, bytes, message: `loading ${what}`, elapsedMs: performance.now() - start });
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
      sessions[name] = c.session;
      opts.onStage?.({ stage: 'load', component: name, bytes, done: true, message: `loaded ${what} in ${formatDuration(performance.now() - t0)}`, elapsedMs: performance.now() - start });
    };
    try {
      const order: ComponentName[] = memory.plan.keepTextEncoders ? ['t5', 'clip', 'transformer', 'decoder'] : ['t5', 'clip'];
      for (const name of order) await load(name);
      const info: PipelineInfo = {
        name: model.name, untrained: model.untrained, provider, policy, transformer: fp,
        loadMs: performance.now() - start, memory, ...(fallbackReason ? { fallbackReason } : {}),
      };
      return new FluxPipeline(info, sessions, tokenizers, aep, weights, model, { ...opts, provider, policy });
    } catch (err) {
      await Promise.allSettled(Object.values(sessions).map((s) => s.release()));
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
    let transformerRuns = 0;
    const { signal, onProgress, onStage } = hooks;
    const { width, height, steps, samples } = params;
    const [, channels, h, w] = latentShape(height, width, this.decoderParams.zChannels);
    const timesteps = getSchedule(steps, (h / 2) * (w / 2), { shift: this.info.transformer.guidance_embed });
    const guided = params.cfgScale > 1 && (params.negativePrompt ?? '').trim() !== '';
    const memory = planMemory(this.weights, this.info.policy, this.info.provider, width, height, this.opts.plan);
    const stats: Timings['stages'] = {};
    const elapsed = () => performance.now() - start;
    const t5Tokens = this.tokenizers.t5.maxLength;
    const stepFlop = transformerFlop(this.info.transformer, this.weights.transformer, (h / 2) * (w / 2) + t5Tokens);
    const textFlop = 2 * paramCount(this.weights.t5) * t5Tokens * (guided ? 2 : 1);
    const runsPerStep = guided ? 2 : 1;
    const eta = (doneSteps: number) => this.speed.estimateMs({ stepFlop, textFlop, steps: steps * samples * runsPerStep - doneSteps, pixels: width * height * samples, textLeft: doneSteps === 0 });
    const stage = async <T>(name: StageName, estimate: number | undefined, work: () => Promise<T>): Promise<T> => {
      const meter = new StageMeter();
      try {
        return await work();
      } finally {
        const prev = stats[name];
        const now = meter.stop();
        stats[name] = prev
          ? { ms: prev.ms + now.ms, ...maxPeak(prev, now), ...(prev.readBytes !== undefined || now.readBytes !== undefined ? { readBytes: (prev.readBytes ?? 0) + (now.readBytes ?? 0) } : {}), ...(estimate ? { estimateBytes: Math.max(estimate, prev.estimateBytes ?? 0) } : {}) }
          : { ...now, ...(estimate ? { estimateBytes: estimate } : {}) };
      }
    };
    const estimateMs = eta(0);
    if (estimateMs !== undefined) {
      onStage?.({ stage: 'estimate', message: `about ${formatDuration(estimateMs)} on this machine (measured speed)`, etaMs: estimateMs, elapsedMs: 0 });
    }

    throwIfAborted(signal);
    const cond = await stage('encode', this.estimateNow(memory, 'text', this.lastText?.prompt === params.prompt && !guided), async () => {
      const t0 = performance.now();
      onStage?.({ stage: 'encode', message: 'encoding the prompt', elapsedMs: elapsed() });
      const load = onStage && { onStage, since: start };
      // Where T5 runs block by block, its blocks are the progress: over the prompts it will encode
      // (the last prompt's encoding is kept, so after the positive one the negative reruns unless equal).
      const toRun = (this.lastText?.prompt !== params.prompt ? 1 : 0) + (guided && params.negativePrompt !== params.prompt ? 1 : 0);
      let encoded = 0;
      const due = blockEventsDue();
      // Between T5's blocks a cancel also takes effect.
      const blocks = (what: string): BlockProgress | undefined => (onStage || signal) ? (done, total) => {
        throwIfAborted(signal);
        const fraction = Math.min(1, (encoded * total + done) / (Math.max(1, toRun) * total));
        if (done === total) encoded++;
        if (onStage && due(done === total)) onStage({ stage: 'encode', fraction, message: `encoding ${what}: T5 block ${done} of ${total}`, elapsedMs: elapsed() });
      } : undefined;
      const positive = await this.encodeText(params.prompt, load, blocks('the prompt'));
      const negative = guided ? await this.encodeText(params.negativePrompt!, load, blocks('the negative prompt')) : undefined;
      if (!this.textWasCached) this.speed.record('text', performance.now() - t0, textFlop);
      onStage?.({ stage: 'encode', done: true, message: `encoded the prompt in ${formatDuration(performance.now() - t0)}`, elapsedMs: elapsed() });
      return { positive, negative };
    });
    if (!memory.plan.keepTextEncoders) await this.release(['t5', 'clip'], onStage, start);
    const textMs = performance.now() - start;
    let denoiseMs = 0, decodeMs = 0, encodeMs = 0;
    let stepsDone = 0;

    const images: GeneratedImage[] = [];
    for (let index = 0; index < samples; index++) {
      const seed = imageSeed(params.seed, index);
      const t0 = performance.now();
      const noise = pack(randn([1, channels, h, w], seed), channels, h, w);
      const latents = await stage('denoise', this.estimateNow(memory, 'denoise'), async () => {
        await this.ensure(['transformer'], onStage, start);
        const transformer = this.live().transformer!;
        const runsBefore = transformer.runs;
        let stepStart = performance.now();
        let step = 1;
        let stepRuns = transformer.runs;
        const expected = () => this.speed.stepMs(stepFlop);
        // onnxruntime-node runs a session on this thread, so one call cannot speak during a step:
        // each step's start carries how long it should take, and the process hosting the runtime
        // (runtime/engine/process-backend.ts) reports progress every 2 s from that, until a
        // block-by-block transformer reports its blocks (below).
        const report = () => {
          stepRuns = transformer.runs;
          const e = expected();
          const left = eta(stepsDone);
          onStage?.({
            stage: 'denoise', image: index, images: samples, step, steps, elapsedMs: elapsed(),
            ...(e !== undefined ? { expectedMs: e * runsPerStep } : {}), ...(left !== undefined ? { etaMs: left } : {}),
            message: `image ${index + 1} of ${samples}, step ${step} of ${steps}`,
          });
        };
        report();
        // A transformer that runs block by block says where it is within the step: blocks run of
        // the step's runs × blocks (two runs a step under classifier-free guidance). Between its
        // blocks a cancel also takes effect (a full-size step is a minute on a CPU).
        if ((onStage || signal) && transformer.reportsProgress) {
          const due = blockEventsDue();
          transformer.onProgress = (done, total) => {
            throwIfAborted(signal);
            if (!onStage || !due()) return;
            const left = eta(stepsDone);
            onStage({
              stage: 'denoise', image: index, images: samples, step, steps, elapsedMs: elapsed(),
              fraction: Math.min(1, ((transformer.runs - stepRuns) * total + done) / (runsPerStep * total)),
              ...(left !== undefined ? { etaMs: Math.max(0, left - (performance.now() - stepStart)) } : {}),
              message: `image ${index + 1} of ${samples}, step ${step} of ${steps}, block ${done} of ${total}`,
            });
          };
        }
        try {
          const out = await denoise(transformer, this.info.transformer, noise, { h, w }, timesteps, cond.positive, {
            sampler: params.sampler, cfgScale: params.cfgScale,
            ...(params.guidance !== undefined ? { guidance: params.guidance } : {}),
            ...(cond.negative ? { negative: cond.negative } : {}), ...(signal ? { signal } : {}),
            onStep: async (done, x0) => {
              this.speed.record('step', (performance.now() - stepStart) / runsPerStep, stepFlop);
              stepsDone += runsPerStep;
              step = Math.min(steps, done + 1);
              await onProgress?.({ sample: index, samples, seed, step: done, steps, preview: () => previewPng(unpack(x0, channels, h, w), channels, h, w) });
              // A preview's encode is not the next step's time.
              stepStart = performance.now();
              if (done < steps) report();
            },
          });
          transformerRuns += transformer.runs - runsBefore;
          return out;
        } finally {
          transformer.onProgress = undefined;
        }
      });
      assertFinite(latents, 'transformer', index, seed);
      const t1 = performance.now();
      throwIfAborted(signal);
      // A plan that cannot keep the transformer lets it go before the last decode (memory.ts).
      if (!memory.plan.keepTransformer && index === samples - 1) await this.release(['transformer'], onStage, start);
      const decoded = await stage('decode', this.estimateNow(memory, 'decode'), async () => {
        await this.ensure(['decoder'], onStage, start);
        onStage?.({ stage: 'decode', image: index, images: samples, message: `decoding image ${index + 1} of ${samples}`, elapsedMs: elapsed() });
        const d0 = performance.now();
        const img = await decodeLatents(this.live().decoder!, this.decoderParams, latents, { h, w }, height, width);
        this.speed.record('decode', performance.now() - d0, width * height);
        return img;
      });
      assertFinite(decoded, 'decoder', index, seed);
      const pixels = toPixels(decoded, height, width);
      const t2 = performance.now();
      const bytes = await encodeImage(pixels, width, height, params.format, params.jpegQuality);
      denoiseMs += t1 - t0; decodeMs += t2 - t1; encodeMs += performance.now() - t2;
      images.push({ index, seed, bytes, format: params.format, width, height, finishReason: 'SUCCESS' });
    }
    if (!memory.plan.keepTransformer) await this.release(['transformer', 'decoder'], onStage, start);
    this.speed.save();
    const wallMs = performance.now() - start;
    const sessionRunMs = this.sessionRunMs() - runBefore;
    return {
      images,
      timings: { wallMs, sessionRunMs, overheadMs: wallMs - sessionRunMs, textMs, denoiseMs, decodeMs, encodeMs, transformerRuns, stages: stats },
    };
  }

  /**
   * T5 and CLIP features of a prompt (the tokenizers pad and truncate as the reference does); the
   * last prompt's are kept. `onBlock` hears T5's blocks where T5 runs block by block.
   */
  async encodeText(prompt: string, load?: { onStage: (e: StageEvent) => void; since: number }, onBlock?: BlockProgress): Promise<Conditioning> {
    this.textWasCached = this.lastText?.prompt === prompt;
    if (this.lastText?.prompt === prompt) return this.lastText.cond;
    await this.ensure(['t5', 'clip'], load?.onStage, load?.since);
    const s = this.live();
    const t5Ids = this.tokenizers.t5.encode(prompt);
    let txt: Float32Array;
    s.t5!.onProgress = onBlock;
    try {
      txt = await runT5(s.t5!, t5Ids);
    } finally {
      s.t5!.onProgress = undefined;
    }
    const cond = { txt, txtTokens: t5Ids.length, vec: await runClip(s.clip!, this.tokenizers.clip.encode(prompt)) };
    this.lastText = { prompt, cond };
    return cond;
  }

  /**
   * The estimate of a stage's peak as this request will meet it: what the plan keeps loaded, and of
   * that, what has already run (its mapped weights and workspace are resident; runtime/flux/memory.ts).
   */
  private estimateNow(memory: StageEstimate, stage: Stage, skipText = false): number {
    const s = this.live();
    const ran = (x: OnnxSession | undefined) => !!x && x.runs > 0;
    const warm = { t5: ran(s.t5), clip: ran(s.clip), transformer: ran(s.transformer), autoencoder: ran(s.decoder) };
    const loaded = { t5: !!s.t5, clip: !!s.clip, transformer: !!s.transformer, autoencoder: !!s.decoder };
    return stagePeak(memory, memory.plan, stage, warm, skipText, loaded);
  }

  /** Loads the components that are not loaded (the plan may have released them). */
  private async ensure(names: ComponentName[], onStage?: (e: StageEvent) => void, since = performance.now()): Promise<void> {
    const live = this.live();
    for (const name of names) {
      if (live[name]) continue;
      const bytes = fileBytes(this.weights[name]);
      const what = `${LABELS[name]} (${formatGB(bytes)})`;
      const t0 = performance.now();
      onStage?.({ stage: 'load', component: name, bytes, message: `loading ${what}`, elapsedMs: performance.now() - since });
      const c = await loadComponent(name, this.weights[name], this.model.config, { ...this.opts, provider: this.info.provider, policy: this.info.policy });
      live[name] = c.session;
      onStage?.({ stage: 'load', component: name, bytes, done: true, message: `loaded ${what} in ${formatDuration(performance.now() - t0)}`, elapsedMs: performance.now() - since });
    }
  }

  private async release(names: ComponentName[], onStage?: (e: StageEvent) => void, since = performance.now()): Promise<void> {
    const live = this.live();
    for (const name of names) {
      const s = live[name];
      if (!s) continue;
      delete live[name];
      await s.release();
      onStage?.({ stage: 'release', component: name, message: `released ${LABELS[name]} to make room`, elapsedMs: performance.now() - since });
    }
  }

  /** Releases the sessions; the pipeline cannot generate afterwards. */
  async unload(): Promise<void> {
    await this.queue; // a running generation finishes (or is cancelled by its signal) first
    const s = this.sessions;
    this.sessions = undefined;
    if (s) await Promise.allSettled(Object.values(s).map((x) => x!.release()));
  }

  get loaded(): boolean {
    return this.sessions !== undefined;
  }

  private live() {
    if (!this.sessions) throw new Error('the model was unloaded; load it again to generate');
    return this.sessions;
  }

  private sessionRunMs(): number {
    return Object.values(this.live()).reduce((sum, s) => sum + s!.runMs, 0);
  }
}

const LABELS: Record<ComponentName, string> = { transformer: 'the transformer', t5: 'T5', clip: 'CLIP', decoder: 'the decoder' };

/** Bytes of the distinct stored tensors of a component (what loading it reads). */
function fileBytes(w: Weights): number {
  return distinctTensors(w).reduce((n, t) => n + t.length, 0);
}

function maxPeak(a: StageStats, b: StageStats): { peakRssBytes?: number } {
  const p = Math.max(a.peakRssBytes ?? 0, b.peakRssBytes ?? 0);
  return p ? { peakRssBytes: p } : {};
}

const tensorsOf = (w: Weights) => w.keys().map((k) => ({ ...w.get(k)!, name: k }));

/** The memory estimate per stage at this size, planned for the memory free now (or the plan given). */
export function planMemory(weights: ComponentWeights, policy: WeightPolicy, provider: Provider, width: number, height: number, plan?: MemoryPlan): StageEstimate {
  const device = provider === 'cpu' ? 'cpu' : 'gpu';
  const fp8 = policy.fp8 === 'cast' ? 'widened' : 'stored';
  const lists = { transformer: tensorsOf(weights.transformer), autoencoder: tensorsOf(weights.decoder), t5: tensorsOf(weights.t5), clip: tensorsOf(weights.clip) };
  const components = {
    transformer: componentMemory('transformer', lists.transformer, device, fp8), autoencoder: componentMemory('autoencoder', lists.autoencoder, device, fp8),
    t5: componentMemory('t5', lists.t5, device, fp8), clip: componentMemory('clip', lists.clip, device, fp8),
  };
  const input = { device, fp8, width, height, components, shape: shapeOf(lists) } as const;
  const est = estimateStages(input, plan ? Infinity : usableMemory() / 0.75);
  if (!plan) return est;
  const stages = stagePeaks(input, plan);
  return { ...est, plan, stages, first: firstRequestPeaks(input, plan), peak: Math.max(...Object.values(stages)) };
}


/** Sizes a local model renders: the API's local sizes (multiples of 16 from 16 to 4096). */
export function checkImageSize(width: number, height: number): void {
  for (const [v, name] of [[width, 'width'], [height, 'height']] as const) {
    if (!isLocalSize(v, v)) throw invalid(`${name} must be a multiple of ${LOCAL_SIDE_STEP} from ${LOCAL_MIN_SIDE} to ${LOCAL_MAX_SIDE}, got ${v}`, name);
  }
}

/**
 * The pipeline's preconditions, with the API schema's limits (runtime/api): the same numbers for
 * every caller, so a request the schema accepts is never refused here with another rule.
 */
function checkParams(p: GenerateParams): void {
  checkImageSize(p.width, p.height);
  if (typeof p.prompt !== 'string') throw invalid('prompt must be a string', 'prompt');
  if (!Number.isInteger(p.steps) || p.steps < 1 || p.steps > MAX_STEPS) throw invalid(`steps must be an integer from 1 to ${MAX_STEPS}, got ${p.steps}`, 'steps');
  if (!Number.isInteger(p.samples) || p.samples < 1) throw invalid(`samples must be a positive integer, got ${p.samples}`, 'samples');
  if (!Number.isInteger(p.seed) || p.seed < 0 || p.seed > MAX_SEED) throw invalid(`seed must be an integer from 0 to ${MAX_SEED}, got ${p.seed}`, 'seed');
  if (!SAMPLER_NAMES.includes(p.sampler)) throw invalid(`sampler must be ${SAMPLER_NAMES.join(' or ')}, got ${JSON.stringify(p.sampler)}`, 'sampler');
  if (!Number.isFinite(p.cfgScale) || p.cfgScale < 0 || p.cfgScale > MAX_CFG_SCALE) throw invalid(`cfgScale must be a number from 0 to ${MAX_CFG_SCALE}, got ${p.cfgScale}`, 'cfg_scale');
  if (p.format !== 'png' && p.format !== 'jpeg') throw invalid(`format must be png or jpeg, got ${JSON.stringify(p.format)}`, 'format');
}
