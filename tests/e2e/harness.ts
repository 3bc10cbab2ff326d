// What the browser tests stand on: a real `schnell studio` process (its own SCHNELL_HOME and
// library in a temp folder, the renderer freshly built), a real headless Chromium (Debian's, via
// playwright-core, fresh profile), axe-core run inside the page, and screenshots saved under
// .tmp/screenshots for a person to look at.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SCREENSHOTS = path.join(ROOT, '.tmp/screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SIZES = [
  { width: 1280, height: 800 },
  { width: 2560, height: 1440 },
] as const;

/** Builds renderer/dist from the current sources (about a second), so the tests see this checkout's UI. */
export function buildRenderer(): void {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'renderer/vite.config.ts', '--logLevel', 'error'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`the renderer did not build:\n${r.stdout}\n${r.stderr}`);
}

export interface RunningStudio {
  home: string;
  library: string;
  /** http://127.0.0.1:PORT */
  url: string;
  /** Takes a fresh one-time sign-in link (the studio prints a new one after each use). */
  nextSignIn(): Promise<string>;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `schnell studio` on a free port with its own home and library; resolves once it prints its sign-in link. */
export async function startStudio(opts: { home?: string; library?: string; args?: string[]; env?: Record<string, string> } = {}): Promise<RunningStudio> {
  const home = opts.home ?? fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-home-'));
  const library = opts.library ?? path.join(home, 'library');
  const child: ChildProcess = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/schnell.mjs'), 'studio', '--port', '0', '--library', library, ...(opts.args ?? [])],
    {
      cwd: ROOT,
      env: { ...process.env, SCHNELL_HOME: home, FIREWORKS_API_KEY: '', NO_COLOR: '1', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const links: string[] = [];
  const waiters: ((url: string) => void)[] = [];
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const m of b.toString().matchAll(/https?:\/\/[^\s'"]+\/login\?code=[A-Za-z0-9_-]+/g)) {
      const w = waiters.shift();
      if (w) w(m[0]);
      else links.push(m[0]);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const nextSignIn = () =>
    new Promise<string>((resolve, reject) => {
      const ready = links.shift();
      if (ready) return resolve(ready);
      const t = setTimeout(() => reject(new Error(`schnell studio printed no sign-in link within 60 s:\n${out}`)), 60_000);
      waiters.push((u) => {
        clearTimeout(t);
        resolve(u);
      });
      child.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`schnell studio exited (${code}) before printing a sign-in link:\n${out}`));
      });
    });

  const first = await nextSignIn();
  links.unshift(first);
  return {
    home,
    library,
    url: new URL(first).origin,
    nextSignIn,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Headless Chromium with a fresh profile; no network beyond what the page itself asks for. */
export async function launchBrowser(viewport: { width: number; height: number } = SIZES[0]): Promise<Browser> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport,
    deviceScaleFactor: 1,
  });
  // tsx (esbuild, keepNames) wraps named functions inside page.evaluate callbacks in __name(...),
  // which the page does not define; an init script (not subject to the page's CSP) supplies it.
  await context.addInitScript('globalThis.__name = globalThis.__name || ((f) => f);');
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens a page signed in to the studio (through its one-time link) and collects page errors. */
export async function openStudio(browser: Browser, studio: RunningStudio): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  await page.goto(await studio.nextSignIn());
  return { page, errors };
}

const AXE_SOURCE = () => fs.readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core inside the page. The studio's CSP forbids inline scripts, so a <script> tag would be
 * refused; the source is evaluated through the DevTools protocol instead, which a page's CSP does
 * not govern (the page itself still cannot eval).
 */
export async function axe(page: Page): Promise<AxeViolation[]> {
  const has = await page.evaluate(() => typeof (window as unknown as { axe?: unknown }).axe !== 'undefined');
  if (!has) await page.evaluate(AXE_SOURCE());
  return page.evaluate(async () => {
    const a = (window as unknown as { axe: { run: (ctx: unknown, opts: unknown) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const r = await a.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')) }));
  });
}

export function serious(vs: AxeViolation[]): AxeViolation[] {
  return vs.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Saves the page at both window sizes as .tmp/screenshots/<name>-<w>x<h>.png. */
export async function screenshots(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize();
  for (const size of SIZES) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: path.join(SCREENSHOTS, `${name}-${size.width}x${size.height}.png`) });
  }
  if (original) await page.setViewportSize(original);
}

/**
 * Polls until `fn` gives a value; on time-out photographs the watched page
 * (.tmp/screenshots/<prefix>failed-N.png), so a red run shows what the user saw.
 */
export function waiter(prefix = ''): {
  watch(page: Page | null): void;
  until<T>(what: string, fn: () => Promise<T | false | null | undefined>, ms?: number): Promise<T>;
} {
  let watched: Page | null = null;
  let failures = 0;
  return {
    watch(page) {
      watched = page;
    },
    async until(what, fn, ms = 30_000) {
      const end = Date.now() + ms;
      let last: unknown;
      for (;;) {
        try {
          const v = await fn();
          if (v !== false && v !== null && v !== undefined) return v;
        } catch (err) {
          last = err;
        }
        if (Date.now() > end) {
          const shot = path.join(SCREENSHOTS, `${prefix}failed-${++failures}.png`);
          await watched?.screenshot({ path: shot }).catch(() => undefined);
          throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''} (screenshot: ${path.relative(ROOT, shot)})`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}
