// The safety check: each image goes through an ONNX image classifier installed with the models.
// The runtime owns the preprocessing (resize, normalize, NCHW float32) and the threshold, so any
// classifier with one image input and a score or class-logit output can be dropped in; a
// `safety.json` beside the model may override the defaults. A flagged image is replaced by an
// all-black image of the same size and format (api.md), so clients that decode every entry work.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { DEFAULT_JPEG_QUALITY, type ImageFormat } from '../api/index.js';
import { createSession, type OnnxSession } from '../onnx/session.js';
import type { GeneratedImage } from '../api/backend.js';
import { NotRegularFileError, readRegularFileSync } from '../util/regular-file.js';

export const SAFETY_MODEL_FILE = 'safety.onnx';
export const SAFETY_SETTINGS_FILE = 'safety.json';

export interface SafetySettings {
  /** Square input side the classifier expects. */
  inputSize: number;
  /** Per-channel normalization of pixels in [0, 1]: (x − mean) / std. */
  mean: [number, number, number];
  std: [number, number, number];
  /** An image is flagged when its unsafe score is at or above this. */
  threshold: number;
  /** For a multi-class output: the index of the "unsafe" class (default: the last). */
  unsafeIndex?: number;
  /**
   * How to read the output: 'probability' (already 0–1), 'logit' (sigmoid of one value, or softmax
   * over classes), 'auto' (a value in 0–1 / a row summing to 1 is a probability, else a logit).
   */
  output: 'auto' | 'probability' | 'logit';
}

export const DEFAULT_SAFETY_SETTINGS: SafetySettings = Object.freeze({
  inputSize: 224,
  mean: [0.5, 0.5, 0.5],
  std: [0.5, 0.5, 0.5],
  threshold: 0.5,
  output: 'auto',
}) as SafetySettings;

/**
 * Where the classifier is installed: `safety.onnx` in the model set's folder, or
 * `$SCHNELL_HOME/models/safety/safety.onnx` (shared by every model). Null when neither exists.
 */
export function locateSafetyModel(opts: { modelDir?: string | undefined; home?: string | undefined }): string | null {
  const candidates: string[] = [];
  if (opts.modelDir) candidates.push(path.join(opts.modelDir, SAFETY_MODEL_FILE));
  if (opts.home) candidates.push(path.join(opts.home, 'models', 'safety', SAFETY_MODEL_FILE));
  return candidates.find((f) => isFile(f)) ?? null;
}

function isFile(f: string): boolean {
  try {
    return fs.statSync(f).isFile();
  } catch {
    return false;
  }
}

function readSettings(modelFile: string): SafetySettings {
  const file = path.join(path.dirname(modelFile), SAFETY_SETTINGS_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { ...DEFAULT_SAFETY_SETTINGS };
    throw new Error(`${file} is not valid JSON; fix or delete it`);
  }
  const s = { ...DEFAULT_SAFETY_SETTINGS, ...(raw as object) } as SafetySettings;
  const triple = (v: unknown) => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  if (!Number.isInteger(s.inputSize) || s.inputSize < 8 || s.inputSize > 2048) throw new Error(`${file}: inputSize must be an integer from 8 to 2048`);
  if (!triple(s.mean) || !triple(s.std) || s.std.some((x) => x === 0)) throw new Error(`${file}: mean and std must be three numbers (std non-zero)`);
  if (typeof s.threshold !== 'number' || !(s.threshold >= 0 && s.threshold <= 1)) throw new Error(`${file}: threshold must be a number from 0 to 1`);
  if (!['auto', 'probability', 'logit'].includes(s.output)) throw new Error(`${file}: output must be "auto", "probability" or "logit"`);
  return s;
}

/** Reads the classifier's output as one unsafe score in [0, 1]. */
export function unsafeScore(values: ArrayLike<number>, settings: Pick<SafetySettings, 'output' | 'unsafeIndex'>): number {
  const v = Array.from(values);
  if (v.length === 0 || v.some((x) => !Number.isFinite(x))) throw new Error('the safety classifier returned no usable score');
  if (v.length === 1) {
    const x = v[0]!;
    const isProbability = settings.output === 'probability' || (settings.output === 'auto' && x >= 0 && x <= 1);
    return isProbability ? Math.min(1, Math.max(0, x)) : 1 / (1 + Math.exp(-x));
  }
  const index = settings.unsafeIndex ?? v.length - 1;
  if (!Number.isInteger(index) || index < 0 || index >= v.length) throw new Error(`the safety classifier has ${v.length} classes; unsafeIndex ${index} is out of range`);
  const sum = v.reduce((a, b) => a + b, 0);
  const isProbability = settings.output === 'probability' || (settings.output === 'auto' && v.every((x) => x >= 0 && x <= 1) && Math.abs(sum - 1) < 1e-3);
  if (isProbability) return Math.min(1, Math.max(0, v[index]!));
  const max = Math.max(...v);
  const exps = v.map((x) => Math.exp(x - max));
  return exps[index]! / exps.reduce((a, b) => a + b, 0);
}

