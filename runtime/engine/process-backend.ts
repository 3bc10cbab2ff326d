// Runs a local backend in a child process, so that a crash of the native runtime (a segfault, the
// OS killing it for memory) fails one request instead of the server, and the engine can fall back.
// The child is started on first use and again after it dies; `check` and `describe` run in this
// process on an instance of the same backend (they load nothing).
import { fork } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GenerationRequest } from '../api/index.js';
import { BackendError, type BackendOutput, type FailureKind, type LocalBackend, type LocalCheck, type LocalModelInfo, type ProgressEvent, abortError } from './types.js';

type LocalProgress = Omit<ProgressEvent, 'backend'>;

/** How the child builds its backend: `(await import(module))[factory](options)`. */
export interface BackendSpec {
  /** A file path or file: URL of a module. */
  module: string;
  /** Name of an exported function `(options) => LocalBackend | Promise<LocalBackend>`. */
  factory: string;
  /** JSON-serializable options for the factory. */
  options?: unknown;
}

type ToChild =
  | { type: 'init'; spec: BackendSpec }
  | { type: 'generate'; id: number; request: GenerationRequest }
  | { type: 'cancel'; id: number }
  | { type: 'unload' };

export type FromChild =
  | { type: 'ready' }
  | { type: 'progress'; id: number; event: LocalProgress }
  | { type: 'result'; id: number; output: BackendOutput }
  | { type: 'error'; id: number; error: { kind?: FailureKind; message: string; aborted?: boolean; status?: number } }
  | { type: 'fatal'; error: { kind?: FailureKind; message: string } };

interface Pending {
  resolve: (o: BackendOutput) => void;
  reject: (e: unknown) => void;
  onProgress?: ((e: LocalProgress) => void) | undefined;
  /** The last thing the runtime said it was doing ("loading T5 (4.9 GB)"), for the message if it is killed. */
  doing?: string;
}

/** The worker process as ProcessBackend uses it: Node's ChildProcess, or an adapter (Electron's utilityProcess). */
export interface WorkerProcess {
  readonly pid?: number | undefined;
  readonly connected: boolean;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: FromChild) => void): unknown;
  off(event: 'message', listener: (message: FromChild) => void): unknown;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  kill(signal?: NodeJS.Signals): unknown;
}

/** Starts the worker script; the desktop app installs one that uses Electron's utilityProcess. */
export type WorkerLauncher = (workerFile: string, execArgv: string[]) => WorkerProcess;

// The child's stdout goes to our stderr: stdout belongs to the CLI's own output (--json).
const forkWorker: WorkerLauncher = (file, execArgv) =>
  fork(file, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 2, 2, 'ipc'] }) as unknown as WorkerProcess;
let launchWorker: WorkerLauncher = forkWorker;

/** Replaces how every ProcessBackend starts its worker (null restores Node's fork). */
export function setWorkerLauncher(launcher: WorkerLauncher | null): void {
  launchWorker = launcher ?? forkWorker;
}

const WORKER = new URL('./local-worker.' + (import.meta.url.endsWith('.ts') ? 'ts' : 'js'), import.meta.url);

export async function loadBackend(spec: BackendSpec): Promise<LocalBackend> {
  const url = spec.module.startsWith('file:') ? spec.module : pathToFileURL(spec.module).href;
  const mod = (await import(url)) as Record<string, unknown>;
  const factory = mod[spec.factory];
  if (typeof factory !== 'function') throw new Error(`${spec.module} exports no function '${spec.factory}'`);
  return (await (factory as (o: unknown) => LocalBackend | Promise<LocalBackend>)(spec.options)) as LocalBackend;
}

export class ProcessBackend implements LocalBackend {
  private child: WorkerProcess | null = null;
  private ready: Promise<void> | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private inProcess: Promise<LocalBackend> | null = null;

  constructor(readonly spec: BackendSpec) {}

