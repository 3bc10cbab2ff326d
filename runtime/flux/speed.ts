// This machine's measured speed, so a long local run can say how long it will take before it
// starts: arithmetic rates (FLOP per millisecond) of the text encoders and of a transformer step,
// and the decoder's time per pixel, per provider and weight policy, averaged over runs and kept
// beside the built-graph cache. Before any transformer step has run here, a step is estimated
// from the text encoders' rate measured moments earlier (both are the same large Gemms).
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir as defaultCacheDir } from '../onnx/session.js';
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
