// This machine's measured speed, so a long local run can say how long it will take before it
// starts: arithmetic rates (FLOP per millisecond) of the text encoders and of a transformer step,
// and the decoder's time per pixel, per provider and weight policy, averaged over runs and kept
// beside the built-graph cache. Before any transformer step has run here, a step is estimated
// from the text encoders' rate measured moments earlier (both are the same large Gemms).
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir as defaultCacheDir, type Provider } from '../onnx/session.js';
import type { WeightPolicy } from '../onnx/weights.js';
import { distinctTensors, type Weights } from '../onnx/tensor-source.js';
import type { ModelSet } from './checkpoints/checkpoint.js';
import type { FluxParams } from './graphs/transformer.js';
import { choosePolicy, componentParams } from './sessions.js';
import { writeJsonAtomic } from '../util/files.js';

type Kind = 'text' | 'step' | 'decode';
type Rates = Partial<Record<Kind, number>>;

export interface WorkSize {
  /** FLOP of one transformer evaluation, of the text encoders, and pixels to decode. */
  stepFlop: number;
  textFlop: number;
  /** Evaluations left, and whether the text encoders still have to run. */
  steps: number;
  textLeft: boolean;
  pixels: number;
}

export class SpeedLog {
  private readonly file: string;
  private rates: Rates = {};
  private dirty = false;

  constructor(cacheDir: string | undefined, private readonly key: string) {
    this.file = path.join(cacheDir ?? defaultCacheDir(), 'speed.json');
    try {
      const all = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, Rates>;
      this.rates = all[key] ?? {};
    } catch {
      /* nothing measured yet */
    }
  }

  /** `units`: FLOP for text and step, pixels for decode. */
  record(kind: Kind, ms: number, units: number): void {
    if (!(ms > 0) || !(units > 0)) return;
    const rate = units / ms;
    const old = this.rates[kind];
    this.rates[kind] = old === undefined ? rate : 0.5 * old + 0.5 * rate;
    this.dirty = true;
  }

  /** Milliseconds of one transformer evaluation of `flop`, or undefined before anything was measured. */
  stepMs(flop: number): number | undefined {
    const rate = this.rates.step ?? this.rates.text;
    return rate ? flop / rate : undefined;
  }

  /** Milliseconds the rest of a request will take, or undefined before anything was measured. */
  estimateMs(w: WorkSize): number | undefined {
    const step = this.stepMs(w.stepFlop);
    if (step === undefined) return undefined;
    const text = w.textLeft && this.rates.text ? w.textFlop / this.rates.text : 0;
    const decode = this.rates.decode ? w.pixels / this.rates.decode : 0;
    return text + w.steps * step + decode;
  }

  save(): void {
    if (!this.dirty) return;
    try {
      let all: Record<string, Rates> = {};
      try {
        all = JSON.parse(fs.readFileSync(this.file, 'utf8')) as Record<string, Rates>;
      } catch {
        /* first time */
      }
      all[this.key] = this.rates;
      writeJsonAtomic(this.file, all, { createFolder: true });
      this.dirty = false;
    } catch {
      // A read-only cache only costs the estimate next time.
    }
  }
}

/** Values in a component's distinct stored tensors (aliases counted once). */
export function paramCount(w: Weights): number {
  return distinctTensors(w).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}

/** FLOP of one transformer evaluation: 2 per weight per token, plus attention (4·T²·width per block). */
export function transformerFlop(p: FluxParams, w: Weights, tokens: number): number {
  return 2 * paramCount(w) * tokens + 4 * tokens * tokens * p.hidden_size * (p.depth + p.depth_single_blocks);
}

/** The key speeds are kept under: the provider and the weight policy the runtime will choose. */
export function speedKey(provider: string, policy: WeightPolicy): string {
  return `${provider}:${policy.fp8}:${policy.compute}`;
}

/**
 * How long a request would take on this machine, from the speeds measured here before (loads
 * nothing: shapes from the file headers); undefined when nothing was measured yet.
 */
export function estimateRequestMs(
  set: ModelSet,
  r: { width: number; height: number; steps: number; samples: number; cfgScale: number; negativePrompt?: string; provider: string },
  cacheDir?: string,
): number | undefined {
  const provider = r.provider as Provider;
  const weights = [set.transformer, set.t5, set.clip, set.autoencoder];
  const log = new SpeedLog(cacheDir, speedKey(provider, choosePolicy(provider, weights)));
  const fp = componentParams('transformer', set.transformer, set.config);
  const guided = r.cfgScale > 1 && (r.negativePrompt ?? '').trim() !== '';
  const t5Tokens = 256;
  const tokens = Math.ceil(r.height / 16) * Math.ceil(r.width / 16) + t5Tokens;
  return log.estimateMs({
    stepFlop: transformerFlop(fp, set.transformer, tokens),
    textFlop: 2 * paramCount(set.t5) * t5Tokens * (guided ? 2 : 1),
    steps: r.steps * r.samples * (guided ? 2 : 1), textLeft: true, pixels: r.width * r.height * r.samples,
  });
}
