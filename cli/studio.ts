// `schnell studio`: the studio without its desktop window, served to a browser. Loopback only
// unless --host names another address and --allow-host says which Host names to answer to; the
// printed sign-in link works once and is exchanged for a session cookie.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { argsErrorMessage, UsageError } from './usage.js';

const HELP = `usage: schnell studio [--port N] [--host 127.0.0.1] [--allow-host NAME]… [--library DIR] [--model PATH|ID] [--open]

Serves the studio's UI and its API to a browser. Prints a one-time sign-in link; opening it signs
that browser in (a session cookie) and a fresh link is printed for the next one.

  --port N          port to listen on (default: any free port)
  --host H          address to bind (default 127.0.0.1); anything but loopback needs --allow-host
  --allow-host NAME answer requests for this Host name too (the name or address browsers use to
                    reach this machine; against DNS rebinding every other name is refused)
  --library DIR     the library folder (default: "library" in config.json, else $SCHNELL_HOME/library)
  --model PATH|ID   the local model (default: "model" in config.json)
  --open            open the sign-in link in this machine's browser`;

export interface StudioArgs {
  port?: number;
  host: string;
  allowedHosts: string[];
  library?: string;
  model?: string;
  open: boolean;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

export function parseStudioArgs(argv: string[]): StudioArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'allow-host': { type: 'string', multiple: true },
        library: { type: 'string' },
        model: { type: 'string' },
        open: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(argsErrorMessage(err as Error & { code?: string }, 'studio'));
  }
  if (values.help) return 'help';
  const out: StudioArgs = { host: values.host ?? '127.0.0.1', allowedHosts: values['allow-host'] ?? [], open: values.open ?? false };
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65535) throw new UsageError(`--port must be a whole number from 0 to 65535, got ${JSON.stringify(values.port)}`);
    out.port = port;
  }
  if (!LOOPBACK.test(out.host) && out.allowedHosts.length === 0) {
    throw new UsageError(`--host ${out.host} exposes the studio beyond this machine; add --allow-host NAME with the name or address browsers will use to reach it`);
  }
  if (values.library !== undefined) out.library = values.library;
  if (values.model !== undefined) out.model = values.model;
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const args = parseStudioArgs(argv);
  if (args === 'help') {
    console.log(HELP);
    return 0;
  }
  return serveStudio(args);
}

/** Starts the headless studio and keeps it up until Ctrl-C or SIGTERM. */
export async function serveStudio(args: StudioArgs, opts: { intro?: string } = {}): Promise<number> {
  const { startHeadlessStudio } = await import('../main/web/headless.js');
  const studio = await startHeadlessStudio({
    studio: { ...(args.library ? { library: args.library } : {}), ...(args.model ? { model: args.model } : {}) },
    bind: args.host,
    ...(args.port !== undefined ? { port: args.port } : {}),
    allowedHosts: args.allowedHosts,
    onSignInUrl: (url) => console.log(`Next sign-in link (works once): ${url}`),
    log: (line) => console.error(line),
  });
  const first = studio.web.signInUrl();
  if (opts.intro) console.log(opts.intro);
  console.log(`Schnell Studio is running at ${studio.web.url}`);
  console.log(`Open this link to sign in (it works once): ${first}`);
  for (const w of studio.host.studio.warnings) console.error(`note: ${w}`);
  if (args.open) openInBrowser(first);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  console.error('schnell studio: stopping (queued jobs are kept for the next start)');
  await studio.close();
  return 0;
}

function openInBrowser(url: string): void {
  const command = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(command, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => console.error(`schnell studio: could not open a browser (${command}); open the link above yourself`));
    child.unref();
  } catch {
    console.error('schnell studio: could not open a browser; open the link above yourself');
  }
}
