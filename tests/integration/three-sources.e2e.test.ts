// One path from any request to the library: an image made by `schnell generate --library` (a child
// process), one made through POST …/text_to_image on `schnell serve --library` (another child
// process), and one submitted to the studio core's API in this process all land in one library,
// each with its source, its seed and its finish reason; `schnell library search` finds the HTTP one.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { createGenerationRequest } from '../../runtime/api/index.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { openLibrary } from '../../main/library/index.js';
import { Studio } from '../../main/studio.js';
import { schnell } from '../cli/cli-harness.js';
import { TOKEN, spawnServe, t2i } from '../runtime/server/helpers.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-sources-'));
after(() => fs.rmSync(root, { recursive: true, force: true }));
const home = path.join(root, 'home');
const lib = path.join(root, 'library');
const model = path.join(root, 'demo');
writeDemoModel(model);
const noKey = { FIREWORKS_API_KEY: '' };

test('the CLI, the HTTP API and the core each record in the library with their source, seeds and finish reason', async () => {
  // 1. The CLI, as a user runs it.
  const cli = await schnell(['generate', 'a lighthouse from the cli', '--model', model, '--width', '64', '--height', '64', '--steps', '2', '--seed', '101', '--samples', '2', '--library', lib, '--json'], { home, env: noKey });
  assert.equal(cli.code, 0, cli.stderr);
  const cliIds: string[] = JSON.parse(cli.stdout).images.map((i: { id: string }) => i.id);
  assert.equal(cliIds.length, 2);

  // 2. The HTTP API of `schnell serve --library` (the contract's sizes only: 1536x640 is the cheapest).
  const server = await spawnServe(['--model', model, '--library', lib, '--token', TOKEN, '--backend', 'local'], { ...process.env, SCHNELL_HOME: home, ...noKey });
  let httpSeed: number;
  try {
    const r = await t2i(server.url, { prompt: 'a windmill over the http api', seed: 202, steps: 1, width: 1536, height: 640 });
    assert.equal(r.status, 200, r.body.toString().slice(0, 300));
    assert.equal(r.headers['content-type'], 'image/png');
    httpSeed = Number(r.headers.seed);
    assert.equal(httpSeed, 202);
  } finally {
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, server.output());
  }

  // 3. The core's own API.
  const studio = await Studio.open({ home, env: { ...process.env, ...noKey }, library: lib, model, backend: 'local', isolate: false, resume: false });
  let coreIds: string[];
  try {
    const request = { ...createGenerationRequest({ prompt: 'a harbour from the studio', seed: 303, steps: 2 }), width: 64, height: 64 };
    const outcome = await studio.submit(request, { source: 'ui' }).outcome;
    coreIds = outcome.images.map((i) => i.generation!.id);
  } finally {
    await studio.close();
  }

  const library = await openLibrary(lib);
  try {
    const rows = library.page({ sort: 'oldest' }).items;
    assert.deepEqual(rows.map((g) => [g.source, g.seed, g.finishReason, g.backend]), [
      ['cli', 101, 'SUCCESS', 'local'],
      ['cli', 102, 'SUCCESS', 'local'],
      ['api', 202, 'SUCCESS', 'local'],
      ['ui', 303, 'SUCCESS', 'local'],
    ]);
    assert.deepEqual(rows.filter((g) => g.source === 'cli').map((g) => g.id).sort(), [...cliIds].sort());
    assert.deepEqual(rows.filter((g) => g.source === 'ui').map((g) => g.id), coreIds);
    const api = rows.find((g) => g.source === 'api')!;
    assert.deepEqual([api.width, api.height, api.model, api.device], [1536, 640, 'demo (untrained)', 'cpu']);
    for (const g of rows) assert.ok(fs.existsSync(g.file), g.file);
  } finally {
    library.close();
  }

  // `schnell library search` finds the image the HTTP API made.
  const found = await schnell(['library', 'search', 'windmill', '--library', lib, '--json'], { home });
  assert.equal(found.code, 0, found.stderr);
  const items = JSON.parse(found.stdout).items ?? JSON.parse(found.stdout);
  assert.equal(items.length, 1, found.stdout);
  assert.equal(items[0].source, 'api');
  assert.equal(items[0].seed, 202);
});

test('schnell serve --no-record leaves the library untouched; the answer is the same', async () => {
  const quiet = path.join(root, 'quiet-library');
  const server = await spawnServe(['--model', model, '--library', quiet, '--no-record', '--token', TOKEN, '--backend', 'local'], { ...process.env, SCHNELL_HOME: home, ...noKey });
  try {
    const r = await t2i(server.url, { prompt: 'not recorded', seed: 5, steps: 1, width: 1536, height: 640 });
    assert.equal(r.status, 200);
  } finally {
    await server.stop();
  }
  const library = await openLibrary(quiet);
  try {
    assert.equal(library.page({}).items.length, 0);
  } finally {
    library.close();
  }
});
