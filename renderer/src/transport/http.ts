// The contract over HTTP for the headless studio: POST /api/<name> with the params as JSON, answered
// by { result } or { error: ContractError }; events from one EventSource on /api/events, shared by
// every listener. The session cookie travels by itself (same origin), so no token lives in the page.
import type { CallArgs, CommandName, ContractError, EventName, Result, StudioClient, StudioEvents } from '../../../main/contract.js';

/** A call the studio refused or could not answer: `message` is one sentence for the user. */
export class CallError extends Error {
  override name = 'CallError';
  constructor(readonly error: ContractError) {
    super(error.message);
  }
}

// Every event the contract declares, so one EventSource can listen for all of them. The Record type
// makes the compiler name any event added to the contract but missing here.
const EVENT_NAMES: Record<EventName, true> = {
  'job.queued': true, 'job.started': true, 'job.progress': true, 'job.imageSaved': true, 'job.finished': true,
  'job.failed': true, 'job.cancelled': true, 'job.interrupted': true, 'library.changed': true, 'projects.changed': true,
  'models.downloadProgress': true, 'models.changed': true, 'settings.changed': true, 'apiServer.changed': true,
  'runtime.restarted': true, 'shell.menu': true,
};

export function httpClient(base: string): StudioClient {
  const listeners = new Map<string, Set<(payload: never) => void>>();
  let source: EventSource | null = null;

  function ensureSource(): void {
    if (source || typeof EventSource === 'undefined') return;
    source = new EventSource(new URL('api/events', base).href);
    for (const name of Object.keys(EVENT_NAMES)) {
      source.addEventListener(name, (e) => {
        let payload: unknown;
        try {
          payload = JSON.parse((e as MessageEvent<string>).data);
        } catch {
          return;
        }
        for (const fn of listeners.get(name) ?? []) (fn as (p: unknown) => void)(payload);
      });
    }
  }

  async function call<K extends CommandName>(name: K, ...args: CallArgs<K>): Promise<Result<K>> {
    let res: Response;
    try {
      res = await fetch(new URL(`api/${name}`, base).href, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(args[0] ?? {}),
        credentials: 'same-origin',
      });
    } catch {
      throw new CallError({ code: 'unavailable', message: 'The studio is not answering; check that `schnell studio` is still running.' });
    }
    let body = null as { result?: Result<K>; error?: ContractError } | null;
    try {
      body = (await res.json()) as typeof body;
    } catch {
      // fall through: a non-JSON answer (a proxy, a crash page)
    }
    if (res.ok && body && 'result' in body) return body.result as Result<K>;
    if (body?.error?.message) throw new CallError(body.error);
    const message = res.status === 401 || res.status === 403
      ? 'This page is not signed in to the studio; open the one-time link that `schnell studio` printed.'
      : `The studio answered ${name} with HTTP ${res.status}.`;
    throw new CallError({ code: 'internal', message });
  }

  function on<E extends EventName>(event: E, listener: (payload: StudioEvents[E]) => void): () => void {
    ensureSource();
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  return { call, on };
}
