// What the whole window shares: where the user is (gallery, detail, compare), the gallery's query,
// the selection, the editor's draft, the queue, and the studio's settings. Panes read slices of it.
import type { BackendAvailability, BackendChoice, GalleryItem, LibraryQuery, Project, QueueJob, StudioInfo, StudioSettings } from '../../../main/contract.js';
import { createStore } from './store.js';
import { defaultDraft, type Draft } from '../editor/draft.js';

export type View = { kind: 'gallery' } | { kind: 'detail'; id: string } | { kind: 'compare'; ids: [string, string] };

/** The left column's choice: the whole library, favourites, the trash, or one project. */
export type Scope = { kind: 'all' } | { kind: 'favorites' } | { kind: 'trash' } | { kind: 'project'; name: string };

export interface Filters {
  resolution?: string; // "1024x1024"
  backend?: 'local' | 'cloud' | 'imported';
  finishReason?: string;
  model?: string;
  minRating?: number;
  tag?: string;
  favorite?: boolean;
  source?: NonNullable<LibraryQuery['source']>;
}

export interface LiveJob extends QueueJob {
  /** The runtime's live preview while an image forms, or the thumbnail of the last image saved. */
  previewUrl: string | null;
  /** True while previewUrl is the live preview (it lives only while the job runs). */
  forming: boolean;
}

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
  action?: { label: string; run: () => void };
}

export interface AppState {
  view: View;
  scope: Scope;
  filters: Filters;
  text: string;
  sort: NonNullable<LibraryQuery['sort']>;
  selection: ReadonlySet<string>;
  /** The item keyboard focus sits on in the grid (index into the current query's results). */
  activeIndex: number;
  /** Bumped whenever the library changed in a way the gallery should re-read. */
  libraryVersion: number;
  draft: Draft;
  jobs: readonly LiveJob[];
  projects: readonly Project[];
  settings: StudioSettings | null;
  backends: BackendAvailability | null;
  info: StudioInfo | null;
  showSettings: boolean;
  showFirstRun: boolean;
  toasts: readonly Toast[];
  /** The last generation the user looked at in detail (for "reuse last" and compare). */
  lastOpened: GalleryItem | null;
  /** The one opened before it (offered for compare). */
  previousOpened: GalleryItem | null;
  /** The seed of the most recent image made here (for "reuse last"). */
  lastSeed: number | null;
}

export const app = createStore<AppState>({
  view: { kind: 'gallery' },
  scope: { kind: 'all' },
  filters: {},
  text: '',
  sort: 'newest',
  selection: new Set(),
  activeIndex: 0,
  libraryVersion: 0,
  draft: defaultDraft(),
  jobs: [],
  projects: [],
  settings: null,
  backends: null,
  info: null,
  showSettings: false,
  showFirstRun: false,
  toasts: [],
  lastOpened: null,
  previousOpened: null,
  lastSeed: null,
});

export type { BackendChoice };

/** The catalog query the gallery shows for the current scope, filters, search text and sort. */
export function currentQuery(s: Pick<AppState, 'scope' | 'filters' | 'text' | 'sort'>): LibraryQuery {
  const q: LibraryQuery = { sort: s.sort };
  if (s.scope.kind === 'favorites') q.favorite = true;
  if (s.scope.kind === 'trash') q.trashed = true;
  if (s.scope.kind === 'project') q.project = s.scope.name;
  const f = s.filters;
  if (f.resolution) {
    const [w, h] = f.resolution.split('x').map(Number);
    if (w && h) {
      q.width = w;
      q.height = h;
    }
  }
  if (f.backend) q.backend = f.backend;
  if (f.finishReason) q.finishReason = f.finishReason;
  if (f.model) q.model = f.model;
  if (f.minRating) q.minRating = f.minRating;
  if (f.tag) q.tags = [f.tag];
  if (f.favorite) q.favorite = true;
  if (f.source) q.source = f.source;
  const text = s.text.trim();
  if (text) q.text = text;
  return q;
}

let toastSeq = 0;
export function toast(text: string, opts: { kind?: Toast['kind']; action?: Toast['action']; ms?: number } = {}): void {
  const t: Toast = { id: ++toastSeq, text, kind: opts.kind ?? 'info', ...(opts.action ? { action: opts.action } : {}) };
  app.set((s) => ({ toasts: [...s.toasts.slice(-3), t] }));
  setTimeout(() => dismissToast(t.id), opts.ms ?? (opts.action ? 10000 : 4000));
}

export function dismissToast(id: number): void {
  app.set((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) }));
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
