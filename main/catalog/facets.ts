import { prepared, type Db } from './db.js';
import { toFtsQuery } from './fts-query.js';
import { buildWhere } from './search.js';
import type { FacetCount, Facets, SearchQuery } from './types.js';

// Counts for the gallery's sidebar, in three ways by cost:
// - the whole library, or one project (or "no project"), with no other filter: the counters that
//   the facet triggers keep (schema v3 and v5), a read of a few dozen rows at any library size;
// - any other filter: the matching rows are counted, at most SAMPLE of them. A full-text search for
//   a common word matches tens of thousands of rows in a million, and counting each costs a lookup,
//   so past SAMPLE the counts cover the SAMPLE most recently added matches: `exact` is false and
//   every count is a lower bound ("at least"). `textMatches` then says how many generations the
//   words match in all (from the full-text index alone, so the trash and other filters are not
//   subtracted), for a line such as "about 50,000 matches".

/** Most rows a filtered count reads (see above). */
export const FACET_SAMPLE = 2000;

const byCount = <K>(a: FacetCount<K>, b: FacetCount<K>) => b.count - a.count || String(a.value).localeCompare(String(b.value));

type Filters = Omit<SearchQuery, 'sort' | 'cursor' | 'limit'>;

const isSet = (v: unknown) => v !== undefined && !(Array.isArray(v) && v.length === 0);

export interface FacetOptions {
  /** false: count the rows even where counters would answer (tests compare the two). */
  counters?: boolean;
  /** Rows read at most for a filtered count (default FACET_SAMPLE). */
  sample?: number;
}

export function facetCounts(db: Db, q: SearchQuery = {}, opts: FacetOptions = {}): Facets {
  const { sort: _s, cursor: _c, limit: _l, ...filters } = q;
  const set = Object.entries(filters).filter(([, v]) => isSet(v)).map(([k]) => k);
  const text = typeof filters.text === 'string' ? toFtsQuery(filters.text) : null;
  // Text that reduces to no words (punctuation only) filters nothing, as in searchGenerations.
  const active = set.filter((k) => !(k === 'text' && text === null) && !(k === 'trashed' && filters.trashed === false));
  if (opts.counters !== false) {
    if (active.length === 0) return fromCounters(db, 'facet_counts', []);
    if (active.length === 1 && active[0] === 'project') {
      const project = filters.project === null ? { id: 0, name: null } : projectOf(db, filters.project!);
      if (project === undefined) return empty(true);
      return fromCounters(db, 'project_facet_counts', [project.id], project.name);
    }
  }
  return fromRows(db, filters, text, opts.sample ?? FACET_SAMPLE);
}

function projectOf(db: Db, name: string): { id: number; name: string } | undefined {
  if (typeof name !== 'string') return undefined;
  return prepared(db, 'SELECT id, name FROM projects WHERE name = ?').get(name.trim()) as { id: number; name: string } | undefined;
}

function empty(exact: boolean): Facets {
  return { total: 0, projects: [], backends: [], models: [], finishReasons: [], resolutions: [], tags: [], favorites: 0, ratings: [], sources: [], exact, counted: 0 };
}

function fromCounters(db: Db, table: 'facet_counts' | 'project_facet_counts', params: unknown[], project?: string | null): Facets {
  const sql =
    table === 'facet_counts'
      ? 'SELECT facet, value, n FROM facet_counts WHERE n > 0'
      : 'SELECT facet, value, n FROM project_facet_counts WHERE project_id = ? AND n > 0';
  return toFacets(db, prepared(db, sql).all(...params) as { facet: string; value: string | number; n: number }[], project);
}

