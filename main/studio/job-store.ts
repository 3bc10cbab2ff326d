// Where the studio keeps its jobs: the catalog's jobs table when it has a library (so queued jobs
// survive a restart and interrupted ones are marked), else memory. Both hold the same StudioJob;
// the live parts (progress, the backend that serves, a fallback) are kept in memory either way.
import type { GenerationRequest } from '../../runtime/api/index.js';
import type { BackendPolicy } from '../../runtime/settings/index.js';
import type { Job, Jobs } from '../catalog/index.js';
import { newId } from '../catalog/index.js';
import type { JobSource, StudioJob, StudioJobStatus } from './types.js';

type Live = Pick<StudioJob, 'servedBy' | 'progress' | 'fallback'>;

export interface NewJob {
  request: GenerationRequest;
  source: JobSource;
  backend: BackendPolicy;
  project: string | null;
  parentId: string | null;
  /** Keep it in the catalog (false: memory only, e.g. an HTTP request whose client holds it). */
  persist: boolean;
}

const iso = () => new Date().toISOString();
const MEMORY_KEEP = 500;

export class JobStore {
  private readonly memory = new Map<string, StudioJob>();
  private readonly live = new Map<string, Live>();

  constructor(private readonly table: Jobs | null, private readonly defaultBackend: BackendPolicy) {}

  add(n: NewJob): StudioJob {
    if (n.persist && this.table) {
      const row = this.table.enqueue(n.request, {
        source: n.source,
        backend: n.backend,
        ...(n.project ? { project: n.project } : {}),
        ...(n.parentId ? { parentId: n.parentId } : {}),
      });
      return this.view(row);
    }
    const job: StudioJob = {
      id: newId(), status: 'queued', source: n.source, request: n.request, backend: n.backend, project: n.project, parentId: n.parentId,
      servedBy: null, progress: null, error: null, fallback: null, createdAt: iso(), startedAt: null, finishedAt: null, generationIds: [], persisted: false,
    };
    this.memory.set(job.id, job);
    this.trim();
    return { ...job };
  }

  get(id: string): StudioJob | undefined {
    const m = this.memory.get(id);
    if (m) return { ...m, ...this.live.get(id) };
    const row = this.table?.get(id);
    return row && this.view(row);
  }

  /** Every job, oldest first: the catalog's and those kept in memory. */
  list(status?: StudioJobStatus): StudioJob[] {
    const rows = (this.table?.list(status) ?? []).map((r) => this.view(r));
    const mem = [...this.memory.values()].filter((j) => !status || j.status === status).map((j) => ({ ...j, ...this.live.get(j.id) }));
    return [...rows, ...mem].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** queued → running; false when it is no longer queued (cancelled, or another process took it). */
  claim(id: string): boolean {
    const m = this.memory.get(id);
    if (m) {
      if (m.status !== 'queued') return false;
      Object.assign(m, { status: 'running', startedAt: iso() });
      return true;
    }
    return this.table?.claim(id) ?? false;
  }

  /** Stores the request as it runs (its seed resolved), so a restart or a retry sees the same seed. */
  setRequest(id: string, request: GenerationRequest): void {
    const m = this.memory.get(id);
    if (m) m.request = request;
    else this.table?.setRequest(id, request);
  }

  setLive(id: string, patch: Partial<Live>): void {
    this.live.set(id, { ...(this.live.get(id) ?? { servedBy: null, progress: null, fallback: null }), ...patch });
  }

  /** Adds a recorded image to a memory-only job (catalog jobs find theirs through generations.job_id). */
  addGeneration(id: string, generationId: string): void {
    this.memory.get(id)?.generationIds.push(generationId);
  }

  finish(id: string, status: 'done' | 'failed' | 'cancelled' | 'interrupted', error: string | null = null): StudioJob {
    const m = this.memory.get(id);
    if (m) {
      Object.assign(m, { status, error, finishedAt: iso() });
    } else if (this.table) {
      if (status === 'done') this.table.complete(id);
      else if (status === 'failed') this.table.fail(id, error ?? 'failed');
      else if (status === 'cancelled') this.table.cancel(id);
      else this.table.interrupt(id, error ?? 'interrupted');
    }
    const job = this.get(id)!;
    // Finished jobs keep what they showed (servedBy, fallback) while this process runs; progress ends.
    if (this.live.has(id)) this.setLive(id, { progress: null });
    return job;
  }

  private view(row: Job): StudioJob {
    return {
      id: row.id,
      status: row.status,
      source: (row.source as JobSource) ?? 'ui',
      request: row.request as GenerationRequest,
      backend: (row.backend as BackendPolicy | null) ?? this.defaultBackend,
      project: row.project,
      parentId: row.parentId,
      servedBy: null,
      progress: null,
      error: row.error,
      fallback: null,
      createdAt: row.createdAt,
      startedAt: row.startedAt,
      finishedAt: row.finishedAt,
      generationIds: row.generationIds,
      persisted: true,
      ...this.live.get(row.id),
    };
  }

  private trim(): void {
    if (this.memory.size <= MEMORY_KEEP) return;
    for (const [id, j] of this.memory) {
      if (this.memory.size <= MEMORY_KEEP) break;
      if (j.finishedAt !== null) {
        this.memory.delete(id);
        this.live.delete(id);
      }
    }
  }
}
