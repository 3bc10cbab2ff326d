import { prepared, type Db } from './db.js';
import { toFtsQuery } from './fts-query.js';
import { GENERATION_COLUMNS, toGeneration, type GenerationRow } from './rows.js';
import { CatalogError, type Generation, type Page, type SearchQuery, type SortOrder } from './types.js';
import { toMillis } from './validate.js';

// Gallery queries: filters become one WHERE clause with bound parameters, and pages are cut by
// keyset (the last row's sort key and id), so page 500 costs what page 1 costs and rows added
// while scrolling never shift or repeat a page.

interface SortSpec {
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

/** Text matching at least this many rows counts as common (see searchGenerations). */
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

function encodeCursor(sort: SortOrder, key: unknown[]): string {
  return Buffer.from(JSON.stringify({ s: sort, k: key })).toString('base64url');
}

function decodeCursor(sort: SortOrder, cursor: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new CatalogError('the page cursor is not one this catalog made; start again from the first page');
  }
  const c = parsed as { s?: unknown; k?: unknown };
  const spec = SORTS[sort];
  if (typeof c !== 'object' || c === null || c.s !== sort || !Array.isArray(c.k) || c.k.length !== spec.columns.length) {
    throw new CatalogError(`the page cursor belongs to another query (sort '${String(c?.s)}'); start again from the first page`);
  }
  const key = c.k;
  if (!key.slice(0, -1).every((v) => typeof v === 'number' && Number.isFinite(v)) || typeof key[key.length - 1] !== 'string') {
    throw new CatalogError('the page cursor is damaged; start again from the first page');
  }
  return key;
}

function sortKey(sort: SortOrder, r: GenerationRow): unknown[] {
  if (sort === 'rating') return [r.rating, r.created_at, r.id];
  if (sort === 'favorites') return [r.favorite, r.created_at, r.id];
  return [r.created_at, r.id];
}

/**
 * Text that matches few rows is fastest driven from the full-text index (look up and sort the
 * matches); text that matches many is fastest walking the sort index and keeping the first rows
 * that match, which stops after a page. One bounded count decides. Either way only the page's row
 * ids are sorted; the columns (and tags) are read for those rows alone.
 */
export function searchGenerations(db: Db, q: SearchQuery = {}): Page<Generation> {
  const sort = q.sort ?? 'newest';
  // hasOwn: a sort named 'constructor' must be refused, not found on the prototype.
  const spec = typeof sort === 'string' && Object.hasOwn(SORTS, sort) ? SORTS[sort] : undefined;
  if (!spec) throw new CatalogError(`unknown sort '${String(sort)}'; use newest, oldest, rating or favorites`);
  const limit = q.limit === undefined ? 100 : checkInt('limit', q.limit, 1, MAX_PAGE);
  const match = typeof q.text === 'string' ? toFtsQuery(q.text) : null;
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
  let inner = `SELECT g.seq AS seq FROM generations g WHERE ${where.sql}`;
  const params = [...where.params];
  if (q.cursor !== undefined && q.cursor !== null && q.cursor !== '') {
    // Row values compare lexicographically, which is exactly "after this row" in sort order.
    const cols = spec.columns.join(', ');
    inner += ` AND (${cols}) ${spec.descending ? '<' : '>'} (${spec.columns.map(() => '?').join(', ')})`;
    params.push(...decodeCursor(sort, q.cursor));
  }
  const dir = spec.descending ? 'DESC' : 'ASC';
  const order = `ORDER BY ${spec.columns.map((c) => `${c} ${dir}`).join(', ')}`;
  inner += ` ${order} LIMIT ?`;
  params.push(limit + 1);
  const sql = `SELECT ${GENERATION_COLUMNS} FROM (${inner}) s JOIN generations g ON g.seq = s.seq
    LEFT JOIN projects p ON p.id = g.project_id ${order}`;
  const rows = prepared(db, sql).all(...params) as GenerationRow[];
  const more = rows.length > limit;
  const pageRows = more ? rows.slice(0, limit) : rows;
  const last = pageRows[pageRows.length - 1];
  return { items: pageRows.map(toGeneration), nextCursor: more && last ? encodeCursor(sort, sortKey(sort, last)) : null };
}
