import { prepared, type Db } from './db.js';
import { buildWhere } from './search.js';
import type { FacetCount, Facets, SearchQuery } from './types.js';

// Counts for the gallery's sidebar, over the same filters as a search. Without filters each query
// is a scan of one narrow partial index (see schema v3); the flags share one grouping so four
// facets cost one scan.

const byCount = <K>(a: FacetCount<K>, b: FacetCount<K>) => b.count - a.count || String(a.value).localeCompare(String(b.value));

export function facetCounts(db: Db, q: SearchQuery = {}): Facets {
  const { sort: _s, cursor: _c, limit: _l, ...filters } = q;
  const where = buildWhere(filters);
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
