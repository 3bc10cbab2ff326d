import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openLibrary } from '../../../main/library/index.js';
import { sha256 } from '../../../main/library/store.js';
import { tempDir } from '../helpers.js';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-child.ts');
const KILLS = 50;

/** Starts the recorder and SIGKILLs it at a random moment: mostly mid-loop, sometimes mid-startup. */
function runAndKill(dir: string, round: number): Promise<{ recorded: number; killedBeforeReady: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let ready = false;
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill('SIGKILL');
    // Every fifth round dies during startup (opening, migrating, settling), the rest while recording.
    if (round % 5 === 0) timer = setTimeout(kill, 150 + Math.random() * 500);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!ready && out.includes('ready\n')) {
        ready = true;
        if (!timer) timer = setTimeout(kill, Math.random() * 150);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const failsafe = setTimeout(kill, 20_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(failsafe);
      if (signal !== 'SIGKILL') reject(new Error(`the recorder stopped by itself (code ${code}): ${err}`));
      else resolve({ recorded: out.split('\n').filter((l) => l.startsWith('recorded ')).length, killedBeforeReady: !ready });
    });
  });
}

test(`SIGKILL at ${KILLS} random moments never corrupts the catalog or leaves a row without its file`, { timeout: 240_000 }, async () => {
  const dir = path.join(tempDir(), 'lib');
  let recorded = 0;
  let adopted = 0;
  let earlyKills = 0;
  for (let round = 0; round < KILLS; round++) {
    const r = await runAndKill(dir, round);
    recorded += r.recorded;
    if (r.killedBeforeReady) earlyKills++;
    if (!fs.existsSync(path.join(dir, 'catalog.sqlite'))) continue; // killed before the file existed

    // 1. The database itself is intact.
    const raw = new Database(path.join(dir, 'catalog.sqlite'));
    assert.equal(raw.pragma('integrity_check', { simple: true }), 'ok', `round ${round}`);
    raw.close();

    const lib = await openLibrary(dir);
    try {
      // 2. Every row has its file, whole (content matches the name) and with its thumbnail.
      const rows = lib.db.prepare('SELECT id, image_hash, image_format FROM generations').all() as { id: string; image_hash: string; image_format: 'png' | 'jpeg' }[];
      for (const row of rows) {
        const g = lib.get(row.id)!;
        assert.ok(fs.existsSync(g.file), `round ${round}: row ${row.id} lacks its file`);
        assert.equal(sha256(fs.readFileSync(g.file)), row.image_hash, `round ${round}: ${g.file} is damaged`);
        assert.ok(fs.existsSync(g.thumbnail), `round ${round}: row ${row.id} lacks its thumbnail`);
      }
      // 3. The scan finds only files that have no row yet (plus unfinished temp files)...
      const report = await lib.scan();
      assert.deepEqual(report.missing, [], `round ${round}`);
      assert.deepEqual(report.corrupt, []);
      assert.deepEqual(report.strangers, [], `round ${round}`);
      // ...and adopts every one of them.
      if (report.orphans.length || report.tempFiles.length || report.missingThumbnails.length) {
        const repaired = await lib.scan({ repair: true });
        for (const o of repaired.orphans) assert.ok(o.adoptedAs, `round ${round}: ${o.file} was not adopted: ${o.error}`);
        adopted += repaired.orphans.length;
        const after = await lib.scan();
        assert.deepEqual([after.orphans, after.missing, after.tempFiles, after.missingThumbnails], [[], [], [], []], `round ${round}`);
      }
      assert.equal(lib.catalog.integrityCheck(), 'ok');
    } finally {
      lib.close();
    }
  }
  // The run must really have exercised recording, and interrupted it.
  // (A bound that a loaded machine still meets: hundreds are usual; kills come at random moments.)
  assert.ok(recorded >= 10, `only ${recorded} recordings in ${KILLS} runs`);
  console.log(`# crash test: ${KILLS} kills (${earlyKills} during startup), ${recorded} recordings, ${adopted} orphans adopted`);
});
