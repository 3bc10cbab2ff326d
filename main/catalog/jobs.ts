import { prepared, type Db } from './db.js';
import { ensureProject } from './generations.js';
import { isId, newId } from './ids.js';
import { CatalogError, type Job, type JobStatus } from './types.js';
import { storedDate } from './rows.js';

// Jobs that outlive the process. The queue is the table: a job is claimed by flipping queued →
// running in one statement, and a restart finds anything left running by a process that died.

interface JobRow {
  id: string;
  status: JobStatus;
  request_json: string;
  project: string | null;
  parent_id: string | null;
  attempts: number;
  error: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  generation_ids: string | null;
  source: string;
  backend: string | null;
}

const JOB_SELECT = `SELECT j.*, p.name AS project,
  (SELECT group_concat(g.id, ',') FROM generations g WHERE g.job_id = j.id) AS generation_ids
  FROM jobs j LEFT JOIN projects p ON p.id = j.project_id`;



function toJob(r: JobRow): Job {
  return {
    id: r.id,
    status: r.status,
    request: JSON.parse(r.request_json) as unknown,
    project: r.project,
    parentId: r.parent_id,
    attempts: r.attempts,
    error: r.error,
    createdAt: storedDate(r.created_at, `job ${r.id}`)!,
    startedAt: storedDate(r.started_at, `job ${r.id}`),
    finishedAt: storedDate(r.finished_at, `job ${r.id}`),
    generationIds: r.generation_ids ? r.generation_ids.split(',').sort() : [],
    source: r.source,
    backend: r.backend,
  };
}

/** How many images a request asks for, so a restart can tell a finished job from a cut-off one. */
function expectedImages(request: unknown): number {
  const n = (request as { samples?: unknown } | null)?.samples;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 1;
}

export class Jobs {
  constructor(private readonly db: Db) {}

  enqueue(request: unknown, opts: { project?: string; parentId?: string; source?: string; backend?: string } = {}): Job {
    let json: string;
    try {
      json = JSON.stringify(request);
    } catch (err) {
      throw new CatalogError(`the job request cannot be stored as JSON: ${(err as Error).message}`);
    }
    if (json === undefined) throw new CatalogError('the job request must be a JSON value');
    if (opts.parentId !== undefined && !isId(opts.parentId)) throw new CatalogError('a job parentId must be a generation id');
    const id = newId();
    this.db.transaction(() => {
      const projectId = opts.project === undefined ? null : ensureProject(this.db, opts.project);
      prepared(this.db, 'INSERT INTO jobs(id, status, request_json, project_id, parent_id, created_at, source, backend) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        id, 'queued', json, projectId, opts.parentId ?? null, Date.now(), opts.source ?? 'ui', opts.backend ?? null,
      );
    }).immediate();
    return this.get(id)!;
  }

  get(id: string): Job | undefined {
    const row = prepared(this.db, `${JOB_SELECT} WHERE j.id = ?`).get(id) as JobRow | undefined;
    return row && toJob(row);
  }

  list(status?: JobStatus): Job[] {
    const rows = (status
      ? prepared(this.db, `${JOB_SELECT} WHERE j.status = ? ORDER BY j.created_at, j.id`).all(status)
      : prepared(this.db, `${JOB_SELECT} ORDER BY j.created_at, j.id`).all()) as JobRow[];
    return rows.map(toJob);
  }

  /** Takes the oldest queued job and marks it running; undefined when the queue is empty. */
  claimNext(now = Date.now()): Job | undefined {
    const row = prepared(
      this.db,
      `UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1
       WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY created_at, id LIMIT 1) RETURNING id`,
    ).get(now) as { id: string } | undefined;
    return row && this.get(row.id);
  }

  /**
   * Marks one queued job running, if it still is: false when another process took it first (a
   * `schnell generate` and the studio share the catalog, each running only its own jobs).
   */
  claim(id: string, now = Date.now()): boolean {
    return prepared(this.db, "UPDATE jobs SET status = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ? AND status = 'queued'").run(now, id).changes === 1;
  }

  /** Replaces a job's stored request (the studio stores the resolved seed when the job starts). */
  setRequest(id: string, request: unknown): void {
    prepared(this.db, 'UPDATE jobs SET request_json = ? WHERE id = ?').run(JSON.stringify(request), id);
  }

  /** A running job that a stopped or crashed run of the studio left behind; `reason` says which. */
  interrupt(id: string, reason: string): Job {
    return this.finish(id, ['running'], 'interrupted', reason);
  }

  private finish(id: string, from: JobStatus[], to: JobStatus, error: string | null): Job {
    const changed = prepared(
      this.db,
      `UPDATE jobs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status IN (SELECT value FROM json_each(?))`,
    ).run(to, error, Date.now(), id, JSON.stringify(from)).changes;
    const job = this.get(id);
    if (!job) throw new CatalogError(`no job with id ${JSON.stringify(id)}`);
    if (changed === 0) throw new CatalogError(`job ${id} is ${job.status}; it cannot become ${to}`);
    return job;
  }

  complete(id: string): Job {
    return this.finish(id, ['running'], 'done', null);
  }

  fail(id: string, reason: string): Job {
    return this.finish(id, ['running', 'queued'], 'failed', reason);
  }

  cancel(id: string): Job {
    return this.finish(id, ['running', 'queued'], 'cancelled', 'cancelled');
  }

  /**
   * Call once when the studio starts, before claiming work: jobs left running by a process that
   * died are finished if all their images were recorded, queued again if they have tries left,
   * and failed with a reason otherwise. Not done on every open: a second process (the CLI) must
   * not take over jobs the running studio is working on.
   */
  recoverInterrupted(maxAttempts = 2): { requeued: string[]; failed: string[]; done: string[] } {
    const out = { requeued: [] as string[], failed: [] as string[], done: [] as string[] };
    this.db.transaction(() => {
      for (const job of this.list('running')) {
        if (job.generationIds.length >= expectedImages(job.request)) {
          prepared(this.db, "UPDATE jobs SET status = 'done', finished_at = ? WHERE id = ?").run(Date.now(), job.id);
          out.done.push(job.id);
        } else if (job.attempts < maxAttempts) {
          prepared(this.db, "UPDATE jobs SET status = 'queued', started_at = NULL WHERE id = ?").run(job.id);
          out.requeued.push(job.id);
        } else {
          prepared(this.db, "UPDATE jobs SET status = 'failed', finished_at = ?, error = ? WHERE id = ?").run(
            Date.now(),
            `the studio stopped while this job was running, ${job.attempts} times; it was not tried again`,
            job.id,
          );
          out.failed.push(job.id);
        }
      }
    }).immediate();
    return out;
  }
}
