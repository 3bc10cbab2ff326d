// The CLIP text encoder (Hugging Face `CLIPTextModel`) as an ONNX graph: input_ids int64 [B, L]
// → pooled float32 [B, hidden] (what FLUX feeds its `vector_in`) and last_hidden_state
// [B, L, hidden]. Widths, depth and vocabulary come from the shapes; the head count, activation,
// epsilon and end-of-text id come from config.json (defaults: CLIP ViT-L/14's).
import { GraphBuilder } from '../../onnx/graph.js';
import { CPU_POLICY, type WeightPolicy } from '../../onnx/weights.js';
import {
  type Activation, Layers, agree, configId, configInt, configPositive, configString, countIndexed, describe,
  expectShape, parseActivation, shapeOf,
} from './graph-layers.js';
import type { Weights } from '../../onnx/tensor-source.js';

/** Bump when the graph this file builds changes (the built-graph cache keys on it). */
export const CLIP_BUILDER_VERSION = 2;

export interface ClipParams {
  vocabSize: number;
  hidden: number;
  /** Longest input the position table allows (77 for CLIP-L). */
  maxPositions: number;
  numLayers: number;
  numHeads: number;
  headDim: number;
  intermediate: number;
  eps: number;
  activation: Activation;
  /**
   * transformers' pooling rule: with eos_token_id 2 (old configs, and FLUX's clip_l) the pooled
   * token is the first position of the largest id; otherwise the first position holding this id.
   */
  eosTokenId: number;
}

const layer = (i: number) => `encoder.layers.${i}`;
/** Without config.json, heads are assumed 64 wide, as in every released CLIP text tower. */
const DEFAULT_HEAD_DIM = 64;

/** Hyperparameters from the tensor shapes, plus what only config.json holds (`w.config` by default). */
export function clipParams(w: Weights, config: Record<string, unknown> | undefined = w.config): ClipParams {
  const [vocabSize, hidden] = shapeOf(w, 'embeddings.token_embedding.weight', 2) as [number, number];
  agree(w, 'vocab_size', configInt(w, config, 'vocab_size'), vocabSize, 'token embeddings');
  agree(w, 'hidden_size', configInt(w, config, 'hidden_size'), hidden, 'hidden units');
  const [maxPositions] = shapeOf(w, 'embeddings.position_embedding.weight', 2) as [number, number];
  agree(w, 'max_position_embeddings', configInt(w, config, 'max_position_embeddings'), maxPositions, 'position embeddings');
  const numLayers = countIndexed(w, 'encoder.layers', (i) => `${layer(i)}.self_attn.q_proj.weight`);
  if (numLayers === 0) throw new Error(`${describe(w)} has no encoder layers ('${layer(0)}.self_attn.q_proj.weight' is missing); it is not a CLIP text model.`);
  agree(w, 'num_hidden_layers', configInt(w, config, 'num_hidden_layers'), numLayers, 'encoder layers');
  const [intermediate] = shapeOf(w, `${layer(0)}.mlp.fc1.weight`, 2) as [number, number];
  agree(w, 'intermediate_size', configInt(w, config, 'intermediate_size'), intermediate, 'MLP units');

  const numHeads = configInt(w, config, 'num_attention_heads') ?? Math.max(1, Math.round(hidden / DEFAULT_HEAD_DIM));
  if (hidden % numHeads !== 0) {
    throw new Error(`${describe(w)}: hidden size ${hidden} does not split into ${numHeads} attention heads; set 'num_attention_heads' in its config.json.`);
  }
  const activation = parseActivation(w, 'hidden_act', configString(w, config, 'hidden_act') ?? 'quick_gelu');
  const eps = configPositive(w, config, 'layer_norm_eps') ?? 1e-5;
  const eosTokenId = configId(w, config, 'eos_token_id') ?? 2;

  const p: ClipParams = { vocabSize, hidden, maxPositions, numLayers, numHeads, headDim: hidden / numHeads, intermediate, eps, activation, eosTokenId };
  checkShapes(w, p);
  return p;
}

