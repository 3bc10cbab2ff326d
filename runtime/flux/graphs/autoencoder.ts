// The FLUX autoencoder's decoder (BFL src/flux/modules/autoencoder.py `Decoder`, with
// `AutoEncoder.decode`'s latent un-scaling) as an ONNX graph: z float32 [B, z_channels, h, w] →
// decoded float32 [B, out_ch, h·2^k, w·2^k], raw (the caller clamps). Channel counts, depth and
// upsampling come from the tensor shapes; scale/shift from the model config.
import { GraphBuilder } from '../../onnx/graph.js';
import { CPU_POLICY, type WeightPolicy } from '../../onnx/weights.js';
import { Layers, countIndexed, describe, expectShape, shapeOf } from './graph-layers.js';
import type { ModelConfig } from '../model-config.js';
import type { Weights } from '../../onnx/tensor-source.js';

/** Bump when the graph this file builds changes (the built-graph cache keys on it). */
export const DECODER_BUILDER_VERSION = 2;

/** BFL's `Normalize`: GroupNorm with 32 groups, eps 1e-6, fixed by the architecture (not stored). */
const GROUPS = 32;
const GROUP_NORM_EPS = 1e-6;

export interface DecoderParams {
  zChannels: number;
  outChannels: number;
  /** Base width and multipliers (BFL `ch`, `ch_mult`): level i has ch·chMult[i] channels. */
  ch: number;
  chMult: number[];
  numResBlocks: number;
  /** Channels of the mid blocks (= the deepest level's). */
  midChannels: number;
  /** Per level (0 = full resolution): whether it ends with a ×2 upsample, whether blocks have attention. */
  upsample: boolean[];
  attention: boolean[];
  groups: number;
  eps: number;
  scaleFactor: number;
  shiftFactor: number;
}

const P = 'decoder';
const up = (i: number) => `${P}.up.${i}`;
const resBlock = (i: number, j: number) => `${up(i)}.block.${j}`;

