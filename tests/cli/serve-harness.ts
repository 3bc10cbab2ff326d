// `schnell serve` as a process until its listening line (and the lines after it), and a free port:
// for serve-startup.test.ts and serve-startup.e2e.test.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { repoRoot } from '../runtime/server/helpers.js';

export interface Started {
  proc: ChildProcess;
  url: string;
  out: () => string;
  stop(): Promise<number | null>;
}

/** `schnell serve` without --port unless given, until its listening line (and the lines after it). */
export async function serve(args: string[], env: Record<string, string>): Promise<Started> {
  const proc = spawn(process.execPath, [path.join(repoRoot, 'bin/schnell.mjs'), 'serve', ...args], {
    cwd: repoRoot,
    env: { ...process.env, npm_lifecycle_event: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c) => (out += c));
  proc.stderr!.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      // The lines after the address (problems, note, curl) come in the same tick: wait for the last.
      if (m && /(try: curl|until this is fixed:\n(  - .*\n)+)/.test(out)) {
        clearTimeout(timer);
        setTimeout(() => resolve(m[1]!), 100);
      }
    };
    proc.stdout!.on('data', check);
    proc.stderr!.on('data', check);
    exited.then((code) => reject(new Error(`serve exited (${code}):\n${out}`)));
  });
  return {
    proc,
    url,
    out: () => out,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}
