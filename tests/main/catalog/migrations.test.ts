import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { CatalogError, LATEST_VERSION, MIGRATIONS, openCatalog, openDatabase, rebuildFacetCounts, rebuildSearchIndex, schemaVersion } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

// Rows written with raw SQL as each version's schema allows, to be found again after upgrading.
function seedAt(db: Database.Database, version: number): void {
  if (version < 1) return;
  db.exec(`
    INSERT INTO projects(id, name, created_at) VALUES (1, 'Old project', 1000);
    INSERT INTO tags(id, name) VALUES (1, 'vintage');
    INSERT INTO generations(id, project_id, prompt, negative_prompt, width, height, seed, finish_reason, model, backend,
                            image_hash, image_format, rating, created_at, trashed_at)
      VALUES ('01AAAAAAAAAAAAAAAAAAAAAAAA', 1, 'an old lighthouse at dusk', 'fog', 1024, 768, 7, 'SUCCESS', 'flux', 'local',
              '${'a'.repeat(64)}', 'png', 4, 2000, NULL),
             ('01AAAAAAAAAAAAAAAAAAAAAAAB', NULL, 'a trashed teapot', '', 512, 512, 8, 'CONTENT_FILTERED', 'flux', 'cloud',
              '${'b'.repeat(64)}', 'png', 0, 3000, 4000);
  `);
  db.exec(`
    INSERT INTO generation_tags(tag_id, generation_seq) SELECT 1, seq FROM generations WHERE id = '01AAAAAAAAAAAAAAAAAAAAAAAA';
    INSERT INTO jobs(id, status, request_json, created_at) VALUES ('01JOBJOBJOBJOBJOBJOBJOBJOB', 'queued', '{"prompt":"x"}', 5000);
  `);
  // From v3 on the code, not triggers, writes a new row's search entry and facet counts.
  if (version >= 3) {
    rebuildSearchIndex(db);
    rebuildFacetCounts(db);
  }
}

test('a new catalog is at the latest version with WAL, foreign keys and a busy timeout', () => {
  const dir = tempDir();
  const catalog = openCatalog(path.join(dir, 'c.sqlite'));
  try {
    assert.equal(catalog.version, LATEST_VERSION);
    assert.equal(catalog.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(catalog.db.pragma('foreign_keys', { simple: true }), 1);
    assert.ok((catalog.db.pragma('busy_timeout', { simple: true }) as number) >= 1000);
    assert.equal(catalog.integrityCheck(), 'ok');
  } finally {
    catalog.close();
  }
});

for (let from = 0; from < LATEST_VERSION; from++) {
  test(`upgrading from version ${from} to ${LATEST_VERSION} keeps every row and indexes it`, () => {
    const file = path.join(tempDir(), 'c.sqlite');
    const old = openDatabase(file, { targetVersion: from });
    assert.equal(schemaVersion(old), from);
    seedAt(old, from);
    // Another module's table in the same file must survive every migration.
    old.exec("CREATE TABLE model_downloads (id TEXT PRIMARY KEY, url TEXT); INSERT INTO model_downloads VALUES ('m1', 'https://x')");
    old.close();

    const catalog = openCatalog(file);
    try {
      assert.equal(catalog.version, LATEST_VERSION);
      assert.deepEqual(catalog.db.prepare('SELECT * FROM model_downloads').all(), [{ id: 'm1', url: 'https://x' }]);
      if (from >= 1) {
        const g = catalog.get('01AAAAAAAAAAAAAAAAAAAAAAAA')!;
        assert.equal(g.prompt, 'an old lighthouse at dusk');
        assert.equal(g.project, 'Old project');
        assert.deepEqual(g.tags, ['vintage']);
        assert.equal(g.rating, 4);
        assert.equal(g.source, 'studio');
        assert.equal(g.missingAt, null);
        // The full-text index was filled from the old rows, tags included.
        assert.deepEqual(catalog.search({ text: 'lighthouse' }).items.map((x) => x.id), [g.id]);
        assert.deepEqual(catalog.search({ text: 'vintage' }).items.map((x) => x.id), [g.id]);
        assert.deepEqual(catalog.search({ text: 'teapot', trashed: true }).items.map((x) => x.id), ['01AAAAAAAAAAAAAAAAAAAAAAAB']);
        // Facet counters were filled from the old rows (the trashed one is not counted).
        const f = catalog.facets();
        assert.equal(f.total, 1);
        assert.deepEqual(f.tags, [{ value: 'vintage', count: 1 }]);
        assert.deepEqual(f.projects, [{ value: 'Old project', count: 1 }]);
        // Per-project counters (v5) were filled from the old rows too, and the project got its v5 fields.
        assert.deepEqual(catalog.facets({ project: 'Old project' }).tags, [{ value: 'vintage', count: 1 }]);
        assert.deepEqual(catalog.projects().map((p) => [p.name, p.count, p.archived, p.cover?.id, p.defaults]), [['Old project', 1, false, g.id, {}]]);
        assert.equal(catalog.jobs.get('01JOBJOBJOBJOBJOBJOBJOBJOB')?.status, 'queued');
      }
      // And the upgraded catalog takes new rows like a fresh one.
      const id = catalog.insert(generation({ prompt: 'after the upgrade', tags: ['vintage'] }));
      assert.deepEqual(catalog.search({ text: 'upgrade' }).items.map((x) => x.id), [id]);
      assert.equal(catalog.facets().tags.find((t) => t.value === 'vintage')?.count, from >= 1 ? 2 : 1);
      assert.equal(catalog.integrityCheck(), 'ok');
    } finally {
      catalog.close();
    }
  });
}

test('reopening does not re-run migrations or drop unknown tables', () => {
  const file = path.join(tempDir(), 'c.sqlite');
  const a = openCatalog(file);
  a.insert(generation());
  a.db.exec('CREATE TABLE model_downloads (id TEXT PRIMARY KEY)');
  a.close();
  const b = openCatalog(file);
  try {
    assert.equal(b.search().items.length, 1);
    assert.ok(b.db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'model_downloads'").get());
    assert.equal((b.db.prepare("SELECT count(*) AS n FROM schema_versions").get() as { n: number }).n, 1);
  } finally {
    b.close();
  }
});

test('a catalog from a newer studio is refused with a sentence, not modified', () => {
  const file = path.join(tempDir(), 'c.sqlite');
  openCatalog(file).close();
  const raw = new Database(file);
  raw.prepare("UPDATE schema_versions SET version = ? WHERE component = 'catalog'").run(LATEST_VERSION + 5);
  raw.close();
  assert.throws(() => openCatalog(file), (err: Error) => err instanceof CatalogError && /newer Schnell Studio/.test(err.message) && err.message.includes(String(LATEST_VERSION + 5)));
  const check = new Database(file);
  assert.equal((check.prepare("SELECT version FROM schema_versions WHERE component = 'catalog'").get() as { version: number }).version, LATEST_VERSION + 5);
  check.close();
});

test('a file that is not a database is refused with a sentence', async () => {
  const file = path.join(tempDir(), 'c.sqlite');
  (await import('node:fs')).writeFileSync(file, 'this is not sqlite'.repeat(100));
  assert.throws(() => openCatalog(file), (err: Error) => err instanceof CatalogError && /not a readable catalog/.test(err.message));
});

test('every migration has the next version number', () => {
  MIGRATIONS.forEach((m, i) => assert.equal(m.version, i + 1));
});
