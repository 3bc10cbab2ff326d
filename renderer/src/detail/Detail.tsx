// The detail view: one image at full size (fit, 100 %, zoom in and out), its parameters and edits
// beside it, and its lineage. ← and → step through the gallery's order; Escape goes back.
import { useEffect, useRef, useState, type KeyboardEvent, type WheelEvent } from 'react';
import type { GalleryItem, Lineage } from '../../../main/contract.js';
import { app, errorText } from '../state/app-state.js';
import { openDetail } from '../state/actions.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { DetailInfo } from './DetailInfo.js';

export function Detail({ id }: { id: string }) {
  const version = useStore(app, (s) => s.libraryVersion);
  const [item, setItem] = useState<GalleryItem | null | undefined>(undefined);
  const [lineage, setLineage] = useState<Lineage<GalleryItem> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [zoom, setZoom] = useState<number | 'fit'>('fit');

  useEffect(() => {
    let live = true;
    setError(null);
    Promise.all([studio.call('library.get', { id }), studio.call('library.lineage', { id })])
      .then(([g, l]) => {
        if (!live) return;
        setItem(g);
        setLineage(l);
        if (g) app.set((s) => ({ lastOpened: g, previousOpened: s.lastOpened && s.lastOpened.id !== g.id ? s.lastOpened : s.previousOpened }));
      })
      .catch((err) => live && setError(errorText(err)));
    return () => {
      live = false;
    };
  }, [id, version]);

  useEffect(() => setZoom('fit'), [id]);
  // Keyboard users land on the image (zoom keys work there; Tab continues into the details).
  const stageRef = useRef<HTMLDivElement>(null);
  const loaded = item !== undefined;
  useEffect(() => {
    if (loaded && (document.activeElement === document.body || document.activeElement === null)) stageRef.current?.focus();
  }, [loaded, id]);

  const back = () => app.set({ view: { kind: 'gallery' } });

  function onKey(e: KeyboardEvent) {
    const target = e.target as HTMLElement;
    if (target.closest('input, textarea, select')) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      back();
    } else if (e.key === '+' || e.key === '=') {
      setZoom((z) => Math.min(8, (z === 'fit' ? 1 : z) * 1.25));
    } else if (e.key === '-') {
      setZoom((z) => Math.max(0.1, (z === 'fit' ? 1 : z) / 1.25));
    } else if (e.key === '0') {
      setZoom('fit');
    } else if (e.key === '1') {
      setZoom(1);
    }
  }

  function onWheel(e: WheelEvent) {
    if (!e.ctrlKey && !e.metaKey) return;
    e.preventDefault();
    setZoom((z) => Math.max(0.1, Math.min(8, (z === 'fit' ? 1 : z) * (e.deltaY < 0 ? 1.1 : 1 / 1.1))));
  }

  if (error) return <div className="pane-error" role="alert"><h2>Could not open this image</h2><p>{error}</p><button className="btn" onClick={back}>Back to the gallery</button></div>;
  if (item === undefined) return <div className="empty" aria-busy="true">Loading…</div>;
  if (item === null) return <div className="empty"><h2>This image is gone</h2><p>It was deleted for good.</p><button className="btn" onClick={back}>Back to the gallery</button></div>;

  const w = zoom === 'fit' ? undefined : Math.round(item.width * zoom);
  return (
    <div className="detail" onKeyDown={onKey}>
      <div className="detail-stage-wrap">
        <div className="stage-tools" role="toolbar" aria-label="View">
          <button className="btn small" onClick={back} aria-label="Back to the gallery">← Gallery</button>
          <button className="btn small" aria-pressed={zoom === 'fit'} onClick={() => setZoom('fit')}>Fit</button>
          <button className="btn small" aria-pressed={zoom === 1} onClick={() => setZoom(1)}>100%</button>
          <button className="btn small" aria-label="Zoom out" onClick={() => setZoom((z) => Math.max(0.1, (z === 'fit' ? 1 : z) / 1.25))}>−</button>
          <button className="btn small" aria-label="Zoom in" onClick={() => setZoom((z) => Math.min(8, (z === 'fit' ? 1 : z) * 1.25))}>+</button>
          <span className="hint" aria-live="polite">{zoom === 'fit' ? 'fit' : `${Math.round(zoom * 100)}%`}</span>
        </div>
        <div ref={stageRef} className={`detail-stage${zoom === 'fit' ? ' fit' : ''}`} onWheel={onWheel} tabIndex={0} aria-label="Image, use plus and minus to zoom" role="region">
        <img
          key={item.id}
          src={item.imageUrl}
          alt={item.prompt || 'Generated image'}
          width={w ?? item.width}
          height={w ? Math.round((w * item.height) / item.width) : item.height}
        />
        </div>
      </div>
      <DetailInfo item={item} lineage={lineage} onOpen={openDetail} />
    </div>
  );
}
