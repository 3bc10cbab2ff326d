// Will this model fit this device? Estimated from the tensors' sizes and dtypes before anything is
// loaded, so a model that cannot fit fails with a sentence (and an offer of the cloud) instead of
// halfway through a 17 GB load. Estimates are deliberately simple and a little pessimistic.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { formatBytes } from './disk.js';

export type DeviceKind = 'cpu' | 'gpu';
export type ComponentKind = 'transformer' | 'autoencoder' | 't5' | 'clip';

export interface DeviceMemory {
  kind: DeviceKind;
  name: string;
  totalBytes: number;
  freeBytes: number;
  /** Where the numbers came from ("os", "nvidia-smi", "reported"). */
  source: string;
}

export interface TensorLike {
  dtype: string;
  shape: readonly number[];
}

/** What activations depend on; read from the weights' shapes where possible. */
export interface ModelShape {
  /** Transformer width (img_in rows) and attention heads (width / head size). */
  hidden: number;
  heads: number;
  /** Autoencoder decoder channels at full resolution (conv_out input) and in its mid block. */
  aeChannels: number;
  aeMidChannels: number;
  /** T5 width and heads. */
  t5Width: number;
  t5Heads: number;
}

export const FLUX_SHAPE: ModelShape = Object.freeze({ hidden: 3072, heads: 24, aeChannels: 128, aeMidChannels: 512, t5Width: 4096, t5Heads: 64 });

export interface MemoryEstimate {
  device: DeviceKind;
  width: number;
  height: number;
  batch: number;
  weights: Record<ComponentKind, number>;
  weightsBytes: number;
  /** Peak activations of the largest stage (transformer, decoder or T5). */
  activationsBytes: number;
  overheadBytes: number;
  /** Everything resident at once. */
  totalBytes: number;
  /** If the text encoders are unloaded before the transformer runs (and it before the decoder). */
  sequentialBytes: number;
}

const FLOAT = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);
const SIZE: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
const PRECISION_BYTES: Record<string, number> = { fp8: 1, 'scaled-fp8': 1, int8: 1, bf16: 2, fp16: 2, fp32: 4, fp64: 8, mixed: 2 };

/**
 * Bytes a tensor takes on the device: a GPU keeps the stored dtype (FP8 stays 1 byte per value and
 * is widened per use); the CPU path widens 16-bit floats to float32 (4 bytes per value).
 */
export function bytesOnDevice(t: TensorLike, device: DeviceKind): number {
  const n = t.shape.reduce((a, b) => a * b, 1);
  // FP8 on the CPU: the runtime widens it once at load only when that fits, and otherwise keeps it
  // FP8 (runtime/flux/sessions.ts choosePolicy), so the least it needs is 1 byte per value.
  if (device === 'cpu' && (t.dtype === 'F8_E4M3' || t.dtype === 'F8_E5M2')) return n;
  if (device === 'cpu' && FLOAT.has(t.dtype)) return n * 4;
  return n * (SIZE[t.dtype] ?? 4);
}

const GiB = 1024 ** 3;

function activations(shape: ModelShape, device: DeviceKind, width: number, height: number, batch: number): { transformer: number; autoencoder: number; t5: number } {
  const e = device === 'cpu' ? 4 : 2;
  // Transformer: image tokens (2x2 patches of the 1/8 latent) + 256 T5 tokens; the residual and
  // its projections (qkv, attention out, the 4x MLP) plus one unfused attention score matrix.
  const tokens = Math.ceil(height / 16) * Math.ceil(width / 16) + 256;
  const transformer = batch * (tokens * shape.hidden * e * 14 + shape.heads * tokens * tokens * e);
  // Decoder: a few full-resolution feature maps, or the mid block's single-head attention.
  const latent = Math.ceil(height / 8) * Math.ceil(width / 8);
  const autoencoder = batch * Math.max(shape.aeChannels * width * height * e * 4, latent * latent * e + shape.aeMidChannels * latent * e * 4);
  const t5 = batch * (256 * shape.t5Width * e * 10 + shape.t5Heads * 256 * 256 * e);
  return { transformer, autoencoder, t5 };
}

function finish(device: DeviceKind, weights: Record<ComponentKind, number>, shape: ModelShape, o: EstimateOptions): MemoryEstimate {
  const width = o.width ?? 1024;
  const height = o.height ?? 1024;
  const batch = o.batch ?? 1;
  const act = activations(shape, device, width, height, batch);
  const overhead = device === 'cpu' ? GiB : GiB; // runtime, graphs, image buffers / CUDA context and workspace
  const weightsBytes = weights.transformer + weights.autoencoder + weights.t5 + weights.clip;
  const activationsBytes = Math.max(act.transformer, act.autoencoder, act.t5);
  const sequential = Math.max(weights.t5 + weights.clip + act.t5, weights.transformer + act.transformer, weights.autoencoder + act.autoencoder);
  return {
    device, width, height, batch, weights, weightsBytes, activationsBytes, overheadBytes: overhead,
    totalBytes: weightsBytes + activationsBytes + overhead,
    sequentialBytes: sequential + overhead,
  };
}

export interface EstimateOptions {
  device: DeviceKind;
  width?: number;
  height?: number;
  batch?: number;
}

