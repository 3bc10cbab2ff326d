// How a studio is opened (StudioOptions), what the open found from the previous run (Recovery),
// and the one model resolution every way in shares: a path, a folder, a single file or an
// installed id, resolved once when the studio opens.
import path from 'node:path';
import type { ModelSource } from '../../runtime/engine/model-source.js';
import type { BackendSpec } from '../../runtime/engine/process-backend.js';
import type { FireworksOptions } from '../../runtime/cloud/fireworks.js';
import { isSlug } from '../../runtime/models/paths.js';
import { resolveModelChoice } from '../../runtime/models/resolve-model.js';
import type { BackendPolicy } from '../../runtime/settings/index.js';
import type { StudioJob } from './types.js';

export interface StudioOptions {
  /** The settings folder (default $SCHNELL_HOME, else ~/.schnell-studio). */
  home?: string;
  env?: NodeJS.ProcessEnv;
  /** The library folder; default "library" in config.json, else $SCHNELL_HOME/library. false: record nothing, keep jobs in memory. */
  library?: string | false;
  /** A model folder, checkpoint file or installed id; default "model" in config.json; null: no local model. */
  model?: string | ModelSource | null;
  /** The name the local model is served under (default flux-1-schnell-fp8). */
  modelName?: string;
  /** Execution provider; default "device" in config.json, else cpu. */
  device?: string;
  /** local | cloud | auto; default "backend" in config.json, else auto. */
  backend?: BackendPolicy;
  /** Run the local model in a child process (default true: a native crash fails one job, not the studio). */
  isolate?: boolean;
  /** Another local backend (tests). */
  localSpec?: BackendSpec;
  cloud?: FireworksOptions;
  /** Jobs that may wait for the local device when submitted by the API (beyond: 429). Default 8. */
  maxQueued?: number;
  /**
   * Take over the catalog's jobs on open (default true): mark those a previous run left running as
   * interrupted, and run the queued ones. `schnell generate` passes false: it runs only its own job.
   */
  resume?: boolean;
}

/** What open() found from the previous run. */
export interface Recovery {
  interrupted: StudioJob[];
  resumed: StudioJob[];
}

/** The configured or given model, resolved once (path, folder, file or installed id). */
export function resolveModel(choice: string | ModelSource | null | undefined, home: string, backend: BackendPolicy, warnings: string[]): ModelSource | undefined {
  if (choice === null || choice === undefined || backend === 'cloud') return undefined;
  if (typeof choice !== 'string') return choice;
  try {
    return resolveModelChoice(choice, home);
  } catch (err) {
    if (backend === 'local') throw err;
    // Under auto the cloud may still serve: a missing path stays the model, so the router's
    // fallback names it; an unknown id is a warning.
    warnings.push(`${(err as Error).message}; requests go to the cloud when a key is set`);
    return isSlug(choice.trim()) ? undefined : path.resolve(choice);
  }
}

export function waitFor(done: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const until = Date.now() + ms;
    const tick = () => (done() || Date.now() >= until ? resolve() : setTimeout(tick, 50));
    tick();
  });
}
