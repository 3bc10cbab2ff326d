// An OpenAI-style `POST /v1/images/generations` front for the same engine: the body is translated
// into a text_to_image body and checked by the one request schema, so both routes share every rule.
import { z } from 'zod';
import { ApiError, invalid } from './errors.js';
import { describeResolutions, isSupportedResolution } from './resolutions.js';
import { type GenerationRequest, type RequestLimits, parseGenerationBody } from './request.js';
import { type ImagesOutput, MEDIA_TYPE } from './response.js';

export interface OpenAIImageRequest {
  prompt: string;
  model?: string;
  n?: number;
  size?: string;
  response_format?: 'b64_json' | 'url';
  output_format?: 'png' | 'jpeg';
  output_compression?: number;
  /** Accepted for compatibility; they have no effect here. */
  quality?: string;
  style?: string;
  user?: string;
  background?: string;
  moderation?: string;
  /** Our extensions, with the text_to_image meanings. */
  negative_prompt?: string;
  seed?: number;
  steps?: number;
  safety_check?: boolean;
}

export interface ParsedOpenAIRequest {
  request: GenerationRequest;
  /** The model the client named, if any (the server resolves it). */
  model?: string;
  responseFormat: 'b64_json' | 'url';
}

// Field types are checked loosely here; the text_to_image schema checks values and names them.
const shim = z.strictObject({
  prompt: z.unknown(),
  model: z.string({ error: 'model must be a string' }).optional(),
  n: z.unknown().optional(),
  size: z.string({ error: 'size must be a string such as "1024x1024"' }).optional(),
  response_format: z.enum(['b64_json', 'url'], { error: 'response_format must be "b64_json" or "url"' }).nullable().optional(),
  output_format: z.enum(['png', 'jpeg'], { error: 'output_format must be "png" or "jpeg"' }).optional(),
  output_compression: z.number({ error: 'output_compression must be an integer from 0 to 100' }).int({ error: 'output_compression must be an integer from 0 to 100' }).min(0, { error: 'output_compression must be an integer from 0 to 100' }).max(100, { error: 'output_compression must be an integer from 0 to 100' }).optional(),
  quality: z.string().nullable().optional(),
  style: z.string().nullable().optional(),
  user: z.string().optional(),
  background: z.string().nullable().optional(),
  moderation: z.string().nullable().optional(),
  negative_prompt: z.unknown().optional(),
  seed: z.unknown().optional(),
  steps: z.unknown().optional(),
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
  const t2i: Record<string, unknown> = { prompt: b.prompt };
  if (b.n !== undefined) t2i.samples = b.n;
  if (b.size !== undefined && b.size !== 'auto') {
    const m = /^(\d{1,5})x(\d{1,5})$/.exec(b.size);
    if (!m || !isSupportedResolution(Number(m[1]), Number(m[2]))) {
      throw invalid(`size '${b.size.slice(0, 40)}' is not supported; use one of ${describeResolutions()}`, 'size');
    }
    t2i.width = Number(m[1]);
    t2i.height = Number(m[2]);
  }
  for (const k of ['negative_prompt', 'seed', 'steps', 'safety_check'] as const) if (b[k] !== undefined) t2i[k] = b[k];
  if (b.output_compression !== undefined && b.output_format !== 'jpeg') {
    throw invalid('output_compression applies only with output_format "jpeg"', 'output_compression');
  }
  let request: GenerationRequest;
  try {
    request = parseGenerationBody(t2i, {
      ...limits,
      outputFormat: b.output_format ?? 'png',
      ...(b.output_compression !== undefined ? { jpegQuality: b.output_compression } : {}),
    });
  } catch (err) {
    if (err instanceof ApiError && err.param && RENAMED[err.param]) {
      throw invalid(err.message.replace(/^samples/, 'n'), RENAMED[err.param]!);
    }
    throw err;
  }
  const out: ParsedOpenAIRequest = { request, responseFormat: b.response_format ?? 'b64_json' };
  if (b.model !== undefined) out.model = b.model;
  return out;
}

export interface OpenAIImageResponse {
  created: number;
  data: ({ b64_json: string } | { url: string })[];
  output_format: 'png' | 'jpeg';
}

/** `url` answers carry data: URLs: this server keeps no files to link to. */
export function toOpenAIImageResponse(out: ImagesOutput, responseFormat: 'b64_json' | 'url', created = Math.floor(Date.now() / 1000)): OpenAIImageResponse {
  const format = out.images[0]?.format ?? 'png';
  return {
    created,
    data: out.images.map((img) => {
      const b64 = Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength).toString('base64');
      return responseFormat === 'url' ? { url: `data:${MEDIA_TYPE[img.format]};base64,${b64}` } : { b64_json: b64 };
    }),
    output_format: format,
  };
}
