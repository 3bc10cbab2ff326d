// The router under local | cloud | auto with real failures: the local runtime killed mid-request
// (a child process), the model removed from disk, a provider that fails to load, out of memory;
// the cloud is a fault-injecting HTTP server. Each case falls back or fails as the policy says,
// and the result records who served it and why.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ApiError, createGenerationRequest } from '../../../runtime/api/index.js';
import { FireworksClient } from '../../../runtime/cloud/fireworks.js';
import { ProcessBackend } from '../../../runtime/engine/process-backend.js';
import { Router } from '../../../runtime/engine/router.js';
import { SafetyModel } from '../../../runtime/safety/classifier.js';
import { type FaultServer, startFaultServer } from '../cloud/fault-server.js';
import { faultSpec, tempDir } from '../server/helpers.js';
import type { Fault } from './fault-backend.js';
import { installSafetyClassifier } from './safety-model.js';

let cloudServer: FaultServer;
let tmp: ReturnType<typeof tempDir>;
let modelFile: string;
let controlFile: string;
let backend: ProcessBackend;
let cloud: FireworksClient;

const setFault = (fault: Fault, stepMs = 0) => fs.writeFileSync(controlFile, JSON.stringify({ fault, stepMs }));
const req = (o: Record<string, unknown> = {}) => createGenerationRequest({ prompt: 'a lighthouse', width: 640, height: 1536, seed: 3, ...o });
const router = (policy: 'local' | 'cloud' | 'auto', o: { cloud?: FireworksClient | null; local?: ProcessBackend | null; safety?: SafetyModel | null } = {}) =>
  new Router({ policy, local: o.local === undefined ? backend : o.local, cloud: o.cloud === undefined ? cloud : o.cloud, safety: o.safety ?? null, localModelName: 'flux-1-schnell-fp8' });

