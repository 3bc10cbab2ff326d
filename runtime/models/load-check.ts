// What `models import` and `models verify` prove before calling a model good: that it opens
// (openModelSet: files, layouts, configs) and that every component passes the checks loading runs
// (runtime/flux/sessions.ts checkComponentLoads: shapes against each other, dtypes against their
// use, integer tensors refused). Before this, a checkpoint could verify and then fail to load.
import { CheckpointError, type ModelSet } from '../flux/checkpoints/checkpoint.js';
import { checkComponentLoads, type ComponentName } from '../flux/sessions.js';

const PARTS: [ComponentName, keyof Pick<ModelSet, 'transformer' | 't5' | 'clip' | 'autoencoder'>][] = [
  ['transformer', 'transformer'],
  ['t5', 't5'],
  ['clip', 'clip'],
  ['decoder', 'autoencoder'],
];

/** A RoPE split of `headDim` in FLUX's proportions (16/56/56 of 128), every part even. */
function splitLike(headDim: number): number[] {
  const a = 2 * Math.max(1, Math.round(headDim / 16));
  const b = 2 * Math.floor((headDim - a) / 4);
  return [a, b, headDim - a - b];
}

/**
 * Throws CheckpointError with the loader's sentence (file and tensor named) for the first component
 * whose tensors would not load (shape or dtype). The one setting the weights cannot show, the
 * transformer's RoPE split (axes_dim), is not a property of the file: when it does not fit, the
 * tensors are still checked (with a fitting split) and the mismatch comes back as a note.
 */
export function checkModelSetLoads(set: ModelSet): string[] {
  const notes: string[] = [];
  for (const [name, part] of PARTS) {
    const w = set[part];
    try {
      try {
        checkComponentLoads(name, w, set.config);
      } catch (e) {
        const headDim = w.get('double_blocks.0.img_attn.norm.query_norm.scale')?.shape[0] ?? w.get('single_blocks.0.norm.query_norm.scale')?.shape[0];
        if (name !== 'transformer' || !/axes_dim/.test((e as Error)?.message ?? '') || !headDim || headDim % 2) throw e;
        notes.push(`${(e as Error).message.replace(/^[^:]*\.safetensors: /, '').replace(/\.$/, '')} before generating`);
        checkComponentLoads(name, w, { ...set.config, axes_dim: splitLike(headDim) });
      }
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      const message = (e as Error)?.message ?? String(e);
      const tensor = /tensor '([^']+)'/.exec(message)?.[1];
      throw new CheckpointError(`the ${w.component} would not load: ${message.replace(/\.$/, '')}.`, w.files[0] ?? '', tensor);
    }
  }
  return notes;
}
