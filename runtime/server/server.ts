// The local HTTP server: the Fireworks text_to_image endpoint (api.md) on this machine, plus
// /v1/models, /healthz and an OpenAI-style /v1/images/generations, all on one Engine.
// Safe by default: 127.0.0.1 only, a bearer token, Host checked against DNS rebinding, no CORS
// unless origins are configured, bodies capped, one generation at a time per device.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiError,
  type GenerationRequest,
  WARNING_HEADER,
  checkContentType,
  encodeError,
  encodeImages,
  encodeOpenAIError,
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
import {
  BodyTooLarge,
  bearerToken,
  clientErrorResponse,
  conflictingHeader,
  headerSafe,
  hostAllowed,
  jsonResponse,
  newRequestId,
  rawErrorResponse,
  readBody,
  send,
  tokenMatches,
  toWebp,
  watchHalfClose,
} from './http.js';
import { describeModels } from './models.js';

export const MAX_BODY_BYTES = 1024 * 1024;
export const TEXT_TO_IMAGE_PATH = /^\/inference\/v1\/workflows\/accounts\/([^/]+)\/models\/([^/]+)\/text_to_image$/;

export interface ServerOptions {
  engine: Engine;
  /**
   * How a validated request is run (default: engine.generate). The studio core passes its submit,
   * so every image the API makes is recorded in the library; the answer is the same result.
   */
  generate?: (request: GenerationRequest, opts: { id: string; signal: AbortSignal }) => Promise<GenerationResult>;
  /**
   * What close() waits for before it drops connections: by default the engine's shutdown (this
   * server owns it); the studio, which owns its engine, waits for its API jobs instead.
   */
  drain?: (graceMs: number) => Promise<void>;
  token: string;
  /** Names this server answers for (the first is the default for the OpenAI route). */
  modelNames: string[];
  host?: string;
  port?: number;
  /** Browser origins allowed to call (CORS); none by default. */
  allowedOrigins?: string[];
  /** Host header values allowed besides loopback names and the bound address. */
  allowedHosts?: string[];
  maxBodyBytes?: number;
  maxSamples?: number;
  /** Longest a client may take to send its whole request (headers and body): 408 past it. */
  requestTimeoutMs?: number;
  /** Longest a client may take to send its headers. */
  headersTimeoutMs?: number;
  /** Where log lines go (default stderr). Never receives tokens or keys. */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  host: string;
  server: http.Server;
  /** Stops accepting, lets running jobs finish (up to graceMs), closes connections. */
  close(opts?: { graceMs?: number }): Promise<void>;
}

interface Route {
  methods: string[];
  /** true: the token is required; 'optional': the answer says more to a caller who sends it. */
  auth: boolean | 'optional';
  /** Whose error shape this route answers in (OpenAI's clients parse OpenAI's). */
  errors?: 'openai';
  handle(ctx: Context): Promise<void>;
}

interface Context {
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

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const maxBody = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const limits = { maxSamples: opts.maxSamples ?? 8 };
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const origins = new Set(opts.allowedOrigins ?? []);
  const extraHosts = [...(opts.allowedHosts ?? []), ...(host !== '0.0.0.0' && host !== '::' ? [host] : [])].map((h) => h.toLowerCase());
  const engine = opts.engine;
  const run = opts.generate ?? ((request: GenerationRequest, o: { id: string; signal: AbortSignal }) => engine.generate(request, o));
  let closing = false;

  const unknownModel = (name: string) =>
    new ApiError(404, `model '${name.slice(0, 100)}' is not installed here; installed: ${opts.modelNames.join(', ')}`, 'model');

  const imageHeaders = (result: GenerationResult): Record<string, string> => {
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
  };

  const warn = (ctx: Context, warnings: string[]) => {
    if (warnings.length > 0) ctx.res.setHeader(WARNING_HEADER, warnings.map((w) => headerSafe(w, 400)));
  };
  const requestNotes = (request: GenerationRequest) => requestWarnings(request);

