import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { openCatalog, rebuildFacetCounts, type Facets } from '../../../main/catalog/index.js';
import { facetCounts } from '../../../main/catalog/facets.js';
import { generation, tempDir } from '../helpers.js';

const sorted = (f: Facets) => JSON.parse(JSON.stringify(f, (_k, v) => (Array.isArray(v) ? [...v].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) : v)));

test('facet counters kept by the catalog always equal a fresh count, whatever happens to the rows', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('insert' as const), n: fc.integer({ min: 1, max: 4 }), project: fc.option(fc.constantFrom('A', 'B', 'a')), tag: fc.option(fc.constantFrom('t1', 't2')), rating: fc.integer({ min: 0, max: 5 }), filtered: fc.boolean(), big: fc.boolean() }),
      fc.record({ kind: fc.constantFrom('trash' as const, 'restore' as const, 'favorite' as const, 'unfavorite' as const, 'purge' as const), pick: fc.nat() }),
      fc.record({ kind: fc.constantFrom('tag' as const, 'untag' as const), pick: fc.nat(), tag: fc.constantFrom('t1', 't2', 't3') }),
      fc.record({ kind: fc.constant('rate' as const), pick: fc.nat(), rating: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ kind: fc.constant('move' as const), pick: fc.nat(), project: fc.option(fc.constantFrom('A', 'C')) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        for (const o of ops) {
          const all = [...c.search({ limit: 1000 }).items, ...c.search({ limit: 1000, trashed: true }).items];
          const target = all.length ? all['pick' in o ? o.pick % all.length : 0]! : undefined;
          switch (o.kind) {
            case 'insert':
              c.insertMany(Array.from({ length: o.n }, () => generation({
                project: o.project, tags: o.tag ? [o.tag] : [], rating: o.rating,
                finishReason: o.filtered ? 'CONTENT_FILTERED' : 'SUCCESS', width: o.big ? 1344 : 1024, height: o.big ? 768 : 1024,
              })));
              break;
            case 'trash': if (target) c.trash([target.id]); break;
            case 'restore': if (target) c.restore([target.id]); break;
            case 'favorite': if (target) c.setFavorite([target.id], true); break;
            case 'unfavorite': if (target) c.setFavorite([target.id], false); break;
            case 'purge': if (target?.trashedAt) c.purge([target.id]); break;
            case 'tag': if (target) c.tag([target.id], [o.tag]); break;
            case 'untag': if (target) c.untag([target.id], [o.tag]); break;
            case 'rate': if (target) c.rate([target.id], o.rating); break;
            case 'move': if (target) c.setProject([target.id], o.project); break;
          }
        }
        const counted = facetCounts(c.db, {});
        assert.deepEqual(sorted(counted), sorted(facetCounts(c.db, {}, { counters: false })));
        assert.equal(counted.total, c.search({ limit: 1000 }).items.length);
        // Each project's own counters (schema v5), "no project" included, agree with a count too.
        for (const project of ['A', 'B', 'C', null]) {
          const own = facetCounts(c.db, { project });
          assert.deepEqual(sorted(own), sorted(facetCounts(c.db, { project }, { counters: false })), `project ${project}`);
          assert.equal(own.total, c.search({ project, limit: 1000 }).items.length);
        }
        // The repair command's recount finds the counters exactly as the triggers left them.
        const snapshot = () => c.db.prepare(
          "SELECT 0 AS p, facet, value, n FROM facet_counts WHERE n != 0 UNION ALL SELECT project_id, facet, value, n FROM project_facet_counts WHERE n != 0 ORDER BY 1, 2, 3",
        ).all();
        const kept = snapshot();
        c.write(() => rebuildFacetCounts(c.db));
        assert.deepEqual(snapshot(), kept);
      }),
      { numRuns: 40 },
    );
  } finally {
    c.close();
  }
});

test('facets over a filter count only the matching rows', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    c.insertMany([
      generation({ prompt: 'red fox', project: 'P', tags: ['animal'], rating: 5, favorite: true }),
      generation({ prompt: 'red barn', project: 'P', backend: 'cloud', width: 832, height: 1216 }),
      generation({ prompt: 'blue fox', project: 'Q', tags: ['animal'] }),
    ]);
    const f = c.facets({ text: 'red' });
    assert.equal(f.total, 2);
    assert.deepEqual(f.projects, [{ value: 'P', count: 2 }]);
    assert.deepEqual(f.tags, [{ value: 'animal', count: 1 }]);
    assert.deepEqual(f.backends, [{ value: 'cloud', count: 1 }, { value: 'local', count: 1 }]);
    assert.deepEqual(f.resolutions.map((r) => r.value).sort(), ['1024x1024', '832x1216']);
    assert.equal(f.favorites, 1);
    assert.deepEqual(f.ratings, [{ value: 5, count: 1 }, { value: 0, count: 1 }]);
    assert.equal(c.facets({ project: 'Q' }).total, 1);
    assert.deepEqual(c.projects().map((p) => [p.name, p.count]), [['P', 2], ['Q', 1]]);
  } finally {
    c.close();
  }
});

test('a search matching more rows than are counted at once says so, and its counts are lower bounds', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    c.insertMany(Array.from({ length: 30 }, (_, i) => generation({ prompt: `red fox ${i}`, project: i % 3 ? 'P' : null, favorite: i % 2 === 0, tags: i % 5 ? [] : ['five'] })));
    c.insertMany(Array.from({ length: 5 }, () => generation({ prompt: 'blue whale', favorite: true })));
    const full = facetCounts(c.db, { text: 'fox' }, { sample: 100 });
    assert.deepEqual([full.exact, full.total, full.counted, full.textMatches], [true, 30, 30, 30]);
    const capped = facetCounts(c.db, { text: 'fox' }, { sample: 10 });
    assert.deepEqual([capped.exact, capped.total, capped.counted, capped.textMatches], [false, 10, 10, 30]);
    // Every capped count is at most the true one, and they add up to what was counted.
    for (const key of ['projects', 'backends', 'models', 'resolutions', 'tags'] as const) {
      for (const v of capped[key]) assert.ok(v.count <= (full[key] as { value: unknown; count: number }[]).find((f) => f.value === v.value)!.count, `${key} ${String(v.value)}`);
    }
    assert.equal(capped.projects.reduce((n, p) => n + p.count, 0), 10);
    assert.ok(capped.favorites <= full.favorites);
    // A filter without text reads one row past the sample to know that there are more.
    const favs = facetCounts(c.db, { favorite: true }, { sample: 8 });
    assert.equal(favs.exact, false);
    assert.equal(facetCounts(c.db, { favorite: true }, { sample: 100 }).total, 20);
    assert.equal(facetCounts(c.db, { favorite: true }, { sample: 100 }).exact, true);
    // Text and another filter: the other filter applies to the counted matches.
    const inP = facetCounts(c.db, { text: 'fox', project: 'P' }, { sample: 100 });
    assert.deepEqual([inP.exact, inP.total], [true, 20]);
    // Punctuation alone filters nothing: the whole library's counters answer.
    assert.deepEqual(facetCounts(c.db, { text: '?!' }).total, 35);
  } finally {
    c.close();
  }
});
