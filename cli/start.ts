// `schnell start` (`npm start`): the desktop app, built first where parts are missing. Where
// Electron's binary is not installed (npm could not download it, as offline), or when serve options
// are given (scripts, tests), the studio runs headless instead: its UI in a browser at the printed
// sign-in link, beside the local image API on the configured model ($SCHNELL_HOME/config.json
// "model": a path or an installed id), or on the demo model, generated once and clearly labelled
// as untrained, when none is set.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readUserConfig, schnellHome } from '../runtime/settings/index.js';
import { parseServeArgs, serveUntilStopped, type ServeOptions } from './serve.js';

export const DEMO_BANNER =
  '  UNTRAINED DEMO MODEL: random weights, its images are noise, not FLUX.1.\n' +
  '  Set "model" in $SCHNELL_HOME/config.json (or install one with `schnell models`) for real images.';

export const NO_ELECTRON =
  "Electron's binary is not installed on this machine (npm could not download it), so the studio starts without its window: open the sign-in link below in a browser.";

/** The project root: one level up from cli/ in a checkout, two from dist/cli/ in a build. */
const ROOT = [path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')].find((d) =>
  fs.existsSync(path.join(d, 'package.json')),
)!;

export async function run(argv: string[]): Promise<number> {
  const opts = parseServeArgs(argv);
  if (opts === 'help') {
    console.log(
      'usage: schnell start [serve options]   (schnell serve --help lists them)\n\n' +
        'Opens the desktop app (building what is missing first). Without Electron\'s binary, or with serve options, the studio\n' +
        'runs headless: its UI at a printed one-time sign-in link, beside the local image API on the model set in\n' +
        '$SCHNELL_HOME/config.json ("model"), or on the untrained demo model when none is set.',
    );
    return 0;
  }
  const electron = argv.length === 0 && !process.env.SCHNELL_HEADLESS ? electronBinary() : null;
  if (electron) return runDesktop(electron);
  if (argv.length === 0) console.error(NO_ELECTRON);
  return runHeadless(opts);
}

/** Electron's executable when the npm package downloaded it, else null. Read from its package (no `electron` import outside main/electron). */
export function electronBinary(): string | null {
  try {
    const dir = path.dirname(createRequire(import.meta.url).resolve('electron/package.json'));
    const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
    const rel = fs.readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
    const bin = override ? path.join(override, rel) : path.join(dir, 'dist', rel);
    return fs.existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

/** Builds the parts the desktop app runs from, when missing: the compiled main process and the UI. */
export function buildMissing(root: string = ROOT, interactive = true): void {
  const steps: [string, string][] = [
    ['dist/main/electron/app.js', 'build:main'],
    ['renderer/dist/index.html', 'build:renderer'],
  ];
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  for (const [file, script] of steps) {
    if (fs.existsSync(path.join(root, file))) continue;
    if (!interactive) continue;
    console.error(`schnell start: ${file} is missing; running npm run ${script}`);
    const r = spawnSync(npm, ['run', script], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
    if (r.status !== 0) console.error(`schnell start: npm run ${script} failed; continuing without it`);
  }
}

async function runDesktop(electron: string): Promise<number> {
  buildMissing();
  const child = spawn(electron, [ROOT], { stdio: 'inherit', env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined } });
  // Ctrl-C and kill reach the app, which closes the studio cleanly.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve) => {
    child.on('error', (err) => {
      console.error(`schnell start: Electron did not start (${err.message}); run \`SCHNELL_HEADLESS=1 npm start\` for the studio in a browser`);
      resolve(1);
    });
    child.on('exit', (code) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? 0);
    });
  });
}

async function runHeadless(opts: ServeOptions): Promise<number> {
  const home = schnellHome();
  if (opts.modelPath === undefined) {
    const configured = readUserConfig(home).model;
    if (configured) opts.modelPath = configured;
    else {
      opts.modelPath = await demoModel();
      opts.banner = DEMO_BANNER;
    }
  }
  // The UI only where someone reads the link (a terminal); scripts reading --json get the API alone
  // on stdout, and the link on stderr.
  buildMissing(ROOT, process.stdout.isTTY === true && !opts.json);
  // The studio's own start: its API records in the studio library (--no-record opts out) and it
  // takes over the jobs a previous run left queued.
  opts.library ??= 'studio';
  opts.resume = true;
  const say = opts.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
  opts.attach = async (studio) => {
    const { attachWebStudio } = await import('../main/web/headless.js');
    const { Studio } = await import('../main/studio.js');
    // Reopened after a settings change: the model chosen in the studio, else the one started with.
    const reopen = () => {
      const model = readUserConfig(home).model ?? opts.modelPath;
      return Studio.open({ resume: true, ...(model ? { model } : {}) });
    };
    const web = await attachWebStudio(studio, reopen, {
      onSignInUrl: (url) => say(`  next studio sign-in link (works once): ${url}`),
      log: (line) => console.error(line),
    });
    say(`  studio UI: ${web.web.url}  sign in (the link works once): ${web.web.signInUrl()}`);
    return () => web.close();
  };
  return serveUntilStopped(opts);
}

/**
 * The demo model, written once into the demo model writer's default folder ($SCHNELL_HOME/demo-model;
 * rewritten when the writer's version changes).
 */
export async function demoModel(): Promise<string> {
  const { defaultDemoModelDir, ensureDemoModel } = await import('../runtime/flux/demo/demo-model.js');
  const dir = defaultDemoModelDir(schnellHome());
  if (!fs.existsSync(dir)) console.error(`schnell start: no model configured; writing the untrained demo model to ${dir} (once)`);
  return ensureDemoModel(dir);
}
