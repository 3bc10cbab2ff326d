import { CatalogDamageError, REPAIR_COMMAND } from './errors.js';
import type { Backend, Generation, ImageFormat, Source } from './types.js';

// How a generations row is read: one column list shared by every query, so a page, a search and a
// single lookup return the same shape.
export const GENERATION_COLUMNS = `
  g.seq, g.id, g.prompt, g.negative_prompt, g.width, g.height, g.steps, g.cfg_scale, g.sampler,
  g.samples, g.seed, g.sample_index, g.finish_reason, g.model, g.backend, g.device, g.duration_ms,
  g.fallback_reason, g.image_hash, g.image_format, g.favorite, g.rating, g.parent_id, g.job_id,
  g.source, g.created_at, g.trashed_at, g.missing_at, p.name AS project,
  (SELECT group_concat(t.name, char(31)) FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id
    WHERE gt.generation_seq = g.seq) AS tags`;

export const GENERATION_FROM = 'generations g LEFT JOIN projects p ON p.id = g.project_id';

export interface GenerationRow {
  seq: number;
  id: string;
  prompt: string;
  negative_prompt: string;
  width: number;
  height: number;
  steps: number | null;
  cfg_scale: number | null;
  sampler: string | null;
  samples: number;
  seed: number | null;
  sample_index: number;
  finish_reason: string;
  model: string;
  backend: string;
  device: string | null;
  duration_ms: number | null;
  fallback_reason: string | null;
  image_hash: string;
  image_format: string;
  favorite: number;
  rating: number;
  parent_id: string | null;
  job_id: string | null;
  source: string;
  created_at: number;
  trashed_at: number | null;
  missing_at: number | null;
  project: string | null;
  tags: string | null;
}

/** How each column must look when read back; a value that does not is damage (see checkRow). */
export type ColumnKind = 'text' | 'text?' | 'int' | 'int?' | 'real?' | 'date' | 'date?' | 'hash' | 'format';

export const COLUMN_KINDS: [column: keyof GenerationRow & string, field: string, kind: ColumnKind][] = [
  ['prompt', 'prompt', 'text'], ['negative_prompt', 'negativePrompt', 'text'], ['width', 'width', 'int'], ['height', 'height', 'int'],
  ['steps', 'steps', 'int?'], ['cfg_scale', 'cfgScale', 'real?'], ['sampler', 'sampler', 'text?'], ['samples', 'samples', 'int'],
  ['seed', 'seed', 'int?'], ['sample_index', 'sampleIndex', 'int'], ['finish_reason', 'finishReason', 'text'], ['model', 'model', 'text'],
  ['backend', 'backend', 'text'], ['device', 'device', 'text?'], ['duration_ms', 'durationMs', 'int?'], ['fallback_reason', 'fallbackReason', 'text?'],
  ['image_hash', 'imageHash', 'hash'], ['image_format', 'format', 'format'], ['favorite', 'favorite', 'int'], ['rating', 'rating', 'int'],
  ['parent_id', 'parentId', 'text?'], ['job_id', 'jobId', 'text?'], ['source', 'source', 'text'], ['created_at', 'createdAt', 'date'],
  ['trashed_at', 'trashedAt', 'date?'], ['missing_at', 'missingAt', 'date?'], ['project', 'project', 'text?'], ['tags', 'tags', 'text?'],
];

export const MAX_DATE_MS = 8.64e15;
export const IMAGE_HASH = /^[0-9a-f]{64}$/;

/** Whether a value read from the column is what the studio writes there. */
export function validValue(kind: ColumnKind, v: unknown): boolean {
  if (v === null) return kind.endsWith('?');
  switch (kind) {
    case 'text':
    case 'text?':
      return typeof v === 'string';
    case 'int':
    case 'int?':
      return typeof v === 'number' && Number.isSafeInteger(v);
    case 'real?':
      return typeof v === 'number' && Number.isFinite(v);
    case 'date':
    case 'date?':
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_DATE_MS;
    case 'hash':
      return typeof v === 'string' && IMAGE_HASH.test(v);
    case 'format':
      return v === 'png' || v === 'jpeg';
  }
}

function describe(v: unknown): string {
  if (Buffer.isBuffer(v)) return `binary data of ${v.length} bytes`;
  if (typeof v === 'string') return `text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

/** Throws CatalogDamageError naming the row, the field and the repair command for the first damaged value. */
export function checkRow(r: GenerationRow): void {
  const id = typeof r.id === 'string' ? r.id : `#${r.seq}`;
  for (const [column, field, kind] of COLUMN_KINDS) {
    const v = r[column];
    if (!validValue(kind, v)) {
      throw new CatalogDamageError(`the catalog is damaged: generation ${id} has ${describe(v)} as its '${field}'; run '${REPAIR_COMMAND}' to fix it`);
    }
  }
  if (typeof r.id !== 'string') throw new CatalogDamageError(`the catalog is damaged: generation #${r.seq} has no text id; run '${REPAIR_COMMAND}' to fix it`);
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A stored date as ISO text, for tables whose rows are read elsewhere (jobs, projects): a value that
 * is not a date is damage, named with the repair command, never JavaScript's "Invalid time value".
 */
export function storedDate(ms: unknown, what: string): string | null {
  if (ms === null) return null;
  if (!validValue('date', ms)) throw new CatalogDamageError(`the catalog is damaged: ${what} has ${describe(ms)} as a date; run '${REPAIR_COMMAND}' to fix it`);
  return new Date(ms as number).toISOString();
}

export function toGeneration(r: GenerationRow): Generation {
  checkRow(r);
  return {
    id: r.id,
    prompt: r.prompt,
    negativePrompt: r.negative_prompt,
    width: r.width,
    height: r.height,
    steps: r.steps,
    cfgScale: r.cfg_scale,
    sampler: r.sampler,
    samples: r.samples,
    seed: r.seed,
    sampleIndex: r.sample_index,
    finishReason: r.finish_reason,
    model: r.model,
    backend: r.backend as Backend,
    device: r.device,
    durationMs: r.duration_ms,
    fallbackReason: r.fallback_reason,
    imageHash: r.image_hash,
    format: r.image_format as ImageFormat,
    favorite: r.favorite === 1,
    rating: r.rating,
    parentId: r.parent_id,
    project: r.project,
    jobId: r.job_id,
    tags: r.tags ? r.tags.split('\u001f').sort((a, b) => a.localeCompare(b)) : [],
    source: r.source as Source,
    createdAt: iso(r.created_at)!,
    trashedAt: iso(r.trashed_at),
    missingAt: iso(r.missing_at),
  };
}
