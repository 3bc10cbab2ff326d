// Runs the cases of a reference folder (`goldens.json` + `goldens.safetensors`, and tokenizer cases
// from `expected_ids.json`) through the product's own code: the same component loader, graph
// builders, sessions, noise, schedule, sampler and pixel conversion as FluxPipeline. Every
// hyperparameter comes from the files; nothing here knows a fixture's names or sizes.
import fs from 'node:fs';
import path from 'node:path';
import type { Provider } from '../onnx/session.js';
import { openComponent, type ComponentKind } from './checkpoints/checkpoint.js';
import { resolveModelConfig, type ModelConfig } from './model-config.js';
import { decoderUpscale } from './graphs/autoencoder.js';
import { randn } from './sampling/noise.js';
import { imageIds, latentShape, pack } from './sampling/pack.js';
import { toPixels } from './sampling/pixels.js';
import { readSafetensorsHeader, readTensor, readTensorBytes } from './checkpoints/safetensors.js';
import { isSamplerName } from './sampling/samplers.js';
import { getSchedule } from './sampling/schedule.js';
import { computeTypeOf, loadComponent, type ComponentName, type LoadOptions } from './sessions.js';
import { decodeLatents, denoise, runClip, runT5, runTransformer } from './stages.js';
import { runTokenizerCases } from './text/tokenizers.js';
import type { TensorInfo, Weights } from '../onnx/tensor-source.js';
import { readRegularFileSync } from '../util/regular-file.js';

export interface CaseResult {
  ok: boolean;
  kind?: string;
  error?: string;
  [measure: string]: unknown;
}

export interface ConformanceReport {
  ok: boolean;
  dir: string;
  provider: Provider;
  /** What the graphs computed in: float16 (a GPU recipe) widens relative-L2 tolerances to FLOAT16_RELATIVE_L2. */
  compute: 'float32' | 'float16';
  fallbackReason?: string;
  cases: Record<string, CaseResult>;
  /** Names given in `only` that the folder has no case for (then `ok` is false), and the names it has. */
  unknownCases?: string[];
  availableCases?: string[];
}

interface Tolerances {
  relative_l2: Record<string, number>;
  /** For a kind the golden gives no relative-L2 tolerance for. */
  relative_default: number;
  noise_max_abs: number;
  pixels_max_abs: number;
  pixels_mean_abs: number;
}

type Json = Record<string, unknown>;

/** Relative L2 error ‖out − ref‖ / ‖ref‖ (absolute when the reference is all zeros). */
export function relativeL2(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) return Infinity;
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i]! - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  const r = Math.sqrt(num) / (den > 0 ? Math.sqrt(den) : 1);
  return Number.isNaN(r) ? Infinity : r;
}

export function maxAbs(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) return Infinity;
  let m = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(out[i]! - ref[i]!);
    if (!(d <= m)) m = d; // NaN wins
  }
  return m;
}

function meanAbs(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (out.length !== ref.length) return Infinity;
  let s = 0;
  for (let i = 0; i < ref.length; i++) s += Math.abs(out[i]! - ref[i]!);
  return s / Math.max(1, ref.length);
}

/** Runs every case under `dir`. Never throws for a failing case: each reports its own error. */
export async function runConformance(dir: string, opts: LoadOptions & { only?: string[] } = {}): Promise<ConformanceReport> {
  const root = path.resolve(dir);
  const provider = opts.provider ?? 'cpu';
  const report: ConformanceReport = { ok: true, dir: root, provider, compute: computeTypeOf(opts), cases: {} };
  const goldensFile = path.join(root, 'goldens.json');
  const hasGoldens = fs.existsSync(goldensFile);
  const hasTokenizers = fs.existsSync(path.join(root, 'expected_ids.json'));
  if (!hasGoldens && !hasTokenizers) {
    throw new Error(`${root} has neither goldens.json nor expected_ids.json; point at a reference folder such as ../shared/fixtures/flux-tiny`);
  }
  const available: string[] = [];
  if (hasGoldens) await runGoldens(root, goldensFile, opts, report, available);
  if (hasTokenizers) {
    for (const [name, r] of Object.entries(await runTokenizerCases(root))) {
      available.push(name);
      if (!opts.only || opts.only.includes(name)) report.cases[name] = { kind: 'tokenizer', ...r };
    }
  }
  const unknown = (opts.only ?? []).filter((name) => !available.includes(name) && !(name in report.cases));
  if (unknown.length) {
    report.unknownCases = unknown;
    report.availableCases = available;
  }
  report.ok = !unknown.length && Object.values(report.cases).every((c) => c.ok) && Object.keys(report.cases).length > 0;
  return report;
}

