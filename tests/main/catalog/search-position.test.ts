// Jumps to a row number (`at`) and full-text searches read in the index's own order, on real
// SQLite files: the page at row N is the page a walk of the cursors reaches, for every sort, with
// text and filters; its cursor goes on from there; rows added out of creation order (imports of
// old images, a changed date) are merged into a text search in their place; the upgrade to schema
// v7 finds the rows that were added out of order before it.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { CatalogError, openCatalog, SORT_ORDERS, type Catalog, type Generation, type SearchQuery, type SortOrder } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

function walk(c: Catalog, q: SearchQuery, limit: number): Generation[] {
  const out: Generation[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const page = c.search({ ...q, limit, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

const ids = (gs: Generation[]) => gs.map((g) => g.id);

const ORDER: Record<SortOrder, (a: Generation, b: Generation) => number> = {
  newest: (a, b) => b.createdAt.localeCompare(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  oldest: (a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  rating: (a, b) => b.rating - a.rating || ORDER.newest(a, b),
  favorites: (a, b) => Number(b.favorite) - Number(a.favorite) || ORDER.newest(a, b),
};

/** 300 rows: prompts with common and rarer words, projects, ratings, favourites, some trashed. */
function library(opts: { outOfOrder: boolean }): Catalog {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  const rows = Array.from({ length: 300 }, (_, i) =>
    generation({
      prompt: `${i % 2 ? 'cat' : 'dog'} ${i % 7 === 0 ? 'lighthouse' : 'meadow'} n${i}`,
      project: i % 3 === 0 ? 'Alpha' : null,
      rating: i % 6,
      favorite: i % 5 === 0,
      width: i % 4 === 0 ? 832 : 1024,
      height: i % 4 === 0 ? 1216 : 1024,
      // In order: each row newer than the last. Out of order: every tenth row is an "import"
      // dated before everything else, and some rows share a millisecond.
      createdAt: opts.outOfOrder && i % 10 === 3 ? 1_600_000_000_000 + i : 1_700_000_000_000 + Math.floor(i / 2) * 1000,
    }),
  );
  // Inserted in three batches, so later batches add rows older than earlier ones.
  c.insertMany(rows.slice(0, 100));
  c.insertMany(rows.slice(100, 200));
  c.insertMany(rows.slice(200));
  c.trash(ids(c.search({ text: 'n1', limit: 1 }).items).concat(ids(c.search({ text: 'n200', limit: 1 }).items)));
  return c;
}

const QUERIES: SearchQuery[] = [
  {},
  { text: 'cat' },
  { text: 'lighthouse' },
  { text: 'cat lighthouse', project: 'Alpha' },
  { text: 'dog', width: 832, height: 1216 },
  { text: 'mea' }, // a prefix, as while typing
  { project: 'Alpha' },
  { favorite: true },
  { width: 832 },
  { trashed: true },
];

for (const outOfOrder of [false, true]) {
  test(`the page at row N is the page the cursors reach, and its cursor goes on from there (${outOfOrder ? 'rows added out of order' : 'rows in order'})`, () => {
    const c = library({ outOfOrder });
    try {
      const late = (c.db.prepare('SELECT count(*) AS n FROM generations_late').get() as { n: number }).n;
      assert.equal(late > 0, outOfOrder, `late rows: ${late}`);
      for (const base of QUERIES) {
        for (const sort of SORT_ORDERS) {
          const q = { ...base, sort };
          const all = walk(c, q, 7);
          // The same rows in one big page: the walk neither skipped nor repeated a row; in sort
          // order; and the same set whatever the sort (a text search sorted by rating is found by
          // another route than one sorted by date).
          assert.deepEqual(ids(all), ids(c.search({ ...q, limit: 1000 }).items), JSON.stringify(q));
          assert.deepEqual(ids(all), ids([...all].sort(ORDER[sort])), `${JSON.stringify(q)} in order`);
          assert.deepEqual(ids(all).sort(), ids(c.search({ ...base, sort: 'rating', limit: 1000 }).items).sort(), `${JSON.stringify(q)} same rows`);
          for (const at of [0, 1, 13, all.length - 5, all.length - 1, all.length, all.length + 40].filter((n) => n >= 0)) {
            const page = c.search({ ...q, at, limit: 9 });
            assert.deepEqual(ids(page.items), ids(all.slice(at, at + 9)), `${JSON.stringify(q)} at ${at}`);
            assert.equal(page.nextCursor === null, at + 9 >= all.length, `${JSON.stringify(q)} at ${at}: more`);
            if (page.nextCursor) {
              const rest = walk(c, { ...q, cursor: page.nextCursor }, 11);
              assert.deepEqual(ids(rest), ids(all.slice(at + 9)), `${JSON.stringify(q)} after at ${at}`);
            }
          }
        }
      }
    } finally {
      c.close();
    }
  });
}

test('a text search newest first merges rows imported with old dates, and rows whose date changed, in their place', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    c.insertMany(Array.from({ length: 40 }, (_, i) => generation({ prompt: `harbour at dusk ${i}`, createdAt: 1_700_000_000_000 + i * 1000 })));
    // An import of older pictures, dated between the rows already there.
    c.insertMany(Array.from({ length: 10 }, (_, i) => generation({ prompt: `harbour imported ${i}`, createdAt: 1_700_000_000_500 + i * 3000 })));
    const late = () => (c.db.prepare('SELECT count(*) AS n FROM generations_late').get() as { n: number }).n;
    assert.equal(late(), 10);
    const byDate = (gs: Generation[], desc: boolean) =>
      [...gs].sort((a, b) => (desc ? -1 : 1) * (a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : 1)));
    for (const sort of ['newest', 'oldest'] as const) {
      const found = walk(c, { text: 'harbour', sort }, 6);
      assert.equal(found.length, 50);
      assert.deepEqual(ids(found), ids(byDate(found, sort === 'newest')), sort);
    }
    // A repair that changes a row's date moves it; the row is then merged by its date.
    const moved = c.search({ text: 'dusk', sort: 'oldest', limit: 1 }).items[0]!;
    c.db.prepare('UPDATE generations SET created_at = ? WHERE id = ?').run(1_800_000_000_000, moved.id);
    assert.equal(c.search({ text: 'harbour', limit: 1 }).items[0]!.id, moved.id);
    assert.equal(late(), 11);
    // Purged rows leave the list (their seq may be handed out again).
    c.trash([moved.id]);
    c.purge([moved.id]);
    assert.equal(late(), 10);
    // A row newer than everything is in order again.
    c.insert(generation({ prompt: 'harbour newest', createdAt: 1_900_000_000_000 }));
    assert.equal(late(), 10);
    assert.equal(c.search({ text: 'harbour', limit: 1 }).items[0]!.prompt, 'harbour newest');
  } finally {
    c.close();
  }
});

test('a row number is checked: a whole number, and not together with a cursor', () => {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  try {
    c.insertMany(Array.from({ length: 5 }, (_, i) => generation({ createdAt: 1_700_000_000_000 + i })));
    const cursor = c.search({ limit: 2 }).nextCursor!;
    assert.throws(() => c.search({ at: 2, cursor }), (err: Error) => err instanceof CatalogError && /either 'cursor'.*or 'at'/.test(err.message));
    for (const bad of [-1, 1.5, Number.NaN, '3' as unknown as number]) {
      assert.throws(() => c.search({ at: bad }), (err: Error) => err instanceof CatalogError && /'at'/.test(err.message), String(bad));
    }
    assert.deepEqual(c.search({ at: 1_000_000 }).items, []);
  } finally {
    c.close();
  }
});

test('upgrading to schema v7 lists the rows that were added out of creation order', () => {
  const file = path.join(tempDir(), 'c.sqlite');
  const old = openCatalog(file, { targetVersion: 6 });
  const dates = [5, 7, 3, 7, 9, 8, 10, 2, 11, 11];
  // Rows with the same millisecond: the id decides, and ids are given here to control it.
  const digits = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const id = (i: number) => `01HZZZZZZZZZZZZZZZZZZZZZ${digits[(i * 7) % 10]}${digits[i]}`;
  old.insertMany(dates.map((d, i) => generation({ id: id(i), createdAt: 1_700_000_000_000 + d * 1000, prompt: `row ${i}` })));
  const rows = old.db.prepare('SELECT seq, created_at, id FROM generations ORDER BY seq').all() as { seq: number; created_at: number; id: string }[];
  old.close();
  const expected = rows
    .filter((r, i) => rows.slice(0, i).some((p) => p.created_at > r.created_at || (p.created_at === r.created_at && p.id > r.id)))
    .map((r) => r.seq);
  const c = openCatalog(file);
  try {
    assert.equal(c.version >= 7, true);
    const late = (c.db.prepare('SELECT seq FROM generations_late ORDER BY seq').all() as { seq: number }[]).map((r) => r.seq);
    assert.deepEqual(late, expected);
    assert.ok(expected.length >= 3, `${expected.length} late rows`);
    // And a text search over them comes out in date order.
    const found = walk(c, { text: 'row' }, 3);
    assert.deepEqual(ids(found), ids([...found].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || (a.id < b.id ? 1 : -1))));
    assert.equal(found.length, 10);
  } finally {
    c.close();
  }
});
