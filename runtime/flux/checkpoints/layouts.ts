// Which FLUX components a set of tensor names holds, under which prefix, and whether each is
// complete. Recognition is by tensor names only (file names lie): every layout has "anchor"
// tensors whose stored name, minus the anchor, gives the component's prefix — '' for a plain
// file, `model.diffusion_model.` / `vae.` / `text_encoders.…` in a ComfyUI single file.
import type { TensorInfo } from '../../onnx/tensor-source.js';

export type ComponentKind = 'transformer' | 'autoencoder' | 't5' | 'clip';
export const COMPONENT_KINDS: readonly ComponentKind[] = ['transformer', 'autoencoder', 't5', 'clip'];
/** Names for messages (and `Weights.component`). */
export const COMPONENT_LABEL: Readonly<Record<ComponentKind, string>> = { transformer: 'transformer', autoencoder: 'autoencoder', t5: 'T5', clip: 'CLIP' };

/** `bfl`: Black Forest Labs names; `hf`: Hugging Face transformers names; `diffusers`: diffusers names. */
export type Layout = 'bfl' | 'hf' | 'diffusers';
export type Precision = 'fp32' | 'bf16' | 'fp16' | 'fp8' | 'scaled-fp8' | 'fp64' | 'mixed' | 'none';

export interface FoundComponent {
  kind: ComponentKind;
  layout: Layout;
  /** Prefix of every stored name of the component ('' in a plain file). */
  root: string;
  /** Prefix inside the root that the canonical names drop (CLIP's `text_model.`). */
  inner: string;
}

const ANCHORS: { kind: ComponentKind; layout: Layout; suffixes: string[] }[] = [
  { kind: 'transformer', layout: 'bfl', suffixes: ['img_in.weight', 'txt_in.weight', 'time_in.in_layer.weight', 'double_blocks.0.img_attn.qkv.weight', 'single_blocks.0.linear1.weight', 'final_layer.linear.weight'] },
  { kind: 'transformer', layout: 'diffusers', suffixes: ['x_embedder.weight', 'context_embedder.weight', 'transformer_blocks.0.attn.to_q.weight', 'single_transformer_blocks.0.attn.to_q.weight'] },
  { kind: 'autoencoder', layout: 'bfl', suffixes: ['decoder.mid.block_1.conv1.weight', 'decoder.norm_out.weight', 'decoder.up.0.block.0.conv1.weight', 'encoder.mid.block_1.conv1.weight', 'encoder.norm_out.weight'] },
  { kind: 'autoencoder', layout: 'diffusers', suffixes: ['decoder.mid_block.resnets.0.conv1.weight', 'decoder.conv_norm_out.weight', 'decoder.up_blocks.0.resnets.0.conv1.weight', 'encoder.mid_block.resnets.0.conv1.weight', 'encoder.conv_norm_out.weight'] },
  { kind: 't5', layout: 'hf', suffixes: ['encoder.block.0.layer.0.SelfAttention.q.weight', 'encoder.final_layer_norm.weight', 'encoder.block.0.layer.1.DenseReluDense.wo.weight'] },
  { kind: 'clip', layout: 'hf', suffixes: ['embeddings.token_embedding.weight', 'embeddings.position_embedding.weight', 'encoder.layers.0.self_attn.q_proj.weight'] },
];

// What a component's canonical names start with; breaks ties when two components share a prefix.
const OWNS: Record<ComponentKind, RegExp> = {
  transformer: /^(img_in|txt_in|time_in|vector_in|guidance_in|double_blocks|single_blocks|final_layer|x_embedder|context_embedder|time_text_embed|transformer_blocks|single_transformer_blocks|norm_out|proj_out)\./,
  autoencoder: /^(decoder\.|encoder\.(conv|down|mid|norm_out)|quant_conv|post_quant_conv)/,
  t5: /^(shared\.|encoder\.(block|final_layer_norm|embed_tokens)\.)/,
  clip: /^(text_model\.|embeddings\.|encoder\.layers\.|final_layer_norm\.|text_projection)/,
};