async function runGoldens(root: string, goldensFile: string, opts: LoadOptions & { only?: string[] }, report: ConformanceReport, available: string[]): Promise<void> {
  let spec: Json;
  try {
    // Seeds beyond 2^53 (torch takes any 64-bit seed) would lose precision as JSON numbers: keep
    // them as strings, and the noise uses their low 32 bits exactly as torch does.
    const text = readRegularFileSync(goldensFile, 'goldens file', 'utf8').replace(/("seed"\s*:\s*)(-?\d{16,})/g, '$1"$2"');
    spec = JSON.parse(text) as Json;
  } catch (e) {
    report.cases.goldens = { ok: false, error: `${goldensFile} is not valid JSON: ${(e as Error).message}` };
    return;
  }
  const ctx = new Context(root, spec, opts);
  try {
    ctx.tolerances = readTolerances(spec, goldensFile, report.compute);
    ctx.config = modelConfigOf(spec, goldensFile);
  } catch (e) {
    report.cases.goldens = { ok: false, error: (e as Error).message };
    return;
  }
  const cases = (spec.cases ?? {}) as Record<string, Json>;
  available.push(...Object.keys(cases), ...Object.keys((spec.schedules ?? {}) as object).filter((name) => /steps\d+_seq\d+_(shift|noshift)/.test(name)).map((name) => `schedule:${name}`));
  try {
    for (const [name, c] of Object.entries(cases)) {
      if (opts.only && !opts.only.includes(name)) continue;
      try {
        report.cases[name] = { kind: String(c.kind), ...(await ctx.runCase(c)) };
      } catch (e) {
        report.cases[name] = { ok: false, kind: String(c.kind), error: (e as Error).message };
      }
      if (ctx.fallbackReason) report.fallbackReason = ctx.fallbackReason;
    }
    for (const [name, values] of Object.entries((spec.schedules ?? {}) as Record<string, unknown>)) {
      const m = /steps(\d+)_seq(\d+)_(shift|noshift)/.exec(name);
      if (!m || !Array.isArray(values) || (opts.only && !opts.only.includes(`schedule:${name}`))) continue;
      const ours = getSchedule(Number(m[1]), Number(m[2]), { shift: m[3] === 'shift' });
      const err = maxAbs(ours, values as number[]);
      report.cases[`schedule:${name}`] = { ok: err <= 1e-6, kind: 'schedule', max_abs: err };
    }
  } finally {
    await ctx.release();
  }
}

/**
 * The float16 tolerance: a GPU recipe computes its MatMuls in float16 (norms, softmax and residual
 * sums stay float32; runtime/flux/graphs/graph-layers.ts), whose unit roundoff is 2^-11 ≈ 4.9e-4.
 * Every relative-L2 check (transformer forward, T5, CLIP, latents, decoded image) then passes at
 * 5e-3, about ten roundoffs, or at the golden's own tolerance where that is looser. Measured on the
 * CPU provider with the WebGPU recipe, flux-tiny: 3.5e-4 to 5.8e-4 (README, "GPU"). The noise,
 * id, schedule and pixel checks keep the golden's own tolerances.
 */
export const FLOAT16_RELATIVE_L2 = 5e-3;

function readTolerances(spec: Json, file: string, compute: 'float32' | 'float16' = 'float32'): Tolerances {
  const t = spec.tolerances as Partial<Tolerances> | undefined;
  if (!t || typeof t !== 'object' || typeof t.relative_l2 !== 'object') throw new Error(`${file} has no "tolerances" with "relative_l2"`);
  const rel = { ...(t.relative_l2 as Record<string, number>) };
  if (compute === 'float16') for (const k of Object.keys(rel)) rel[k] = Math.max(rel[k]!, FLOAT16_RELATIVE_L2);
  return {
    relative_l2: rel,
    relative_default: compute === 'float16' ? FLOAT16_RELATIVE_L2 : 1e-4,
    noise_max_abs: t.noise_max_abs ?? 1e-5,
    pixels_max_abs: t.pixels_max_abs ?? 1,
    pixels_mean_abs: t.pixels_mean_abs ?? 0.05,
  };
}

/** What the weights cannot show, from the transformer's and autoencoder's `params`. */
function modelConfigOf(spec: Json, file: string): ModelConfig {
  const tp = ((spec.transformer as Json | undefined)?.params ?? {}) as Json;
  const ap = ((spec.ae as Json | undefined)?.params ?? {}) as Json;
  const pick = (o: Json, keys: string[]) => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  return resolveModelConfig({ ...pick(tp, ['axes_dim', 'theta']), ...pick(ap, ['scale_factor', 'shift_factor']) }, `${file} params`);
}

