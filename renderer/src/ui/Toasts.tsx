// Short messages at the bottom of the window (what just happened, with Undo where it applies),
// announced to screen readers through a polite live region.
import { app, dismissToast } from '../state/app-state.js';
import { useStore } from '../state/store.js';

export function Toasts() {
  const toasts = useStore(app, (s) => s.toasts);
  return (
    <div className="toasts" role="status" aria-live="polite">
      {toasts.map((t) => (
        <div key={t.id} className={`toast${t.kind === 'error' ? ' error' : ''}`}>
          <span>{t.text}</span>
          {t.action && (
            <button className="btn small" onClick={() => { t.action!.run(); dismissToast(t.id); }}>{t.action.label}</button>
          )}
          <button className="btn small ghost" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>×</button>
        </div>
      ))}
    </div>
  );
}
