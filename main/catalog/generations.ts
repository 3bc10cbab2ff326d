import { prepared, type Db } from './db.js';
import { newId } from './ids.js';
import { GENERATION_COLUMNS, GENERATION_FROM, IMAGE_HASH, storedDate, toGeneration, type GenerationRow } from './rows.js';
import { DuplicateError } from './errors.js';
import { CatalogError, type Generation, type ImageFormat, type Lineage } from './types.js';
import { checkName, type CheckedGeneration } from './validate.js';

// Writes to generations and the tables that hang off them. Lists of ids travel as one JSON array
// parameter (json_each), so a selection of 50,000 needs no statement-size gymnastics.

export interface StoredFile {
  hash: string;
  format: ImageFormat;
}

const MAX_LINEAGE_DEPTH = 1000;
const MAX_REMIXES = 10_000;

export function ensureProject(db: Db, name: string): number {
  const clean = checkName('project', name);
  const found = prepared(db, 'SELECT id FROM projects WHERE name = ?').get(clean) as { id: number } | undefined;
  if (found) return found.id;
  return Number(prepared(db, 'INSERT INTO projects(name, created_at) VALUES (?, ?)').run(clean, Date.now()).lastInsertRowid);
}

function ensureTag(db: Db, name: string): number {
  const clean = checkName('tag', name);
  const found = prepared(db, 'SELECT id FROM tags WHERE name = ?').get(clean) as { id: number } | undefined;
  if (found) return found.id;
  return Number(prepared(db, 'INSERT INTO tags(name) VALUES (?)').run(clean).lastInsertRowid);
}

const withoutNul = (s: string) => (s.includes('\0') ? s.replace(/\0/g, ' ') : s);

/**
 * facet_counts and project_facet_counts changes gathered over a batch of inserts, written once
 * (see schema v3 and v5). project 0 = no project.
 */
export class FacetTally {
  private readonly deltas = new Map<string, { project: number | null; facet: string; value: string | number; n: number }>();

  /** Counts a value library-wide and, unless the facet is the project itself, in `project`. */
  add(facet: string, value: string | number, project?: number): void {
    this.bump(null, facet, value);
    if (project !== undefined) this.bump(project, facet, value);
  }

  private bump(project: number | null, facet: string, value: string | number): void {
    const key = `${project}\u0000${facet}\u0000${typeof value}\u0000${value}`;
    const d = this.deltas.get(key);
    if (d) d.n++;
    else this.deltas.set(key, { project, facet, value, n: 1 });
  }

  flush(db: Db): void {
    const library = prepared(db, 'INSERT INTO facet_counts(facet, value, n) VALUES (?, ?, ?) ON CONFLICT(facet, value) DO UPDATE SET n = n + excluded.n');
    const project = prepared(
      db,
      'INSERT INTO project_facet_counts(project_id, facet, value, n) VALUES (?, ?, ?, ?) ON CONFLICT(project_id, facet, value) DO UPDATE SET n = n + excluded.n',
    );
    for (const d of this.deltas.values()) {
      if (d.project === null) library.run(d.facet, d.value, d.n);
      else project.run(d.project, d.facet, d.value, d.n);
    }
    this.deltas.clear();
  }
}

export interface InsertOptions {
  /**
   * 'refuse' (default): a file already owned by a row (trashed or not) is a DuplicateError.
   * 'copy': the user asked for a second row on the same file (import --keep-duplicates).
   */
  sameFile?: 'refuse' | 'copy';
}

/**
 * Inserts one checked generation inside the caller's transaction and returns its id. The caller
 * flushes `tally` before committing (Catalog.insert / insertMany do). Duplicates are refused here,
 * under the write lock, and by the unique indexes of schema v4 behind that: a check made before the
 * transaction is a race two imports of one folder both win.
 */
