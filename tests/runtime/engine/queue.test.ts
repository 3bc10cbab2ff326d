// The bounded job queue and the engine's bookkeeping: one at a time, 429 + Retry-After past the
// bound, cancellation of queued and running jobs, nothing lost or run twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, createGenerationRequest } from '../../../runtime/api/index.js';
import { Engine } from '../../../runtime/engine/engine.js';
import { InProcessBackend } from '../../../runtime/engine/local.js';
import { JobQueue } from '../../../runtime/engine/queue.js';
import { Router } from '../../../runtime/engine/router.js';
import { faultSpec, tempDir } from '../server/helpers.js';

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

test('one task at a time; the bound is maxQueued waiting; past it 429 with Retry-After', async () => {
  const q = new JobQueue({ concurrency: 1, maxQueued: 2, name: 'local device' });
  const gates = [deferred(), deferred(), deferred()];
  const order: number[] = [];
  const runs = gates.map((g, i) => q.run(async () => {
    order.push(i);
    await g.promise;
    return i;
  }));
  assert.equal(q.active, 1);
  assert.equal(q.queued, 2);
  await assert.rejects(q.run(async () => 99), (e: unknown) => e instanceof ApiError && e.status === 429 && (e.retryAfter ?? 0) >= 1 && /local device is busy/.test(e.message));
  gates.forEach((g) => g.resolve());
  assert.deepEqual(await Promise.all(runs), [0, 1, 2]);
  assert.deepEqual(order, [0, 1, 2]);
  await q.idle();
});

test('cancelling a queued task removes it (it never runs); cancelling a running task aborts its signal', async () => {
  const q = new JobQueue({ concurrency: 1, maxQueued: 4 });
  const gate = deferred();
  let sawAbort = false;
  const running = new AbortController();
  const first = q.run(async (signal) => {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => {
      sawAbort = true;
      resolve();
    }));
    throw Object.assign(new Error('aborted'), { name: 'AbortError' });
  }, { signal: running.signal });
  const queued = new AbortController();
  let ranQueued = false;
  const second = q.run(async () => {
    ranQueued = true;
  }, { signal: queued.signal });
  const third = q.run(async () => gate.promise.then(() => 'third'));
  queued.abort();
  await assert.rejects(second, (e: Error) => e.name === 'AbortError');
  assert.equal(q.queued, 1);
  running.abort();
  await assert.rejects(first, /aborted/);
  assert.ok(sawAbort);
  gate.resolve();
  assert.equal(await third, 'third');
  assert.equal(ranQueued, false);
});

test('close refuses new work with 503 and can drop the waiting jobs', async () => {
  const q = new JobQueue({ concurrency: 1, maxQueued: 4 });
  const gate = deferred();
  const a = q.run(() => gate.promise);
  const b = q.run(async () => 'b');
  q.close('the server is shutting down', { dropQueued: true });
  await assert.rejects(b, (e: unknown) => e instanceof ApiError && e.status === 503);
  await assert.rejects(q.run(async () => 1), /shutting down/);
  gate.resolve();
  await a;
});

test('engine: every submitted job ends exactly once as completed, rejected or cancelled', async () => {
  const t = tempDir();
  try {
    const modelFile = path.join(t.dir, 'm.safetensors');
    const logFile = path.join(t.dir, 'log.txt');
    fs.writeFileSync(modelFile, 'x');
    const router = new Router({ policy: 'local', local: new InProcessBackend(faultSpec({ modelFile, logFile, stepMs: 5 })) });
    const engine = new Engine({ router, maxQueued: 3 });
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) =>
      engine.generate(createGenerationRequest({ prompt: `p${i}`, seed: i + 1, width: 640, height: 1536, steps: 2 }))));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const busy = results.filter((r) => r.status === 'rejected' && (r.reason as ApiError).status === 429);
    assert.equal(ok.length + busy.length, 12);
    assert.ok(busy.length > 0 && ok.length >= 4);
    const stats = engine.stats();
    assert.equal(stats.submitted, 12);
    assert.equal(stats.completed, ok.length);
    assert.equal(stats.rejected, busy.length);
    const log = fs.readFileSync(logFile, 'utf8').trim().split('\n');
    assert.equal(log.length, ok.length, 'each completed job ran exactly once');
    assert.equal(new Set(log).size, log.length);
    const ids = ok.map((r) => (r as PromiseFulfilledResult<{ id: string }>).value.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const r of ok) {
      const v = (r as PromiseFulfilledResult<{ timings: { queueMs?: number; engineMs: number } }>).value;
      assert.ok(v.timings.queueMs !== undefined && v.timings.engineMs >= 0);
    }
    await engine.shutdown({ graceMs: 1000 });
  } finally {
    t.cleanup();
  }
});
