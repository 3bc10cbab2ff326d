// The desktop window's security, as data and small pure functions, so that tests can check them in
// Node: the window's web preferences, which navigations and new windows are allowed (none, apart
// from https: links the user clicked, which go to the system browser), the permission answer
// (always no), and which frames may call the studio over IPC (the app's own page only).
import type { BrowserWindowConstructorOptions } from 'electron';
import { contentSecurityPolicy } from '../web/csp.js';

/** The renderer's origin: a custom standard scheme, so it is neither file:// nor any website. */
export const APP_SCHEME = 'schnell-app';
export const APP_ORIGIN = `${APP_SCHEME}://studio`;
export const APP_URL = `${APP_ORIGIN}/index.html`;
/** Library images and thumbnails, streamed from disk (never base64 over IPC). */
export const IMAGE_SCHEME = 'schnell-image';
export const IMAGE_ORIGIN = `${IMAGE_SCHEME}://library`;
/** A running job's latest preview. */
export const PREVIEW_ORIGIN = `${IMAGE_SCHEME}://preview`;

/** The same CSP as the headless studio, plus the image protocol. */
export const DESKTOP_CSP = contentSecurityPolicy({ imageSources: [`${IMAGE_SCHEME}:`] });

export function windowOptions(preload: string, bounds: { x?: number; y?: number; width: number; height: number }): BrowserWindowConstructorOptions {
  return {
    ...bounds,
    minWidth: 960,
    minHeight: 600,
    show: false,
    title: 'Schnell Studio',
    backgroundColor: '#16171a',
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      spellcheck: true,
      safeDialogs: true,
    },
  };
}

/** A navigation of the main window: only within the app's own origin (a reload, a route). */
export function navigationAllowed(url: string): boolean {
  // Compared by scheme and host: Node's URL gives custom schemes an opaque origin ('null').
  try {
    const u = new URL(url);
    return u.protocol === `${APP_SCHEME}:` && u.host === 'studio' && !u.username && !u.password;
  } catch {
    return false;
  }
}

/**
 * What to do with a request for a new window: never open one; an https: link the user clicked
 * (a target=_blank link or a middle-click, never a script's window.open) opens in the browser.
 */
export function newWindowDecision(details: { url: string; disposition: string }): 'open-in-browser' | 'deny' {
  let url: URL;
  try {
    url = new URL(details.url);
  } catch {
    return 'deny';
  }
  if (url.protocol !== 'https:' || url.username || url.password) return 'deny';
  return details.disposition === 'foreground-tab' || details.disposition === 'background-tab' ? 'open-in-browser' : 'deny';
}

/** Every permission (camera, notifications, clipboard reads, HID, …) is refused. */
export function permissionAllowed(_permission: string): false {
  return false;
}

/**
 * Whether an IPC message may reach the studio: it must come from a live frame showing the app's
 * own origin, in the top frame (no iframe, no page navigated elsewhere).
 */
export function senderAllowed(frame: { url: string; parent?: unknown } | null | undefined): boolean {
  if (!frame) return false;
  if (frame.parent) return false;
  return navigationAllowed(frame.url);
}
