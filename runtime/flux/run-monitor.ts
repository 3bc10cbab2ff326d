// What a generation reports while it runs and after: stage events (loading each component with
// its size, encoding, each step with how long it should take, blocks run where a model runs block
// by block, decoding), per-stage wall time, peak resident memory and bytes read from disk (Linux
// /proc; other systems report what they can), and the check that no stage produced NaN or infinity (a black image must never pass as SUCCESS).
import fs from 'node:fs';

export type StageName = 'load' | 'encode' | 'denoise' | 'decode';

/** One thing the generation is doing now; `done` closes a stage or component load. */
export interface StageEvent {
  stage: StageName | 'release' | 'estimate';
  /** A sentence for a terminal or the studio ("loading T5 (4.9 GB)", "step 1 of 4, about 40 %"). */
  message: string;
  /** The component being loaded or released. */
  component?: string;
  /** Its weight bytes on disk. */
  bytes?: number;
  /** Image (0-based) and step (1-based, the one running) during denoise/decode. */
  image?: number;
  images?: number;
  step?: number;
  steps?: number;
  /**
   * How far the running step (or stage) is, 0..1. Measured (blocks run of the step's blocks) when
   * the model runs block by block and the event carries no `expectedMs`; else the host estimates
   * it from `expectedMs` (one onnxruntime call cannot report its blocks) and says so.
   */
  fraction?: number;
  elapsedMs: number;
  /**
   * How long the step that starts now should take, from this machine's measured speed. onnxruntime
   * runs a session on the calling thread, so a long step cannot report from inside; whoever hosts
   * the runtime in another process turns this into progress every few seconds.
   */
  expectedMs?: number;
  /** Estimated milliseconds left for the whole request, from this machine's measured speed. */
  etaMs?: number;
  done?: boolean;
}

/** Block events within a step or the encode stage: at most one per this many milliseconds. */
export const BLOCK_EVENT_EVERY_MS = 500;

/**
 * Whether a block event is due: the first always, then one per `everyMs`, or when `force` (the
 * last block of a run). A small model runs hundreds of blocks a second; the host needs a few.
 */
export function blockEventsDue(everyMs = BLOCK_EVENT_EVERY_MS): (force?: boolean) => boolean {
  let last = -Infinity;
  return (force = false) => {
    const now = performance.now();
    if (!force && now - last < everyMs) return false;
    last = now;
    return true;
  };
}

export interface StageStats {
  ms: number;
  /** Peak resident set during the stage (bytes), where the system reports it. */
  peakRssBytes?: number;
  /** Bytes the stage read from disk (page-cache misses included), where the system reports it. */
  readBytes?: number;
}

function procNumber(file: string, key: string): number | undefined {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(fs.readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the process's peak-RSS mark to now (Linux), so the next reading is this stage's peak. */
function resetPeak(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Measures one stage: time, peak RSS since it began, bytes read from disk. */
export class StageMeter {
  private t0 = performance.now();
  private read0 = procNumber('/proc/self/io', 'read_bytes');
  private peakKnown = resetPeak();

  stop(): StageStats {
    const ms = performance.now() - this.t0;
    const hwm = this.peakKnown ? procNumber('/proc/self/status', 'VmHWM') : undefined;
    const read = procNumber('/proc/self/io', 'read_bytes');
    return {
      ms,
      ...(hwm !== undefined ? { peakRssBytes: hwm * 1024 } : {}),
      ...(read !== undefined && this.read0 !== undefined ? { readBytes: read - this.read0 } : {}),
    };
  }
}

/** Throws a sentence naming the stage when `values` holds NaN or ±Infinity (one pass, no copies). */
export function assertFinite(values: Float32Array, stage: string, image: number, seed: number): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v - v !== 0) {
      throw new NonFiniteError(`image ${image + 1} (seed ${seed}) failed: the ${stage} produced ${Number.isNaN(v) ? 'NaN' : 'infinite'} values, so the image would be blank; the model's weights or this device's arithmetic are at fault, not the request.`, stage);
    }
  }
}

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(message: string, readonly stage: string) {
    super(message);
  }
}

export function formatGB(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.max(1, Math.round(bytes / 1e6))} MB`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 90 ? `${m} min` : `${(m / 60).toFixed(1)} h`;
}
