// Builds checkpoints in every layout the importer accepts, from the tiny reference fixtures (read
// where they are; written only into temporary folders): loose BFL / Hugging Face files, a ComfyUI
// single file, a diffusers folder, a scaled-FP8 transformer, tokenizer folders — and broken ones.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readSafetensorsHeader, readTensor, readTensorBytes, writeSafetensors, type TensorToWrite } from '../../../runtime/flux/checkpoints/safetensors.js';
import { fp8e4m3ToNumber } from '../../../runtime/flux/checkpoints/dtypes.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
export const tiny = (f: string) => path.join(fixtures, 'flux-tiny', f);

export type Kind = 'transformer' | 'autoencoder' | 't5' | 'clip';
export const PARTS: Record<Kind, string> = {
  transformer: tiny('tiny-flux1-schnell.safetensors'),
  autoencoder: tiny('tiny-ae.safetensors'),
  t5: tiny('tiny-t5xxl.safetensors'),
  clip: tiny('tiny-clip_l.safetensors'),
};
export const KINDS = Object.keys(PARTS) as Kind[];
/** The tiny transformer's RoPE split (goldens.json); what the weights cannot show. */
export const TINY_CONFIG = { axes_dim: [8, 12, 12] };

export function tensorsOf(file: string, rename: (name: string) => string | undefined = (x) => x): TensorToWrite[] {
  return readSafetensorsHeader(file).tensors.flatMap((t) => {
    const name = rename(t.name);
    return name === undefined ? [] : [{ name, dtype: t.dtype, shape: t.shape, data: readTensorBytes(t) }];
  });
}

export function write(dir: string, name: string, tensors: TensorToWrite[]): string {
  const f = path.join(dir, name);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  writeSafetensors(f, tensors);
  return f;
}

/** Real tokenizer files (CLIP vocab.json + merges.txt, T5 tokenizer.json) in `dir/clip` and `dir/t5`. */
export function tokenizers(dir: string, clip = 'tokenizer', t5 = 'tokenizer_2'): void {
  const src = path.join(fixtures, 'tokenizers');
  fs.mkdirSync(path.join(dir, clip), { recursive: true });
  fs.copyFileSync(path.join(src, 'clip', 'vocab.json'), path.join(dir, clip, 'vocab.json'));
  fs.copyFileSync(path.join(src, 'clip', 'merges.txt'), path.join(dir, clip, 'merges.txt'));
  fs.mkdirSync(path.join(dir, t5), { recursive: true });
  fs.copyFileSync(path.join(src, 't5', 'tokenizer.json'), path.join(dir, t5, 'tokenizer.json'));
}

/** Loose files with the released names (T5 and CLIP with their configs beside them). */
export function looseFiles(dir: string, opts: { fp8?: boolean; names?: Partial<Record<Kind, string>> } = {}): Record<Kind, string> {
  fs.mkdirSync(dir, { recursive: true });
  const names: Record<Kind, string> = {
    transformer: opts.fp8 ? 'flux1-schnell-fp8-e4m3fn.safetensors' : 'flux1-schnell.safetensors',
    autoencoder: 'ae.safetensors', t5: 't5xxl_fp16.safetensors', clip: 'clip_l.safetensors', ...opts.names,
  };
  const src: Record<Kind, string> = { ...PARTS, transformer: opts.fp8 ? tiny('tiny-flux1-schnell-fp8-e4m3fn.safetensors') : PARTS.transformer };
  const out = {} as Record<Kind, string>;
  for (const k of KINDS) {
    out[k] = path.join(dir, names[k]);
    fs.copyFileSync(src[k], out[k]);
  }
  fs.copyFileSync(tiny('tiny-t5xxl.config.json'), out.t5.replace(/\.safetensors$/, '.config.json'));
  fs.copyFileSync(tiny('tiny-clip_l.config.json'), out.clip.replace(/\.safetensors$/, '.config.json'));
  return out;
}

const COMFY_PREFIX: Record<Kind, string> = {
  transformer: 'model.diffusion_model.',
  autoencoder: 'vae.',
  clip: 'text_encoders.clip_l.transformer.text_model.',
  t5: 'text_encoders.t5xxl.transformer.',
};

/** A ComfyUI single file holding `kinds` under ComfyUI's prefixes. */
export function comfyFile(dir: string, kinds: Kind[] = KINDS, name = 'flux1-schnell-fp8.safetensors'): string {
  return write(dir, name, kinds.flatMap((k) => tensorsOf(PARTS[k], (x) => COMFY_PREFIX[k] + x)));
}

