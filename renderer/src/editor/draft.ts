// The editor's draft and the pure rules around it: what a submit sends, which backend will serve
// and why, and what the model is going to ignore (said in place, before the user waits for it).
import type { BackendAvailability, BackendChoice, GenerationParams, Params } from '../../../main/contract.js';
import { DEFAULT_RESOLUTION, SUPPORTED_RESOLUTIONS } from '../../../runtime/api/resolutions.js';

export type SamplerName = 'K_EULER' | 'K_DPMPP_2M';
export const SAMPLER_LABELS: Record<SamplerName, string> = { K_EULER: 'Euler', K_DPMPP_2M: 'DPM++ 2M' };
export const RESOLUTIONS = SUPPORTED_RESOLUTIONS;
export const MAX_SEED = 0xffff_ffff;

export interface Draft {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  /** random: a new seed each run; locked: `seed` every run. */
  seedMode: 'random' | 'locked';
  seed: number;
  samples: number;
  sampler: SamplerName;
  cfgScale: number;
  safetyCheck: boolean;
  backend: BackendChoice;
  /** Set while the draft is a remix of that generation. */
  parentId: string | null;
  project: string | null;
}

export function defaultDraft(): Draft {
  return {
    prompt: '',
    negativePrompt: '',
    width: DEFAULT_RESOLUTION.width,
    height: DEFAULT_RESOLUTION.height,
    steps: 4,
    seedMode: 'random',
    seed: 0,
    samples: 1,
    sampler: 'K_EULER',
    cfgScale: 1,
    safetyCheck: false,
    backend: 'auto',
    parentId: null,
    project: null,
  };
}

export function randomSeed(): number {
  const a = new Uint32Array(1);
  crypto.getRandomValues(a);
  return a[0]! === 0 ? 1 : a[0]!;
}

/** Applies a request's fields (a remix, a project's defaults) over a draft. */
export function withParams(d: Draft, p: Partial<GenerationParams>): Draft {
  const next = { ...d };
  if (p.prompt !== undefined) next.prompt = p.prompt;
  if (p.negativePrompt !== undefined) next.negativePrompt = p.negativePrompt;
  if (p.width !== undefined && p.height !== undefined && RESOLUTIONS.some((r) => r.width === p.width && r.height === p.height)) {
    next.width = p.width;
    next.height = p.height;
  }
  if (p.steps !== undefined) next.steps = p.steps;
  if (p.seed !== undefined && p.seed > 0) {
    next.seed = p.seed;
    next.seedMode = 'locked';
  }
  if (p.samples !== undefined) next.samples = p.samples;
  if (p.sampler) next.sampler = p.sampler;
  if (p.cfgScale !== undefined) next.cfgScale = p.cfgScale;
  if (p.safetyCheck !== undefined) next.safetyCheck = p.safetyCheck;
  return next;
}

/** A project's stored defaults (checked by the catalog, typed loosely by the contract) as editor fields. */
export function applyDefaults(d: Draft, defaults: Record<string, unknown>): Draft {
  const num = (k: string) => (typeof defaults[k] === 'number' ? (defaults[k] as number) : undefined);
  const p: Partial<GenerationParams> = {};
  for (const k of ['width', 'height', 'steps', 'samples', 'cfgScale'] as const) {
    const v = num(k);
    if (v !== undefined) p[k] = v;
  }
  if (typeof defaults.negativePrompt === 'string') p.negativePrompt = defaults.negativePrompt;
  if (defaults.sampler === 'K_EULER' || defaults.sampler === 'K_DPMPP_2M') p.sampler = defaults.sampler;
  if (typeof defaults.safetyCheck === 'boolean') p.safetyCheck = defaults.safetyCheck;
  const next = withParams(d, p);
  if (defaults.backend === 'auto' || defaults.backend === 'local' || defaults.backend === 'cloud') next.backend = defaults.backend;
  if (defaults.seedPolicy === 'random') next.seedMode = 'random';
  return next;
}

/** The editor's settings worth keeping as a project's defaults (not the prompt or seed). */
export function draftDefaults(d: Draft): Record<string, unknown> {
  return {
    width: d.width, height: d.height, steps: d.steps, samples: d.samples, sampler: d.sampler, cfgScale: d.cfgScale,
    safetyCheck: d.safetyCheck, backend: d.backend, ...(d.negativePrompt.trim() ? { negativePrompt: d.negativePrompt } : {}),
  };
}

