import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSchedule, imageSeqLen, linspace32, shiftMu, timeShift } from '../../../../runtime/flux/sampling/schedule.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const fixtures = process.env.SCHNELL_FIXTURES ?? path.resolve(repoRoot, '../shared/fixtures');
const goldens = JSON.parse(fs.readFileSync(path.join(fixtures, 'flux-tiny', 'goldens.json'), 'utf8'));

function assertClose(actual: number[], expected: number[], tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tol, `${what}[${i}]: ${a} vs ${expected[i]}`));
}

test('matches BFL get_schedule: schnell (no shift) and dev (28 steps, shifted at 4096 tokens)', () => {
  assertClose(getSchedule(4, 4096, { shift: false }), goldens.schedules.schnell_steps4_seq4096_noshift, 1e-6, 'schnell');
  assertClose(getSchedule(28, 4096, { shift: true }), goldens.schedules.dev_steps28_seq4096_shift, 1e-6, 'dev');
  assertClose(getSchedule(28, 4096, { shift: true, baseShift: 0.5, maxShift: 1.15 }), goldens.schedules.dev_steps28_seq4096_shift, 1e-6, 'dev explicit');
});

test('the pipeline cases use the unshifted schedule for their step count and size', () => {
  for (const c of Object.values(goldens.cases) as { kind: string; steps: number; width: number; height: number; timesteps: number[] }[]) {
    if (c.kind !== 'pipeline') continue;
    assertClose(getSchedule(c.steps, imageSeqLen(c.width, c.height), { shift: false }), c.timesteps, 1e-7, 'pipeline');
  }
});

test('schedules run from 1 to 0, strictly decreasing; the shift moves every inner step towards 1', () => {
  for (const steps of [1, 2, 3, 7, 50]) {
    for (const seq of [16, 256, 1024, 4096, 16384]) {
      const plain = getSchedule(steps, seq, { shift: false });
      const shifted = getSchedule(steps, seq, { shift: true });
      for (const s of [plain, shifted]) {
        assert.equal(s.length, steps + 1);
        assert.equal(s[0], 1);
        assert.equal(s[steps], 0);
        for (let i = 1; i <= steps; i++) assert.ok(s[i]! < s[i - 1]!, `steps ${steps} seq ${seq} at ${i}`);
      }
      for (let i = 1; i < steps; i++) assert.ok(shifted[i]! > plain[i]!, 'mu > 0 shifts towards noise');
    }
  }
  const small = getSchedule(10, 256, { shift: true });
  const large = getSchedule(10, 4096, { shift: true });
  for (let i = 1; i < 10; i++) assert.ok(large[i]! > small[i]!, 'more tokens, more shift');
});

test('mu is the line through (256, base) and (4096, max); time_shift fixes the end points', () => {
  assert.ok(Math.abs(shiftMu(256) - 0.5) < 1e-12);
  assert.ok(Math.abs(shiftMu(4096) - 1.15) < 1e-12);
  assert.ok(Math.abs(shiftMu(2176) - 0.825) < 1e-12);
  assert.ok(Math.abs(shiftMu(256, 0.2, 0.9) - 0.2) < 1e-12);
  assert.equal(timeShift(1.15, 1, 0), 0);
  assert.equal(timeShift(1.15, 1, 1), 1);
  assert.ok(Math.abs(timeShift(Math.log(3), 1, 0.5) - 0.75) < 1e-6, 'e^mu / (e^mu + 1) at t = 0.5');
  assert.ok(Math.abs(timeShift(0, 2, 0.25) - 0.1) < 1e-6, '1 / (1 + 3^2)');
});

test('float32 linspace and image token counts', () => {
  assert.deepEqual(linspace32(1, 0, 5), [1, 0.75, 0.5, 0.25, 0]);
  assert.deepEqual(linspace32(1, 0, 1), [1]);
  const l = linspace32(1, 0, 29);
  assert.ok(l.every((x) => x === Math.fround(x)), 'float32 values');
  assert.equal(imageSeqLen(1024, 1024), 4096);
  assert.equal(imageSeqLen(80, 32), 10);
  assert.equal(imageSeqLen(65, 64), 20, 'partial patches round up');
});

test('bad step counts and token counts are refused with a sentence', () => {
  assert.throws(() => getSchedule(0, 4096, { shift: false }), /at least 1/);
  assert.throws(() => getSchedule(2.5, 4096, { shift: false }), /whole number/);
  assert.throws(() => getSchedule(4, 0, { shift: true }), /must be positive/);
  assert.throws(() => getSchedule(4, Number.NaN, { shift: true }), /must be positive/);
  assert.equal(getSchedule(4, 0, { shift: false }).length, 5, 'the token count only matters when shifting');
});
