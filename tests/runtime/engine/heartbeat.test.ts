// The progress a silent local runtime still shows (runtime/engine/process-backend.ts), through a
// real child process: an event with a measured share of the step (a model run block by block) is
// repeated as measured, with the time since that block and no estimate; an event that only says
// how long its step should take gets an estimated share that says it is one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createGenerationRequest } from '../../../runtime/api/index.js';
import { ProcessBackend } from '../../../runtime/engine/process-backend.js';
import type { ProgressEvent } from '../../../runtime/engine/types.js';
import { faultSpec, tempDir } from '../server/helpers.js';
import type { Fault } from './fault-backend.js';

let tmp: ReturnType<typeof tempDir>;
let controlFile: string;
let backend: ProcessBackend;

before(() => {
  tmp = tempDir();
  const modelFile = path.join(tmp.dir, 'model.safetensors');
  controlFile = path.join(tmp.dir, 'control.json');
  fs.writeFileSync(modelFile, 'stand-in');
  backend = new ProcessBackend(faultSpec({ modelFile, controlFile }));
});

after(async () => {
  await backend.unload();
  tmp.cleanup();
});

/** The stage events of one request whose first step is silent for `stepMs` after its event. */
async function silentStep(fault: Fault, stepMs: number): Promise<Omit<ProgressEvent, 'backend'>[]> {
  fs.writeFileSync(controlFile, JSON.stringify({ fault, stepMs }));
  const seen: Omit<ProgressEvent, 'backend'>[] = [];
  const out = await backend.generate(createGenerationRequest({ prompt: 'a lighthouse', width: 1024, height: 1024, steps: 1, seed: 3 }), {
    onProgress: (e) => void (e.stage && seen.push(e)),
  });
  assert.equal(out.images.length, 1);
  return seen;
}

test('a measured block event is repeated as measured: the same share, the time since the block, no estimate', async () => {
  const seen = await silentStep('slow-block', 3400);
  assert.equal(seen[0]!.message, 'image 1 of 1, step 1 of 1, block 3 of 57');
  assert.equal(seen[0]!.fraction, 3 / 57);
  const repeats = seen.slice(1);
  assert.ok(repeats.length >= 1, 'at least one repeat while the runtime was silent');
  for (const e of repeats) {
    assert.match(e.message!, /^image 1 of 1, step 1 of 1, block 3 of 57, \d+ s since the last block$/);
    assert.equal(e.fraction, 3 / 57, 'the measured share, not one grown from the time');
    assert.equal(e.expectedMs, undefined);
  }
});

test('an event that says how long its step should take is repeated with an estimated share that says so', async () => {
  const seen = await silentStep('slow-step', 3400);
  assert.equal(seen[0]!.fraction, undefined);
  assert.ok(seen[0]!.expectedMs! > 0);
  const repeats = seen.slice(1);
  assert.ok(repeats.length >= 1, 'at least one repeat while the runtime was silent');
  for (const e of repeats) {
    assert.match(e.message!, /^image 1 of 1, step 1 of 1, about \d+ % \(estimated from this machine's speed\)$/);
    assert.ok(e.fraction! > 0 && e.fraction! <= 0.99, String(e.fraction));
  }
});