export class SafetyClassifier {
  private constructor(
    private session: OnnxSession,
    readonly settings: SafetySettings,
    readonly file: string,
  ) {}

  static async load(file: string, settings?: Partial<SafetySettings>): Promise<SafetyClassifier> {
    let bytes: Buffer;
    try {
      bytes = readRegularFileSync(file, 'safety model');
    } catch (err) {
      if (err instanceof NotRegularFileError) throw new Error(err.message);
      throw new Error(`safety model not installed: ${file} cannot be read`);
    }
    const merged = { ...readSettings(file), ...settings };
    const session = await createSession(bytes, { baseDir: path.dirname(file), provider: 'cpu', label: 'safety classifier', threads: 1 });
    if (session.inputNames.length !== 1) {
      await session.release();
      throw new Error(`${file}: a safety classifier needs exactly one image input, this one has ${session.inputNames.length}`);
    }
    return new SafetyClassifier(session, merged, file);
  }

  /** Image → NCHW float32 at the classifier's size, normalized as the settings say. */
  async preprocess(image: Uint8Array): Promise<Float32Array> {
    const n = this.settings.inputSize;
    const { data } = await sharp(image).removeAlpha().toColourspace('srgb').resize(n, n, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
    const out = new Float32Array(3 * n * n);
    const { mean, std } = this.settings;
    for (let c = 0; c < 3; c++) {
      const base = c * n * n;
      for (let i = 0; i < n * n; i++) out[base + i] = (data[i * 3 + c]! / 255 - mean[c]!) / std[c]!;
    }
    return out;
  }

  async score(image: Uint8Array): Promise<number> {
    const n = this.settings.inputSize;
    const pixels = await this.preprocess(image);
    const outputs = await this.session.run({ [this.session.inputNames[0]!]: { type: 'float32', dims: [1, 3, n, n], data: pixels } });
    const first = outputs[this.session.outputNames[0]!];
    if (!first || !(first.data instanceof Float32Array)) throw new Error(`${this.file}: the safety classifier's output must be float32`);
    return unsafeScore(first.data, this.settings);
  }

  async classify(image: Uint8Array): Promise<{ score: number; flagged: boolean }> {
    const score = await this.score(image);
    return { score, flagged: score >= this.settings.threshold };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** An all-black image of the same size and format, for a filtered result. */
export async function blackImageLike(image: Uint8Array, format: ImageFormat, jpegQuality = DEFAULT_JPEG_QUALITY): Promise<Uint8Array> {
  const { width, height } = await sharp(image).metadata();
  if (!width || !height) throw new Error('cannot read the size of a generated image');
  const black = sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 0 } } });
  return format === 'png' ? black.png().toBuffer() : black.jpeg({ quality: Math.max(1, jpegQuality) }).toBuffer();
}

/**
 * The installed classifier, loaded on first use and re-located on every check, so installing or
 * removing it takes effect without a restart.
 */
export class SafetyModel {
  private loaded: { file: string; mtimeMs: number; classifier: Promise<SafetyClassifier> } | null = null;

  constructor(private readonly where: { modelDir?: string | undefined; home?: string | undefined }) {}

  /** The classifier's file, or null when none is installed. */
  locate(): string | null {
    return locateSafetyModel(this.where);
  }

  private async classifier(): Promise<SafetyClassifier> {
    const file = this.locate();
    if (!file) throw new Error('safety model not installed');
    const mtimeMs = fs.statSync(file).mtimeMs;
    if (!this.loaded || this.loaded.file !== file || this.loaded.mtimeMs !== mtimeMs) {
      const previous = this.loaded;
      const classifier = SafetyClassifier.load(file);
      classifier.catch(() => undefined);
      this.loaded = { file, mtimeMs, classifier };
      previous?.classifier.then((c) => c.release()).catch(() => undefined);
    }
    try {
      return await this.loaded.classifier;
    } catch (err) {
      this.loaded = null;
      throw err;
    }
  }

  /** Runs every image through the classifier; flagged images become black, CONTENT_FILTERED. */
  async filter(images: GeneratedImage[], jpegQuality?: number): Promise<GeneratedImage[]> {
    const classifier = await this.classifier();
    const out: GeneratedImage[] = [];
    for (const img of images) {
      const { flagged } = await classifier.classify(img.bytes);
      out.push(flagged ? { ...img, bytes: await blackImageLike(img.bytes, img.format, jpegQuality), finishReason: 'CONTENT_FILTERED' } : img);
    }
    return out;
  }

  async release(): Promise<void> {
    const l = this.loaded;
    this.loaded = null;
    await l?.classifier.then((c) => c.release()).catch(() => undefined);
  }
}