/** Opened components and loaded sessions, shared by the cases that use them. */
class Context {
  tolerances!: Tolerances;
  config!: ModelConfig;
  fallbackReason?: string;
  private goldens?: ReturnType<typeof readSafetensorsHeader>;
  private sessions = new Map<string, Awaited<ReturnType<typeof loadComponent>>>();

  constructor(private root: string, private spec: Json, private opts: LoadOptions) {}

  private file(rel: unknown, what: string): string {
    if (typeof rel !== 'string' || rel === '') throw new Error(`goldens.json names no file for ${what}`);
    return path.resolve(this.root, rel);
  }

  /** goldens.safetensors' header, read once. */
  private header(): ReturnType<typeof readSafetensorsHeader> {
    return (this.goldens ??= readSafetensorsHeader(this.file(this.spec.goldens ?? 'goldens.safetensors', 'the reference tensors')));
  }

  private golden(name: unknown): TensorInfo {
    const info = typeof name === 'string' ? this.header().byName.get(name) : undefined;
    if (!info) throw new Error(`${this.header().file} has no tensor ${JSON.stringify(name)}`);
    return info;
  }

  tensor(name: unknown): { data: Float32Array; shape: number[] } {
    const info = this.golden(name);
    return { data: readTensor(info), shape: info.shape };
  }

  tensorShape(name: unknown): number[] | undefined {
    if (typeof name !== 'string') return undefined;
    return this.header().byName.get(name)?.shape;
  }

  ids(name: unknown): BigInt64Array {
    const info = this.golden(name);
    const bytes = readTensorBytes(info);
    if (info.dtype === 'I64') return new BigInt64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
    return BigInt64Array.from(readTensor(info), (x) => BigInt(Math.round(x)));
  }

  /** A loaded component, by which file of goldens.json holds it (e.g. transformer.fp8). */
  async session<C extends ComponentName>(name: C, kind: ComponentKind, section: string, key: string) {
    const id = `${section}.${key}`;
    let s = this.sessions.get(id);
    if (!s) {
      const sec = (this.spec[section] ?? {}) as Json;
      const file = this.file(sec[key], `${section}.${key}`);
      const config = sec.config !== undefined ? readJson(this.file(sec.config, `${section}.config`)) : undefined;
      const w: Weights = openComponent(kind, file, config ? { config } : {});
      s = await loadComponent(name, w, this.config, this.opts);
      if (s.session.fallbackReason) this.fallbackReason = s.session.fallbackReason;
      this.sessions.set(id, s);
    }
    return s as Awaited<ReturnType<typeof loadComponent<C>>>;
  }

  async runCase(c: Json): Promise<CaseResult> {
    const tol = this.tolerances;
    const rel = (kind: string) => tol.relative_l2[kind] ?? tol.relative_default;
    switch (c.kind) {
      case 'transformer_forward': {
        const { session, params } = await this.session('transformer', 'transformer', 'transformer', String(c.weights ?? 'fp32'));
        const inp = (c.inputs ?? {}) as Json;
        const expect = this.tensor(c.expect);
        const out = await runTransformer(session, params, {
          img: this.tensor(inp.img).data, imgIds: this.tensor(inp.img_ids).data,
          txt: this.tensor(inp.txt).data, txtIds: this.tensor(inp.txt_ids).data,
          y: this.tensor(inp.y).data, t: this.tensor(inp.timesteps).data[0]!,
          ...(inp.guidance !== undefined ? { guidance: this.tensor(inp.guidance).data[0]! } : {}),
        });
        const e = relativeL2(out, expect.data);
        return { ok: e <= rel('transformer_forward'), relative_l2: e, tolerance: rel('transformer_forward') };
      }
      case 't5_encode': {
        const { session } = await this.session('t5', 't5', 't5', 'file');
        const e = relativeL2(await runT5(session, this.ids(c.ids)), this.tensor(c.expect).data);
        return { ok: e <= rel('t5_encode'), relative_l2: e, tolerance: rel('t5_encode') };
      }
      case 'clip_pooled': {
        const { session } = await this.session('clip', 'clip', 'clip', 'file');
        const e = relativeL2(await runClip(session, this.ids(c.ids)), this.tensor(c.expect).data);
        return { ok: e <= rel('clip_pooled'), relative_l2: e, tolerance: rel('clip_pooled') };
      }
      case 'pipeline':
        return this.pipelineCase(c);
      default:
        return { ok: false, error: `unknown case kind ${JSON.stringify(c.kind)}` };
    }
  }

