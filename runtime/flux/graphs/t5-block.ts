// One T5 encoder block as an ONNX graph whose weights are graph INPUTS (float32), not
// initializers: the CPU's 'widen' policy runs T5 block by block (runtime/flux/text/t5-streamed.ts),
// widening each block's FP8 weights outside onnxruntime and feeding them here, so all blocks share
// one session and memory holds one or two blocks of float32 instead of the whole encoder.
// Inputs: hidden [B, L, d_model], position_bias [1, H, L, L], the two norm scales and the linear
// weights in the checkpoint's [out, in] layout (Gemm transB reads them as stored). Output: hidden.
import { GraphBuilder } from '../../onnx/graph.js';
import { Layers } from './graph-layers.js';
import type { Weights } from '../../onnx/tensor-source.js';
import type { T5Params } from './t5.js';

/** Bump when the graph this file builds changes (the built-graph cache keys on it). */
export const T5_BLOCK_BUILDER_VERSION = 1;

/** The block's linear weights, in the order the runner widens them, with their checkpoint keys. */
export function t5BlockLinears(p: T5Params, i: number): { input: string; key: string }[] {
  const attn = `encoder.block.${i}.layer.0.SelfAttention`;
  const ff = `encoder.block.${i}.layer.1.DenseReluDense`;
  return [
    ...['q', 'k', 'v', 'o'].map((n) => ({ input: n, key: `${attn}.${n}.weight` })),
    ...(p.gated ? ['wi_0', 'wi_1'] : ['wi']).map((n) => ({ input: n, key: `${ff}.${n}.weight` })),
    { input: 'wo', key: `${ff}.wo.weight` },
  ];
}

/** The block's norm scales (graph inputs `ln0`, `ln1`). */
export function t5BlockNorms(i: number): { input: string; key: string }[] {
  return [
    { input: 'ln0', key: `encoder.block.${i}.layer.0.layer_norm.weight` },
    { input: 'ln1', key: `encoder.block.${i}.layer.1.layer_norm.weight` },
  ];
}

export function buildT5Block(w: Weights, p: T5Params): GraphBuilder {
  const g = new GraphBuilder('t5_block');
  const nn = new Layers(g, w, { fp8: 'cast', compute: 'float32' });
  const inner = p.numHeads * p.dKv;
  const x = g.input('hidden', 'float32', ['batch', 'tokens', p.dModel]);
  const bias = g.input('position_bias', 'float32', [1, p.numHeads, 'tokens', 'tokens']);
  const norm: Record<string, string> = {};
  for (const n of t5BlockNorms(0)) norm[n.input] = g.input(n.input, 'float32', [p.dModel]);
  const weight: Record<string, string> = {};
  for (const l of t5BlockLinears(p, 0)) weight[l.input] = g.input(l.input, 'float32', [...w.require(l.key).shape]);

  const rmsNorm = (v: string, scale: string) => {
    const meanSq = g.op('ReduceMean', [g.op('Mul', [v, v]), g.ints([-1])], { keepdims: 1 });
    return g.op('Mul', [g.op('Div', [v, g.op('Sqrt', [g.op('Add', [meanSq, g.scalar(p.eps)])])]), scale]);
  };
  // y = x·Wᵀ over the flattened rows, as runtime/onnx/weights.ts `linear` builds it.
  const linear = (v: string, name: string, out: number, inp: number) => {
    const y = g.op('Gemm', [g.op('Reshape', [v, g.ints([-1, inp])]), weight[name]!], { transB: 1 });
    const lead = g.op('Shape', [v], { start: 0, end: -1 });
    return g.op('Reshape', [y, g.op('Concat', [lead, g.ints([out])], { axis: 0 })]);
  };
  const h = rmsNorm(x, norm.ln0!);
  const a = nn.attention(linear(h, 'q', inner, p.dModel), linear(h, 'k', inner, p.dModel), linear(h, 'v', inner, p.dModel), p.numHeads, p.dKv, { bias });
  const x1 = g.op('Add', [x, linear(a, 'o', p.dModel, inner)]);
  const f = rmsNorm(x1, norm.ln1!);
  const hidden = p.gated
    ? g.op('Mul', [nn.activation(linear(f, 'wi_0', p.dFf, p.dModel), p.activation), linear(f, 'wi_1', p.dFf, p.dModel)])
    : nn.activation(linear(f, 'wi', p.dFf, p.dModel), p.activation);
  g.output(g.op('Add', [x1, linear(hidden, 'wo', p.dModel, p.dFf)]), 'hidden_out', 'float32', ['batch', 'tokens', p.dModel]);
  return g;
}
