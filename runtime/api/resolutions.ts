// The (width, height) pairs the contract supports, and the mapping from an `aspect_ratio` (the
// newer Fireworks field) to the nearest of them.

export interface Resolution {
  width: number;
  height: number;
}

export const SUPPORTED_RESOLUTIONS: readonly Resolution[] = Object.freeze([
  { width: 1024, height: 1024 },
  { width: 1152, height: 896 },
  { width: 896, height: 1152 },
  { width: 1216, height: 832 },
  { width: 832, height: 1216 },
  { width: 1344, height: 768 },
  { width: 768, height: 1344 },
  { width: 1536, height: 640 },
  { width: 640, height: 1536 },
]);

export const MIN_SIDE = 512;
export const MAX_SIDE = 1536;
export const DEFAULT_RESOLUTION: Resolution = { width: 1024, height: 1024 };

/**
 * Sizes a local model renders (\`schnell generate\`, the studio): any multiple of 16 (one latent
 * patch) from 16 to 4096 pixels. The server and the cloud keep to the nine sizes above.
 */
export const LOCAL_MIN_SIDE = 16;
export const LOCAL_MAX_SIDE = 4096;
export const LOCAL_SIDE_STEP = 16;

export function isLocalSize(width: number, height: number): boolean {
  return [width, height].every((v) => Number.isInteger(v) && v >= LOCAL_MIN_SIDE && v <= LOCAL_MAX_SIDE && v % LOCAL_SIDE_STEP === 0);
}

export function isSupportedResolution(width: number, height: number): boolean {
  return SUPPORTED_RESOLUTIONS.some((r) => r.width === width && r.height === height);
}

export function describeResolutions(): string {
  return SUPPORTED_RESOLUTIONS.map((r) => `${r.width}x${r.height}`).join(', ');
}

/**
 * Parses "16:9" / "16/9" / "1.777" into a positive ratio (width ÷ height), or null. Sides must be
 * positive finite numbers; the result is bounded so silly inputs cannot make NaN downstream.
 */
export function parseAspectRatio(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:[:/x]\s*(\d+(?:\.\d+)?))?\s*$/i.exec(text);
  if (!m) return null;
  const w = Number(m[1]);
  const h = m[2] === undefined ? 1 : Number(m[2]);
  if (!Number.isFinite(w) || !Number.isFinite(h) || w <= 0 || h <= 0) return null;
  const ratio = w / h;
  return ratio > 0 && Number.isFinite(ratio) ? ratio : null;
}

/** The supported pair whose aspect is nearest on a log scale (so 2:1 and 1:2 are equally far from 1:1). */
export function nearestResolution(ratio: number): Resolution {
  let best = SUPPORTED_RESOLUTIONS[0]!;
  let bestDistance = Infinity;
  for (const r of SUPPORTED_RESOLUTIONS) {
    const d = Math.abs(Math.log(r.width / r.height) - Math.log(ratio));
    if (d < bestDistance) {
      best = r;
      bestDistance = d;
    }
  }
  return { ...best };
}
