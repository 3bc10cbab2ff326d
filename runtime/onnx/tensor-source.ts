// What a graph builder sees of a checkpoint: tensors by canonical name, each a byte range in a
// file on disk. The checkpoint reader (checkpoint.ts) maps every supported layout onto the
// canonical names (BFL names for the transformer and autoencoder, Hugging Face names without a
// `text_model.` prefix for T5 and CLIP), so builders never see prefixes or layouts.

export type SafetensorsDtype =
  | 'F64' | 'F32' | 'F16' | 'BF16' | 'F8_E4M3' | 'F8_E5M2'
  | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface TensorInfo {
  /** Name as stored in the file (with any prefix). */
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute path of the file. */
  file: string;
  /** Absolute byte offset of the tensor's first byte in `file`. */
  offset: number;
  /** Byte length. */
  length: number;
  /**
   * Set when the canonical tensor is not one byte range but the concatenation, along axis 0, of
   * several ranges (e.g. a diffusers checkpoint stores `to_q`, `to_k`, `to_v` where BFL has one
   * `qkv`). Every part has this tensor's dtype and the same trailing dimensions; the parts' axis-0
   * sizes add up to `shape[0]`. Then `offset` is -1 (no single range exists) and `length` is the
   * sum of the parts' lengths. A consumer that cannot concatenate must check for `parts`.
   */
  parts?: TensorPart[];
}

/** One contiguous byte range of a tensor assembled from parts (rows of a stored tensor). */
export interface TensorPart {
  /** The stored tensor the bytes come from (for error messages). */
  name: string;
  file: string;
  offset: number;
  length: number;
  shape: number[];
}

export interface Weights {
  /** Which component these are, for error messages ('transformer', 'autoencoder', 'T5', 'CLIP'). */
  readonly component: string;
  /** Files the tensors come from. */
  readonly files: string[];
  has(key: string): boolean;
  get(key: string): TensorInfo | undefined;
  /** Like get, but throws a clear error naming the file(s) and the missing tensor. */
  require(key: string): TensorInfo;
  /** All canonical keys. */
  keys(): string[];
  /** For "scaled FP8" checkpoints: the per-tensor scale of a weight (`…scale_weight`), if any. */
  scaleOf(key: string): TensorInfo | undefined;
  /** Component configuration read beside the weights (HF config.json), when there is one. */
  readonly config?: Record<string, unknown>;
}

/** A component's distinct stored tensors: a canonical name that aliases another's bytes counts once. */
export function distinctTensors(w: Weights): TensorInfo[] {
  const seen = new Set<string>();
  const out: TensorInfo[] = [];
  for (const k of w.keys()) {
    const t = w.get(k)!;
    const id = `${t.file}:${t.offset}`;
    if (!seen.has(id)) seen.add(id), out.push(t);
  }
  return out;
}
