// A bounded load run over loopback: 200 requests, 16 at a time, against `schnell serve` on the demo
// model. No 5xx; every answer is 200, or 429 with Retry-After; no job lost or run twice (the
// server's counters and the responses' ids agree). Prints the server's own overhead per request:
// client wall time minus the engine time the server reports (Server-Timing), median and p95.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T2I, TOKEN, request, spawnServe, t2i, tempDir, writeTempDemoModel } from './helpers.js';

const TOTAL = 200;
const CONCURRENCY = 16;
/** A client told to wait waits at most this long before its next request (keeps the run bounded). */
const MAX_WAIT_MS = 1000;

function timing(header: unknown, name: string): number {
  const m = new RegExp(`${name};dur=([0-9.]+)`).exec(String(header ?? ''));
  return m ? Number(m[1]) : NaN;
}

function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

test(`load: ${TOTAL} requests at ${CONCURRENCY} concurrent, demo model`, async () => {
  const home = tempDir('schnell-home-');
  const demo = await writeTempDemoModel();
  const serve = await spawnServe(['--model', demo.dir, '--token', TOKEN, '--backend', 'local', '--max-queue', '2'], { SCHNELL_HOME: home.dir });
  try {
    // One request first, so the model load is not counted as overhead.
    assert.equal((await t2i(serve.url, { prompt: 'warm up', seed: 1 }, { Accept: 'image/jpeg' })).status, 200);
    const before = (await request(serve.url, { method: 'GET', path: '/healthz' })).json().jobs;

    let next = 0;
    const answers: { i: number; status: number; wallMs: number; engineMs: number; queueMs: number; retryAfter?: string; id?: string; seed?: string }[] = [];
    const errors: string[] = [];
    const started = performance.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < TOTAL) {
        const i = next++;
        const t0 = performance.now();
        try {
          const r = await t2i(serve.url, { prompt: `load ${i}`, seed: 1000 + i }, { Accept: 'image/jpeg' }, { path: T2I });
          const wallMs = performance.now() - t0;
          const a = { i, status: r.status, wallMs, engineMs: timing(r.headers['server-timing'], 'engine'), queueMs: timing(r.headers['server-timing'], 'queue'), id: String(r.headers['x-request-id']), seed: r.headers.seed as string | undefined, retryAfter: r.headers['retry-after'] as string | undefined };
          answers.push(a);
          if (r.status === 429) await new Promise((res) => setTimeout(res, Math.min(MAX_WAIT_MS, Number(a.retryAfter) * 1000)));
        } catch (err) {
          errors.push(`request ${i}: ${(err as Error).message}`);
        }
      }
    }));
    const seconds = (performance.now() - started) / 1000;

    assert.deepEqual(errors, [], 'every request got an answer');
    assert.equal(answers.length, TOTAL);
    assert.deepEqual([...new Set(answers.map((a) => a.i))].length, TOTAL);
    const statuses = new Map<number, number>();
    for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
    assert.ok(answers.every((a) => a.status === 200 || a.status === 429), `statuses: ${JSON.stringify([...statuses])}`);
    const ok = answers.filter((a) => a.status === 200);
    const busy = answers.filter((a) => a.status === 429);
    assert.ok(busy.every((a) => Number(a.retryAfter) >= 1), 'every 429 has Retry-After');
    assert.ok(ok.length >= 3, `only ${ok.length} requests were served`);
    assert.ok(ok.every((a) => a.seed === String(1000 + a.i)), 'each answer is the image of its own request');
    assert.equal(new Set(answers.map((a) => a.id)).size, TOTAL, 'request ids are unique');

    const after = (await request(serve.url, { method: 'GET', path: '/healthz' })).json().jobs;
    assert.equal(after.submitted - before.submitted, TOTAL);
    assert.equal(after.completed - before.completed, ok.length, 'no job lost, none run twice');
    assert.equal(after.rejected - before.rejected, busy.length);
    assert.equal(after.failed - before.failed, 0);
    assert.equal(after.local.running + after.local.queued, 0);

    const overhead = ok.map((a) => a.wallMs - a.engineMs);
    const outsideQueue = ok.map((a) => a.wallMs - a.engineMs - a.queueMs);
    const busyWall = busy.map((a) => a.wallMs);
    const f = (v: number) => v.toFixed(1);
    console.log(`load: ${TOTAL} requests, ${CONCURRENCY} concurrent, ${seconds.toFixed(1)} s: ${ok.length} × 200, ${busy.length} × 429`);
    console.log(`  engine time per image: median ${f(quantile(ok.map((a) => a.engineMs), 0.5))} ms`);
    console.log(`  server overhead (wall − engine):          median ${f(quantile(overhead, 0.5))} ms, p95 ${f(quantile(overhead, 0.95))} ms (includes waiting in the queue)`);
    console.log(`  server overhead (wall − engine − queue):  median ${f(quantile(outsideQueue, 0.5))} ms, p95 ${f(quantile(outsideQueue, 0.95))} ms`);
    console.log(`  429 answers: median ${f(quantile(busyWall, 0.5))} ms, p95 ${f(quantile(busyWall, 0.95))} ms`);
  } finally {
    const { code } = await serve.stop();
    demo.cleanup();
    home.cleanup();
    assert.equal(code, 0);
  }
});
