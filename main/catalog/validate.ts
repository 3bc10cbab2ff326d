import { isId } from './ids.js';
import { CatalogError, type Backend, type ImageFormat, type NewGeneration, type Source } from './types.js';

// Field checks with one sentence per failure, naming the field. Prompts may be long (other tools'
// files carry whole essays) but not unbounded; names that show up in menus are kept short.
export const MAX_PROMPT_CHARS = 1_000_000;
/** The longest text each field takes; an imported file's longer text is cut to fit (library/metadata.ts). */
export const TEXT_LIMITS = {
  prompt: MAX_PROMPT_CHARS,
  negativePrompt: MAX_PROMPT_CHARS,
  sampler: 64,
  model: 512,
  device: 256,
  fallbackReason: 4096,
  jobId: 64,
} as const;
const CONTROL = /[\u0000-\u001f\u007f]/;

function fail(field: string, rule: string): never {
  throw new CatalogError(`generation field '${field}' ${rule}`);
}

function intIn(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(field, `must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  return v;
}

function optionalText(field: string, v: unknown, max: number): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') fail(field, `must be text (got ${typeof v})`);
  if (v.length > max) fail(field, `must be at most ${max} characters (got ${v.length})`);
  return v;
}

/** A short name shown in menus: a project, a tag. */
export function checkName(kind: 'project' | 'tag', v: unknown): string {
  if (typeof v !== 'string') throw new CatalogError(`a ${kind} name must be text`);
  const name = v.trim();
  const max = kind === 'tag' ? 64 : 128;
  if (name.length === 0) throw new CatalogError(`a ${kind} name cannot be empty`);
  if (name.length > max) throw new CatalogError(`the ${kind} name '${name.slice(0, 40)}…' is longer than ${max} characters`);
  if (CONTROL.test(name)) throw new CatalogError(`the ${kind} name ${JSON.stringify(name)} contains control characters`);
  if (kind === 'tag' && name.includes(',')) throw new CatalogError(`the tag ${JSON.stringify(name)} contains a comma; commas separate tags`);
  return name;
}

export function toMillis(field: string, v: number | string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms) || ms < 0 || ms > 8.64e15) fail(field, `must be a date (got ${JSON.stringify(v)})`);
  return Math.round(ms);
}

export interface CheckedGeneration extends Required<Omit<NewGeneration, 'createdAt' | 'favorite' | 'tags' | 'id'>> {
  id: string | null;
  createdAt: number;
  favorite: boolean;
  tags: string[];
}

const BACKENDS: Backend[] = ['local', 'cloud', 'imported'];
const FORMATS: ImageFormat[] = ['png', 'jpeg'];
export const SOURCES: Source[] = ['ui', 'cli', 'api', 'studio', 'a1111', 'comfyui', 'invokeai', 'unknown'];
/** The sources that mean "made by this studio" (the rest were read from another tool's file). */
export const OWN_SOURCES: Source[] = ['ui', 'cli', 'api', 'studio'];

export function checkGeneration(g: NewGeneration, now = Date.now()): CheckedGeneration {
  if (typeof g !== 'object' || g === null) throw new CatalogError('a generation must be an object');
  if (g.id !== undefined && !isId(g.id)) fail('id', 'must be a 26-character generation id');
  if (typeof g.prompt !== 'string') fail('prompt', 'must be text');
  if (g.prompt.length > MAX_PROMPT_CHARS) fail('prompt', `must be at most ${MAX_PROMPT_CHARS} characters (got ${g.prompt.length})`);
  const negativePrompt = optionalText('negativePrompt', g.negativePrompt, TEXT_LIMITS.negativePrompt) ?? '';
  const cfgScale = g.cfgScale ?? null;
  if (cfgScale !== null && (typeof cfgScale !== 'number' || !Number.isFinite(cfgScale))) fail('cfgScale', 'must be a finite number');
  const seed = g.seed ?? null;
  if (seed !== null && (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0)) fail('seed', `must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER} (got ${JSON.stringify(seed)})`);
  const durationMs = g.durationMs ?? null;
  if (durationMs !== null && (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0)) fail('durationMs', 'must be a number of milliseconds, 0 or more');
  const finishReason = g.finishReason ?? 'SUCCESS';
  if (typeof finishReason !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(finishReason)) fail('finishReason', `must be a word like SUCCESS or CONTENT_FILTERED (got ${JSON.stringify(finishReason)})`);
  const model = optionalText('model', g.model, TEXT_LIMITS.model);
  if (!model || model.trim() === '') fail('model', 'must name the model');
  if (!BACKENDS.includes(g.backend)) fail('backend', `must be one of ${BACKENDS.join(', ')} (got ${JSON.stringify(g.backend)})`);
  if (!FORMATS.includes(g.format)) fail('format', `must be png or jpeg (got ${JSON.stringify(g.format)})`);
  if (typeof g.imageHash !== 'string' || !/^[0-9a-f]{64}$/.test(g.imageHash)) fail('imageHash', 'must be a lowercase hex SHA-256');
  const source = g.source ?? 'studio';
  if (!SOURCES.includes(source)) fail('source', `must be one of ${SOURCES.join(', ')}`);
  const parentId = g.parentId ?? null;
  if (parentId !== null && !isId(parentId)) fail('parentId', 'must be a generation id');
  const jobId = optionalText('jobId', g.jobId, TEXT_LIMITS.jobId);
  if (g.tags !== undefined && !Array.isArray(g.tags)) fail('tags', 'must be a list of tag names');
  // Tag names are unique without regard to case: keep the first spelling of each.
  const seen = new Set<string>();
  const tags = (g.tags ?? []).map((t) => checkName('tag', t)).filter((t) => !seen.has(t.toLowerCase()) && seen.add(t.toLowerCase()));
  return {
    id: g.id ?? null,
    prompt: g.prompt,
    negativePrompt,
    width: intIn('width', g.width, 1, 65535),
    height: intIn('height', g.height, 1, 65535),
    steps: g.steps === undefined || g.steps === null ? null : intIn('steps', g.steps, 0, 10000),
    cfgScale,
    sampler: optionalText('sampler', g.sampler, TEXT_LIMITS.sampler),
    samples: g.samples === undefined ? 1 : intIn('samples', g.samples, 1, 10000),
    seed,
    sampleIndex: g.sampleIndex === undefined ? 0 : intIn('sampleIndex', g.sampleIndex, 0, 9999),
    finishReason,
    model,
    backend: g.backend,
    device: optionalText('device', g.device, TEXT_LIMITS.device),
    durationMs: durationMs === null ? null : Math.round(durationMs),
    fallbackReason: optionalText('fallbackReason', g.fallbackReason, TEXT_LIMITS.fallbackReason),
    imageHash: g.imageHash,
    format: g.format,
    favorite: g.favorite === undefined ? false : g.favorite === true,
    rating: g.rating === undefined ? 0 : intIn('rating', g.rating, 0, 5),
    parentId,
    project: g.project === undefined || g.project === null ? null : checkName('project', g.project),
    jobId,
    tags,
    source,
    createdAt: toMillis('createdAt', g.createdAt, now),
  };
}
