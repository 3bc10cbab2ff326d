// The headless studio put together: the studio core (main/studio.ts) behind the contract's
// dispatcher, served over HTTP by main/web.ts. `schnell studio`, `npm start` without Electron and
// the end-to-end tests all start it here.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileSecretStore, homePaths, schnellHome } from '../../runtime/settings/index.js';
import { StudioHost } from '../handlers/host.js';
import { encodeName, type Shell } from '../handlers/shell.js';
import { Studio, type StudioOptions } from '../studio.js';
import { FILES_PREFIX, PREVIEWS_PREFIX, startWebStudio, type WebStudio } from '../web.js';

export interface HeadlessOptions {
  /** Passed to Studio.open (home, library, model, …). */
  studio?: StudioOptions;
  bind?: string;
  port?: number;
  allowedHosts?: string[];
  rendererDir?: string;
  onSignInUrl?: (url: string) => void;
  log?: (line: string) => void;
}

export interface HeadlessStudio {
  host: StudioHost;
  web: WebStudio;
  close(): Promise<void>;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** Two levels up from main/web/ in a checkout, three from dist/main/web/ in a build. */
const ROOTS = [path.resolve(here, '../..'), path.resolve(here, '../../..')];

/** renderer/dist, wherever the project root is. */
export function defaultRendererDir(): string {
  for (const root of ROOTS) {
    const dir = path.join(root, 'renderer', 'dist');
    if (fs.existsSync(path.join(dir, 'index.html'))) return dir;
  }
  return path.join(ROOTS[0]!, 'renderer', 'dist');
}

export function studioVersion(): string {
  for (const root of ROOTS) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'schnell-studio' && pkg.version) return pkg.version;
    } catch {
      // try the next root
    }
  }
  return '0.0.0';
}

export const BROWSER_SHELL: Shell = {
  kind: 'browser',
  fileUrl: (name) => `${FILES_PREFIX}${encodeName(name)}`,
  previewUrl: (jobId) => `${PREVIEWS_PREFIX}${encodeURIComponent(jobId)}`,
  secretStorage: { backend: 'file', warning: null },
};

export async function startHeadlessStudio(opts: HeadlessOptions = {}): Promise<HeadlessStudio> {
  return serveHost(() => Studio.open(opts.studio ?? {}), opts);
}

/**
 * The web transport over a studio someone else opened (`schnell start` opens it for its API server);
 * `reopen` opens it again after a settings change that needs a fresh engine.
 */
export async function attachWebStudio(studio: Studio, reopen: () => Promise<Studio>, opts: Omit<HeadlessOptions, 'studio'> = {}): Promise<HeadlessStudio> {
  let first: Studio | null = studio;
  return serveHost(async () => {
    const s = first ?? (await reopen());
    first = null;
    return s;
  }, { ...opts, studio: { home: studio.home } });
}

async function serveHost(open: () => Promise<Studio>, opts: HeadlessOptions): Promise<HeadlessStudio> {
  const home = opts.studio?.home ?? schnellHome(opts.studio?.env);
  const host = await StudioHost.open({
    open,
    shell: BROWSER_SHELL,
    secrets: new FileSecretStore(homePaths.secrets(home)),
    version: studioVersion(),
    ...(opts.log ? { log: opts.log } : {}),
  });
  let web: WebStudio;
  try {
    web = await startWebStudio({
      host: {
        call: (name, params) => host.dispatcher.call(name, params),
        subscribe: (listener) => host.subscribe(listener),
        resolveLibraryFile: host.resolveLibraryFile,
        preview: (jobId) => host.preview(jobId),
      },
      rendererDir: opts.rendererDir ?? defaultRendererDir(),
      ...(opts.bind ? { bind: opts.bind } : {}),
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.allowedHosts ? { allowedHosts: opts.allowedHosts } : {}),
      ...(opts.onSignInUrl ? { onSignInUrl: opts.onSignInUrl } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  } catch (err) {
    await host.close();
    throw err;
  }
  return {
    host,
    web,
    async close() {
      await web.close();
      await host.close();
    },
  };
}
