// Will this model fit this device? Estimated from the tensors' sizes and dtypes before anything is
// loaded, so a model that cannot fit fails with a sentence (and an offer of the cloud) instead of
// halfway through a 17 GB load. Estimates are deliberately simple and a little pessimistic.
import { execFile } from 'node:child_process';
import os from 'node:os';
import { availableMemory } from '../util/memory.js';
import { formatBytes } from './disk.js';

import {
  componentFromParams, componentMemory, cpuFp8Residency, estimateStages, FLUX_SHAPE, shapeOf, tensorBytes,
  type ComponentKind, type ComponentMemory, type DeviceKind, type EstimateInput, type Fp8Residency, type MemoryPlan,
  type ModelShape, type Stage, type TensorLike,
} from '../flux/memory.js';

export { FLUX_SHAPE, shapeOf, type ComponentKind, type DeviceKind, type ModelShape, type TensorLike };

export interface DeviceMemory {
  kind: DeviceKind;
  name: string;
  totalBytes: number;
  freeBytes: number;
  /** Where the numbers came from ("os", "nvidia-smi", "reported"). */
  source: string;
}

export interface MemoryEstimate {
  device: DeviceKind;
  width: number;
  height: number;
  batch: number;
  /** FP8 kept as stored (1 byte per value) or widened once at load, as the runtime will choose. */
  fp8: Fp8Residency;
  weights: Record<ComponentKind, number>;
  weightsBytes: number;
  /** Peak activations of the largest stage (transformer, decoder or T5). */
  activationsBytes: number;
  overheadBytes: number;
  /** Everything resident at once. */
  totalBytes: number;
  /** The least this needs: text encoders released after encoding, the transformer and decoder after each request. */
  sequentialBytes: number;
  /** Peak resident bytes per stage under `plan` (planned for the memory given, else everything loaded). */
  stages: Record<Stage, number>;
  plan: MemoryPlan;
  /** What the estimate was made from (checkFit plans again for a device's free memory). */
  input: EstimateInput;
}

/** Bytes a tensor takes on the device with FP8 kept as stored (the least the runtime needs). */
export function bytesOnDevice(t: TensorLike, device: DeviceKind): number {
  return tensorBytes(t, device, 'stored');
}

const GiB = 1024 ** 3;

function finish(input: EstimateInput, o: EstimateOptions): MemoryEstimate {
  const planned = estimateStages(input, o.freeBytes ?? Infinity);
  const lean = estimateStages(input, 0);
  const weights = Object.fromEntries(Object.entries(input.components).map(([k, c]) => [k, c.resident])) as Record<ComponentKind, number>;
  const weightsBytes = weights.transformer + weights.autoencoder + weights.t5 + weights.clip;
  return {
    device: input.device, width: input.width, height: input.height, batch: o.batch ?? 1, fp8: input.fp8,
    weights, weightsBytes, activationsBytes: Math.max(...Object.values(planned.activations)), overheadBytes: planned.overhead,
    totalBytes: planned.allLoaded, sequentialBytes: lean.peak, stages: planned.stages, plan: planned.plan, input,
  };
}

export interface EstimateOptions {
  device: DeviceKind;
  width?: number;
  height?: number;
  /** Images per request: they run one after another, so memory does not grow with it. */
  batch?: number;
  /**
   * Free memory to plan for (what stays loaded between stages), and on the CPU, whether FP8 is
   * widened once at load (when all weights widened fit in 75 % of it, as the runtime decides).
   */
  freeBytes?: number;
  /** Force a residency instead (tests, benchmarks). */
  fp8?: Fp8Residency;
}

function residency(o: EstimateOptions, widened: () => number): Fp8Residency {
  if (o.fp8) return o.fp8;
  if (o.device !== 'cpu' || o.freeBytes === undefined) return 'stored';
  return cpuFp8Residency(widened(), 0.75 * o.freeBytes);
}

const KINDS: readonly ComponentKind[] = ['transformer', 'autoencoder', 't5', 'clip'];

