// What the studio's queue and the CLI get of the local runtime's progress: a measured share of the
// running step (a model run block by block) reaches 'job.progress' with its sentence, through the
// runtime's child process (a fault-injecting local backend stands in for a slow model).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createGenerationRequest } from '../../runtime/api/index.js';
import { Studio } from '../../main/studio.js';
import type { JobProgress } from '../../main/studio/types.js';
import { faultSpec } from '../runtime/server/helpers.js';
import { tempDir } from './helpers.js';

test("a block-by-block step's measured share and sentence reach the studio's 'job.progress'", async () => {
  const root = tempDir();
  const modelFile = path.join(root, 'model.safetensors');
  const controlFile = path.join(root, 'control.json');
  fs.writeFileSync(modelFile, 'stand-in');
  fs.writeFileSync(controlFile, JSON.stringify({ fault: 'slow-block', stepMs: 10 }));
  const studio = await Studio.open({ home: path.join(root, 'home'), env: {}, library: false, backend: 'local', localSpec: faultSpec({ modelFile, controlFile }) });
  try {
    const seen: JobProgress[] = [];
    studio.on('job.progress', ({ progress }) => void seen.push(progress));
    const { outcome } = studio.submit(createGenerationRequest({ prompt: 'a harbour at night', seed: 3, steps: 1 }), { source: 'ui' });
    assert.equal((await outcome).job.status, 'done');
    const block = seen.find((p) => p.stage === 'denoise');
    assert.ok(block, JSON.stringify(seen));
    assert.equal(block.message, 'image 1 of 1, step 1 of 1, block 3 of 57');
    assert.equal(block.fraction, 3 / 57);
    assert.equal(block.step, 0, 'no step finished yet');
  } finally {
    await studio.close();
  }
});
