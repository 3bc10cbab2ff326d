// The headless studio: the same contract the desktop window uses, over HTTP, for a browser on this
// machine or (with --host and --allow-host) a laptop reaching a GPU workstation, and for the
// end-to-end tests. node:http and the API server's helpers (Host check, body cap, token compare),
// as the project chose one hand-written HTTP layer for both servers.
//
//   GET  /login?code=…         the one-time sign-in link → session cookie, then the UI
//   GET  /, /assets/…          the built renderer (renderer/dist), or a page saying to build it
//   POST /api/<command>        JSON params → { result } | { error: { code, message, field? } }
//   GET  /api/events           server-sent events (contract events)
//   GET  /files/images/…, /files/thumbs/…   library files, streamed, contained after realpath
//   GET  /previews/<jobId>     the latest preview of a running job
//
// Every answer carries the desktop window's CSP; every request must name an allowed Host and carry
// the session cookie; API calls from another origin are refused.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fs from 'node:fs';
import { BodyTooLarge, hostAllowed, hostName, headerSafe, readBody } from '../runtime/server/http.js';
import type { ContractError, EventName, Reply, StudioEvents } from './contract.js';
import { isCommandName } from './contract.js';
import { StudioAuth } from './web/auth.js';
import { contentSecurityPolicy, SECURITY_HEADERS } from './web/csp.js';
import { EventStream } from './web/events.js';
import { contentType, FileRefused, libraryFileFor, PLACEHOLDER_PAGE, rendererFileFor, type ResolveLibraryFile } from './web/files.js';

export const FILES_PREFIX = '/files/';
/**
 * A running job's latest preview, by URL rather than as a data: URL in its 'job.progress' event: a
 * preview is ~50 KB of PNG at 1024² (~68 KB as base64), the stream keeps a backlog of 1000 events
 * to replay on reconnect, and every signed-in browser gets every event — the URL keeps each event a
 * few hundred bytes, a browser fetches only the previews it shows, and the host drops a job's
 * preview when the job ends. (The CSP allows no data: images either.)
 */
export const PREVIEWS_PREFIX = '/previews/';
const MAX_CALL_BYTES = 1024 * 1024;
/** library.importFile carries a dropped image as base64. */
const MAX_IMPORT_CALL_BYTES = 96 * 1024 * 1024;

/** What the web transport needs from the studio: the dispatcher, its events, its files. */
export interface WebStudioHost {
  call(name: string, params: unknown): Promise<Reply<unknown>>;
  subscribe(listener: <E extends EventName>(name: E, payload: StudioEvents[E]) => void): () => void;
  resolveLibraryFile: ResolveLibraryFile;
  /** The latest preview image of a job, if the backend makes them. */
  preview?(jobId: string): { bytes: Uint8Array; type: string } | undefined;
}

export interface WebStudioOptions {
  host: WebStudioHost;
  /** renderer/dist; a placeholder page is served while it is not built. */
  rendererDir: string;
  bind?: string;
  port?: number;
  /** Host header values allowed besides loopback names (needed when binding 0.0.0.0). */
  allowedHosts?: string[];
  /** Called with each new one-time sign-in URL (the first at start, a fresh one after each use). */
  onSignInUrl?: (url: string) => void;
  log?: (line: string) => void;
}

export interface WebStudio {
  url: string;
  /** The current one-time sign-in link. */
  signInUrl(): string;
  port: number;
  close(): Promise<void>;
}

const STATUS: Record<ContractError['code'], number> = { invalid: 400, 'not-found': 404, conflict: 409, unavailable: 503, unsupported: 501, internal: 500 };