export function aeParams(w: Weights, cfg: ModelConfig): DecoderParams {
  const [midChannels, zChannels] = shapeOf(w, `${P}.conv_in.weight`, 4) as [number, number];
  const [outChannels, lastChannels] = shapeOf(w, `${P}.conv_out.weight`, 4) as [number, number];
  const levels = countIndexed(w, `${P}.up`, (i) => `${resBlock(i, 0)}.conv1.weight`);
  if (levels === 0) throw new Error(`${describe(w)} has no decoder levels ('${resBlock(0, 0)}.conv1.weight' is missing); it is not a FLUX autoencoder.`);
  const blocks = countIndexed(w, `${up(0)}.block`, (j) => `${resBlock(0, j)}.conv1.weight`);
  const levelChannels: number[] = [];
  for (let i = 0; i < levels; i++) {
    const n = countIndexed(w, `${up(i)}.block`, (j) => `${resBlock(i, j)}.conv1.weight`);
    if (n !== blocks) throw new Error(`${describe(w)}: decoder level ${i} has ${n} resnet blocks but level 0 has ${blocks}; the checkpoint is inconsistent.`);
    levelChannels.push(shapeOf(w, `${resBlock(i, 0)}.conv2.weight`, 4)[0]!);
  }
  const ch = levelChannels.reduce(gcd);
  const p: DecoderParams = {
    zChannels,
    outChannels,
    ch,
    chMult: levelChannels.map((c) => c / ch),
    numResBlocks: blocks - 1,
    midChannels,
    upsample: levelChannels.map((_, i) => w.has(`${up(i)}.upsample.conv.weight`)),
    attention: levelChannels.map((_, i) => w.has(`${up(i)}.attn.0.q.weight`)),
    groups: GROUPS,
    eps: GROUP_NORM_EPS,
    scaleFactor: cfg.scale_factor,
    shiftFactor: cfg.shift_factor,
  };
  if (lastChannels !== levelChannels[0]) {
    throw new Error(`${describe(w)}: '${P}.conv_out.weight' takes ${lastChannels} channels but decoder level 0 gives ${levelChannels[0]}; the checkpoint is inconsistent.`);
  }
  checkShapes(w, p);
  return p;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function levelWidth(p: DecoderParams, i: number): number {
  return p.ch * p.chMult[i]!;
}

/** Walks the decoder as the graph will, checking every tensor it will use (clear errors up front). */
function checkShapes(w: Weights, p: DecoderParams): void {
  const norm = (prefix: string, c: number) => {
    if (c % p.groups !== 0) throw new Error(`${describe(w)}: '${prefix}' normalizes ${c} channels, which do not split into ${p.groups} groups.`);
    expectShape(w, `${prefix}.weight`, [c]);
    expectShape(w, `${prefix}.bias`, [c]);
  };
  const conv = (prefix: string, cout: number, cin: number, k: number) => {
    expectShape(w, `${prefix}.weight`, [cout, cin, k, k]);
    if (w.has(`${prefix}.bias`)) expectShape(w, `${prefix}.bias`, [cout]);
  };
  const resnet = (prefix: string, cin: number, cout: number) => {
    norm(`${prefix}.norm1`, cin);
    conv(`${prefix}.conv1`, cout, cin, 3);
    norm(`${prefix}.norm2`, cout);
    conv(`${prefix}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${prefix}.nin_shortcut`, cout, cin, 1);
    return cout;
  };
  const attention = (prefix: string, c: number) => {
    norm(`${prefix}.norm`, c);
    for (const n of ['q', 'k', 'v', 'proj_out']) conv(`${prefix}.${n}`, c, c, 1);
  };
  conv(`${P}.conv_in`, p.midChannels, p.zChannels, 3);
  resnet(`${P}.mid.block_1`, p.midChannels, p.midChannels);
  attention(`${P}.mid.attn_1`, p.midChannels);
  resnet(`${P}.mid.block_2`, p.midChannels, p.midChannels);
  let c = p.midChannels;
  for (let i = p.chMult.length - 1; i >= 0; i--) {
    for (let j = 0; j <= p.numResBlocks; j++) {
      c = resnet(resBlock(i, j), c, levelWidth(p, i));
      if (p.attention[i]) attention(`${up(i)}.attn.${j}`, c);
    }
    if (p.upsample[i]) conv(`${up(i)}.upsample.conv`, c, c, 3);
  }
  norm(`${P}.norm_out`, c);
  conv(`${P}.conv_out`, p.outChannels, c, 3);
}

export function buildDecoder(w: Weights, p: DecoderParams, policy: WeightPolicy = CPU_POLICY): GraphBuilder {
  const g = new GraphBuilder('ae_decoder');
  const nn = new Layers(g, w, policy);
  const swish = (x: string) => g.op('Mul', [x, g.op('Sigmoid', [x])]);

  const resnet = (prefix: string, x: string): string => {
    let h = nn.conv(`${prefix}.conv1`, swish(nn.groupNorm(x, `${prefix}.norm1`, p.groups, p.eps)));
    h = nn.conv(`${prefix}.conv2`, swish(nn.groupNorm(h, `${prefix}.norm2`, p.groups, p.eps)));
    const skip = w.has(`${prefix}.nin_shortcut.weight`) ? nn.conv(`${prefix}.nin_shortcut`, x) : x;
    return g.op('Add', [skip, h]);
  };

  // Single-head attention over the h·w positions, q/k/v/proj_out as 1×1 convolutions. At 1024²
  // there are 16,384 positions: materialized scores would be 1 GiB per image, so this uses
  // onnxruntime's MultiHeadAttention (flash attention on CPU, fused kernels on GPU), whose default
  // scale is the reference's 1/sqrt(C).
  const attention = (prefix: string, x: string): string => {
    const h = nn.groupNorm(x, `${prefix}.norm`, p.groups, p.eps);
    const tokens = (t: string) => g.op('Transpose', [g.op('Reshape', [t, g.ints([0, 0, -1])])], { perm: [0, 2, 1] }); // [B, N, C]
    const q = tokens(nn.conv(`${prefix}.q`, h));
    const k = tokens(nn.conv(`${prefix}.k`, h));
    const v = tokens(nn.conv(`${prefix}.v`, h));
    const o = g.op('MultiHeadAttention', [q, k, v], { num_heads: 1 }, { domain: 'com.microsoft' }); // [B, N, C]
    const back = g.op('Reshape', [g.op('Transpose', [o], { perm: [0, 2, 1] }), g.op('Shape', [x])]);
    return g.op('Add', [x, nn.conv(`${prefix}.proj_out`, back)]);
  };

  const upsample = (prefix: string, x: string): string => {
    const scales = g.floats([1, 1, 2, 2]);
    const doubled = g.op('Resize', [x, '', scales], {
      mode: 'nearest',
      coordinate_transformation_mode: 'asymmetric',
      nearest_mode: 'floor',
    });
    return nn.conv(`${prefix}.conv`, doubled);
  };

  const z = g.input('z', 'float32', ['batch', p.zChannels, 'latent_height', 'latent_width']);
  let x = g.op('Add', [g.op('Div', [z, nn.scalar(p.scaleFactor)]), nn.scalar(p.shiftFactor)]);
  x = nn.conv(`${P}.conv_in`, x);
  x = resnet(`${P}.mid.block_1`, x);
  x = attention(`${P}.mid.attn_1`, x);
  x = resnet(`${P}.mid.block_2`, x);
  for (let i = p.chMult.length - 1; i >= 0; i--) {
    for (let j = 0; j <= p.numResBlocks; j++) {
      x = resnet(resBlock(i, j), x);
      if (p.attention[i]) x = attention(`${up(i)}.attn.${j}`, x);
    }
    if (p.upsample[i]) x = upsample(`${up(i)}.upsample`, x);
  }
  x = nn.conv(`${P}.conv_out`, swish(nn.groupNorm(x, `${P}.norm_out`, p.groups, p.eps)));
  g.output(x, 'decoded', 'float32', ['batch', p.outChannels, 'height', 'width']);
  return g;
}

/** How many pixels one latent cell becomes along each axis (8 for FLUX). */
export function decoderUpscale(p: DecoderParams): number {
  return 2 ** p.upsample.filter(Boolean).length;
}
