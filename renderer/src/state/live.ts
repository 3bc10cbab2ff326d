// Keeps the store in step with the studio core: loads what the panes need at start, then applies
// the events the core pushes (queue progress, saved images, library edits, settings).
import type { MenuCommand, QueueJob } from '../../../main/contract.js';
import { app, errorText, toast, type LiveJob } from './app-state.js';
import { studio } from './studio.js';

const live = (j: QueueJob): LiveJob => ({ ...j, previewUrl: j.thumbnailUrl, forming: false });

/** A job that ended drops its live preview: the studio stops serving it (a saved image's thumbnail stays). */
const ended = (j: LiveJob): Partial<LiveJob> => (j.forming ? { previewUrl: null, forming: false } : {});

function patchJob(id: string, patch: (j: LiveJob) => Partial<LiveJob>): void {
  app.set((s) => ({ jobs: s.jobs.map((j) => (j.id === id ? { ...j, ...patch(j) } : j)) }));
}

export function bumpLibrary(): void {
  app.set((s) => ({ libraryVersion: s.libraryVersion + 1 }));
}

export async function refreshProjects(): Promise<void> {
  try {
    app.set({ projects: await studio.call('projects.list', { includeArchived: true }) });
  } catch (err) {
    toast(`Could not load projects: ${errorText(err)}`, { kind: 'error' });
  }
}

export async function refreshBackends(): Promise<void> {
  try {
    app.set({ backends: await studio.call('studio.backends') });
  } catch {
    // The editor shows "checking" until the next try; not worth a toast.
  }
}

export async function refreshSettings(): Promise<void> {
  const settings = await studio.call('settings.get');
  app.set({ settings });
  document.documentElement.dataset.theme = themeOf(settings.theme);
}

/** The theme to paint; remembered so the next start paints it before the studio answers. */
export function themeOf(t: 'dark' | 'light' | 'system'): 'dark' | 'light' {
  const theme = t === 'system' ? (window.matchMedia?.('(prefers-color-scheme: light)').matches ? 'light' : 'dark') : t;
  try {
    localStorage.setItem('schnell.theme', theme);
  } catch {
    // private mode: the dark default paints first, then the setting
  }
  return theme;
}

/** Loads the first state and subscribes to events; returns the unsubscribe. */
export function startLive(): () => void {
  const offs = [
    studio.on('job.queued', ({ job }) => app.set((s) => ({ jobs: [live(job), ...s.jobs.filter((j) => j.id !== job.id)].slice(0, 200) }))),
    studio.on('job.started', ({ jobId, servedBy }) => patchJob(jobId, () => ({ status: 'running', servedBy, startedAt: new Date().toISOString() }))),
    // Most progress events carry no preview (the runtime makes one every ~500 ms): keep the last.
    studio.on('job.progress', ({ jobId, progress, previewUrl }) =>
      patchJob(jobId, () => ({ status: 'running', progress, servedBy: progress.servedBy, ...(previewUrl ? { previewUrl, forming: true } : {}) })),
    ),
    studio.on('job.imageSaved', ({ jobId, generation }) => {
      patchJob(jobId, (j) => ({ generationIds: [...j.generationIds, generation.id], previewUrl: generation.thumbnailUrl, forming: false }));
      app.set({ lastSeed: generation.seed });
      bumpLibrary();
    }),
    studio.on('job.finished', ({ jobId, generationIds, servedBy, fallback }) => {
      patchJob(jobId, (j) => ({ status: 'done', generationIds: generationIds.length ? generationIds : j.generationIds, servedBy, fallback, finishedAt: new Date().toISOString(), ...ended(j) }));
      if (fallback) toast(`Made in the cloud instead: ${fallback.reason}`);
      bumpLibrary();
    }),
    studio.on('job.failed', ({ jobId, error, fallback }) => patchJob(jobId, (j) => ({ status: 'failed', error, fallback, finishedAt: new Date().toISOString(), ...ended(j) }))),
    studio.on('job.cancelled', ({ jobId }) => patchJob(jobId, (j) => ({ status: 'cancelled', finishedAt: new Date().toISOString(), ...ended(j) }))),
    studio.on('job.interrupted', ({ jobId, reason }) => patchJob(jobId, (j) => ({ status: 'interrupted', error: reason, ...ended(j) }))),
    studio.on('shell.menu', ({ command }) => menuCommand(command)),
    studio.on('library.changed', () => bumpLibrary()),
    studio.on('projects.changed', () => void refreshProjects()),
    studio.on('settings.changed', ({ settings }) => {
      app.set({ settings });
      document.documentElement.dataset.theme = themeOf(settings.theme);
      void refreshBackends();
    }),
    studio.on('models.changed', () => void refreshBackends()),
    studio.on('runtime.restarted', ({ reason }) => toast(`The local runtime stopped and was restarted: ${reason}`, { kind: 'error' })),
  ];

  void (async () => {
    try {
      const [info, jobs] = await Promise.all([studio.call('studio.info'), studio.call('queue.list')]);
      app.set({ info, jobs: jobs.map((j) => live(j)) });
      await refreshSettings();
      const s = app.get().settings;
      // First run: nothing can make an image yet (no model chosen and no key), so offer the three ways in.
      if (s && s.model === null && !s.hasFireworksKey) app.set({ showFirstRun: true });
    } catch (err) {
      toast(`Could not reach the studio: ${errorText(err)}`, { kind: 'error', ms: 10000 });
    }
    await Promise.all([refreshProjects(), refreshBackends()]);
  })();
  return () => offs.forEach((off) => off());
}

/** What the desktop menu asks for, done the way the same keys do it in the page. */
function menuCommand(command: MenuCommand): void {
  const focus = (selector: string) => (document.querySelector(selector) as HTMLElement | null)?.focus();
  switch (command) {
    case 'generate':
      (document.querySelector('.generate-row .btn.primary') as HTMLButtonElement | null)?.click();
      break;
    case 'focusPrompt':
      focus('#prompt-input');
      break;
    case 'focusSearch':
      focus('input[type=search]');
      break;
    case 'newProject':
      (document.querySelector('button[aria-label="New project"]') as HTMLButtonElement | null)?.click();
      break;
    case 'openSettings':
      app.set({ showSettings: true });
      break;
    case 'openModels':
      app.set({ showFirstRun: true });
      break;
    case 'toggleQueue':
      focus('section.queue button');
      break;
    case 'import':
      toast('Drop images or folders onto the gallery to import them with their parameters.');
      break;
  }
}
