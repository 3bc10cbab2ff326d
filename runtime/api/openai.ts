// An OpenAI-style `POST /v1/images/generations` front for the same engine: the body is translated
// into a text_to_image body and checked by the one request schema, so both routes share every rule.
// Code written for OpenAI's images API must run unchanged, so what that API accepts is accepted
// here too, and told apart only by headers: a size our nine resolutions cannot make is made at the
// supported size nearest in aspect ratio, an OpenAI model name is served by the local model, and
// each such substitution is a warning (X-Schnell-Warning). Errors use OpenAI's shape
// `{"error": {"message", "type", "param", "code"}}`, which its clients parse.
import { z } from 'zod';
import { ApiError, invalid } from './errors.js';
import { isSupportedResolution, nearestResolution } from './resolutions.js';
import { type GenerationRequest, type RequestLimits, parseGenerationBody } from './request.js';
import { type EncodedResponse, type ImagesOutput, MEDIA_TYPE } from './response.js';

export interface OpenAIImageRequest {
  prompt: string;
  model?: string | null;
  n?: number | null;
  size?: string | null;
  response_format?: 'b64_json' | 'url' | null;
  output_format?: 'png' | 'jpeg' | 'webp' | null;
  output_compression?: number | null;
  /** Accepted for compatibility; they have no effect here. */
  quality?: string | null;
  style?: string | null;
  user?: string;
  background?: string | null;
  moderation?: string | null;
  stream?: boolean | null;
  partial_images?: number | null;
  /** Our extensions, with the text_to_image meanings. */
  negative_prompt?: string;
  seed?: number;
  steps?: number;
  cfg_scale?: number;
  safety_check?: boolean;
}

export interface ParsedOpenAIRequest {
  request: GenerationRequest;
  /** The model the client named, if any and if it is not one of OpenAI's own (the server resolves it). */
  model?: string;
  responseFormat: 'b64_json' | 'url';
  /** WebP is made from the PNG the engine returns (the engine encodes PNG and JPEG only). */
  webp?: { quality: number };
  /** `WIDTHxHEIGHT` actually made. */
  size: string;
  /** Substitutions the client should know about (sent as X-Schnell-Warning headers). */
  warnings: string[];
}

/** OpenAI's own image model names: a client written for OpenAI sends one of these unchanged. */
export const OPENAI_IMAGE_MODELS = /^(dall-e-[23]|gpt-image-[\w.-]+|chatgpt-image-[\w.-]+)$/;

const compressionError = 'output_compression must be an integer from 0 to 100';
// Field types are checked loosely here; the text_to_image schema checks values and names them.
const shim = z.strictObject({
  prompt: z.unknown(),
  model: z.string({ error: 'model must be a string' }).nullable().optional(),
  n: z.unknown().optional(),
  size: z.string({ error: 'size must be a string such as "1024x1024"' }).nullable().optional(),
  response_format: z.enum(['b64_json', 'url'], { error: 'response_format must be "b64_json" or "url"' }).nullable().optional(),
  output_format: z.enum(['png', 'jpeg', 'webp'], { error: 'output_format must be "png", "jpeg" or "webp"' }).nullable().optional(),
  output_compression: z.number({ error: compressionError }).int({ error: compressionError }).min(0, { error: compressionError }).max(100, { error: compressionError }).nullable().optional(),
  quality: z.string({ error: 'quality must be a string' }).nullable().optional(),
  style: z.string({ error: 'style must be a string' }).nullable().optional(),
  user: z.string({ error: 'user must be a string' }).optional(),
  background: z.string({ error: 'background must be a string' }).nullable().optional(),
  moderation: z.string({ error: 'moderation must be a string' }).nullable().optional(),
  stream: z.boolean({ error: 'stream must be true or false' }).nullable().optional(),
  partial_images: z.number({ error: 'partial_images must be an integer from 0 to 3' }).int().min(0).max(3).nullable().optional(),
  negative_prompt: z.unknown().optional(),
  seed: z.unknown().optional(),
  steps: z.unknown().optional(),
  cfg_scale: z.unknown().optional(),
  safety_check: z.unknown().optional(),
});

const RENAMED: Record<string, string> = { samples: 'n', width: 'size', height: 'size' };

