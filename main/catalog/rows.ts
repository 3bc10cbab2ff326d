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

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function toGeneration(r: GenerationRow): Generation {
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
