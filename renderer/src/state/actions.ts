// Edits the user makes from the grid, the detail view or the keyboard: each calls the contract,
// says what happened in a toast (with Undo where it can be undone) and lets the gallery re-read.
import type { GalleryItem } from '../../../main/contract.js';
import { defaultDraft, randomSeed, toSubmit, withParams, type Draft } from '../editor/draft.js';
import { app, errorText, toast } from './app-state.js';
import { bumpLibrary, refreshProjects } from './live.js';
import { studio } from './studio.js';

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

async function attempt<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    toast(`${what} failed: ${errorText(err)}`, { kind: 'error' });
    return undefined;
  }
}

export async function setFavorite(ids: string[], favorite: boolean): Promise<void> {
  if (!ids.length) return;
  await attempt('Favourite', () => studio.call('library.setFavorite', { ids, favorite }));
  bumpLibrary();
}

export async function rate(ids: string[], rating: number): Promise<void> {
  if (!ids.length) return;
  await attempt('Rating', () => studio.call('library.rate', { ids, rating }));
  bumpLibrary();
}

export async function addTags(ids: string[], tags: string[]): Promise<void> {
  const clean = tags.map((t) => t.trim()).filter(Boolean);
  if (!ids.length || !clean.length) return;
  await attempt('Tagging', () => studio.call('library.tag', { ids, tags: clean }));
  bumpLibrary();
}

export async function removeTag(ids: string[], tag: string): Promise<void> {
  await attempt('Removing the tag', () => studio.call('library.untag', { ids, tags: [tag] }));
  bumpLibrary();
}

/** The last edit Ctrl/Cmd+Z can take back (a trash, for now), and what it says. */
let undoable: { label: string; run: () => Promise<void> } | null = null;

export function undoLast(): void {
  const u = undoable;
  undoable = null;
  if (u) void u.run();
  else toast('Nothing to undo.');
}

export async function trash(ids: string[]): Promise<void> {
  if (!ids.length) return;
  const done = await attempt('Moving to the trash', () => studio.call('library.trash', { ids }));
  if (!done) return;
  app.set((s) => ({
    selection: new Set([...s.selection].filter((id) => !ids.includes(id))),
    view: s.view.kind === 'detail' && ids.includes(s.view.id) ? { kind: 'gallery' } : s.view,
  }));
  bumpLibrary();
  undoable = { label: 'trash', run: () => restore(ids) };
  toast(`${plural(ids.length, 'image')} moved to the trash (Ctrl+Z undoes).`, { action: { label: 'Undo', run: () => { undoable = null; void restore(ids); } } });
}

export async function restore(ids: string[]): Promise<void> {
  const done = await attempt('Restoring', () => studio.call('library.restore', { ids }));
  if (done) toast(`${plural(ids.length, 'image')} restored.`);
  bumpLibrary();
}

export async function moveToProject(ids: string[], project: string | null): Promise<void> {
  if (!ids.length) return;
  if (project && !app.get().projects.some((p) => p.name === project)) {
    const made = await attempt('Creating the project', () => studio.call('projects.create', { name: project }));
    if (!made) return;
  }
  const done = await attempt('Moving', () => studio.call('library.moveToProject', { ids, project }));
  if (done) toast(project ? `${plural(ids.length, 'image')} moved to ${project}.` : `${plural(ids.length, 'image')} taken out of their project.`);
  bumpLibrary();
  void refreshProjects();
}

/**
 * Remix: "remix" and "same seed, edit prompt" load the generation's parameters into the editor as
 * its child; "vary seed" and "run on the other backend" submit a child straight away and leave the
 * editor's draft as it was.
 */
export async function remix(item: GalleryItem, how: 'remix' | 'vary-seed' | 'same-seed' | 'other-backend'): Promise<void> {
  const got = await attempt('Loading its parameters', () => studio.call('generate.paramsOf', { id: item.id }));
  if (!got) return;
  const base: Draft = { ...withParams(defaultDraft(), got.request), parentId: item.id, project: got.project, backend: app.get().draft.backend };
  if (how === 'vary-seed') {
    await submit({ ...base, seedMode: 'locked', seed: randomSeed() }, { remember: false });
    return;
  }
  if (how === 'other-backend') {
    await submit({ ...base, backend: item.backend === 'cloud' ? 'local' : 'cloud' }, { remember: false });
    return;
  }
  app.set({ draft: how === 'remix' ? { ...base, seedMode: 'random' } : base });
  focusPrompt();
}

export function focusPrompt(): void {
  requestAnimationFrame(() => {
    const el = document.getElementById('prompt-input') as HTMLTextAreaElement | null;
    el?.focus();
    el?.setSelectionRange(el.value.length, el.value.length);
  });
}

export async function submit(draft: Draft, opts: { remember?: boolean } = {}): Promise<string | undefined> {
  const res = await attempt('Generate', () => studio.call('generate.submit', toSubmit(draft)));
  if (!res) return undefined;
  // Remember the prompt for ↑ recall, newest first, without repeats.
  if (opts.remember !== false) rememberPrompt(draft.prompt);
  return res.jobId;
}

const HISTORY_KEY = 'schnell.promptHistory';
export function promptHistory(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function rememberPrompt(p: string): void {
  const text = p.trim();
  if (!text) return;
  const next = [text, ...promptHistory().filter((x) => x !== text)].slice(0, 100);
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(next));
  } catch {
    // storage full or disabled: history is a convenience
  }
}

export function openDetail(id: string): void {
  app.set({ view: { kind: 'detail', id } });
}
