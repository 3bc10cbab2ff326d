// The queue: every job with its progress (step of steps, image of images), a live preview of its
// latents, cancel and retry, a failure as one sentence, and a cloud fallback said on the job.
import { useState } from 'react';
import { app, errorText, toast, type LiveJob } from '../state/app-state.js';
import { openDetail } from '../state/actions.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';

const STATUS: Record<LiveJob['status'], string> = { queued: 'Waiting', running: 'Running', done: 'Done', failed: 'Failed', cancelled: 'Cancelled', interrupted: 'Interrupted' };

export function Queue() {
  const jobs = useStore(app, (s) => s.jobs);
  const [showDone, setShowDone] = useState(true);
  const shown = showDone ? jobs : jobs.filter((j) => j.status === 'queued' || j.status === 'running' || j.status === 'failed');
  const active = jobs.filter((j) => j.status === 'queued' || j.status === 'running').length;
  return (
    <section className="queue" aria-label="Queue">
      <h2>
        <span>Queue{active ? ` · ${active} active` : ''}</span>
        <button className="btn small ghost" aria-pressed={!showDone} onClick={() => setShowDone((v) => !v)}>Hide finished</button>
      </h2>
      {shown.length === 0 && <p className="hint">Jobs appear here with their progress while they run.</p>}
      <ol className="nav-list" aria-label="Jobs">
        {shown.slice(0, 60).map((j) => (
          <JobRow key={j.id} job={j} />
        ))}
      </ol>
    </section>
  );
}

function JobRow({ job: j }: { job: LiveJob }) {
  const prompt = typeof j.request.prompt === 'string' ? j.request.prompt : '';
  const p = j.progress;
  // Within a step, the runtime's share of it (blocks run, or its estimate) moves the bar between steps.
  const within = p?.stage === 'denoise' && p.fraction !== undefined ? Math.min(1, p.fraction) : 0;
  const fraction = j.status === 'done' ? 1 : p ? Math.min(1, (p.image * p.steps + p.step + within) / Math.max(1, p.steps * p.images)) : 0;
  const pct = Math.round(fraction * 100);
  const where = j.servedBy === 'cloud' ? 'cloud' : j.servedBy === 'local' ? 'this machine' : null;

  async function cancel() {
    try {
      await studio.call('generate.cancel', { jobId: j.id });
    } catch (err) {
      toast(`Cancel failed: ${errorText(err)}`, { kind: 'error' });
    }
  }
  async function retry() {
    try {
      await studio.call('generate.retry', { jobId: j.id });
    } catch (err) {
      toast(`Retry failed: ${errorText(err)}`, { kind: 'error' });
    }
  }

  return (
    <li className={`job${j.status === 'failed' ? ' failed' : ''}`} aria-label={`${STATUS[j.status]}: ${prompt.slice(0, 60)}`} data-status={j.status}>
      {j.previewUrl && j.forming ? (
        // The runtime's guess at the finished image, replaced every ~500 ms while the job runs. One
        // that can no longer load (the job just ended) is hidden rather than shown broken.
        <img className="job-preview" src={j.previewUrl} alt="Live preview of the image forming" width={56} height={56} onError={(e) => (e.currentTarget.style.visibility = 'hidden')} onLoad={(e) => (e.currentTarget.style.visibility = '')} />
      ) : j.previewUrl && j.generationIds[0] ? (
        <button className="btn ghost" style={{ padding: 0, border: 0 }} aria-label="Open the image" onClick={() => openDetail(j.generationIds[0]!)}>
          <img className="job-preview" src={j.previewUrl} alt="" width={56} height={56} />
        </button>
      ) : (
        <span className="job-preview" aria-hidden="true" />
      )}
      <div>
        <div className="job-title" title={prompt}>{prompt || 'Untitled'}</div>
        <div
          className="progress"
          role="progressbar"
          aria-label="Progress"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct}
          aria-valuetext={p && j.status === 'running' ? `Step ${p.step} of ${p.steps}, image ${p.image + 1} of ${p.images}` : STATUS[j.status]}
        >
          <span style={{ width: `${pct}%` }} />
        </div>
        <div className="job-meta">
          <span>{STATUS[j.status]}</span>
          {p && j.status === 'running' && <span>step {p.step}/{p.steps}{p.images > 1 ? ` · image ${p.image + 1}/${p.images}` : ''}</span>}
          {p?.message && j.status === 'running' && <span>{p.message}</span>}
          {where && <span>on {where}</span>}
          {j.fallback && <span className="untrained" title={j.fallback.reason}>cloud fallback: {j.fallback.reason}</span>}
        </div>
        {j.status === 'failed' && j.error && <p className="error-text" role="alert">{j.error}</p>}
        <div className="actions">
          {(j.status === 'queued' || j.status === 'running') && <button className="btn small" onClick={() => void cancel()}>Cancel</button>}
          {(j.status === 'failed' || j.status === 'cancelled' || j.status === 'interrupted') && <button className="btn small" onClick={() => void retry()}>Retry</button>}
        </div>
      </div>
    </li>
  );
}
