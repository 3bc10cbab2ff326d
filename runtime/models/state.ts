// Download state, kept in the catalog database so a download survives an app restart. The studio
// hands us its catalog handle; the CLI opens the studio's catalog, $SCHNELL_HOME/library/catalog.sqlite (or --state FILE).
// The `.part` file on disk is the truth about how many bytes we hold; a row says where they came
// from (url, validator) so a resume never splices two different files together.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { catalogFile, studioLibraryDir } from '../settings/index.js';

export type DownloadStatus = 'downloading' | 'paused' | 'failed' | 'complete';

export interface DownloadRow {
  dest: string;
  url: string;
  model_id: string | null;
  file_id: string | null;
  expected_sha256: string | null;
  expected_bytes: number | null;
  total_bytes: number | null;
  /** Strong ETag or Last-Modified of the bytes we hold, sent as If-Range on resume. */
  validator: string | null;
  received_bytes: number;
  status: DownloadStatus;
  error: string | null;
  sha256: string | null;
  owner_pid: number | null;
  created_at: string;
  updated_at: string;
}

// The downloader's own tables, versioned like the catalog's: one row per component in the shared
// schema_versions table (main/catalog/db.ts keeps 'catalog' there), so each module migrates what it
// owns and never touches the other's. Version 1 adopts a table an unversioned release created.
const COMPONENT = 'model-downloads';
const MIGRATIONS: { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE IF NOT EXISTS model_downloads (
        dest            TEXT PRIMARY KEY,
        url             TEXT NOT NULL,
        model_id        TEXT,
        file_id         TEXT,
        expected_sha256 TEXT,
        expected_bytes  INTEGER,
        total_bytes     INTEGER,
        validator       TEXT,
        received_bytes  INTEGER NOT NULL DEFAULT 0,
        status          TEXT NOT NULL,
        error           TEXT,
        sha256          TEXT,
        owner_pid       INTEGER,
        created_at      TEXT NOT NULL,
        updated_at      TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS model_downloads_model ON model_downloads(model_id);
    `,
  },
];
export const DOWNLOADS_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Brings the downloader's tables up to date, each step in its own write transaction. */
export function migrateDownloadState(db: Database.Database): void {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_versions (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  )`);
  const version = () => (db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(COMPONENT) as { version: number } | undefined)?.version ?? 0;
  if (version() > DOWNLOADS_SCHEMA_VERSION) {
    throw new Error(`the download state in ${db.name} was written by a newer Schnell Studio (version ${version()}; this one knows up to ${DOWNLOADS_SCHEMA_VERSION}); update the studio`);
  }
  for (const m of MIGRATIONS) {
    db.transaction(() => {
      if (version() >= m.version) return;
      db.exec(m.sql);
      db.prepare(
        'INSERT INTO schema_versions(component, version, updated_at) VALUES (?, ?, ?) ON CONFLICT(component) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at',
      ).run(COMPONENT, m.version, Date.now());
    }).immediate();
  }
}

/** Opens (creating) a standalone state database in WAL mode: the studio's catalog, `$SCHNELL_HOME/library/catalog.sqlite`, by default. */
export function openStateDatabase(file: string = catalogFile(studioLibraryDir())): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

export class BusyError extends Error {}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DownloadState {
  readonly db: Database.Database;
  constructor(db: Database.Database) {
    this.db = db;
    migrateDownloadState(db);
  }

  get(dest: string): DownloadRow | undefined {
    return this.db.prepare('SELECT * FROM model_downloads WHERE dest = ?').get(dest) as DownloadRow | undefined;
  }

  list(modelId?: string): DownloadRow[] {
    return (modelId === undefined
      ? this.db.prepare('SELECT * FROM model_downloads ORDER BY created_at').all()
      : this.db.prepare('SELECT * FROM model_downloads WHERE model_id = ? ORDER BY created_at').all(modelId)) as DownloadRow[];
  }

  /**
   * Takes ownership of `dest` for this process, creating or resetting its row. Refuses when another
   * live process holds it (two writers on one `.part` would corrupt it). Returns the row as it was
   * before, so the caller can decide whether the kept bytes belong to this download.
   */
  claim(init: Pick<DownloadRow, 'dest' | 'url' | 'model_id' | 'file_id' | 'expected_sha256' | 'expected_bytes'>): DownloadRow | undefined {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      const before = this.get(init.dest);
      if (before?.owner_pid && before.owner_pid !== process.pid && before.status === 'downloading' && isAlive(before.owner_pid)) {
        throw new BusyError(`${init.dest} is being downloaded by another process (pid ${before.owner_pid})`);
      }
      if (before) {
        this.db
          .prepare(`UPDATE model_downloads SET url=?, model_id=?, file_id=?, expected_sha256=?, expected_bytes=?,
                    status='downloading', error=NULL, owner_pid=?, updated_at=? WHERE dest=?`)
          .run(init.url, init.model_id, init.file_id, init.expected_sha256, init.expected_bytes, process.pid, now, init.dest);
      } else {
        this.db
          .prepare(`INSERT INTO model_downloads (dest, url, model_id, file_id, expected_sha256, expected_bytes, status, owner_pid, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, 'downloading', ?, ?, ?)`)
          .run(init.dest, init.url, init.model_id, init.file_id, init.expected_sha256, init.expected_bytes, process.pid, now, now);
      }
      return before;
    }).immediate();
  }

  update(dest: string, patch: Partial<Omit<DownloadRow, 'dest' | 'created_at' | 'updated_at'>>): void {
    const keys = Object.keys(patch) as Array<keyof typeof patch>;
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${k} = @${k}`).join(', ');
    this.db.prepare(`UPDATE model_downloads SET ${sets}, updated_at = @updated_at WHERE dest = @dest`).run({
      ...patch,
      dest,
      updated_at: new Date().toISOString(),
    });
  }

  /** Ends this process's ownership with a final status. */
  release(dest: string, status: DownloadStatus, patch: Partial<DownloadRow> = {}): void {
    this.update(dest, { ...patch, status, owner_pid: null });
  }

  remove(dest: string): void {
    this.db.prepare('DELETE FROM model_downloads WHERE dest = ?').run(dest);
  }
}
