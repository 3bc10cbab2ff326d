// A fault-injecting local backend for engine and server tests (the way a fault-injecting HTTP server
// stands in for a misbehaving cloud). It makes real PNG/JPEG images (a colour derived from seed and
// prompt, so the same seed gives the same bytes) and misbehaves on command: a control file, read on
// every call, says which fault to inject, so a test can change it while the backend runs in a
// child process. Every generation is appended to a log file, so tests can count jobs exactly.
import fs from 'node:fs';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { GenerationRequest } from '../../../runtime/api/index.js';
import { BackendError, type LocalBackend, abortError } from '../../../runtime/engine/types.js';

export type Fault = 'none' | 'provider' | 'oom' | 'exit' | 'throw' | 'hang' | 'bad-image' | 'killed-loading' | 'slow-loading' | 'slow-block' | 'slow-step';

export interface FaultBackendOptions {
  /** Stands in for the model file: removing it is "model missing". */
  modelFile: string;
  /** JSON { fault?: Fault, stepMs?: number }, read on every call. */
  controlFile?: string;
  /** One line per finished generation: "<seed> <prompt hash>". */
  logFile?: string;
  stepMs?: number;
  device?: string;
  untrained?: boolean;
}

function control(opts: FaultBackendOptions): { fault: Fault; stepMs: number } {
  let c: { fault?: Fault; stepMs?: number } = {};
  if (opts.controlFile) {
    try {
      c = JSON.parse(fs.readFileSync(opts.controlFile, 'utf8'));
    } catch {
      /* no control file: defaults */
    }
  }
  return { fault: c.fault ?? 'none', stepMs: c.stepMs ?? opts.stepMs ?? 0 };
}

export function colourFor(seed: number, prompt: string): { r: number; g: number; b: number } {
  const h = createHash('sha256').update(`${seed}\0${prompt}`).digest();
  return { r: h[0]!, g: h[1]!, b: h[2]! };
}

/** A deterministic textured image: a colour from seed and prompt plus pseudo-random grain. */
export function pattern(width: number, height: number, seed: number, prompt: string): Buffer {
  const { r, g, b } = colourFor(seed, prompt);
  const buf = Buffer.alloc(width * height * 3);
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < buf.length; i += 3) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = (r + (x & 63)) & 255;
    buf[i + 1] = (g + ((x >>> 8) & 63)) & 255;
    buf[i + 2] = (b + ((x >>> 16) & 63)) & 255;
  }
  return buf;
}

export function createFaultBackend(opts: FaultBackendOptions): LocalBackend {
  let loaded = false;
  return {
    async check() {
      if (!fs.existsSync(opts.modelFile)) return { ok: false, kind: 'model-missing', reason: `the local model file ${opts.modelFile} is missing` };
      return { ok: true };
    },
    async estimateMs() {
      // The duration this machine's measured speed would predict, as the control file says.
      try {
        return (JSON.parse(fs.readFileSync(opts.controlFile ?? '', 'utf8')) as { estimateMs?: number }).estimateMs;
      } catch {
        return undefined;
      }
    },
    async describe() {
      return { name: 'fault-test-model', path: opts.modelFile, files: [opts.modelFile], device: opts.device ?? 'cpu', untrained: opts.untrained ?? true };
    },
    async generate(request: GenerationRequest, g = {}) {
      const started = performance.now();
      const { fault, stepMs } = control(opts);
      if (!fs.existsSync(opts.modelFile)) throw new BackendError('model-missing', `the local model file ${opts.modelFile} is missing`);
      if (!loaded) {
        if (fault === 'provider') throw new Error('CUDA execution provider failed to load: libcudart.so.12 not found');
        loaded = true;
      }
      if (fault === 'slow-loading') {
        // A large component loading: one stage event, then minutes of silence from the runtime's thread.
        g.onProgress?.({ step: 0, steps: request.steps, image: 0, images: request.samples, stage: 'load', component: 't5', bytes: 4.9e9, message: 'loading T5 (4.9 GB)', elapsedMs: 0 });
        await sleep(stepMs, g.signal);
      }
      if (fault === 'slow-block' || fault === 'slow-step') {
        // A step's event as the pipeline sends it, then silence: 'slow-block' with a measured share
        // (a block-by-block transformer finished block 3 of 57), 'slow-step' with only how long
        // the step should take (one onnxruntime call, which cannot report its blocks).
        const measured = fault === 'slow-block';
        g.onProgress?.({
          step: 0, steps: request.steps, image: 0, images: request.samples, stage: 'denoise', elapsedMs: 0,
          message: `image 1 of ${request.samples}, step 1 of ${request.steps}${measured ? ', block 3 of 57' : ''}`,
          ...(measured ? { fraction: 3 / 57 } : { expectedMs: 4 * stepMs }),
        });
        await sleep(stepMs, g.signal);
      }
      if (fault === 'killed-loading') {
        // What the system's out-of-memory killer does to a runtime loading a large component.
        g.onProgress?.({ step: 0, steps: request.steps, image: 0, images: request.samples, stage: 'load', component: 't5', bytes: 4.9e9, message: 'loading T5 (4.9 GB)' });
        setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50);
        await sleep(3_600_000, g.signal);
      }
      if (fault === 'oom') throw new Error('Failed to allocate memory for requested buffer of size 4294967296');
      if (fault === 'throw') throw new Error('tensor shape mismatch in node Add_7');
      const images = [];
      for (let i = 0; i < request.samples; i++) {
        for (let step = 1; step <= request.steps; step++) {
          if (g.signal?.aborted) throw abortError();
          if (fault === 'exit' && step === 1) {
            // A native crash: the process dies without a word.
            setTimeout(() => process.kill(process.pid, 'SIGKILL'), 10);
          }
          // (The slow step above was the step's time already; a slow load is slow only while loading.)
          if (fault === 'hang' || (stepMs > 0 && fault !== 'slow-block' && fault !== 'slow-step' && fault !== 'slow-loading')) await sleep(fault === 'hang' ? 3_600_000 : stepMs, g.signal);
          g.onProgress?.({ step, steps: request.steps, image: i, images: request.samples });
        }
        const seed = (request.seed + i) % 2 ** 32;
        const img = sharp(pattern(request.width, request.height, seed, request.prompt), { raw: { width: request.width, height: request.height, channels: 3 } });
        const bytes = request.outputFormat === 'png' ? await img.png().toBuffer() : await img.jpeg({ quality: Math.max(1, request.jpegQuality ?? 90) }).toBuffer();
        // 'bad-image': a bug in a backend that returns bytes that are not the image it claims.
        if (fault === 'bad-image') bytes.fill(0, 0, 16);
        images.push({ bytes: new Uint8Array(bytes), seed, index: i, finishReason: 'SUCCESS' as const, format: request.outputFormat });
      }
      if (opts.logFile) fs.appendFileSync(opts.logFile, `${request.seed} ${createHash('sha1').update(request.prompt).digest('hex').slice(0, 12)}\n`);
      return { images, engineMs: performance.now() - started };
    },
    async unload() {
      loaded = false;
    },
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(abortError());
    }, { once: true });
  });
}
