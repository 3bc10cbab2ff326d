// Runs `node bin/schnell.mjs …` as a user would, with its own SCHNELL_HOME.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function schnell(args: string[], opts: { home: string; cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), ...args], {
      cwd: opts.cwd ?? repoRoot,
      env: { ...process.env, SCHNELL_HOME: opts.home, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** No key from the developer's environment leaks into a run. */
export const NO_KEY = { FIREWORKS_API_KEY: '', FIREWORKS_BASE_URL: '' };

/** Makes fresh, empty SCHNELL_HOME folders under `root()`, one per spawned process. */
export function homeMaker(root: () => string): () => string {
  let n = 0;
  return () => {
    const h = path.join(root(), `home-${++n}`);
    fs.mkdirSync(h);
    return h;
  };
}

/**
 * The same command line through the CLI's own `main` in this process: for checks of argument
 * handling, where a fresh process per case would cost about a second of CPU each and test nothing
 * more. Text written to stdout and stderr while it runs is captured; SCHNELL_HOME and `env` are
 * set for the call and restored after. One spawned case per file still checks the process wiring
 * (bin/schnell.mjs turns main's result into the exit code).
 */
export async function schnellInProcess(args: string[], opts: { home: string; env?: Record<string, string> }): Promise<CliResult> {
  const { main } = await import('../../cli/index.js');
  const vars = { SCHNELL_HOME: opts.home, ...opts.env };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  const out = { stdout: '', stderr: '' };
  for (const name of ['stdout', 'stderr'] as const) {
    // Only text is the command's: the test runner reports this file's results on stdout as bytes
    // (V8-serialised), and those must still reach it while a command runs.
    const original = writes[name];
    process[name].write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'string') return (original as (...a: unknown[]) => boolean).call(process[name], chunk, ...rest);
      out[name] += chunk;
      const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  }
  try {
    const code = await main(args);
    return { code, ...out };
  } finally {
    process.stdout.write = writes.stdout;
    process.stderr.write = writes.stderr;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
