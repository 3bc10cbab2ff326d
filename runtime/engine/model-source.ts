// Where a local model comes from: a path (model-set folder, single-file checkpoint, diffusers
// folder) or a ModelSetSpec of explicit component paths (an installed in-place import). Both are
// plain JSON, so a backend spec that carries one can be rebuilt in a child process.
import path from 'node:path';
import type { ModelSetSpec } from '../flux/checkpoints/checkpoint.js';

export type ModelSource = string | ModelSetSpec;

const SPEC_PATHS = ['transformer', 'autoencoder', 't5', 'clip', 'clipTokenizer', 't5Tokenizer'] as const;

/** The same source with absolute paths (a child process may run in another working folder). */
export function resolveModelSource(src: ModelSource): ModelSource {
  if (typeof src === 'string') return path.resolve(src);
  const out: ModelSetSpec = { ...src, transformer: path.resolve(src.transformer) };
  for (const key of SPEC_PATHS) {
    const p = src[key];
    if (typeof p === 'string') out[key] = path.resolve(p);
  }
  // A config given as a file is a path too; given as values it stays as it is.
  if (typeof src.config === 'string') out.config = path.resolve(src.config);
  return out;
}

/** The path that stands for the model in messages and /v1/models: the path, or the transformer's. */
export function modelSourcePath(src: ModelSource): string {
  return path.resolve(typeof src === 'string' ? src : src.transformer);
}

/** The folder that holds a model (a checkpoint file's folder, or the folder itself). Works for paths that do not exist. */
export function modelFolder(src: ModelSource): string {
  const p = modelSourcePath(src);
  return /\.(safetensors|sft|ckpt)$/i.test(p) ? path.dirname(p) : p;
}
