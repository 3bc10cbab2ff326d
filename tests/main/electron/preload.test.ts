// The preload exposes the contract and nothing else: its surface, how calls and events travel,
// and that the file stays a self-contained sandboxed script (it may require only 'electron').
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import vm from 'node:vm';
import ts from 'typescript';
import { fileURLToPath } from 'node:url';
import * as ipcMainSide from '../../../main/electron/ipc.js';
import { CALL_CHANNEL, createBridge, DRAG_CHANNEL, EVENT_CHANNEL, type PreloadIpc } from '../../../main/electron/preload.cjs';

/** Records what the bridge sends; answers invoke with a canned reply. Stands in for ipcRenderer. */
function recorder(reply: unknown) {
  const sent: unknown[][] = [];
  const listeners = new Map<string, ((e: unknown, ...a: unknown[]) => void)[]>();
  const ipc: PreloadIpc = {
    invoke: async (...args) => {
      sent.push(['invoke', ...args]);
      return reply;
    },
    on: (channel, fn) => listeners.set(channel, [...(listeners.get(channel) ?? []), fn]),
    removeListener: () => undefined,
    send: (...args) => void sent.push(['send', ...args]),
  };
  const fire = (...args: unknown[]) => listeners.get(EVENT_CHANNEL)?.forEach((fn) => fn({}, ...args));
  return { ipc, sent, fire, listeners };
}

const webUtils = { getPathForFile: (f: never) => `/dropped/${(f as { name: string }).name}` };

test('window.schnell has exactly the contract surface, frozen', () => {
  const bridge = createBridge(recorder({ ok: true, result: 1 }).ipc, webUtils);
  assert.deepEqual(Object.keys(bridge).sort(), ['call', 'on', 'pathForFile', 'shell', 'startDrag']);
  assert.equal(bridge.shell, 'desktop');
  assert.ok(Object.isFrozen(bridge));
  for (const leak of ['ipcRenderer', 'invoke', 'send', 'require', 'process']) assert.equal(leak in bridge, false, leak);
});

test('a call goes over the one invoke channel and unwraps the reply; an error reply throws with its code', async () => {
  const ok = recorder({ ok: true, result: { jobId: 'j1' } });
  assert.deepEqual(await createBridge(ok.ipc, webUtils).call('generate.submit', { request: { prompt: 'x' } }), { jobId: 'j1' });
  assert.deepEqual(ok.sent, [['invoke', CALL_CHANNEL, 'generate.submit', { request: { prompt: 'x' } }]]);
  const bad = recorder({ ok: false, error: { code: 'invalid', message: 'library.rate: rating too big', field: 'rating' } });
  await assert.rejects(createBridge(bad.ipc, webUtils).call('library.rate', { ids: ['a'], rating: 9 }), (e: Error & { code?: string; field?: string }) => {
    assert.equal(e.message, 'library.rate: rating too big');
    assert.equal(e.code, 'invalid');
    assert.equal(e.field, 'rating');
    return true;
  });
  const none = recorder(undefined);
  await assert.rejects(createBridge(none.ipc, webUtils).call('studio.info'), /no answer/);
});

test('events are handed out by name, and a listener can unsubscribe', () => {
  const r = recorder(null);
  const bridge = createBridge(r.ipc, webUtils);
  const got: unknown[] = [];
  const off = bridge.on('job.progress', (p) => got.push(p));
  bridge.on('job.failed', () => got.push('wrong'));
  r.fire('job.progress', { jobId: 'a' });
  r.fire('job.queued', { job: {} });
  off();
  r.fire('job.progress', { jobId: 'b' });
  assert.deepEqual(got, [{ jobId: 'a' }]);
  assert.equal(r.listeners.get(EVENT_CHANNEL)?.length, 1, 'one IPC listener for all subscriptions');
});

test('drag out sends ids only; dropped files give their path', () => {
  const r = recorder(null);
  const bridge = createBridge(r.ipc, webUtils);
  bridge.startDrag(['a', 'b']);
  bridge.startDrag([1 as unknown as string]);
  assert.deepEqual(r.sent, [['send', DRAG_CHANNEL, ['a', 'b']]]);
  assert.equal(bridge.pathForFile({ name: 'cat.png' }), '/dropped/cat.png');
});

test('the preload is a self-contained sandboxed script, and its channels match the main side', () => {
  const src = fs.readFileSync(fileURLToPath(new URL('../../../main/electron/preload.cts', import.meta.url)), 'utf8');
  const code = src.replace(/\/\/.*$/gm, '');
  const runtimeImports = [...code.matchAll(/^import (?!type )[^;]+;/gm)].map((m) => m[0]);
  assert.deepEqual(runtimeImports, [], 'only type imports (a sandboxed preload cannot load local files)');
  assert.deepEqual([...code.matchAll(/require\('([^']+)'\)/g)].map((m) => m[1]), ['electron']);
  assert.equal(CALL_CHANNEL, ipcMainSide.CALL_CHANNEL);
  assert.equal(EVENT_CHANNEL, ipcMainSide.EVENT_CHANNEL);
  assert.equal(DRAG_CHANNEL, ipcMainSide.DRAG_CHANNEL);
});

test('compiled as the build compiles it, the preload runs in the sandbox wrapper and exposes only window.schnell', () => {
  const file = fileURLToPath(new URL('../../../main/electron/preload.cts', import.meta.url));
  const config = ts.readConfigFile(fileURLToPath(new URL('../../../tsconfig.build.json', import.meta.url)), (f) => fs.readFileSync(f, 'utf8'));
  const options = ts.parseJsonConfigFileContent(config.config, ts.sys, fileURLToPath(new URL('../../..', import.meta.url))).options;
  const js = ts.transpileModule(fs.readFileSync(file, 'utf8'), { compilerOptions: { ...options, sourceMap: false }, fileName: 'preload.cts' }).outputText;
  const exposed: [string, unknown][] = [];
  const required: string[] = [];
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => exposed.push([key, api]) },
    ipcRenderer: { invoke: async () => ({ ok: true, result: 1 }), on: () => undefined, removeListener: () => undefined, send: () => undefined },
    webUtils: { getPathForFile: () => '' },
  };
  // Electron's sandboxed preload wrapper: a limited require, no import(), no Node built-ins.
  const wrapper = vm.runInNewContext(`(function (require, process, Buffer, global, setImmediate, clearImmediate, exports, module) {${js}\n})`, { console });
  const module = { exports: {} };
  const require = (id: string) => {
    required.push(id);
    if (id !== 'electron') throw new Error(`module not found: ${id}`);
    return electron;
  };
  wrapper(require, { contextIsolated: true }, Buffer, {}, setImmediate, clearImmediate, module.exports, module);
  assert.deepEqual(required, ['electron']);
  assert.deepEqual(exposed.map(([k]) => k), ['schnell']);
  assert.deepEqual(Object.keys(exposed[0]![1] as object).sort(), ['call', 'on', 'pathForFile', 'shell', 'startDrag']);
});
