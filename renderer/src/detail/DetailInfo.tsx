// The detail view's side panel: remix actions, every parameter (prompt and seed with copy buttons),
// favourite, rating, tags, project, export, reveal, trash, lineage and compare.
import { useState } from 'react';
import type { GalleryItem, Lineage } from '../../../main/contract.js';
import { SAMPLER_LABELS, type SamplerName } from '../editor/draft.js';
import { app, errorText, toast } from '../state/app-state.js';
import { addTags, moveToProject, rate, remix, removeTag, restore, setFavorite, trash } from '../state/actions.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { FolderForm } from '../projects/Sidebar.js';

async function copy(text: string, what: string) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${what} copied.`);
  } catch {
    toast(`Could not copy the ${what.toLowerCase()}: the browser refused the clipboard.`, { kind: 'error' });
  }
}

export function DetailInfo({ item, lineage, onOpen }: { item: GalleryItem; lineage: Lineage<GalleryItem> | null; onOpen: (id: string) => void }) {
  const projects = useStore(app, (s) => s.projects);
  const previous = useStore(app, (s) => s.previousOpened);
  const [tag, setTag] = useState('');
  const [project, setProject] = useState('');
  const [exporting, setExporting] = useState(false);
  const desktop = studio.desktop !== null;
  const untrained = /untrained/i.test(item.model);
  const ids = [item.id];

  const rows: [string, string][] = [
    ['Size', `${item.width} × ${item.height}`],
    ['Steps', item.steps === null ? '—' : String(item.steps)],
    ['Sampler', item.sampler ? SAMPLER_LABELS[item.sampler as SamplerName] ?? item.sampler : 'default'],
    ['CFG scale', item.cfgScale === null ? '—' : String(item.cfgScale)],
    ['Model', item.model],
    ['Backend', item.backend === 'local' ? `this machine${item.device ? ` (${item.device})` : ''}` : item.backend],
    ['Finish', item.finishReason],
    ['Time', item.durationMs === null ? '—' : `${(item.durationMs / 1000).toFixed(1)} s`],
    ['Created', new Date(item.createdAt).toLocaleString()],
    ['Source', item.source],
  ];

  return (
    <aside className="detail-info" aria-label="Image details">
      <h2>{item.prompt ? 'Image' : 'Untitled image'}</h2>
      {untrained && <p className="note">Made by the untrained demo model: colour noise, not a real image.</p>}
      {item.fallbackReason && <p className="note">Made in the cloud because {item.fallbackReason}</p>}
      {item.trashedAt && (
        <p className="note">
          In the trash. <button className="btn small" onClick={() => void restore(ids)}>Restore</button>
        </p>
      )}

      <div className="row wrap" role="group" aria-label="Remix">
        <button className="btn small" onClick={() => void remix(item, 'remix')}>Remix</button>
        <button className="btn small" onClick={() => void remix(item, 'vary-seed')}>Vary seed</button>
        <button className="btn small" onClick={() => void remix(item, 'same-seed')}>Same seed, edit prompt</button>
        <button className="btn small" onClick={() => void remix(item, 'other-backend')}>Run on {item.backend === 'cloud' ? 'this machine' : 'cloud'}</button>
      </div>

      <div className="section">
        <div className="row">
          <h3 className="grow">Prompt</h3>
          <button className="btn small" onClick={() => void copy(item.prompt, 'Prompt')}>Copy prompt</button>
        </div>
        <p className="prompt-text">{item.prompt || '—'}</p>
        {item.negativePrompt && (
          <>
            <h3>Negative prompt</h3>
            <p className="prompt-text">{item.negativePrompt}</p>
          </>
        )}
        <div className="row">
          <span className="hint grow">Seed <strong data-testid="detail-seed">{item.seed ?? 'unknown'}</strong></span>
          {item.seed !== null && <button className="btn small" onClick={() => void copy(String(item.seed), 'Seed')}>Copy seed</button>}
        </div>
        <dl className="params">
          {rows.map(([k, v]) => (
            <div key={k} style={{ display: 'contents' }}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </div>

      <div className="section">
        <h3>Keep</h3>
        <div className="row">
          <button className="btn small" aria-label="Favourite" aria-pressed={item.favorite} onClick={() => void setFavorite(ids, !item.favorite)}>
            {item.favorite ? '★ Favourite' : '☆ Favourite'}
          </button>
          <div className="stars" role="radiogroup" aria-label="Rating" onKeyDown={(e) => {
            if (e.key === 'ArrowRight' || e.key === 'ArrowUp') { e.preventDefault(); void rate(ids, Math.min(5, item.rating + 1)); }
            if (e.key === 'ArrowLeft' || e.key === 'ArrowDown') { e.preventDefault(); void rate(ids, Math.max(0, item.rating - 1)); }
          }}>
            {[1, 2, 3, 4, 5].map((n) => (
              <button key={n} className={`star${n <= item.rating ? ' on' : ''}`} role="radio" aria-checked={n === item.rating} tabIndex={n === Math.max(1, item.rating) ? 0 : -1} aria-label={`${n} star${n === 1 ? '' : 's'}`} onClick={() => void rate(ids, n === item.rating ? 0 : n)}>
                ★
              </button>
            ))}
          </div>
        </div>
        <div className="field" style={{ marginTop: 10 }}>
          <span className="field-label">Tags</span>
          <div className="tag-list">
            {item.tags.map((t) => (
              <span className="tag" key={t}>
                {t}
                <button aria-label={`Remove tag ${t}`} onClick={() => void removeTag(ids, t)}>×</button>
              </span>
            ))}
          </div>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              void addTags(ids, tag.split(','));
              setTag('');
            }}
          >
            <input className="input grow" aria-label="Add tags" placeholder="Add tags, comma separated" value={tag} onChange={(e) => setTag(e.target.value)} />
            <button className="btn small" type="submit">Add</button>
          </form>
        </div>
        <form
          className="field"
          onSubmit={(e) => {
            e.preventDefault();
            void moveToProject(ids, project.trim() || null);
            setProject('');
          }}
        >
          <span className="field-label">Project: {item.project ?? 'none'}</span>
          <label htmlFor="move-project" className="visually-hidden">Move to project</label>
          <div className="row">
            <input id="move-project" className="input grow" list="detail-projects" placeholder="Move to project (new or existing)" value={project} onChange={(e) => setProject(e.target.value)} />
            <datalist id="detail-projects">{projects.map((p) => <option key={p.name} value={p.name} />)}</datalist>
            <button className="btn small" type="submit">Move</button>
          </div>
        </form>
      </div>

      <div className="section">
        <h3>File</h3>
        <div className="row" style={{ flexWrap: 'wrap' }}>
          <button className="btn small" onClick={() => setExporting((v) => !v)} aria-expanded={exporting}>Export…</button>
          {desktop && (
            <button className="btn small" onClick={() => studio.call('library.reveal', { id: item.id }).catch((err) => toast(errorText(err), { kind: 'error' }))}>
              Reveal in folder
            </button>
          )}
          <a className="btn small" href={item.imageUrl} download>Download</a>
          {!item.trashedAt && <button className="btn small danger" onClick={() => void trash(ids)}>Move to trash</button>}
        </div>
        {exporting && (
          <FolderForm
            label="Folder to export this image into"
            action="Export"
            onDone={async (folder) => {
              setExporting(false);
              try {
                const r = await studio.call('library.export', { ids, folder });
                toast(`Exported ${r.files} file${r.files === 1 ? '' : 's'} to ${r.folder}.`);
              } catch (err) {
                toast(`Export failed: ${errorText(err)}`, { kind: 'error' });
              }
            }}
          />
        )}
      </div>

      <div className="section">
        <h3>Lineage</h3>
        {lineage && (lineage.ancestors.length > 0 || lineage.remixes.length > 0) ? (
          <div className="lineage" role="list" aria-label="Lineage">
            {[...lineage.ancestors].reverse().map((g) => (
              <LineageItem key={g.id} g={g} label="Parent" onOpen={onOpen} />
            ))}
            <LineageItem g={item} label="This image" current onOpen={onOpen} />
            {lineage.remixes.map((g) => (
              <LineageItem key={g.id} g={g} label={g.depth === 1 ? 'Remix' : `Remix, ${g.depth} levels down`} onOpen={onOpen} />
            ))}
          </div>
        ) : (
          <p className="hint">No parent or remixes yet. Remix this image to start a lineage.</p>
        )}
      </div>

      <div className="section">
        <h3>Compare</h3>
        <div className="row">
          {previous && previous.id !== item.id ? (
            <button className="btn small" onClick={() => app.set({ view: { kind: 'compare', ids: [previous.id, item.id] } })}>Compare with the previous image</button>
          ) : lineage?.ancestors[0] ? (
            <button className="btn small" onClick={() => app.set({ view: { kind: 'compare', ids: [lineage.ancestors[0]!.id, item.id] } })}>Compare with its parent</button>
          ) : (
            <span className="hint">Select two images in the gallery and choose Compare.</span>
          )}
        </div>
      </div>
    </aside>
  );
}

function LineageItem({ g, label, current, onOpen }: { g: GalleryItem; label: string; current?: boolean; onOpen: (id: string) => void }) {
  return (
    <div role="listitem">
      <button className={`lineage-item${current ? ' current' : ''}`} aria-current={current ? 'true' : undefined} aria-label={`${label}: seed ${g.seed ?? 'unknown'}, ${g.prompt.slice(0, 60)}`} onClick={() => onOpen(g.id)}>
        <img src={g.thumbnailUrl} alt="" width={60} height={Math.round((60 * g.height) / g.width)} />
      </button>
    </div>
  );
}
