import { prepared, type Db } from './db.js';
import { toFtsQuery } from './fts-query.js';
import { GENERATION_COLUMNS, toGeneration, type GenerationRow } from './rows.js';
import { matchesInIndexOrder, type Position } from './search-text.js';
import { CatalogError, type Generation, type Page, type SearchQuery, type SortOrder } from './types.js';
import { toMillis } from './validate.js';

// Gallery queries: filters become one WHERE clause with bound parameters, and pages are cut by
// keyset (the last row's sort key and id), so page 500 costs what page 1 costs and rows added
// while scrolling never shift or repeat a page. A far jump (the scroll bar dragged to 70 %) asks
// for the page at a row number instead (`at`): SQLite counts its way there, so its cost grows
// with the row number, but only as a walk along an index: about 0.1 µs a row when the filters are
// in the index the sort walks (the whole library or one project, any sort; favourites; a text
// search sorted newest or oldest first), a row read per skipped row when a filter is not (a
// resolution, a backend…). The page it returns carries a keyset cursor, so scrolling on from there
// costs what any page does.

export interface SortSpec {
  columns: string[]; // sort key, id last so ties have a stable order
  descending: boolean;
}

const SORTS: Record<SortOrder, SortSpec> = {
  newest: { columns: ['g.created_at', 'g.id'], descending: true },
  oldest: { columns: ['g.created_at', 'g.id'], descending: false },
  rating: { columns: ['g.rating', 'g.created_at', 'g.id'], descending: true },
  favorites: { columns: ['g.favorite', 'g.created_at', 'g.id'], descending: true },
};

export const MAX_PAGE = 1000;
/** Largest row number `at` accepts: well past any library, small enough to stay exact. */
export const MAX_AT = 1_000_000_000;

export interface Where {
  sql: string;
  params: unknown[];
}

function checkInt(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CatalogError(`search filter '${field}' must be a whole number from ${min} to ${max} (got ${JSON.stringify(v)})`);
  }
  return v;
}

function checkText(field: string, v: unknown): string {
  if (typeof v !== 'string') throw new CatalogError(`search filter '${field}' must be text`);
  return v;
}

/** Text matching at least this many rows counts as common (see orderedByIndex). */
const COMMON_MATCHES = 2000;

/**
 * The WHERE clause for every filter of a query (not the cursor). `commonText` marks the text
 * condition with unary + so SQLite cannot drive the query from the full-text matches and walks the
 * sort index instead.
 */
export function buildWhere(q: SearchQuery, opts: { commonText?: boolean; commonTags?: boolean } = {}): Where {
  const parts: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, ...values: unknown[]) => {
    parts.push(sql);
    params.push(...values);
  };
  add(q.trashed ? 'g.trashed_at IS NOT NULL' : 'g.trashed_at IS NULL');
  if (q.text !== undefined) {
    const match = toFtsQuery(checkText('text', q.text));
    if (match !== null) add(`${opts.commonText ? '+' : ''}g.seq IN (SELECT rowid FROM generations_fts WHERE generations_fts MATCH ?)`, match);
  }
  if (q.project === null) add('g.project_id IS NULL');
  else if (q.project !== undefined) add('g.project_id = (SELECT id FROM projects WHERE name = ?)', checkText('project', q.project).trim());
  if (q.width !== undefined) add('g.width = ?', checkInt('width', q.width, 1, 65535));
  if (q.height !== undefined) add('g.height = ?', checkInt('height', q.height, 1, 65535));
  if (q.seed !== undefined) add('g.seed = ?', checkInt('seed', q.seed, 0, Number.MAX_SAFE_INTEGER));
  if (q.finishReason !== undefined) add('g.finish_reason = ?', checkText('finishReason', q.finishReason));
  if (q.backend !== undefined) add('g.backend = ?', checkText('backend', q.backend));
  if (q.model !== undefined) add('g.model = ?', checkText('model', q.model));
  if (q.source !== undefined) add('g.source = ?', checkText('source', q.source));
  for (const tag of q.tags ?? []) {
    add(`${opts.commonTags ? '+' : ''}g.seq IN (SELECT generation_seq FROM generation_tags WHERE tag_id = (SELECT id FROM tags WHERE name = ?))`, checkText('tags', tag).trim());
  }
  // A literal, not a parameter, so SQLite can pick the partial index of favourites.
  if (q.favorite !== undefined) add(q.favorite ? 'g.favorite = 1' : 'g.favorite = 0');
  if (q.rating !== undefined) add('g.rating = ?', checkInt('rating', q.rating, 0, 5));
  if (q.minRating !== undefined) add('g.rating >= ?', checkInt('minRating', q.minRating, 0, 5));
  if (q.since !== undefined) add('g.created_at >= ?', toMillis('since', q.since, 0));
  if (q.until !== undefined) add('g.created_at < ?', toMillis('until', q.until, 0));
  return { sql: parts.join(' AND '), params };
}

