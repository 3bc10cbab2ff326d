// Two images side by side, each with the parameters that differ underneath (local against cloud,
// one seed against another, a remix against its parent).
import { useEffect, useState } from 'react';
import type { GalleryItem } from '../../../main/contract.js';
import { app, errorText } from '../state/app-state.js';
import { studio } from '../state/studio.js';

const FIELDS: [keyof GalleryItem, string][] = [
  ['seed', 'seed'], ['backend', 'backend'], ['steps', 'steps'], ['cfgScale', 'CFG'], ['sampler', 'sampler'], ['model', 'model'], ['durationMs', 'ms'],
];

export function Compare({ ids }: { ids: [string, string] }) {
  const [items, setItems] = useState<(GalleryItem | null)[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    Promise.all(ids.map((id) => studio.call('library.get', { id })))
      .then(setItems)
      .catch((err) => setError(errorText(err)));
  }, [ids]);
  const back = () => app.set({ view: { kind: 'gallery' } });
  if (error) return <div className="pane-error" role="alert"><h2>Could not compare</h2><p>{error}</p></div>;
  if (!items) return <div className="empty" aria-busy="true">Loading…</div>;
  const [a, b] = items;
  return (
    <div className="fill" onKeyDown={(e) => e.key === 'Escape' && back()}>
      <div className="gallery-bar">
        <button className="btn small" onClick={back} autoFocus aria-label="Back to the gallery">← Gallery</button>
        <span>Compare</span>
      </div>
      <div className="compare">
        {[a, b].map((g, i) => (
          <figure key={i}>
            {g ? <img src={g.imageUrl} alt={g.prompt || 'Generated image'} width={g.width} height={g.height} /> : <p className="empty">This image is gone.</p>}
            {g && (
              <figcaption>
                {g.prompt.slice(0, 120)}
                <br />
                {FIELDS.filter(([k]) => a && b && a[k] !== b[k]).map(([k, label]) => `${label} ${String(g[k] ?? '—')}`).join(' · ') || 'same parameters'}
              </figcaption>
            )}
          </figure>
        ))}
      </div>
    </div>
  );
}
