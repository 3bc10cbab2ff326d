// The terminal progress line of `schnell generate`: the runtime's sentence (measured block counts
// as they are, estimates in the runtime's own words), the bar moved within a step by the step's
// share, the sentence kept across plain step events, and a line that never wraps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { progressLine, type BarProgress } from '../../cli/progress-bar.js';

const at = (o: Partial<BarProgress>): BarProgress => ({ step: 0, steps: 4, image: 0, images: 1, seed: 7, servedBy: 'local', ...o });

test('the runtime\'s sentence shows; a measured share within a step moves the bar; plain step events keep the sentence', () => {
  let r = progressLine(at({ stage: 'encode', message: 'encoding the prompt: T5 block 12 of 24', fraction: 0.5 }), '');
  assert.equal(r.line, '[------------------------] encoding the prompt: T5 block 12 of 24  seed 7', 'the encode share is not a step');
  // Step 2 of 4 running (1 finished), half its blocks run: 1.5 of 4 steps.
  r = progressLine(at({ step: 1, stage: 'denoise', message: 'image 1 of 1, step 2 of 4, block 29 of 57', fraction: 0.5 }), r.said);
  assert.equal(r.line, `[${'#'.repeat(9)}${'-'.repeat(15)}] image 1 of 1, step 2 of 4, block 29 of 57  seed 7`);
  r = progressLine(at({ step: 2 }), r.said);
  assert.equal(r.line, `[${'#'.repeat(12)}${'-'.repeat(12)}] image 1 of 1, step 2 of 4, block 29 of 57  seed 7`);
  // An estimate arrives in the runtime's own words, which say so; nothing is added here.
  r = progressLine(at({ step: 2, stage: 'denoise', message: "image 1 of 1, step 3 of 4, about 40 % (estimated from this machine's speed)", fraction: 0.4 }), r.said);
  assert.match(r.line, /about 40 % \(estimated from this machine's speed\)  seed 7$/);
  assert.equal((r.line.match(/#/g) ?? []).length, Math.round((2.4 / 4) * 24));
});

test('the cloud shows steps (no stale local sentence), and a long sentence is cut to the terminal width', () => {
  const r = progressLine(at({ step: 1, servedBy: 'cloud' }), 'loading T5 (4.9 GB)');
  assert.equal(r.line, `[${'#'.repeat(6)}${'-'.repeat(18)}] step 1/4  seed 7  (cloud)`);
  const long = progressLine(at({ stage: 'load', message: `loading ${'x'.repeat(300)}` }), '', 80);
  assert.equal(long.line.length, 79);
});
