// A typed event hub: subscribe by name, or to everything (a transport forwards all events). A
// listener that throws is reported once on stderr and never stops the others or the job.
import type { StudioEventName, StudioEvents, StudioListener } from './types.js';

type AnyListener = <K extends StudioEventName>(name: K, payload: StudioEvents[K]) => void;

export class StudioEventHub {
  private readonly byName = new Map<StudioEventName, Set<(p: unknown) => void>>();
  private readonly all = new Set<AnyListener>();

  /** Calls `listener` on each `name` event; returns the unsubscribe function. */
  on<K extends StudioEventName>(name: K, listener: StudioListener<K>): () => void {
    let set = this.byName.get(name);
    if (!set) this.byName.set(name, (set = new Set()));
    const l = listener as (p: unknown) => void;
    set.add(l);
    return () => set.delete(l);
  }

  /** Calls `listener` on every event; returns the unsubscribe function. */
  onAny(listener: AnyListener): () => void {
    this.all.add(listener);
    return () => this.all.delete(listener);
  }

  emit<K extends StudioEventName>(name: K, payload: StudioEvents[K]): void {
    for (const l of this.byName.get(name) ?? []) guard(() => l(payload), name);
    for (const l of this.all) guard(() => l(name, payload), name);
  }
}

function guard(fn: () => void, name: string): void {
  try {
    fn();
  } catch (err) {
    process.stderr.write(`studio: a ${name} listener failed: ${(err as Error)?.message ?? err}\n`);
  }
}
