// How much memory this machine can give right now, read one way everywhere (the fit check and the
// weight policy must agree): Linux's MemAvailable, which counts reclaimable page cache (where
// memory-mapped weights live), capped by total memory; elsewhere os.freemem().
import fs from 'node:fs';
import os from 'node:os';

export function availableMemory(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
    if (m) return Math.min(os.totalmem(), Number(m[1]) * 1024);
  } catch {
    // Not Linux: os.freemem() leaves out the file cache on macOS and Windows; it is the best there is.
  }
  return os.freemem();
}
