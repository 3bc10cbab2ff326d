// Row ranges of checkpoint tensors as tensors of their own. A fused projection such as `qkv`
// ([3·hidden, hidden]) stores q, k and v as consecutive rows, i.e. consecutive byte ranges, so
// each can be its own external initializer: the graph then runs three Gemms instead of one Gemm
// and a Split of its activations, and no byte is copied. Where the checkpoint itself stores the
// parts separately (diffusers `to_q`/`to_k`/`to_v`, see TensorInfo.parts), a range that matches
// one part becomes that part's own byte range.
import { DTYPE_SIZE } from './safetensors.js';
import type { TensorInfo, TensorPart, Weights } from '../../onnx/tensor-source.js';

export class RowSlicedWeights implements Weights {
  private readonly slices = new Map<string, { info: TensorInfo; of: string }>();

  constructor(private readonly base: Weights) {}

  get component(): string { return this.base.component; }
  get files(): string[] { return this.base.files; }
  get config(): Record<string, unknown> | undefined { return this.base.config; }

  has(key: string): boolean { return this.slices.has(key) || this.base.has(key); }
  get(key: string): TensorInfo | undefined { return this.slices.get(key)?.info ?? this.base.get(key); }
  require(key: string): TensorInfo { return this.slices.get(key)?.info ?? this.base.require(key); }
  keys(): string[] { return this.base.keys(); }
  /** A slice shares its tensor's (per-tensor) scale. */
  scaleOf(key: string): TensorInfo | undefined { return this.base.scaleOf(this.slices.get(key)?.of ?? key); }

  /**
   * Splits `key` along axis 0 into consecutive ranges of `sizes` rows (which must add up to the
   * tensor's first dimension) and returns a key for each range.
   */
  rows(key: string, sizes: number[]): string[] {
    const info = this.base.require(key);
    const total = info.shape[0] ?? 0;
    if (sizes.reduce((a, b) => a + b, 0) !== total) {
      throw new Error(`internal error: row sizes ${sizes.join('+')} do not cover tensor '${key}' with ${total} rows`);
    }
    let start = 0;
    return sizes.map((count) => {
      const name = `${key}[${start}:${start + count}]`;
      if (!this.slices.has(name)) this.slices.set(name, { info: sliceRows(info, start, count), of: key });
      start += count;
      return name;
    });
  }
}

/** Rows [start, start + count) of a tensor as a tensor of its own (a byte range, or the parts it spans). */
export function sliceRows(info: TensorInfo, start: number, count: number): TensorInfo {
  const rest = info.shape.slice(1);
  const rowBytes = DTYPE_SIZE[info.dtype] * rest.reduce((a, b) => a * b, 1);
  const name = `${info.name}[rows ${start}:${start + count}]`;
  const shape = [count, ...rest];
  const length = count * rowBytes;
  if (!info.parts) return { name, dtype: info.dtype, shape, file: info.file, offset: info.offset + start * rowBytes, length };
  // Parts: keep the rows of each part that fall in [start, start + count).
  const parts: TensorPart[] = [];
  let first = 0;
  for (const p of info.parts) {
    const rows = p.shape[0] ?? 0;
    const lo = Math.max(start, first), hi = Math.min(start + count, first + rows);
    if (hi > lo) {
      parts.push({ name: p.name, file: p.file, offset: p.offset + (lo - first) * rowBytes, length: (hi - lo) * rowBytes, shape: [hi - lo, ...rest] });
    }
    first += rows;
  }
  if (parts.length === 1) return { name: parts[0]!.name, dtype: info.dtype, shape, file: parts[0]!.file, offset: parts[0]!.offset, length };
  return { name, dtype: info.dtype, shape, file: parts[0]?.file ?? info.file, offset: -1, length, parts };
}
