import { samplerCode, type Fields } from './a1111.js';

// Generations described by other tools' PNG chunks: ComfyUI's `prompt` (the API graph it ran) and
// InvokeAI's `invokeai_metadata`. Both are JSON anyone can write, so every value is type-checked
// and range-checked; anything odd is left out with a warning rather than trusted.

export function asInt(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined;
}

export function asNumber(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function asText(v: unknown, max: number): string | undefined {
  return typeof v === 'string' && v.length <= max ? v : undefined;
}

export function parseJsonObject(text: string, what: string, warnings: string[]): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    warnings.push(`the ${what} metadata is not a JSON object; ignored`);
  } catch {
    warnings.push(`the ${what} metadata is not valid JSON; ignored`);
  }
  return undefined;
}

function clean(fields: Fields): Fields {
  for (const k of Object.keys(fields) as (keyof Fields)[]) if (fields[k] === undefined) delete fields[k];
  return fields;
}

const seedOf = (v: unknown) => asInt(v, 0, Number.MAX_SAFE_INTEGER);

// ---- ComfyUI ----------------------------------------------------------------------------------

interface ComfyNode {
  class_type?: unknown;
  inputs?: Record<string, unknown>;
}

const isLink = (v: unknown): v is [string | number, number] =>
  Array.isArray(v) && v.length === 2 && (typeof v[0] === 'string' || typeof v[0] === 'number') && typeof v[1] === 'number';

const SAMPLER_CLASSES = ['KSampler', 'KSamplerAdvanced', 'SamplerCustom', 'SamplerCustomAdvanced'];
const MAX_DEPTH = 32;

export function parseComfyPrompt(text: string, warnings: string[]): Fields | undefined {
  const graph = parseJsonObject(text, 'ComfyUI', warnings);
  if (!graph) return undefined;
  const node = (ref: unknown): ComfyNode | undefined => {
    const n = isLink(ref) ? graph[String(ref[0])] : undefined;
    return typeof n === 'object' && n !== null ? (n as ComfyNode) : undefined;
  };
  const inputsOf = (n: ComfyNode | undefined) => (n && typeof n.inputs === 'object' && n.inputs !== null ? n.inputs : {});
  // A value is either literal or a link to the node that makes it; follow links to a literal.
  const value = (ref: unknown, keys: string[], depth = 0): unknown => {
    if (!isLink(ref)) return ref;
    if (depth > MAX_DEPTH) return undefined;
    const inputs = inputsOf(node(ref));
    for (const k of keys) if (k in inputs) return value(inputs[k], keys, depth + 1);
    return undefined;
  };
  // Conditioning chains (FluxGuidance, ConditioningCombine, …) end at a text encoder.
  const textOf = (ref: unknown, depth = 0): string | undefined => {
    if (depth > MAX_DEPTH || !isLink(ref)) return undefined;
    const inputs = inputsOf(node(ref));
    for (const k of ['text', 't5xxl', 'text_g', 'clip_l', 'prompt']) {
      const v = value(inputs[k], ['text', 'value', 'string', 'prompt']);
      if (typeof v === 'string') return v;
    }
    for (const [k, v] of Object.entries(inputs)) if (/conditioning|positive/.test(k) && isLink(v)) return textOf(v, depth + 1);
    return undefined;
  };

  const nodes = Object.entries(graph)
    .filter(([, n]) => typeof n === 'object' && n !== null)
    .sort(([a], [b]) => Number(a) - Number(b) || a.localeCompare(b)) as [string, ComfyNode][];
  const sampler = nodes.find(([, n]) => typeof n.class_type === 'string' && SAMPLER_CLASSES.includes(n.class_type))?.[1];
  const fields: Fields = {};
  if (!sampler) {
    const encoder = nodes.find(([, n]) => typeof n.class_type === 'string' && n.class_type.startsWith('CLIPTextEncode'));
    const t = encoder && textOf([encoder[0], 0]);
    if (t === undefined) {
      warnings.push('the ComfyUI graph has no sampler or text encoder node; no prompt found');
      return undefined;
    }
    return { prompt: t }; // cut to the limit, with a warning, by metadata.ts fitToLimits
  }
  const s = inputsOf(sampler);
  const guider = inputsOf(node(s.guider));
  fields.prompt = textOf(s.positive) ?? textOf(guider.positive) ?? textOf(guider.conditioning) ?? '';
  fields.negativePrompt = textOf(s.negative) ?? textOf(guider.negative) ?? '';
  const seed = value(s.seed ?? s.noise_seed ?? inputsOf(node(s.noise)).noise_seed, ['seed', 'noise_seed', 'value']);
  fields.seed = seedOf(seed);
  if (seed !== undefined && fields.seed === undefined) warnings.push(`the ComfyUI seed ${JSON.stringify(seed)} is not a usable seed; ignored`);
  const scheduler = inputsOf(node(s.sigmas));
  fields.steps = asInt(value(s.steps ?? scheduler.steps, ['steps', 'value']), 0, 10000);
  fields.cfgScale = asNumber(value(s.cfg ?? guider.cfg, ['cfg', 'value']));
  const samplerName = value(s.sampler_name ?? inputsOf(node(s.sampler)).sampler_name, ['sampler_name', 'value']);
  if (typeof samplerName === 'string') fields.sampler = samplerCode(samplerName).slice(0, 64);
  const latent = inputsOf(node(s.latent_image));
  fields.width = asInt(value(latent.width, ['width', 'value']), 1, 65535);
  fields.height = asInt(value(latent.height, ['height', 'value']), 1, 65535);
  fields.samples = asInt(value(latent.batch_size, ['batch_size', 'value']), 1, 10000);
  const loader = nodes.find(([, n]) => typeof inputsOf(n).ckpt_name === 'string' || typeof inputsOf(n).unet_name === 'string')?.[1];
  const model = asText(inputsOf(loader).ckpt_name ?? inputsOf(loader).unet_name, 512);
  if (model) fields.model = model;
  return clean(fields);
}

// ---- InvokeAI ---------------------------------------------------------------------------------

export function parseInvokeMetadata(text: string, warnings: string[]): Fields | undefined {
  const m = parseJsonObject(text, 'InvokeAI', warnings);
  if (!m) return undefined;
  const prompt = asText(m.positive_prompt, Infinity); // cut to the limit later (metadata.ts fitToLimits)
  if (prompt === undefined) {
    warnings.push('the InvokeAI metadata has no positive_prompt text; ignored');
    return undefined;
  }
  const model = typeof m.model === 'string' ? m.model : (m.model as { name?: unknown; model_name?: unknown } | null)?.name ?? (m.model as { model_name?: unknown } | null)?.model_name;
  const seed = seedOf(m.seed);
  if (m.seed !== undefined && seed === undefined) warnings.push(`the InvokeAI seed ${JSON.stringify(m.seed)} is not a usable seed; ignored`);
  return clean({
    prompt,
    negativePrompt: asText(m.negative_prompt, Infinity),
    seed,
    width: asInt(m.width, 1, 65535),
    height: asInt(m.height, 1, 65535),
    steps: asInt(m.steps, 0, 10000),
    cfgScale: asNumber(m.cfg_scale),
    sampler: typeof m.scheduler === 'string' ? samplerCode(m.scheduler).slice(0, 64) : undefined,
    model: asText(model, 512),
  });
}