/** From the tensors of each component (a model folder, a detected checkpoint). */
export function estimateMemory(components: Partial<Record<ComponentKind, Iterable<TensorLike>>>, o: EstimateOptions): MemoryEstimate {
  const lists = Object.fromEntries(KINDS.map((k) => [k, [...(components[k] ?? [])]])) as Record<ComponentKind, TensorLike[]>;
  const of = (fp8: Fp8Residency) => Object.fromEntries(KINDS.map((k) => [k, componentMemory(k, lists[k], o.device, fp8)])) as Record<ComponentKind, ComponentMemory>;
  const fp8 = residency(o, () => KINDS.reduce((n, k) => n + of('widened')[k].resident, 0));
  return finish({ device: o.device, fp8, width: o.width ?? 1024, height: o.height ?? 1024, components: of(fp8), shape: shapeOf(lists) }, o);
}

/** The largest layer of FLUX's transformer (single blocks' linear1) and of T5-XXL (wi_0), in values. */
const LARGEST_LAYER: Partial<Record<ComponentKind, number>> = { transformer: 21504 * 3072, t5: 10240 * 4096 };

/** From parameter counts and precisions (a manifest entry, before download): the same rules as files. */
export function estimateFromParams(parts: Partial<Record<ComponentKind, { params: number; precision?: string }>>, o: EstimateOptions): MemoryEstimate {
  const of = (fp8: Fp8Residency) => Object.fromEntries(KINDS.map((k) => {
    const p = parts[k];
    return [k, p ? componentFromParams(p.params, p.precision, o.device, fp8, LARGEST_LAYER[k], k) : { resident: 0, loaded: 0, mapped: 0, perRun: 0 }];
  })) as Record<ComponentKind, ComponentMemory>;
  const fp8 = residency(o, () => KINDS.reduce((n, k) => n + of('widened')[k].resident, 0));
  return finish({ device: o.device, fp8, width: o.width ?? 1024, height: o.height ?? 1024, components: of(fp8), shape: FLUX_SHAPE }, o);
}

/** This machine's memory as the CPU path sees it. */
export function cpuMemory(): DeviceMemory {
  return { kind: 'cpu', name: `${os.cpus()[0]?.model?.trim() || 'CPU'} (${os.cpus().length} threads)`, totalBytes: os.totalmem(), freeBytes: availableMemory(), source: 'os' };
}


