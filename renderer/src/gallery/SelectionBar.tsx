// What can be done to several images at once: favourite, move to a project, trash (or restore),
// compare two side by side.
import { useState } from 'react';
import { app } from '../state/app-state.js';
import { moveToProject, restore, setFavorite, trash } from '../state/actions.js';
import { useStore } from '../state/store.js';

export function SelectionBar() {
  const selection = useStore(app, (s) => s.selection);
  const inTrash = useStore(app, (s) => s.scope.kind === 'trash');
  const projects = useStore(app, (s) => s.projects);
  const [moving, setMoving] = useState(false);
  const [newName, setNewName] = useState('');
  if (selection.size < 2 && !inTrash) return null;
  if (selection.size === 0) return null;
  const ids = [...selection];
  return (
    <div className="row" role="toolbar" aria-label="Selected images">
      <span>{ids.length} selected</span>
      {inTrash ? (
        <button className="btn small" onClick={() => void restore(ids)}>Restore</button>
      ) : (
        <>
          <button className="btn small" onClick={() => void setFavorite(ids, true)}>Favourite</button>
          {ids.length === 2 && (
            <button className="btn small" onClick={() => app.set({ view: { kind: 'compare', ids: [ids[0]!, ids[1]!] } })}>Compare</button>
          )}
          {moving ? (
            <form
              className="row"
              onSubmit={(e) => {
                e.preventDefault();
                const name = newName.trim();
                setMoving(false);
                setNewName('');
                void moveToProject(ids, name || null);
              }}
            >
              <input className="input" list="project-names" aria-label="Move to project named" placeholder="Project" value={newName} onChange={(e) => setNewName(e.target.value)} autoFocus />
              <datalist id="project-names">{projects.map((p) => <option key={p.name} value={p.name} />)}</datalist>
              <button className="btn small" type="submit">Move</button>
            </form>
          ) : (
            <button className="btn small" onClick={() => setMoving(true)}>Move to project…</button>
          )}
          <button className="btn small danger" onClick={() => void trash(ids)}>Trash</button>
        </>
      )}
      <button className="btn small ghost" onClick={() => app.set({ selection: new Set() })}>Clear selection</button>
    </div>
  );
}