function encodeCursor(sort: SortOrder, key: unknown[], position?: number): string {
  return Buffer.from(JSON.stringify({ s: sort, k: key, ...(position !== undefined ? { a: position } : {}) })).toString('base64url');
}

function decodeCursor(sort: SortOrder, cursor: string): Position {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new CatalogError('the page cursor is not one this catalog made; start again from the first page');
  }
  const c = parsed as { s?: unknown; k?: unknown; a?: unknown };
  const spec = SORTS[sort];
  if (typeof c !== 'object' || c === null || c.s !== sort || !Array.isArray(c.k) || c.k.length !== spec.columns.length) {
    throw new CatalogError(`the page cursor belongs to another query (sort '${String(c?.s)}'); start again from the first page`);
  }
  const key = c.k;
  if (
    !key.slice(0, -1).every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    typeof key[key.length - 1] !== 'string' ||
    (c.a !== undefined && !Number.isSafeInteger(c.a))
  ) {
    throw new CatalogError('the page cursor is damaged; start again from the first page');
  }
  return { key, ...(typeof c.a === 'number' ? { seq: c.a } : {}) };
}

function sortKey(sort: SortOrder, r: GenerationRow): unknown[] {
  if (sort === 'rating') return [r.rating, r.created_at, r.id];
  if (sort === 'favorites') return [r.favorite, r.created_at, r.id];
  return [r.created_at, r.id];
}

/**
 * One page of the gallery: `limit` rows after `cursor`, or from row number `at` (not both).
 * A text search sorted newest or oldest first reads the full-text matches in the index's own
 * order and stops after the page (search-text.ts); any other query walks the sort index. Either
 * way only the page's row ids are found first; the columns (and tags) are read for those rows alone.
 */
export function searchGenerations(db: Db, q: SearchQuery = {}): Page<Generation> {
  const sort = q.sort ?? 'newest';
  // hasOwn: a sort named 'constructor' must be refused, not found on the prototype.
  const spec = typeof sort === 'string' && Object.hasOwn(SORTS, sort) ? SORTS[sort] : undefined;
  if (!spec) throw new CatalogError(`unknown sort '${String(sort)}'; use newest, oldest, rating or favorites`);
  const limit = q.limit === undefined ? 100 : checkInt('limit', q.limit, 1, MAX_PAGE);
  const at = q.at === undefined ? 0 : checkInt('at', q.at, 0, MAX_AT);
  const hasCursor = q.cursor !== undefined && q.cursor !== null && q.cursor !== '';
  if (hasCursor && q.at !== undefined) throw new CatalogError("give either 'cursor' (the next page) or 'at' (a row number), not both");
  const after = hasCursor ? decodeCursor(sort, checkText('cursor', q.cursor)) : undefined;
  const match = typeof q.text === 'string' ? toFtsQuery(q.text) : null;

  let seqs: number[];
  let position: number | undefined;
  if ((sort === 'newest' || sort === 'oldest') && (match !== null || bySeq(q))) {
    // seed and dates are the filters outside the narrow covering index (schema v5).
    const covered = q.seed === undefined && q.since === undefined && q.until === undefined;
    const where = buildWhere({ ...q, text: undefined });
    const found = matchesInIndexOrder(db, { where, covered, match, descending: spec.descending, after, at, count: limit + 1 });
    seqs = found.seqs;
    position = found.position;
  } else {
    seqs = orderedByIndex(db, q, spec, match, after, at, limit + 1);
  }
  const more = seqs.length > limit;
  const rows = readRows(db, more ? seqs.slice(0, limit) : seqs);
  const last = rows[rows.length - 1];
  return { items: rows.map(toGeneration), nextCursor: more && last ? encodeCursor(sort, sortKey(sort, last), position) : null };
}