/** Every component the names hold, at most one per kind (the best-anchored prefix). */
export function findComponents(names: Iterable<string>): FoundComponent[] {
  const votes = new Map<string, { c: FoundComponent; n: number }>();
  for (const name of names) {
    for (const a of ANCHORS) {
      for (const s of a.suffixes) {
        if (!name.endsWith(s)) continue;
        let root = name.slice(0, name.length - s.length);
        if (root !== '' && !root.endsWith('.')) continue;
        let inner = '';
        if (a.kind === 'clip' && root.endsWith('text_model.')) {
          root = root.slice(0, -'text_model.'.length);
          inner = 'text_model.';
        }
        const id = `${a.kind}|${a.layout}|${root}`;
        const v = votes.get(id) ?? { c: { kind: a.kind, layout: a.layout, root, inner }, n: 0 };
        v.n++;
        votes.set(id, v);
      }
    }
  }
  const best = new Map<ComponentKind, { c: FoundComponent; n: number }>();
  for (const v of votes.values()) {
    const b = best.get(v.c.kind);
    if (!b || v.n > b.n || (v.n === b.n && v.c.root.length < b.c.root.length)) best.set(v.c.kind, v);
  }
  return COMPONENT_KINDS.flatMap((k) => (best.has(k) ? [best.get(k)!.c] : []));
}

/** Which found component a stored name belongs to (longest prefix wins), and its name inside it. */
export function assignName(found: readonly FoundComponent[], stored: string): { component: FoundComponent; local: string } | undefined {
  let pick: FoundComponent | undefined;
  for (const c of found) {
    if (!stored.startsWith(c.root)) continue;
    if (!pick || c.root.length > pick.root.length) pick = c;
    else if (c.root.length === pick.root.length && !OWNS[pick.kind].test(stored.slice(pick.root.length)) && OWNS[c.kind].test(stored.slice(c.root.length))) pick = c;
  }
  if (!pick) return undefined;
  let local = stored.slice(pick.root.length);
  if (pick.inner && local.startsWith(pick.inner)) local = local.slice(pick.inner.length);
  return { component: pick, local };
}

/** "Scaled FP8" side tensors: `X.scale_weight` (and `X.scale_input`) per weight, a `scaled_fp8` marker. */
export function scaleRole(local: string): 'scale' | 'input-scale' | 'marker' | undefined {
  if (local === 'scaled_fp8' || local.endsWith('.scaled_fp8')) return 'marker';
  if (local.endsWith('.scale_weight')) return 'scale';
  if (local.endsWith('.scale_input')) return 'input-scale';
  return undefined;
}

/** The weight that `X.scale_weight` scales: `X.weight`. */
export function scaledWeightName(scaleName: string): string {
  return `${scaleName.slice(0, -'scale_weight'.length)}weight`;
}

export function precisionOf(tensors: Iterable<TensorInfo>, scaled: boolean): Precision {
  const floats = new Set<string>();
  for (const t of tensors) if (/^(F|BF)/.test(t.dtype)) floats.add(t.dtype);
  if (floats.has('F8_E4M3') || floats.has('F8_E5M2')) return scaled ? 'scaled-fp8' : 'fp8';
  if (floats.size === 0) return 'none';
  if (floats.size > 1) return 'mixed';
  return ({ F32: 'fp32', BF16: 'bf16', F16: 'fp16', F64: 'fp64' } as const)[[...floats][0] as 'F32'] ?? 'mixed';
}

export function combinePrecision(ps: Precision[]): Precision {
  const s = new Set(ps.filter((p) => p !== 'none'));
  return s.size === 0 ? 'none' : s.size === 1 ? [...s][0]! : 'mixed';
}

// ---- completeness -------------------------------------------------------------------------------

export interface Completeness {
  /** Canonical names (or `prefix.N.*` for a whole missing block) that a complete component has. */
  missing: string[];
  /** Inconsistencies that are not absences (a block whose tensor shapes differ from block 0's). */
  problems: string[];
  /** One line on what the component is, e.g. "hidden 3072, 19 double + 38 single blocks". */
  summary: string;
}

type Shapes = ReadonlyMap<string, TensorInfo>;
const wb = (...names: string[]) => names.flatMap((n) => [`${n}.weight`, `${n}.bias`]);

