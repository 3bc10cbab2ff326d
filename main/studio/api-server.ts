// The local HTTP API (runtime/server) started from the studio: on the studio's engine, with every
// request submitted through the core (source 'api'), so its images land in the library unless
// recording is turned off. Responses are exactly the server's.
import type { RunningServer, ServerOptions } from '../../runtime/server/server.js';
import type { Engine } from '../../runtime/engine/engine.js';
import type { GenerationRequest } from '../../runtime/api/index.js';
import type { GenerationResult } from '../../runtime/engine/types.js';
import { readUserConfig } from '../../runtime/settings/index.js';
import type { SubmittedJob, SubmitOptions } from './types.js';

export interface ApiServerOptions {
  /** Exactly this port (0: any free one); default "port" in config.json, else 7788, else the next free one. */
  port?: number;
  host?: string;
  /** The bearer token; default: $SCHNELL_HOME/server-token (created on first start). */
  token?: string;
  /** Record the API's images in the library (default true when the studio has one). */
  record?: boolean;
  /** Names the server answers for (default flux-1-schnell-fp8). */
  modelNames?: string[];
  allowedOrigins?: string[];
  allowedHosts?: string[];
  maxSamples?: number;
  log?: (line: string) => void;
}

export interface ApiServerStatus {
  running: boolean;
  url: string | null;
  port: number | null;
  /** Where the token is kept (null when it was given). */
  tokenFile: string | null;
  /** Set only when the token was created by this start: show it once. */
  newToken: string | null;
  recording: boolean;
  /** Set when the usual port was taken and another is used. */
  portNote: string | null;
}

export async function startStudioServer(
  engine: Engine,
  submit: (request: GenerationRequest, opts: SubmitOptions & { record?: boolean }) => SubmittedJob,
  drain: (graceMs: number) => Promise<void>,
  home: string,
  opts: ApiServerOptions & { record: boolean; modelNames: string[] },
): Promise<{ server: RunningServer; status: ApiServerStatus }> {
  const [{ startServer }, { ensureServerToken, isValidToken }, { DEFAULT_PORT, listenOnStablePort }] = await Promise.all([
    import('../../runtime/server/server.js'),
    import('../../runtime/server/token.js'),
    import('../../runtime/server/port.js'),
  ]);
  let token = opts.token;
  let tokenFile: string | null = null;
  let newToken: string | null = null;
  if (token !== undefined) {
    if (!isValidToken(token)) throw new Error('the API token must be 16 to 512 printable characters without spaces');
  } else {
    const t = ensureServerToken(home);
    token = t.token;
    tokenFile = t.file;
    if (t.created) newToken = t.token;
  }
  const generate = (request: GenerationRequest, o: { id: string; signal: AbortSignal }): Promise<GenerationResult> =>
    // The answer keeps the server's request id (X-Request-Id), as without the studio.
    submit(request, { source: 'api', signal: o.signal, record: opts.record }).outcome.then((x) => ({ ...x.result, id: o.id }));
  const serverOpts: ServerOptions = {
    engine,
    token,
    modelNames: opts.modelNames,
    generate,
    drain,
    ...(opts.host !== undefined ? { host: opts.host } : {}),
    ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
    ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
    ...(opts.maxSamples !== undefined ? { maxSamples: opts.maxSamples } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  };
  // A port that stays the same from start to start: --port exactly, else config.json's, else 7788 (or the next free one, named).
  const configured = readUserConfig(home).port;
  const { server, note } = await listenOnStablePort((port) => startServer({ ...serverOpts, port }), {
    ...(opts.port !== undefined ? { wanted: opts.port } : {}),
    preferred: configured ?? DEFAULT_PORT,
    source: configured !== undefined ? '"port" in config.json' : 'the default',
    host: opts.host ?? '127.0.0.1',
  });
  return { server, status: { running: true, url: server.url, port: server.port, tokenFile, newToken, recording: opts.record, portNote: note ?? null } };
}
