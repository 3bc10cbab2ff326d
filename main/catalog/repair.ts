import { createHash } from 'node:crypto';
import { prepared, type Db } from './db.js';
import { COLUMN_KINDS, IMAGE_HASH, MAX_DATE_MS, validValue, type ColumnKind } from './rows.js';
import { FACETS } from './schema.js';
import { recountFacetsSql } from './schema-projects.js';
import { CatalogDamageError, REPAIR_COMMAND } from './errors.js';

// Repairs for a catalog damaged outside the studio: a value edited by hand or by another tool (a
// date that is not a date, binary data where text belongs, a path where a hash belongs), a
// full-text index that lost rows or whose pages are garbage, facet counters that drifted. Reading
// such a catalog fails with a sentence naming REPAIR_COMMAND (rows.ts checkRow, searchIndexProblem);
// this is what that command runs. Nothing is deleted: a value that cannot be recovered gets a
// neutral one (a damaged image hash becomes a name no file has, and the row is marked missing).

export interface CatalogRepairReport {
  /** Every value that was replaced: the row, the field, what it was and what it is now. */
  values: { id: string; field: string; was: string; now: string }[];
  searchIndexRebuilt: number;
  facetCountsRebuilt: boolean;
}

const FTS_TABLE = 'generations_fts';
// The definition of schema v2, used only when the table itself is gone.
const FTS_DEFINITION = `CREATE VIRTUAL TABLE generations_fts USING fts5(prompt, negative_prompt, tags, tokenize = 'unicode61 remove_diacritics 2', prefix = '3')`;

function show(v: unknown): string {
  if (Buffer.isBuffer(v)) return `<${v.length} bytes>`;
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  return String(v);
}

function asDate(v: unknown, now: number): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? (/^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Number(v) : Date.parse(v)) : NaN;
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_DATE_MS ? Math.round(ms) : now;
}

const INT_DEFAULTS: Record<string, number> = { width: 1, height: 1, samples: 1, sample_index: 0, favorite: 0, rating: 0 };

/** A usable value for a damaged one, as the column's kind allows. */
function fixValue(column: string, kind: ColumnKind, v: unknown, seq: number, now: number): unknown {
  switch (kind) {
    case 'text':
    case 'text?':
      if (Buffer.isBuffer(v)) return v.toString('utf8');
      return v === null ? (kind === 'text' ? '' : null) : String(v);
    case 'int':
    case 'int?': {
      const n = typeof v === 'number' ? Math.round(v) : typeof v === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(v) ? Math.round(Number(v)) : NaN;
      if (Number.isSafeInteger(n)) return column === 'rating' ? Math.min(5, Math.max(0, n)) : column === 'favorite' ? (n ? 1 : 0) : n;
      return kind === 'int?' ? null : (INT_DEFAULTS[column] ?? 0);
    }
    case 'real?': {
      const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
      return Number.isFinite(n) ? n : null;
    }
    case 'date':
      return asDate(v, now);
    case 'date?':
      return v === null ? null : asDate(v, now);
    case 'hash': {
      // Not a name any file of ours has (the seq keeps it unique): the row stays, its file is "missing".
      const text = typeof v === 'string' ? v.trim().toLowerCase() : '';
      return IMAGE_HASH.test(text) ? text : createHash('sha256').update(`damaged image hash of row ${seq}: ${show(v)}`).digest('hex');
    }
    case 'format':
      return typeof v === 'string' && /^jpe?g$/i.test(v.trim()) ? 'jpeg' : 'png';
  }
}

function columnExists(db: Db, table: string, column: string): boolean {
  return (db.prepare(`SELECT 1 FROM pragma_table_info(?) WHERE name = ?`).get(table, column) as unknown) !== undefined;
}

