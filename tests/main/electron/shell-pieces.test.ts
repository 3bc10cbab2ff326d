// The desktop shell's smaller pieces: the window comes back where it was (and on a screen), the menu
// has the usual roles and the studio's shortcuts, and the utilityProcess adapter reports a crash the
// way the runtime's process backend expects (stood in by an emitter at the Electron edge).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { test } from 'node:test';
import type { MenuItemConstructorOptions } from 'electron';
import { menuTemplate } from '../../../main/electron/menu.js';
import { utilityProcessLauncher, type UtilityProcessLike } from '../../../main/electron/runtime-process.js';
import { DEFAULT_STATE, loadWindowState, placeOnScreen, saveWindowState } from '../../../main/electron/window-state.js';
import { tempDir } from '../helpers.js';

test('window state round-trips and is put back on a screen that exists', () => {
  const file = path.join(tempDir(), 'window-state.json');
  assert.deepEqual(loadWindowState(file), DEFAULT_STATE);
  saveWindowState(file, { x: 3000, y: 100, width: 1200, height: 800, maximized: true });
  const saved = loadWindowState(file);
  assert.deepEqual(saved, { x: 3000, y: 100, width: 1200, height: 800, maximized: true });
  const twoScreens = [{ x: 0, y: 0, width: 1920, height: 1080 }, { x: 1920, y: 0, width: 2560, height: 1440 }];
  assert.deepEqual(placeOnScreen(saved, twoScreens), saved, 'still on the second screen');
  const moved = placeOnScreen(saved, [{ x: 0, y: 0, width: 1280, height: 800 }]);
  assert.deepEqual({ x: moved.x, y: moved.y, width: moved.width, height: moved.height }, { x: 40, y: 0, width: 1200, height: 800 });
  const tooBig = placeOnScreen({ width: 4000, height: 3000, maximized: false }, [{ x: 0, y: 0, width: 1280, height: 800 }]);
  assert.deepEqual([tooBig.width, tooBig.height], [1280, 800]);
});

function flatten(items: MenuItemConstructorOptions[]): MenuItemConstructorOptions[] {
  return items.flatMap((i) => [i, ...(Array.isArray(i.submenu) ? flatten(i.submenu) : [])]);
}

test('the menu has the usual roles on each platform and the studio shortcuts send commands', () => {
  const sent: string[] = [];
  for (const platform of ['darwin', 'win32', 'linux'] as const) {
    const items = flatten(menuTemplate(platform, { send: (c) => sent.push(c), openLibraryFolder: () => undefined, openHelp: () => undefined }));
    const roles = items.map((i) => i.role).filter(Boolean);
    for (const r of ['editMenu', 'windowMenu', 'togglefullscreen', 'zoomIn', 'zoomOut', 'resetZoom']) assert.ok(roles.includes(r as never), `${platform}: ${r}`);
    assert.equal(roles.includes('appMenu'), platform === 'darwin');
    assert.equal(roles.includes('quit'), platform !== 'darwin', 'quit lives in the app menu on macOS');
    const generate = items.find((i) => i.label === 'Generate')!;
    assert.equal(generate.accelerator, 'CmdOrCtrl+Enter');
    (generate.click as () => void)();
    assert.ok(items.some((i) => i.accelerator === 'CmdOrCtrl+F'));
    const accels = items.map((i) => i.accelerator).filter(Boolean);
    assert.equal(new Set(accels).size, accels.length, `${platform}: no shortcut used twice`);
  }
  assert.deepEqual(sent, ['generate', 'generate', 'generate']);
});

test('a utility process that dies is reported as an exit, and messages pass both ways', () => {
  const child = new EventEmitter() as EventEmitter & UtilityProcessLike & { posted: unknown[] };
  child.posted = [];
  Object.assign(child, { pid: 4242, postMessage: (m: unknown) => child.posted.push(m), kill: () => true });
  const forks: unknown[][] = [];
  const worker = utilityProcessLauncher((...args) => {
    forks.push(args);
    return child;
  })('/app/local-worker.js', []);
  assert.deepEqual(forks[0]!.slice(0, 2), ['/app/local-worker.js', []]);
  const got: unknown[] = [];
  worker.on('message', (m) => got.push(m));
  child.emit('message', { type: 'ready' });
  assert.deepEqual(got, [{ type: 'ready' }]);
  worker.send({ type: 'init' });
  assert.deepEqual(child.posted, [{ type: 'init' }]);
  assert.equal(worker.pid, 4242);
  assert.equal(worker.connected, true);
  const exits: unknown[] = [];
  worker.once('exit', (code, signal) => exits.push([code, signal]));
  child.emit('exit', 137);
  assert.deepEqual(exits, [[137, null]]);
  assert.equal(worker.connected, false);
  assert.equal(worker.exitCode, 137);
  assert.equal(worker.send({ type: 'generate' }), false, 'nothing is sent to a dead process');
});
