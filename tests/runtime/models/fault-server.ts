// A real HTTP server on 127.0.0.1 serving files with Range / If-Range / ETag, that injects faults
// on request: a dropped connection, a lying Content-Length, a 200 instead of a 206, a changed file,
// corrupted bytes, a stall, an error status, a redirect. It counts the body bytes it sends, so tests
// can prove a resume did not fetch kept bytes again.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'drop'; after: number } // send `after` body bytes, then cut the connection
  | { kind: 'stall'; after: number } // send `after` body bytes, then go silent (connection held)
  | { kind: 'length'; delta: number; stall?: boolean } // announce Content-Length + delta, send the real body, then close (or go silent)
  | { kind: 'ignore-range' } // answer a Range request with 200 and the whole file
  | { kind: 'corrupt'; at: number } // flip the byte at this file offset
  | { kind: 'status'; code: number; retryAfter?: string }
  | { kind: 'lie-206' } // ignore If-Range: answer 206 from the current file even if the validator differs
  | { kind: 'redirect'; to: string } // 302 to this absolute URL
  | { kind: 'mismatched-range' }; // answer a Range request with 206 and the whole file, labelled as it is (bytes 0-…)

interface Served {
  data: Buffer;
  etag: string;
  lastModified: string;
  /** Token this file requires (Authorization: Bearer …), if any. */
  token?: string;
  weakEtag?: boolean;
  /** Throttle: send in pieces of this size with this pause (ms) between. */
  chunk?: number;
  delayMs?: number;
  /** Extra response headers (e.g. a Content-Disposition). */
  headers?: Record<string, string>;
}

export interface RequestLog {
  path: string;
  range?: string;
  ifRange?: string;
  authorization?: string;
  status: number;
  /** Body bytes sent in answer to this request. */
  bytes: number;
}

export class FaultServer {
  readonly files = new Map<string, Served>();
  /** Faults applied to the next requests of a path, one per request, in order. */
  readonly faults = new Map<string, Fault[]>();
  /** Faults for every request of a path once its queue is empty (a server that always misbehaves). */
  readonly always = new Map<string, (req: { range?: string }) => Fault | undefined>();
  readonly log: RequestLog[] = [];
  bytesSent = 0;
  readonly bytesByPath = new Map<string, number>();
  private server!: http.Server;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;

  static async start(): Promise<FaultServer> {
    const s = new FaultServer();
    s.server = http.createServer((req, res) => s.handle(req, res));
    s.server.on('connection', (sock) => {
      s.sockets.add(sock);
      sock.on('close', () => s.sockets.delete(sock));
    });
    await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
    s.port = (s.server.address() as AddressInfo).port;
    return s;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  serve(p: string, data: Buffer, extra: Partial<Omit<Served, 'data' | 'etag' | 'lastModified'>> = {}): void {
    const etag = `"${crypto.createHash('sha1').update(data).digest('hex')}"`;
    const prevLm = this.files.get(p)?.lastModified;
    // A replaced file gets a later Last-Modified (HTTP dates have 1 s resolution).
    const lm = new Date(prevLm ? Date.parse(prevLm) + 1000 : Date.UTC(2024, 7, 1)).toUTCString();
    this.files.set(p, { ...extra, data, etag: extra.weakEtag ? `W/${etag}` : etag, lastModified: lm });
  }

  fault(p: string, ...faults: Fault[]): void {
    this.faults.set(p, [...(this.faults.get(p) ?? []), ...faults]);
  }

  sentFor(p: string): number {
    return this.bytesByPath.get(p) ?? 0;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private count(p: string, n: number): void {
    this.bytesSent += n;
    this.bytesByPath.set(p, this.sentFor(p) + n);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const entry: RequestLog = {
      path: p,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      authorization: req.headers.authorization,
      status: 0,
      bytes: 0,
    };
    this.log.push(entry);
    const fault = this.faults.get(p)?.shift() ?? this.always.get(p)?.({ range: req.headers.range });
    const file = this.files.get(p);
    const reply = (status: number, headers: Record<string, string | number> = {}, body?: Buffer) => {
      entry.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (fault?.kind === 'status') return reply(fault.code, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
    if (fault?.kind === 'redirect') return reply(302, { location: fault.to });
    if (!file) return reply(404, {}, Buffer.from('not found'));
    if (file.token && req.headers.authorization !== `Bearer ${file.token}`) return reply(401, {}, Buffer.from('unauthorized'));

    let data = file.data;
    if (fault?.kind === 'corrupt') {
      data = Buffer.from(data);
      data[fault.at] = data[fault.at]! ^ 0xff;
    }
    const total = data.length;
    let start = 0;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const ifRange = req.headers['if-range'] as string | undefined;
    const validatorOk = !ifRange || ifRange === file.etag && !file.weakEtag || ifRange === file.lastModified;
    if (range && fault?.kind !== 'ignore-range' && (validatorOk || fault?.kind === 'lie-206')) {
      start = fault?.kind === 'mismatched-range' ? 0 : Number(range[1]);
      if (start >= total) return reply(416, { 'content-range': `bytes */${total}` });
      status = 206;
    }
    const end = range?.[2] && status === 206 ? Math.min(Number(range[2]), total - 1) : total - 1;
    const body = data.subarray(start, end + 1);
    const headers: Record<string, string | number> = {
      etag: file.etag,
      'last-modified': file.lastModified,
      'accept-ranges': 'bytes',
      'content-type': 'application/octet-stream',
      ...file.headers,
      'content-length': body.length + (fault?.kind === 'length' ? fault.delta : 0),
    };
    if (status === 206) headers['content-range'] = `bytes ${start}-${end}/${total}`;
    entry.status = status;
    res.writeHead(status, headers);

    let limit = body.length;
    if (fault?.kind === 'drop' || fault?.kind === 'stall') limit = Math.min(fault.after, body.length);
    const piece = file.chunk ?? 64 * 1024;
    let sent = 0;
    const finish = () => {
      if (fault?.kind === 'drop') return void res.socket?.destroy();
      if (fault?.kind === 'stall') return; // hold the connection; the client must give up
      if (fault?.kind === 'length' && fault.stall) return;
      if (fault?.kind === 'length') {
        // The body does not match the announced length: close so the client sees where it ends.
        return void res.end(() => res.socket?.destroy());
      }
      res.end();
    };
    const pump = () => {
      if (res.destroyed || res.socket?.destroyed) return;
      if (sent >= limit) return finish();
      const n = Math.min(piece, limit - sent);
      const slice = body.subarray(sent, sent + n);
      sent += n;
      entry.bytes += n;
      this.count(p, n);
      res.write(slice, () => {
        if (file.delayMs) setTimeout(pump, file.delayMs);
        else setImmediate(pump);
      });
    };
    pump();
  }
}

export function randomBytes(n: number, seed = 1): Buffer {
  // Deterministic content so failures reproduce.
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(b: Buffer): string {
  return crypto.createHash('sha256').update(b).digest('hex');
}
