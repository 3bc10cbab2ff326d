// Shared by the server, cloud and engine tests: temp homes, an in-process server over real HTTP on
// 127.0.0.1, `schnell serve` as a child process, and a small HTTP client that does not hide headers.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../../runtime/engine/engine.js';
import { Router } from '../../../runtime/engine/router.js';
import { ProcessBackend, type BackendSpec } from '../../../runtime/engine/process-backend.js';
import { InProcessBackend } from '../../../runtime/engine/local.js';
import { FireworksClient, type FireworksOptions } from '../../../runtime/cloud/fireworks.js';
import type { BackendPolicy } from '../../../runtime/engine/config.js';
import type { LocalBackend } from '../../../runtime/engine/types.js';
import { SafetyModel } from '../../../runtime/safety/classifier.js';
import { type RunningServer, startServer } from '../../../runtime/server/server.js';
import type { FaultBackendOptions } from '../engine/fault-backend.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixturesDir = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
export const TOKEN = 'test-token-0123456789abcdef';

export function tempDir(prefix = 'schnell-'): { dir: string; cleanup(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The fault-injecting backend, as a spec for a child process or this one. */
export function faultSpec(opts: FaultBackendOptions): BackendSpec {
  return { module: path.join(repoRoot, 'tests/runtime/engine/fault-backend.ts'), factory: 'createFaultBackend', options: opts };
}

export interface TestServerOptions {
  policy?: BackendPolicy;
  local?: LocalBackend | BackendSpec | null;
  /** Run a spec in a child process (default) or in this process. */
  isolate?: boolean;
  cloud?: FireworksOptions | null;
  safety?: SafetyModel | null;
  maxQueued?: number;
  maxSamples?: number;
  allowedOrigins?: string[];
  modelNames?: string[];
  requestTimeoutMs?: number;
}

export interface TestServer {
  url: string;
  server: RunningServer;
  engine: Engine;
  router: Router;
  local: LocalBackend | null;
  close(): Promise<void>;
}

export async function startTestServer(o: TestServerOptions = {}): Promise<TestServer> {
  let local: LocalBackend | null = null;
  if (o.local && 'module' in o.local) local = o.isolate === false ? new InProcessBackend(o.local) : new ProcessBackend(o.local);
  else if (o.local) local = o.local as LocalBackend;
  const cloud = o.cloud ? new FireworksClient(o.cloud) : null;
  const router = new Router({ policy: o.policy ?? 'auto', local, cloud, safety: o.safety ?? null, localModelName: 'flux-1-schnell-fp8' });
  const engine = new Engine({ router, ...(o.maxQueued !== undefined ? { maxQueued: o.maxQueued } : {}) });
  const server = await startServer({
    engine,
    token: TOKEN,
    modelNames: o.modelNames ?? ['flux-1-schnell-fp8'],
    log: () => undefined,
    ...(o.maxSamples ? { maxSamples: o.maxSamples } : {}),
    ...(o.allowedOrigins ? { allowedOrigins: o.allowedOrigins } : {}),
    ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
  });
  return {
    url: server.url,
    server,
    engine,
    router,
    local,
    async close() {
      await server.close({ graceMs: 2000 });
    },
  };
}

export const T2I = '/inference/v1/workflows/accounts/fireworks/models/flux-1-schnell-fp8/text_to_image';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json(): any;
}

/** A raw HTTP request (node:http, so any Host header and body can be sent). */
export function request(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: string | Buffer; signal?: AbortSignal; auth?: string | null } = {},
): Promise<Reply> {
  const u = new URL(url);
  const headers: Record<string, string | number> = { ...opts.headers };
  if (opts.auth !== null) headers.Authorization ??= `Bearer ${opts.auth ?? TOKEN}`;
  if (opts.body !== undefined) headers['Content-Length'] ??= Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method: opts.method ?? 'POST', path: opts.path ?? T2I, headers, ...(opts.signal ? { signal: opts.signal } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** POST text_to_image with a JSON body. */
export function t2i(url: string, body: unknown, headers: Record<string, string> = {}, extra: { signal?: AbortSignal; auth?: string | null; path?: string } = {}): Promise<Reply> {
  return request(url, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json', ...headers }, ...extra });
}

export function assertErrorShape(r: Reply, status: number, param?: string | null): { type: string; message: string; param: string | null } {
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${r.body.toString('utf8').slice(0, 300)}`);
  const e = r.json().error;
  if (typeof e?.type !== 'string' || typeof e?.message !== 'string' || !('param' in e)) throw new Error(`not the error shape: ${r.body}`);
  if (param !== undefined && e.param !== param) throw new Error(`expected param ${param}, got ${e.param}: ${e.message}`);
  if (typeof r.headers['x-request-id'] !== 'string') throw new Error('no request id header');
  if (/\bat .*\(.*:\d+:\d+\)/.test(e.message)) throw new Error(`stack trace in message: ${e.message}`);
  return e;
}

export interface ServeProcess {
  url: string;
  info: any;
  proc: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `schnell serve --json …` (or another command) and waits for its JSON line. */
export async function spawnServe(args: string[], env: NodeJS.ProcessEnv, command = 'serve', timeoutMs = 120_000, json = true): Promise<ServeProcess> {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), command, ...(json ? ['--json'] : []), '--port', '0', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (c) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  const info = await new Promise<any>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`schnell ${command} did not start in ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    proc.stdout!.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      const listening = /listening on (http:\/\/\S+)/.exec(out);
      if (json && line) {
        clearTimeout(timer);
        resolve(JSON.parse(line));
      } else if (!json && listening && out.includes('try: ')) {
        clearTimeout(timer);
        resolve({ url: listening[1] });
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`schnell ${command} exited (${code}) before listening:\n${out}\n${err}`));
    });
  });
  return {
    url: info.url,
    info,
    proc,
    output: () => `${out}\n${err}`,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      const r = await exited;
      clearTimeout(t);
      return r;
    },
  };
}

/** A fresh demo model (the real writer, `schnell demo-model`'s code) in a temp folder. */
export async function writeTempDemoModel(): Promise<{ dir: string; cleanup(): void }> {
  const { writeDemoModel } = await import('../../../runtime/flux/demo/demo-model.js');
  const t = tempDir('schnell-demo-');
  const dir = path.join(t.dir, 'demo');
  writeDemoModel(dir);
  return { dir, cleanup: t.cleanup };
}
