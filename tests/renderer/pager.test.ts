// The gallery's keyset pager against a real in-memory result list: pages arrive in order, a jump
// ahead walks the cursors, memory stays bounded, the end is found, errors are kept for the pane.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pager, type PageOf } from '../../renderer/src/gallery/pager.js';

function source(n: number, opts: { failAt?: number } = {}) {
  const calls: (string | undefined)[] = [];
  const fetchPage = async (cursor: string | undefined, limit: number): Promise<PageOf<number>> => {
    calls.push(cursor);
    const from = cursor === undefined ? 0 : Number(cursor);
    if (opts.failAt !== undefined && from >= opts.failAt) throw new Error('the catalog is busy');
    const items = Array.from({ length: Math.max(0, Math.min(limit, n - from)) }, (_, i) => from + i);
    return { items, nextCursor: from + limit < n ? String(from + limit) : null };
  };
  return { calls, fetchPage };
}

const settle = (p: Pager<number>) => new Promise<void>((resolve) => {
  const check = () => setTimeout(() => ((p as unknown as { running: boolean }).running ? check() : resolve()), 1);
  check();
});

test('loads the pages a range needs, in keyset order', async () => {
  const s = source(1000);
  const p = new Pager(s.fetchPage, { pageSize: 100 });
  p.request(0, 150);
  await settle(p);
  assert.deepEqual(s.calls, [undefined, '100']);
  assert.equal(p.get(0), 0);
  assert.equal(p.get(150), 150);
  assert.equal(p.get(250), undefined);
  assert.equal(p.complete, false);
});

test('a jump far ahead walks the cursors and keeps at most maxPages in memory', async () => {
  const s = source(10_000);
  const p = new Pager(s.fetchPage, { pageSize: 100, maxPages: 5 });
  p.request(9_900, 9_999);
  await settle(p);
  assert.equal(p.get(9_950), 9_950);
  assert.equal(p.complete, true);
  assert.equal(p.loadedCount, 10_000);
  assert.ok(p.residentItems <= 500, `resident ${p.residentItems}`);
  // The walk took pages five at a time (1000 rows a request), not one by one.
  assert.ok(s.calls.length <= 21, `${s.calls.length} requests`);
  // Coming back to the start costs one request: its cursor (none) is known.
  const before = s.calls.length;
  p.request(0, 10);
  await settle(p);
  assert.equal(s.calls.length, before + 1);
  assert.equal(p.get(5), 5);
});

test('an empty result is complete with no rows', async () => {
  const s = source(0);
  const p = new Pager(s.fetchPage, { pageSize: 50 });
  p.request(0, 49);
  await settle(p);
  assert.equal(p.complete, true);
  assert.equal(p.loadedCount, 0);
});

test('a failing page is reported, not thrown', async () => {
  const s = source(1000, { failAt: 100 });
  const p = new Pager(s.fetchPage, { pageSize: 100 });
  p.request(0, 250);
  await settle(p);
  assert.equal(p.error, 'the catalog is busy');
  assert.equal(p.get(10), 10);
});

test('after a library change the new pager shows the old pages until the fresh ones replace them', async () => {
  let rows = Array.from({ length: 250 }, (_, i) => i);
  const calls: (string | undefined)[] = [];
  const fetchPage = async (cursor: string | undefined, limit: number): Promise<PageOf<number>> => {
    calls.push(cursor);
    const from = cursor === undefined ? 0 : Number(cursor);
    return { items: rows.slice(from, from + limit), nextCursor: from + limit < rows.length ? String(from + limit) : null };
  };
  const old = new Pager(fetchPage, { pageSize: 100 });
  old.request(0, 249);
  await settle(old);
  assert.equal(old.complete, true);
  // The first row is trashed: the new pager answers with the old rows at once (nothing blank)...
  rows = rows.slice(1);
  const p = new Pager(fetchPage, { pageSize: 100, previous: old });
  old.dispose();
  assert.equal(p.get(0), 0);
  assert.equal(p.get(249), 249);
  // ...and asking for them fetches them again: the trashed row is gone, and the end moved.
  calls.length = 0;
  p.request(0, 249);
  await settle(p);
  assert.ok(calls.length >= 1, 'stale pages were fetched again');
  assert.equal(p.get(0), 1);
  assert.equal(p.complete, true);
  assert.equal(p.loadedCount, 249);
  assert.equal(p.get(249), undefined);
});