/** Replaces every damaged value of the generations table (COLUMN_KINDS says what is damaged). */
export function repairValues(db: Db, now = Date.now()): CatalogRepairReport['values'] {
  const stored = COLUMN_KINDS.filter(([column]) => column !== 'project' && column !== 'tags');
  const rows = db.prepare(`SELECT seq, id, ${stored.map(([c]) => c).join(', ')} FROM generations`).all() as Record<string, unknown>[];
  const fixes: { seq: number; id: string; column: string; field: string; was: unknown; now: unknown }[] = [];
  for (const r of rows) {
    const seq = r.seq as number;
    const id = typeof r.id === 'string' ? r.id : `#${seq}`;
    for (const [column, field, kind] of stored) {
      const v = r[column];
      if (validValue(kind, v)) continue;
      fixes.push({ seq, id, column, field, was: v, now: fixValue(column, kind, v, seq, now) });
    }
  }
  for (const f of fixes) {
    db.prepare(`UPDATE generations SET ${f.column} = ? WHERE seq = ?`).run(f.now, f.seq);
    // A row whose file name was lost cannot show its file: say so the way a scan would.
    if (f.column === 'image_hash') db.prepare('UPDATE generations SET missing_at = ? WHERE seq = ? AND missing_at IS NULL').run(now, f.seq);
  }
  // Names shown in menus, and the dates of projects, are read the same way.
  db.exec(`UPDATE projects SET name = CAST(name AS TEXT) WHERE typeof(name) != 'text'`);
  db.exec(`UPDATE tags SET name = CAST(name AS TEXT) WHERE typeof(name) != 'text'`);
  const badDate = (c: string) => `typeof(${c}) != 'integer' OR ${c} < 0 OR ${c} > ${MAX_DATE_MS}`;
  db.prepare(`UPDATE projects SET created_at = ? WHERE ${badDate('created_at')}`).run(now);
  for (const c of ['updated_at', 'archived_at']) {
    if (columnExists(db, 'projects', c)) db.prepare(`UPDATE projects SET ${c} = ? WHERE ${c} IS NOT NULL AND (${badDate(c)})`).run(now);
  }
  db.prepare(`UPDATE jobs SET created_at = ? WHERE ${badDate('created_at')}`).run(now);
  for (const c of ['started_at', 'finished_at']) db.prepare(`UPDATE jobs SET ${c} = ? WHERE ${c} IS NOT NULL AND (${badDate(c)})`).run(now);
  // A journalled deletion must name one of our files, or it is dropped (it could only name one outside).
  db.prepare(`DELETE FROM file_deletions WHERE NOT (typeof(image_hash) = 'text' AND length(image_hash) = 64 AND image_hash NOT GLOB '*[^0-9a-f]*' AND image_format IN ('png', 'jpeg'))`).run();
  return fixes.map((f) => ({ id: f.id, field: f.field, was: show(f.was), now: show(f.now) }));
}

/** Drops and refills the full-text index from the generations and their tags; returns the rows indexed. */
export function rebuildSearchIndex(db: Db): number {
  const def = (db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?").get(FTS_TABLE) as { sql: string } | undefined)?.sql;
  db.exec(`DROP TABLE IF EXISTS ${FTS_TABLE}`);
  db.exec(def ?? FTS_DEFINITION);
  return db
    .prepare(
      `INSERT INTO ${FTS_TABLE}(rowid, prompt, negative_prompt, tags)
         SELECT g.seq, replace(CAST(g.prompt AS TEXT), char(0), ' '), replace(CAST(g.negative_prompt AS TEXT), char(0), ' '),
                coalesce((SELECT group_concat(t.name, ' ') FROM generation_tags gt JOIN tags t ON t.id = gt.tag_id WHERE gt.generation_seq = g.seq), '')
         FROM generations g`,
    )
    .run().changes;
}

/** Recounts facet_counts and project_facet_counts from the rows (what schema v3 and v5 filled them with). */
export function rebuildFacetCounts(db: Db): void {
  const before5 = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'project_facet_counts'").get() === undefined;
  db.exec(recountFacetsSql(FACETS, { before5 }));
}

/** Everything above, in one write transaction. */
export function repairCatalog(db: Db, now = Date.now()): CatalogRepairReport {
  return db
    .transaction(() => {
      const values = repairValues(db, now);
      const searchIndexRebuilt = rebuildSearchIndex(db);
      rebuildFacetCounts(db);
      return { values, searchIndexRebuilt, facetCountsRebuilt: true };
    })
    .immediate();
}

/** The sentence for a damaged full-text index. */
export function searchIndexDamaged(detail: string): CatalogDamageError {
  return new CatalogDamageError(`the catalog's search index is damaged (${detail}); run '${REPAIR_COMMAND}' to rebuild it`);
}

/** The first varint of FTS5's averages record: how many rows the index holds (kept by FTS5 itself). */
function indexedRows(block: unknown): number | undefined {
  if (!Buffer.isBuffer(block) && !(block instanceof Uint8Array)) return undefined;
  let n = 0;
  for (let i = 0; i < Math.min(block.length, 9); i++) {
    n = n * 128 + (block[i]! & 0x7f);
    if (!(block[i]! & 0x80)) return n;
  }
  return undefined;
}

/**
 * Cheap check (a few index lookups, not a count: counting a million rows took a quarter second per
 * 200,000) for a search index that silently lost rows: its newest entry must be the newest
 * generation's, and it must hold as many entries as FTS5's own tally says, non-zero when there are
 * generations. Returns the problem, or undefined. Run when a text search finds nothing.
 */
export function searchIndexProblem(db: Db): string | undefined {
  try {
    const r = prepared(
      db,
      `SELECT (SELECT seq FROM generations ORDER BY seq DESC LIMIT 1) AS newest,
              (SELECT rowid FROM ${FTS_TABLE} ORDER BY rowid DESC LIMIT 1) AS newestIndexed,
              (SELECT block FROM ${FTS_TABLE}_data WHERE id = 1) AS averages`,
    ).get() as { newest: number | null; newestIndexed: number | null; averages: unknown };
    if (r.newest !== r.newestIndexed) return `its newest entry is ${r.newestIndexed ?? 'missing'}, the newest generation is ${r.newest ?? 'missing'}`;
    const tally = indexedRows(r.averages);
    if (r.newest !== null && (tally === undefined || tally === 0)) return 'it counts no entries for a catalog that has generations';
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** SQLite's word for a damaged file or index, from a thrown error. */
export function isCorruption(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}
