import type { Migration } from './schema.js';

// Catalog migration 5: projects become views of the library with their own cover, archive state
// and default settings, and each project keeps facet counters of its own. The sidebar of a project
// at a million generations was a grouping of its rows (226 ms p95); with these counters it is a
// read of a few dozen rows. Kept apart from schema.ts because the trigger text is generated: the
// whole v3 set of facet triggers is replaced by one that counts both the library and the project.
// Never edit once shipped (see schema.ts).

type Facet = [string, (r: string) => string];

/** Facets counted per project: every library facet but the project itself, plus the total. */
function projectFacets(facets: Facet[]): [string, (r: string) => string][] {
  return [['total', () => "''"], ...facets.filter(([f]) => f !== 'project')];
}

function allFacets(facets: Facet[]): [string, (r: string) => string][] {
  return [['total', () => "''"], ...facets];
}

const projectKey = (r: string) => `coalesce(${r}.project_id, 0)`;

/** +1 for each of a live row's values, library-wide and in its project. One statement per table. */
function add(r: 'new' | 'old', facets: Facet[]): string {
  const lib = allFacets(facets)
    .map(([f, v]) => `SELECT '${f}', ${v(r)}, 1 WHERE ${r}.trashed_at IS NULL`)
    .join(' UNION ALL ');
  const proj = projectFacets(facets)
    .map(([f, v]) => `SELECT ${projectKey(r)}, '${f}', ${v(r)}, 1 WHERE ${r}.trashed_at IS NULL`)
    .join(' UNION ALL ');
  return `INSERT INTO facet_counts(facet, value, n) ${lib} ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;
        INSERT INTO project_facet_counts(project_id, facet, value, n) ${proj} ON CONFLICT(project_id, facet, value) DO UPDATE SET n = n + 1;`;
}

/** -1 for each of a live row's values, library-wide and in its project. */
function remove(r: 'new' | 'old', facets: Facet[]): string {
  const lib = allFacets(facets).map(([f, v]) => `('${f}', ${v(r)})`).join(', ');
  const proj = projectFacets(facets).map(([f, v]) => `('${f}', ${v(r)})`).join(', ');
  return `UPDATE facet_counts SET n = n - 1 WHERE ${r}.trashed_at IS NULL AND (facet, value) IN (VALUES ${lib});
        UPDATE project_facet_counts SET n = n - 1 WHERE ${r}.trashed_at IS NULL AND project_id = ${projectKey(r)}
          AND (facet, value) IN (VALUES ${proj});`;
}

/** Counted from v5 on, beside the v3 facets: where a generation's metadata came from. */
const SOURCE: Facet = ['source', (r) => `${r}.source`];

/**
 * SQL that recounts both counter tables from the rows (the repair command runs it): the same
 * values the triggers and FacetTally keep, for the v3 facets given and source.
 */