/**
 * A gallery sorted by date whose filters are all outside the date indexes (a resolution, a
 * backend, a finish reason, a model, a source, a least rating) is read in seq order from the
 * narrow covering index (search-text.ts): a filter that keeps one row in nine reads nine narrow
 * entries a row instead of nine rows. A project, favourites, the trash, tags, a seed or dates have
 * their own indexes (or are not covered) and keep the walk along them.
 */
function bySeq(q: SearchQuery): boolean {
  const offIndex = [q.width, q.height, q.backend, q.finishReason, q.model, q.source, q.minRating].some((v) => v !== undefined);
  const ownIndex = [q.project, q.favorite, q.tags, q.seed, q.since, q.until, q.rating].some((v) => v !== undefined) || q.trashed === true;
  return offIndex && !ownIndex;
}

/**
 * Text that matches few rows is fastest driven from the full-text index (look up and sort the
 * matches); text that matches many is fastest walking the sort index and keeping the first rows
 * that match, which stops after a page. One bounded count decides.
 */
function orderedByIndex(db: Db, q: SearchQuery, spec: SortSpec, match: string | null, after: Position | undefined, at: number, count: number): number[] {
  const commonText =
    match !== null &&
    (prepared(db, `SELECT count(*) AS n FROM (SELECT 1 FROM generations_fts WHERE generations_fts MATCH ? LIMIT ${COMMON_MATCHES})`).get(match) as { n: number }).n >=
      COMMON_MATCHES;
  // Tags the same way: a tag on thousands of rows is found fastest by walking the sort index (the
  // counters say how many carry it); a rare one by sorting the few rows that carry it.
  const commonTags =
    Array.isArray(q.tags) &&
    q.tags.length > 0 &&
    q.tags.every((t) => typeof t === 'string') &&
    ((prepared(db, "SELECT min(coalesce(c.n, 0)) AS n FROM json_each(?) j LEFT JOIN tags t ON t.name = trim(j.value) LEFT JOIN facet_counts c ON c.facet = 'tag' AND c.value = t.id").get(
      JSON.stringify(q.tags),
    ) as { n: number | null }).n ?? 0) >= COMMON_MATCHES;
  const where = buildWhere(q, { commonText, commonTags });
  let sql = `SELECT g.seq AS seq FROM generations g WHERE ${where.sql}`;
  const params = [...where.params];
  if (after) {
    // Row values compare lexicographically, which is exactly "after this row" in sort order.
    sql += ` AND (${spec.columns.join(', ')}) ${spec.descending ? '<' : '>'} (${spec.columns.map(() => '?').join(', ')})`;
    params.push(...after.key);
  }
  const dir = spec.descending ? 'DESC' : 'ASC';
  sql += ` ORDER BY ${spec.columns.map((c) => `${c} ${dir}`).join(', ')} LIMIT ? OFFSET ?`;
  params.push(count, at);
  return (prepared(db, sql).all(...params) as { seq: number }[]).map((r) => r.seq);
}

/** The rows of `seqs`, in that order. */
function readRows(db: Db, seqs: number[]): GenerationRow[] {
  if (seqs.length === 0) return [];
  const rows = prepared(
    db,
    `SELECT ${GENERATION_COLUMNS} FROM json_each(?) j CROSS JOIN generations g ON g.seq = j.value
      LEFT JOIN projects p ON p.id = g.project_id ORDER BY j.key`,
  ).all(JSON.stringify(seqs)) as GenerationRow[];
  return rows;
}
