// Download progress: the event (bytes, total, rate, time left), the meter that smooths and paces
// it, and the one-line form people read (redrawn on a terminal, a line per step otherwise).
import { formatBytes } from './disk.js';

export interface DownloadProgress {
  /** checking: re-hashing kept bytes; downloading; verifying: checksum and header; done. */
  phase: 'checking' | 'downloading' | 'verifying' | 'done';
  dest: string;
  bytes: number;
  total: number | null;
  /** Bytes per second, smoothed. */
  rate: number;
  etaSeconds: number | null;
  attempt: number;
  resumedFrom: number;
}

/** Smoothed rate and time left, emitted at most every `interval` ms (and always at phase changes). */
export class Meter {
  private lastT = 0;
  private lastBytes = 0;
  private rate = 0;
  constructor(private readonly emit: ((p: DownloadProgress) => void) | undefined, private readonly interval: number, private readonly base: Omit<DownloadProgress, 'phase' | 'bytes' | 'total' | 'rate' | 'etaSeconds' | 'attempt'>) {}
  reset(bytes: number): void {
    this.lastT = Date.now();
    this.lastBytes = bytes;
  }
  tick(phase: DownloadProgress['phase'], bytes: number, total: number | null, attempt: number, force = false): void {
    if (!this.emit) return;
    const now = Date.now();
    const dt = (now - this.lastT) / 1000;
    if (!force && dt * 1000 < this.interval) return;
    if (phase === 'downloading' && dt > 0) {
      const inst = Math.max(0, bytes - this.lastBytes) / dt;
      this.rate = this.rate === 0 ? inst : 0.7 * this.rate + 0.3 * inst;
    }
    this.lastT = now;
    this.lastBytes = bytes;
    const eta = total !== null && this.rate > 0 ? Math.max(0, (total - bytes) / this.rate) : null;
    this.emit({ ...this.base, phase, bytes, total, rate: this.rate, etaSeconds: eta, attempt });
  }
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** `name  [#####-----]  45%  1.2 GiB / 2.7 GiB  35.2 MiB/s  ETA 1m20s`, fitted to `width` columns. */
export function progressLine(name: string, p: DownloadProgress, width = 100): string {
  const pct = p.total ? Math.min(100, (100 * p.bytes) / p.total) : null;
  const barWidth = 20;
  const filled = pct === null ? 0 : Math.round((pct / 100) * barWidth);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`;
  const amount = `${formatBytes(p.bytes)}${p.total ? ` / ${formatBytes(p.total)}` : ''}`;
  const tail = p.phase === 'checking'
    ? `checking kept bytes ${amount}`
    : p.phase === 'verifying'
      ? 'verifying'
      : p.phase === 'done'
        ? `done ${amount}`
        : `${pct === null ? '' : `${pct.toFixed(0).padStart(3)}%  `}${amount}  ${formatBytes(Math.round(p.rate))}/s  ETA ${formatDuration(p.etaSeconds)}`;
  const room = Math.max(10, width - bar.length - tail.length - 4);
  const label = name.length > room ? `…${name.slice(-(room - 1))}` : name.padEnd(room);
  return `${label}  ${bar}  ${tail}`.slice(0, width);
}
