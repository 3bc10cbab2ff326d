// The gallery's filters, offered from the facet counts of the current view (scope and search text):
// resolution, backend, finish reason, model, rating, tag, favourites. Each is a labelled select.
import { useEffect, useState } from 'react';
import type { Facets } from '../../../main/contract.js';
import { app, currentQuery, type Filters as FilterState } from '../state/app-state.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';

export function Filters() {
  const scope = useStore(app, (s) => s.scope);
  const text = useStore(app, (s) => s.text);
  const filters = useStore(app, (s) => s.filters);
  const version = useStore(app, (s) => s.libraryVersion);
  const [facets, setFacets] = useState<Facets | null>(null);

  useEffect(() => {
    let live = true;
    const { sort: _s, ...q } = currentQuery({ scope, filters: {}, text, sort: 'newest' });
    const t = setTimeout(() => {
      studio.call('library.facets', q).then((f) => live && setFacets(f)).catch(() => live && setFacets(null));
    }, 120);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [scope, text, version]);

  const set = (patch: Partial<FilterState>) =>
    app.set((s) => {
      const next: FilterState = { ...s.filters, ...patch };
      for (const k of Object.keys(next) as (keyof FilterState)[]) if (next[k] === undefined || next[k] === '') delete next[k];
      return { filters: next, view: { kind: 'gallery' }, selection: new Set() };
    });
  const active = Object.keys(filters).length;

  const Select = ({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: { value: string; label: string }[]; onChange: (v: string) => void }) => (
    <div className="field filter-group">
      <label htmlFor={id}>{label}</label>
      <select id={id} className="select" value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">Any</option>
        {options.map((o) => (
          <option key={o.value} value={o.value}>{o.label}</option>
        ))}
      </select>
    </div>
  );

  const counted = (xs: { value: string | number | null; count: number }[] | undefined, fmt: (v: string) => string = (v) => v) =>
    (xs ?? []).filter((x) => x.value !== null).map((x) => ({ value: String(x.value), label: `${fmt(String(x.value))} (${x.count.toLocaleString()})` }));

  return (
    <section className="nav-section" aria-label="Filters">
      <h2 className="nav-title">
        Filters
        {active > 0 && <button className="btn small ghost" onClick={() => app.set({ filters: {} })}>Clear ({active})</button>}
      </h2>
      {Select({ id: 'f-resolution', label: 'Resolution', value: filters.resolution ?? '', options: withCurrent(counted(facets?.resolutions, (v) => v.replace('x', '×')), filters.resolution), onChange: (v) => set({ resolution: v || undefined }) })}
      {Select({ id: 'f-backend', label: 'Backend', value: filters.backend ?? '', options: withCurrent(counted(facets?.backends), filters.backend), onChange: (v) => set({ backend: (v || undefined) as FilterState['backend'] }) })}
      {Select({ id: 'f-finish', label: 'Finish reason', value: filters.finishReason ?? '', options: withCurrent(counted(facets?.finishReasons), filters.finishReason), onChange: (v) => set({ finishReason: v || undefined }) })}
      {Select({ id: 'f-source', label: 'Source', value: filters.source ?? '', options: withCurrent(counted(facets?.sources, sourceLabel), filters.source), onChange: (v) => set({ source: (v || undefined) as FilterState['source'] }) })}
      {Select({ id: 'f-model', label: 'Model', value: filters.model ?? '', options: withCurrent(counted(facets?.models), filters.model), onChange: (v) => set({ model: v || undefined }) })}
      {Select({ id: 'f-tag', label: 'Tag', value: filters.tag ?? '', options: withCurrent(counted(facets?.tags), filters.tag), onChange: (v) => set({ tag: v || undefined }) })}
      {Select({
        id: 'f-rating',
        label: 'Rating',
        value: filters.minRating ? String(filters.minRating) : '',
        options: [1, 2, 3, 4, 5].map((n) => ({ value: String(n), label: `${'★'.repeat(n)} or more` })),
        onChange: (v) => set({ minRating: v ? Number(v) : undefined }),
      })}
      <label className="switch filter-group">
        <input type="checkbox" checked={filters.favorite ?? false} onChange={(e) => set({ favorite: e.target.checked || undefined })} />
        Favourites only{facets ? ` (${facets.favorites.toLocaleString()})` : ''}
      </label>
    </section>
  );
}

const SOURCES: Record<string, string> = { ui: 'Made here', cli: 'Command line', api: 'Local API', studio: 'Made here (older)', a1111: 'AUTOMATIC1111', comfyui: 'ComfyUI', invokeai: 'InvokeAI', unknown: 'Imported' };
const sourceLabel = (v: string) => SOURCES[v] ?? v;

/** Keeps the chosen value listed even when the counts no longer include it. */
function withCurrent(options: { value: string; label: string }[], current: string | undefined) {
  if (current && !options.some((o) => o.value === current)) return [{ value: current, label: current }, ...options];
  return options;
}