async function fails503(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ApiError, String(e));
    assert.equal(e.status, 503, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

before(async () => {
  cloudServer = await startFaultServer();
  tmp = tempDir();
  modelFile = path.join(tmp.dir, 'model.safetensors');
  controlFile = path.join(tmp.dir, 'control.json');
  fs.writeFileSync(modelFile, 'stand-in');
  setFault('none');
  backend = new ProcessBackend(faultSpec({ modelFile, controlFile }));
  cloud = new FireworksClient({ apiKey: 'k-test', baseUrl: cloudServer.url, backoffMs: 10, maxRetries: 1 });
});

after(async () => {
  await backend.unload();
  await cloudServer.close();
  tmp.cleanup();
});

test('auto with a working local model serves locally; no fallback recorded', async () => {
  setFault('none');
  const r = await router('auto').generate(req());
  assert.equal(r.backend, 'local');
  assert.equal(r.fallback, undefined);
  assert.equal(r.model, 'flux-1-schnell-fp8');
  assert.equal(r.seed, 3);
  assert.equal(r.images.length, 1);
});

test('the local runtime killed mid-request: auto falls back to the cloud and says why; local fails; the runtime restarts', async () => {
  setFault('none', 200);
  const killOnFirstStep = () => {
    let killed = false;
    return () => {
      if (!killed) {
        killed = true;
        process.kill(backend.pid!, 'SIGKILL');
      }
    };
  };
  const r = await router('auto').generate(req({ steps: 4 }), { onProgress: killOnFirstStep() });
  assert.equal(r.backend, 'cloud');
  assert.equal(r.fallback?.kind, 'crashed');
  assert.match(r.fallback!.reason, /^the local runtime was stopped by the system while running step 2 of 4 of image 1, most likely for memory$/);

  await fails503(router('local').generate(req({ steps: 4 }), { onProgress: killOnFirstStep() }), /local runtime was stopped by the system/);

  setFault('none');
  const again = await router('local').generate(req());
  assert.equal(again.backend, 'local', 'a new runtime process serves the next request');
});

test('a native crash inside the runtime (the process dies by itself) is the same case', async () => {
  setFault('exit', 100);
  const r = await router('auto').generate(req());
  assert.equal(r.backend, 'cloud');
  assert.equal(r.fallback?.kind, 'crashed');
  await fails503(router('local').generate(req()), /local runtime was stopped by the system/);
  setFault('none');
});

test('auto prefers the cloud when this machine would take far longer and says why; local and unknown speed stay local', async () => {
  fs.writeFileSync(controlFile, JSON.stringify({ fault: 'none', estimateMs: 600_000 }));
  const r = await router('auto').generate(req());
  assert.equal(r.backend, 'cloud');
  assert.equal(r.fallback?.kind, 'too-slow');
  assert.match(r.fallback!.reason, /^the local model would take about 10 minutes on this machine \(measured speed\) and the cloud a few seconds$/);
  assert.equal((await router('local').generate(req())).backend, 'local', 'local never diverts');
  assert.equal((await router('auto', { cloud: null }).generate(req())).backend, 'local', 'no key: local, however slow');
  setFault('none');
  assert.equal((await router('auto').generate(req())).backend, 'local', 'no measurement: local');
});

test('a silent runtime (a long load or step) still shows progress every 2 s', async () => {
  setFault('slow-loading', 4500);
  const seen: string[] = [];
  const r = await router('local').generate(req(), { onProgress: (e) => void (e.message && seen.push(e.message)) });
  setFault('none');
  assert.equal(r.images.length, 1);
  assert.equal(seen[0], 'loading T5 (4.9 GB)');
  assert.ok(seen.some((m) => /^loading T5 \(4\.9 GB\), \d+ s so far$/.test(m)), seen.join(' | '));
});

test('a runtime killed by the system while loading says what it was loading, never exits silently', async () => {
  setFault('killed-loading');
  await fails503(router('local').generate(req()), /^the local runtime was stopped by the system while loading T5 \(4\.9 GB\), most likely for memory$/);
  setFault('none');
  const again = await router('local').generate(req());
  assert.equal(again.backend, 'local', 'a new runtime process serves the next request');
});

test('the model removed from disk: auto goes to the cloud without trying; local names the missing file', async () => {
  fs.renameSync(modelFile, `${modelFile}.away`);
  try {
    const r = await router('auto').generate(req());
    assert.equal(r.backend, 'cloud');
    assert.equal(r.fallback?.kind, 'model-missing');
    assert.ok(r.fallback!.reason.includes(modelFile));
    await fails503(router('local').generate(req()), /model file .* is missing/);
  } finally {
    fs.renameSync(`${modelFile}.away`, modelFile);
  }
  assert.equal((await router('auto').generate(req())).backend, 'local');
});

test('a provider that fails to load, and out of memory: auto falls back, local fails with the reason', async () => {
  await backend.unload(); // the provider is loaded once per runtime process
  setFault('provider');
  const r = await router('auto').generate(req());
  assert.equal(r.backend, 'cloud');
  assert.equal(r.fallback?.kind, 'provider-failed');
  assert.match(r.fallback!.reason, /CUDA execution provider failed/);
  await fails503(router('local').generate(req()), /execution provider failed/);

  setFault('oom');
  const o = await router('auto').generate(req());
  assert.equal(o.fallback?.kind, 'out-of-memory');
  assert.match(o.fallback!.reason, /ran out of memory/);
  await fails503(router('local').generate(req()), /out of memory/);
  setFault('none');
});

test('no local model and no key: 503 saying exactly what is missing; offline with no local model is an error, not a hang', async () => {
  await fails503(router('auto', { local: null, cloud: new FireworksClient({ baseUrl: cloudServer.url }) }).generate(req()), /no local model installed.*and no cloud key set/);
  await fails503(router('auto', { local: null, cloud: null }).generate(req()), /no local model installed.*no cloud key set/);
  await fails503(router('cloud', { cloud: null }).generate(req()), /backend is "cloud" but no cloud key set/);
  await fails503(router('local', { local: null }).generate(req()), /no local model installed/);
  const closed = await startFaultServer();
  await closed.close();
  const offline = new FireworksClient({ apiKey: 'k', baseUrl: closed.url, backoffMs: 10 });
  await fails503(router('auto', { local: null, cloud: offline }).generate(req()), /could not reach Fireworks/);
});

test('a local failure with a failing cloud reports both', async () => {
  setFault('oom');
  cloudServer.script(['401']);
  await fails503(router('auto').generate(req()), /ran out of memory.*cloud fallback failed too: your Fireworks API key was rejected/);
  setFault('none');
});

test('cloud policy never runs locally', async () => {
  const r = await router('cloud').generate(req());
  assert.equal(r.backend, 'cloud');
  assert.equal(r.fallback, undefined);
});

test('safety check: flagged → CONTENT_FILTERED black image; no safety model → cloud under auto, 503 under local', async () => {
  const modelDir = path.join(tmp.dir, 'safety-here');
  const safety = new SafetyModel({ modelDir });
  await fails503(router('local', { safety }).generate(req({ safetyCheck: true })), /safety model not installed/);
  const viaCloud = await router('auto', { safety }).generate(req({ safetyCheck: true }));
  assert.equal(viaCloud.backend, 'cloud');
  assert.equal(viaCloud.fallback?.kind, 'safety-missing');
  assert.equal(JSON.parse(cloudServer.requests.at(-1)!.body).safety_check, true, 'the cloud is asked to run its check');
  await fails503(router('auto', { safety, cloud: null }).generate(req({ safetyCheck: true })), /safety model not installed.*no cloud key set/);

  installSafetyClassifier(modelDir, 'flag-all');
  const flagged = await router('local', { safety }).generate(req({ safetyCheck: true, samples: 2 }));
  assert.equal(flagged.backend, 'local');
  assert.equal(flagged.finishReason, 'CONTENT_FILTERED');
  assert.ok(flagged.images.every((i) => i.finishReason === 'CONTENT_FILTERED'));
  // Without safety_check the same request is not filtered.
  assert.equal((await router('local', { safety }).generate(req({ samples: 2 }))).finishReason, 'SUCCESS');
  await safety.release();
});

test('cancelling a local generation aborts it; the runtime stays up for the next one', async () => {
  setFault('none', 300);
  const controller = new AbortController();
  const pid = (await (async () => { await router('local').generate(req({ steps: 1 })); return backend.pid; })())!;
  const p = router('local').generate(req({ steps: 8 }), { signal: controller.signal, onProgress: () => controller.abort() });
  await assert.rejects(p, (e: Error) => e.name === 'AbortError');
  setFault('none');
  await router('local').generate(req());
  assert.equal(backend.pid, pid);
});