export function insertGeneration(db: Db, g: CheckedGeneration, tally: FacetTally, opts: InsertOptions = {}): string {
  const id = g.id ?? newId();
  if (g.parentId !== null && !prepared(db, 'SELECT 1 FROM generations WHERE id = ?').get(g.parentId)) {
    throw new CatalogError(`the parent generation ${g.parentId} is not in the catalog`);
  }
  const owner = prepared(db, 'SELECT id, file_copy, trashed_at FROM generations WHERE image_hash = ? AND image_format = ? ORDER BY file_copy DESC LIMIT 1').get(g.imageHash, g.format) as
    | { id: string; file_copy: number; trashed_at: number | null }
    | undefined;
  let fileCopy = 0;
  if (owner && opts.sameFile === 'copy') fileCopy = owner.file_copy + 1;
  else if (owner) throw duplicateFile(db, g.imageHash, g.format);
  if (g.jobId !== null) {
    const sample = prepared(db, 'SELECT id FROM generations WHERE job_id = ? AND sample_index = ?').get(g.jobId, g.sampleIndex) as { id: string } | undefined;
    if (sample) throw new DuplicateError(`sample ${g.sampleIndex} of job ${g.jobId} is already recorded as ${sample.id}`, sample.id, 'job-sample');
  }
  const projectId = g.project === null ? null : ensureProject(db, g.project);
  let seq: number | bigint;
  try {
    seq = prepared(
      db,
      `INSERT INTO generations(id, project_id, job_id, parent_id, prompt, negative_prompt, width, height, steps, cfg_scale,
         sampler, samples, seed, sample_index, finish_reason, model, backend, device, duration_ms, fallback_reason,
         image_hash, image_format, favorite, rating, created_at, source, file_copy)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      id, projectId, g.jobId, g.parentId, g.prompt, g.negativePrompt, g.width, g.height, g.steps, g.cfgScale,
      g.sampler, g.samples, g.seed, g.sampleIndex, g.finishReason, g.model, g.backend, g.device, g.durationMs, g.fallbackReason,
      g.imageHash, g.format, g.favorite ? 1 : 0, g.rating, g.createdAt, g.source, fileCopy,
    ).lastInsertRowid;
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /image_hash/.test(e.message ?? '')) throw duplicateFile(db, g.imageHash, g.format);
    if (e.code === 'SQLITE_CONSTRAINT_UNIQUE' && /job_id/.test(e.message ?? '')) throw new CatalogError(`sample ${g.sampleIndex} of job ${g.jobId} is already recorded`);
    if (e.code === 'SQLITE_CONSTRAINT_UNIQUE') throw new CatalogError(`a generation with id ${id} is already in the catalog`);
    throw err;
  }
  // A row that needs the file again cancels any deletion a purge had journalled for it.
  prepared(db, 'DELETE FROM file_deletions WHERE image_hash = ? AND image_format = ?').run(g.imageHash, g.format);
  for (const tag of g.tags) {
    prepared(db, 'INSERT OR IGNORE INTO generation_tags(tag_id, generation_seq) VALUES (?, ?)').run(ensureTag(db, tag), seq);
  }
  // Mirrors FACETS in schema.ts, plus source (schema v5); each but the project also per project.
  const p = projectId ?? 0;
  tally.add('total', '', p);
  tally.add('project', p);
  tally.add('model', g.model, p);
  tally.add('size', `${g.width}x${g.height}`, p);
  tally.add('backend', g.backend, p);
  tally.add('finish', g.finishReason, p);
  tally.add('favorite', g.favorite ? 1 : 0, p);
  tally.add('rating', g.rating, p);
  tally.add('source', g.source, p);
  // The full-text row, once, with its tags (schema v3 explains why this is not a trigger).
  prepared(db, 'INSERT INTO generations_fts(rowid, prompt, negative_prompt, tags) VALUES (?, ?, ?, ?)').run(
    seq, withoutNul(g.prompt), withoutNul(g.negativePrompt), g.tags.join(' '),
  );
  return id;
}

export function getGenerations(db: Db, ids: string[]): Generation[] {
  const rows = prepared(db, `SELECT ${GENERATION_COLUMNS} FROM ${GENERATION_FROM} WHERE g.id IN (SELECT value FROM json_each(?))`).all(
    JSON.stringify(ids),
  ) as GenerationRow[];
  const byId = new Map(rows.map((r) => [r.id, toGeneration(r)]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** Throws naming the first id the catalog does not hold. */
export function requireIds(db: Db, ids: string[]): void {
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')) throw new CatalogError('generation ids must be a list of text ids');
  const found = new Set(
    (prepared(db, 'SELECT id FROM generations WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids)) as { id: string }[]).map((r) => r.id),
  );
  const missing = ids.find((id) => !found.has(id));
  if (missing !== undefined) throw new CatalogError(`no generation with id ${JSON.stringify(missing)} in this catalog`);
}

function updateMany(db: Db, sql: string, ids: string[], ...params: unknown[]): number {
  requireIds(db, ids);
  return prepared(db, `${sql} AND id IN (SELECT value FROM json_each(?))`).run(...params, JSON.stringify(ids)).changes;
}

export function setFavorite(db: Db, ids: string[], favorite: boolean): number {
  return updateMany(db, 'UPDATE generations SET favorite = ? WHERE favorite != ?', ids, favorite ? 1 : 0, favorite ? 1 : 0);
}

export function setRating(db: Db, ids: string[], rating: number): number {
  if (!Number.isInteger(rating) || rating < 0 || rating > 5) throw new CatalogError(`a rating must be a whole number from 0 (unrated) to 5 (got ${JSON.stringify(rating)})`);
  return updateMany(db, 'UPDATE generations SET rating = ? WHERE rating != ?', ids, rating, rating);
}

export function setProject(db: Db, ids: string[], project: string | null): number {
  const projectId = project === null ? null : ensureProject(db, project);
  return updateMany(db, 'UPDATE generations SET project_id = ? WHERE project_id IS NOT ?', ids, projectId, projectId);
}

/** Links a remix to its source after the fact (an import that brought the child before the parent). */
export function setParent(db: Db, id: string, parentId: string | null): number {
  if (parentId !== null) requireIds(db, [parentId]);
  if (parentId === id) throw new CatalogError('a generation cannot be its own parent');
  return updateMany(db, 'UPDATE generations SET parent_id = ? WHERE parent_id IS NOT ?', [id], parentId, parentId);
}

export function trash(db: Db, ids: string[], now = Date.now()): number {
  return updateMany(db, 'UPDATE generations SET trashed_at = ? WHERE trashed_at IS NULL', ids, now);
}

export function restore(db: Db, ids: string[]): number {
  return updateMany(db, 'UPDATE generations SET trashed_at = NULL WHERE trashed_at IS NOT NULL', ids);
}

export function markMissing(db: Db, ids: string[], missing: boolean, now = Date.now()): number {
  return missing
    ? updateMany(db, 'UPDATE generations SET missing_at = ? WHERE missing_at IS NULL', ids, now)
    : updateMany(db, 'UPDATE generations SET missing_at = NULL WHERE missing_at IS NOT NULL', ids);
}

export function addTags(db: Db, ids: string[], tags: string[]): number {
  requireIds(db, ids);
  let added = 0;
  for (const tag of tags) {
    const tagId = ensureTag(db, tag);
    added += prepared(
      db,
      'INSERT OR IGNORE INTO generation_tags(tag_id, generation_seq) SELECT ?, seq FROM generations WHERE id IN (SELECT value FROM json_each(?))',
    ).run(tagId, JSON.stringify(ids)).changes;
  }
  return added;
}

export function removeTags(db: Db, ids: string[], tags: string[]): number {
  requireIds(db, ids);
  let removed = 0;
  for (const tag of tags) {
    removed += prepared(
      db,
      `DELETE FROM generation_tags WHERE tag_id = (SELECT id FROM tags WHERE name = ?)
         AND generation_seq IN (SELECT seq FROM generations WHERE id IN (SELECT value FROM json_each(?)))`,
    ).run(checkName('tag', tag), JSON.stringify(ids)).changes;
  }
  // A tag nobody carries is noise in the facet list.
  prepared(db, 'DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
  return removed;
}

/**
 * Deletes trashed rows (all of the trash when ids is undefined) and journals every file no row
 * references any more; returns those files for the caller to remove. Refuses rows that are not in
 * the trash, so nothing is purged by a slip of the finger.
 */
export function purgeRows(db: Db, ids?: string[], now = Date.now()): { purged: string[]; files: StoredFile[] } {
  let rows: { id: string; image_hash: string; image_format: ImageFormat }[];
  if (ids === undefined) {
    rows = prepared(db, 'DELETE FROM generations WHERE trashed_at IS NOT NULL RETURNING id, image_hash, image_format').all() as typeof rows;
  } else {
    requireIds(db, ids);
    const live = prepared(db, 'SELECT id FROM generations WHERE trashed_at IS NULL AND id IN (SELECT value FROM json_each(?)) LIMIT 1').get(
      JSON.stringify(ids),
    ) as { id: string } | undefined;
    if (live) throw new CatalogError(`generation ${live.id} is not in the trash; trash it first, then purge`);
    rows = prepared(db, 'DELETE FROM generations WHERE id IN (SELECT value FROM json_each(?)) RETURNING id, image_hash, image_format').all(
      JSON.stringify(ids),
    ) as typeof rows;
  }
  const files = new Map<string, StoredFile>();
  for (const r of rows) files.set(`${r.image_hash}.${r.image_format}`, { hash: r.image_hash, format: r.image_format });
  // Only names of our files are journalled: a tampered hash must never become a path to delete.
  const orphaned = [...files.values()].filter(
    (f) => typeof f.hash === 'string' && IMAGE_HASH.test(f.hash) && (f.format === 'png' || f.format === 'jpeg') && !prepared(db, 'SELECT 1 FROM generations WHERE image_hash = ? AND image_format = ?').get(f.hash, f.format),
  );
  for (const f of orphaned) {
    prepared(db, 'INSERT OR IGNORE INTO file_deletions(image_hash, image_format, queued_at) VALUES (?, ?, ?)').run(f.hash, f.format, now);
  }
  prepared(db, 'DELETE FROM tags WHERE id NOT IN (SELECT tag_id FROM generation_tags)').run();
  return { purged: rows.map((r) => r.id), files: orphaned };
}

/**
 * Points an existing row at another file: the row whose own file went missing, met again as an
 * exported copy (which carries the row's id but, its metadata rewritten, different bytes).
 */
export function relinkFile(db: Db, id: string, hash: string, format: ImageFormat): void {
  requireIds(db, [id]);
  const owner = prepared(db, 'SELECT id FROM generations WHERE image_hash = ? AND image_format = ? AND id != ? LIMIT 1').get(hash, format, id) as { id: string } | undefined;
  if (owner) throw duplicateFile(db, hash, format);
  prepared(db, 'UPDATE generations SET image_hash = ?, image_format = ?, file_copy = 0, missing_at = NULL WHERE id = ?').run(hash, format, id);
  prepared(db, 'DELETE FROM file_deletions WHERE image_hash = ? AND image_format = ?').run(hash, format);
}

function duplicateFile(db: Db, hash: string, format: ImageFormat): DuplicateError {
  const r = prepared(db, 'SELECT id, trashed_at FROM generations WHERE image_hash = ? AND image_format = ? ORDER BY file_copy LIMIT 1').get(hash, format) as
    | { id: string; trashed_at: number | null }
    | undefined;
  const id = r?.id ?? '(unknown)';
  const where = r?.trashed_at != null ? ` (in the trash: 'schnell library restore ${id}' brings it back)` : '';
  return new DuplicateError(`this image is already in the library as ${id}${where}`, id, 'file');
}

export function lineage(db: Db, id: string): Lineage {
  requireIds(db, [id]);
  const ancestors = prepared(
    db,
    `WITH RECURSIVE up(id, depth) AS (
       SELECT parent_id, 1 FROM generations WHERE id = ? AND parent_id IS NOT NULL
       UNION ALL
       SELECT g.parent_id, up.depth + 1 FROM generations g JOIN up ON g.id = up.id
         WHERE g.parent_id IS NOT NULL AND up.depth < ${MAX_LINEAGE_DEPTH})
     SELECT ${GENERATION_COLUMNS} FROM up JOIN generations g ON g.id = up.id LEFT JOIN projects p ON p.id = g.project_id ORDER BY up.depth`,
  ).all(id) as GenerationRow[];
  const remixes = prepared(
    db,
    `WITH RECURSIVE down(id, depth) AS (
       SELECT id, 1 FROM generations WHERE parent_id = ?
       UNION ALL
       SELECT g.id, down.depth + 1 FROM generations g JOIN down ON g.parent_id = down.id WHERE down.depth < ${MAX_LINEAGE_DEPTH})
     SELECT ${GENERATION_COLUMNS}, down.depth AS depth FROM down JOIN generations g ON g.id = down.id LEFT JOIN projects p ON p.id = g.project_id
     ORDER BY down.depth, g.created_at, g.id LIMIT ${MAX_REMIXES}`,
  ).all(id) as (GenerationRow & { depth: number })[];
  return {
    ancestors: ancestors.map(toGeneration),
    remixes: remixes.map((r) => ({ ...toGeneration(r), depth: r.depth })),
  };
}
