// The library commands over a real library folder: the counts of a query are answered again from
// memory only while the catalog is unchanged (a change here, or a commit by another process, gives
// fresh counts), and a page at a row number comes back with a cursor that goes on from there.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { openCatalog } from '../../../main/catalog/index.js';
import { libraryHandlers } from '../../../main/handlers/library.js';
import { openLibrary } from '../../../main/library/index.js';
import { generation, tempDir } from '../helpers.js';

const shell = { kind: 'browser' as const, fileUrl: (n: string) => `files/${n}`, previewUrl: (j: string) => `previews/${j}` };

test('facets are kept until the catalog changes, here or in another process', async () => {
  const dir = path.join(tempDir(), 'library');
  const lib = await openLibrary(dir);
  try {
    lib.catalog.insertMany(Array.from({ length: 30 }, (_, i) => generation({ prompt: `lighthouse ${i}`, createdAt: 1_700_000_000_000 + i })));
    const h = libraryHandlers(() => lib, shell, () => undefined);
    const first = await h['library.facets']({ text: 'lighthouse' });
    assert.equal(first.total, 30);
    assert.equal(await h['library.facets']({ text: 'lighthouse' }), first, 'the same answer, from memory');
    assert.equal((await h['library.facets']({ text: 'lighthouse', favorite: true })).total, 0);
    // A change through the studio.
    const one = (await h['library.search']({ text: 'lighthouse', limit: 1 })).items[0]!;
    await h['library.setFavorite']({ ids: [one.id], favorite: true });
    assert.equal((await h['library.facets']({ text: 'lighthouse', favorite: true })).total, 1);
    // A commit by another connection (the CLI, another window's process).
    const other = openCatalog(path.join(dir, 'catalog.sqlite'));
    other.insert(generation({ prompt: 'lighthouse from elsewhere', createdAt: 1_800_000_000_000 }));
    other.close();
    const after = await h['library.facets']({ text: 'lighthouse' });
    assert.notEqual(after, first);
    assert.equal(after.total, 31);
  } finally {
    lib.close();
  }
});

test('library.search at a row number: the rows a walk reaches, and a cursor on from there', async () => {
  const lib = await openLibrary(path.join(tempDir(), 'library'));
  try {
    lib.catalog.insertMany(Array.from({ length: 50 }, (_, i) => generation({ prompt: `harbour ${i}`, createdAt: 1_700_000_000_000 + i * 1000 })));
    const h = libraryHandlers(() => lib, shell, () => undefined);
    const all = (await h['library.search']({ limit: 1000 })).items.map((g) => g.id);
    const page = await h['library.search']({ at: 37, limit: 5 });
    assert.deepEqual(page.items.map((g) => g.id), all.slice(37, 42));
    const next = await h['library.search']({ cursor: page.nextCursor!, limit: 100 });
    assert.deepEqual(next.items.map((g) => g.id), all.slice(42));
    assert.throws(() => h['library.search']({ at: 3, cursor: page.nextCursor! }), /either 'cursor'/);
  } finally {
    lib.close();
  }
});