/** The submit call for this draft (a random seed is left to the studio, which records the one it used). */
export function toSubmit(d: Draft): Params<'generate.submit'> {
  const request: GenerationParams = {
    prompt: d.prompt,
    width: d.width,
    height: d.height,
    steps: d.steps,
    samples: d.samples,
    sampler: d.sampler,
    cfgScale: d.cfgScale,
    safetyCheck: d.safetyCheck,
  };
  if (d.negativePrompt.trim()) request.negativePrompt = d.negativePrompt;
  if (d.seedMode === 'locked' && d.seed > 0) request.seed = d.seed;
  return { request, backend: d.backend, project: d.project, parentId: d.parentId };
}

/** The first problem that stops a submit, in one sentence, or null. */
export function blocker(d: Draft): string | null {
  if (!d.prompt.trim()) return 'Write a prompt first.';
  if (d.seedMode === 'locked' && (!Number.isInteger(d.seed) || d.seed < 1 || d.seed > MAX_SEED)) return `The seed must be a whole number from 1 to ${MAX_SEED}.`;
  if (!Number.isInteger(d.steps) || d.steps < 1 || d.steps > 50) return 'Steps must be from 1 to 50.';
  return null;
}

/** Where a run with this choice goes now, and why, in a few words. */
export function servingSummary(choice: BackendChoice, b: BackendAvailability | null): { servedBy: 'local' | 'cloud' | null; text: string } {
  if (!b) return { servedBy: null, text: 'Checking what can serve…' };
  const localWhy = b.local.reason ?? 'the local model is not ready';
  const cloudWhy = b.cloud.reason ?? 'no Fireworks key is set';
  if (choice === 'local') {
    return b.local.ok
      ? { servedBy: 'local', text: `Runs here on ${b.local.device} with ${b.local.model ?? 'the local model'}.` }
      : { servedBy: null, text: `Cannot run here: ${localWhy}.` };
  }
  if (choice === 'cloud') {
    return b.cloud.ok ? { servedBy: 'cloud', text: 'Runs on Fireworks (cloud).' } : { servedBy: null, text: `Cannot use the cloud: ${cloudWhy}.` };
  }
  if (b.auto === 'local') return { servedBy: 'local', text: `Auto: runs here on ${b.local.device}${b.cloud.ok ? ', cloud as fallback' : ''}.` };
  if (b.auto === 'cloud') return { servedBy: 'cloud', text: `Auto: runs on Fireworks, because ${localWhy}.` };
  return { servedBy: null, text: `Nothing can serve: ${localWhy}, and ${cloudWhy}.` };
}

/** What the model will ignore or do differently with these settings, one sentence each. */
export function explanations(d: Draft, b: BackendAvailability | null): string[] {
  const out: string[] = [];
  const where = servingSummary(d.backend, b).servedBy;
  if (d.negativePrompt.trim() && d.cfgScale <= 1) {
    out.push('The negative prompt is ignored at CFG scale 1 or below; raise CFG above 1 to use it (each step then runs the model twice).');
  }
  if (d.cfgScale > 1 && where === 'local' && b?.local.untrained) {
    out.push('CFG has no useful effect on the untrained demo model: it makes noise either way, at twice the cost per step.');
  } else if (d.cfgScale > 1) {
    out.push('FLUX.1 schnell is distilled for CFG 1: a higher scale doubles the work per step and rarely helps.');
  }
  if (d.steps > 8) out.push('schnell is distilled for about 4 steps: beyond 8 the image barely changes and each step costs the same.');
  if (where === 'local' && b?.local.untrained) out.push('The demo model is untrained: it makes colour noise whatever the prompt, and every image is labelled untrained.');
  if (d.samples > 1) out.push(`Image i of ${d.samples} uses seed + i, so each can be made again on its own.`);
  return out;
}

/** A chip's shape: the aspect ratio reduced ("16:9"-like) for its label. */
export function aspectLabel(w: number, h: number): string {
  const g = (a: number, b: number): number => (b === 0 ? a : g(b, a % b));
  const d = g(w, h);
  const [a, b] = [w / d, h / d];
  const known: Record<string, string> = { '1:1': '1:1', '9:7': '9:7', '7:9': '7:9', '19:13': '3:2', '13:19': '2:3', '7:4': '16:9', '4:7': '9:16', '12:5': '21:9', '5:12': '9:21' };
  return known[`${a}:${b}`] ?? `${a}:${b}`;
}
