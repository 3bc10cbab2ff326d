// The fit estimate against what a full-width generation really holds, stage by stage: a model set
// at FLUX's full width with few layers (T5-XXL 4096 wide with 2 layers, the transformer 3072 wide
// with 1 double + 1 single block, the real CLIP and autoencoder) generates 128² twice in a child
// process under the CPU's FP8-keeping policy ('widen', the one full size uses on this machine),
// and each stage's measured peak resident memory (VmHWM, reset per stage) must be within 15 % of
// the estimate runtime/flux/memory.ts gives for that stage as the pipeline meets it: the first
// request (weights not touched yet) and the second (everything kept has run). Linux only (/proc).
// The model set is shared with session-memory.test.ts (fullwidth-set.ts).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fullWidthSet } from './fullwidth-set.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-stagemem-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const GiB = 1024 ** 3;
// The weights and their widening workspace are most of every stage at any size; 128² keeps the
// activations' part small either way (0.1 GiB of 4.5) and costs less than 256² (here: decode 1.2 s
// against 4.5 s, the second denoise 2.0 s against 4.1 s).
const SIZE = 128;

test('each stage of a full-width generate peaks within 15 % of the fit estimate, first and second request', { skip: process.platform !== 'linux' && 'needs /proc' }, () => {
  const dir = fullWidthSet();
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'stage-memory-child.ts'), dir, 'widen', String(SIZE), path.join(tmp, 'graphs')], { encoding: 'utf8', timeout: 900_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { requests: Record<string, { peakRssBytes: number; estimateBytes: number }>[] };
  assert.equal(out.requests.length, 2);
  const rows: string[] = [];
  for (const [i, stages] of out.requests.entries()) {
    assert.deepEqual(Object.keys(stages).sort(), ['decode', 'denoise', 'encode']);
    for (const [name, s] of Object.entries(stages)) {
      const off = s.estimateBytes / s.peakRssBytes - 1;
      rows.push(`request ${i + 1} ${name}: peak ${(s.peakRssBytes / GiB).toFixed(2)} GiB, estimate ${(s.estimateBytes / GiB).toFixed(2)} GiB (${(100 * off).toFixed(0)} %)`);
      assert.ok(s.peakRssBytes > 0 && s.estimateBytes > 0, name);
    }
  }
  for (const [i, stages] of out.requests.entries()) {
    for (const [name, s] of Object.entries(stages)) {
      assert.ok(Math.abs(s.estimateBytes / s.peakRssBytes - 1) <= 0.15, `request ${i + 1}, ${name}: estimate off by more than 15 %\n${rows.join('\n')}`);
    }
  }
  // The second request holds more: the transformer's weights, touched by the first, stay resident.
  assert.ok(out.requests[1]!.encode!.peakRssBytes > out.requests[0]!.encode!.peakRssBytes, rows.join('\n'));
});
