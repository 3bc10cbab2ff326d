// The local runtime in Electron's utilityProcess: a Chromium-managed child that works in a packaged
// app (where running the Electron binary as Node may be switched off) and whose crash fails one job
// instead of the app. This adapts a UtilityProcess to the worker interface ProcessBackend uses;
// ProcessBackend starts a fresh one on the next job after a crash.
import { EventEmitter } from 'node:events';
import type { WorkerLauncher, WorkerProcess } from '../../runtime/engine/process-backend.js';

/** The parts of Electron's utilityProcess used here. */
export interface UtilityProcessLike {
  readonly pid: number | undefined;
  postMessage(message: unknown): void;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
  kill(): boolean;
}
export type UtilityFork = (modulePath: string, args: string[], options: { serviceName: string; stdio: 'inherit' | 'pipe' | 'ignore'; execArgv: string[] }) => UtilityProcessLike;

class UtilityWorker extends EventEmitter implements WorkerProcess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private alive = true;

  constructor(private readonly child: UtilityProcessLike) {
    super();
    child.on('message', (m) => this.emit('message', m));
    child.on('exit', (code) => {
      this.alive = false;
      this.exitCode = code;
      this.emit('exit', code, null);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get connected(): boolean {
    return this.alive;
  }

  send(message: unknown): boolean {
    if (!this.alive) return false;
    this.child.postMessage(message);
    return true;
  }

  kill(): boolean {
    return this.child.kill();
  }
}

export function utilityProcessLauncher(fork: UtilityFork): WorkerLauncher {
  return (file, execArgv) => new UtilityWorker(fork(file, [], { serviceName: 'Schnell Studio runtime', stdio: 'inherit', execArgv })) as unknown as WorkerProcess;
}
