// `schnell serve`: the Fireworks text_to_image API on this machine, on a studio core (the same
// engine path as `schnell generate` and the studio), recording into a library with --library.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKEND_POLICIES, type BackendPolicy } from '../runtime/settings/index.js';
import type { Engine } from '../runtime/engine/engine.js';
import { DEFAULT_MODEL_NAME } from '../runtime/engine/local.js';
import { type ServiceReport, serviceReport } from '../runtime/server/health.js';
import type { RunningServer } from '../runtime/server/server.js';
import { isValidToken } from '../runtime/server/token.js';
import type { Studio } from '../main/studio.js';

const HELP = `usage: schnell serve [--port N] [--host 127.0.0.1] [--token T] [--model PATH] [--model-name NAME]
                    [--backend local|cloud|auto] [--device cpu|cuda|…] [--allow-origin ORIGIN]…
                    [--allow-host HOST]… [--max-queue N] [--max-samples N] [--library DIR] [--no-record] [--json]

Serves POST /inference/v1/workflows/accounts/{account}/models/{model}/text_to_image (the Fireworks
contract), GET /v1/models, GET /healthz and POST /v1/images/generations (OpenAI style).
Binds 127.0.0.1 and requires a bearer token: created on first start, printed once, and kept in
$SCHNELL_HOME/server-token.

  --model PATH|ID     local model: a folder, a checkpoint file or an installed model id (default:
                      "model" in config.json); served as flux-1-schnell-fp8
  --model-name NAME   serve it under another name
  --backend POLICY    local (never the cloud), cloud (Fireworks only), auto (local, else the
                      cloud when FIREWORKS_API_KEY or a saved key is set; the default)
  --device D          execution provider for the local model (default cpu)
  --port N            port to listen on exactly (0 = any free one). Without it: "port" in
                      config.json, else 7788, and the next free one above it when taken (named)
  --host H            address to bind (default 127.0.0.1)
  --allow-host H      also answer requests whose Host header is H (any other non-loopback Host
                      is refused, against DNS rebinding; needed with --host 0.0.0.0)
  --allow-origin O    let browser pages from origin O call the server (CORS); none by default
  --max-queue N       jobs that may wait for the device (default 8); more get 429 + Retry-After
  --max-samples N     most images per request (default 8)
  --library DIR       record every image the API makes in the library in DIR (a file with its
                      parameters and a catalog row with source "api"); responses are unchanged
  --no-record         do not record (with --library, or under \`schnell start\`, which records in
                      the studio library by default)
  --json              print the address and settings as one JSON line`;

export interface ServeOptions {
  port?: number;
  host?: string;
  token?: string;
  modelPath?: string;
  modelName?: string;
  backend?: BackendPolicy;
  device?: string;
  allowedOrigins?: string[];
  allowedHosts?: string[];
  maxQueue?: number;
  maxSamples?: number;
  json?: boolean;
  /** Printed after the address (start uses it to label the demo model). */
  banner?: string;
  /** Stop when the parent process goes away (always on under npm). */
  stopWithParent?: boolean;
  /** Also serve something over the same studio (`schnell start`: the studio UI); its closer runs on stop. */
  attach?: (studio: Studio) => Promise<() => Promise<void>>;
  /** Record the API's images in this library ('studio': the studio library); absent: record nothing. */
  library?: string | 'studio';
  /** false: --no-record (a library is opened but nothing is recorded). */
  record?: boolean;
  /** Take over the library's queued jobs (the studio's start does; serve does not). */
  resume?: boolean;
}

export async function run(argv: string[]): Promise<number> {
  const opts = parseServeArgs(argv);
  if (opts === 'help') {
    console.log(HELP);
    return 0;
  }
  return serveUntilStopped(opts);
}