  /** The child's process id while it runs (tests kill it to simulate a crash). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private local(): Promise<LocalBackend> {
    return (this.inProcess ??= loadBackend(this.spec));
  }

  async check(): Promise<LocalCheck> {
    try {
      return await (await this.local()).check();
    } catch (err) {
      return { ok: false, kind: 'model-missing', reason: (err as Error).message };
    }
  }

  async describe(): Promise<LocalModelInfo> {
    return (await this.local()).describe();
  }

  async estimateMs(request: GenerationRequest): Promise<number | undefined> {
    const local = await this.local();
    return local.estimateMs ? local.estimateMs(request) : undefined;
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const tsx = WORKER.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
    const child = launchWorker(fileURLToPath(WORKER), tsx);
    this.child = child;
    this.ready = new Promise<void>((resolve, reject) => {
      const onReady = (m: FromChild) => {
        if (m.type === 'ready') {
          child.off('message', onReady);
          resolve();
        } else if (m.type === 'fatal') {
          child.off('message', onReady);
          reject(new BackendError(m.error.kind ?? 'provider-failed', m.error.message));
        }
      };
      child.on('message', onReady);
      child.once('exit', (code, signal) => reject(new BackendError('crashed', `the local runtime stopped while starting (${describeExit(code, signal)})`)));
    });
    this.ready.catch(() => undefined);
    child.on('message', (m: FromChild) => this.onMessage(m));
    child.once('exit', (code, signal) => {
      if (this.child === child) {
        this.child = null;
        this.ready = null;
      }
      for (const p of this.pending.values()) p.reject(new BackendError('crashed', stoppedMessage(code, signal, p.doing)));
      this.pending.clear();
    });
    child.send({ type: 'init', spec: this.spec } satisfies ToChild);
    return this.ready;
  }

  private onMessage(m: FromChild): void {
    if (m.type === 'progress') {
      const p = this.pending.get(m.id);
      if (p && m.event.stage !== 'estimate') p.doing = activity(m.event);
      p?.onProgress?.(m.event);
    }
    else if (m.type === 'result' || m.type === 'error') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'result') p.resolve(m.output);
      else if (m.error.aborted) p.reject(abortError());
      else p.reject(new BackendError(m.error.kind ?? 'crashed', m.error.message, m.error.status !== undefined ? { status: m.error.status } : {}));
    }
  }

  async generate(
    request: GenerationRequest,
    opts: { signal?: AbortSignal; onProgress?: (e: LocalProgress) => void } = {},
  ): Promise<BackendOutput> {
    if (opts.signal?.aborted) throw abortError();
    try {
      await this.start();
    } catch (err) {
      this.ready = null;
      throw err;
    }
    const child = this.child!;
    const id = this.nextId++;
    return new Promise<BackendOutput>((resolve, reject) => {
      const onAbort = () => {
        if (child.connected) child.send({ type: 'cancel', id } satisfies ToChild);
      };
      const beat = opts.onProgress && heartbeat(opts.onProgress);
      this.pending.set(id, {
        resolve: (o) => {
          opts.signal?.removeEventListener('abort', onAbort);
          beat?.stop();
          resolve(o);
        },
        reject: (e) => {
          opts.signal?.removeEventListener('abort', onAbort);
          beat?.stop();
          reject(e);
        },
        onProgress: beat?.onProgress,
      });
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.send({ type: 'generate', id, request } satisfies ToChild);
    });
  }

  /** Stops the child (freeing everything it loaded). */
  async unload(): Promise<void> {
    const child = this.child;
    this.child = null;
    this.ready = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      if (child.connected) child.send({ type: 'unload' } satisfies ToChild);
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    const inProcess = this.inProcess;
    this.inProcess = null;
    await inProcess?.then((b) => b.unload()).catch(() => undefined);
  }
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  if (signal === 'SIGKILL') return 'killed with SIGKILL, possibly by the system for lack of memory';
  if (signal) return `killed by ${signal}`;
  return `exit code ${code}`;
}

