// The one request schema of the text_to_image contract (../shared/docs/api.md): the JSON body a
// Fireworks client sends, checked field by field, and its normalized camelCase form that the
// engine, the CLI and the studio use. Every error names the field as the client spelled it.
import { randomInt } from 'node:crypto';
import { z } from 'zod';
import { ApiError, invalid } from './errors.js';
import { type HeaderBag, type ImageFormat, type ResponseType, parseOutputHeaders } from './headers.js';
import { DEFAULT_RESOLUTION, MAX_SIDE, MIN_SIDE, describeResolutions, isSupportedResolution, nearestResolution, parseAspectRatio, LOCAL_MAX_SIDE, LOCAL_MIN_SIDE, LOCAL_SIDE_STEP, isLocalSize } from './resolutions.js';

export type Sampler = 'K_EULER' | 'K_DPMPP_2M';
export const SAMPLERS: readonly Sampler[] = ['K_EULER', 'K_DPMPP_2M'];

export const MAX_PROMPT_CHARS = 10_000;
export const DEFAULT_MAX_SAMPLES = 8;
export const MAX_STEPS = 50;
/** schnell is distilled for 4 steps. */
export const DEFAULT_STEPS = 4;
export const MAX_CFG_SCALE = 20;
export const DEFAULT_CFG_SCALE = 1;
export const MAX_SEED = 0xffff_ffff;

/** The request body as a Fireworks client sends it. */
export interface TextToImageRequest {
  prompt: string;
  negative_prompt?: string | null;
  height?: number;
  width?: number;
  cfg_scale?: number;
  sampler?: Sampler | null;
  samples?: number;
  seed?: number;
  steps?: number;
  safety_check?: boolean;
  /** Newer-revision aliases. */
  aspect_ratio?: string;
  guidance_scale?: number;
  num_inference_steps?: number;
}

/** A validated request with every default filled in; what the engine runs. */
export interface GenerationRequest {
  prompt: string;
  /** '' when none was given. */
  negativePrompt: string;
  width: number;
  height: number;
  cfgScale: number;
  /** `null` in the request means the model's default, which is Euler for schnell. */
  sampler: Sampler;
  samples: number;
  /** 0 = pick a random seed (the engine resolves it before running; see resolveSeed). */
  seed: number;
  steps: number;
  safetyCheck: boolean;
  outputFormat: ImageFormat;
  /** JPEG quality 0–100 when the client asked for one; encoders use DEFAULT_JPEG_QUALITY otherwise. */
  jpegQuality?: number;
}

export interface RequestLimits {
  /** Most images one request may ask for (api.md: 8 by default). */
  maxSamples?: number;
  /** Any local size (multiples of 16 from 16 to 4096) instead of the contract's nine: the CLI and the studio on a local model. */
  localSizes?: boolean;
}

const show = (v: unknown): string => {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (v === undefined) return 'nothing';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? typeof v : s.length > 40 ? `${s.slice(0, 40)}…` : s;
  } catch {
    return typeof v;
  }
};

// Fireworks validates bodies leniently (pydantic): `"width": "1024"` is the integer 1024, and real
// clients send that (the AI SDK splits its `size` string into string sides). Decimal strings are
// therefore read as numbers; anything else stays as given and is refused with the field named.
const INT_TEXT = /^\s*[+-]?\d{1,16}\s*$/;
const NUMBER_TEXT = /^\s*[+-]?(?:\d{1,16}(?:\.\d{0,16})?|\.\d{1,16})(?:[eE][+-]?\d{1,3})?\s*$/;
const fromText = (pattern: RegExp) => (v: unknown) => (typeof v === 'string' && pattern.test(v) ? Number(v) : v);

/** An integer field in [min, max]; every failure gives the same sentence. */
function intIn(field: string, min: number, max: number) {
  const error = (iss: { input?: unknown }) => `${field} must be an integer from ${min} to ${max}, got ${show(iss.input)}`;
  // `+ 0` turns JSON's -0 into 0, so nothing downstream sees (or echoes) a negative zero.
  return z.preprocess(fromText(INT_TEXT), z.number({ error }).int({ error }).min(min, { error }).max(max, { error }).transform((v) => v + 0));
}

function numberIn(field: string, min: number, max: number) {
  const error = (iss: { input?: unknown }) => `${field} must be a number from ${min} to ${max}, got ${show(iss.input)}`;
  return z.preprocess(fromText(NUMBER_TEXT), z.number({ error }).min(min, { error }).max(max, { error }).transform((v) => v + 0));
}

function text(field: string, opts: { required: boolean }) {
  return z
    .string({ error: (iss) => `${field} must be a string, got ${show(iss.input)}` })
    .refine((s) => !opts.required || s.trim().length > 0, { error: `${field} must not be empty` })
    .refine((s) => codePoints(s) <= MAX_PROMPT_CHARS, { error: `${field} is longer than ${MAX_PROMPT_CHARS.toLocaleString('en-US')} characters` });
}