/** Scaled FP8 as ComfyUI writes it: e4m3 weights divided by a per-tensor scale, plus a marker. */
export function scaledFp8Transformer(dir: string, name = 'flux1-schnell-fp8-scaled.safetensors'): string {
  const grid: [number, number][] = [];
  for (let b = 0; b < 256; b++) if (b !== 0x7f && b !== 0xff && b !== 0x80) grid.push([fp8e4m3ToNumber(b), b]);
  grid.sort((a, b) => a[0] - b[0]);
  const nearest = (x: number) => {
    let best = grid[0]!;
    for (const g of grid) if (Math.abs(g[0] - x) < Math.abs(best[0] - x)) best = g;
    return best[1];
  };
  const out: TensorToWrite[] = [{ name: 'scaled_fp8', dtype: 'F8_E4M3', shape: [0], data: new Uint8Array(0) }];
  for (const t of readSafetensorsHeader(PARTS.transformer).tensors) {
    const values = readTensor(t);
    if (t.shape.length !== 2) {
      out.push({ name: t.name, dtype: 'F32', shape: t.shape, data: values });
      continue;
    }
    const scale = Math.fround(values.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 448) || 1;
    out.push({ name: t.name, dtype: 'F8_E4M3', shape: t.shape, data: Uint8Array.from(values, (v) => nearest(v / scale)) });
    out.push({ name: `${t.name.slice(0, -'weight'.length)}scale_weight`, dtype: 'F32', shape: [], data: new Float32Array([scale]) });
  }
  return write(dir, name, out);
}

/** diffusers' names for the transformer (scripts/convert_flux_to_diffusers.py, inverted). */
function toDiffusersTransformer(): TensorToWrite[] {
  const h = readSafetensorsHeader(PARTS.transformer);
  const get = (name: string) => ({ t: h.byName.get(name)!, bytes: readTensorBytes(h.byName.get(name)!) });
  const rows = (name: string, r0: number, r1: number, as: string): TensorToWrite => {
    const { t, bytes } = get(name);
    const rb = bytes.length / t.shape[0]!;
    return { name: as, dtype: t.dtype, shape: [r1 - r0, ...t.shape.slice(1)], data: bytes.slice(r0 * rb, r1 * rb) };
  };
  const same = (name: string, as: string): TensorToWrite => ({ name: as, dtype: get(name).t.dtype, shape: get(name).t.shape, data: get(name).bytes });
  const out: TensorToWrite[] = [];
  const lin = (from: string, to: string) => out.push(same(`${from}.weight`, `${to}.weight`), same(`${from}.bias`, `${to}.bias`));
  lin('img_in', 'x_embedder');
  lin('txt_in', 'context_embedder');
  lin('time_in.in_layer', 'time_text_embed.timestep_embedder.linear_1');
  lin('time_in.out_layer', 'time_text_embed.timestep_embedder.linear_2');
  lin('vector_in.in_layer', 'time_text_embed.text_embedder.linear_1');
  lin('vector_in.out_layer', 'time_text_embed.text_embedder.linear_2');
  lin('final_layer.linear', 'proj_out');
  for (const w of ['weight', 'bias']) {
    const n = get(`final_layer.adaLN_modulation.1.${w}`).t.shape[0]!;
    const shift = rows(`final_layer.adaLN_modulation.1.${w}`, 0, n / 2, '');
    const scale = rows(`final_layer.adaLN_modulation.1.${w}`, n / 2, n, '');
    out.push({ ...shift, name: `norm_out.linear.${w}`, shape: [n, ...shift.shape.slice(1)], data: Buffer.concat([scale.data as Uint8Array, shift.data as Uint8Array]) });
  }
  const hidden = h.byName.get('img_in.weight')!.shape[0]!;
  for (let i = 0; i < 2; i++) {
    const b = `double_blocks.${i}.`;
    const d = `transformer_blocks.${i}.`;
    lin(`${b}img_mod.lin`, `${d}norm1.linear`);
    lin(`${b}txt_mod.lin`, `${d}norm1_context.linear`);
    for (const w of ['weight', 'bias']) {
      ['to_q', 'to_k', 'to_v'].forEach((p, j) => out.push(rows(`${b}img_attn.qkv.${w}`, j * hidden, (j + 1) * hidden, `${d}attn.${p}.${w}`)));
      ['add_q_proj', 'add_k_proj', 'add_v_proj'].forEach((p, j) => out.push(rows(`${b}txt_attn.qkv.${w}`, j * hidden, (j + 1) * hidden, `${d}attn.${p}.${w}`)));
    }
    out.push(same(`${b}img_attn.norm.query_norm.scale`, `${d}attn.norm_q.weight`), same(`${b}img_attn.norm.key_norm.scale`, `${d}attn.norm_k.weight`));
    out.push(same(`${b}txt_attn.norm.query_norm.scale`, `${d}attn.norm_added_q.weight`), same(`${b}txt_attn.norm.key_norm.scale`, `${d}attn.norm_added_k.weight`));
    lin(`${b}img_attn.proj`, `${d}attn.to_out.0`);
    lin(`${b}txt_attn.proj`, `${d}attn.to_add_out`);
    lin(`${b}img_mlp.0`, `${d}ff.net.0.proj`);
    lin(`${b}img_mlp.2`, `${d}ff.net.2`);
    lin(`${b}txt_mlp.0`, `${d}ff_context.net.0.proj`);
    lin(`${b}txt_mlp.2`, `${d}ff_context.net.2`);
  }
  for (let i = 0; i < 2; i++) {
    const b = `single_blocks.${i}.`;
    const d = `single_transformer_blocks.${i}.`;
    lin(`${b}modulation.lin`, `${d}norm.linear`);
    for (const w of ['weight', 'bias']) {
      const total = h.byName.get(`${b}linear1.${w}`)!.shape[0]!;
      ['attn.to_q', 'attn.to_k', 'attn.to_v'].forEach((p, j) => out.push(rows(`${b}linear1.${w}`, j * hidden, (j + 1) * hidden, `${d}${p}.${w}`)));
      out.push(rows(`${b}linear1.${w}`, 3 * hidden, total, `${d}proj_mlp.${w}`));
    }
    out.push(same(`${b}norm.query_norm.scale`, `${d}attn.norm_q.weight`), same(`${b}norm.key_norm.scale`, `${d}attn.norm_k.weight`));
    lin(`${b}linear2`, `${d}proj_out`);
  }
  return out;
}

