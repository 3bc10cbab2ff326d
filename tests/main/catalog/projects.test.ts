import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CatalogError, openCatalog, type Catalog } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

// Projects as the sidebar uses them: real SQLite files, counts from the per-project counters
// (schema v5) checked against what search finds.

const fresh = (): Catalog => openCatalog(path.join(tempDir(), 'c.sqlite'));
const refusal = (pattern: RegExp) => (err: unknown) => err instanceof CatalogError && pattern.test((err as Error).message);

test('create, rename, archive, pick a cover and set defaults; the list shows counts, favourites and cover', () => {
  const c = fresh();
  try {
    const made = c.createProject('Cats', { defaults: { width: 1344, height: 768, steps: 6, sampler: 'K_DPMPP_2M', cfgScale: 1, seedPolicy: 'fixed', seed: 7, backend: 'local' } });
    assert.deepEqual([made.name, made.count, made.archived, made.cover], ['Cats', 0, false, null]);
    assert.deepEqual(made.defaults, { width: 1344, height: 768, steps: 6, sampler: 'K_DPMPP_2M', cfgScale: 1, seedPolicy: 'fixed', seed: 7, backend: 'local' });
    const [old, mid, newest] = c.insertMany([
      generation({ project: 'Cats', createdAt: 1000, favorite: true }),
      generation({ project: 'Cats', createdAt: 2000 }),
      generation({ project: 'Cats', createdAt: 3000 }),
    ]);
    c.insert(generation({ project: 'Dogs', createdAt: 4000 }));
    let cats = c.project('cats')!; // names are found without regard to case
    assert.deepEqual([cats.count, cats.favorites, cats.cover?.id, cats.cover?.chosen], [3, 1, newest, false]);

    cats = c.setProjectCover('Cats', old!);
    assert.deepEqual([cats.cover?.id, cats.cover?.chosen], [old, true]);
    // A trashed cover is not shown; the newest stands in until it is restored.
    c.trash([old!]);
    assert.deepEqual([c.project('Cats')!.cover?.id, c.project('Cats')!.count, c.project('Cats')!.favorites], [newest, 2, 0]);
    c.restore([old!]);
    assert.equal(c.project('Cats')!.cover?.id, old);

    const renamed = c.renameProject('Cats', 'Felines');
    assert.equal(renamed.name, 'Felines');
    assert.equal(c.get(mid!)!.project, 'Felines');
    assert.equal(c.search({ project: 'Felines' }).items.length, 3);
    assert.equal(c.renameProject('Felines', 'FELINES').name, 'FELINES'); // a change of case is a rename too

    assert.equal(c.archiveProject('FELINES', true).archived, true);
    assert.deepEqual(c.projects({ archived: false }).map((p) => p.name), ['Dogs']);
    assert.deepEqual(c.projects({ archived: true }).map((p) => p.name), ['FELINES']);
    assert.deepEqual(c.projects().map((p) => [p.name, p.count]), [['Dogs', 1], ['FELINES', 3]]);
    assert.equal(c.archiveProject('FELINES', false).archivedAt, null);

    assert.deepEqual(c.setProjectDefaults('Dogs', { steps: 4 }).defaults, { steps: 4 });
    assert.deepEqual(c.setProjectDefaults('Dogs', {}).defaults, {});
    // Moving generations moves their counts (the counters follow the triggers).
    c.setProject([mid!], 'Dogs');
    assert.deepEqual(c.projects().map((p) => [p.name, p.count]), [['Dogs', 2], ['FELINES', 2]]);
  } finally {
    c.close();
  }
});

test('bad names, clashes, unknown projects and bad defaults are refused with the field named', () => {
  const c = fresh();
  try {
    c.createProject('Birds');
    c.createProject('Fish');
    assert.throws(() => c.createProject('birds'), refusal(/a project named "Birds" already exists/));
    assert.throws(() => c.createProject('  '), refusal(/cannot be empty/));
    assert.throws(() => c.renameProject('Birds', 'FISH'), refusal(/"Fish" already exists/));
    assert.throws(() => c.renameProject('Whales', 'Orcas'), refusal(/no project named "Whales"/));
    assert.throws(() => c.archiveProject('Whales', true), refusal(/no project named/));
    assert.throws(() => c.setProjectDefaults('Birds', { stepz: 4 }), refusal(/unknown field 'stepz'/));
    assert.throws(() => c.setProjectDefaults('Birds', { steps: 51 }), refusal(/'steps'/));
    assert.throws(() => c.setProjectDefaults('Birds', { width: 1000, height: 1000 }), refusal(/1000x1000 is not a supported size/));
    assert.throws(() => c.setProjectDefaults('Birds', { width: 1024 }), refusal(/'height'.*together/));
    assert.throws(() => c.setProjectDefaults('Birds', { seedPolicy: 'fixed' }), refusal(/'seed'.*needs a seed/));
    assert.throws(() => c.setProjectDefaults('Birds', { backend: 'gpu' }), refusal(/'backend'/));
    assert.throws(() => c.setProjectDefaults('Birds', [1, 2]), refusal(/must be an object/));
    assert.throws(() => c.createProject('Reptiles', { defaults: { cfgScale: -1 } }), refusal(/'cfgScale'/));
    assert.equal(c.project('Reptiles'), undefined, 'a refused create leaves nothing behind');
    assert.deepEqual(c.project('Birds')!.defaults, {});

    const [fish] = c.insertMany([generation({ project: 'Fish' })]);
    const [loose] = c.insertMany([generation({})]);
    assert.throws(() => c.setProjectCover('Birds', fish!), refusal(/not in project "Birds"/));
    assert.throws(() => c.setProjectCover('Birds', loose!), refusal(/not in project/));
    assert.throws(() => c.setProjectCover('Birds', '01ARZ3NDEKTSV4RRFFQ69G5FAV'), refusal(/no generation/));
    c.trash([fish!]);
    assert.throws(() => c.setProjectCover('Fish', fish!), refusal(/in the trash/));
  } finally {
    c.close();
  }
});

test('deleting a project needs force while it holds generations, which then keep living without one', () => {
  const c = fresh();
  try {
    const ids = c.insertMany([generation({ project: 'Tmp', tags: ['x'] }), generation({ project: 'Tmp' })]);
    c.trash([ids[1]!]);
    assert.throws(() => c.deleteProject('Tmp'), refusal(/still holds 2 generations/));
    assert.equal(c.deleteProject('Tmp', { force: true }), 2);
    assert.equal(c.project('Tmp'), undefined);
    assert.deepEqual(c.getMany(ids).map((g) => g.project), [null, null]);
    const noProject = c.facets({ project: null });
    assert.equal(noProject.total, 1);
    assert.deepEqual(noProject.tags, [{ value: 'x', count: 1 }]);
    c.createProject('Empty');
    assert.equal(c.deleteProject('Empty'), 0);
  } finally {
    c.close();
  }
});
