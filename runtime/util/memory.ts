// How much memory this machine can give right now, read in one place: Linux's MemAvailable, which
// counts reclaimable page cache (where memory-mapped weights live). The fit check and the weight
// policy both start from it; elsewhere the OS offers no such figure.
import fs from 'node:fs';
import os from 'node:os';

/** MemAvailable in bytes (capped by total memory), or null where /proc/meminfo does not exist. */
export function linuxMemAvailable(): number | null {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    return m ? Math.min(os.totalmem(), Number(m[1]) * 1024) : null;
  } catch {
    return null;
  }
}

/** MemAvailable on Linux, else os.freemem() (which leaves out the file cache on macOS and Windows). */
export function availableMemory(): number {
  return linuxMemAvailable() ?? os.freemem();
}
