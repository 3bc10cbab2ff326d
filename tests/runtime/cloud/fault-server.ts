// A fault-injecting stand-in for the Fireworks endpoint: real HTTP on 127.0.0.1 that answers the
// way Fireworks documents (written out by hand here, not with our encoder) or misbehaves as the
// script says: dropped connections, bodies cut off mid-stream, 429 + Retry-After, 5xx, slow
// bodies, non-image bodies, key rejections.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export type Behaviour =
  | 'ok'
  | 'ok-data-prefix'
  | 'drop'
  | 'truncate'
  | '429'
  | '500'
  | '502'
  | 'slow'
  | 'html'
  | 'not-base64'
  | 'json-not-image'
  | 'wrong-count'
  | 'filtered-empty'
  | '401'
  | '403'
  | '400'
  | 'hang';

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface FaultServer {
  url: string;
  requests: RecordedRequest[];
  /** Behaviours for the next requests, in order; after them, `fallback`. */
  script(list: Behaviour[], fallback?: Behaviour): void;
  close(): Promise<void>;
}

export async function image(format: 'png' | 'jpeg', width: number, height: number, seed: number, quality = 90): Promise<Buffer> {
  const img = sharp({ create: { width, height, channels: 3, background: { r: seed % 256, g: (seed >> 8) % 256, b: 77 } } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: Math.max(1, quality) }).toBuffer();
}

export async function startFaultServer(opts: { retryAfter?: string; slowMs?: number } = {}): Promise<FaultServer> {
  let queue: Behaviour[] = [];
  let fallback: Behaviour = 'ok';
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    requests.push({ at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
    const behaviour = queue.shift() ?? fallback;
    let parsed: { width?: number; height?: number; seed?: number; samples?: number } = {};
    try {
      parsed = JSON.parse(body);
    } catch {
      /* answered below as the script says */
    }
    const width = parsed.width ?? 1024;
    const height = parsed.height ?? 1024;
    const seed = parsed.seed || 1234;
    const samples = parsed.samples ?? 1;
    const accept = String(req.headers.accept ?? 'image/png');
    const jsonFormat = req.headers['json-return-image-accept'] === 'image/jpeg' ? 'jpeg' : 'png';
    const quality = Number(req.headers['jpeg-quality'] ?? 90);

    switch (behaviour) {
      case 'drop':
        req.socket.destroy();
        return;
      case 'hang':
        return; // never answers
      case '401':
      case '403':
        res.writeHead(Number(behaviour), { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'invalid api key' } }));
        return;
      case '400':
        res.writeHead(400, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { message: 'steps out of range' } }));
        return;
      case '429':
        res.writeHead(429, { 'Retry-After': opts.retryAfter ?? '1', 'Content-Type': 'application/json' }).end('{"error":{"message":"rate limited"}}');
        return;
      case '500':
      case '502':
        res.writeHead(Number(behaviour), { 'Content-Type': 'text/plain' }).end('upstream exploded');
        return;
      case 'html':
        res.writeHead(200, { 'Content-Type': 'text/html' }).end('<html><body>Please log in to the hotel wifi</body></html>');
        return;
    }

    const images: Buffer[] = [];
    const format = accept === 'application/json' ? jsonFormat : accept === 'image/jpeg' ? 'jpeg' : 'png';
    for (let i = 0; i < samples; i++) images.push(await image(format, width, height, seed + i, quality));

    if (accept === 'application/json') {
      let base64 = images.map((b) => b.toString('base64'));
      if (behaviour === 'ok-data-prefix') base64 = base64.map((b) => `data:image/${format};base64,${b}`);
      if (behaviour === 'not-base64') base64 = base64.map(() => '%%% not base64 %%%');
      if (behaviour === 'json-not-image') base64 = base64.map(() => Buffer.from('GIF89a not really').toString('base64'));
      if (behaviour === 'wrong-count') base64 = base64.slice(0, Math.max(0, base64.length - 1));
      if (behaviour === 'filtered-empty') base64 = base64.map(() => '');
      const text = JSON.stringify({ id: 'fw-1', base64, finishReason: behaviour === 'filtered-empty' ? 'CONTENT_FILTERED' : 'SUCCESS', seed });
      respond(res, behaviour, Buffer.from(text), { 'Content-Type': 'application/json' });
      return;
    }
    let bytes = images[0]!;
    if (behaviour === 'json-not-image') bytes = Buffer.from('GIF89a not really an image we accept');
    if (behaviour === 'filtered-empty') bytes = Buffer.alloc(0);
    respond(res, behaviour, bytes, {
      'Content-Type': format === 'jpeg' ? 'image/jpeg' : 'image/png',
      Seed: String(seed),
      'Finish-Reason': behaviour === 'filtered-empty' ? 'CONTENT_FILTERED' : 'SUCCESS',
    });
  });

  function respond(res: http.ServerResponse, behaviour: Behaviour, body: Buffer, headers: Record<string, string>): void {
    res.writeHead(200, { ...headers, 'Content-Length': String(body.length) });
    if (behaviour === 'truncate') {
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    if (behaviour === 'slow') {
      const pieces = 10;
      const size = Math.ceil(body.length / pieces);
      let i = 0;
      const tick = () => {
        if (res.destroyed) return;
        res.write(body.subarray(i * size, (i + 1) * size));
        if (++i < pieces) setTimeout(tick, (opts.slowMs ?? 1000) / pieces);
        else res.end();
      };
      tick();
      return;
    }
    res.end(body);
  }

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    script(list, fb = 'ok') {
      queue = [...list];
      fallback = fb;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
