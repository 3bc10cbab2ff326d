// `schnell <command> …`: each command lives in its own module and is loaded only when used, so
// `schnell devices` does not pay for sharp or SQLite.
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
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'usage: schnell <command> [options]   (schnell <command> --help for its options)',
    '',
    ...Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
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
    console.error(`schnell ${name}: ${e?.message ?? String(err)}`);
    if (process.env.SCHNELL_DEBUG) console.error(e?.stack);
    return 1;
  }
}
