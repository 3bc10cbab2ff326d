// The studio keeps one database: the models' download state shares the catalog's file. Whichever
// opens it first, the other must still open, migrate and work, and the file must stay intact.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CATALOG_FILE, openLibrary } from '../../../main/library/index.js';
import { DownloadState, openStateDatabase } from '../../../runtime/models/state.js';
import { makePng, tempDir } from '../helpers.js';

async function useBoth(dir: string, stateFirst: boolean): Promise<void> {
  const file = path.join(dir, CATALOG_FILE);
  const openState = () => {
    const db = openStateDatabase(file);
    const state = new DownloadState(db);
    return { db, state };
  };
  if (stateFirst) openState().db.close();
  const lib = await openLibrary(dir);
  const g = await lib.recordGeneration({ prompt: 'one file', seed: 1, model: 'm', backend: 'local', image: await makePng(16, 16, 1) });
  const { db, state } = openState();
  try {
    assert.deepEqual(state.list(), []);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    assert.ok(tables.includes('model_downloads') && tables.includes('generations'), tables.join(' '));
  } finally {
    db.close();
  }
  assert.equal(lib.get(g.id)?.prompt, 'one file');
  lib.close();
  // And the library opens again afterwards, with its row.
  const again = await openLibrary(dir);
  try {
    assert.equal(again.get(g.id)?.prompt, 'one file');
  } finally {
    again.close();
  }
}

test('download state and catalog share catalog.sqlite, the state opened first', async () => {
  await useBoth(path.join(tempDir(), 'lib'), true);
});

test('download state and catalog share catalog.sqlite, the library opened first', async () => {
  await useBoth(path.join(tempDir(), 'lib'), false);
});
