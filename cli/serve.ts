// `schnell serve`: the Fireworks text_to_image API on this machine.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { BACKEND_POLICIES, type BackendPolicy } from '../runtime/engine/config.js';
import { Engine } from '../runtime/engine/engine.js';
import { DEFAULT_MODEL_NAME, createRouter } from '../runtime/engine/local.js';
import { schnellHome } from '../runtime/models/paths.js';
import type { SafetyModel } from '../runtime/safety/classifier.js';
import { type RunningServer, startServer } from '../runtime/server/server.js';
import { ensureServerToken, isValidToken } from '../runtime/server/token.js';

const HELP = `usage: schnell serve [--port N] [--host 127.0.0.1] [--token T] [--model PATH] [--model-name NAME]
                    [--backend local|cloud|auto] [--device cpu|cuda|…] [--allow-origin ORIGIN]…
                    [--allow-host HOST]… [--max-queue N] [--max-samples N] [--json]

Serves POST /inference/v1/workflows/accounts/{account}/models/{model}/text_to_image (the Fireworks
contract), GET /v1/models, GET /healthz and POST /v1/images/generations (OpenAI style).
Binds 127.0.0.1 and requires a bearer token: created on first start, printed once, and kept in
$SCHNELL_HOME/server-token.

  --model PATH        local model set (folder or checkpoint); served as flux-1-schnell-fp8
  --model-name NAME   serve it under another name
  --backend POLICY    local (never the cloud), cloud (Fireworks only), auto (local, else the
                      cloud when FIREWORKS_API_KEY or a saved key is set; the default)
  --device D          execution provider for the local model (default cpu)
  --host H            address to bind (default 127.0.0.1)
  --allow-host H      also answer requests whose Host header is H (any other non-loopback Host
                      is refused, against DNS rebinding; needed with --host 0.0.0.0)
  --allow-origin O    let browser pages from origin O call the server (CORS); none by default
  --max-queue N       jobs that may wait for the device (default 8); more get 429 + Retry-After
  --max-samples N     most images per request (default 8)
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

/** Starts the server (used by `serve` and `start`); resolves to the running server. */
export async function startServing(opts: ServeOptions): Promise<{ server: RunningServer; engine: Engine; tokenCreated: boolean; tokenFile: string | null; token: string }> {
  const home = schnellHome();
  const modelName = opts.modelName ?? DEFAULT_MODEL_NAME;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(modelName)) throw new Error(`--model-name must be letters, digits, '.', '-' or '_', got '${modelName}'`);
  if (opts.modelPath !== undefined && !fs.existsSync(opts.modelPath)) {
    if (opts.backend === 'local') throw new Error(`the model ${opts.modelPath} does not exist`);
    console.error(`schnell serve: warning: the model ${opts.modelPath} does not exist; requests go to the cloud when a key is set`);
  }
  let token = opts.token;
  let tokenCreated = false;
  let tokenFile: string | null = null;
  if (token !== undefined) {
    if (!isValidToken(token)) throw new Error('--token must be 16 to 512 printable characters without spaces');
  } else {
    const t = ensureServerToken(home);
    ({ token, created: tokenCreated, file: tokenFile } = t);
  }
  const router = await createRouter({
    ...(opts.backend ? { backend: opts.backend } : {}),
    ...(opts.modelPath ? { modelPath: opts.modelPath } : {}),
    ...(opts.device ? { device: opts.device } : {}),
    modelName,
    isolate: true,
    home,
  });
  const engine = new Engine({ router, ...(opts.maxQueue !== undefined ? { maxQueued: opts.maxQueue } : {}), device: opts.device ?? 'cpu' });
  const server = await startServer({
    engine,
    token,
    modelNames: [modelName],
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.allowedOrigins ? { allowedOrigins: opts.allowedOrigins } : {}),
    ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
    ...(opts.maxSamples ? { maxSamples: opts.maxSamples } : {}),
  });
  return { server, engine, tokenCreated, tokenFile, token };
}

export async function serveUntilStopped(opts: ServeOptions): Promise<number> {
  const { server, engine, tokenCreated, tokenFile, token } = await startServing(opts);
  const router = engine.router;
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
      server
        .close({ graceMs: 30_000 })
        .then(() => (router.safety as SafetyModel | null)?.release())
        .then(() => resolve(0), () => resolve(1))
        .finally(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const local = router.local && router.policy !== 'cloud' ? await router.local.describe().catch(() => null) : null;
  const cloud = router.cloud?.describe();
  const modelName = opts.modelName ?? DEFAULT_MODEL_NAME;
  if (opts.json) {
    console.log(JSON.stringify({
      url: server.url,
      port: server.port,
      backend: router.policy,
      models: [modelName],
      local: local ? { path: local.path, device: local.device, untrained: local.untrained } : null,
      cloud: cloud ? { base_url: cloud.baseUrl, key_set: cloud.hasKey } : null,
      token_file: tokenFile,
      ...(tokenCreated ? { token } : {}),
    }));
  } else {
    console.log(`schnell serve: listening on ${server.url} (backend ${router.policy})`);
    if (opts.banner) console.log(opts.banner);
    console.log(`  model '${modelName}': ${local ? `${local.path} on ${local.device}${local.untrained ? '  [UNTRAINED demo model: images are noise]' : ''}` : 'no local model'}`);
    console.log(`  cloud: ${cloud?.hasKey ? `${cloud.baseUrl} (key set)` : 'no Fireworks key set'}`);
    if (tokenCreated) console.log(`  token: ${token}\n  (new; shown only this once, kept in ${tokenFile})`);
    else if (tokenFile) console.log(`  token: in ${tokenFile}`);
    console.log(`  try: curl -H "Authorization: Bearer $(cat ${tokenFile ?? 'TOKEN_FILE'})" -H "Content-Type: application/json" -H "Accept: image/png" \\\n       -d '{"prompt":"a lighthouse at dusk"}' ${server.url}/inference/v1/workflows/accounts/fireworks/models/${modelName}/text_to_image -o out.png`);
  }
  return stopped;
}
