// The main process's side of the window's IPC: one invoke channel for every contract call, one
// channel for dragging images out, one for events. Every message is checked first: it must come
// from the app's own page (senderAllowed), else it is answered with an error and logged, never
// handed to the studio. The dispatcher then checks the params against the command's schema.
import type { Dispatcher } from '../handlers.js';
import type { EventName, Reply, StudioEvents } from '../contract.js';
import { senderAllowed } from './security.js';

export const CALL_CHANNEL = 'schnell:call';
export const EVENT_CHANNEL = 'schnell:event';
export const DRAG_CHANNEL = 'schnell:drag';

interface SenderEvent {
  senderFrame: { url: string; parent?: unknown } | null;
  sender: unknown;
}

/** The parts of ipcMain used here (Electron's, or a test's stand-in). */
export interface IpcMainLike {
  handle(channel: string, listener: (event: SenderEvent, ...args: unknown[]) => unknown): void;
  on(channel: string, listener: (event: SenderEvent, ...args: unknown[]) => void): void;
  removeHandler(channel: string): void;
  removeAllListeners(channel: string): void;
}

export interface IpcOptions {
  dispatcher: Dispatcher;
  /** The image file of a generation, for dragging it out. */
  fileOf(id: string): string | undefined;
  /** Starts the operating system's drag of these files from the sending window. */
  startDrag(sender: unknown, files: string[]): void;
  log?: (line: string) => void;
}

export function registerIpc(ipcMain: IpcMainLike, opts: IpcOptions): () => void {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  ipcMain.handle(CALL_CHANNEL, async (event, name, params): Promise<Reply<unknown>> => {
    if (!senderAllowed(event.senderFrame)) {
      log(`studio: refused a call from ${event.senderFrame?.url ?? 'a frame that is gone'}`);
      return { ok: false, error: { code: 'invalid', message: 'calls are accepted only from the studio window' } };
    }
    return opts.dispatcher.call(typeof name === 'string' ? name : String(name), params);
  });
  ipcMain.on(DRAG_CHANNEL, (event, ids) => {
    if (!senderAllowed(event.senderFrame) || !Array.isArray(ids)) return;
    const files = ids.slice(0, 1000).flatMap((id) => {
      const file = typeof id === 'string' ? opts.fileOf(id) : undefined;
      return file === undefined ? [] : [file];
    });
    if (files.length > 0) opts.startDrag(event.sender, files);
  });
  return () => {
    ipcMain.removeHandler(CALL_CHANNEL);
    ipcMain.removeAllListeners(DRAG_CHANNEL);
  };
}

/** Sends a contract event to a window (Electron's webContents.send). */
export function sendEvent<E extends EventName>(target: { send(channel: string, ...args: unknown[]): void; isDestroyed(): boolean }, name: E, payload: StudioEvents[E]): void {
  if (!target.isDestroyed()) target.send(EVENT_CHANNEL, name, payload);
}
