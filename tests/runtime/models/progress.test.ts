// Progress as people see it: bytes, rate and time left, from a meter driven by a mocked clock so
// the numbers are exact (no timing assertions).
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { formatDuration, Meter, progressLine, type DownloadProgress } from '../../../runtime/models/progress.js';

test('the meter reports bytes, a smoothed rate and the time left, paced by its interval', () => {
  mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  try {
    const seen: DownloadProgress[] = [];
    const meter = new Meter((p) => seen.push(p), 250, { dest: '/x/file.bin', resumedFrom: 0 });
    meter.reset(0);
    mock.timers.tick(1000);
    meter.tick('downloading', 1_000_000, 10_000_000, 1); // 1 MB in 1 s
    mock.timers.tick(100);
    meter.tick('downloading', 1_050_000, 10_000_000, 1); // inside the interval: not emitted
    mock.timers.tick(900);
    meter.tick('downloading', 3_000_000, 10_000_000, 1); // 2 MB in 1 s since the last emit
    assert.equal(seen.length, 2);
    assert.equal(seen[0]!.rate, 1_000_000);
    assert.equal(seen[0]!.etaSeconds, 9);
    assert.equal(seen[1]!.rate, 0.7 * 1_000_000 + 0.3 * 2_000_000);
    assert.equal(seen[1]!.etaSeconds, 7_000_000 / 1_300_000);
    assert.equal(seen[1]!.bytes, 3_000_000);
    // A phase change is always reported; an unknown total gives no time left.
    meter.tick('verifying', 3_000_000, null, 1, true);
    assert.equal(seen.at(-1)!.phase, 'verifying');
    assert.equal(seen.at(-1)!.etaSeconds, null);
  } finally {
    mock.timers.reset();
  }
});

test('the progress line shows percent, bytes, rate and ETA, and fits its width', () => {
  const p: DownloadProgress = { phase: 'downloading', dest: '/x/t5.safetensors', bytes: 512 * 1024 ** 2, total: 2 * 1024 ** 3, rate: 32 * 1024 ** 2, etaSeconds: 48, attempt: 1, resumedFrom: 0 };
  const line = progressLine('t5.safetensors', p, 120);
  assert.match(line, /t5\.safetensors\s+\[#####-+\]\s+25%\s+512(\.0)? MiB \/ 2(\.0)? GiB\s+32(\.0)? MiB\/s\s+ETA 48s/);
  const narrow = progressLine('a-very-long-file-name-that-does-not-fit.safetensors', p, 60);
  assert.ok(narrow.length <= 60, narrow);
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatDuration(null), '--');
});