/** "loading T5 (4.9 GB)" stays; a step becomes "running step 2 of 4 of image 1". */
function activity(e: LocalProgress): string {
  if (e.stage === 'release') return 'releasing memory';
  if (e.stage === 'estimate') return 'starting';
  if (e.stage && e.stage !== 'denoise' && e.message) {
    // A finished stage ("loaded T5 (4.9 GB) in 12 s", "encoded the prompt in 3 s") reads as "after …".
    const finished = /^(loaded|encoded|released) (.*?)(?: in \d[^,]*)?$/.exec(e.message);
    if (finished) return `just after ${{ loaded: 'loading', encoded: 'encoding', released: 'releasing' }[finished[1] as 'loaded']} ${finished[2]}`;
    // "encoding the prompt: T5 block 12 of 24" reads as "encoding the prompt (T5 block 12 of 24)".
    return e.message.replace(/ \(\d+ s\)$/, '').replace(/: (T5 block \d+ of \d+)$/, ' ($1)');
  }
  // A step event says which step finished; the next one is running (or the decoder, after the last).
  if (e.step >= e.steps) return `decoding image ${e.image + 1}`;
  return `running step ${e.step + 1} of ${e.steps} of image ${e.image + 1}`;
}

/**
 * Why the child went away, in one sentence. Killed by SIGKILL (what Linux's out-of-memory killer
 * sends; exit 137 is the same seen through a shell) while it was doing something we know: say
 * what, and that memory is the likely cause. Never silent.
 */
export function stoppedMessage(code: number | null, signal: NodeJS.Signals | null, doing?: string): string {
  if (signal === 'SIGKILL' || code === 137) return `the local runtime was stopped by the system${doing ? ` while ${doing}` : ''}, most likely for memory`;
  return `the local runtime stopped unexpectedly${doing ? ` while ${doing}` : ''} (${describeExit(code, signal)})`;
}

/**
 * Progress every 2 s while the runtime is silent. onnxruntime runs a session on the runtime's own
 * thread, so a full-size step (minutes on a CPU) or a large load says nothing until it ends; this
 * side is free, and repeats the last stage event with the time since. An event with a measured
 * `fraction` (a model run block by block reported it) is repeated as it is, with the time since
 * that block; one that said how long its step should take on this machine (`expectedMs`) gets an
 * estimated share done and time left, and says it is an estimate.
 */
function heartbeat(onProgress: (e: LocalProgress) => void, everyMs = 2000): { onProgress: (e: LocalProgress) => void; stop: () => void } {
  let last: { e: LocalProgress; at: number } | undefined;
  const timer = setInterval(() => {
    if (!last?.e.stage || last.e.stage === 'estimate' || last.e.stage === 'release') return;
    const since = performance.now() - last.at;
    if (since < everyMs - 50) return;
    // The repeat says how long it has been; the preview it carried was shown already.
    const { preview: _shown, ...e } = last.e;
    const measured = e.fraction !== undefined && !e.expectedMs;
    const fraction = measured ? e.fraction : e.expectedMs ? Math.min(0.99, since / e.expectedMs) : undefined;
    const part = measured
      ? `${Math.round(since / 1000)} s since the last block`
      : fraction !== undefined ? `about ${Math.round(fraction * 100)} % (estimated from this machine's speed)` : `${Math.round(since / 1000)} s so far`;
    onProgress({
      ...e, elapsedMs: (e.elapsedMs ?? 0) + since, message: `${e.message}, ${part}`,
      ...(fraction !== undefined ? { fraction } : {}), ...(e.etaMs !== undefined ? { etaMs: Math.max(0, e.etaMs - since) } : {}),
    });
  }, everyMs / 2);
  timer.unref?.();
  return {
    onProgress: (e) => {
      last = { e, at: performance.now() };
      onProgress(e);
    },
    stop: () => clearInterval(timer),
  };
}
