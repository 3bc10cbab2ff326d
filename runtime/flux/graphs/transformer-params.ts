// FLUX.1 flow-transformer hyperparameters, read from the checkpoint's tensor shapes (never from
// constants) plus what the weights cannot show (RoPE axes and theta) from the model config.
// Mirrors the reference `FluxParams`; a configuration the reference constructor would reject, or
// a checkpoint whose blocks disagree, fails here with one sentence naming the file.
import type { ModelConfig } from '../model-config.js';
import { CheckpointError } from '../checkpoints/safetensors.js';
import type { Weights } from '../../onnx/tensor-source.js';

export interface FluxParams {
  in_channels: number;
  out_channels: number;
  vec_in_dim: number;
  context_in_dim: number;
  hidden_size: number;
  mlp_ratio: number;
  num_heads: number;
  depth: number;
  depth_single_blocks: number;
  axes_dim: number[];
  theta: number;
  qkv_bias: boolean;
  guidance_embed: boolean;
  /** Derived: hidden_size / num_heads. */
  head_dim: number;
  /** Derived: the MLP width as stored (the reference's int(hidden_size * mlp_ratio)). */
  mlp_hidden_dim: number;
  /** Width of the sinusoidal timestep (and guidance) embedding: 256 in FLUX.1. */
  timestep_dim: number;
}

