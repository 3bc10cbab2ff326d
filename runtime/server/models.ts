// `/v1/models`: which names this server answers for, what backs each (files on disk or the cloud),
// which device serves it, and whether it is an untrained demo model.
import type { Router } from '../engine/router.js';

export interface ModelListing {
  id: string;
  object: 'model';
  /** The routing policy for this name. */
  backend: 'local' | 'cloud' | 'auto';
  local: {
    available: boolean;
    /** Why local cannot serve right now. */
    problem?: string;
    name?: string;
    path?: string;
    files?: string[];
    device?: string;
    untrained?: boolean;
    safety_model: string | null;
    /** The local runtime's process, when it runs in one (it is started on first use). */
    process_id?: number;
  } | null;
  cloud: { base_url: string; account: string; model: string; key_set: boolean } | null;
  /** True when the model that answers has random weights (the demo model): its images are noise. */
  untrained: boolean;
}

export async function describeModels(router: Router, names: string[]): Promise<ModelListing[]> {
  let local: ModelListing['local'] = null;
  if (router.local && router.policy !== 'cloud') {
    const check = await router.local.check();
    local = { available: check.ok, safety_model: router.safety?.locate() ?? null };
    if (!check.ok) local.problem = check.reason;
    const pid = (router.local as { pid?: number }).pid;
    if (pid !== undefined) local.process_id = pid;
    try {
      const info = await router.local.describe();
      Object.assign(local, { name: info.name, path: info.path, files: info.files, device: info.device, untrained: info.untrained });
    } catch (err) {
      local.problem ??= (err as Error).message;
    }
  }
  const c = router.policy !== 'local' && router.cloud ? router.cloud.describe() : null;
  const cloud = c ? { base_url: c.baseUrl, account: c.account, model: c.model, key_set: c.hasKey } : null;
  return names.map((id) => ({
    id,
    object: 'model' as const,
    backend: router.policy,
    local,
    cloud,
    untrained: local?.untrained === true,
  }));
}