function codePoints(s: string): number {
  // Cheap upper bound first: most prompts are far below the limit.
  if (s.length <= MAX_PROMPT_CHARS) return s.length;
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const schemaCache = new Map<string, z.ZodType<TextToImageRequest>>();

function bodySchema(maxSamples: number, localSizes: boolean): z.ZodType<TextToImageRequest> {
  const key = `${maxSamples}:${localSizes}`;
  const [minSide, maxSide] = localSizes ? [LOCAL_MIN_SIDE, LOCAL_MAX_SIDE] : [MIN_SIDE, MAX_SIDE];
  let schema = schemaCache.get(key);
  if (!schema) {
    schema = z.strictObject({
      prompt: text('prompt', { required: true }),
      negative_prompt: text('negative_prompt', { required: false }).nullable().optional(),
      height: intIn('height', minSide, maxSide).optional(),
      width: intIn('width', minSide, maxSide).optional(),
      cfg_scale: numberIn('cfg_scale', 0, MAX_CFG_SCALE).optional(),
      sampler: z
        .enum(SAMPLERS as [Sampler, ...Sampler[]], { error: (iss) => `sampler must be null, "K_EULER" or "K_DPMPP_2M", got ${show(iss.input)}` })
        .nullable()
        .optional(),
      samples: intIn('samples', 1, maxSamples).optional(),
      seed: intIn('seed', 0, MAX_SEED).optional(),
      steps: intIn('steps', 1, MAX_STEPS).optional(),
      safety_check: z.boolean({ error: (iss) => `safety_check must be true or false, got ${show(iss.input)}` }).optional(),
      aspect_ratio: z
        .string({ error: (iss) => `aspect_ratio must be a string such as "16:9", got ${show(iss.input)}` })
        .refine((s) => parseAspectRatio(s) !== null, { error: (iss) => `aspect_ratio must look like "16:9" (width:height, both positive), got ${show(iss.input)}` })
        .optional(),
      guidance_scale: numberIn('guidance_scale', 0, MAX_CFG_SCALE).optional(),
      num_inference_steps: intIn('num_inference_steps', 1, MAX_STEPS).optional(),
    }) as unknown as z.ZodType<TextToImageRequest>;
    schemaCache.set(key, schema);
  }
  return schema;
}

/** Turns the first zod issue into our error; unknown fields are reported first (a typo explains the rest). */
function toApiError(error: z.ZodError): ApiError {
  const issues = error.issues;
  const unknown = issues.find((i) => i.code === 'unrecognized_keys') as (z.core.$ZodIssueUnrecognizedKeys | undefined);
  if (unknown) {
    const names = unknown.keys.map((k) => `'${k}'`).join(', ');
    return invalid(`unknown field${unknown.keys.length > 1 ? 's' : ''} ${names}; this endpoint accepts prompt, negative_prompt, width, height, cfg_scale, sampler, samples, seed, steps, safety_check (and aspect_ratio, guidance_scale, num_inference_steps)`, unknown.keys[0] ?? null);
  }
  const first = issues[0];
  const param = first && typeof first.path[0] === 'string' ? first.path[0] : null;
  return invalid(first?.message ?? 'the request body is invalid', param);
}

/** Validates a request body (no headers); `output` says which image format the caller wants. */
export function parseGenerationBody(
  body: unknown,
  opts: RequestLimits & { outputFormat?: ImageFormat; jpegQuality?: number } = {},
): GenerationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid(`the request body must be a JSON object with at least a prompt, got ${Array.isArray(body) ? 'an array' : show(body)}`);
  }
  const maxSamples = opts.maxSamples ?? DEFAULT_MAX_SAMPLES;
  const parsed = bodySchema(maxSamples, opts.localSizes ?? false).safeParse(body);
  if (!parsed.success) throw toApiError(parsed.error);
  const b = parsed.data;

  if (b.cfg_scale !== undefined && b.guidance_scale !== undefined) {
    throw invalid('give cfg_scale or its alias guidance_scale, not both', 'guidance_scale');
  }
  if (b.steps !== undefined && b.num_inference_steps !== undefined) {
    throw invalid('give steps or its alias num_inference_steps, not both', 'num_inference_steps');
  }
  if (b.aspect_ratio !== undefined && (b.width !== undefined || b.height !== undefined)) {
    throw invalid('give aspect_ratio or width/height, not both', 'aspect_ratio');
  }

  let { width, height } = DEFAULT_RESOLUTION;
  if (b.aspect_ratio !== undefined) {
    ({ width, height } = nearestResolution(parseAspectRatio(b.aspect_ratio)!));
  } else {
    width = b.width ?? width;
    height = b.height ?? height;
    if (opts.localSizes) {
      const param = width % LOCAL_SIDE_STEP !== 0 ? 'width' : 'height';
      if (!isLocalSize(width, height)) throw invalid(`${param} must be a multiple of ${LOCAL_SIDE_STEP} from ${LOCAL_MIN_SIDE} to ${LOCAL_MAX_SIDE}, got ${param === 'width' ? width : height}`, param);
    } else if (!isSupportedResolution(width, height)) {
      const param = b.width !== undefined ? 'width' : 'height';
      throw invalid(`width ${width} with height ${height} is not a supported resolution; use one of (width x height) ${describeResolutions()}`, param);
    }
  }

  const request: GenerationRequest = {
    prompt: b.prompt,
    negativePrompt: b.negative_prompt ?? '',
    width,
    height,
    cfgScale: b.cfg_scale ?? b.guidance_scale ?? DEFAULT_CFG_SCALE,
    sampler: b.sampler ?? 'K_EULER',
    samples: b.samples ?? 1,
    seed: b.seed ?? 0,
    steps: b.steps ?? b.num_inference_steps ?? DEFAULT_STEPS,
    safetyCheck: b.safety_check ?? false,
    outputFormat: opts.outputFormat ?? 'png',
  };
  if (opts.jpegQuality !== undefined) request.jpegQuality = opts.jpegQuality;
  return request;
}

