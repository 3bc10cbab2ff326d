// The left column: the library's views (everything, favourites, trash), the projects (each a view
// of the library with its own editor defaults) and the gallery's filters.
import { useState } from 'react';
import type { Project } from '../../../main/contract.js';
import { app, errorText, toast, type Scope } from '../state/app-state.js';
import { bumpLibrary, refreshProjects } from '../state/live.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { Filters } from './Filters.js';
import { applyDefaults, draftDefaults } from '../editor/draft.js';

const same = (a: Scope, b: Scope) => a.kind === b.kind && (a.kind !== 'project' || (b.kind === 'project' && a.name === b.name));

function pick(scope: Scope) {
  app.set((s) => {
    let draft = s.draft;
    if (scope.kind === 'project') {
      const p = s.projects.find((x) => x.name === scope.name);
      draft = { ...applyDefaults(s.draft, p?.defaults ?? {}), project: scope.name };
    } else if (s.draft.project) {
      draft = { ...s.draft, project: null };
    }
    return { scope, view: { kind: 'gallery' }, selection: new Set(), draft };
  });
}

function NavButton({ scope, target, children }: { scope: Scope; target: Scope; children: React.ReactNode }) {
  return (
    <button className="nav-item" aria-current={same(scope, target) ? 'true' : undefined} onClick={() => pick(target)}>
      {children}
    </button>
  );
}

async function run<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    const r = await fn();
    void refreshProjects();
    return r;
  } catch (err) {
    toast(`${what} failed: ${errorText(err)}`, { kind: 'error' });
    return undefined;
  }
}

export function Sidebar() {
  const scope = useStore(app, (s) => s.scope);
  const projects = useStore(app, (s) => s.projects);
  const [creating, setCreating] = useState(false);
  const [showArchived, setShowArchived] = useState(false);
  const [importing, setImporting] = useState(false);
  const visible = projects.filter((p) => showArchived || !p.archived);

  return (
    <nav className="sidebar pane" aria-label="Library">
      <div className="brand">
        <span className="brand-mark" aria-hidden="true" />
        Schnell Studio
      </div>
      <ul className="nav-list">
        <li><NavButton scope={scope} target={{ kind: 'all' }}>All images</NavButton></li>
        <li><NavButton scope={scope} target={{ kind: 'favorites' }}>Favourites</NavButton></li>
        <li><NavButton scope={scope} target={{ kind: 'trash' }}>Trash</NavButton></li>
      </ul>

      <div className="nav-section">
        <h2 className="nav-title">
          Projects
          <span className="row">
            <button className="btn small ghost" onClick={() => setImporting((v) => !v)} aria-expanded={importing}>Import…</button>
            <button className="btn small ghost" aria-label="New project" onClick={() => setCreating(true)}>+</button>
          </span>
        </h2>
        {importing && (
          <FolderForm
            label="Project folder to import"
            action="Import"
            onDone={async (folder) => {
              setImporting(false);
              const r = await run('Importing the project', () => studio.call('projects.import', { folder }));
              if (r) {
                toast(`Imported ${r.imported} images into ${r.project}.`);
                bumpLibrary();
              }
            }}
          />
        )}
        {creating && (
          <NameForm
            label="New project name"
            onDone={async (name) => {
              setCreating(false);
              if (!name) return;
              const p = await run('Creating the project', () => studio.call('projects.create', { name }));
              if (p) pick({ kind: 'project', name: p.name });
            }}
          />
        )}
        <ul className="nav-list">
          {visible.map((p) => (
            <ProjectRow key={p.name} project={p} current={scope.kind === 'project' && scope.name === p.name} />
          ))}
        </ul>
        {projects.length === 0 && !creating && <p className="hint filter-group">Projects group images and keep their own editor defaults.</p>}
        {projects.some((p) => p.archived) && (
          <button className="btn small ghost" onClick={() => setShowArchived((v) => !v)} aria-pressed={showArchived}>
            Show archived
          </button>
        )}
      </div>

      <Filters />
    </nav>
  );
}

