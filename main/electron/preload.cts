// The desktop window's preload (sandboxed, so one self-contained CommonJS file): it exposes the
// studio contract as `window.schnell` and nothing else: no ipcRenderer, no Node, no channel the
// page can name. Calls go over one invoke channel that the main process checks (sender origin,
// then the command's schema); events arrive on one channel and are handed out by name.
import type { CommandName, EventName, Reply, StudioBridge } from '../contract.js';

export const CALL_CHANNEL = 'schnell:call';
export const EVENT_CHANNEL = 'schnell:event';
export const DRAG_CHANNEL = 'schnell:drag';

/** The few ipcRenderer and webUtils functions the bridge uses (Electron's, or a test's stand-in). */
export interface PreloadIpc {
  invoke(channel: string, ...args: unknown[]): Promise<unknown>;
  on(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  removeListener(channel: string, listener: (event: unknown, ...args: unknown[]) => void): unknown;
  send(channel: string, ...args: unknown[]): void;
}
export interface PreloadWebUtils {
  getPathForFile(file: never): string;
}

/** Thrown in the page when the studio answers with an error; `code` and `field` say what. */
class StudioCallError extends Error {
  constructor(readonly code: string, message: string, readonly field?: string) {
    super(message);
    this.name = 'StudioCallError';
  }
}

export function createBridge(ipc: PreloadIpc, webUtils: PreloadWebUtils): StudioBridge {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  let subscribed = false;
  const dispatch = (_event: unknown, name: unknown, payload: unknown) => {
    if (typeof name !== 'string') return;
    for (const fn of listeners.get(name) ?? []) {
      try {
        fn(payload);
      } catch (err) {
        console.error(`schnell: a listener for ${name} failed`, err);
      }
    }
  };
  const bridge = {
    shell: 'desktop' as const,
    async call(name: CommandName, params?: unknown) {
      const reply = (await ipc.invoke(CALL_CHANNEL, name, params)) as Reply<unknown>;
      if (reply && reply.ok) return reply.result;
      const error = reply && !reply.ok ? reply.error : { code: 'internal', message: 'the studio gave no answer' };
      throw new StudioCallError(error.code, error.message, 'field' in error ? error.field : undefined);
    },
    on(event: EventName, listener: (payload: never) => void) {
      if (!subscribed) {
        ipc.on(EVENT_CHANNEL, dispatch);
        subscribed = true;
      }
      const set = listeners.get(event) ?? new Set();
      set.add(listener as (payload: unknown) => void);
      listeners.set(event, set);
      return () => {
        set.delete(listener as (payload: unknown) => void);
      };
    },
    pathForFile(file: unknown) {
      return webUtils.getPathForFile(file as never);
    },
    startDrag(ids: string[]) {
      if (Array.isArray(ids) && ids.every((id) => typeof id === 'string')) ipc.send(DRAG_CHANNEL, ids.slice(0, 1000));
    },
  };
  return Object.freeze(bridge) as unknown as StudioBridge;
}

// Only inside Electron's renderer does `process.contextIsolated` exist; tests import createBridge.
if (typeof process !== 'undefined' && (process as { contextIsolated?: boolean }).contextIsolated !== undefined) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const electron = require('electron') as typeof import('electron');
  electron.contextBridge.exposeInMainWorld('schnell', createBridge(electron.ipcRenderer as unknown as PreloadIpc, electron.webUtils));
}