export interface ParsedTextToImage {
  request: GenerationRequest;
  /** What the response body is: a binary image or the JSON envelope. */
  responseType: ResponseType;
}

/**
 * Headers and body together: the whole text_to_image request. Header problems (406, then 400s) are
 * reported before body problems, as a server that checks headers before reading the body would.
 */
export function parseTextToImage(body: unknown, headers: HeaderBag, limits: RequestLimits = {}): ParsedTextToImage {
  const out = parseOutputHeaders(headers);
  const request = parseGenerationBody(body, {
    ...limits,
    outputFormat: out.format,
    ...(out.jpegQuality !== undefined ? { jpegQuality: out.jpegQuality } : {}),
  });
  if (request.samples > 1 && out.responseType !== 'application/json') {
    throw invalid(`samples ${request.samples} needs Accept: application/json (a binary response holds one image)`, 'samples');
  }
  return { request, responseType: out.responseType };
}

/** camelCase options for the CLI and the studio; validated by the same schema. */
export type GenerationOptions = Partial<Omit<GenerationRequest, 'prompt'>> & { prompt: string };

export function createGenerationRequest(opts: GenerationOptions, limits: RequestLimits = {}): GenerationRequest {
  const body: Record<string, unknown> = { prompt: opts.prompt };
  if (opts.negativePrompt !== undefined) body.negative_prompt = opts.negativePrompt;
  if (opts.width !== undefined) body.width = opts.width;
  if (opts.height !== undefined) body.height = opts.height;
  if (opts.cfgScale !== undefined) body.cfg_scale = opts.cfgScale;
  if (opts.sampler !== undefined) body.sampler = opts.sampler;
  if (opts.samples !== undefined) body.samples = opts.samples;
  if (opts.seed !== undefined) body.seed = opts.seed;
  if (opts.steps !== undefined) body.steps = opts.steps;
  if (opts.safetyCheck !== undefined) body.safety_check = opts.safetyCheck;
  if (opts.jpegQuality !== undefined && (!Number.isInteger(opts.jpegQuality) || opts.jpegQuality < 0 || opts.jpegQuality > 100)) {
    throw invalid(`jpegQuality must be an integer from 0 to 100, got ${show(opts.jpegQuality)}`, 'jpegQuality');
  }
  return parseGenerationBody(body, {
    ...limits,
    outputFormat: opts.outputFormat ?? 'png',
    ...(opts.jpegQuality !== undefined ? { jpegQuality: opts.jpegQuality } : {}),
  });
}

/** The wire body for a normalized request (what the cloud client sends). */
export function toTextToImageBody(req: GenerationRequest): TextToImageRequest {
  const body: TextToImageRequest = {
    prompt: req.prompt,
    width: req.width,
    height: req.height,
    cfg_scale: req.cfgScale,
    sampler: req.sampler,
    samples: req.samples,
    seed: req.seed,
    steps: req.steps,
    safety_check: req.safetyCheck,
  };
  if (req.negativePrompt !== '') body.negative_prompt = req.negativePrompt;
  return body;
}

/** Seed 0 means "pick one": the engine calls this once so every backend and the response agree. */
export function resolveSeed(req: GenerationRequest, pick: () => number = () => randomInt(1, MAX_SEED + 1)): GenerationRequest {
  return req.seed !== 0 ? req : { ...req, seed: pick() };
}

/** Image i of a request uses seed + i, wrapping at 2^32. */
export function imageSeed(baseSeed: number, index: number): number {
  return (baseSeed + index) % (MAX_SEED + 1);
}
