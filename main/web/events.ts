// Server-sent events for the headless studio: every contract event goes to every signed-in
// browser as `event: <name>` / `data: <JSON>`, numbered so a browser that reconnects (EventSource
// does so by itself) gets what it missed from a short backlog instead of a stale screen.
import type { ServerResponse } from 'node:http';
import type { EventName, StudioEvents } from '../contract.js';

const BACKLOG = 1000;
const HEARTBEAT_MS = 15_000;

interface Sent {
  id: number;
  text: string;
}

export class EventStream {
  private nextId = 1;
  private readonly backlog: Sent[] = [];
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor() {
    // A comment line now and then keeps proxies and idle timeouts from closing the stream.
    this.heartbeat = setInterval(() => {
      for (const res of this.clients) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  publish<E extends EventName>(name: E, payload: StudioEvents[E]): void {
    const id = this.nextId++;
    const text = `id: ${id}\nevent: ${name}\ndata: ${JSON.stringify(payload)}\n\n`;
    this.backlog.push({ id, text });
    if (this.backlog.length > BACKLOG) this.backlog.shift();
    for (const res of this.clients) res.write(text);
  }

  /** Starts a stream on `res`, replaying what came after `lastEventId`. */
  attach(res: ServerResponse, lastEventId: string | undefined, headers: Record<string, string>): void {
    res.writeHead(200, { ...headers, 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 2000\n\n');
    const after = Number(lastEventId);
    if (Number.isInteger(after) && after > 0) for (const s of this.backlog) if (s.id > after) res.write(s.text);
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}
