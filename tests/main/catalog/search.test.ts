import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { CatalogError, openCatalog, toFtsQuery, type Catalog, type Generation, type SearchQuery, SORT_ORDERS, type SortOrder } from '../../../main/catalog/index.js';
import { generation, tempDir } from '../helpers.js';

function fresh(): Catalog {
  const c = openCatalog(path.join(tempDir(), 'c.sqlite'));
  return c;
}

function allPages(c: Catalog, q: SearchQuery): Generation[] {
  const out: Generation[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10_000; i++) {
    const page = c.search({ ...q, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    if (!page.nextCursor) return out;
    cursor = page.nextCursor;
  }
  throw new Error('pagination did not end');
}

const ORDER: Record<SortOrder, (a: Generation, b: Generation) => number> = {
  newest: (a, b) => b.createdAt.localeCompare(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
  oldest: (a, b) => a.createdAt.localeCompare(b.createdAt) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  rating: (a, b) => b.rating - a.rating || ORDER.newest(a, b),
  favorites: (a, b) => Number(b.favorite) - Number(a.favorite) || ORDER.newest(a, b),
};

test('keyset pages cover every row exactly once, in order, for every sort, with many ties', () => {
  const c = fresh();
  try {
    // 137 rows over only 5 distinct timestamps and 3 ratings: ties everywhere.
    c.insertMany(Array.from({ length: 137 }, (_, i) => generation({ createdAt: 1_700_000_000_000 + (i % 5) * 1000, rating: i % 3, favorite: i % 4 === 1, seed: i })));
    const everything = c.search({ limit: 1000 }).items;
    assert.equal(everything.length, 137);
    for (const sort of SORT_ORDERS) {
      for (const limit of [1, 7, 50, 137, 200]) {
        const pages = allPages(c, { sort, limit });
        assert.deepEqual(pages.map((g) => g.id), [...everything].sort(ORDER[sort]).map((g) => g.id), `${sort} by ${limit}`);
      }
    }
  } finally {
    c.close();
  }
});

test('rows added while paging neither repeat nor shift the pages already seen', () => {
  const c = fresh();
  try {
    c.insertMany(Array.from({ length: 30 }, (_, i) => generation({ createdAt: 1_000_000 + i })));
    const first = c.search({ limit: 10 });
    c.insertMany(Array.from({ length: 5 }, (_, i) => generation({ createdAt: 2_000_000 + i }))); // newer than all
    const rest = allPages(c, { limit: 10, cursor: first.nextCursor! });
    const seen = [...first.items, ...rest].map((g) => g.id);
    assert.equal(new Set(seen).size, 30);
    assert.equal(seen.length, 30);
  } finally {
    c.close();
  }
});

test('a cursor from another sort, or a made-up one, is refused with a sentence', () => {
  const c = fresh();
  try {
    c.insertMany([generation(), generation()]);
    const { nextCursor } = c.search({ limit: 1 });
    assert.ok(nextCursor);
    assert.throws(() => c.search({ sort: 'rating', cursor: nextCursor }), (e: Error) => e instanceof CatalogError && /another query/.test(e.message));
    for (const bad of ['garbage', Buffer.from('{"s":"newest","k":[1]}').toString('base64url'), Buffer.from('{"s":"newest","k":["x","y"]}').toString('base64url')]) {
      assert.throws(() => c.search({ cursor: bad }), CatalogError);
    }
    assert.throws(() => c.search({ limit: 0 }), /limit/);
    assert.throws(() => c.search({ sort: 'sideways' as SortOrder }), /unknown sort/);
  } finally {
    c.close();
  }
});

test('every filter narrows the result to exactly the rows a plain scan would pick', () => {
  const c = fresh();
  try {
    const rows = Array.from({ length: 120 }, (_, i) =>
      generation({
        prompt: `${['red', 'blue', 'green'][i % 3]} ${['cat', 'dog'][i % 2]} number${i}`,
        width: i % 4 === 0 ? 832 : 1024,
        height: i % 4 === 0 ? 1216 : 1024,
        seed: i % 10,
        finishReason: i % 7 === 0 ? 'CONTENT_FILTERED' : 'SUCCESS',
        backend: i % 5 === 0 ? 'cloud' : 'local',
        model: i % 2 ? 'flux-a' : 'flux-b',
        project: i % 3 === 0 ? 'Alpha' : i % 3 === 1 ? 'Beta' : null,
        tags: i % 4 === 1 ? ['keep', 'x'] : i % 4 === 2 ? ['keep'] : [],
        favorite: i % 6 === 0,
        rating: i % 6,
        source: i % 8 === 3 ? 'a1111' : 'studio',
        createdAt: 1_700_000_000_000 + i * 60_000,
      }),
    );
    c.insertMany(rows);
    c.trash(c.search({ text: 'number5', limit: 5 }).items.map((g) => g.id)); // "number5" + prefix: 5, 50–59
    const all = [...c.search({ limit: 1000 }).items, ...c.search({ limit: 1000, trashed: true }).items];
    const cases: [SearchQuery, (g: Generation) => boolean][] = [
      [{ text: 'blue' }, (g) => g.prompt.startsWith('blue')],
      [{ text: 'blue cat' }, (g) => g.prompt.startsWith('blue cat')],
      [{ project: 'alpha' }, (g) => g.project === 'Alpha'], // names match without regard to case
      [{ project: null }, (g) => g.project === null],
      [{ source: 'a1111' }, (g) => g.source === 'a1111'],
      [{ source: 'a1111', project: null, sort: 'favorites' }, (g) => g.source === 'a1111' && g.project === null],
      [{ width: 832, height: 1216 }, (g) => g.width === 832],
      [{ seed: 3 }, (g) => g.seed === 3],
      [{ finishReason: 'CONTENT_FILTERED' }, (g) => g.finishReason === 'CONTENT_FILTERED'],
      [{ backend: 'cloud' }, (g) => g.backend === 'cloud'],
      [{ model: 'flux-a' }, (g) => g.model === 'flux-a'],
      [{ tags: ['keep'] }, (g) => g.tags.includes('keep')],
      [{ tags: ['keep', 'x'] }, (g) => g.tags.includes('x')],
      [{ favorite: true }, (g) => g.favorite],
      [{ rating: 2 }, (g) => g.rating === 2],
      [{ minRating: 4 }, (g) => g.rating >= 4],
      [{ since: '2023-11-14T23:00:00Z', until: 1_700_000_000_000 + 30 * 60_000 }, (g) => Date.parse(g.createdAt) >= Date.parse('2023-11-14T23:00:00Z') && Date.parse(g.createdAt) < 1_700_000_000_000 + 30 * 60_000],
      [{ text: 'dog', project: 'Beta', minRating: 1 }, (g) => g.prompt.includes('dog') && g.project === 'Beta' && g.rating >= 1],
      [{ text: 'tag:keep' }, () => false],
    ];
    for (const [q, keep] of cases) {
      const expected = all.filter((g) => g.trashedAt === null && keep(g)).sort(ORDER[q.sort ?? 'newest']).map((g) => g.id);
      assert.deepEqual(allPages(c, { ...q, limit: 17 }).map((g) => g.id), expected, JSON.stringify(q));
    }
    const trashed = all.filter((g) => g.trashedAt !== null).map((g) => g.id).sort();
    assert.equal(trashed.length, 5);
    assert.deepEqual(c.search({ trashed: true }).items.map((g) => g.id).sort(), trashed);
    assert.throws(() => c.search({ seed: -1 }), /seed/);
    assert.throws(() => c.search({ since: 'not a date' }), /since/);
    assert.throws(() => c.search({ sort: 'constructor' as SortOrder }), /unknown sort 'constructor'/);
  } finally {
    c.close();
  }
});

test('common words and tags (walked by index) and rare ones (driven by their index) give the same answers', () => {
  const c = fresh();
  try {
    // "common" is in every row: more than the 2000-match threshold; "rare" in a few.
    c.insertMany(Array.from({ length: 2100 }, (_, i) => generation({
      prompt: `common word ${i % 50 === 0 ? 'rare' : 'plain'}`, createdAt: 1_000_000 + (i % 300), rating: i % 6,
      tags: i % 50 === 0 ? ['many', 'few'] : ['many'],
    })));
    const common = allPages(c, { text: 'common', limit: 500 });
    assert.equal(common.length, 2100);
    assert.deepEqual(common.map((g) => g.id), [...common].sort(ORDER.newest).map((g) => g.id));
    const rare = allPages(c, { text: 'common rare', limit: 10 });
    assert.equal(rare.length, 42);
    assert.ok(rare.every((g) => g.prompt.endsWith('rare')));
    assert.deepEqual(rare.map((g) => g.id), [...rare].sort(ORDER.newest).map((g) => g.id));
    // Tags too: one on every row (walked by the sort index), one on a few (driven by the tag), both.
    for (const sort of SORT_ORDERS) {
      const many = allPages(c, { tags: ['many'], sort, limit: 700 });
      assert.equal(many.length, 2100);
      assert.deepEqual(many.map((g) => g.id), [...many].sort(ORDER[sort]).map((g) => g.id), sort);
      const few = allPages(c, { tags: ['many', 'FEW'], sort, limit: 9 });
      assert.deepEqual(few.map((g) => g.id), [...rare].sort(ORDER[sort]).map((g) => g.id), sort);
    }
    assert.deepEqual(c.search({ tags: ['many', 'nobody has this'] }).items, []);
  } finally {
    c.close();
  }
});

test('search understands what people type: prefixes while typing, case, accents, tags, negative prompts', () => {
  const c = fresh();
  try {
    const [rain, cafe, neg] = c.insertMany([
      generation({ prompt: 'Rainy streets of Tokyo', tags: ['night city'] }),
      generation({ prompt: 'a Café in Paris' }),
      generation({ prompt: 'portrait', negativePrompt: 'watermark, blurry' }),
    ]);
    const ids = (text: string) => c.search({ text }).items.map((g) => g.id);
    assert.deepEqual(ids('rain'), [rain]); // prefix while typing
    assert.deepEqual(ids('toky'), [rain]);
    assert.deepEqual(ids('rain '), []); // a finished word is a whole word
    assert.deepEqual(ids('ra'), []); // too short to be a prefix
    assert.deepEqual(ids('STREETS'), [rain]);
    assert.deepEqual(ids('cafe'), [cafe]);
    assert.deepEqual(ids('city'), [rain]);
    assert.deepEqual(ids('watermark'), [neg]);
    assert.deepEqual(ids('   '), [rain, cafe, neg].reverse()); // nothing to match: no text filter
  } finally {
    c.close();
  }
});

test('hostile search text never breaks the query: quotes, NULs, FTS operators, huge input', () => {
  const c = fresh();
  try {
    const id = c.insert(generation({ prompt: 'say "hello" AND goodbye OR NEAR(x) ^start col:val * - + ( )' }));
    const hostile = [
      '"', '""', '"""', "'", 'AND', 'OR', 'NOT', 'NEAR', 'NEAR(a b, 2)', 'a OR b', '*', '^', '^start', 'col:val', 'prompt:hello',
      '-hello', '+', '(', ')', '{prompt}: x', 'x\u0000y', '\u0000', 'hello"', '"hello', 'a"b"c', '\ud800', '🙂', 'ɑ̃', '\\', '%', '_',
      'x'.repeat(100_000), 'word '.repeat(20_000), '"'.repeat(10_000), 'NEAR('.repeat(1000),
    ];
    for (const text of hostile) {
      assert.doesNotThrow(() => c.search({ text }), JSON.stringify(text.slice(0, 20)));
      assert.doesNotThrow(() => c.facets({ text }), JSON.stringify(text.slice(0, 20)));
    }
    assert.deepEqual(c.search({ text: '"hello"' }).items.map((g) => g.id), [id]);
    assert.deepEqual(c.search({ text: 'AND goodbye' }).items.map((g) => g.id), [id]); // AND is a word here
    assert.deepEqual(c.search({ text: 'NEAR(x)' }).items.map((g) => g.id), [id]);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        c.search({ text, limit: 5 });
        const q = toFtsQuery(text);
        assert.ok(q === null || !q.includes('\u0000'));
      }),
      { numRuns: 300 },
    );
  } finally {
    c.close();
  }
});

test('a 100 KB prompt with quotes and NULs is stored exactly and found', () => {
  const c = fresh();
  try {
    const prompt = `start "quoted" it's \u0000nul\u0000 AND OR * ${'lorem ipsum dolor '.repeat(6000)} needle-in-the-haystack end`;
    assert.ok(prompt.length > 100_000);
    const id = c.insert(generation({ prompt, negativePrompt: 'x\u0000y' }));
    const g = c.get(id)!;
    assert.equal(g.prompt, prompt);
    assert.equal(g.negativePrompt, 'x\u0000y');
    assert.deepEqual(c.search({ text: 'haystack' }).items.map((x) => x.id), [id]);
    assert.deepEqual(c.search({ text: 'nul' }).items.map((x) => x.id), [id]);
    assert.throws(() => c.insert(generation({ prompt: 'x'.repeat(1_000_001) })), /prompt.*at most/);
  } finally {
    c.close();
  }
});
