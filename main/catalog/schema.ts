// The catalog's schema as a list of migrations. Each one runs once, in order, inside a transaction
// that also records its number, so a crash leaves the database at one version or the next, never
// between. Rules: never edit a migration that has shipped; never drop or rewrite a table this file
// did not create (the model downloader keeps `model_downloads` in the same file).
import { orderMigration } from './schema-order.js';
import { projectsMigration } from './schema-projects.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** The facets counted by triggers: name and the SQL for a row's value (r is new, old or an alias). */
export const FACETS: [string, (r: string) => string][] = [
  ['project', (r) => `coalesce(${r}.project_id, 0)`],
  ['model', (r) => `${r}.model`],
  ['size', (r) => `${r}.width || 'x' || ${r}.height`],
  ['backend', (r) => `${r}.backend`],
  ['finish', (r) => `${r}.finish_reason`],
  ['favorite', (r) => `${r}.favorite`],
  ['rating', (r) => `${r}.rating`],
];

/** Trigger statements that add (+1) or remove (-1) a live row's values from facet_counts. */
function count(r: 'new' | 'old', delta: 1 | -1): string {
  const all: [string, string][] = [['total', "''"], ...FACETS.map(([f, v]) => [f, v(r)] as [string, string])];
  if (delta > 0) {
    // One statement for all facets: trigger programs pay per statement.
    return `INSERT INTO facet_counts(facet, value, n)
          ${all.map(([facet, value]) => `SELECT '${facet}', ${value}, 1 WHERE ${r}.trashed_at IS NULL`).join('\n          UNION ALL ')}
          ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;`;
  }
  return all
    .map(([facet, value]) => `UPDATE facet_counts SET n = n - 1 WHERE ${r}.trashed_at IS NULL AND facet = '${facet}' AND value = ${value};`)
    .join('\n        ');
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'projects, generations, tags and jobs',
    sql: `
      CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at INTEGER NOT NULL
      );

      -- One row per image. seq is the compact key other tables and the full-text index point at;
      -- id is the stable name the rest of the studio uses.
      CREATE TABLE generations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
        job_id TEXT,
        parent_id TEXT REFERENCES generations(id) ON DELETE SET NULL,
        prompt TEXT NOT NULL,
        negative_prompt TEXT NOT NULL DEFAULT '',
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        steps INTEGER,
        cfg_scale REAL,
        sampler TEXT,
        samples INTEGER NOT NULL DEFAULT 1,
        seed INTEGER,
        sample_index INTEGER NOT NULL DEFAULT 0,
        finish_reason TEXT NOT NULL,
        model TEXT NOT NULL,
        backend TEXT NOT NULL,
        device TEXT,
        duration_ms INTEGER,
        fallback_reason TEXT,
        image_hash TEXT NOT NULL,
        image_format TEXT NOT NULL CHECK (image_format IN ('png', 'jpeg')),
        favorite INTEGER NOT NULL DEFAULT 0 CHECK (favorite IN (0, 1)),
        rating INTEGER NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
        created_at INTEGER NOT NULL,
        trashed_at INTEGER
      );
      CREATE INDEX generations_newest ON generations(created_at, id) WHERE trashed_at IS NULL;
      CREATE INDEX generations_trash ON generations(trashed_at, id) WHERE trashed_at IS NOT NULL;
      CREATE INDEX generations_project ON generations(project_id, created_at, id) WHERE trashed_at IS NULL;
      CREATE INDEX generations_parent ON generations(parent_id) WHERE parent_id IS NOT NULL;
      CREATE INDEX generations_hash ON generations(image_hash);
      CREATE INDEX generations_seed ON generations(seed);
      CREATE INDEX generations_job ON generations(job_id) WHERE job_id IS NOT NULL;

      CREATE TABLE tags (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
      );
      CREATE TABLE generation_tags (
        tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
        generation_seq INTEGER NOT NULL REFERENCES generations(seq) ON DELETE CASCADE,
        PRIMARY KEY (tag_id, generation_seq)
      ) WITHOUT ROWID;
      CREATE INDEX generation_tags_by_generation ON generation_tags(generation_seq, tag_id);

      -- Jobs outlive the process: a restart finds what was queued or running here.
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        request_json TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
        parent_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER
      );
      CREATE INDEX jobs_by_status ON jobs(status, created_at, id);
    `,
  },
  {
    version: 2,
    name: 'full-text search over prompts and tags',
    // A table of its own (not external content): tags live elsewhere, and triggers keep all three
    // columns in step with their sources. NULs become spaces so they cannot cut a prompt short for
    // the tokenizer.
    sql: `
      CREATE VIRTUAL TABLE generations_fts USING fts5(
        prompt, negative_prompt, tags,
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '3'
      );
      INSERT INTO generations_fts(rowid, prompt, negative_prompt, tags)
        SELECT g.seq, replace(g.prompt, char(0), ' '), replace(g.negative_prompt, char(0), ' '),
               coalesce((SELECT group_concat(t.name, ' ') FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id
                         WHERE gt.generation_seq = g.seq), '')
        FROM generations g;

      CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN
        INSERT INTO generations_fts(rowid, prompt, negative_prompt, tags)
          VALUES (new.seq, replace(new.prompt, char(0), ' '), replace(new.negative_prompt, char(0), ' '), '');
      END;
      CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN
        DELETE FROM generations_fts WHERE rowid = old.seq;
      END;
      CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN
        UPDATE generations_fts SET prompt = replace(new.prompt, char(0), ' '),
                                   negative_prompt = replace(new.negative_prompt, char(0), ' ')
          WHERE rowid = new.seq;
      END;
      CREATE TRIGGER generation_tags_fts_insert AFTER INSERT ON generation_tags BEGIN
        UPDATE generations_fts SET tags = coalesce((SELECT group_concat(t.name, ' ') FROM generation_tags gt
            JOIN tags t ON t.id = gt.tag_id WHERE gt.generation_seq = new.generation_seq), '')
          WHERE rowid = new.generation_seq;
      END;
      CREATE TRIGGER generation_tags_fts_delete AFTER DELETE ON generation_tags BEGIN
        UPDATE generations_fts SET tags = coalesce((SELECT group_concat(t.name, ' ') FROM generation_tags gt
            JOIN tags t ON t.id = gt.tag_id WHERE gt.generation_seq = old.generation_seq), '')
          WHERE rowid = old.generation_seq;
      END;
    `,
  },
  {
    version: 3,
    name: 'provenance, missing files, the deletion journal and facet counters',
    sql: `
      -- From here on insertGeneration writes a new row's full-text entry itself, tags included:
      -- the trigger wrote it tagless and then rewrote it once per tag.
      DROP TRIGGER generations_fts_insert;
      ALTER TABLE generations ADD COLUMN source TEXT NOT NULL DEFAULT 'studio';
      ALTER TABLE generations ADD COLUMN missing_at INTEGER;
      CREATE INDEX generations_rating ON generations(rating, created_at, id) WHERE trashed_at IS NULL;
      -- Favourites are few: their own small index keeps that gallery view a straight walk.
      CREATE INDEX generations_favorites ON generations(created_at, id) WHERE trashed_at IS NULL AND favorite = 1;

      -- Files whose last row was purged. The rows go in one transaction with these entries; the
      -- files are removed afterwards, and a crash in between is finished by the next open or scan,
      -- so a purged image is never mistaken for an orphan and adopted back.
      CREATE TABLE file_deletions (
        image_hash TEXT NOT NULL,
        image_format TEXT NOT NULL,
        queued_at INTEGER NOT NULL,
        PRIMARY KEY (image_hash, image_format)
      ) WITHOUT ROWID;

      -- Counts of the live (untrashed) generations per facet value, kept up to date, so the
      -- gallery's sidebar over the whole library is a read of a few dozen rows, not a scan.
      -- value is untyped: project and tag ids stay integers (0 = no project), the rest text.
      CREATE TABLE facet_counts (
        facet TEXT NOT NULL,
        value NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (facet, value)
      ) WITHOUT ROWID;
      INSERT INTO facet_counts(facet, value, n) SELECT 'total', '', count(*) FROM generations WHERE trashed_at IS NULL;
      ${FACETS.map(([facet, value]) => `INSERT INTO facet_counts(facet, value, n)
        SELECT '${facet}', ${value('g')}, count(*) FROM generations g WHERE g.trashed_at IS NULL GROUP BY 2;`).join('\n')}
      INSERT INTO facet_counts(facet, value, n)
        SELECT 'tag', gt.tag_id, count(*) FROM generation_tags gt JOIN generations g ON g.seq = gt.generation_seq
        WHERE g.trashed_at IS NULL GROUP BY gt.tag_id;

      -- New rows are counted by insertGeneration, a batch at a time: an AFTER INSERT trigger here
      -- doubled the cost of a bulk insert. Changes and deletions are counted by triggers.
      -- BEFORE, and dropping the tag links first: their triggers must still see the row to count.
      CREATE TRIGGER generations_facets_delete BEFORE DELETE ON generations BEGIN
        DELETE FROM generation_tags WHERE generation_seq = old.seq;
        ${count('old', -1)}
      END;
      CREATE TRIGGER generations_facets_update
        AFTER UPDATE OF trashed_at, project_id, model, width, height, backend, finish_reason, favorite, rating ON generations BEGIN
        ${count('old', -1)}
        ${count('new', +1)}
        UPDATE facet_counts SET n = n - 1 WHERE old.trashed_at IS NULL AND new.trashed_at IS NOT NULL
          AND facet = 'tag' AND value IN (SELECT tag_id FROM generation_tags WHERE generation_seq = new.seq);
        INSERT INTO facet_counts(facet, value, n)
          SELECT 'tag', tag_id, 1 FROM generation_tags WHERE old.trashed_at IS NOT NULL AND new.trashed_at IS NULL AND generation_seq = new.seq
          ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER generation_tags_facets_insert AFTER INSERT ON generation_tags BEGIN
        INSERT INTO facet_counts(facet, value, n)
          SELECT 'tag', new.tag_id, 1 WHERE EXISTS (SELECT 1 FROM generations WHERE seq = new.generation_seq AND trashed_at IS NULL)
          ON CONFLICT(facet, value) DO UPDATE SET n = n + 1;
      END;
      CREATE TRIGGER generation_tags_facets_delete AFTER DELETE ON generation_tags BEGIN
        UPDATE facet_counts SET n = n - 1 WHERE facet = 'tag' AND value = old.tag_id
          AND EXISTS (SELECT 1 FROM generations WHERE seq = old.generation_seq AND trashed_at IS NULL);
      END;
    `,
  },
  {
    version: 4,
    name: 'one row per image file and per job sample',
    // Two imports of one folder at once each saw "not in the library yet" and both inserted: the
    // duplicate check must be the database's, inside the write transaction. A file is owned by one
    // row (file_copy 0); a copy the user asked to keep (import --keep-duplicates) numbers itself
    // 1, 2, …. A job's sample is recorded once. Rows that an older version already duplicated are
    // kept (nothing is deleted by an upgrade) and numbered as copies; a repeated job sample keeps
    // its row but loses the job link.
    sql: `
      ALTER TABLE generations ADD COLUMN file_copy INTEGER NOT NULL DEFAULT 0;
      UPDATE generations SET file_copy = seq
        WHERE seq NOT IN (SELECT min(seq) FROM generations GROUP BY image_hash, image_format);
      DROP INDEX generations_hash;
      CREATE UNIQUE INDEX generations_one_row_per_file ON generations(image_hash, image_format, file_copy);
      UPDATE generations SET job_id = NULL
        WHERE job_id IS NOT NULL
          AND seq NOT IN (SELECT min(seq) FROM generations WHERE job_id IS NOT NULL GROUP BY job_id, sample_index);
      CREATE UNIQUE INDEX generations_one_row_per_job_sample ON generations(job_id, sample_index) WHERE job_id IS NOT NULL;
    `,
  },
  projectsMigration(5, FACETS),
  {
    version: 6,
    name: 'jobs: who submitted them, their backend, and the interrupted state',
    // The studio core (main/studio.ts) marks a job that a stopped or crashed run left running as
    // interrupted, with the reason, instead of retrying it. SQLite cannot widen a CHECK in place:
    // the table is rebuilt, every row kept.
    sql: `
      CREATE TABLE jobs_v6 (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'interrupted')),
        request_json TEXT NOT NULL,
        project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
        parent_id TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        source TEXT NOT NULL DEFAULT 'ui',
        backend TEXT
      );
      INSERT INTO jobs_v6(id, status, request_json, project_id, parent_id, attempts, error, created_at, started_at, finished_at)
        SELECT id, status, request_json, project_id, parent_id, attempts, error, created_at, started_at, finished_at FROM jobs;
      DROP TABLE jobs;
      ALTER TABLE jobs_v6 RENAME TO jobs;
      CREATE INDEX jobs_by_status ON jobs(status, created_at, id);
    `,
  },
  orderMigration(7),
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
