// `schnell start`: until the studio exists, the local image server on the configured model
// ($SCHNELL_HOME/config.json "model"), or on the demo model, generated once into
// $SCHNELL_HOME/demo-model and clearly labelled as untrained, when none is set.
import fs from 'node:fs';
import path from 'node:path';
import { readUserConfig } from '../engine/config.js';
import { schnellHome } from '../models/paths.js';
import { parseServeArgs, serveUntilStopped } from './serve.js';

const EXT = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

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
      opts.modelPath = await ensureDemoModel(home);
      opts.banner = DEMO_BANNER;
    }
  }
  return serveUntilStopped(opts);
}

/** The demo model in $SCHNELL_HOME/demo-model, written once (into a temporary folder, then renamed). */
export async function ensureDemoModel(home: string): Promise<string> {
  const dir = path.join(home, 'demo-model');
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) return dir;
  fs.mkdirSync(home, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`schnell start: no model configured; writing the untrained demo model to ${dir} (once)`);
  // The demo-model command is the stable interface of the demo model writer.
  const demo = (await import(new URL(`./demo-model.${EXT}`, import.meta.url).href)) as { run(argv: string[]): Promise<number> };
  const code = await demo.run(['--out', tmp]);
  if (code !== 0) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw new Error('could not write the demo model (see the message above)');
  }
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    // Another start raced us and won; its model is as good as ours.
    if (!fs.existsSync(dir)) throw err;
  }
  return dir;
}
