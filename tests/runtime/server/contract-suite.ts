// The rules of ../shared/docs/api.md over real HTTP, as a suite that runs against any server
// speaking the contract: the in-process server on the fault-injecting backend, and `schnell serve`
// on the demo model (e2e). Images are decoded with sharp as the type they claim to be.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { SUPPORTED_RESOLUTIONS } from '../../../runtime/api/index.js';
import { type Reply, assertErrorShape, request, t2i } from './helpers.js';

export interface ContractTarget {
  url: string;
  /** The bearer token. */
  token: string;
  /** Path of text_to_image for the served model. */
  path: string;
  /** The server's local queue holds at most this many waiting jobs (for the 429 check). */
  maxQueued: number;
  close(): Promise<void>;
}

async function decoded(bytes: Buffer, format: 'png' | 'jpeg'): Promise<{ width: number; height: number }> {
  const meta = await sharp(bytes).metadata();
  assert.equal(meta.format, format, `body is ${meta.format}, expected ${format}`);
  const { data, info } = await sharp(bytes).raw().toBuffer({ resolveWithObject: true });
  assert.equal(data.length, info.width * info.height * info.channels);
  return { width: info.width, height: info.height };
}

export function contractSuite(label: string, start: () => Promise<ContractTarget>, opts: { resolutions?: boolean } = {}): void {
  describe(`api.md contract: ${label}`, () => {
    let t: ContractTarget;
    const post = (body: unknown, headers: Record<string, string> = {}) => t2i(t.url, body, headers, { auth: t.token, path: t.path });
    const prompt = 'a lighthouse on a cliff at dusk';

    before(async () => {
      t = await start();
    });
    after(async () => {
      await t?.close();
    });

    const binary = async (r: Reply, format: 'png' | 'jpeg') => {
      assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 300));
      assert.equal(r.headers['content-type'], `image/${format}`);
      assert.equal(Number(r.headers['content-length']), r.body.length);
      const seed = Number(r.headers.seed);
      assert.ok(Number.isInteger(seed) && seed > 0 && seed <= 4294967295, `Seed header ${r.headers.seed}`);
      assert.ok(r.headers['finish-reason'] === 'SUCCESS' || r.headers['finish-reason'] === 'CONTENT_FILTERED');
      assert.ok(typeof r.headers['x-request-id'] === 'string');
      return decoded(r.body, format);
    };

    test('Accept: image/png (and no Accept) → a PNG body with Content-Type, Content-Length, Seed, Finish-Reason', async () => {
      const r = await post({ prompt, seed: 11 }, { Accept: 'image/png' });
      assert.deepEqual(await binary(r, 'png'), { width: 1024, height: 1024 });
      assert.equal(r.headers.seed, '11');
      assert.equal(r.headers['finish-reason'], 'SUCCESS');
      const noAccept = await post({ prompt, seed: 11 });
      assert.equal(noAccept.headers['content-type'], 'image/png');
      assert.deepEqual(noAccept.body, r.body);
    });

    test('Accept: image/jpeg → a JPEG body; Jpeg-Quality changes the size', async () => {
      const low = await post({ prompt, seed: 12 }, { Accept: 'image/jpeg', 'Jpeg-Quality': '5' });
      const high = await post({ prompt, seed: 12 }, { Accept: 'image/jpeg', 'Jpeg-Quality': '95' });
      await binary(low, 'jpeg');
      await binary(high, 'jpeg');
      assert.ok(low.body.length < high.body.length, `quality 5 gave ${low.body.length} bytes, 95 gave ${high.body.length}`);
      const bad = await post({ prompt }, { Accept: 'image/jpeg', 'Jpeg-Quality': '101' });
      assertErrorShape(bad, 400, 'Jpeg-Quality');
      const wrongAccept = await post({ prompt }, { Accept: 'image/png', 'Jpeg-Quality': '50' });
      assertErrorShape(wrongAccept, 400, 'Jpeg-Quality');
    });

    test('Accept: application/json → {id, base64[], finishReason, seed}, images PNG by default or JPEG per Json-Return-Image-Accept', async () => {
      // (No Json-Return-Image-Accept means PNG: the schema tests and the fault-backend run check that.)
      for (const [h, format] of [['image/png', 'png'], ['image/jpeg', 'jpeg']] as const) {
        const headers: Record<string, string> = { Accept: 'application/json', 'Json-Return-Image-Accept': h };
        const r = await post({ prompt, seed: 13 }, headers);
        assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 300));
        assert.match(String(r.headers['content-type']), /^application\/json/);
        const j = r.json();
        assert.deepEqual(Object.keys(j).sort(), ['base64', 'finishReason', 'id', 'seed']);
        assert.equal(typeof j.id, 'string');
        assert.equal(j.seed, 13);
        assert.equal(j.finishReason, 'SUCCESS');
        assert.equal(j.base64.length, 1);
        await decoded(Buffer.from(j.base64[0], 'base64'), format);
      }
    });

    test('samples: one image per sample with seeds s, s+1, …; binary Accept with samples > 1 is a 400', async () => {
      const r = await post({ prompt, seed: 4294967295, samples: 2 }, { Accept: 'application/json' });
      assert.equal(r.status, 200, r.body.toString('utf8').slice(0, 300));
      const j = r.json();
      assert.equal(j.base64.length, 2);
      assert.notEqual(j.base64[0], j.base64[1]);
      // Image 0 uses the base seed (image 1 uses seed + 1, wrapping at 2^32 to 0).
      const alone = await post({ prompt, seed: 4294967295 }, { Accept: 'image/png' });
      assert.deepEqual(Buffer.from(j.base64[0], 'base64'), alone.body);
      // Image 1 of seed 2^32 - 2 is the image of seed 2^32 - 1; image 1 of 2^32 - 1 wraps to seed 0,
      // which is a fixed seed there (not "pick one"): the same request gives the same bytes again.
      const below = (await post({ prompt, seed: 4294967294, samples: 2 }, { Accept: 'application/json' })).json();
      assert.equal(below.base64[1], j.base64[0]);
      const again = (await post({ prompt, seed: 4294967295, samples: 2 }, { Accept: 'application/json' })).json();
      assert.equal(again.base64[1], j.base64[1], 'the wrapped seed is deterministic');
      assertErrorShape(await post({ prompt, samples: 2 }, { Accept: 'image/png' }), 400, 'samples');
    });

    test('seed 0 returns a real seed; the same seed returns the same bytes, another seed other bytes', async () => {
      const r = await post({ prompt, seed: 0 }, { Accept: 'application/json' });
      assert.equal(r.status, 200);
      const seed = r.json().seed;
      assert.ok(Number.isInteger(seed) && seed > 0 && seed <= 4294967295, `seed ${seed}`);
      const again = await post({ prompt, seed }, { Accept: 'application/json' });
      assert.equal(again.json().base64[0], r.json().base64[0], 'the reported seed reproduces the image, byte for byte');
      const other = await post({ prompt, seed: seed === 4294967295 ? 1 : seed + 1 }, { Accept: 'application/json' });
      assert.notEqual(other.json().base64[0], r.json().base64[0]);
    });

    if (opts.resolutions !== false) {
      test('every supported resolution is accepted at its size; an unsupported pair is a 400 naming the field', async () => {
        for (const { width, height } of SUPPORTED_RESOLUTIONS) {
          const r = await post({ prompt, seed: 5, width, height }, { Accept: 'image/jpeg' });
          assert.deepEqual(await binary(r, 'jpeg'), { width, height });
        }
        assertErrorShape(await post({ prompt, width: 1024, height: 768 }), 400, 'width');
        assertErrorShape(await post({ prompt, width: 1600, height: 640 }), 400, 'width');
      });
    }

    test('401 without or with a wrong token, 403 for a foreign Host, 404 for an unknown model', async () => {
      assertErrorShape(await t2i(t.url, { prompt }, {}, { auth: null, path: t.path }), 401);
      assertErrorShape(await t2i(t.url, { prompt }, {}, { auth: 'wrong-token-wrong-token', path: t.path }), 401);
      const port = new URL(t.url).port;
      assertErrorShape(await request(t.url, { path: t.path, body: JSON.stringify({ prompt }), headers: { Host: `attacker.example:${port}`, Authorization: `Bearer ${t.token}`, 'Content-Type': 'application/json' } }), 403, 'Host');
      const other = t.path.replace(/models\/[^/]+\//, 'models/sdxl-turbo/');
      const e = assertErrorShape(await t2i(t.url, { prompt }, {}, { auth: t.token, path: other }), 404);
      assert.match(e.message, /sdxl-turbo/);
      assert.match(e.message, /installed: .+/);
    });

    test('406 for an Accept we cannot produce, 415 for a non-JSON body, 413 past 1 MiB, 400 naming the field', async () => {
      assertErrorShape(await post({ prompt }, { Accept: 'text/html' }), 406, 'Accept');
      assertErrorShape(await request(t.url, { path: t.path, auth: t.token, body: 'prompt=hi', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 415, 'Content-Type');
      const big = JSON.stringify({ prompt: 'x'.repeat(1024 * 1024) });
      assertErrorShape(await request(t.url, { path: t.path, auth: t.token, body: big, headers: { 'Content-Type': 'application/json' } }), 413);
      assertErrorShape(await post({ prompt, stepz: 3 }), 400, 'stepz');
      assertErrorShape(await post({ prompt, steps: 0 }), 400, 'steps');
      assertErrorShape(await request(t.url, { path: t.path, auth: t.token, body: '{"prompt":', headers: { 'Content-Type': 'application/json' } }), 400);
    });

    test('429 with Retry-After when the queue is full; the others are served', async () => {
      const n = t.maxQueued + 3;
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => post({ prompt, seed: 100 + i })));
      const busy = replies.filter((r) => r.status === 429);
      const ok = replies.filter((r) => r.status === 200);
      assert.ok(busy.length >= 1, `statuses: ${replies.map((r) => r.status)}`);
      assert.equal(busy.length + ok.length, n, `statuses: ${replies.map((r) => r.status)}`);
      for (const r of busy) {
        assertErrorShape(r, 429);
        assert.ok(Number(r.headers['retry-after']) >= 1);
      }
    });
  });
}
