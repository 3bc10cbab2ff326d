// The child process of ProcessBackend: builds the backend named by the parent and runs its
// requests one message at a time. It exits when the parent goes away. It runs as a Node child
// (messages on process) or as an Electron utility process (messages on process.parentPort).
import { classifyLocalFailure } from './router.js';
import { type BackendSpec, type FromChild, loadBackend } from './process-backend.js';
import type { LocalBackend } from './types.js';
import { isAbortError } from './types.js';

interface ParentPort {
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
  postMessage(message: unknown): void;
}
const parentPort = (process as { parentPort?: ParentPort }).parentPort;
const send = (m: FromChild) => (parentPort ? parentPort.postMessage(m) : process.send?.(m));
const onMessage = (listener: (m: never) => void): void => {
  if (parentPort) parentPort.on('message', (e) => listener(e.data as never));
  else process.on('message', listener as (m: unknown) => void);
};
let backend: LocalBackend | null = null;
const running = new Map<number, AbortController>();

process.on('disconnect', () => process.exit(0));

onMessage(async (m: { type: string; id?: number; spec?: BackendSpec; request?: never }) => {
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
