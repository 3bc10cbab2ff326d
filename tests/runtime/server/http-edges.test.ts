// HTTP at the edges, over raw sockets because client libraries cannot produce these requests:
// CONNECT and Upgrade, clients that half-close after sending, `Expect: 100-continue` with a body
// over the cap (413 before the body is sent), and conflicting duplicate headers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { T2I, TOKEN, type TestServer, faultSpec, startTestServer, tempDir } from './helpers.js';

let tmp: ReturnType<typeof tempDir>;
let s: TestServer;
let port: number;

before(async () => {
  tmp = tempDir();
  const modelFile = path.join(tmp.dir, 'model.safetensors');
  fs.writeFileSync(modelFile, 'x');
  s = await startTestServer({ policy: 'local', local: faultSpec({ modelFile, stepMs: 100 }), isolate: false, maxQueued: 4 });
  port = Number(new URL(s.url).port);
});
after(async () => {
  await s.close();
  tmp.cleanup();
});

interface RawReply {
  /** Every status line received, interim (1xx) ones included, in order. */
  statuses: number[];
  status: number;
  head: string;
  body: Buffer;
}

function parseReplies(data: Buffer): RawReply {
  const statuses: number[] = [];
  let rest = data;
  for (;;) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) throw new Error(`no complete response in ${JSON.stringify(data.toString('latin1').slice(0, 300))}`);
    const head = rest.subarray(0, end).toString('latin1');
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
    statuses.push(status);
    rest = rest.subarray(end + 4);
    if (status >= 200) return { statuses, status, head, body: rest };
  }
}

/** Opens a socket, lets `script` talk, and resolves with everything received once the server closes. */
function exchange(script: (sock: net.Socket, received: () => string) => unknown): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect(port, '127.0.0.1', () => {
      Promise.resolve(script(sock, () => Buffer.concat(chunks).toString('latin1'))).catch(reject);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('close', () => {
      try {
        resolve(parseReplies(Buffer.concat(chunks)));
      } catch (err) {
        reject(err);
      }
    });
    sock.on('error', reject);
  });
}

const errorOf = (r: RawReply) => {
  const e = JSON.parse(r.body.toString('utf8')).error;
  assert.equal(typeof e.message, 'string');
  assert.ok('param' in e && typeof e.type === 'string');
  assert.match(r.head, /\r\nX-Request-Id: req_[0-9a-f]{24}/i);
  return e as { type: string; message: string; param: string | null };
};

const postHead = (body: string, extra = '') =>
  `POST ${T2I} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n`;

const waitFor = async (cond: () => boolean, what: string, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not reached in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('methods a proxy or a browser may send', () => {
  test('CONNECT gets a 405 in the API error shape, not a dropped socket', async () => {
    const r = await exchange((sock) => sock.write(`CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n`));
    assert.equal(r.status, 405);
    assert.match(errorOf(r).message, /CONNECT is not supported/);
    assert.match(r.head, /\r\nAllow: /i);
  });

  test('an Upgrade request (websocket) is answered as a plain request', async () => {
    const r = await exchange((sock) =>
      sock.write(`GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`),
    );
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body.toString()).status, 'ok');
  });
});

describe('clients that half-close', () => {
  test('a client that shuts its sending side after the request still gets its image', async () => {
    const body = JSON.stringify({ prompt: 'half', width: 640, height: 1536, steps: 6 });
    const r = await exchange((sock) => sock.end(postHead(body) + body));
    assert.equal(r.status, 200, r.body.toString('latin1').slice(0, 200));
    assert.match(r.head, /\r\nContent-Type: image\/png/i);
    assert.deepEqual([...r.body.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    assert.ok(r.statuses.slice(0, -1).every((st) => st === 102), `only 102 interim answers before the final one: ${r.statuses}`);
  });

  test('a client that closes for good is noticed and its job cancelled', async () => {
    const before = s.engine.stats().cancelled;
    const body = JSON.stringify({ prompt: 'gone', width: 640, height: 1536, steps: 50 });
    const sock = net.connect(port, '127.0.0.1', () => sock.write(postHead(body) + body));
    sock.on('error', () => undefined);
    await waitFor(() => s.engine.stats().local.running === 1, 'the job started');
    sock.destroy();
    await waitFor(() => s.engine.stats().cancelled === before + 1, 'the job was cancelled');
    await waitFor(() => s.engine.stats().local.running === 0, 'the device is free');
  });

  test('a client that half-closes in the middle of its body gets a 400 that says so', async () => {
    const r = await exchange((sock) => sock.end(postHead('{"prompt":"a fox"}').replace(/Content-Length: \d+/, 'Content-Length: 100') + '{"prompt":'));
    assert.equal(r.status, 400);
    assert.match(errorOf(r).message, /closed its side .* before the whole request arrived/);
  });
});

describe('Expect: 100-continue', () => {
  test('a body declared over the cap gets 413 before it is sent, with no 100 Continue', async () => {
    const r = await exchange((sock) =>
      sock.write(
        `POST ${T2I} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${2 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
      ),
    );
    assert.deepEqual(r.statuses, [413]);
    assert.match(errorOf(r).message, /larger than 1048576 bytes/);
    assert.match(r.head, /\r\nConnection: close/i);
  });

  test('a wrong token is refused before the body too; a good request gets 100, then its image', async () => {
    const refused = await exchange((sock) =>
      sock.write(`POST ${T2I} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Type: application/json\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n`),
    );
    assert.deepEqual(refused.statuses, [401]);

    const body = JSON.stringify({ prompt: 'continue', width: 640, height: 1536, steps: 1 });
    const ok = await exchange(async (sock, received) => {
      sock.write(postHead(body, 'Expect: 100-continue\r\nConnection: close\r\n'));
      await waitFor(() => received().startsWith('HTTP/1.1 100 Continue\r\n'), '100 Continue');
      sock.write(body);
    });
    assert.deepEqual(ok.statuses, [100, 200]);
  });
});

describe('conflicting duplicate headers', () => {
  test('two different Content-Types (or Authorizations, Hosts, Accepts) are refused naming the header', async () => {
    const body = JSON.stringify({ prompt: 'dup', width: 640, height: 1536, steps: 1 });
    const ct = await exchange((sock) => sock.write(postHead(body, 'Content-Type: text/plain\r\nConnection: close\r\n') + body));
    assert.equal(ct.status, 400);
    const e = errorOf(ct);
    assert.equal(e.param, 'Content-Type');
    assert.match(e.message, /Content-Type header is given 2 times with different values/);
    for (const extra of [`Authorization: Bearer other-token-0123456789\r\n`, 'Host: evil.example\r\n', 'Accept: image/png\r\nAccept: application/json\r\n']) {
      const r = await exchange((sock) => sock.write(postHead(body, `${extra}Connection: close\r\n`) + body));
      assert.equal(r.status, 400, extra);
      assert.equal(errorOf(r).param, extra.split(':')[0]);
    }
    const same = await exchange((sock) => sock.write(postHead(body, 'content-type: application/json\r\nConnection: close\r\n') + body));
    assert.equal(same.status, 200, 'the same value twice is not a conflict');
  });
});