function jumping(n: number) {
  const s = source(n);
  const jumps: number[] = [];
  const fetchAt = async (at: number, limit: number): Promise<PageOf<number>> => {
    jumps.push(at);
    return s.fetchPage(at === 0 ? undefined : String(at), limit);
  };
  return { ...s, jumps, fetchAt };
}

test('a far jump asks for the page at its row number once, and the cursors go on from there', async () => {
  const s = jumping(1_000_000);
  const p = new Pager(s.fetchPage, { pageSize: 200, maxPages: 10, fetchAt: s.fetchAt });
  p.request(0, 100);
  await settle(p);
  assert.deepEqual(s.calls, [undefined]);
  // The scroll bar dragged to 70 %: one request, not 700 pages of cursors.
  s.calls.length = 0;
  p.request(700_050, 700_150);
  await settle(p);
  assert.deepEqual(s.jumps, [700_000]);
  assert.equal(p.get(700_050), 700_050);
  assert.equal(p.get(700_199), 700_199);
  // Scrolling on from there follows the cursor the jump's page returned (no second jump).
  p.request(700_250, 700_450);
  await settle(p);
  assert.deepEqual(s.jumps, [700_000]);
  assert.equal(p.get(700_450), 700_450);
  // (assert.deepEqual above narrowed the type of s.calls; widen it back.)
  assert.ok((s.calls as (string | undefined)[]).includes('700200'), `calls ${JSON.stringify(s.calls)}`);
  // A few pages ahead of a known cursor still walks (cheaper than counting rows from the top).
  const before = s.jumps.length;
  p.request(701_200, 701_300);
  await settle(p);
  assert.equal(s.jumps.length, before);
  assert.equal(p.get(701_250), 701_250);
  assert.ok(p.residentItems <= 10 * 200);
});

test('a jump to the end finds the end; a jump past it (the library shrank) stops asking there', async () => {
  const s = jumping(123_456);
  const p = new Pager(s.fetchPage, { pageSize: 200, fetchAt: s.fetchAt });
  p.request(123_400, 123_499);
  await settle(p);
  assert.equal(p.get(123_455), 123_455);
  assert.equal(p.get(123_456), undefined);
  assert.equal(p.complete, true);
  assert.equal(p.loadedCount, 123_456);

  const short = jumping(50_000);
  const q = new Pager(short.fetchPage, { pageSize: 200, fetchAt: short.fetchAt });
  q.request(80_000, 80_100); // the count said 100,000
  await settle(q);
  assert.deepEqual(short.jumps, [80_000]);
  q.request(80_000, 80_100);
  await settle(q);
  assert.deepEqual(short.jumps, [80_000], 'no second request past the end');
  q.request(49_900, 49_999);
  await settle(q);
  assert.equal(q.get(49_999), 49_999);
  assert.equal(q.complete, true);
});

test('a pager that replaces a scrolled one keeps its far cursors: the jump is not repeated', async () => {
  const s = jumping(1_000_000);
  const old = new Pager(s.fetchPage, { pageSize: 200, fetchAt: s.fetchAt });
  old.request(500_000, 500_100);
  await settle(old);
  assert.deepEqual(s.jumps, [500_000]);
  const p = new Pager(s.fetchPage, { pageSize: 200, fetchAt: s.fetchAt, previous: old });
  old.dispose();
  assert.equal(p.get(500_010), 500_010, 'the old page is shown at once');
  s.calls.length = 0;
  p.request(500_200, 500_300);
  await settle(p);
  assert.deepEqual(s.jumps, [500_000]);
  assert.deepEqual(s.calls, ['500200']);
});

test('rows asked for ahead of the screen load after the screen is in, and stay', async () => {
  const s = source(10_000);
  const p = new Pager(s.fetchPage, { pageSize: 100, maxPages: 4 });
  p.request(0, 99, { after: 200 });
  await settle(p);
  assert.deepEqual(s.calls, [undefined, '100', '200']);
  assert.equal(p.get(299), 299);
  // Scrolling up from far down: the page above the screen comes after the screen's.
  const q = new Pager(s.fetchPage, { pageSize: 100, maxPages: 4 });
  q.request(0, 99);
  await settle(q);
  s.calls.length = 0;
  q.request(100, 199, { before: 100 });
  await settle(q);
  assert.deepEqual(s.calls, ['100']);
  assert.equal(q.get(0), 0, 'the page above was already in');
});
