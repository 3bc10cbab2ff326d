// The FLUX.1 flow transformer (reference: src/flux/model.py `Flux.forward`) as an ONNX graph
// whose weights are external data pointing into the checkpoint. Shapes come from the weights
// (transformer-params.ts); the layers are in transformer-blocks.ts.
import { GraphBuilder } from '../../onnx/graph.js';
import { CPU_POLICY, type WeightPolicy } from '../../onnx/weights.js';
import {
  type Ctx, doubleStreamBlock, lastLayer, lin, mlpEmbedder, type RopeTables, ropeTables, silu, singleStreamBlock,
  timestepEmbedding, toCompute, tokenCount,
} from './transformer-blocks.js';
import type { FluxParams } from './transformer-params.js';
import { RowSlicedWeights } from '../checkpoints/weight-rows.js';
import type { Weights } from '../../onnx/tensor-source.js';

export { transformerParams, type FluxParams } from './transformer-params.js';

/** Bump when the graph changes, so cached graphs (graphKey) are rebuilt. */
export const TRANSFORMER_BUILDER_VERSION = 1;

/** Symbolic dimension names of the graph's inputs. */
export const TRANSFORMER_DIMS = { batch: 'batch', image: 'image_tokens', text: 'text_tokens' } as const;

/** What every block reads: the embedded image and text tokens, SiLU(vec) and the rotary tables. */
export interface TransformerEmbeddings {
  img: string;
  txt: string;
  siluVec: string;
  rope: RopeTables;
}

/**
 * The transformer's inputs (img [B,N,in], img_ids [B,N,axes], txt [B,L,ctx], txt_ids [B,L,axes],
 * y [B,vec], timesteps [B], and guidance [B] for guidance-distilled models, all float32) declared on
 * `ctx.g`, embedded as the reference does before its first block. Shared by the whole graph and
 * the block-by-block runner's entry graph (transformer-stream.ts).
 */
export function embedInputs(ctx: Ctx): TransformerEmbeddings {
  const { g, p: params } = ctx;
  const { batch: B, image: N, text: L } = TRANSFORMER_DIMS;
  const axes = params.axes_dim.length;
  const imgIn = g.input('img', 'float32', [B, N, params.in_channels]);
  const imgIds = g.input('img_ids', 'float32', [B, N, axes]);
  const txtIn = g.input('txt', 'float32', [B, L, params.context_in_dim]);
  const txtIds = g.input('txt_ids', 'float32', [B, L, axes]);
  const y = g.input('y', 'float32', [B, params.vec_in_dim]);
  const timesteps = g.input('timesteps', 'float32', [B]);
  const guidance = params.guidance_embed ? g.input('guidance', 'float32', [B]) : undefined;

  const img = lin(ctx, 'img_in', toCompute(ctx, imgIn));
  let vec = mlpEmbedder(ctx, 'time_in', timestepEmbedding(ctx, timesteps, params.timestep_dim));
  if (guidance) {
    const gdim = ctx.w.require('guidance_in.in_layer.weight').shape[1]!;
    vec = g.op('Add', [vec, mlpEmbedder(ctx, 'guidance_in', timestepEmbedding(ctx, guidance, gdim))]);
  }
  vec = g.op('Add', [vec, mlpEmbedder(ctx, 'vector_in', toCompute(ctx, y))]);
  const txt = lin(ctx, 'txt_in', toCompute(ctx, txtIn));
  // Text tokens first, as the reference concatenates them.
  const rope = ropeTables(ctx, g.op('Concat', [txtIds, imgIds], { axis: 1 }));
  // Every Modulation and the last layer start with SiLU(vec): compute it once.
  return { img, txt, siluVec: silu(g, vec), rope };
}

/**
 * Inputs: see `embedInputs`.
 * Output: out [B,N,out] float32, the predicted velocity.
 */
export function buildTransformer(w: Weights, params: FluxParams, policy: WeightPolicy = CPU_POLICY): GraphBuilder {
  const g = new GraphBuilder('flux_transformer');
  const ctx: Ctx = { g, w: new RowSlicedWeights(w), policy, p: params };
  const { batch: B, image: N } = TRANSFORMER_DIMS;
  const e = embedInputs(ctx);
  let img = e.img, txt = e.txt;
  const { siluVec, rope } = e;

  for (let i = 0; i < params.depth; i++) [img, txt] = doubleStreamBlock(ctx, i, img, txt, siluVec, rope);
  let x = g.op('Concat', [txt, img], { axis: 1 });
  for (let i = 0; i < params.depth_single_blocks; i++) x = singleStreamBlock(ctx, i, x, siluVec, rope);
  const imgTokens = g.op('Slice', [x, tokenCount(g, txt), g.ints([Number.MAX_SAFE_INTEGER]), g.ints([1])]);

  let out = lastLayer(ctx, imgTokens, siluVec);
  if (policy.compute !== 'float32') out = g.op('Cast', [out], { to: 1 });
  g.output(out, 'out', 'float32', [B, N, params.out_channels]);
  return g;
}
