// The bar over the gallery: full-text search (debounced, so typing stays smooth), sort, and the
// doors to models and settings. "/" focuses the search from anywhere outside a text field.
import { useEffect, useRef, useState } from 'react';
import { app, type AppState } from '../state/app-state.js';
import { useStore } from '../state/store.js';

export function Toolbar() {
  const text = useStore(app, (s) => s.text);
  const sort = useStore(app, (s) => s.sort);
  const [value, setValue] = useState(text);
  const ref = useRef<HTMLInputElement>(null);

  useEffect(() => setValue(text), [text]);
  useEffect(() => {
    if (value === app.get().text) return;
    const t = setTimeout(() => app.set({ text: value, view: { kind: 'gallery' }, selection: new Set() }), 150);
    return () => clearTimeout(t);
  }, [value]);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key === '/' && !t.closest('input, textarea, select, [contenteditable]')) {
        e.preventDefault();
        ref.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <header className="toolbar pane">
      <input
        ref={ref}
        type="search"
        className="input search"
        aria-label="Search"
        placeholder="Search prompts  /"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter') app.set({ text: value, view: { kind: 'gallery' } });
          if (e.key === 'Escape') setValue('');
        }}
      />
      <label className="row hint">
        <span>Sort</span>
        <select className="select" aria-label="Sort" value={sort} onChange={(e) => app.set({ sort: e.target.value as AppState['sort'] })}>
          <option value="newest">Newest first</option>
          <option value="oldest">Oldest first</option>
          <option value="rating">Highest rated</option>
          <option value="favorites">Favourites first</option>
        </select>
      </label>
      <span className="grow" style={{ flex: 1 }} />
      <button className="btn ghost" onClick={() => app.set({ showFirstRun: true })}>Models</button>
      <button className="btn ghost" onClick={() => app.set({ showSettings: true })}>Settings</button>
    </header>
  );
}
