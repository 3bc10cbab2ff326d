// Driving the headless studio as its UI does: sign in with the one-time link, call commands with
// POST /api/<name>, read server-sent events. Raw node:http so tests can also send what a browser
// would not (a forged Host, a foreign Origin, no cookie).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startHeadlessStudio, type HeadlessOptions, type HeadlessStudio } from '../../main/web/headless.js';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json<T = unknown>(): T;
}

export function request(base: string, opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<RawResponse> {
  const url = new URL(opts.path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body.toString('utf8')) });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Opens the sign-in link; returns the session cookie (name=value). */
export async function signIn(signInUrl: string, port?: number): Promise<string> {
  const u = new URL(signInUrl);
  // The link may name a host this machine cannot resolve (--allow-host): connect to loopback, send its Host.
  const r = await request(`http://127.0.0.1:${port ?? u.port}`, { path: `${u.pathname}${u.search}`, headers: { Host: u.host } });
  if (r.status !== 303) throw new Error(`sign-in answered ${r.status}`);
  const cookie = String(r.headers['set-cookie']?.[0] ?? '');
  return cookie.split(';')[0]!;
}

export class StudioClient {
  constructor(readonly base: string, readonly cookie: string) {}

  async raw(name: string, params?: unknown, headers: Record<string, string> = {}): Promise<RawResponse> {
    return request(this.base, {
      method: 'POST',
      path: `/api/${name}`,
      headers: { 'Content-Type': 'application/json', Cookie: this.cookie, Origin: this.base, 'Sec-Fetch-Site': 'same-origin', ...headers },
      ...(params !== undefined ? { body: JSON.stringify(params) } : {}),
    });
  }

  async call<T = any>(name: string, params?: unknown): Promise<T> {
    const r = await this.raw(name, params);
    const data = r.json<{ result?: T; error?: { message: string } }>();
    if (r.status !== 200) throw new Error(`${name} → ${r.status}: ${data.error?.message}`);
    return data.result as T;
  }

  /** Subscribes to the event stream; events collect in `events` until close(). */
  events(): EventReader {
    return new EventReader(this.base, this.cookie);
  }
}

export interface StudioEvent {
  name: string;
  data: any;
}

export class EventReader {
  readonly events: StudioEvent[] = [];
  private req: http.ClientRequest;
  private waiters: (() => void)[] = [];
  readonly ready: Promise<void>;

  constructor(base: string, cookie: string) {
    const url = new URL('/api/events', base);
    let buffer = '';
    let onReady: () => void;
    this.ready = new Promise((r) => (onReady = r));
    this.req = http.get({ host: url.hostname, port: url.port, path: url.pathname, headers: { Cookie: cookie, Accept: 'text/event-stream' } }, (res) => {
      res.setEncoding('utf8');
      onReady();
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (name && data) this.events.push({ name, data: JSON.parse(data) });
        }
        for (const w of this.waiters.splice(0)) w();
      });
    });
    this.req.on('error', () => undefined);
  }

  /** Waits until `pred` holds for the events so far (or throws after `ms`). */
  async until(pred: (events: StudioEvent[]) => boolean, ms = 120_000, what = 'events'): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${this.events.map((e) => `${e.name}(${e.data.jobId ?? ''})`).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 250);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  of(jobId: string): string[] {
    return this.events.filter((e) => e.data?.jobId === jobId || e.data?.job?.id === jobId).map((e) => e.name);
  }

  close(): void {
    this.req.destroy();
  }
}

export interface TestStudio {
  studio: HeadlessStudio;
  client: StudioClient;
  home: string;
  /** Closes the studio, and removes the home folder when this helper made it. */
  close(): Promise<void>;
}

/** A headless studio in a temporary home (no cloud key, no user settings), signed in. */
export async function startTestStudio(opts: HeadlessOptions & { home?: string; library?: string; model?: string | null } = {}): Promise<TestStudio> {
  // Made here rather than with tempDir(): a test's before() hook may call this, and an after()
  // registered inside a hook runs as soon as the hook ends.
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-studio-'));
  const studio = await startHeadlessStudio({
    studio: { home, env: {}, library: opts.library ?? path.join(home, 'library'), model: opts.model === undefined ? null : opts.model, ...(opts.studio ?? {}) },
    rendererDir: opts.rendererDir ?? path.join(home, 'no-renderer'),
    log: () => undefined,
    ...(opts.bind ? { bind: opts.bind } : {}),
    ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
  });
  const cookie = await signIn(studio.web.signInUrl(), studio.web.port);
  return {
    studio,
    client: new StudioClient(studio.web.url, cookie),
    home,
    async close() {
      await studio.close();
      if (!opts.home) fs.rmSync(home, { recursive: true, force: true });
    },
  };
}