/** From the tensors of each component (e.g. a detected checkpoint). */
export function estimateMemory(components: Partial<Record<ComponentKind, Iterable<TensorLike>>>, o: EstimateOptions): MemoryEstimate {
  const weights: Record<ComponentKind, number> = { transformer: 0, autoencoder: 0, t5: 0, clip: 0 };
  for (const kind of Object.keys(weights) as ComponentKind[]) {
    // Aliases (T5's shared embedding under two names) are one tensor in memory.
    const seen = new Set<string>();
    for (const t of components[kind] ?? []) {
      const at = t as { file?: string; offset?: number; length?: number; name?: string };
      const id = at.file !== undefined && at.offset !== undefined && at.offset >= 0 ? `${at.file}:${at.offset}:${at.length}` : undefined;
      if (id !== undefined) {
        if (seen.has(id)) continue;
        seen.add(id);
      }
      weights[kind] += bytesOnDevice(t, o.device);
    }
  }
  return finish(o.device, weights, shapeOf(components), o);
}

/** From parameter counts and precisions (a manifest entry, before download). */
export function estimateFromParams(parts: Partial<Record<ComponentKind, { params: number; precision?: string }>>, o: EstimateOptions): MemoryEstimate {
  const weights: Record<ComponentKind, number> = { transformer: 0, autoencoder: 0, t5: 0, clip: 0 };
  for (const kind of Object.keys(weights) as ComponentKind[]) {
    const p = parts[kind];
    if (!p) continue;
    weights[kind] = p.params * (o.device === 'cpu' ? 4 : PRECISION_BYTES[p.precision ?? 'fp32'] ?? 4);
  }
  return finish(o.device, weights, FLUX_SHAPE, o);
}

/** Reads the widths that set the activations from canonical tensor names, defaulting to FLUX's. */
export function shapeOf(components: Partial<Record<ComponentKind, Iterable<TensorLike & { name?: string }>>>): ModelShape {
  const find = (kind: ComponentKind, suffix: string) => {
    for (const t of components[kind] ?? []) if ((t as { name?: string }).name?.endsWith(suffix)) return t.shape;
    return undefined;
  };
  const hidden = find('transformer', 'img_in.weight')?.[0] ?? FLUX_SHAPE.hidden;
  const t5Width = find('t5', 'shared.weight')?.[1] ?? find('t5', 'embed_tokens.weight')?.[1] ?? FLUX_SHAPE.t5Width;
  return {
    hidden,
    // FLUX's head size is 128 (the RoPE axes sum); tiny models have smaller heads, so at least 1.
    heads: Math.max(1, Math.round(hidden / 128)),
    aeChannels: find('autoencoder', 'decoder.conv_out.weight')?.[1] ?? FLUX_SHAPE.aeChannels,
    aeMidChannels: find('autoencoder', 'decoder.mid.attn_1.q.weight')?.[0] ?? FLUX_SHAPE.aeMidChannels,
    t5Width,
    t5Heads: Math.max(1, Math.round(t5Width / 64)),
  };
}

/** This machine's memory as the CPU path sees it. */
export function cpuMemory(): DeviceMemory {
  return { kind: 'cpu', name: `${os.cpus()[0]?.model?.trim() || 'CPU'} (${os.cpus().length} threads)`, totalBytes: os.totalmem(), freeBytes: availableMemory(), source: 'os' };
}

/** Linux's MemAvailable (free + reclaimable page cache, where weights are mapped), else os.freemem(). */
function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Math.min(os.totalmem(), Number(m[1]) * 1024);
  } catch {
    /* not Linux */
  }
  return os.freemem();
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
  estimate: MemoryEstimate;
  /** 'cloud' when it will not fit: offer the Fireworks backend instead. */
  suggestion?: 'cloud';
  message: string;
}

export function checkFit(estimate: MemoryEstimate, device: DeviceMemory, modelName = 'the model'): FitResult {
  const need = estimate.totalBytes;
  const seq = estimate.sequentialBytes;
  const at = `${estimate.width}x${estimate.height}${estimate.batch > 1 ? ` x${estimate.batch}` : ''}`;
  const where = `${device.kind === 'cpu' ? 'this computer\'s memory' : device.name} (${formatBytes(device.freeBytes)} free of ${formatBytes(device.totalBytes)})`;
  const base = { device, estimate };
  if (need <= device.freeBytes) {
    return { ...base, fits: true, sequentialOnly: false, tight: false, message: `${modelName} needs about ${formatBytes(need)} at ${at}; it fits ${where}.` };
  }
  if (seq <= device.freeBytes) {
    return { ...base, fits: true, sequentialOnly: true, tight: false, message: `${modelName} needs about ${formatBytes(need)} at ${at} with everything loaded, more than ${where}; it fits (${formatBytes(seq)}) if the text encoders are unloaded before the transformer runs, which is slower per prompt.` };
  }
  if (Math.min(need, seq) <= device.totalBytes) {
    return { ...base, fits: false, sequentialOnly: false, tight: true, suggestion: 'cloud', message: `${modelName} needs about ${formatBytes(Math.min(need, seq))} at ${at}, more than is free on ${where}; close other programs and try again, or generate in the cloud (Fireworks) instead.` };
  }
  return { ...base, fits: false, sequentialOnly: false, tight: false, suggestion: 'cloud', message: `${modelName} needs about ${formatBytes(Math.min(need, seq))} at ${at} but ${where} is too small; generate in the cloud (Fireworks) instead, or use a smaller resolution or a GPU with more memory.` };
}
