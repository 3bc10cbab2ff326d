// The window comes back where the user left it: size, position and maximized state are saved on
// close and restored on start, moved back onto a screen if that monitor is gone.
import fs from 'node:fs';
import { writeJsonAtomic } from '../../runtime/util/files.js';

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized: boolean;
}

export interface Area {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const DEFAULT_STATE: WindowState = { width: 1440, height: 900, maximized: false };

export function loadWindowState(file: string): WindowState {
  try {
    const d = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<WindowState>;
    const n = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
    if (!n(d.width) || !n(d.height)) return { ...DEFAULT_STATE };
    return {
      width: Math.max(640, Math.round(d.width!)),
      height: Math.max(480, Math.round(d.height!)),
      maximized: d.maximized === true,
      ...(n(d.x) && n(d.y) ? { x: Math.round(d.x!), y: Math.round(d.y!) } : {}),
    };
  } catch {
    return { ...DEFAULT_STATE };
  }
}

export function saveWindowState(file: string, state: WindowState): void {
  writeJsonAtomic(file, state, { createFolder: true });
}

/**
 * Keeps a saved window on a screen that still exists: if less than 100 px of its title bar would be
 * visible on every display, it is centred on the first one (and shrunk to fit).
 */
export function placeOnScreen(state: WindowState, displays: Area[]): WindowState {
  const first = displays[0];
  if (!first) return state;
  if (state.x !== undefined && state.y !== undefined) {
    const visible = displays.some((d) => {
      const w = Math.min(state.x! + state.width, d.x + d.width) - Math.max(state.x!, d.x);
      const titleVisible = state.y! >= d.y && state.y! < d.y + d.height - 40;
      return w >= 100 && titleVisible;
    });
    if (visible) return state;
  }
  const width = Math.min(state.width, first.width);
  const height = Math.min(state.height, first.height);
  return { ...state, width, height, x: first.x + Math.round((first.width - width) / 2), y: first.y + Math.round((first.height - height) / 2) };
}
