// The only module that talks to onnxruntime-node: sessions, execution-provider choice with a
// clear fallback, the built-graph cache, and timing of every `session.run` (the pipeline's
// overhead metric is wall time minus this).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { homePaths, schnellHome } from '../settings/home.js';
import { writeFileAtomic } from '../util/files.js';

export type Provider = 'cpu' | 'cuda' | 'dml' | 'coreml' | 'webgpu';
export const PROVIDERS: readonly Provider[] = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'];

export type FeedType = 'float32' | 'int64' | 'int32' | 'uint8' | 'float16' | 'bool';
export interface Feed {
  type: FeedType;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}
export interface Output {
  type: string;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
}

export interface SessionOptions {
  /** Folder that external-data locations are relative to (GraphBuilder.toBytes's baseDir). */
  baseDir: string;
  provider?: Provider;
  /** Intra-op threads; default: onnxruntime's choice (all cores). */
  threads?: number;
  /** A name for messages ('transformer', 'T5 encoder', …). */
  label?: string;
  /** Session config entries (`session.*` keys), e.g. { 'session.disable_prepacking': '1' }. */
  config?: Record<string, string>;
  /** Write the graph as onnxruntime optimized it here (to check what it folded at load). */
  optimizedModelPath?: string;
  /**
   * false: no CPU memory arena. The arena keeps every freed block for reuse; a graph that widens
   * FP8 weights on every run frees blocks of many sizes, and the arena ended up holding all of them
   * (T5 under 'widen': 4 bytes per parameter, as if nothing stayed FP8). Without it each widened
   * weight is returned to the system after its Gemm.
   */
  memoryArena?: boolean;
  /** false: no memory pattern (onnxruntime's pre-planned block of all of a run's intermediate tensors). */
  memPattern?: boolean;
  /** Write onnxruntime's per-node profile (JSON) to files starting with this path (benchmarks). */
  profilePrefix?: string;
}

/** Where a provider is available, and why not when it is not. */
export interface DeviceInfo {
  provider: Provider;
  available: boolean;
  /** Bundled with the npm package, or installed separately (CUDA: see README). */
  bundled: boolean;
  note: string;
}

function platformSupports(p: Provider): boolean {
  switch (p) {
    case 'cpu': return true;
    case 'cuda': return (process.platform === 'linux' || process.platform === 'win32') && process.arch === 'x64';
    case 'dml': return process.platform === 'win32';
    case 'coreml': return process.platform === 'darwin';
    case 'webgpu': return true;
  }
}

/** What this machine's onnxruntime-node build offers. */
export function listDevices(): DeviceInfo[] {
  const backends = new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  return PROVIDERS.map((provider) => {
    const known = backends.has(provider);
    const bundled = backends.get(provider) ?? false;
    const platformOk = platformSupports(provider);
    let available = platformOk && known;
    let note: string;
    if (!platformOk) note = `not offered on ${process.platform}/${process.arch}`;
    else if (!known) note = 'not built into this onnxruntime-node package';
    else if (provider === 'cuda') {
      available = cudaProviderInstalled();
      note = available
        ? 'CUDA provider library installed'
        : 'CUDA provider not installed: run `ONNXRUNTIME_NODE_INSTALL=1 npm rebuild onnxruntime-node` (needs CUDA 12 and cuDNN 9; README, "GPU (CUDA) support")';
    } else note = bundled ? 'bundled' : 'installed separately';
    return { provider, available, bundled, note };
  });
}

function cudaProviderInstalled(): boolean {
  try {
    const dir = path.dirname(require_resolve('onnxruntime-node'));
    const bin = path.resolve(dir, '..', 'bin', 'napi-v6', process.platform, process.arch);
    return fs.readdirSync(bin).some((f) => /onnxruntime_providers_cuda/.test(f));
  } catch {
    return false;
  }
}

function require_resolve(id: string): string {
  // import.meta.resolve is synchronous in Node 20.6+ and returns a file URL.
  return new URL(import.meta.resolve(id)).pathname;
}

