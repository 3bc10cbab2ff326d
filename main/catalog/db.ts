import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { LATEST_VERSION, MIGRATIONS } from './schema.js';
import { CatalogError } from './types.js';

export type Db = Database.Database;

// Versions live in a table keyed by component rather than in PRAGMA user_version, so other modules
// sharing the file (the model downloader) can version their own tables without touching ours.
const COMPONENT = 'catalog';

/** Opens (creating if needed) a catalog database and brings its schema up to `targetVersion`. */
export function openDatabase(file: string, opts: { targetVersion?: number; readonly?: boolean } = {}): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  let db: Db;
  try {
    db = new Database(file, { readonly: opts.readonly ?? false, fileMustExist: opts.readonly ?? false });
  } catch (err) {
    throw new CatalogError(`cannot open the catalog ${file}: ${(err as Error).message}`);
  }
  try {
    // busy_timeout first: the pragmas below may already need the lock another process holds.
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) db.pragma('journal_mode = WAL');
    // NORMAL is durable against a crashed process in WAL mode; a power cut may lose the last
    // commits, which only turns their files into orphans that a scan adopts (files go first).
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Reading, set once per connection: the default page cache (2 MiB) holds a sliver of a
    // million-row catalog's indexes, so a gallery page re-read them from the OS on every query;
    // 64 MiB is filled only as pages are read. Memory-mapped reads skip a copy per page (the pages
    // are the OS's file cache, shared, not this process's heap). Sorts and the IN-lists of a
    // search stay in memory rather than in temporary files.
    db.pragma('cache_size = -65536');
    if (file !== ':memory:') db.pragma('mmap_size = 1073741824');
    db.pragma('temp_store = MEMORY');
    if (!opts.readonly) migrate(db, opts.targetVersion ?? LATEST_VERSION);
    else checkNotNewer(db);
    return db;
  } catch (err) {
    db.close();
    if (err instanceof CatalogError) throw err;
    const e = err as Error & { code?: string };
    if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') {
      throw new CatalogError(`${file} is not a readable catalog database (${e.message}); move it aside and run 'schnell library scan --repair' to rebuild from the image files`);
    }
    throw err;
  }
}

export function schemaVersion(db: Db): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_versions'").get();
  if (!exists) return 0;
  const row = db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(COMPONENT) as { version: number } | undefined;
  return row?.version ?? 0;
}

function checkNotNewer(db: Db): void {
  const current = schemaVersion(db);
  if (current > LATEST_VERSION) {
    throw new CatalogError(`this catalog was written by a newer Schnell Studio (schema version ${current}; this one knows up to ${LATEST_VERSION}); update the studio to open it`);
  }
}

/** Applies every migration above the database's version, each in its own immediate transaction. */
export function migrate(db: Db, targetVersion = LATEST_VERSION): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  )`);
  checkNotNewer(db);
  for (const m of MIGRATIONS) {
    if (m.version > targetVersion) break;
    // Re-read inside the write lock: another process may have migrated while we waited.
    db.transaction(() => {
      if (schemaVersion(db) >= m.version) return;
      db.exec(m.sql);
      db.prepare(
        'INSERT INTO schema_versions(component, version, updated_at) VALUES (?, ?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
      ).run(COMPONENT, m.version, Date.now());
    }).immediate();
  }
}

export function integrityCheck(db: Db): string {
  const rows = db.pragma('integrity_check') as { integrity_check: string }[];
  return rows.map((r) => r.integrity_check).join('; ');
}

// Prepared statements are reused per database: the gallery asks the same few shapes of query many
// times a second. Bounded, because search filters combine into many shapes.
const statements = new WeakMap<Db, Map<string, Database.Statement>>();
const MAX_CACHED = 200;

export function prepared(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) {
    if (cache.size >= MAX_CACHED) cache.delete(cache.keys().next().value!);
    stmt = db.prepare(sql);
    cache.set(sql, stmt);
  }
  return stmt;
}
