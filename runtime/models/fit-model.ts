// The fit check for a model the user names: an installed model, a manifest entry not downloaded
// yet, or a path. Connects the estimate (fit.ts) to the checkpoint reader, the registry and the
// manifest, so the studio and the CLI ask one question: "will <this> fit <that device>?"
import fs from 'node:fs';
import path from 'node:path';
import { openModelSet, type ComponentKind, type ModelSet } from '../flux/checkpoints/checkpoint.js';
import { checkFit, cpuMemory, estimateFromParams, estimateMemory, queryNvidiaGpus, type DeviceMemory, type FitResult, type TensorLike } from './fit.js';
import type { ModelManifest } from './manifest.js';
import { isSlug, schnellHome } from './paths.js';
import { getInstalled, installedModelSource, RegistryError } from './registry.js';

export interface FitModelOptions {
  home?: string;
  manifest?: ModelManifest;
  /** The device's memory; default: the first NVIDIA GPU nvidia-smi reports, else this CPU. */
  device?: DeviceMemory;
  width?: number;
  height?: number;
  batch?: number;
}

/** The device a plain fit check uses: the first NVIDIA GPU, else the CPU. */
export async function defaultDevice(): Promise<DeviceMemory> {
  return (await queryNvidiaGpus())[0] ?? cpuMemory();
}

/** `target`: an installed model id, a manifest model id, or a model path (folder or file). */
export async function fitModel(target: string, o: FitModelOptions = {}): Promise<FitResult> {
  const home = o.home ?? schnellHome();
  const device = o.device ?? (await defaultDevice());
  const est = { device: device.kind, freeBytes: device.freeBytes, ...(o.width ? { width: o.width } : {}), ...(o.height ? { height: o.height } : {}), ...(o.batch ? { batch: o.batch } : {}) };
  // A folder still being downloaded (partial) is not a model to measure yet: the manifest says what it will be.
  const found = isSlug(target) ? getInstalled(target, home) : undefined;
  const installed = found?.status === 'installed' ? found : undefined;
  const entry = !installed && isSlug(target) ? o.manifest?.models.find((m) => m.id === target) : undefined;
  if (entry) {
    if (entry.kind !== 'flux') throw new RegistryError(`${target} is not an image model`);
    const manifest = o.manifest!;
    const def = manifest.models.find((m) => m.kind === 'flux' && m.default);
    const parts: Partial<Record<ComponentKind, { params: number; precision?: string }>> = {};
    for (const k of ['transformer', 'autoencoder', 't5', 'clip'] as const) {
      let f = manifest.file(entry.components[k]);
      // A single file holds every part: take their sizes from the default model's separate files.
      if (f.kind === 'checkpoint' && def?.kind === 'flux') f = manifest.file(def.components[k]);
      if (f.params) parts[k] = { params: f.params, ...(f.precision ? { precision: f.precision } : {}) };
    }
    return checkFit(estimateFromParams(parts, est), device, entry.name);
  }
  // A bare name that is neither installed, in the manifest, nor on disk is most likely a mistyped id:
  // say so, rather than "the model /cwd/name does not exist".
  if (!installed && isSlug(target) && !fs.existsSync(path.resolve(target))) {
    throw new RegistryError(`${target} is not an installed model, a manifest model or a file or folder; see \`schnell models list\``);
  }
  const set = openModelSet(installed ? installedModelSource(target, home) : path.resolve(target));
  const tensors = (w: { keys(): string[]; get(k: string): TensorLike | undefined }) => w.keys().map((k) => ({ ...w.get(k)!, name: k }));
  const estimate = estimateMemory({ transformer: tensors(set.transformer), autoencoder: tensors(set.autoencoder), t5: tensors(set.t5), clip: tensors(set.clip) }, est);
  return checkFit(estimate, device, set.name);
}

/**
 * The fit check before loading a model set on a provider: null when the provider's memory cannot
 * be known here (only the CPU and NVIDIA GPUs through nvidia-smi report it).
 */
export async function fitModelSet(
  set: ModelSet,
  o: { provider: string; width?: number; height?: number; device?: DeviceMemory },
): Promise<FitResult | null> {
  const device = o.device ?? (o.provider === 'cpu' ? cpuMemory() : o.provider === 'cuda' ? (await queryNvidiaGpus())[0] : undefined);
  if (!device) return null;
  const tensors = (w: ModelSet['transformer']) => w.keys().map((k) => ({ ...w.get(k)!, name: k }));
  const estimate = estimateMemory(
    { transformer: tensors(set.transformer), autoencoder: tensors(set.autoencoder), t5: tensors(set.t5), clip: tensors(set.clip) },
    { device: device.kind, freeBytes: device.freeBytes, ...(o.width ? { width: o.width } : {}), ...(o.height ? { height: o.height } : {}) },
  );
  return checkFit(estimate, device, set.name);
}
