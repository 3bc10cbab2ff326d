// The downloader's table has a versioned migration of its own, beside the catalog's in one file:
// a fresh file, a file an unversioned release wrote (its rows kept), a newer file refused, and the
// studio's catalog sharing the file with both versions recorded.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { DOWNLOADS_SCHEMA_VERSION, DownloadState, openStateDatabase } from '../../../runtime/models/state.js';
import { LATEST_VERSION, openDatabase, schemaVersion } from '../../../main/catalog/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-state-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const versionOf = (db: Database.Database, component: string) => (db.prepare('SELECT version FROM schema_versions WHERE component = ?').get(component) as { version: number } | undefined)?.version;

test('a fresh file gets the table and its version; an unversioned table is adopted with its rows', () => {
  const fresh = openStateDatabase(path.join(dir, 'fresh.sqlite'));
  new DownloadState(fresh);
  assert.equal(versionOf(fresh, 'model-downloads'), DOWNLOADS_SCHEMA_VERSION);
  fresh.close();

  const file = path.join(dir, 'old.sqlite');
  const old = new Database(file);
  old.exec(`CREATE TABLE model_downloads (dest TEXT PRIMARY KEY, url TEXT NOT NULL, model_id TEXT, file_id TEXT, expected_sha256 TEXT,
    expected_bytes INTEGER, total_bytes INTEGER, validator TEXT, received_bytes INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL,
    error TEXT, sha256 TEXT, owner_pid INTEGER, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`);
  old.prepare("INSERT INTO model_downloads(dest, url, status, created_at, updated_at) VALUES ('/m/t.safetensors', 'https://x/t', 'paused', 'a', 'b')").run();
  old.close();
  const db = openStateDatabase(file);
  const state = new DownloadState(db);
  assert.equal(state.get('/m/t.safetensors')?.status, 'paused');
  assert.equal(versionOf(db, 'model-downloads'), DOWNLOADS_SCHEMA_VERSION);
  db.close();
});

test('a newer download state is refused with a sentence; the catalog and the downloader keep separate versions in one file', () => {
  const file = path.join(dir, 'shared.sqlite');
  const catalog = openDatabase(file);
  const state = new DownloadState(openStateDatabase(file));
  assert.equal(schemaVersion(catalog), LATEST_VERSION);
  assert.equal(versionOf(catalog, 'model-downloads'), DOWNLOADS_SCHEMA_VERSION);
  state.db.prepare("UPDATE schema_versions SET version = 99 WHERE component = 'model-downloads'").run();
  assert.throws(() => new DownloadState(state.db), /written by a newer Schnell Studio \(version 99/);
  assert.equal(schemaVersion(catalog), LATEST_VERSION, 'the catalog is untouched');
  state.db.close();
  catalog.close();
});
