// The window: projects and filters on the left, the gallery (or one image, or two compared) in the
// middle, the prompt editor and the queue on the right. Each pane has its own error boundary.
import { useEffect } from 'react';
import { Compare } from './detail/Compare.js';
import { Detail } from './detail/Detail.js';
import { PromptEditor } from './editor/PromptEditor.js';
import { FirstRun } from './firstrun/FirstRun.js';
import { Gallery } from './gallery/Gallery.js';
import { Sidebar } from './projects/Sidebar.js';
import { Queue } from './queue/Queue.js';
import { Settings } from './settings/Settings.js';
import { undoLast } from './state/actions.js';
import { app } from './state/app-state.js';
import { startLive } from './state/live.js';
import { useStore } from './state/store.js';
import { ErrorBoundary } from './ui/ErrorBoundary.js';
import { Toasts } from './ui/Toasts.js';
import { Toolbar } from './ui/Toolbar.js';

export function App() {
  const view = useStore(app, (s) => s.view);
  const showSettings = useStore(app, (s) => s.showSettings);
  const showFirstRun = useStore(app, (s) => s.showFirstRun);
  useEffect(() => startLive(), []);
  // Ctrl/Cmd+Z outside text fields takes back the last trash (text fields keep their own undo).
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.key === 'z' || e.key === 'Z') && (e.ctrlKey || e.metaKey) && !e.shiftKey && !(e.target as HTMLElement).closest('input, textarea, select')) {
        e.preventDefault();
        undoLast();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  return (
    <>
      <div className="app" aria-hidden={showSettings || showFirstRun ? true : undefined}>
        <ErrorBoundary name="sidebar"><Sidebar /></ErrorBoundary>
        <ErrorBoundary name="toolbar"><Toolbar /></ErrorBoundary>
        <main className="main pane" id="main">
          <ErrorBoundary name="gallery">
            {view.kind === 'gallery' && <Gallery />}
            {view.kind === 'detail' && <Detail id={view.id} />}
            {view.kind === 'compare' && <Compare ids={view.ids} />}
          </ErrorBoundary>
        </main>
        <aside className="editor-pane pane" aria-label="Create">
          <ErrorBoundary name="editor"><PromptEditor /></ErrorBoundary>
          <ErrorBoundary name="queue"><Queue /></ErrorBoundary>
        </aside>
      </div>
      {showFirstRun && <ErrorBoundary name="first run"><FirstRun /></ErrorBoundary>}
      {showSettings && !showFirstRun && <ErrorBoundary name="settings"><Settings /></ErrorBoundary>}
      <Toasts />
    </>
  );
}
