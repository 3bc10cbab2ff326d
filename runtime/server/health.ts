// What this server can serve right now, and why not: printed at start (`schnell serve`) and
// reported by /healthz to callers with the token. A server with no usable backend must say so
// rather than look healthy and fail every request.
import type { Router } from '../engine/router.js';

export interface BackendState {
  available: boolean;
  /** Why it cannot serve (absent when it can). */
  problem?: string;
}

export interface ServiceReport {
  /** At least one backend the policy allows can serve a request. */
  ready: boolean;
  backends: { local: BackendState | null; cloud: BackendState | null };
  /** One sentence per backend that cannot serve; with `ready` false, what to do. */
  problems: string[];
}

const NO_KEY = 'no Fireworks key is set (set FIREWORKS_API_KEY or save a key with the studio / secrets.json)';

export async function serviceReport(router: Router): Promise<ServiceReport> {
  const problems: string[] = [];
  let local: BackendState | null = null;
  let cloud: BackendState | null = null;
  if (router.policy !== 'cloud') {
    if (!router.local) local = { available: false, problem: 'no local model is configured (start with --model PATH or set "model" in config.json)' };
    else {
      const check = await router.local.check();
      local = check.ok ? { available: true } : { available: false, problem: check.reason };
    }
    if (local.problem) problems.push(`the local model cannot serve: ${local.problem}`);
  }
  if (router.policy !== 'local') {
    cloud = router.cloud === null ? { available: false, problem: 'no cloud client is configured' } : router.cloud.describe().hasKey ? { available: true } : { available: false, problem: NO_KEY };
    if (cloud.problem) problems.push(`the Fireworks cloud cannot serve: ${cloud.problem}`);
  }
  const ready = (local?.available ?? false) || (cloud?.available ?? false);
  return { ready, backends: { local, cloud }, problems };
}