export function transformerParams(w: Weights, cfg: Pick<ModelConfig, 'axes_dim' | 'theta'>): FluxParams {
  const fileOf = (key?: string) => (key && w.get(key)?.file) || w.files.join(', ') || `the ${w.component} checkpoint`;
  const fail = (msg: string, key?: string): never => {
    throw new CheckpointError(`${fileOf(key)}: ${msg}`, fileOf(key), key);
  };
  const shape = (key: string): number[] => w.require(key).shape;
  const expect = (key: string, dims: number[]) => {
    const s = shape(key);
    if (s.length !== dims.length || s.some((d, i) => d !== dims[i])) {
      fail(`tensor '${key}' has shape [${s.join(', ')}] but this transformer needs [${dims.join(', ')}]; the file is not a consistent FLUX transformer.`, key);
    }
  };
  const matrix = (key: string): [number, number] => {
    const s = shape(key);
    if (s.length !== 2 || s[0]! <= 0 || s[1]! <= 0) fail(`tensor '${key}' should be a 2-D matrix but has shape [${s.join(', ')}].`, key);
    return [s[0]!, s[1]!];
  };

  const [hidden, inChannels] = matrix('img_in.weight');
  const [, contextIn] = matrix('txt_in.weight');
  const [, vecIn] = matrix('vector_in.in_layer.weight');
  const [, timestepDim] = matrix('time_in.in_layer.weight');
  const [outChannels] = matrix('final_layer.linear.weight');
  for (const k of ['txt_in', 'vector_in.in_layer', 'time_in.in_layer']) expect(`${k}.weight`, [hidden, shape(`${k}.weight`)[1]!]);
  expect('time_in.out_layer.weight', [hidden, hidden]);
  expect('vector_in.out_layer.weight', [hidden, hidden]);
  expect('final_layer.linear.weight', [outChannels, hidden]);
  expect('final_layer.adaLN_modulation.1.weight', [2 * hidden, hidden]);
  const guidance = w.has('guidance_in.in_layer.weight');
  if (guidance) {
    expect('guidance_in.in_layer.weight', [hidden, shape('guidance_in.in_layer.weight')[1]!]);
    expect('guidance_in.out_layer.weight', [hidden, hidden]);
  }

  const depth = countBlocks(w, 'double_blocks', fail);
  const single = countBlocks(w, 'single_blocks', fail);
  if (depth + single === 0) fail('the checkpoint has no double_blocks or single_blocks, so it is not a FLUX transformer.');

  const normKey = depth > 0 ? 'double_blocks.0.img_attn.norm.query_norm.scale' : 'single_blocks.0.norm.query_norm.scale';
  const ns = shape(normKey);
  if (ns.length !== 1 || ns[0]! <= 0 || hidden % ns[0]! !== 0) {
    fail(`tensor '${normKey}' has shape [${ns.join(', ')}], which does not divide the hidden width ${hidden} into attention heads.`, normKey);
  }
  const headDim = ns[0]!;
  const heads = hidden / headDim;
  const mlpKey = depth > 0 ? 'double_blocks.0.img_mlp.0.weight' : 'single_blocks.0.linear1.weight';
  const mlpHidden = depth > 0 ? matrix(mlpKey)[0] : matrix(mlpKey)[0] - 3 * hidden;
  if (mlpHidden <= 0) fail(`tensor '${mlpKey}' is too small for hidden width ${hidden}.`, mlpKey);
  const qkvBias = depth > 0 ? w.has('double_blocks.0.img_attn.qkv.bias') : true;

  for (let i = 0; i < depth; i++) {
    for (const s of ['img', 'txt']) {
      const p = `double_blocks.${i}.${s}`;
      expect(`${p}_mod.lin.weight`, [6 * hidden, hidden]);
      expect(`${p}_attn.qkv.weight`, [3 * hidden, hidden]);
      if (w.has(`${p}_attn.qkv.bias`) !== qkvBias) fail(`double block ${i} ${qkvBias ? 'lacks' : 'has'} '${p}_attn.qkv.bias' unlike block 0; the file mixes block layouts.`, `${p}_attn.qkv.weight`);
      expect(`${p}_attn.norm.query_norm.scale`, [headDim]);
      expect(`${p}_attn.norm.key_norm.scale`, [headDim]);
      expect(`${p}_attn.proj.weight`, [hidden, hidden]);
      expect(`${p}_mlp.0.weight`, [mlpHidden, hidden]);
      expect(`${p}_mlp.2.weight`, [hidden, mlpHidden]);
    }
  }
  for (let i = 0; i < single; i++) {
    const p = `single_blocks.${i}`;
    expect(`${p}.modulation.lin.weight`, [3 * hidden, hidden]);
    expect(`${p}.linear1.weight`, [3 * hidden + mlpHidden, hidden]);
    expect(`${p}.linear2.weight`, [hidden, hidden + mlpHidden]);
    expect(`${p}.norm.query_norm.scale`, [headDim]);
    expect(`${p}.norm.key_norm.scale`, [headDim]);
  }

  const axes = cfg.axes_dim;
  const sum = axes.reduce((a, b) => a + b, 0);
  if (axes.some((a) => !Number.isInteger(a) || a <= 0 || a % 2 !== 0) || sum !== headDim) {
    fail(`the model config's axes_dim [${axes.join(', ')}] must be positive even numbers summing to the attention head width ${headDim} (hidden ${hidden} / ${heads} heads); set axes_dim in the model config to match this checkpoint.`, normKey);
  }
  if (!(cfg.theta > 0) || !Number.isFinite(cfg.theta)) fail(`the model config's theta ${cfg.theta} must be a positive number.`);

  return {
    in_channels: inChannels,
    out_channels: outChannels,
    vec_in_dim: vecIn,
    context_in_dim: contextIn,
    hidden_size: hidden,
    mlp_ratio: mlpHidden / hidden,
    num_heads: heads,
    depth,
    depth_single_blocks: single,
    axes_dim: [...axes],
    theta: cfg.theta,
    qkv_bias: qkvBias,
    guidance_embed: guidance,
    head_dim: headDim,
    mlp_hidden_dim: mlpHidden,
    timestep_dim: timestepDim,
  };
}

/** Number of `prefix.N.` blocks; the indices must run 0..N-1 without gaps. */
function countBlocks(w: Weights, prefix: string, fail: (msg: string, key?: string) => never): number {
  const seen = new Set<number>();
  const re = new RegExp(`^${prefix}\\.(\\d+)\\.`);
  for (const k of w.keys()) {
    const m = re.exec(k);
    if (m) seen.add(Number(m[1]));
  }
  for (let i = 0; i < seen.size; i++) {
    if (!seen.has(i)) fail(`${prefix} are numbered ${[...seen].sort((a, b) => a - b).join(', ')}, with block ${i} missing; the file is incomplete.`);
  }
  return seen.size;
}
