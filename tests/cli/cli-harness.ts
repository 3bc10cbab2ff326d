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