function checkShapes(w: Weights, p: ClipParams): void {
  expectShape(w, 'embeddings.position_embedding.weight', [p.maxPositions, p.hidden]);
  for (let i = 0; i < p.numLayers; i++) {
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      expectShape(w, `${layer(i)}.self_attn.${n}.weight`, [p.hidden, p.hidden]);
      expectShape(w, `${layer(i)}.self_attn.${n}.bias`, [p.hidden]);
    }
    for (const n of ['layer_norm1', 'layer_norm2']) {
      expectShape(w, `${layer(i)}.${n}.weight`, [p.hidden]);
      expectShape(w, `${layer(i)}.${n}.bias`, [p.hidden]);
    }
    expectShape(w, `${layer(i)}.mlp.fc1.weight`, [p.intermediate, p.hidden]);
    expectShape(w, `${layer(i)}.mlp.fc1.bias`, [p.intermediate]);
    expectShape(w, `${layer(i)}.mlp.fc2.weight`, [p.hidden, p.intermediate]);
    expectShape(w, `${layer(i)}.mlp.fc2.bias`, [p.hidden]);
  }
  expectShape(w, 'final_layer_norm.weight', [p.hidden]);
  expectShape(w, 'final_layer_norm.bias', [p.hidden]);
}

export function buildClipText(w: Weights, p: ClipParams = clipParams(w), policy: WeightPolicy = CPU_POLICY): GraphBuilder {
  const g = new GraphBuilder('clip_text');
  const nn = new Layers(g, w, policy);
  const ids = g.input('input_ids', 'int64', ['batch', 'tokens']);
  const pos = nn.positions(ids, 1);
  let x = g.op('Add', [
    g.op('Gather', [nn.param('embeddings.token_embedding.weight'), ids], { axis: 0 }),
    g.op('Gather', [nn.param('embeddings.position_embedding.weight'), pos], { axis: 0 }),
  ]);

  // Causal mask [L, L]: a token attends to itself and earlier tokens only.
  const later = g.op('Greater', [g.op('Unsqueeze', [pos, g.ints([0])]), g.op('Unsqueeze', [pos, g.ints([1])])]);
  const mask = g.op('Where', [later, nn.scalar(-Infinity), nn.scalar(0)]);

  const scale = 1 / Math.sqrt(p.headDim);
  for (let i = 0; i < p.numLayers; i++) {
    const h = nn.layerNorm(x, `${layer(i)}.layer_norm1`, p.eps);
    const q = nn.linear(`${layer(i)}.self_attn.q_proj`, h);
    const k = nn.linear(`${layer(i)}.self_attn.k_proj`, h);
    const v = nn.linear(`${layer(i)}.self_attn.v_proj`, h);
    const a = nn.attention(q, k, v, p.numHeads, p.headDim, { scale, bias: mask });
    x = g.op('Add', [x, nn.linear(`${layer(i)}.self_attn.out_proj`, a)]);

    const m = nn.layerNorm(x, `${layer(i)}.layer_norm2`, p.eps);
    const up = nn.activation(nn.linear(`${layer(i)}.mlp.fc1`, m), p.activation);
    x = g.op('Add', [x, nn.linear(`${layer(i)}.mlp.fc2`, up)]);
  }
  const last = nn.layerNorm(x, 'final_layer_norm', p.eps);

  // Pooled token index per row [B, 1]; ArgMax returns the first position among equals, as torch does.
  const target = p.eosTokenId === 2
    ? ids
    : g.op('Cast', [g.op('Equal', [ids, g.scalar(p.eosTokenId, 'int64')])], { to: 6 /* int32 */ });
  const index = g.op('ArgMax', [target], { axis: 1, keepdims: 1 });
  const pooled = g.op('GatherND', [last, index], { batch_dims: 1 });

  g.output(pooled, 'pooled', 'float32', ['batch', p.hidden]);
  g.output(last, 'last_hidden_state', 'float32', ['batch', 'tokens', p.hidden]);
  return g;
}
