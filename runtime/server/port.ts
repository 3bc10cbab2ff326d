// A port that stays the same from one start to the next (so bookmarks, scripts and the studio keep
// working): an explicit --port is taken exactly or refused; otherwise config.json's "port", else
// DEFAULT_PORT, and when that one is taken the next free one above it, named in a note.
import type { RunningServer } from './server.js';

export const DEFAULT_PORT = 7788;
/** How many ports above the wanted one are tried before giving up. */
export const PORT_TRIES = 20;

export interface PortChoice {
  server: RunningServer;
  /** Set when the wanted port was taken and another was used: one sentence for people. */
  note?: string;
}

/**
 * Starts the server on `wanted` (exact: an explicit port, 0 = any free one) or on the first free
 * port from `preferred` up. `start` must reject with the listen error (EADDRINUSE) when taken.
 */
export async function listenOnStablePort(
  start: (port: number) => Promise<RunningServer>,
  opts: { wanted?: number; preferred: number; source: string; host: string },
): Promise<PortChoice> {
  if (opts.wanted !== undefined) {
    try {
      return { server: await start(opts.wanted) };
    } catch (err) {
      if (!inUse(err)) throw err;
      throw new Error(`port ${opts.wanted} on ${opts.host} is already in use (another schnell serve, or another program); pick another with --port, or leave --port out to take the next free one`);
    }
  }
  for (let port = opts.preferred; port < opts.preferred + PORT_TRIES && port <= 65535; port++) {
    try {
      const server = await start(port);
      return port === opts.preferred ? { server } : { server, note: `port ${opts.preferred} (${opts.source}) is in use; listening on ${port} instead` };
    } catch (err) {
      if (!inUse(err)) throw err;
    }
  }
  throw new Error(`ports ${opts.preferred}–${opts.preferred + PORT_TRIES - 1} on ${opts.host} are all in use; set "port" in config.json or pass --port`);
}

function inUse(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'EADDRINUSE' || code === 'EACCES';
}
