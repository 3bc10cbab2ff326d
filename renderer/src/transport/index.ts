// The renderer's one way to the studio core. In the desktop app the preload exposes the contract as
// `window.schnell`; in a browser (the headless `schnell studio`) the same calls go over HTTP and the
// events over server-sent events. Both are typed from main/contract.ts, of which only types come in.
import type { StudioBridge, StudioClient } from '../../../main/contract.js';
import { httpClient } from './http.js';

declare global {
  interface Window {
    schnell?: StudioBridge;
  }
}

export type { StudioClient };
export { CallError } from './http.js';

/** The desktop bridge when the preload put one there, else HTTP to the page's own origin. */
export function connect(): StudioClient & { desktop: StudioBridge | null } {
  const bridge = typeof window !== 'undefined' ? window.schnell : undefined;
  if (bridge && typeof bridge.call === 'function') {
    return { call: bridge.call.bind(bridge) as StudioClient['call'], on: bridge.on.bind(bridge) as StudioClient['on'], desktop: bridge };
  }
  return { ...httpClient(new URL('./', window.location.href).href), desktop: null };
}
