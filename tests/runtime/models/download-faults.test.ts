// Downloads that must end (issue 13, defect 4), on the fault-injecting server: a server that answers
// every resume with a mismatched Content-Range restarts from byte 0, and those thrown-away bytes
// count as failed attempts so --retries holds; a body cut short is named "the server closed the
// connection after N of M bytes"; a TLS failure after a redirect is one sentence naming the host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { downloadFile, DownloadError } from '../../../runtime/models/download.js';
import { FaultServer, randomBytes, sha256 } from './fault-server.js';

// A self-signed certificate for 127.0.0.1 (valid for a century), made once with openssl; no CA trusts it.
const KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1byJqxHyMmanKLBr
+lLDrn4Ypgms7b7s+5Nyj7jKFi2hRANCAATLzy0OSqEty4C5C+Y/gOd02t7vsM6N
BgpMlZwwC91647j3JY42g8lIo1weWVxFJ6v92Jl0YOCD2Jv5Xb9FXmK7
-----END PRIVATE KEY-----`;
const CERT = `-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUcK1wI8/NbbrKwnDIi9eKWFQviH4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTIwNjE3NDQzNloYDzIxMjYxMTEy
MTc0NDM2WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATLzy0OSqEty4C5C+Y/gOd02t7vsM6NBgpMlZwwC91647j3JY42g8lI
o1weWVxFJ6v92Jl0YOCD2Jv5Xb9FXmK7o2QwYjAdBgNVHQ4EFgQUeOwoa0f82UfA
padBu8OylPwepYEwHwYDVR0jBBgwFoAUeOwoa0f82UfApadBu8OylPwepYEwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQCMJfr6as43zmTgn3Wrhj+aupLIQj9IEi44diQDnq1HAQIhAK2vpjk9JeC4322s
Q1CuBVTbU6j4fyUhheb7tzmMEhNj
-----END CERTIFICATE-----`;

let server: FaultServer;
let dir: string;
const fast = { backoffMs: 1, maxBackoffMs: 5, stallTimeoutMs: 5000, progressIntervalMs: 0 };

before(async () => {
  server = await FaultServer.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
});
after(async () => {
  await server.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function fresh(size = 200 * 1024): { p: string; data: Buffer; dest: string } {
  n++;
  const data = randomBytes(size, 100 + n);
  const p = `/g${n}.bin`;
  server.serve(p, data);
  return { p, data, dest: path.join(dir, `out${n}`, 'model.bin') };
}

test('a server that always cuts the body and answers every resume with a mismatched range gives up after --retries', async () => {
  const { p, data, dest } = fresh();
  // Every answer from 0 is cut at 64 KiB; every resume is answered with the file from byte 0.
  server.always.set(p, (req) => (req.range ? { kind: 'mismatched-range' } : { kind: 'drop', after: 64 * 1024 }));
  const retries = 3;
  const logs: string[] = [];
  await assert.rejects(
    downloadFile({ url: server.url(p), dest, sha256: sha256(data), expectedBytes: data.length, retries, onLog: (m) => logs.push(m), ...fast }),
    (err: unknown) => {
      assert.ok(err instanceof DownloadError, String(err));
      assert.match(err.message, /gave up after 4 tries in a row/);
      assert.match(err.message, /Content-Range bytes 0-\d+\/\d+, so the \d+ bytes kept were thrown away|closed the connection after/);
      return true;
    },
  );
  server.always.delete(p);
  const requests = server.log.filter((r) => r.path === p).length;
  // One attempt that got somewhere, then at most retries+1 without getting past it: bounded, not 200.
  assert.ok(requests <= 2 * (retries + 2), `${requests} requests`);
  assert.ok(logs.some((l) => /starting over from the first byte/.test(l)));
});

test('a resume answered once with a mismatched range restarts from 0 and still completes', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 64 * 1024 }, { kind: 'mismatched-range' });
  const r = await downloadFile({ url: server.url(p), dest, sha256: sha256(data), expectedBytes: data.length, ...fast });
  assert.equal(r.sha256, sha256(data));
  assert.deepEqual(fs.readFileSync(dest), data);
});

test('a body cut short is named with its byte counts, not "aborted"', async () => {
  const { p, data, dest } = fresh();
  server.fault(p, { kind: 'drop', after: 100_000 }, { kind: 'drop', after: 0 }, { kind: 'drop', after: 0 });
  await assert.rejects(downloadFile({ url: server.url(p), dest, sha256: sha256(data), retries: 1, ...fast }), (err: unknown) => {
    assert.ok(err instanceof DownloadError);
    // At most the 100000 bytes sent before the cut (a destroyed socket may lose what it had buffered).
    const m = /the server closed the connection after (\d+) of 204800 bytes/.exec(err.message);
    assert.ok(m && Number(m[1]) > 0 && Number(m[1]) <= 100_000, err.message);
    assert.doesNotMatch(err.message, /aborted/);
    return true;
  });
  // Content-Length larger than the body, then a clean close: the same words.
  const second = fresh();
  server.fault(second.p, { kind: 'length', delta: 5000 }, { kind: 'length', delta: 5000 });
  const logs: string[] = [];
  const r = await downloadFile({ url: server.url(second.p), dest: second.dest, sha256: sha256(second.data), onLog: (m) => logs.push(m), ...fast });
  assert.equal(r.sha256, sha256(second.data));
  assert.ok(logs.every((l) => !/aborted/.test(l)), logs.join('\n'));
});

test('a redirect to a server whose certificate is not trusted fails in one sentence naming the host', async () => {
  const tls = https.createServer({ key: KEY, cert: CERT }, (_req, res) => res.end('x'));
  await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
  const port = (tls.address() as AddressInfo).port;
  try {
    const { p, dest } = fresh();
    server.fault(p, { kind: 'redirect', to: `https://127.0.0.1:${port}/cdn/model.bin` });
    await assert.rejects(downloadFile({ url: server.url(p), dest, ...fast }), (err: unknown) => {
      assert.ok(err instanceof DownloadError);
      assert.equal(err.code, 'http');
      assert.match(err.message, new RegExp(`the secure connection to 127\\.0\\.0\\.1:${port} failed: its certificate is self-signed \\(a redirect from 127\\.0\\.0\\.1:${server.port} led there\\); check`));
      assert.doesNotMatch(err.message, /\n|\. [A-Z]/, 'one sentence');
      assert.equal(server.log.filter((r) => r.path === p).length, 1, 'not retried: a certificate does not fix itself');
      return true;
    });
  } finally {
    tls.close();
  }
});
