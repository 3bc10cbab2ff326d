// diffusers stores the FLUX transformer and autoencoder under other names (the inverse of
// diffusers' scripts/convert_flux_to_diffusers.py and its LDM-VAE converter). We map them onto the
// BFL canonical names without copying a byte: renames are free, `qkv` / `linear1` become
// concatenations of row ranges ("parts", see weights.ts), and the final modulation's swapped
// (scale, shift) halves become two parts of one tensor in BFL's (shift, scale) order.
import type { TensorInfo, TensorPart } from '../../onnx/tensor-source.js';

export interface Mapped {
  tensors: Map<string, TensorInfo>;
  /** For every canonical name we tried to build: the diffusers tensors it comes from. */
  sources: Map<string, string[]>;
  /** Canonical names that exist but could not be assembled (mismatched parts), with why. */
  problems: string[];
}

function asPart(t: TensorInfo, rows?: [number, number]): TensorPart {
  if (!rows) return { name: t.name, file: t.file, offset: t.offset, length: t.length, shape: t.shape };
  const rowBytes = t.length / (t.shape[0] ?? 1);
  return { name: t.name, file: t.file, offset: t.offset + rows[0] * rowBytes, length: (rows[1] - rows[0]) * rowBytes, shape: [rows[1] - rows[0], ...t.shape.slice(1)] };
}

function fromParts(name: string, dtype: TensorInfo['dtype'], parts: TensorPart[]): TensorInfo {
  return {
    name,
    dtype,
    shape: [parts.reduce((n, p) => n + (p.shape[0] ?? 0), 0), ...(parts[0]?.shape.slice(1) ?? [])],
    file: parts[0]?.file ?? '',
    offset: -1,
    length: parts.reduce((n, p) => n + p.length, 0),
    parts,
  };
}

class Mapper {
  readonly out: Mapped = { tensors: new Map(), sources: new Map(), problems: [] };
  constructor(private readonly src: ReadonlyMap<string, TensorInfo>) {}

  rename(to: string, from: string, reshape?: (s: number[]) => number[]): void {
    this.out.sources.set(to, [from]);
    const t = this.src.get(from);
    if (t) this.out.tensors.set(to, reshape ? { ...t, shape: reshape(t.shape) } : t);
  }

  /** `to` = rows of `from[0]`, then `from[1]`, … (all present, same dtype and trailing dims). */
  concat(to: string, from: string[]): void {
    this.out.sources.set(to, from);
    const ts = from.map((f) => this.src.get(f));
    if (ts.some((t) => !t)) return;
    const all = ts as TensorInfo[];
    const first = all[0]!;
    const tail = JSON.stringify(first.shape.slice(1));
    const odd = all.find((t) => t.dtype !== first.dtype || JSON.stringify(t.shape.slice(1)) !== tail || t.shape.length === 0);
    if (odd) {
      this.out.problems.push(`${to} cannot be assembled: ${odd.name} is ${odd.dtype} [${odd.shape.join(', ')}] but ${first.name} is ${first.dtype} [${first.shape.join(', ')}]`);
      return;
    }
    this.out.tensors.set(to, fromParts(from.join('+'), first.dtype, all.map((t) => asPart(t))));
  }

  /** diffusers' AdaLayerNormContinuous keeps (scale, shift); BFL's final layer wants (shift, scale). */
  swapHalves(to: string, from: string): void {
    this.out.sources.set(to, [from]);
    const t = this.src.get(from);
    if (!t) return;
    const rows = t.shape[0] ?? 0;
    if (rows % 2 !== 0) {
      this.out.problems.push(`${to} cannot be assembled: ${from} has an odd first dimension (${rows})`);
      return;
    }
    const h = rows / 2;
    this.out.tensors.set(to, fromParts(`${from}(swapped halves)`, t.dtype, [asPart(t, [h, rows]), asPart(t, [0, h])]));
  }
}