/** The options `serve` and `start` share; 'help' when --help was given. */
export function parseServeArgs(argv: string[]): ServeOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      token: { type: 'string' },
      model: { type: 'string' },
      'model-name': { type: 'string' },
      backend: { type: 'string' },
      device: { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      'allow-host': { type: 'string', multiple: true },
      'max-queue': { type: 'string' },
      'max-samples': { type: 'string' },
      library: { type: 'string' },
      'no-record': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
  });
  if (values.help) return 'help';
  const opts: ServeOptions = { json: values.json ?? false };
  if (values.port !== undefined) opts.port = intOption('--port', values.port, 0, 65535);
  if (values.host !== undefined) opts.host = values.host;
  if (values.token !== undefined) opts.token = values.token;
  if (values.model !== undefined) opts.modelPath = values.model;
  if (values['model-name'] !== undefined) opts.modelName = values['model-name'];
  if (values.backend !== undefined) opts.backend = policyOption(values.backend);
  if (values.device !== undefined) opts.device = values.device;
  if (values['allow-origin']) opts.allowedOrigins = values['allow-origin'];
  if (values['allow-host']) opts.allowedHosts = values['allow-host'];
  if (values['max-queue'] !== undefined) opts.maxQueue = intOption('--max-queue', values['max-queue'], 0, 10_000);
  if (values['max-samples'] !== undefined) opts.maxSamples = intOption('--max-samples', values['max-samples'], 1, 64);
  if (values.library !== undefined) {
    if (values.library.trim() === '') throw new Error('--library needs a folder, e.g. --library ~/Pictures/schnell');
    opts.library = values.library;
  }
  if (values['no-record']) opts.record = false;
  return opts;
}

