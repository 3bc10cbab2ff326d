import { prepared, type Db } from './db.js';
import { buildWhere } from './search.js';
import type { FacetCount, Facets, SearchQuery } from './types.js';

// Counts for the gallery's sidebar. The whole library (no filters) reads the counters that
// triggers keep (schema v3); a filtered view groups the matching rows, the flags sharing one
// grouping so four facets cost one pass.

const byCount = <K>(a: FacetCount<K>, b: FacetCount<K>) => b.count - a.count || String(a.value).localeCompare(String(b.value));

export function facetCounts(db: Db, q: SearchQuery = {}, opts: { counters?: boolean } = {}): Facets {
  const { sort: _s, cursor: _c, limit: _l, ...filters } = q;
  const where = buildWhere(filters);
  if (where.params.length === 0 && !filters.trashed && opts.counters !== false) return fromCounters(db);
  const all = <T>(sql: string) => prepared(db, sql).all(...where.params) as T[];

  const projects = all<{ name: string | null; count: number }>(
    `SELECT p.name AS name, c.count AS count FROM
       (SELECT g.project_id AS project_id, count(*) AS count FROM generations g WHERE ${where.sql} GROUP BY g.project_id) c
     LEFT JOIN projects p ON p.id = c.project_id`,
  );
  const models = all<{ value: string; count: number }>(
    `SELECT g.model AS value, count(*) AS count FROM generations g WHERE ${where.sql} GROUP BY g.model`,
  );
  const sizes = all<{ width: number; height: number; count: number }>(
    `SELECT g.width AS width, g.height AS height, count(*) AS count FROM generations g WHERE ${where.sql} GROUP BY g.width, g.height`,
  );
  const flags = all<{ backend: string; finish_reason: string; favorite: number; rating: number; count: number }>(
    `SELECT g.backend AS backend, g.finish_reason AS finish_reason, g.favorite AS favorite, g.rating AS rating, count(*) AS count
     FROM generations g WHERE ${where.sql} GROUP BY g.backend, g.finish_reason, g.favorite, g.rating`,
  );
  const tags = all<{ value: string; count: number }>(
    `SELECT t.name AS value, c.count AS count FROM
       (SELECT gt.tag_id AS tag_id, count(*) AS count FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
        WHERE ${where.sql} GROUP BY gt.tag_id) c
     JOIN tags t ON t.id = c.tag_id`,
  );

  const tally = <K>(pairs: [K, number][]): FacetCount<K>[] => {
    const m = new Map<K, number>();
    for (const [k, n] of pairs) m.set(k, (m.get(k) ?? 0) + n);
    return [...m].map(([value, count]) => ({ value, count })).sort(byCount);
  };
  return {
    total: flags.reduce((n, f) => n + f.count, 0),
    projects: projects.map((p) => ({ value: p.name, count: p.count })).sort(byCount),
    backends: tally(flags.map((f) => [f.backend, f.count])),
    models: models.sort(byCount),
    finishReasons: tally(flags.map((f) => [f.finish_reason, f.count])),
    resolutions: sizes.map((s) => ({ value: `${s.width}x${s.height}`, count: s.count })).sort(byCount),
    tags: tags.sort(byCount),
    favorites: flags.reduce((n, f) => n + (f.favorite ? f.count : 0), 0),
    ratings: tally(flags.map((f) => [f.rating, f.count] as [number, number])).sort((a, b) => b.value - a.value),
  };
}

function fromCounters(db: Db): Facets {
  const rows = prepared(
    db,
    `SELECT c.facet AS facet, c.value AS value, c.n AS n, p.name AS project, t.name AS tag FROM facet_counts c
     LEFT JOIN projects p ON c.facet = 'project' AND p.id = c.value
     LEFT JOIN tags t ON c.facet = 'tag' AND t.id = c.value
     WHERE c.n > 0`,
  ).all() as { facet: string; value: string | number; n: number; project: string | null; tag: string | null }[];
  const of = (facet: string) => rows.filter((r) => r.facet === facet);
  const counts = (facet: string) => of(facet).map((r) => ({ value: String(r.value), count: r.n })).sort(byCount);
  return {
    total: of('total')[0]?.n ?? 0,
    projects: of('project').map((r) => ({ value: r.project, count: r.n })).sort(byCount),
    backends: counts('backend'),
    models: counts('model'),
    finishReasons: counts('finish'),
    resolutions: counts('size'),
    tags: of('tag').filter((r) => r.tag !== null).map((r) => ({ value: r.tag!, count: r.n })).sort(byCount),
    favorites: of('favorite').find((r) => Number(r.value) === 1)?.n ?? 0,
    ratings: of('rating').map((r) => ({ value: Number(r.value), count: r.n })).sort((a, b) => b.value - a.value),
  };
}
