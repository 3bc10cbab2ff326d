import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CatalogError, isId, newId, openCatalog, type Catalog } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

function fresh(): Catalog {
  return openCatalog(path.join(tempDir(), 'c.sqlite'));
}

test('ids sort by creation, even many in one millisecond', () => {
  const ids = Array.from({ length: 1000 }, () => newId(1_800_000_000_000));
  assert.ok(ids.every(isId));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, 1000);
  assert.ok(newId(1_800_000_000_001) > ids[999]!);
  assert.equal(isId('../../etc/passwd'), false);
});

test('a row keeps every field it was given', () => {
  const c = fresh();
  try {
    const parent = c.insert(generation({ prompt: 'parent' }));
    const id = c.insert(generation({
      prompt: 'p', negativePrompt: 'n', width: 832, height: 1216, steps: 4, cfgScale: 3.5, sampler: 'K_DPMPP_2M', samples: 4, seed: 4294967295,
      sampleIndex: 3, finishReason: 'CONTENT_FILTERED', model: 'm', backend: 'cloud', device: 'fireworks', durationMs: 1234.4,
      fallbackReason: 'no local model installed', favorite: true, rating: 5, parentId: parent, project: 'Work', jobId: 'job-1',
      tags: ['b', 'a', 'A'], createdAt: '2026-01-02T03:04:05.000Z',
    }));
    assert.deepEqual(c.get(id), {
      id, prompt: 'p', negativePrompt: 'n', width: 832, height: 1216, steps: 4, cfgScale: 3.5, sampler: 'K_DPMPP_2M', samples: 4,
      seed: 4294967295, sampleIndex: 3, finishReason: 'CONTENT_FILTERED', model: 'm', backend: 'cloud', device: 'fireworks',
      durationMs: 1234, fallbackReason: 'no local model installed', imageHash: c.get(id)!.imageHash, format: 'png', favorite: true,
      rating: 5, parentId: parent, project: 'Work', jobId: 'job-1', tags: ['a', 'b'], source: 'studio',
      createdAt: '2026-01-02T03:04:05.000Z', trashedAt: null, missingAt: null,
    });
  } finally {
    c.close();
  }
});

test('bad fields are refused naming the field, and nothing is written', () => {
  const c = fresh();
  try {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ width: 0 }, /'width'/],
      [{ height: 1.5 }, /'height'/],
      [{ seed: -1 }, /'seed'/],
      [{ seed: 2 ** 60 }, /'seed'/],
      [{ rating: 6 }, /'rating'/],
      [{ backend: 'moon' }, /'backend'/],
      [{ format: 'gif' }, /'format'/],
      [{ imageHash: '../x' }, /'imageHash'/],
      [{ finishReason: 'DROP TABLE' }, /'finishReason'/],
      [{ model: '' }, /'model'/],
      [{ parentId: 'nope' }, /'parentId'/],
      [{ parentId: newId() }, /parent generation .* is not in the catalog/],
      [{ project: '  ' }, /project name cannot be empty/],
      [{ tags: ['a,b'] }, /comma/],
      [{ tags: ['x\u0000'] }, /control characters/],
      [{ createdAt: 'yesterday' }, /'createdAt'/],
      [{ cfgScale: Number.NaN }, /'cfgScale'/],
    ];
    for (const [over, message] of cases) {
      assert.throws(() => c.insert(generation(over as never)), (e: Error) => e instanceof CatalogError && message.test(e.message), JSON.stringify(over));
    }
    assert.equal(c.search().items.length, 0);
    // One bad row in a batch: the batch is all or nothing.
    assert.throws(() => c.insertMany([generation(), generation({ parentId: newId() })]), CatalogError);
    assert.equal(c.search().items.length, 0);
    const id = c.insert(generation());
    assert.throws(() => c.insert(generation({ id })), /already in the catalog/);
  } finally {
    c.close();
  }
});

test('tags, favourites, ratings and projects change many rows at once and refuse unknown ids', () => {
  const c = fresh();
  try {
    const ids = c.insertMany([generation(), generation(), generation()]);
    assert.equal(c.tag(ids.slice(0, 2), ['Sunset', 'beach']), 4);
    assert.equal(c.tag(ids.slice(0, 2), ['sunset']), 0); // same tag, any case
    assert.deepEqual(c.get(ids[0]!)!.tags, ['beach', 'Sunset']);
    assert.equal(c.untag([ids[0]!], ['SUNSET']), 1);
    assert.deepEqual(c.get(ids[0]!)!.tags, ['beach']);
    assert.deepEqual(c.search({ text: 'sunset' }).items.map((g) => g.id), [ids[1]]);
    assert.equal(c.setFavorite(ids, true), 3);
    assert.equal(c.setFavorite(ids, true), 0);
    assert.equal(c.rate([ids[2]!], 3), 1);
    assert.throws(() => c.rate([ids[2]!], 7), /rating/);
    assert.equal(c.setProject(ids, 'Trip'), 3);
    assert.equal(c.setProject([ids[0]!], null), 1);
    assert.equal(c.get(ids[0]!)!.project, null);
    const ghost = newId();
    for (const call of [() => c.tag([ghost], ['x']), () => c.trash([ids[0]!, ghost]), () => c.setFavorite([ghost], true), () => c.lineage(ghost)]) {
      assert.throws(call, (e: Error) => e instanceof CatalogError && e.message.includes(ghost));
    }
    assert.equal(c.get(ids[0]!)!.trashedAt, null); // the failed trash touched nothing
  } finally {
    c.close();
  }
});

test('trash is undoable; purge takes only trashed rows and reports files no longer used', () => {
  const c = fresh();
  try {
    const shared = 'c'.repeat(64);
    const [a, b, d] = c.insertMany([generation({ imageHash: shared }), generation({ imageHash: shared }), generation()], undefined, { sameFile: 'copy' });
    assert.equal(c.trash([a!]), 1);
    assert.ok(c.get(a!)!.trashedAt);
    assert.equal(c.restore([a!]), 1);
    assert.equal(c.get(a!)!.trashedAt, null);
    assert.throws(() => c.purge([a!]), /not in the trash/);
    c.trash([a!, d!]);
    const first = c.purge([a!]);
    assert.deepEqual(first.purged, [a]);
    assert.deepEqual(first.files, []); // b still uses the shared file
    c.trash([b!]);
    const rest = c.purge();
    assert.deepEqual(rest.purged.sort(), [b, d].sort());
    assert.deepEqual(rest.files.map((f) => f.hash).sort(), [shared, c.pendingFileDeletions().find((f) => f.hash !== shared)!.hash].sort());
    assert.equal(c.search().items.length + c.search({ trashed: true }).items.length, 0);
  } finally {
    c.close();
  }
});

test('lineage walks up to the original and down through every remix', () => {
  const c = fresh();
  try {
    const root = c.insert(generation({ prompt: 'root' }));
    const child = c.insert(generation({ parentId: root }));
    const sibling = c.insert(generation({ parentId: root }));
    const grandchild = c.insert(generation({ parentId: child }));
    const l = c.lineage(grandchild);
    assert.deepEqual(l.ancestors.map((g) => g.id), [child, root]);
    assert.deepEqual(l.remixes, []);
    const down = c.lineage(root);
    assert.deepEqual(down.ancestors, []);
    assert.deepEqual(down.remixes.map((g) => [g.id, g.depth]), [[child, 1], [sibling, 1], [grandchild, 2]]);
    // Purging a parent keeps its remixes, now without a parent.
    c.trash([child]);
    c.purge([child]);
    assert.equal(c.get(grandchild)!.parentId, null);
  } finally {
    c.close();
  }
});