export async function startWebStudio(opts: WebStudioOptions): Promise<WebStudio> {
  const bind = opts.bind ?? '127.0.0.1';
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const wildcard = bind === '0.0.0.0' || bind === '::';
  const extraHosts = [...(opts.allowedHosts ?? []), ...(wildcard ? [] : [bind])].map((h) => h.toLowerCase());
  const csp = contentSecurityPolicy();
  const baseHeaders = { ...SECURITY_HEADERS, 'Content-Security-Policy': csp };
  const events = new EventStream();
  const unsubscribe = opts.host.subscribe((name, payload) => events.publish(name, payload));
  let baseUrl = '';
  const auth = new StudioAuth((code) => opts.onSignInUrl?.(`${baseUrl}/login?code=${code}`));

  const sendText = (res: ServerResponse, status: number, body: string, type: string, extra: Record<string, string> = {}) => {
    if (res.headersSent) return void res.end();
    const bytes = Buffer.from(body);
    res.writeHead(status, { ...baseHeaders, 'Content-Type': type, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store', ...extra });
    res.end(bytes);
  };
  const sendJson = (res: ServerResponse, status: number, data: unknown) => sendText(res, status, JSON.stringify(data), 'application/json');
  const sendError = (res: ServerResponse, status: number, error: ContractError) => sendJson(res, status, { error });

  async function streamFile(req: IncomingMessage, res: ServerResponse, file: string, cache: string): Promise<void> {
    const st = await fs.promises.stat(file);
    res.writeHead(200, { ...baseHeaders, 'Content-Type': contentType(file), 'Content-Length': String(st.size), 'Cache-Control': cache });
    if (req.method === 'HEAD') return void res.end();
    const stream = fs.createReadStream(file);
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  async function handleCall(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return sendError(res, 405, { code: 'invalid', message: `call ${name} with POST and a JSON body` });
    }
    if (!sameOrigin(req)) {
      return sendError(res, 403, { code: 'invalid', message: 'cross-origin calls are refused: the studio answers only its own pages' });
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return sendError(res, 415, { code: 'invalid', message: 'send the params as JSON (Content-Type: application/json)' });
    if (!isCommandName(name)) return sendError(res, 404, { code: 'not-found', message: `there is no command ${JSON.stringify(name.slice(0, 80))}` });
    let params: unknown;
    try {
      const body = await readBody(req, name === 'library.importFile' ? MAX_IMPORT_CALL_BYTES : MAX_CALL_BYTES);
      params = body.length === 0 ? undefined : JSON.parse(body.toString('utf8'));
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        res.setHeader('Connection', 'close');
        return sendError(res, 413, { code: 'invalid', message: err.message });
      }
      return sendError(res, 400, { code: 'invalid', message: 'the params are not valid JSON' });
    }
    const reply = await opts.host.call(name, params);
    if (reply.ok) sendJson(res, 200, { result: reply.result ?? null });
    else sendError(res, STATUS[reply.error.code] ?? 500, reply.error);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req.headers.host, extraHosts)) {
      return sendError(res, 403, { code: 'invalid', message: `Host '${headerSafe(req.headers.host ?? '', 80)}' is not allowed: the studio answers only to loopback names and the hosts given with --allow-host` });
    }
    const url = new URL(req.url ?? '/', 'http://studio.invalid');
    const rawPath = (req.url ?? '/').split('?')[0]!;
    if (rawPath === '/login') return signIn(req, res, url.searchParams.get('code') ?? '');
    if (!auth.allows(req)) {
      if (rawPath.startsWith('/api/') || rawPath.startsWith(FILES_PREFIX) || rawPath.startsWith(PREVIEWS_PREFIX)) {
        return sendError(res, 401, { code: 'invalid', message: 'not signed in: open the sign-in link `schnell studio` printed' });
      }
      return sendText(res, 401, SIGN_IN_PAGE, 'text/html; charset=utf-8');
    }
    if (rawPath === '/api/events') {
      if (req.method !== 'GET') return sendError(res, 405, { code: 'invalid', message: 'open the event stream with GET' });
      const last = req.headers['last-event-id'];
      return events.attach(res, Array.isArray(last) ? last[0] : last, baseHeaders);
    }
    if (rawPath.startsWith('/api/')) return handleCall(req, res, rawPath.slice('/api/'.length));
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return sendError(res, 405, { code: 'invalid', message: `${req.method} is not allowed here` });
    }
    if (rawPath.startsWith(FILES_PREFIX)) {
      const file = await libraryFileFor(rawPath, FILES_PREFIX, opts.host.resolveLibraryFile);
      return streamFile(req, res, file, 'private, max-age=31536000, immutable');
    }
    if (rawPath.startsWith(PREVIEWS_PREFIX)) {
      const jobId = rawPath.slice(PREVIEWS_PREFIX.length);
      const p = /^[A-Za-z0-9_-]{1,64}$/.test(jobId) ? opts.host.preview?.(jobId) : undefined;
      if (!p) return sendError(res, 404, { code: 'not-found', message: 'no preview for this job' });
      res.writeHead(200, { ...baseHeaders, 'Content-Type': p.type, 'Content-Length': String(p.bytes.length), 'Cache-Control': 'no-store' });
      return void res.end(p.bytes);
    }
    const file = await rendererFileFor(opts.rendererDir, rawPath);
    if (file) return streamFile(req, res, file, file.endsWith('index.html') ? 'no-store' : 'private, max-age=3600');
    // A client-side route (no file extension) gets the app; a missing asset is a 404.
    if (!/\.[a-z0-9]+$/i.test(rawPath)) {
      const index = await rendererFileFor(opts.rendererDir, '/');
      if (index) return streamFile(req, res, index, 'no-store');
      return sendText(res, 200, PLACEHOLDER_PAGE, 'text/html; charset=utf-8');
    }
    return sendText(res, 404, 'not found', 'text/plain; charset=utf-8');
  }

  function signIn(req: IncomingMessage, res: ServerResponse, code: string): void {
    const session = code ? auth.exchange(code) : null;
    if (!session) return sendText(res, 401, SIGN_IN_PAGE, 'text/html; charset=utf-8');
    // A redirect to the same origin keeps the SameSite=Strict cookie on the next request.
    res.writeHead(303, { ...baseHeaders, 'Set-Cookie': auth.setCookieHeader(session, false), Location: '/', 'Cache-Control': 'no-store', 'Content-Length': '0' });
    res.end();
    log(`schnell studio: a browser signed in (${headerSafe(String(req.headers['user-agent'] ?? 'unknown browser'), 60)})`);
  }

  const server = http.createServer({ requireHostHeader: false }, (req, res) => {
    handle(req, res).catch((err) => {
      if (err instanceof FileRefused) return sendError(res, err.status, { code: err.status === 404 ? 'not-found' : 'invalid', message: err.message });
      log(`schnell studio: internal error: ${(err as Error)?.stack ?? String(err)}`);
      if (!res.headersSent) sendError(res, 500, { code: 'internal', message: 'internal error; the studio log has the details' });
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, bind, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = wildcard ? (opts.allowedHosts?.[0] ?? 'localhost') : address.family === 'IPv6' ? `[${address.address}]` : address.address;
  baseUrl = `http://${shownHost}:${address.port}`;

  return {
    url: baseUrl,
    port: address.port,
    signInUrl: () => `${baseUrl}/login?code=${auth.signInCode}`,
    async close() {
      unsubscribe();
      events.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/**
 * A call may come only from the studio's own pages: a browser sends Origin on every POST and
 * Sec-Fetch-Site on every request, and another site's page cannot forge either. Tools without a
 * browser (curl with the cookie) send neither and are allowed.
 */
export function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false;
  }
  const host = req.headers.host;
  if (!host) return false;
  return o.protocol === 'http:' && o.host.toLowerCase() === host.toLowerCase() && hostName(host) !== null;
}

const SIGN_IN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Schnell Studio: sign in</title></head>
<body><main><h1>Schnell Studio</h1>
<p>This studio needs you to sign in: open the link that <code>schnell studio</code> printed when it started
(each link works once; the studio prints a fresh one after each use).</p></main></body></html>
`;
