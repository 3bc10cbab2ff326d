// The child process of ProcessBackend: builds the backend named by the parent and runs its
// requests one message at a time. It exits when the parent goes away.
import { classifyLocalFailure } from './router.js';
import { type BackendSpec, type FromChild, loadBackend } from './process-backend.js';
import type { LocalBackend } from './types.js';
import { isAbortError } from './types.js';

const send = (m: FromChild) => process.send?.(m);
let backend: LocalBackend | null = null;
const running = new Map<number, AbortController>();

process.on('disconnect', () => process.exit(0));

process.on('message', async (m: { type: string; id?: number; spec?: BackendSpec; request?: never }) => {
  if (m.type === 'init') {
    try {
      backend = await loadBackend(m.spec!);
      send({ type: 'ready' });
    } catch (err) {
      send({ type: 'fatal', error: { kind: 'provider-failed', message: (err as Error).message } });
      process.exit(1);
    }
  } else if (m.type === 'generate') {
    const id = m.id!;
    const controller = new AbortController();
    running.set(id, controller);
    try {
      const output = await backend!.generate(m.request!, {
        signal: controller.signal,
        onProgress: (event) => send({ type: 'progress', id, event }),
      });
      send({ type: 'result', id, output });
    } catch (err) {
      if (isAbortError(err) || controller.signal.aborted) send({ type: 'error', id, error: { message: 'cancelled', aborted: true } });
      else {
        const f = classifyLocalFailure(err);
        send({ type: 'error', id, error: { kind: f.kind, message: f.reason, ...(f.status !== undefined ? { status: f.status } : {}) } });
      }
    } finally {
      running.delete(id);
    }
  } else if (m.type === 'cancel') {
    running.get(m.id!)?.abort();
  } else if (m.type === 'unload') {
    await backend?.unload().catch(() => undefined);
    process.exit(0);
  }
});