  /** The whole generation path on reference text features: noise → … → pixels. */
  private async pipelineCase(c: Json): Promise<CaseResult> {
    const tol = this.tolerances;
    const height = Number(c.height), width = Number(c.width), steps = Number(c.steps);
    const seed = typeof c.seed === 'string' && /^-?\d+$/.test(c.seed) ? BigInt(c.seed) : Number(c.seed);
    if (![height, width, steps].every((n) => Number.isInteger(n) && n > 0) || !(typeof seed === 'bigint' || Number.isInteger(seed))) {
      throw new Error('a pipeline case needs positive integer height, width, steps and an integer seed');
    }
    const sampler = c.sampler ?? 'K_EULER';
    if (!isSamplerName(sampler)) throw new Error(`unknown sampler ${JSON.stringify(c.sampler)}`);
    const tr = await this.session('transformer', 'transformer', 'transformer', String(c.weights ?? 'fp32'));
    const expect = (c.expect ?? {}) as Json;
    // The autoencoder is needed only when the case checks decoded images or pixels.
    const dec = expect.decoded || expect.pixels ? await this.session('decoder', 'autoencoder', 'ae', 'file') : undefined;
    const r: CaseResult = { ok: true };
    const check = (name: string, err: number, limit: number) => {
      r[name] = err;
      if (!(err <= limit)) r.ok = false;
    };

    const [, channels, h, w] = latentShape(height, width, dec?.params.zChannels ?? tr.params.in_channels / 4);
    const noise = randn([1, channels, h, w], seed);
    if (expect.noise) check('noise_max_abs', maxAbs(noise, this.tensor(expect.noise).data), tol.noise_max_abs);
    if (expect.img_ids) check('img_ids_max_abs', maxAbs(imageIds(h / 2, w / 2, tr.params.axes_dim.length), this.tensor(expect.img_ids).data), 0);
    const timesteps = getSchedule(steps, (h / 2) * (w / 2), { shift: tr.params.guidance_embed });
    if (Array.isArray(c.timesteps)) check('timesteps_max_abs', maxAbs(timesteps, c.timesteps as number[]), 1e-6);

    const txt = this.tensor(c.txt);
    const cond = { txt: txt.data, txtTokens: txt.data.length / tr.params.context_in_dim, vec: this.tensor(c.vec).data };
    const latents = await denoise(tr.session, tr.params, pack(noise, channels, h, w), { h, w }, timesteps, cond, {
      // BFL's denoise() defaults guidance to 4.0 (the product's default, 3.5, is its CLI's).
      sampler, ...(tr.params.guidance_embed ? { guidance: typeof c.guidance === 'number' ? c.guidance : 4.0 } : {}),
    });
    if (expect.latents) check('latents_relative_l2', relativeL2(latents, this.tensor(expect.latents).data), tol.relative_l2.latents ?? Math.max(1e-3, tol.relative_default));
    if (!dec) return r;
    // The reference rounds the latent up (2·ceil(H/16)) and decodes all of it: compare at that
    // size, or at the requested size when the reference cropped to it.
    const up = decoderUpscale(dec.params);
    // Spatial size of the reference: decoded is [1, C, H, W], pixels [H, W, C].
    const refHW = expect.decoded ? this.tensorShape(expect.decoded)?.slice(-2) : this.tensorShape(expect.pixels)?.slice(-3, -1);
    const cropped = refHW?.[0] === height && refHW[1] === width;
    const [outH, outW] = cropped ? [height, width] : [h * up, w * up];
    const decoded = await decodeLatents(dec.session, dec.params, latents, { h, w }, outH, outW);
    // Shapes must agree dimension by dimension (size-1 dimensions aside): equal element counts
    // alone would compare an H×W image with a W×H one.
    const squeeze = (s: number[]) => s.filter((d) => d !== 1).join(',');
    const sameSize = (name: string, got: number[], ref: number[]) => {
      if (squeeze(got) === squeeze(ref)) return true;
      r.ok = false;
      r.error = `${name} is [${got.join(', ')}] but the reference is [${ref.join(', ')}]`;
      return false;
    };
    if (expect.decoded) {
      const ref = this.tensor(expect.decoded);
      if (sameSize('decoded', [1, 3, outH, outW], ref.shape)) check('decoded_relative_l2', relativeL2(decoded, ref.data), tol.relative_l2.decoded ?? Math.max(1e-3, tol.relative_default));
    }
    if (expect.pixels) {
      const pixels = toPixels(decoded, outH, outW);
      const refT = this.tensor(expect.pixels);
      if (!sameSize('pixels', [outH, outW, 3], refT.shape)) return r;
      const ref = refT.data;
      check('pixels_max_abs', maxAbs(pixels, ref), tol.pixels_max_abs);
      check('pixels_mean_abs', meanAbs(pixels, ref), tol.pixels_mean_abs);
    }
    return r;
  }

  async release(): Promise<void> {
    await Promise.allSettled([...this.sessions.values()].map((s) => s.session.release()));
    this.sessions.clear();
  }
}

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readRegularFileSync(file, 'file', 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file} cannot be read as JSON: ${(e as Error).message}`);
  }
}