function providerConfig(p: Provider): ort.InferenceSession.ExecutionProviderConfig {
  return p === 'dml' ? 'dml' : p;
}

/** After each block of a run: `done` blocks of `total` (the blocks of one run) finished. */
export type BlockProgress = (done: number, total: number) => void;

/**
 * What runs a model: an onnxruntime session, or a runner that drives sessions itself (the
 * block-by-block T5 encoder and transformer, runtime/flux/text/t5-streamed.ts and
 * runtime/flux/transformer-streamed.ts) behind the same interface.
 */
export interface ModelRunner {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, Feed>): Promise<Record<string, Output>>;
  release(): Promise<void>;
  endProfiling(): void;
  /**
   * A runner that runs block by block declares this property (initialised, even to undefined) and
   * calls it after each block it finishes; one onnxruntime call has no such point.
   */
  onProgress?: BlockProgress | undefined;
}

function ortRunner(session: ort.InferenceSession): ModelRunner {
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    async run(feeds) {
      const t: Record<string, ort.Tensor> = {};
      for (const [k, f] of Object.entries(feeds)) t[k] = new ort.Tensor(f.type, f.data as never, f.dims);
      const r = await session.run(t);
      const out: Record<string, Output> = {};
      for (const [k, v] of Object.entries(r)) out[k] = { type: v.type, dims: [...v.dims], data: v.data as Output['data'] };
      return out;
    },
    release: () => session.release(),
    endProfiling: () => session.endProfiling(),
  };
}

export class OnnxSession {
  /** Milliseconds spent inside session.run since creation (or the last resetTiming). */
  runMs = 0;
  runs = 0;
  private runner: ModelRunner;

  constructor(
    session: ort.InferenceSession | { runner: ModelRunner },
    readonly provider: Provider,
    readonly label: string,
    /** Why the requested provider was not used, when it was not. */
    readonly fallbackReason?: string,
  ) {
    this.runner = 'runner' in session ? session.runner : ortRunner(session);
  }

  /** True when the runner reports its blocks (see `onProgress`). */
  get reportsProgress(): boolean { return 'onProgress' in this.runner; }

  /** Called after each block of a run, where the runner reports blocks (else never); undefined stops it. */
  get onProgress(): BlockProgress | undefined { return this.runner.onProgress; }
  set onProgress(fn: BlockProgress | undefined) {
    if (this.reportsProgress) this.runner.onProgress = fn;
  }

  get inputNames(): readonly string[] { return this.runner.inputNames; }
  get outputNames(): readonly string[] { return this.runner.outputNames; }

  async run(feeds: Record<string, Feed>): Promise<Record<string, Output>> {
    for (const name of this.runner.inputNames) {
      if (!(name in feeds)) throw new Error(`${this.label}: missing model input '${name}'`);
    }
    const start = performance.now();
    const out = await this.runner.run(feeds);
    this.runMs += performance.now() - start;
    this.runs++;
    return out;
  }

  resetTiming(): void { this.runMs = 0; this.runs = 0; }

