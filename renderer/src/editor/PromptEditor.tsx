// The prompt editor: everything a request carries, laid out in the order people decide it (what,
// shape, how many, how), with the backend that will serve it and what the model will ignore said
// in place. Ctrl/Cmd+Enter generates from anywhere in the editor; ↑ in an empty (or untouched)
// prompt recalls earlier prompts.
import { useRef, useState, type KeyboardEvent } from 'react';
import type { BackendChoice } from '../../../main/contract.js';
import { app } from '../state/app-state.js';
import { promptHistory, submit } from '../state/actions.js';
import { useStore } from '../state/store.js';
import { aspectLabel, blocker, explanations, MAX_SEED, RESOLUTIONS, SAMPLER_LABELS, servingSummary, type Draft, type SamplerName } from './draft.js';

const setDraft = (patch: Partial<Draft>) => app.set((s) => ({ draft: { ...s.draft, ...patch } }));

export function PromptEditor() {
  const draft = useStore(app, (s) => s.draft);
  const backends = useStore(app, (s) => s.backends);
  const lastSeed = useStore(app, (s) => s.lastSeed);
  const [busy, setBusy] = useState(false);
  const [tried, setTried] = useState(false);
  const history = useRef<{ index: number; list: string[] } | null>(null);

  const problem = blocker(draft);
  const serving = servingSummary(draft.backend, backends);
  const notes = explanations(draft, backends);

  async function generate() {
    setTried(true);
    if (problem || busy) return;
    setBusy(true);
    try {
      await submit(draft);
      history.current = null;
    } finally {
      setBusy(false);
    }
  }

  function onEditorKey(e: KeyboardEvent) {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      void generate();
    }
  }

  function onPromptKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    const el = e.currentTarget;
    const atStart = el.selectionStart === 0 && el.selectionEnd === 0;
    if (e.key === 'ArrowUp' && (draft.prompt === '' || atStart || history.current)) {
      const list = history.current?.list ?? promptHistory();
      const index = (history.current?.index ?? -1) + 1;
      if (index < list.length) {
        e.preventDefault();
        history.current = { index, list };
        setDraft({ prompt: list[index]! });
      }
    } else if (e.key === 'ArrowDown' && history.current) {
      e.preventDefault();
      const index = history.current.index - 1;
      history.current = index < 0 ? null : { ...history.current, index };
      setDraft({ prompt: index < 0 ? '' : history.current!.list[index]! });
    }
  }

  return (
    <section className="editor" aria-label="Prompt editor" onKeyDown={onEditorKey}>
      <div className="editor-scroll">
      <h2>
        Create
        <span className="hint">
          <span className="kbd">{navigator.platform.startsWith('Mac') ? '⌘' : 'Ctrl'}</span> + <span className="kbd">Enter</span>
        </span>
      </h2>
      {draft.parentId && (
        <div className="remix-banner" role="status">
          <span className="grow">Remixing an earlier image: the result is recorded as its child.</span>
          <button className="btn small ghost" onClick={() => setDraft({ parentId: null })}>Stop remixing</button>
        </div>
      )}
      <div className="field">
        <label htmlFor="prompt-input">Prompt</label>
        <textarea
          id="prompt-input"
          className="textarea"
          value={draft.prompt}
          placeholder="A lighthouse at dusk, volumetric light, 35 mm film"
          aria-describedby="prompt-hint"
          aria-invalid={tried && !draft.prompt.trim() ? true : undefined}
          onChange={(e) => {
            history.current = null;
            setDraft({ prompt: e.target.value });
          }}
          onKeyDown={onPromptKey}
        />
        <span id="prompt-hint" className="hint">↑ recalls earlier prompts.</span>
      </div>
      <div className="field">
        <label htmlFor="negative-input">Negative prompt</label>
        <textarea id="negative-input" className="textarea short" rows={2} value={draft.negativePrompt} placeholder="What to avoid (needs CFG above 1)" onChange={(e) => setDraft({ negativePrompt: e.target.value })} />
      </div>

      <div className="field">
        <span className="field-label" id="res-label">Size</span>
        <div className="chips" role="radiogroup" aria-labelledby="res-label" onKeyDown={(e) => arrowRadio(e)}>
          {RESOLUTIONS.map((r) => {
            const on = r.width === draft.width && r.height === draft.height;
            const scale = 22 / Math.max(r.width, r.height);
            return (
              <button
                key={`${r.width}x${r.height}`}
                role="radio"
                aria-checked={on}
                tabIndex={on ? 0 : -1}
                className="chip"
                aria-label={`${aspectLabel(r.width, r.height)}, ${r.width} by ${r.height}`}
                onClick={() => setDraft({ width: r.width, height: r.height })}
              >
                <span className="chip-shape" aria-hidden="true" style={{ width: Math.round(r.width * scale), height: Math.round(r.height * scale) }} />
                <span aria-hidden="true">{aspectLabel(r.width, r.height)}</span>
              </button>
            );
          })}
        </div>
        <span className="hint">{draft.width} × {draft.height}</span>
      </div>

      <div className="grid2">
        <div className="field">
          <label htmlFor="steps-input">Steps</label>
          <input id="steps-input" className="input" type="number" min={1} max={50} value={draft.steps} onChange={(e) => setDraft({ steps: Number(e.target.value) })} />
        </div>
        <div className="field">
          <label htmlFor="samples-input">Images</label>
          <input id="samples-input" className="input" type="number" min={1} max={8} value={draft.samples} onChange={(e) => setDraft({ samples: Math.max(1, Math.min(8, Number(e.target.value) || 1)) })} />
        </div>
      </div>

      <div className="field">
        <span className="field-label" id="seed-label">Seed</span>
        <div className="row">
          <div className="segmented" role="radiogroup" aria-labelledby="seed-label" onKeyDown={(e) => arrowRadio(e)}>
            {(['random', 'locked'] as const).map((m) => (
              <button key={m} role="radio" aria-checked={draft.seedMode === m} tabIndex={draft.seedMode === m ? 0 : -1} onClick={() => setDraft({ seedMode: m, seed: m === 'locked' && !draft.seed ? lastSeed ?? 1 : draft.seed })}>
                {m === 'random' ? 'Random' : 'Locked'}
              </button>
            ))}
          </div>
          <input
            className="input grow"
            type="number"
            aria-label="Seed value"
            min={1}
            max={MAX_SEED}
            disabled={draft.seedMode === 'random'}
            value={draft.seedMode === 'random' ? '' : draft.seed}
            placeholder="new each run"
            onChange={(e) => setDraft({ seed: Number(e.target.value) })}
          />
          <button className="btn small" disabled={lastSeed === null} onClick={() => lastSeed !== null && setDraft({ seedMode: 'locked', seed: lastSeed })}>
            Reuse last
          </button>
        </div>
      </div>

      <details className="more">
        <summary>Sampler, CFG, safety</summary>
        <div className="grid2">
          <div className="field">
            <label htmlFor="sampler-input">Sampler</label>
            <select id="sampler-input" className="select" value={draft.sampler} onChange={(e) => setDraft({ sampler: e.target.value as SamplerName })}>
              {(Object.keys(SAMPLER_LABELS) as SamplerName[]).map((k) => (
                <option key={k} value={k}>{SAMPLER_LABELS[k]}</option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="cfg-input">CFG scale</label>
            <input id="cfg-input" className="input" type="number" min={0} max={20} step={0.5} value={draft.cfgScale} onChange={(e) => setDraft({ cfgScale: Number(e.target.value) })} />
          </div>
        </div>
        <label className="switch">
          <input type="checkbox" checked={draft.safetyCheck} onChange={(e) => setDraft({ safetyCheck: e.target.checked })} />
          Safety check (hides images the classifier flags)
        </label>
      </details>

      <div className="field">
        <span className="field-label" id="backend-label">Run on</span>
        <div className="segmented" role="radiogroup" aria-labelledby="backend-label" onKeyDown={(e) => arrowRadio(e)}>
          {(['auto', 'local', 'cloud'] as BackendChoice[]).map((b) => (
            <button key={b} role="radio" aria-checked={draft.backend === b} tabIndex={draft.backend === b ? 0 : -1} onClick={() => setDraft({ backend: b })}>
              {b === 'auto' ? 'Auto' : b === 'local' ? 'This machine' : 'Cloud'}
            </button>
          ))}
        </div>
        <p className="serves" aria-live="polite" data-testid="serving">{serving.text}</p>
      </div>

      {notes.length > 0 && (
        <ul className="note" aria-label="What the model will ignore">
          {notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}

      </div>
      <div className="generate-row">
        {tried && problem && (
          <p id="generate-problem" className="error-text" role="alert">{problem}</p>
        )}
        <button className="btn primary" onClick={() => void generate()} disabled={busy} aria-describedby={tried && problem ? 'generate-problem' : undefined}>
          Generate
        </button>
      </div>
    </section>
  );
}

/** Arrow keys move between the radios of a group (the roving tab stop of the ARIA pattern). */
function arrowRadio(e: KeyboardEvent<HTMLElement>) {
  if (!['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'].includes(e.key)) return;
  const radios = [...e.currentTarget.querySelectorAll<HTMLButtonElement>('[role=radio]')];
  const i = radios.indexOf(document.activeElement as HTMLButtonElement);
  if (i < 0) return;
  e.preventDefault();
  const next = radios[(i + (e.key === 'ArrowLeft' || e.key === 'ArrowUp' ? -1 : 1) + radios.length) % radios.length]!;
  next.focus();
  next.click();
}