/** Facets from (facet, value, n) triples; project and tag values are ids, named here. */
function toFacets(db: Db, rows: { facet: string; value: string | number | null; n: number }[], project: string | null | undefined, exact = true, counted?: number): Facets {
  const of = (facet: string) => rows.filter((r) => r.facet === facet && r.n > 0);
  const counts = (facet: string) => of(facet).map((r) => ({ value: String(r.value), count: r.n })).sort(byCount);
  const total = of('total')[0]?.n ?? 0;
  const projectNames = names(db, 'projects', of('project').map((r) => Number(r.value)));
  const tagNames = names(db, 'tags', of('tag').map((r) => Number(r.value)));
  return {
    total,
    projects:
      project !== undefined
        ? total > 0 ? [{ value: project, count: total }] : []
        : of('project').map((r) => ({ value: Number(r.value) === 0 || r.value === null ? null : projectNames.get(Number(r.value)) ?? null, count: r.n })).sort(byCount),
    backends: counts('backend'),
    models: counts('model'),
    finishReasons: counts('finish'),
    resolutions: counts('size'),
    tags: of('tag').flatMap((r) => (tagNames.has(Number(r.value)) ? [{ value: tagNames.get(Number(r.value))!, count: r.n }] : [])).sort(byCount),
    favorites: of('favorite').find((r) => Number(r.value) === 1)?.n ?? 0,
    ratings: of('rating').map((r) => ({ value: Number(r.value), count: r.n })).sort((a, b) => b.value - a.value),
    sources: counts('source'),
    exact,
    counted: counted ?? total,
  };
}

function names(db: Db, table: 'projects' | 'tags', ids: number[]): Map<number, string> {
  if (ids.length === 0) return new Map();
  const rows = prepared(db, `SELECT id, name FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(ids)) as { id: number; name: string }[];
  return new Map(rows.map((r) => [r.id, r.name]));
}

/**
 * Counts over the matching rows, at most `sample` of them (see the top of the file). One
 * statement: the rows are read once into a materialized set, then grouped per facet.
 */
function fromRows(db: Db, filters: Filters, match: string | null, sample: number): Facets {
  let textMatches: number | undefined;
  let where = buildWhere(filters);
  let source = `SELECT g.seq, g.project_id, g.model, g.width, g.height, g.backend, g.finish_reason, g.favorite, g.rating, g.source
     FROM generations g WHERE ${where.sql} LIMIT ${sample + 1}`;
  let capped = (n: number) => n > sample;
  if (match !== null) {
    // The newest-added matches straight from the full-text index (rowid order needs no sort), then
    // the other filters on those rows alone.
    textMatches = (prepared(db, 'SELECT count(*) AS n FROM generations_fts WHERE generations_fts MATCH ?').get(match) as { n: number }).n;
    const { text: _t, ...rest } = filters;
    where = buildWhere(rest);
    where = { sql: where.sql, params: [match, ...where.params] };
    source = `SELECT g.seq, g.project_id, g.model, g.width, g.height, g.backend, g.finish_reason, g.favorite, g.rating, g.source
       FROM generations g ${coverIndex(db)} WHERE g.seq IN (SELECT rowid FROM generations_fts WHERE generations_fts MATCH ? ORDER BY rowid DESC LIMIT ${sample})
       AND ${where.sql}`;
    const matches = textMatches;
    capped = () => matches > sample;
  }
  const rows = prepared(
    db,
    `WITH m AS MATERIALIZED (${source})
     SELECT 'total' AS facet, '' AS value, count(*) AS n FROM m
     UNION ALL SELECT 'project', coalesce(project_id, 0), count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'model', model, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'size', width || 'x' || height, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'backend', backend, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'finish', finish_reason, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'favorite', favorite, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'rating', rating, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'source', source, count(*) FROM m GROUP BY 2
     UNION ALL SELECT 'tag', gt.tag_id, count(*) FROM m CROSS JOIN generation_tags gt ON gt.generation_seq = m.seq GROUP BY 2`,
  ).all(...where.params) as { facet: string; value: string | number; n: number }[];
  const seen = rows.find((r) => r.facet === 'total')?.n ?? 0;
  const over = capped(seen);
  // The sample of a non-text filter read one row past `sample` to learn that there are more.
  const facets = toFacets(db, rows, undefined, !over, seen);
  return textMatches === undefined ? facets : { ...facets, textMatches };
}

const hasCover = new WeakMap<Db, boolean>();

/**
 * SQLite prices a rowid lookup below any index, so it must be told to read the narrow covering
 * index of schema v5 (about seven times fewer pages than the rows). Checked once per connection,
 * so a database without it still works.
 */
export function coverIndex(db: Db): string {
  let has = hasCover.get(db);
  if (has === undefined) {
    has = prepared(db, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'generations_facet_cover'").get() !== undefined;
    hasCover.set(db, has);
  }
  return has ? 'INDEXED BY generations_facet_cover' : '';
}