  const readJson = async (ctx: Context): Promise<unknown> => {
    if (ctx.expectsContinue) {
      // The client waits for `100 Continue` before it sends the body: a body declared over the cap
      // gets its 413 now, before a byte of it travels.
      const declared = Number(ctx.req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) throw new BodyTooLarge(maxBody, false);
      ctx.res.writeContinue();
    }
    const body = await readBody(ctx.req, maxBody);
    let text = body.toString('utf8');
    // RFC 8259 lets a parser ignore a byte order mark; some Windows tools write one.
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(400, body.length === 0 ? 'the request body is empty; send a JSON object with at least a prompt' : 'the request body is not valid JSON');
    }
  };

  const routes: { path: RegExp; route: Route }[] = [
    {
      path: /^\/healthz$/,
      route: {
        methods: ['GET', 'HEAD'],
        auth: 'optional',
        async handle(ctx) {
          // Liveness for anyone (a probe needs no secret); what serves and the counters only with the token.
          const report = await serviceReport(engine.router);
          const status = closing ? 'stopping' : 'ok';
          const body = ctx.authorized
            ? { status, ready: report.ready, models: opts.modelNames, backends: report.backends, problems: report.problems, jobs: engine.stats() }
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
          send(ctx.res, jsonResponse(200, { object: 'list', data: await describeModels(engine.router, opts.modelNames) }), ctx.extra);
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
          if (!opts.modelNames.includes(model)) throw unknownModel(model);
          // Header checks come before the body is read: a 406 or 415 costs no upload.
          negotiateResponseType(header(ctx.req.headers, 'accept'));
          checkContentType(ctx.req.headers['content-type']);
          const body = await readJson(ctx);
          const { request, responseType } = parseTextToImage(body, ctx.req.headers, limits);
          warn(ctx, requestNotes(request));
          const result = await run(request, { id: ctx.requestId, signal: ctx.signal });
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
          const parsed = parseOpenAIImageRequest(await readJson(ctx), limits);
          if (parsed.model !== undefined && !opts.modelNames.includes(parsed.model)) throw unknownModel(parsed.model);
          warn(ctx, [...parsed.warnings, ...requestNotes(parsed.request)]);
          let result = await run(parsed.request, { id: ctx.requestId, signal: ctx.signal });
          if (parsed.webp) result = { ...result, images: await Promise.all(result.images.map(async (img) => ({ ...img, bytes: await toWebp(img.bytes, parsed.webp!.quality) }))) };
          const headers = { ...imageHeaders(result), 'Finish-Reason': result.finishReason, Seed: String(result.seed), 'X-Schnell-Size': parsed.size };
          const format = parsed.webp ? 'webp' : parsed.request.outputFormat;
          send(ctx.res, jsonResponse(200, toOpenAIImageResponse(result, parsed.responseFormat, { size: parsed.size, format }), headers), ctx.extra);
        },
      },
    },
  ];

  const corsHeaders = (origin: string): Record<string, string> => ({
    'Access-Control-Allow-Origin': origin,
    Vary: 'Origin',
    'Access-Control-Expose-Headers': 'Seed, Finish-Reason, X-Request-Id, Retry-After, X-Schnell-Backend, X-Schnell-Fallback, X-Schnell-Warning, X-Schnell-Size',
  });

  async function handle(req: IncomingMessage, res: ServerResponse, expectsContinue = false): Promise<void> {
    const requestId = newRequestId();
    res.setHeader('X-Request-Id', requestId);
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    // A client that half-closes (shuts its sending side after the request) still gets its answer;
    // one that is really gone is noticed by the probes this sends, and its job is cancelled.
    watchHalfClose(req, res);
    const ctx: Context = { req, res, requestId, params: [], signal: controller.signal, extra: {}, authorized: false, expectsContinue };
    let errorStyle: Route['errors'];
    try {
      // Node keeps only the first of repeated Content-Type, Authorization, Host… headers; two
      // different values mean two readers may disagree about the request, so it is refused.
      const conflict = conflictingHeader(req.rawHeaders);
      if (conflict) throw new ApiError(400, `the ${conflict.name} header is given ${conflict.count} times with different values; send it once`, conflict.name);
      if (!hostAllowed(req.headers.host, extraHosts)) {
        throw new ApiError(403, `Host '${headerSafe(req.headers.host ?? '', 80)}' is not allowed: this server answers only to loopback names (localhost, 127.0.0.1, [::1])`, 'Host');
      }
      const origin = req.headers.origin;
      if (origin !== undefined) {
        if (!origins.has(origin)) throw new ApiError(403, `Origin '${headerSafe(origin, 80)}' is not allowed to call this server`, 'Origin');
        ctx.extra = corsHeaders(origin);
        if (req.method === 'OPTIONS') {
          res.writeHead(204, {
            ...ctx.extra,
            'Access-Control-Allow-Methods': 'GET, POST',
            'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Jpeg-Quality, Json-Return-Image-Accept',
            'Access-Control-Max-Age': '600',
          });
          res.end();
          return;
        }
      }
      const path = (req.url ?? '/').split('?')[0]!;
      const match = routes.map((r) => ({ r, m: r.path.exec(path) })).find((x) => x.m);
      if (!match) throw new ApiError(404, `no such endpoint: ${req.method} ${headerSafe(path, 100)}`);
      ctx.params = match.m!.slice(1);
      const { route } = match.r;
      errorStyle = route.errors;
      const given = bearerToken(req);
      ctx.authorized = given !== null && tokenMatches(given, opts.token);
      if (route.auth === true && !ctx.authorized) {
        if (given === null) throw new ApiError(401, 'missing bearer token: send Authorization: Bearer <token> (schnell serve printed it; it is stored in $SCHNELL_HOME/server-token)', 'Authorization');
        throw new ApiError(401, 'the bearer token is wrong', 'Authorization');
      }
      if (!route.methods.includes(req.method ?? '')) {
        res.setHeader('Allow', route.methods.join(', '));
        throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${route.methods.join(' or ')}`);
      }
      await route.handle(ctx);
    } catch (err) {
      if (controller.signal.aborted) return; // the client is gone; nobody to answer
      let apiError: ApiError;
      if (err instanceof ApiError) apiError = err;
      else {
        log(`[${requestId}] internal error: ${(err as Error)?.stack ?? String(err)}`);
        apiError = new ApiError(500, `internal error (request id ${requestId}); the server log has the details`);
      }
      if (apiError.status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
      // A client waiting for 100 Continue has not sent its body: close rather than read it as the next request.
      if (ctx.expectsContinue && !req.complete) res.setHeader('Connection', 'close');
      if (err instanceof BodyTooLarge) {
        res.setHeader('Connection', 'close');
        if (!err.drained) res.once('finish', () => req.destroy());
      }
      send(res, errorStyle === 'openai' ? encodeOpenAIError(apiError) : encodeError(apiError), ctx.extra);
    }
  }

  const requestTimeout = opts.requestTimeoutMs ?? 120_000;
  // Headers must arrive within the whole request's limit (Node refuses a longer one); 0 disables the request limit only.
  const headersTimeout = requestTimeout > 0 ? Math.min(opts.headersTimeoutMs ?? 30_000, requestTimeout) : (opts.headersTimeoutMs ?? 30_000);
  const server = http.createServer(
    {
      requestTimeout,
      headersTimeout,
      // Node would answer a missing Host itself (a bare 400); our handler answers it as a 403 in the API's shape.
      requireHostHeader: false,
      // How often Node looks for requests past their timeouts; slow senders are cut within this.
      connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(headersTimeout / 4))),
    },
    (req, res) => serveRequest(req, res, false),
  );
  function serveRequest(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void {
    handle(req, res, expectsContinue).catch((err) => {
      log(`internal error outside a request: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) send(res, encodeError(new ApiError(500, 'internal error; the server log has the details')));
      else res.destroy();
    });
  }
  // Without this Node answers `Expect: 100-continue` with 100 at once; the handler sends it only
  // once the headers pass (auth, route, Content-Type) and the declared body fits the cap.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serveRequest(req, res, true));
  // Node's default is to end the socket when the client half-closes, dropping the answer (see watchHalfClose).
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // CONNECT (a proxy tunnel) is not for this server; without a listener Node drops the socket unanswered.
  server.on('connect', (req: IncomingMessage, socket: import('node:stream').Duplex) => {
    socket.on('error', () => undefined);
    socket.end(rawErrorResponse(405, `CONNECT is not supported: this is an image API, not a proxy; use GET or POST`, { Allow: 'GET, POST, HEAD, OPTIONS' }));
  });
  // Requests Node's parser refuses (bad framing, oversized headers, too slow) never reach handle();
  // they still get the API's error shape and a request id.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    const text = socket.writable && !(pending?.headersSent ?? false) ? clientErrorResponse(err, pending?.getHeader('x-request-id')) : null;
    if (text) socket.end(text);
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    host: address.address,
    server,
    async close({ graceMs = 30_000 } = {}) {
      if (closing) return;
      closing = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await (opts.drain ? opts.drain(graceMs) : engine.shutdown({ graceMs }));
      // Answers are written by now; give slow readers a moment, then drop what is left.
      const timer = setTimeout(() => server.closeAllConnections(), Math.min(2000, graceMs));
      server.closeIdleConnections();
      await stopped;
      clearTimeout(timer);
    },
  };
}

