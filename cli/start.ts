// `schnell start`: until the desktop shell lands, the studio core with its local image server on
// the configured model ($SCHNELL_HOME/config.json "model": a path or an installed id), or on the
// demo model, generated once and clearly labelled as untrained, when none is set.
import fs from 'node:fs';
import { readUserConfig, schnellHome } from '../runtime/settings/index.js';
import { parseServeArgs, serveUntilStopped } from './serve.js';

export const DEMO_BANNER =
  '  UNTRAINED DEMO MODEL: random weights, its images are noise, not FLUX.1.\n' +
  '  Set "model" in $SCHNELL_HOME/config.json (or install one with `schnell models`) for real images.';

export async function run(argv: string[]): Promise<number> {
  const opts = parseServeArgs(argv);
  if (opts === 'help') {
    console.log('usage: schnell start [serve options]   (schnell serve --help lists them)\n\nServes the model set in $SCHNELL_HOME/config.json ("model"), or the untrained demo model when none is set.');
    return 0;
  }
  const home = schnellHome();
  if (opts.modelPath === undefined) {
    const configured = readUserConfig(home).model;
    if (configured) opts.modelPath = configured;
    else {
      opts.modelPath = await demoModel();
      opts.banner = DEMO_BANNER;
    }
  }
  // The studio's own start: its API records in the studio library (--no-record opts out) and it
  // takes over the jobs a previous run left queued.
  opts.library ??= 'studio';
  opts.resume = true;
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
