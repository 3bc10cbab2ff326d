import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CatalogError, openCatalog } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

test('jobs are claimed oldest first, and finish only from the right states', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    const a = c.jobs.enqueue({ prompt: 'first', samples: 1 }, { project: 'P' });
    const b = c.jobs.enqueue({ prompt: 'second' });
    assert.equal(a.status, 'queued');
    assert.equal(a.project, 'P');
    const claimed = c.jobs.claimNext()!;
    assert.equal(claimed.id, a.id);
    assert.equal(claimed.status, 'running');
    assert.equal(claimed.attempts, 1);
    assert.equal(c.jobs.claimNext()!.id, b.id);
    assert.equal(c.jobs.claimNext(), undefined);
    assert.equal(c.jobs.complete(a.id).status, 'done');
    assert.throws(() => c.jobs.complete(a.id), (e: Error) => e instanceof CatalogError && /is done/.test(e.message));
    assert.equal(c.jobs.fail(b.id, 'out of memory').error, 'out of memory');
    assert.throws(() => c.jobs.cancel('nope'), /no job/);
    assert.throws(() => c.jobs.enqueue(undefined), /JSON value/);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.throws(() => c.jobs.enqueue(circular), /cannot be stored as JSON/);
  } finally {
    c.close();
  }
});

test('after a restart, running jobs are finished, re-queued or failed with a reason', () => {
  const file = path.join(tempDir(), 'c.sqlite');
  const before = openCatalog(file);
  const finished = before.jobs.enqueue({ prompt: 'all images recorded', samples: 2 });
  const retry = before.jobs.enqueue({ prompt: 'cut off', samples: 2 });
  const tired = before.jobs.enqueue({ prompt: 'cut off twice' });
  const waiting = before.jobs.enqueue({ prompt: 'never started' });
  for (const j of [finished, retry, tired]) before.jobs.claimNext();
  before.insertMany([generation({ jobId: finished.id }), generation({ jobId: finished.id, sampleIndex: 1 }), generation({ jobId: retry.id })]);
  // tired was tried once before this run
  before.db.prepare('UPDATE jobs SET attempts = 2 WHERE id = ?').run(tired.id);
  before.close(); // the process dies here: nothing else is written

  const after = openCatalog(file);
  try {
    // Opening alone changes nothing: another process (the CLI) must not take over live jobs.
    assert.equal(after.jobs.get(retry.id)!.status, 'running');
    const r = after.jobs.recoverInterrupted();
    assert.deepEqual(r, { requeued: [retry.id], failed: [tired.id], done: [finished.id] });
    assert.equal(after.jobs.get(finished.id)!.generationIds.length, 2);
    assert.equal(after.jobs.get(retry.id)!.status, 'queued');
    assert.match(after.jobs.get(tired.id)!.error!, /stopped while this job was running/);
    assert.equal(after.jobs.get(waiting.id)!.status, 'queued');
    assert.deepEqual(after.jobs.list('queued').map((j) => j.id), [retry.id, waiting.id]);
    assert.deepEqual(after.jobs.get(retry.id)!.request, { prompt: 'cut off', samples: 2 });
  } finally {
    after.close();
  }
});