function indices(names: Iterable<string>, prefix: string): number[] {
  const s = new Set<number>();
  for (const n of names) {
    const m = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)\\.`).exec(n);
    if (m) s.add(Number(m[1]));
  }
  return [...s].sort((a, b) => a - b);
}

/** diffusers `FluxTransformer2DModel` names → BFL names. */
export function diffusersTransformerToBfl(src: ReadonlyMap<string, TensorInfo>): Mapped {
  const m = new Mapper(src);
  const lin = (to: string, from: string) => { m.rename(`${to}.weight`, `${from}.weight`); m.rename(`${to}.bias`, `${from}.bias`); };
  lin('img_in', 'x_embedder');
  lin('txt_in', 'context_embedder');
  lin('time_in.in_layer', 'time_text_embed.timestep_embedder.linear_1');
  lin('time_in.out_layer', 'time_text_embed.timestep_embedder.linear_2');
  lin('vector_in.in_layer', 'time_text_embed.text_embedder.linear_1');
  lin('vector_in.out_layer', 'time_text_embed.text_embedder.linear_2');
  if ([...src.keys()].some((k) => k.startsWith('time_text_embed.guidance_embedder.'))) {
    lin('guidance_in.in_layer', 'time_text_embed.guidance_embedder.linear_1');
    lin('guidance_in.out_layer', 'time_text_embed.guidance_embedder.linear_2');
  }
  lin('final_layer.linear', 'proj_out');
  m.swapHalves('final_layer.adaLN_modulation.1.weight', 'norm_out.linear.weight');
  m.swapHalves('final_layer.adaLN_modulation.1.bias', 'norm_out.linear.bias');

  const count = (p: string) => { const ix = indices(src.keys(), p); return ix.length ? ix[ix.length - 1]! + 1 : 0; };
  for (let i = 0; i < count('transformer_blocks.'); i++) {
    const d = `transformer_blocks.${i}.`;
    const b = `double_blocks.${i}.`;
    lin(`${b}img_mod.lin`, `${d}norm1.linear`);
    lin(`${b}txt_mod.lin`, `${d}norm1_context.linear`);
    for (const w of ['weight', 'bias']) {
      m.concat(`${b}img_attn.qkv.${w}`, ['to_q', 'to_k', 'to_v'].map((p) => `${d}attn.${p}.${w}`));
      m.concat(`${b}txt_attn.qkv.${w}`, ['add_q_proj', 'add_k_proj', 'add_v_proj'].map((p) => `${d}attn.${p}.${w}`));
    }
    m.rename(`${b}img_attn.norm.query_norm.scale`, `${d}attn.norm_q.weight`);
    m.rename(`${b}img_attn.norm.key_norm.scale`, `${d}attn.norm_k.weight`);
    m.rename(`${b}txt_attn.norm.query_norm.scale`, `${d}attn.norm_added_q.weight`);
    m.rename(`${b}txt_attn.norm.key_norm.scale`, `${d}attn.norm_added_k.weight`);
    lin(`${b}img_attn.proj`, `${d}attn.to_out.0`);
    lin(`${b}txt_attn.proj`, `${d}attn.to_add_out`);
    lin(`${b}img_mlp.0`, `${d}ff.net.0.proj`);
    lin(`${b}img_mlp.2`, `${d}ff.net.2`);
    lin(`${b}txt_mlp.0`, `${d}ff_context.net.0.proj`);
    lin(`${b}txt_mlp.2`, `${d}ff_context.net.2`);
  }
  for (let i = 0; i < count('single_transformer_blocks.'); i++) {
    const d = `single_transformer_blocks.${i}.`;
    const b = `single_blocks.${i}.`;
    lin(`${b}modulation.lin`, `${d}norm.linear`);
    for (const w of ['weight', 'bias']) m.concat(`${b}linear1.${w}`, [`${d}attn.to_q.${w}`, `${d}attn.to_k.${w}`, `${d}attn.to_v.${w}`, `${d}proj_mlp.${w}`]);
    m.rename(`${b}norm.query_norm.scale`, `${d}attn.norm_q.weight`);
    m.rename(`${b}norm.key_norm.scale`, `${d}attn.norm_k.weight`);
    lin(`${b}linear2`, `${d}proj_out`);
  }
  return m.out;
}

/** diffusers `AutoencoderKL` names → BFL `ae.safetensors` names. */
export function diffusersAutoencoderToBfl(src: ReadonlyMap<string, TensorInfo>): Mapped {
  const m = new Mapper(src);
  const ups = indices(src.keys(), 'decoder.up_blocks.');
  const nUp = ups.length ? ups[ups.length - 1]! + 1 : 0;
  // diffusers attention is Linear [C, C]; BFL's is a 1×1 conv [C, C, 1, 1]: same bytes.
  const conv1x1 = (s: number[]) => (s.length === 2 ? [...s, 1, 1] : s);
  const rules: [RegExp, (g: string[]) => string][] = [
    [/^(encoder|decoder)\.conv_norm_out\.(.+)$/, (g) => `${g[1]}.norm_out.${g[2]}`],
    [/^(encoder|decoder)\.mid_block\.resnets\.(\d+)\.conv_shortcut\.(.+)$/, (g) => `${g[1]}.mid.block_${Number(g[2]) + 1}.nin_shortcut.${g[3]}`],
    [/^(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)$/, (g) => `${g[1]}.mid.block_${Number(g[2]) + 1}.${g[3]}`],
    [/^(encoder|decoder)\.mid_block\.attentions\.0\.group_norm\.(.+)$/, (g) => `${g[1]}.mid.attn_1.norm.${g[2]}`],
    [/^(encoder|decoder)\.mid_block\.attentions\.0\.(?:to_q|query)\.(.+)$/, (g) => `${g[1]}.mid.attn_1.q.${g[2]}`],
    [/^(encoder|decoder)\.mid_block\.attentions\.0\.(?:to_k|key)\.(.+)$/, (g) => `${g[1]}.mid.attn_1.k.${g[2]}`],
    [/^(encoder|decoder)\.mid_block\.attentions\.0\.(?:to_v|value)\.(.+)$/, (g) => `${g[1]}.mid.attn_1.v.${g[2]}`],
    [/^(encoder|decoder)\.mid_block\.attentions\.0\.(?:to_out\.0|proj_attn)\.(.+)$/, (g) => `${g[1]}.mid.attn_1.proj_out.${g[2]}`],
    [/^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.conv_shortcut\.(.+)$/, (g) => `encoder.down.${g[1]}.block.${g[2]}.nin_shortcut.${g[3]}`],
    [/^encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/, (g) => `encoder.down.${g[1]}.block.${g[2]}.${g[3]}`],
    [/^encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)$/, (g) => `encoder.down.${g[1]}.downsample.conv.${g[2]}`],
    // diffusers runs up_blocks from the lowest resolution; BFL indexes `up` from the highest.
    [/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.conv_shortcut\.(.+)$/, (g) => `decoder.up.${nUp - 1 - Number(g[1])}.block.${g[2]}.nin_shortcut.${g[3]}`],
    [/^decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$/, (g) => `decoder.up.${nUp - 1 - Number(g[1])}.block.${g[2]}.${g[3]}`],
    [/^decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)$/, (g) => `decoder.up.${nUp - 1 - Number(g[1])}.upsample.conv.${g[2]}`],
    [/^((?:encoder|decoder)\.conv_(?:in|out)\..+|(?:post_)?quant_conv\..+)$/, (g) => g[1]!],
  ];
  for (const name of src.keys()) {
    for (const [re, to] of rules) {
      const g = re.exec(name);
      if (!g) continue;
      const bfl = to([...g]);
      m.rename(bfl, name, /\.mid\.attn_1\.(q|k|v|proj_out)\.weight$/.test(bfl) ? conv1x1 : undefined);
      break;
    }
  }
  return m.out;
}
