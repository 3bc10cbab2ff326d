// The routes of the local API server and what they share: /healthz, /v1/models, the Fireworks
// text_to_image endpoint (api.md) and the OpenAI-style /v1/images/generations. server.ts does
// everything before a route runs (Host, Origin, token, method) and turns errors into answers.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ApiError,
  type GenerationRequest,
  WARNING_HEADER,
  checkContentType,
  encodeImages,
  header,
  negotiateResponseType,
  parseOpenAIImageRequest,
  parseTextToImage,
  requestWarnings,
  toOpenAIImageResponse,
} from '../api/index.js';
import type { Engine } from '../engine/engine.js';
import type { GenerationResult } from '../engine/types.js';
import { serviceReport } from './health.js';
import { BodyTooLarge, headerSafe, jsonResponse, readBody, send, toWebp } from './http.js';
import { describeModels } from './models.js';

export const MAX_BODY_BYTES = 1024 * 1024;
export const TEXT_TO_IMAGE_PATH = /^\/inference\/v1\/workflows\/accounts\/([^/]+)\/models\/([^/]+)\/text_to_image$/;

/** What the routes need from the server that runs them. */
export interface RouteEnv {
  engine: Engine;
  run: (request: GenerationRequest, opts: { id: string; signal: AbortSignal }) => Promise<GenerationResult>;
  modelNames: string[];
  maxBody: number;
  limits: { maxSamples: number };
  isClosing(): boolean;
}

export interface Route {
  methods: string[];
  /** true: the token is required; 'optional': the answer says more to a caller who sends it. */
  auth: boolean | 'optional';
  /** Whose error shape this route answers in (OpenAI's clients parse OpenAI's). */
  errors?: 'openai';
  handle(ctx: Context): Promise<void>;
}

export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  params: string[];
  /** Aborted when the client goes away before its answer is written. */
  signal: AbortSignal;
  extra: Record<string, string>;
  /** The caller sent the right token (routes with optional auth say more). */
  authorized: boolean;
  /** The client sent `Expect: 100-continue` and waits for our go before sending the body. */
  expectsContinue: boolean;
}

/** Headers every image answer carries: who served it, the timings, any fallback. */
function imageHeaders(result: GenerationResult): Record<string, string> {
  const h: Record<string, string> = {
    'X-Schnell-Backend': result.backend,
    'Server-Timing': [
      `engine;dur=${result.timings.engineMs.toFixed(1)}`,
      `safety;dur=${result.timings.safetyMs.toFixed(1)}`,
      `queue;dur=${(result.timings.queueMs ?? 0).toFixed(1)}`,
      `total;dur=${result.timings.totalMs.toFixed(1)}`,
    ].join(', '),
  };
  if (result.fallback) h['X-Schnell-Fallback'] = headerSafe(`${result.fallback.kind}: ${result.fallback.reason}`);
  return h;
}

function warn(ctx: Context, warnings: string[]): void {
  if (warnings.length > 0) ctx.res.setHeader(WARNING_HEADER, warnings.map((w) => headerSafe(w, 400)));
}

export function apiRoutes(env: RouteEnv): { path: RegExp; route: Route }[] {
  const unknownModel = (name: string) =>
    new ApiError(404, `model '${name.slice(0, 100)}' is not installed here; installed: ${env.modelNames.join(', ')}`, 'model');

  const requestNotes = (request: GenerationRequest) => requestWarnings(request);

  const readJson = async (ctx: Context): Promise<unknown> => {
    if (ctx.expectsContinue) {
      // The client waits for `100 Continue` before it sends the body: a body declared over the cap
      // gets its 413 now, before a byte of it travels.
      const declared = Number(ctx.req.headers['content-length']);
      if (Number.isFinite(declared) && declared > env.maxBody) throw new BodyTooLarge(env.maxBody, false);
      ctx.res.writeContinue();
    }
    const body = await readBody(ctx.req, env.maxBody);
    let text = body.toString('utf8');
    // RFC 8259 lets a parser ignore a byte order mark; some Windows tools write one.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, body.length === 0 ? 'the request body is empty; send a JSON object with at least a prompt' : 'the request body is not valid JSON');
    }
  };

  return [
    {
      path: /^\/healthz$/,
      route: {
        methods: ['GET', 'HEAD'],
        auth: 'optional',
        async handle(ctx) {
          // Liveness for anyone (a probe needs no secret); what serves and the counters only with the token.
          const report = await serviceReport(env.engine.router);
          const status = env.isClosing() ? 'stopping' : 'ok';
          const body = ctx.authorized
            ? { status, ready: report.ready, models: env.modelNames, backends: report.backends, problems: report.problems, jobs: env.engine.stats() }
            : { status, ready: report.ready };
          send(ctx.res, jsonResponse(200, body), ctx.extra);
        },
      },
    },
    {
      path: /^\/v1\/models$/,
      route: {
        methods: ['GET'],
        auth: true,
        async handle(ctx) {
          send(ctx.res, jsonResponse(200, { object: 'list', data: await describeModels(env.engine.router, env.modelNames) }), ctx.extra);
        },
      },
    },
    {
      path: TEXT_TO_IMAGE_PATH,
      route: {
        methods: ['POST'],
        auth: true,
        async handle(ctx) {
          let model: string;
          try {
            model = decodeURIComponent(ctx.params[1]!);
          } catch {
            model = ctx.params[1]!;
          }
          if (!env.modelNames.includes(model)) throw unknownModel(model);
          // Header checks come before the body is read: a 406 or 415 costs no upload.
          negotiateResponseType(header(ctx.req.headers, 'accept'));
          checkContentType(ctx.req.headers['content-type']);
          const body = await readJson(ctx);
          const { request, responseType } = parseTextToImage(body, ctx.req.headers, env.limits);
          warn(ctx, requestNotes(request));
          const result = await env.run(request, { id: ctx.requestId, signal: ctx.signal });
          send(ctx.res, encodeImages(result, responseType, imageHeaders(result)), ctx.extra);
        },
      },
    },
    {
      path: /^\/v1\/images\/generations$/,
      route: {
        methods: ['POST'],
        auth: true,
        errors: 'openai',
        async handle(ctx) {
          checkContentType(ctx.req.headers['content-type']);
          const parsed = parseOpenAIImageRequest(await readJson(ctx), env.limits);
          if (parsed.model !== undefined && !env.modelNames.includes(parsed.model)) throw unknownModel(parsed.model);
          warn(ctx, [...parsed.warnings, ...requestNotes(parsed.request)]);
          let result = await env.run(parsed.request, { id: ctx.requestId, signal: ctx.signal });
          if (parsed.webp) result = { ...result, images: await Promise.all(result.images.map(async (img) => ({ ...img, bytes: await toWebp(img.bytes, parsed.webp!.quality) }))) };
          const headers = { ...imageHeaders(result), 'Finish-Reason': result.finishReason, Seed: String(result.seed), 'X-Schnell-Size': parsed.size };
          const format = parsed.webp ? 'webp' : parsed.request.outputFormat;
          send(ctx.res, jsonResponse(200, toOpenAIImageResponse(result, parsed.responseFormat, { size: parsed.size, format }), headers), ctx.extra);
        },
      },
    },
  ];
}