  /** Ends profiling (sessions created with profilePrefix): onnxruntime writes PREFIX_<time>.json. */
  endProfiling(): void {
    this.runner.endProfiling();
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}

/**
 * Providers that failed to create a session, by provider and model label, with why. A failing GPU
 * provider can take seconds to fail (adapter discovery, a driver timing out), and it fails the same
 * way for the same model each time: later loads in this process go straight to the CPU and say so.
 * Kept per label, so a transformer too large for the card does not send the small encoders away.
 */
const failures = new Map<string, string>();
const failureKey = (p: Provider, label: string) => `${p}\0${label}`;

/** Why `provider` failed to load the model called `label` earlier in this process, if it did. */
export function rememberedFailure(provider: Provider, label: string): string | undefined {
  return failures.get(failureKey(provider, label));
}

/** Forgets remembered provider failures (after a driver install, or `schnell devices --probe`). */
export function forgetProviderFailures(): void {
  failures.clear();
}

/**
 * Creates a session on the requested provider; if that provider cannot load, falls back to the
 * CPU and says why in `fallbackReason` instead of crashing, and remembers the failure (above).
 */
export async function createSession(model: Uint8Array, opts: SessionOptions): Promise<OnnxSession> {
  const label = opts.label ?? 'model';
  const wanted = opts.provider ?? 'cpu';
  const make = (p: Provider) => {
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: [providerConfig(p)],
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      extra: { session: { model_external_initializers_file_folder_path: opts.baseDir } },
    };
    if (opts.threads) so.intraOpNumThreads = opts.threads;
    if (opts.memoryArena === false) so.enableCpuMemArena = false;
    if (opts.memPattern === false) so.enableMemPattern = false;
    if (opts.optimizedModelPath) so.optimizedModelFilePath = opts.optimizedModelPath;
    if (opts.profilePrefix) (so.enableProfiling = true), (so.profileFilePrefix = opts.profilePrefix);
    if (opts.config) {
      const extra = so.extra as Record<string, Record<string, string>>;
      for (const [k, v] of Object.entries(opts.config)) {
        const [head, ...rest] = k.split('.');
        (extra[head!] ??= {})[rest.join('.')] = v;
      }
    }
    return ort.InferenceSession.create(model, so);
  };
  if (wanted !== 'cpu') {
    const dev = listDevices().find((d) => d.provider === wanted);
    if (!dev?.available) {
      return new OnnxSession(await make('cpu'), 'cpu', label, `${wanted} is not available here (${dev?.note ?? 'unknown provider'}); using the CPU`);
    }
    const failed = failures.get(failureKey(wanted, label));
    if (failed) {
      return new OnnxSession(await make('cpu'), 'cpu', label, `${wanted} failed to load the ${label} earlier in this process (${failed}); using the CPU without trying it again`);
    }
    try {
      return new OnnxSession(await make(wanted), wanted, label);
    } catch (err) {
      const why = firstLine((err as Error).message);
      failures.set(failureKey(wanted, label), why);
      return new OnnxSession(await make('cpu'), 'cpu', label, `${wanted} failed to load the ${label} (${why}); using the CPU`);
    }
  }
  try {
    return new OnnxSession(await make('cpu'), 'cpu', label);
  } catch (err) {
    throw new Error(`could not load the ${label}: ${firstLine((err as Error).message)}`);
  }
}

function firstLine(s: string): string {
  const line = (s ?? '').split('\n')[0]!;
  // onnxruntime prefixes its sentence with a source location and the failed check; keep the sentence.
  const m = /^\/onnxruntime_src\/\S+:\d+ .*? was false\. (.+)$/.exec(line);
  return (m ? m[1]! : line).slice(0, 300);
}

// ---- built-graph cache ----------------------------------------------------------------------

/** Folder for caches ($SCHNELL_HOME/cache or ~/.schnell-studio/cache). */
export function cacheDir(): string {
  return homePaths.graphCache(schnellHome());
}

/**
 * Identity of a built graph: builder name + version + policy + each weight file's path, size and
 * modification time (a changed file is a different checkpoint; hashing 17 GB would defeat the cache).
 */
export function graphKey(builder: string, version: number, files: string[], extra: unknown): string {
  const h = crypto.createHash('sha256');
  h.update(`${builder}\0${version}\0${JSON.stringify(extra)}\0`);
  for (const f of [...files].sort()) {
    const st = fs.statSync(f);
    h.update(`${path.resolve(f)}\0${st.size}\0${st.mtimeMs}\0`);
  }
  return h.digest('hex').slice(0, 32);
}

/** Returns cached model bytes for `key`, or builds, stores (atomically) and returns them. */
export function cachedGraph(key: string, build: () => Uint8Array, dir = cacheDir()): { bytes: Uint8Array; cached: boolean } {
  const file = path.join(dir, `${key}.onnx`);
  try {
    return { bytes: fs.readFileSync(file), cached: true };
  } catch {
    /* not cached yet */
  }
  const bytes = build();
  try {
    writeFileAtomic(file, bytes, { createFolder: true });
  } catch {
    // A read-only or full cache folder only costs a rebuild next time.
  }
  return { bytes, cached: false };
}
