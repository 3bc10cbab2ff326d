// What the weights cannot show. Defaults are FLUX.1's; a model folder's `schnell-model.json` or a
// conformance `goldens.json` (`transformer.params`, `ae.params`) overrides them.
export interface ModelConfig {
  /** RoPE axes split of the head dimension (time, row, column); must sum to the head width. */
  axes_dim: number[];
  /** RoPE base frequency. */
  theta: number;
  /** Autoencoder latent scaling: decode(z / scale_factor + shift_factor). */
  scale_factor: number;
  shift_factor: number;
}

export const DEFAULT_MODEL_CONFIG: ModelConfig = Object.freeze({
  axes_dim: [16, 56, 56],
  theta: 10000,
  scale_factor: 0.3611,
  shift_factor: 0.1159,
}) as ModelConfig;

/** Merges overrides (unknown keys ignored) and checks each value, naming what is wrong. */
export function resolveModelConfig(overrides: Partial<Record<keyof ModelConfig, unknown>> = {}, source = 'model config'): ModelConfig {
  const cfg: ModelConfig = { ...DEFAULT_MODEL_CONFIG, axes_dim: [...DEFAULT_MODEL_CONFIG.axes_dim] };
  if (overrides.axes_dim !== undefined) {
    const a = overrides.axes_dim;
    if (!Array.isArray(a) || a.length === 0 || !a.every((x) => Number.isInteger(x) && x > 0 && x % 2 === 0)) {
      throw new Error(`${source}: axes_dim must be a list of positive even integers, got ${JSON.stringify(a)}`);
    }
    cfg.axes_dim = a as number[];
  }
  for (const k of ['theta', 'scale_factor'] as const) {
    const v = overrides[k];
    if (v !== undefined) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${source}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
      cfg[k] = v;
    }
  }
  if (overrides.shift_factor !== undefined) {
    const v = overrides.shift_factor;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${source}: shift_factor must be a number, got ${JSON.stringify(v)}`);
    cfg.shift_factor = v;
  }
  return cfg;
}
