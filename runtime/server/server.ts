// The local HTTP server: the Fireworks text_to_image endpoint (api.md) on this machine, plus
// /v1/models, /healthz and an OpenAI-style /v1/images/generations, all on one Engine.
// Safe by default: 127.0.0.1 only, a bearer token, Host checked against DNS rebinding, no CORS
// unless origins are configured, bodies capped, one generation at a time per device.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ApiError, type GenerationRequest, encodeError, encodeOpenAIError } from '../api/index.js';
import type { Engine } from '../engine/engine.js';
import type { GenerationResult } from '../engine/types.js';
import {
  BodyTooLarge,
  bearerToken,
  clientErrorResponse,
  conflictingHeader,
  headerSafe,
  hostAllowed,
  newRequestId,
  rawErrorResponse,
  send,
  tokenMatches,
  watchHalfClose,
} from './http.js';
import { type Context, MAX_BODY_BYTES, type Route, apiRoutes } from './routes.js';

export { MAX_BODY_BYTES, TEXT_TO_IMAGE_PATH } from './routes.js';

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

type RouteTable = { path: RegExp; route: Route }[];

/** The request's gatekeeping, the same for every route: who may ask, from where, and how. */
interface Gate {
  token: string;
  origins: Set<string>;
  extraHosts: string[];
  log: (line: string) => void;
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const host = opts.host ?? '127.0.0.1';
  const engine = opts.engine;
  const run = opts.generate ?? ((request: GenerationRequest, o: { id: string; signal: AbortSignal }) => engine.generate(request, o));
  let closing = false;
  const routes = apiRoutes({
    engine, run, modelNames: opts.modelNames, maxBody: opts.maxBodyBytes ?? MAX_BODY_BYTES, limits: { maxSamples: opts.maxSamples ?? 8 }, isClosing: () => closing,
  });
  const gate: Gate = {
    token: opts.token,
    origins: new Set(opts.allowedOrigins ?? []),
    extraHosts: [...(opts.allowedHosts ?? []), ...(host !== '0.0.0.0' && host !== '::' ? [host] : [])].map((h) => h.toLowerCase()),
    log: opts.log ?? ((line: string) => process.stderr.write(`${line}\n`)),
  };
  const server = createHttpServer(opts, (req, res, expectsContinue) => {
    handleRequest(gate, routes, req, res, expectsContinue).catch((err) => {
      gate.log(`internal error outside a request: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) send(res, encodeError(new ApiError(500, 'internal error; the server log has the details')));
      else res.destroy();
    });
  });
  await listen(server, opts.port ?? 0, host);
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
      await closeServer(server, graceMs, () => (opts.drain ? opts.drain(graceMs) : engine.shutdown({ graceMs })));
    },
  };
}

/** One request: gatekeeping, then its route; any error becomes an answer in the route's error shape. */
async function handleRequest(gate: Gate, routes: RouteTable, req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
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
  // The shape of any error, even one found before routing (a foreign Host, conflicting headers), follows the path.
  const pathOnly = (req.url ?? '/').split('?')[0]!;
  let errorStyle: Route['errors'] = routes.find((r) => r.path.test(pathOnly))?.route.errors;
  try {
    checkHeaders(gate, req);
    if (answerCors(gate, ctx)) return;
    const { route, path } = findRoute(routes, req, ctx);
    errorStyle = route.errors;
    authorize(gate, route, req, ctx);
    if (!route.methods.includes(req.method ?? '')) {
      res.setHeader('Allow', route.methods.join(', '));
      throw new ApiError(405, `${req.method} is not allowed on ${path}; use ${route.methods.join(' or ')}`);
    }
    await route.handle(ctx);
  } catch (err) {
    if (controller.signal.aborted) return; // the client is gone; nobody to answer
    answerError(gate, ctx, err, errorStyle);
  }
}

/** Headers that make a request suspect, whatever the route: repeated with other values, a foreign Host. */
function checkHeaders(gate: Gate, req: IncomingMessage): void {
  // Node keeps only the first of repeated Content-Type, Authorization, Host… headers; two
  // different values mean two readers may disagree about the request, so it is refused.
  const conflict = conflictingHeader(req.rawHeaders);
  if (conflict) throw new ApiError(400, `the ${conflict.name} header is given ${conflict.count} times with different values; send it once`, conflict.name);
  if (!hostAllowed(req.headers.host, gate.extraHosts)) {
    throw new ApiError(403, `Host '${headerSafe(req.headers.host ?? '', 80)}' is not allowed: this server answers only to loopback names (localhost, 127.0.0.1, [::1])`, 'Host');
  }
}

/** A browser's Origin must be allowed; its CORS preflight is answered here (true: answered). */
function answerCors(gate: Gate, ctx: Context): boolean {
  const origin = ctx.req.headers.origin;
  if (origin === undefined) return false;
  if (!gate.origins.has(origin)) throw new ApiError(403, `Origin '${headerSafe(origin, 80)}' is not allowed to call this server`, 'Origin');
  ctx.extra = {
    'Access-Control-Allow-Origin': origin,
    Vary: 'Origin',
    'Access-Control-Expose-Headers': 'Seed, Finish-Reason, X-Request-Id, Retry-After, X-Schnell-Backend, X-Schnell-Fallback, X-Schnell-Warning, X-Schnell-Size',
  };
  if (ctx.req.method !== 'OPTIONS') return false;
  ctx.res.writeHead(204, {
    ...ctx.extra,
    'Access-Control-Allow-Methods': 'GET, POST',
    'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept, Jpeg-Quality, Json-Return-Image-Accept',
    'Access-Control-Max-Age': '600',
  });
  ctx.res.end();
  return true;
}

function findRoute(routes: RouteTable, req: IncomingMessage, ctx: Context): { route: Route; path: string } {
  const path = (req.url ?? '/').split('?')[0]!;
  const match = routes.map((r) => ({ r, m: r.path.exec(path) })).find((x) => x.m);
  if (!match) throw new ApiError(404, `no such endpoint: ${req.method} ${headerSafe(path, 100)}`);
  ctx.params = match.m!.slice(1);
  return { route: match.r.route, path };
}

/** The bearer token: required by most routes; optional ones say more to a caller who sends it. */
function authorize(gate: Gate, route: Route, req: IncomingMessage, ctx: Context): void {
  const given = bearerToken(req);
  ctx.authorized = given !== null && tokenMatches(given, gate.token);
  if (route.auth === true && !ctx.authorized) {
    if (given === null) throw new ApiError(401, 'missing bearer token: send Authorization: Bearer <token> (schnell serve printed it; it is stored in $SCHNELL_HOME/server-token)', 'Authorization');
    throw new ApiError(401, 'the bearer token is wrong', 'Authorization');
  }
}

/** An error as the API's answer (or OpenAI's shape on its route); anything unexpected is a 500 with a log line. */
function answerError(gate: Gate, ctx: Context, err: unknown, errorStyle: Route['errors']): void {
  const { req, res, requestId } = ctx;
  let apiError: ApiError;
  if (err instanceof ApiError) apiError = err;
  else {
    gate.log(`[${requestId}] internal error: ${(err as Error)?.stack ?? String(err)}`);
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

/**
 * node:http set up for this API: request and header timeouts, `Expect: 100-continue` decided by the
 * handler, half-closed clients still answered, CONNECT and unparseable requests answered in the
 * API's error shape.
 */
function createHttpServer(opts: ServerOptions, serveRequest: (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean) => void): http.Server {
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
  // Without this Node answers `Expect: 100-continue` with 100 at once; the handler sends it only
  // once the headers pass (auth, route, Content-Type) and the declared body fits the cap.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => serveRequest(req, res, true));
  // Node's default is to end the socket when the client half-closes, dropping the answer (see watchHalfClose).
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // CONNECT (a proxy tunnel) is not for this server; without a listener Node drops the socket unanswered.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => undefined);
    socket.end(rawErrorResponse(405, `CONNECT is not supported: this is an image API, not a proxy; use GET or POST`, { Allow: 'GET, POST, HEAD, OPTIONS' }));
  });
  // Requests Node's parser refuses (bad framing, oversized headers, too slow) never reach the
  // handler; they still get the API's error shape and a request id.
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    const pending = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    const text = socket.writable && !(pending?.headersSent ?? false) ? clientErrorResponse(err, pending?.getHeader('x-request-id')) : null;
    if (text) socket.end(text);
    else socket.destroy();
  });
  return server;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets the running jobs finish (`drain`), then closes what connections are left. */
async function closeServer(server: http.Server, graceMs: number, drain: () => Promise<void>): Promise<void> {
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await drain();
  // Answers are written by now; give slow readers a moment, then drop what is left.
  const timer = setTimeout(() => server.closeAllConnections(), Math.min(2000, graceMs));
  server.closeIdleConnections();
  await stopped;
  clearTimeout(timer);
}
