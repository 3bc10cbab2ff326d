// `schnell <command> …`: each command lives in its own module and is loaded only when used, so
// `schnell devices` does not pay for sharp or SQLite.
import fs from 'node:fs';
import { ApiError } from '../runtime/api/errors.js';
import { guardTerminalOutput } from '../runtime/util/terminal.js';
import { argsErrorMessage, UsageError } from './usage.js';

type Command = { summary: string; load: () => Promise<{ run(argv: string[]): Promise<number> }> };

const COMMANDS: Record<string, Command> = {
  start: { summary: 'start the studio (for now: the local image server)', load: () => import('./start.js') },
  generate: { summary: 'generate images from a prompt (--library/--project record them)', load: () => import('./generate.js') },
  serve: { summary: 'serve the Fireworks text_to_image API on this machine', load: () => import('./serve.js') },
  conformance: { summary: 'check the runtime against reference outputs (goldens.json)', load: () => import('./conformance.js') },
  devices: { summary: 'list the execution providers this machine offers', load: () => import('./devices.js') },
  'demo-model': { summary: 'write a tiny untrained demo model set', load: () => import('./demo-model.js') },
  models: { summary: 'list, download, import, verify and remove models', load: () => import('./models.js') },
  library: { summary: 'search and manage the library of generations', load: () => import('./library.js') },
  studio: { summary: 'serve the studio UI to a browser (headless; sign-in link printed)', load: () => import('./studio.js') },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: schnell <command> [options]   (schnell help <command>, or schnell <command> --help, for its options)',
    '       schnell --version',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

/** This package's version, from the package.json above this file (source: ../, compiled: ../../). */
function version(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'schnell-studio' && pkg.version) return pkg.version;
    } catch {
      /* not there: the other layout */
    }
  }
  return 'unknown';
}

/** A mistake on the command line (exit code 2), as opposed to a failure while running (exit code 1). */
function isUsageError(err: unknown): boolean {
  if (err instanceof UsageError) return true;
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return true;
  // The request schema's own checks (a bad --device, --steps, …): the user's input, not a failure.
  return err instanceof ApiError && err.status === 400;
}

/**
 * Runs one command; resolves to the exit code: 0 done, 1 failed while running, 2 the command line
 * was wrong (unknown command or option, a bad value, a missing argument).
 */
export async function main(argv: string[]): Promise<number> {
  // Prompts, names and messages from files reach the terminal through here: escapes are shown, not run.
  guardTerminalOutput();
  const [first, ...after] = argv;
  if (first === '--version' || first === '-v' || first === 'version') {
    console.log(`schnell ${version()}`);
    return 0;
  }
  // `schnell help generate` is `schnell generate --help`.
  const helpFor = first === 'help' && after[0] && COMMANDS[after[0]] ? after[0] : undefined;
  const [name, ...rest] = helpFor ? [helpFor, '--help'] : argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0]) {
      console.error(`schnell: unknown command '${rest[0]}'\n\n${usage()}`);
      return 2;
    }
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`schnell: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  try {
    const mod = await command.load();
    return await mod.run(rest);
  } catch (err) {
    // Errors meant for the user carry a message; anything else is a bug, still shown without a stack
    // unless SCHNELL_DEBUG is set.
    const e = err as Error;
    const usageError = isUsageError(err);
    const message = usageError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS_') ? argsErrorMessage(e, name) : (e?.message ?? String(err));
    console.error(`schnell ${name}: ${message}`);
    if (process.env.SCHNELL_DEBUG) console.error(e?.stack);
    return usageError ? 2 : 1;
  }
}
