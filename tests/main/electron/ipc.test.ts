// The main side of the window's IPC with the real dispatcher over a real library: calls from the
// app page are answered, calls from any other frame are refused before the studio sees them, and
// malformed params come back as an error object.
import assert from 'node:assert/strict';
import path from 'node:path';
import { before, test } from 'node:test';
import { CALL_CHANNEL, DRAG_CHANNEL, registerIpc, type IpcMainLike } from '../../../main/electron/ipc.js';
import { APP_URL } from '../../../main/electron/security.js';
import { createDispatcher, type Handlers } from '../../../main/handlers.js';
import { libraryHandlers } from '../../../main/handlers/library.js';
import { openLibrary, type Library } from '../../../main/library/index.js';
import { makePng, tempDir } from '../helpers.js';

/** Collects what registerIpc installs, as Electron's ipcMain would. */
function fakeIpcMain() {
  const handlers = new Map<string, (event: unknown, ...args: unknown[]) => unknown>();
  const listeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
  const ipcMain: IpcMainLike = {
    handle: (c, fn) => void handlers.set(c, fn as never),
    on: (c, fn) => void listeners.set(c, fn as never),
    removeHandler: (c) => void handlers.delete(c),
    removeAllListeners: (c) => void listeners.delete(c),
  };
  return { ipcMain, handlers, listeners };
}

const root = tempDir();
let lib: Library;
let id: string;
before(async () => {
  lib = await openLibrary(path.join(root, 'library'));
  id = (await lib.recordGeneration({ prompt: 'a fox', seed: 1, model: 'm', backend: 'local', image: await makePng(16, 16, 3) })).id;
});

function setup(log: string[] = []) {
  const shell = { kind: 'desktop' as const, fileUrl: (n: string) => `schnell-image://library/${n}`, previewUrl: (j: string) => j };
  const dispatcher = createDispatcher(libraryHandlers(() => lib, shell, () => undefined) as unknown as Handlers, { log: () => undefined });
  const drags: { sender: unknown; files: string[] }[] = [];
  const fake = fakeIpcMain();
  const off = registerIpc(fake.ipcMain, { dispatcher, fileOf: (x) => lib.get(x)?.file, startDrag: (sender, files) => drags.push({ sender, files }), log: (l) => log.push(l) });
  return { ...fake, drags, off };
}

const frame = (url: string, parent?: unknown) => ({ senderFrame: parent ? { url, parent } : { url }, sender: { id: 1 } });

test('the app page gets answers; the ids it gets are URLs on the image protocol, not paths', async () => {
  const { handlers } = setup();
  const reply = (await handlers.get(CALL_CHANNEL)!(frame(APP_URL), 'library.get', { id })) as { ok: boolean; result: { imageUrl: string } & Record<string, unknown> };
  assert.equal(reply.ok, true);
  assert.match(reply.result.imageUrl, /^schnell-image:\/\/library\/images\//);
  assert.equal('file' in reply.result, false, 'no absolute paths reach the page');
});

test('other frames are refused before the studio sees the call', async () => {
  const log: string[] = [];
  const { handlers } = setup(log);
  const before = lib.get(id)!.favorite;
  for (const f of [frame('https://evil.example/'), frame('file:///tmp/a.html'), frame(APP_URL, { url: APP_URL }), { senderFrame: null, sender: {} }]) {
    const reply = (await handlers.get(CALL_CHANNEL)!(f, 'library.setFavorite', { ids: [id], favorite: !before })) as { ok: boolean; error?: { message: string } };
    assert.equal(reply.ok, false);
    assert.match(reply.error!.message, /only from the studio window/);
  }
  assert.equal(lib.get(id)!.favorite, before, 'nothing changed');
  assert.equal(log.length, 4);
});

test('malformed params and unknown commands come back as error objects', async () => {
  const { handlers } = setup();
  const call = handlers.get(CALL_CHANNEL)!;
  const bad = (await call(frame(APP_URL), 'library.rate', { ids: [id], rating: 'five' })) as { ok: boolean; error: { code: string; field: string } };
  assert.equal(bad.ok, false);
  assert.equal(bad.error.code, 'invalid');
  assert.equal(bad.error.field, 'rating');
  const unknown = (await call(frame(APP_URL), 'library.dropTable', {})) as { ok: boolean; error: { code: string } };
  assert.equal(unknown.error.code, 'not-found');
  const proto = (await call(frame(APP_URL), '__proto__', {})) as { ok: boolean };
  assert.equal(proto.ok, false);
});

test('dragging out hands the image files to the OS drag, only for the app page and known ids', () => {
  const { listeners, drags, off, handlers } = setup();
  const drag = listeners.get(DRAG_CHANNEL)!;
  drag(frame(APP_URL), [id, 'nope', 7]);
  drag(frame('https://evil.example/'), [id]);
  drag(frame(APP_URL), 'not an array');
  assert.equal(drags.length, 1);
  assert.deepEqual(drags[0]!.files, [lib.get(id)!.file]);
  off();
  assert.equal(handlers.size, 0);
});