function intOption(name: string, v: string, min: number, max: number): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got '${v}'`);
  return n;
}

function policyOption(v: string): BackendPolicy {
  if (!BACKEND_POLICIES.includes(v as BackendPolicy)) throw new Error(`--backend must be local, cloud or auto, got '${v}'`);
  return v as BackendPolicy;
}

/**
 * Starts the server (used by `serve` and `start`) on a studio core: one engine, one model
 * resolution (path, folder, file or installed id), and, with a library, every image recorded.
 */
export async function startServing(opts: ServeOptions): Promise<{
  server: RunningServer;
  studio: Studio;
  engine: Engine;
  tokenCreated: boolean;
  tokenFile: string | null;
  token: string;
  /** Set when the usual port was taken and another one is used. */
  portNote?: string;
}> {
  const modelName = opts.modelName ?? DEFAULT_MODEL_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(modelName)) throw new Error(`--model-name must be letters, digits, '.', '-' or '_', got '${modelName}'`);
  if (opts.token !== undefined && !isValidToken(opts.token)) throw new Error('--token must be 16 to 512 printable characters without spaces');
  const { Studio } = await import('../main/studio.js');
  const studio = await Studio.open({
    library: opts.library === undefined ? false : opts.library === 'studio' ? undefined : opts.library,
    ...(opts.modelPath !== undefined ? { model: opts.modelPath } : {}),
    modelName,
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(opts.device ? { device: opts.device } : {}),
    ...(opts.maxQueue !== undefined ? { maxQueued: opts.maxQueue } : {}),
    resume: opts.resume ?? false,
  });
  for (const w of studio.warnings) console.error(`schnell serve: warning: ${w}`);
  try {
    const status = await studio.startApiServer({
      record: opts.record ?? true,
      modelNames: [modelName],
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.host ? { host: opts.host } : {}),
      ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
      ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
      ...(opts.maxSamples ? { maxSamples: opts.maxSamples } : {}),
    });
    const token = opts.token ?? fs.readFileSync(status.tokenFile!, 'utf8').trim();
    return {
      server: studio.runningApiServer()!, studio, engine: studio.engine, tokenCreated: status.newToken !== null, tokenFile: status.tokenFile, token,
      ...(status.portNote ? { portNote: status.portNote } : {}),
    };
  } catch (err) {
    await studio.close();
    throw err;
  }
}

export async function serveUntilStopped(opts: ServeOptions): Promise<number> {
  const { server, studio, engine, tokenCreated, tokenFile, token, portNote } = await startServing(opts);
  const router = engine.router;
  let detach: (() => Promise<void>) | null = null;
  try {
    detach = opts.attach ? await opts.attach(studio) : null;
  } catch (err) {
    await studio.close();
    throw err;
  }
  // Signal handlers go in before anything is printed: whoever reads our address may stop us at once.
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        console.error(`schnell serve: ${signal} again, stopping now`);
        process.exit(130);
      }
      stopping = true;
      if (!opts.json) console.error(`schnell serve: ${signal}: finishing running jobs, then stopping (press again to force)`);
      studio
        .close({ graceMs: 30_000 })
        .then(() => detach?.())
        .then(() => resolve(0), () => resolve(1))
        .finally(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    stopWithParent(opts, () => stop('SIGTERM'));
  });
  const local = router.local && router.policy !== 'cloud' ? await router.local.describe().catch(() => null) : null;
  const cloud = router.cloud?.describe();
  const modelName = opts.modelName ?? DEFAULT_MODEL_NAME;
  const report = await serviceReport(router);
  if (opts.json) {
    console.log(JSON.stringify({
      url: server.url,
      port: server.port,
      backend: router.policy,
      models: [modelName],
      local: local ? { path: local.path, device: local.device, untrained: local.untrained } : null,
      cloud: cloud ? { base_url: cloud.baseUrl, key_set: cloud.hasKey } : null,
      token_file: tokenFile,
      ready: report.ready,
      problems: report.problems,
      ...(portNote ? { port_note: portNote } : {}),
      ...(tokenCreated ? { token } : {}),
    }));
    for (const line of problemLines(report)) console.error(line);
  } else {
    console.log(`schnell serve: listening on ${server.url} (backend ${router.policy})`);
    if (portNote) console.log(`  note: ${portNote}`);
    if (opts.banner) console.log(opts.banner);
    console.log(`  model '${modelName}': ${local ? `${local.path} on ${local.device}${local.untrained ? '  [UNTRAINED demo model: images are noise]' : ''}` : 'no local model'}`);
    console.log(`  cloud: ${cloud?.hasKey ? `${cloud.baseUrl} (key set)` : 'no Fireworks key set'}`);
    if (tokenCreated) console.log(`  token: ${token}\n  (new; shown only this once, kept in ${tokenFile})`);
    else if (tokenFile) console.log(`  token: in ${tokenFile}`);
    for (const line of problemLines(report)) console.error(line);
    // --fail: an error answer must not land in out.png as if it were the image.
    if (report.ready) console.log(`  try: curl --fail -H "Authorization: Bearer $(cat ${tokenFile ?? 'TOKEN_FILE'})" -H "Content-Type: application/json" -H "Accept: image/png" \\\n       -d '{"prompt":"a lighthouse at dusk"}' ${server.url}/inference/v1/workflows/accounts/fireworks/models/${modelName}/text_to_image -o out.png`);
  }
  return stopped;
}

/** What cannot be served and why, said at start (and by /healthz); nothing when all is well. */
export function problemLines(report: ServiceReport): string[] {
  if (report.ready) return report.problems.map((p) => `schnell serve: note: ${p}`);
  return [
    'schnell serve: warning: this server cannot make images: every request will get 503 until this is fixed:',
    ...report.problems.map((p) => `  - ${p}`),
  ];
}

/**
 * `npm start` puts npm and a shell between the user and this process: killing npm's process kills
 * the shell but not us, and the server would keep running, orphaned. Under npm (npm_lifecycle_event
 * is set) the server therefore stops, as on SIGTERM, when the process that started it goes away.
 * A server started from a terminal (`schnell serve &`, nohup) is left alone.
 */
function stopWithParent(opts: ServeOptions, stop: () => void): void {
  if (!process.env.npm_lifecycle_event && !opts.stopWithParent) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent || !alive(parent)) {
      clearInterval(timer);
      if (!opts.json) console.error('schnell serve: the process that started this server (npm) is gone; stopping');
      stop();
    }
  }, 500);
  timer.unref();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