function ProjectRow({ project: p, current }: { project: Project; current: boolean }) {
  const [mode, setMode] = useState<'none' | 'rename' | 'export'>('none');
  const draft = useStore(app, (s) => s.draft);
  const lastOpened = useStore(app, (s) => s.lastOpened);
  const coverCandidate = lastOpened && lastOpened.project === p.name && !(p.coverChosen && lastOpened.id === p.coverId) ? lastOpened : null;
  return (
    <li>
      <button className="nav-item" aria-current={current ? 'true' : undefined} onClick={() => pick({ kind: 'project', name: p.name })}>
        {p.coverThumbnailUrl ? <img className="cover" src={p.coverThumbnailUrl} alt="" width={22} height={22} /> : <span className="cover" aria-hidden="true" />}
        <span>{p.name}{p.archived ? ' (archived)' : ''}</span>
        <span className="count">{p.count}</span>
      </button>
      {current && (
        <div className="project-tools" role="group" aria-label={`Project ${p.name}`}>
          <button className="btn small" onClick={() => setMode(mode === 'rename' ? 'none' : 'rename')}>Rename</button>
          <button className="btn small" onClick={() => void run('Archiving', () => studio.call('projects.archive', { name: p.name, archived: !p.archived }))}>
            {p.archived ? 'Unarchive' : 'Archive'}
          </button>
          {/* The cover is the image last opened in this project (the catalog refuses one from elsewhere). */}
          <button
            className="btn small"
            disabled={!coverCandidate}
            title={coverCandidate ? `“${coverCandidate.prompt.slice(0, 60)}”` : `Open an image of ${p.name} first`}
            onClick={() => coverCandidate && void run('Setting the cover', () => studio.call('projects.setCover', { name: p.name, generationId: coverCandidate.id }))}
          >
            Use last opened as cover
          </button>
          {p.coverChosen && (
            <button className="btn small" onClick={() => void run('Resetting the cover', () => studio.call('projects.setCover', { name: p.name, generationId: null }))}>
              Newest image as cover
            </button>
          )}
          <button
            className="btn small"
            onClick={async () => {
              const r = await run('Saving the defaults', () => studio.call('projects.setDefaults', { name: p.name, defaults: draftDefaults(draft) }));
              if (r) toast(`Saved: ${p.name} now opens with these editor settings.`);
            }}
          >
            Save editor settings as defaults
          </button>
          <button className="btn small" onClick={() => setMode(mode === 'export' ? 'none' : 'export')}>Export…</button>
          {mode === 'rename' && (
            <NameForm
              label={`New name for ${p.name}`}
              initial={p.name}
              onDone={async (to) => {
                setMode('none');
                if (!to || to === p.name) return;
                const r = await run('Renaming', () => studio.call('projects.rename', { from: p.name, to }));
                if (r) pick({ kind: 'project', name: r.name });
              }}
            />
          )}
          {mode === 'export' && (
            <FolderForm
              label={`Folder to export ${p.name} into`}
              action="Export"
              onDone={async (folder) => {
                setMode('none');
                const r = await run('Exporting', () => studio.call('projects.export', { name: p.name, folder }));
                if (r) toast(`Exported ${r.files} files to ${r.folder}.`);
              }}
            />
          )}
        </div>
      )}
    </li>
  );
}

function NameForm({ label, initial = '', onDone }: { label: string; initial?: string; onDone: (name: string) => void }) {
  const [v, setV] = useState(initial);
  return (
    <form
      className="row filter-group"
      onSubmit={(e) => {
        e.preventDefault();
        onDone(v.trim());
      }}
    >
      <input className="input grow" aria-label={label} placeholder={label} value={v} onChange={(e) => setV(e.target.value)} autoFocus onKeyDown={(e) => e.key === 'Escape' && onDone('')} />
      <button className="btn small" type="submit">OK</button>
    </form>
  );
}

export function FolderForm({ label, action, onDone }: { label: string; action: string; onDone: (folder: string) => void }) {
  const [v, setV] = useState('');
  return (
    <form
      className="row filter-group"
      onSubmit={(e) => {
        e.preventDefault();
        if (v.trim()) onDone(v.trim());
      }}
    >
      <input className="input grow" aria-label={label} placeholder="/path/to/folder" value={v} onChange={(e) => setV(e.target.value)} autoFocus />
      <button className="btn small" type="submit">{action}</button>
    </form>
  );
}