/** Indices N of `prefix N.` names, as a count (max + 1). */
function blockCount(keys: Shapes, prefix: string): number {
  let max = -1;
  for (const k of keys.keys()) {
    if (!k.startsWith(prefix)) continue;
    const m = /^(\d+)\./.exec(k.slice(prefix.length));
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

function requireAll(keys: Shapes, names: string[], missing: string[]): void {
  for (const n of names) if (!keys.has(n)) missing.push(n);
}

/** Blocks 0..count-1 under `prefix` each hold every suffix, with block 0's shapes. */
function requireBlocks(keys: Shapes, prefix: string, count: number, suffixes: (i: number) => string[], out: Completeness, what = 'block'): void {
  for (let i = 0; i < count; i++) {
    const want = suffixes(i);
    const absent = want.filter((s) => !keys.has(`${prefix}${i}.${s}`));
    if (absent.length === want.length && want.length > 1) {
      out.missing.push(`${prefix}${i}.* (the whole ${what})`);
      continue;
    }
    for (const s of absent) out.missing.push(`${prefix}${i}.${s}`);
    if (i === 0) continue;
    for (const s of want) {
      const a = keys.get(`${prefix}0.${s}`);
      const b = keys.get(`${prefix}${i}.${s}`);
      if (a && b && shapeText(a.shape) !== shapeText(b.shape)) {
        out.problems.push(`${prefix}${i}.${s} has shape ${shapeText(b.shape)} but ${prefix}0.${s} has ${shapeText(a.shape)}`);
      }
    }
  }
}

// qkv biases are optional: FluxParams.qkv_bias = False is a valid reference configuration.
const DOUBLE = [
  ...wb('img_mod.lin', 'img_attn.proj', 'img_mlp.0', 'img_mlp.2', 'txt_mod.lin', 'txt_attn.proj', 'txt_mlp.0', 'txt_mlp.2'),
  'img_attn.qkv.weight', 'txt_attn.qkv.weight',
  'img_attn.norm.query_norm.scale', 'img_attn.norm.key_norm.scale', 'txt_attn.norm.query_norm.scale', 'txt_attn.norm.key_norm.scale',
];
const SINGLE = [...wb('linear1', 'linear2', 'modulation.lin'), 'norm.query_norm.scale', 'norm.key_norm.scale'];

function checkTransformer(keys: Shapes): Completeness {
  const out: Completeness = { missing: [], problems: [], summary: '' };
  requireAll(keys, wb('img_in', 'time_in.in_layer', 'time_in.out_layer', 'vector_in.in_layer', 'vector_in.out_layer', 'txt_in', 'final_layer.linear', 'final_layer.adaLN_modulation.1'), out.missing);
  const guidance = [...keys.keys()].some((k) => k.startsWith('guidance_in.'));
  if (guidance) requireAll(keys, wb('guidance_in.in_layer', 'guidance_in.out_layer'), out.missing);
  const nd = blockCount(keys, 'double_blocks.');
  const ns = blockCount(keys, 'single_blocks.');
  // Zero double (or single) blocks is a valid reference configuration; a model needs at least one block.
  if (nd === 0 && ns === 0) out.missing.push('double_blocks.0.* / single_blocks.0.* (no transformer blocks at all)');
  // qkv biases are all-or-none across blocks.
  const qkvBias = [...keys.keys()].some((k) => /^double_blocks\.\d+\.(img|txt)_attn\.qkv\.bias$/.test(k));
  const double = qkvBias ? [...DOUBLE, 'img_attn.qkv.bias', 'txt_attn.qkv.bias'] : DOUBLE;
  requireBlocks(keys, 'double_blocks.', nd, () => double, out);
  requireBlocks(keys, 'single_blocks.', ns, () => SINGLE, out);
  const hidden = keys.get('img_in.weight')?.shape[0];
  out.summary = `hidden ${hidden ?? '?'}, ${nd} double + ${ns} single blocks${guidance ? ', guidance embedding' : ''}`;
  return out;
}

const RESNET = wb('norm1', 'conv1', 'norm2', 'conv2');
const ATTN = wb('norm', 'q', 'k', 'v', 'proj_out');

function checkAeHalf(keys: Shapes, side: 'encoder' | 'decoder', out: Completeness): string {
  requireAll(keys, wb(`${side}.conv_in`, `${side}.conv_out`, `${side}.norm_out`), out.missing);
  requireAll(keys, [...RESNET.map((s) => `${side}.mid.block_1.${s}`), ...RESNET.map((s) => `${side}.mid.block_2.${s}`), ...ATTN.map((s) => `${side}.mid.attn_1.${s}`)], out.missing);
  const level = side === 'decoder' ? 'up' : 'down';
  const levels = blockCount(keys, `${side}.${level}.`);
  if (levels === 0) out.missing.push(`${side}.${level}.0.* (no resolution levels at all)`);
  let blocks = 0;
  for (let l = 0; l < levels; l++) blocks = Math.max(blocks, blockCount(keys, `${side}.${level}.${l}.block.`));
  for (let l = 0; l < levels; l++) {
    if (![...keys.keys()].some((k) => k.startsWith(`${side}.${level}.${l}.`))) {
      out.missing.push(`${side}.${level}.${l}.* (the whole level)`);
      continue;
    }
    // Blocks may differ in width across levels, so shapes are not compared here.
    for (let b = 0; b < blocks; b++) {
      for (const s of RESNET) if (!keys.has(`${side}.${level}.${l}.block.${b}.${s}`)) out.missing.push(`${side}.${level}.${l}.block.${b}.${s}`);
      const sc = `${side}.${level}.${l}.block.${b}.nin_shortcut`;
      if (keys.has(`${sc}.weight`) !== keys.has(`${sc}.bias`)) out.missing.push(keys.has(`${sc}.weight`) ? `${sc}.bias` : `${sc}.weight`);
    }
    const resample = side === 'decoder' ? l !== 0 : l !== levels - 1;
    if (resample) requireAll(keys, wb(`${side}.${level}.${l}.${side === 'decoder' ? 'upsample' : 'downsample'}.conv`), out.missing);
  }
  return `${levels} levels × ${blocks} blocks`;
}

function checkAutoencoder(keys: Shapes): Completeness {
  const out: Completeness = { missing: [], problems: [], summary: '' };
  const dec = checkAeHalf(keys, 'decoder', out);
  // Generation only decodes; an encoder is checked only when the file has one.
  const hasEncoder = [...keys.keys()].some((k) => k.startsWith('encoder.'));
  const enc = hasEncoder ? checkAeHalf(keys, 'encoder', out) : '';
  const z = keys.get('decoder.conv_in.weight')?.shape[1];
  out.summary = `${z ?? '?'} latent channels, decoder ${dec}${hasEncoder ? `, encoder ${enc}` : ', no encoder'}`;
  return out;
}

function checkT5(keys: Shapes): Completeness {
  const out: Completeness = { missing: [], problems: [], summary: '' };
  if (!keys.has('shared.weight') && !keys.has('encoder.embed_tokens.weight')) out.missing.push('shared.weight (or encoder.embed_tokens.weight)');
  requireAll(keys, ['encoder.final_layer_norm.weight'], out.missing);
  const n = blockCount(keys, 'encoder.block.');
  if (n === 0) out.missing.push('encoder.block.0.* (no encoder blocks at all)');
  const gated = [...keys.keys()].some((k) => k.includes('.DenseReluDense.wi_0.'));
  const ff = gated ? ['wi_0', 'wi_1', 'wo'] : ['wi', 'wo'];
  requireBlocks(keys, 'encoder.block.', n, (i) => [
    ...['q', 'k', 'v', 'o'].map((p) => `layer.0.SelfAttention.${p}.weight`),
    ...(i === 0 ? ['layer.0.SelfAttention.relative_attention_bias.weight'] : []),
    'layer.0.layer_norm.weight',
    ...ff.map((p) => `layer.1.DenseReluDense.${p}.weight`),
    'layer.1.layer_norm.weight',
  ], out);
  const width = (keys.get('shared.weight') ?? keys.get('encoder.embed_tokens.weight'))?.shape[1];
  out.summary = `d_model ${width ?? '?'}, ${n} blocks, ${gated ? 'gated' : 'plain'} feed-forward`;
  return out;
}

function checkClip(keys: Shapes): Completeness {
  const out: Completeness = { missing: [], problems: [], summary: '' };
  requireAll(keys, ['embeddings.token_embedding.weight', 'embeddings.position_embedding.weight', ...wb('final_layer_norm')], out.missing);
  const n = blockCount(keys, 'encoder.layers.');
  if (n === 0) out.missing.push('encoder.layers.0.* (no encoder layers at all)');
  requireBlocks(keys, 'encoder.layers.', n, () => wb('layer_norm1', 'layer_norm2', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.out_proj', 'mlp.fc1', 'mlp.fc2'), out, 'layer');
  const width = keys.get('embeddings.token_embedding.weight')?.shape[1];
  out.summary = `hidden ${width ?? '?'}, ${n} layers`;
  return out;
}

/** Checks canonical tensors of a component for completeness. */
export function checkComponent(kind: ComponentKind, keys: Shapes): Completeness {
  switch (kind) {
    case 'transformer': return checkTransformer(keys);
    case 'autoencoder': return checkAutoencoder(keys);
    case 't5': return checkT5(keys);
    case 'clip': return checkClip(keys);
  }
}

/** "a, b, c and 12 more": long lists stay one readable sentence. */
export function listSome(items: readonly string[], max = 12): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