/** A GPU's memory as someone reported it (the studio, a flag, nvidia-smi). */
export function reportedGpu(totalBytes: number, freeBytes: number = totalBytes, name = 'GPU'): DeviceMemory {
  return { kind: 'gpu', name, totalBytes, freeBytes: Math.min(freeBytes, totalBytes), source: 'reported' };
}

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits`
 * (MiB), tolerating a header line and units.
 */
export function parseNvidiaSmi(text: string): DeviceMemory[] {
  const out: DeviceMemory[] = [];
  for (const line of text.split(/\r?\n/)) {
    const cells = line.split(',').map((c) => c.trim());
    if (cells.length < 3) continue;
    const num = (s: string) => {
      const m = /^(\d+(?:\.\d+)?)\s*(MiB|GiB)?$/i.exec(s);
      if (!m) return NaN;
      return Number(m[1]) * (m[2]?.toLowerCase() === 'gib' ? GiB : 1024 ** 2);
    };
    const total = num(cells[1]!);
    const free = num(cells[2]!);
    if (!Number.isFinite(total) || !Number.isFinite(free)) continue;
    out.push({ kind: 'gpu', name: cells[0]!, totalBytes: total, freeBytes: free, source: 'nvidia-smi' });
  }
  return out;
}

/** NVIDIA GPUs and their memory via nvidia-smi, or [] when there is none (or it does not answer). */
export function queryNvidiaGpus(opts: { command?: string; timeoutMs?: number } = {}): Promise<DeviceMemory[]> {
  return new Promise((resolve) => {
    execFile(opts.command ?? 'nvidia-smi', ['--query-gpu=name,memory.total,memory.free', '--format=csv,noheader,nounits'], { timeout: opts.timeoutMs ?? 5000 }, (err, stdout) => {
      resolve(err ? [] : parseNvidiaSmi(String(stdout)));
    });
  });
}

export interface FitResult {
  fits: boolean;
  /** Fits only if the text encoders are unloaded before the transformer runs. */
  sequentialOnly: boolean;
  /** Fits in total memory but not in what is free now. */
  tight: boolean;
  device: DeviceMemory;
  /** Planned for this device's free memory: per-stage peaks and what stays loaded. */
  estimate: MemoryEstimate;
  /** 'cloud' when it will not fit: offer the Fireworks backend instead. */
  suggestion?: 'cloud';
  /** The largest square size (multiple of 64) that fits, when the asked one does not. */
  fitsAt?: { width: number; height: number };
  /**
   * Fits, but what is left free cannot also cache the transformer's FP8 file, which the CPU reads
   * block by block on every step: each step then reads it from disk again (slower, not failing).
   */
  rereadsWeights?: boolean;
  message: string;
}

/** Plans the estimate for the device's free memory and says in one sentence whether (and how) it fits. */
export function checkFit(estimate: MemoryEstimate, device: DeviceMemory, modelName = 'the model'): FitResult {
  const planned = finish(estimate.input, { device: estimate.device, freeBytes: device.freeBytes, batch: estimate.batch, fp8: estimate.fp8 });
  const need = Math.max(...Object.values(planned.stages));
  const all = planned.totalBytes;
  const at = `${planned.width}x${planned.height}`;
  const where = `${device.kind === 'cpu' ? 'this computer\'s memory' : device.name} (${formatBytes(device.freeBytes)} free of ${formatBytes(device.totalBytes)})`;
  const stages = `text encoders ${formatBytes(planned.stages.text)}, transformer ${formatBytes(planned.stages.denoise)}, decoder ${formatBytes(planned.stages.decode)}`;
  const base = { device, estimate: planned };
  if (need <= device.freeBytes) {
    const sequentialOnly = !planned.plan.keepTextEncoders;
    const how = sequentialOnly ? '; the text encoders are released after each prompt is encoded' + (planned.plan.keepTransformer ? '' : ' and the transformer and decoder after each request') : '';
    // The streamed transformer's file is read on every step: from the file cache when the memory
    // left over holds it, else from disk (honest about speed, not a reason to refuse).
    const streamed = device.kind === 'cpu' ? planned.input.components.transformer.streamed ?? 0 : 0;
    const rereads = streamed > 0 && need + streamed > device.freeBytes;
    const slow = rereads ? `; the ${formatBytes(streamed)} of transformer weights it reads on every step do not also fit in the file cache, so each step reads them from disk (slower; ${formatBytes(need + streamed)} free avoids it)` : '';
    return { ...base, fits: true, sequentialOnly, tight: false, ...(rereads ? { rereadsWeights: true } : {}), message: `${modelName} needs about ${formatBytes(need)} at ${at} (${stages}); it fits ${where}${how}${slow}.` };
  }
  const fitsAt = smallerThatFits(planned, device.freeBytes);
  const instead = fitsAt ? `generate at ${fitsAt.width}x${fitsAt.height} or smaller, or in the cloud (Fireworks)` : 'generate in the cloud (Fireworks)';
  const tight = need <= device.totalBytes;
  const why = tight ? `more than is free in ${where}; close other programs, ${instead}` : `but ${where} is too small; ${instead}`;
  return {
    ...base, fits: false, sequentialOnly: false, tight, suggestion: 'cloud', ...(fitsAt ? { fitsAt } : {}),
    message: `${modelName} needs about ${formatBytes(Math.min(need, all))} at ${at} (${stages}), ${why}.`,
  };
}

function smallerThatFits(e: MemoryEstimate, free: number): { width: number; height: number } | undefined {
  for (let side = Math.min(e.width, e.height) - 64; side >= 256; side -= 64) {
    const at = finish({ ...e.input, width: side, height: side }, { device: e.device, freeBytes: free, fp8: e.fp8 });
    if (Math.max(...Object.values(at.stages)) <= free) return { width: side, height: side };
  }
  return undefined;
}