export function parseOpenAIImageRequest(body: unknown, limits: RequestLimits = {}): ParsedOpenAIRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the request body must be a JSON object with at least a prompt');
  }
  const parsed = shim.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys') {
      throw invalid(`unknown field '${issue.keys[0]}' for /v1/images/generations`, issue.keys[0] ?? null);
    }
    throw invalid(issue?.message ?? 'the request body is invalid', typeof issue?.path[0] === 'string' ? issue.path[0] : null);
  }
  const b = parsed.data;
  if (b.stream === true) throw invalid('stream: true is not supported by this server; leave stream out (or false) to get the images in one response', 'stream');
  const warnings: string[] = [];
  const t2i: Record<string, unknown> = { prompt: b.prompt };
  if (b.n !== undefined && b.n !== null) t2i.samples = b.n;
  let size = '1024x1024';
  if (b.size !== undefined && b.size !== null && b.size !== 'auto') {
    const m = /^\s*(\d{1,5})\s*x\s*(\d{1,5})\s*$/i.exec(b.size);
    const w = Number(m?.[1]);
    const h = Number(m?.[2]);
    if (!m || w <= 0 || h <= 0) throw invalid(`size must look like "1024x1024" (WIDTHxHEIGHT, or "auto"), got '${b.size.slice(0, 40)}'`, 'size');
    const made = isSupportedResolution(w, h) ? { width: w, height: h } : nearestResolution(w / h);
    if (made.width !== w || made.height !== h) {
      warnings.push(`size ${w}x${h} is not one of this model's nine resolutions; made ${made.width}x${made.height}, the nearest in aspect ratio`);
    }
    t2i.width = made.width;
    t2i.height = made.height;
    size = `${made.width}x${made.height}`;
  }
  for (const k of ['negative_prompt', 'seed', 'steps', 'cfg_scale', 'safety_check'] as const) if (b[k] !== undefined) t2i[k] = b[k];
  const format = b.output_format ?? 'png';
  const compression = b.output_compression ?? undefined;
  if (compression !== undefined && format === 'png') {
    throw invalid('output_compression applies only with output_format "jpeg" or "webp"', 'output_compression');
  }
  let request: GenerationRequest;
  try {
    request = parseGenerationBody(t2i, {
      ...limits,
      outputFormat: format === 'jpeg' ? 'jpeg' : 'png',
      ...(compression !== undefined && format === 'jpeg' ? { jpegQuality: compression } : {}),
    });
  } catch (err) {
    if (err instanceof ApiError && err.param && RENAMED[err.param]) {
      throw invalid(err.message.replace(/^samples/, 'n'), RENAMED[err.param]!);
    }
    throw err;
  }
  // OpenAI's default: a URL for dall-e-2 (also when no model is named) and dall-e-3, base64 for the GPT image models (and ours).
  const defaultFormat = b.model === undefined || b.model === null || /^dall-e-/.test(b.model) ? 'url' : 'b64_json';
  const out: ParsedOpenAIRequest = { request, responseFormat: b.response_format ?? defaultFormat, size, warnings };
  if (format === 'webp') out.webp = { quality: compression ?? 100 };
  if (b.model !== undefined && b.model !== null) {
    if (OPENAI_IMAGE_MODELS.test(b.model)) warnings.push(`model '${b.model}' is OpenAI's; served by this server's model`);
    else out.model = b.model;
  }
  return out;
}

export type OpenAIOutputFormat = 'png' | 'jpeg' | 'webp';

export interface OpenAIImageResponse {
  created: number;
  data: ({ b64_json: string } | { url: string })[];
  output_format: OpenAIOutputFormat;
  size: string;
}

const OPENAI_MEDIA_TYPE: Record<OpenAIOutputFormat, string> = { ...MEDIA_TYPE, webp: 'image/webp' };

/** `url` answers carry data: URLs: this server keeps no files to link to. */
export function toOpenAIImageResponse(
  out: ImagesOutput,
  responseFormat: 'b64_json' | 'url',
  opts: { size: string; created?: number; format?: OpenAIOutputFormat },
): OpenAIImageResponse {
  const format = opts.format ?? out.images[0]?.format ?? 'png';
  return {
    created: opts.created ?? Math.floor(Date.now() / 1000),
    data: out.images.map((img) => {
      const b64 = Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength).toString('base64');
      return responseFormat === 'url' ? { url: `data:${OPENAI_MEDIA_TYPE[format]};base64,${b64}` } : { b64_json: b64 };
    }),
    output_format: format,
    size: opts.size,
  };
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

const OPENAI_CODE: Record<number, string> = {
  401: 'invalid_api_key',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
};

/** An ApiError in OpenAI's error shape (its SDKs read message, type, param and code). */
export function toOpenAIError(err: ApiError): OpenAIErrorBody {
  let code: string | null = OPENAI_CODE[err.status] ?? null;
  if (err.status === 400) code = /^unknown field/.test(err.message) ? 'unknown_parameter' : 'invalid_value';
  if (err.status === 404 && err.param === 'model') code = 'model_not_found';
  const type = err.status >= 500 ? 'server_error' : err.status === 429 ? 'requests' : 'invalid_request_error';
  return { error: { message: err.message, type, param: err.param, code } };
}

export function encodeOpenAIError(err: ApiError, extraHeaders: Record<string, string> = {}): EncodedResponse {
  const body = Buffer.from(JSON.stringify(toOpenAIError(err)));
  const headers: Record<string, string> = { ...extraHeaders, 'Content-Type': 'application/json', 'Content-Length': String(body.length) };
  if (err.retryAfter !== undefined) headers['Retry-After'] = String(err.retryAfter);
  return { status: err.status, headers, body };
}