function toDiffusersVae(): TensorToWrite[] {
  const levels = 4;
  return tensorsOf(PARTS.autoencoder, (name) => name
    .replace(/^decoder\.up\.(\d+)\./, (_, l: string) => `decoder.up_blocks.${levels - 1 - Number(l)}.`)
    .replace(/^encoder\.down\.(\d+)\./, 'encoder.down_blocks.$1.')
    .replace(/\.block\.(\d+)\./, '.resnets.$1.')
    .replace('.nin_shortcut.', '.conv_shortcut.')
    .replace('.upsample.conv.', '.upsamplers.0.conv.')
    .replace('.downsample.conv.', '.downsamplers.0.conv.')
    .replace('.mid.block_1.', '.mid_block.resnets.0.')
    .replace('.mid.block_2.', '.mid_block.resnets.1.')
    .replace('.mid.attn_1.norm.', '.mid_block.attentions.0.group_norm.')
    .replace(/\.mid\.attn_1\.(q|k|v)\./, '.mid_block.attentions.0.to_$1.')
    .replace('.mid.attn_1.proj_out.', '.mid_block.attentions.0.to_out.0.')
    .replace(/^(encoder|decoder)\.norm_out\./, '$1.conv_norm_out.'))
    .map((t) => (/attentions\.0\.to_.*weight$/.test(t.name) ? { ...t, shape: t.shape.slice(0, 2) } : t));
}

/** A diffusers folder: sharded transformer with its index, configs, text encoders, tokenizers. */
export function diffusersFolder(dir: string): string {
  const tr = toDiffusersTransformer();
  const half = Math.ceil(tr.length / 2);
  write(dir, 'transformer/diffusion_pytorch_model-00001-of-00002.safetensors', tr.slice(0, half));
  write(dir, 'transformer/diffusion_pytorch_model-00002-of-00002.safetensors', tr.slice(half));
  fs.writeFileSync(path.join(dir, 'transformer/diffusion_pytorch_model.safetensors.index.json'), JSON.stringify({
    metadata: {}, weight_map: Object.fromEntries(tr.map((t, i) => [t.name, `diffusion_pytorch_model-0000${i < half ? 1 : 2}-of-00002.safetensors`])),
  }));
  fs.writeFileSync(path.join(dir, 'transformer/config.json'), JSON.stringify({ _class_name: 'FluxTransformer2DModel', axes_dims_rope: [8, 12, 12], num_layers: 2 }));
  write(dir, 'vae/diffusion_pytorch_model.safetensors', toDiffusersVae());
  fs.writeFileSync(path.join(dir, 'vae/config.json'), JSON.stringify({ _class_name: 'AutoencoderKL', scaling_factor: 0.5, shift_factor: 0.25 }));
  write(dir, 'text_encoder/model.safetensors', tensorsOf(PARTS.clip, (x) => `text_model.${x}`));
  fs.copyFileSync(tiny('tiny-clip_l.config.json'), path.join(dir, 'text_encoder/config.json'));
  write(dir, 'text_encoder_2/model.safetensors', tensorsOf(PARTS.t5));
  fs.copyFileSync(tiny('tiny-t5xxl.config.json'), path.join(dir, 'text_encoder_2/config.json'));
  tokenizers(dir);
  fs.writeFileSync(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'FluxPipeline' }));
  return dir;
}
