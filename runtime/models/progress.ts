// Progress as people read it: one line, redrawn on a terminal; a line per step otherwise.
import { formatBytes, type DownloadProgress } from './download.js';

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
