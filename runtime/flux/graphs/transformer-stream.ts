// The FLUX transformer cut into four graphs, for running it block by block on the CPU when its FP8
// weights stay stored (runtime/flux/transformer-streamed.ts): an entry (embeddings, RoPE tables,
// SiLU(vec)), one double-stream block and one single-stream block whose weights are float32 graph
// INPUTS (one session serves every block of its kind; worker threads widen the next block's FP8
// bytes while onnxruntime runs this one), and an exit (the last layer). Entry and exit read their
// few weights (about 50 M values) from the checkpoint under the policy they are built with.
// The layers are the same functions the whole-graph builder uses (transformer-blocks.ts), so the
// two cannot drift apart.
import { GraphBuilder } from '../../onnx/graph.js';
import type { WeightPolicy } from '../../onnx/weights.js';
import { RowSlicedWeights } from '../checkpoints/weight-rows.js';
import type { Weights } from '../../onnx/tensor-source.js';
import { type Ctx, doubleStreamBlock, lastLayer, singleStreamBlock } from './transformer-blocks.js';
import { embedInputs, TRANSFORMER_DIMS } from './transformer.js';
import type { FluxParams } from './transformer-params.js';

/** Bump when a graph this file builds changes (the built-graph cache keys on it). */
export const TRANSFORMER_STREAM_BUILDER_VERSION = 1;

/** All tokens of a forward pass (text then image), as the blocks see them. */
const TOKENS = 'tokens';
const ROPE_DIMS = { positions: [TRANSFORMER_DIMS.batch, TOKENS] } as const;

/** One weight a block graph takes as an input: the input's name and block 0's checkpoint key. */
export interface BlockWeight {
  input: string;
  /** Block 0's key; a row range of a fused weight ends in `[start:end]` (RowSlicedWeights). */
  key: string;
}

export interface BlockGraph {
  graph: GraphBuilder;
  weights: BlockWeight[];
}

/** The rotary tables as graph inputs of a block graph. */
function ropeInputs(g: GraphBuilder, p: FluxParams) {
  const half = p.head_dim / 2;
  return {
    positions: g.input('rope_positions', 'int64', [...ROPE_DIMS.positions]),
    cos: g.input('rope_cos', 'float32', ['rope_rows', half]),
    sin: g.input('rope_sin', 'float32', ['rope_rows', half]),
  };
}

/** A context whose block weights become float32 graph inputs named after block 0's keys. */
function blockContext(g: GraphBuilder, w: Weights, p: FluxParams, prefix: string): { ctx: Ctx; weights: BlockWeight[] } {
  const rows = new RowSlicedWeights(w);
  const weights: BlockWeight[] = [];
  const seen = new Map<string, string>();
  const ctx: Ctx = {
    g, w: rows, policy: { fp8: 'cast', compute: 'float32' }, p,
    weightInput: (key) => {
      let name = seen.get(key);
      if (name) return name;
      if (!key.startsWith(prefix)) throw new Error(`internal error: block weight '${key}' is outside '${prefix}'`);
      name = key.slice(prefix.length).replace(/[^A-Za-z0-9_.]/g, '_');
      g.input(name, 'float32', [...rows.require(key).shape]);
      seen.set(key, name);
      weights.push({ input: name, key });
      return name;
    },
  };
  return { ctx, weights };
}

/**
 * Entry: the transformer's inputs (as the whole graph takes them) → img [B, N, hidden],
 * txt [B, L, hidden], silu_vec [B, hidden] and the rotary tables for text-then-image tokens.
 */
export function buildTransformerEntry(w: Weights, p: FluxParams, policy: WeightPolicy): GraphBuilder {
  const g = new GraphBuilder('flux_transformer_entry');
  const { img, txt, siluVec, rope } = embedInputs({ g, w: new RowSlicedWeights(w), policy, p });
  const { batch: B, image: N, text: L } = TRANSFORMER_DIMS;
  g.output(img, 'img_hidden', 'float32', [B, N, p.hidden_size]);
  g.output(txt, 'txt_hidden', 'float32', [B, L, p.hidden_size]);
  g.output(siluVec, 'silu_vec', 'float32', [B, p.hidden_size]);
  g.output(rope.positions, 'rope_positions', 'int64', [...ROPE_DIMS.positions]);
  g.output(rope.cos, 'rope_cos', 'float32', ['rope_rows', p.head_dim / 2]);
  g.output(rope.sin, 'rope_sin', 'float32', ['rope_rows', p.head_dim / 2]);
  return g;
}

/** One double-stream block: img, txt, silu_vec, rotary tables and block weights → img_out, txt_out. */
export function buildDoubleBlock(w: Weights, p: FluxParams): BlockGraph {
  const g = new GraphBuilder('flux_double_block');
  const { ctx, weights } = blockContext(g, w, p, 'double_blocks.0.');
  const { batch: B, image: N, text: L } = TRANSFORMER_DIMS;
  const img = g.input('img', 'float32', [B, N, p.hidden_size]);
  const txt = g.input('txt', 'float32', [B, L, p.hidden_size]);
  const siluVec = g.input('silu_vec', 'float32', [B, p.hidden_size]);
  const [imgOut, txtOut] = doubleStreamBlock(ctx, 0, img, txt, siluVec, ropeInputs(g, p));
  g.output(imgOut, 'img_out', 'float32', [B, N, p.hidden_size]);
  g.output(txtOut, 'txt_out', 'float32', [B, L, p.hidden_size]);
  return { graph: g, weights };
}

/** One single-stream block: x (text then image tokens), silu_vec, rotary tables and block weights → x_out. */
export function buildSingleBlock(w: Weights, p: FluxParams): BlockGraph {
  const g = new GraphBuilder('flux_single_block');
  const { ctx, weights } = blockContext(g, w, p, 'single_blocks.0.');
  const B = TRANSFORMER_DIMS.batch;
  const x = g.input('x', 'float32', [B, TOKENS, p.hidden_size]);
  const siluVec = g.input('silu_vec', 'float32', [B, p.hidden_size]);
  g.output(singleStreamBlock(ctx, 0, x, siluVec, ropeInputs(g, p)), 'x_out', 'float32', [B, TOKENS, p.hidden_size]);
  return { graph: g, weights };
}

/** Exit: the image tokens after the last block and silu_vec → out [B, N, out_channels] (float32). */
export function buildTransformerExit(w: Weights, p: FluxParams, policy: WeightPolicy): GraphBuilder {
  const g = new GraphBuilder('flux_transformer_exit');
  const ctx: Ctx = { g, w: new RowSlicedWeights(w), policy, p };
  const { batch: B, image: N } = TRANSFORMER_DIMS;
  const x = g.input('img', 'float32', [B, N, p.hidden_size]);
  const siluVec = g.input('silu_vec', 'float32', [B, p.hidden_size]);
  let out = lastLayer(ctx, x, siluVec);
  if (policy.compute !== 'float32') out = g.op('Cast', [out], { to: 1 });
  g.output(out, 'out', 'float32', [B, N, p.out_channels]);
  return g;
}