export function recountFacetsSql(v3Facets: Facet[], opts: { before5?: boolean } = {}): string {
  if (opts.before5) {
    // A catalog not yet at v5 (an upgrade test seeding an old version): the v3 counters only.
    return `DELETE FROM facet_counts;
    ${allFacets(v3Facets).map(([f, v]) => `INSERT INTO facet_counts(facet, value, n) SELECT '${f}', ${v('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 2;`).join('\n    ')}
    INSERT INTO facet_counts(facet, value, n)
      SELECT 'tag', gt.tag_id, count(*) FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
      WHERE g.trashed_at IS NULL GROUP BY gt.tag_id;`;
  }
  const facets = [...v3Facets, SOURCE];
  return `
    DELETE FROM facet_counts;
    DELETE FROM project_facet_counts;
    ${allFacets(facets)
      .map(([f, v]) => `INSERT INTO facet_counts(facet, value, n) SELECT '${f}', ${v('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 2;`)
      .join('\n    ')}
    INSERT INTO facet_counts(facet, value, n)
      SELECT 'tag', gt.tag_id, count(*) FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
      WHERE g.trashed_at IS NULL GROUP BY gt.tag_id;
    ${projectFacets(facets)
      .map(([f, v]) => `INSERT INTO project_facet_counts(project_id, facet, value, n)
      SELECT ${projectKey('g')}, '${f}', ${v('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 1, 3;`)
      .join('\n    ')}
    INSERT INTO project_facet_counts(project_id, facet, value, n)
      SELECT ${projectKey('g')}, 'tag', gt.tag_id, count(*) FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
      WHERE g.trashed_at IS NULL GROUP BY 1, 3;`;
}

export function projectsMigration(version: number, v3Facets: Facet[]): Migration {
  const facets = [...v3Facets, SOURCE];
  const backfill = projectFacets(facets)
    .map(([f, v]) => `INSERT INTO project_facet_counts(project_id, facet, value, n)
        SELECT ${projectKey('g')}, '${f}', ${v('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 1, 3;`)
    .join('\n      ');
  return {
    version,
    name: 'project covers, archive, default settings and per-project facet counters',
    sql: `
      -- cover_id: the image chosen to stand for the project (null: its newest). settings_json: the
      -- editor's defaults for new generations in the project, checked by catalog/projects.ts.
      ALTER TABLE projects ADD COLUMN archived_at INTEGER;
      ALTER TABLE projects ADD COLUMN cover_id TEXT REFERENCES generations(id) ON DELETE SET NULL;
      ALTER TABLE projects ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE projects ADD COLUMN updated_at INTEGER;
      CREATE INDEX projects_cover ON projects(cover_id) WHERE cover_id IS NOT NULL;

      -- The gallery's "favourites first" order, walked a page at a time like the others, and the
      -- rating and favourites orders inside one project (without these a project of 40,000 was
      -- sorted whole for every page: 150 ms at a million generations). Imports by source are few
      -- among many: their own index finds them without walking the library.
      CREATE INDEX generations_favorites_first ON generations(favorite, created_at, id) WHERE trashed_at IS NULL;
      CREATE INDEX generations_project_rating ON generations(project_id, rating, created_at, id) WHERE trashed_at IS NULL;
      CREATE INDEX generations_project_favorites ON generations(project_id, favorite, created_at, id) WHERE trashed_at IS NULL;
      CREATE INDEX generations_source ON generations(source, created_at, id) WHERE trashed_at IS NULL;

      -- Every column a facet counts, keyed by seq: counting the rows a search matched reads this
      -- narrow index instead of each whole row, prompts and all (see facets.ts).
      CREATE INDEX generations_facet_cover
        ON generations(seq, trashed_at, project_id, model, width, height, backend, finish_reason, favorite, rating, source);

      -- facet_counts, split by project (0 = no project): a project's sidebar is one range read.
      CREATE TABLE project_facet_counts (
        project_id INTEGER NOT NULL,
        facet TEXT NOT NULL,
        value NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (project_id, facet, value)
      ) WITHOUT ROWID;
      INSERT INTO facet_counts(facet, value, n)
        SELECT 'source', ${SOURCE[1]('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 2;
      ${backfill}
      INSERT INTO project_facet_counts(project_id, facet, value, n)
        SELECT ${projectKey('g')}, 'tag', gt.tag_id, count(*) FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
        WHERE g.trashed_at IS NULL GROUP BY 1, 3;

      -- The v3 triggers, now counting in both tables. New rows are still counted by insertGeneration
      -- (FacetTally), a batch at a time.
      DROP TRIGGER generations_facets_delete;
      DROP TRIGGER generations_facets_update;
      DROP TRIGGER generation_tags_facets_insert;
      DROP TRIGGER generation_tags_facets_delete;
      CREATE TRIGGER generations_facets_delete BEFORE DELETE ON generations BEGIN
        DELETE FROM generation_tags WHERE generation_seq = old.seq;
        ${remove('old', facets)}
      END;
      CREATE TRIGGER generations_facets_update
        AFTER UPDATE OF trashed_at, project_id, model, width, height, backend, finish_reason, favorite, rating, source ON generations BEGIN
        ${remove('old', facets)}
        ${add('new', facets)}
        UPDATE facet_counts SET n = n - 1 WHERE old.trashed_at IS NULL AND new.trashed_at IS NOT NULL
          AND facet = 'tag' AND value IN (SELECT tag_id FROM generation_tags WHERE generation_seq = new.seq);
        INSERT INTO facet_counts(facet, value, n)
          SELECT 'tag', tag_id, 1 FROM generation_tags WHERE old.trashed_at IS NOT NULL AND new.trashed_at IS NULL AND generation_seq = new.seq
          ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;
        -- A row's tags move between projects when it is moved, trashed or restored.
        UPDATE project_facet_counts SET n = n - 1
          WHERE old.trashed_at IS NULL AND (new.trashed_at IS NOT NULL OR new.project_id IS NOT old.project_id)
          AND project_id = ${projectKey('old')} AND facet = 'tag'
          AND value IN (SELECT tag_id FROM generation_tags WHERE generation_seq = new.seq);
        INSERT INTO project_facet_counts(project_id, facet, value, n)
          SELECT ${projectKey('new')}, 'tag', tag_id, 1 FROM generation_tags
          WHERE new.trashed_at IS NULL AND (old.trashed_at IS NOT NULL OR new.project_id IS NOT old.project_id) AND generation_seq = new.seq
          ON CONFLICT(project_id, facet, value) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER generation_tags_facets_insert AFTER INSERT ON generation_tags BEGIN
        INSERT INTO facet_counts(facet, value, n)
          SELECT 'tag', new.tag_id, 1 WHERE EXISTS (SELECT 1 FROM generations WHERE seq = new.generation_seq AND trashed_at IS NULL)
          ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;
        INSERT INTO project_facet_counts(project_id, facet, value, n)
          SELECT coalesce(g.project_id, 0), 'tag', new.tag_id, 1 FROM generations g WHERE g.seq = new.generation_seq AND g.trashed_at IS NULL
          ON CONFLICT(project_id, facet, value) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER generation_tags_facets_delete AFTER DELETE ON generation_tags BEGIN
        UPDATE facet_counts SET n = n - 1 WHERE facet = 'tag' AND value = old.tag_id
          AND EXISTS (SELECT 1 FROM generations WHERE seq = old.generation_seq AND trashed_at IS NULL);
        UPDATE project_facet_counts SET n = n - 1 WHERE facet = 'tag' AND value = old.tag_id
          AND project_id = (SELECT coalesce(project_id, 0) FROM generations WHERE seq = old.generation_seq AND trashed_at IS NULL);
      END;
    `,
  };
}
