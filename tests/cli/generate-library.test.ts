// `schnell generate` end to end, as the composition root wires it: --library/--project record every
// image in a real library (SQLite catalog + files with metadata). The cloud and auto backends,
// against a second `schnell serve` playing Fireworks, are in generate-cloud.e2e.test.ts (long).
// Every spawned process gets its own SCHNELL_HOME.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary, parseParameters, readImageInfo } from '../../main/library/index.js';
import { readPngText } from '../../main/library/png.js';
import { writeDemoModel } from '../../runtime/flux/demo/demo-model.js';
import { homeMaker, NO_KEY, schnell, schnellInProcess } from './cli-harness.js';

const small = ['--width', '64', '--height', '64', '--steps', '2'];

let root: string;
let model: string;

const home = homeMaker(() => root);
const noKey = NO_KEY;

async function pixels(file: string | Buffer): Promise<Buffer> {
  return sharp(file).removeAlpha().raw().toBuffer();
}

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-'));
  model = path.join(root, 'demo');
  writeDemoModel(model);
});

after(async () => {
  fs.rmSync(root, { recursive: true, force: true });
});

test('--library DIR --project P records every sample: rows, files and PNG metadata; `library list` shows them', async () => {
  const lib = path.join(root, 'lib');
  const out = path.join(root, 'out-local') + path.sep;
  const prompt = 'a lighthouse at dusk, "quoted" & odd: chars';
  const r = await schnell(['generate', prompt, ...small, '--seed', '4294967295', '--samples', '2', '--model', model, '--out', out,
    '--library', lib, '--project', 'Coast', '--json'], { home: home(), env: noKey });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  // The report keeps its fields and gains the backend and each image's catalog id.
  assert.equal(report.backend, 'local');
  assert.equal(report.model, 'demo (untrained)');
  assert.equal(report.untrained, true);
  assert.equal(report.device, 'cpu');
  assert.equal(report.seed, 4294967295);
  assert.deepEqual(report.images.map((i: { seed: number }) => i.seed), [4294967295, 0]);
  assert.ok(report.timings.engineMs > 0);
  const ids: string[] = report.images.map((i: { id: string }) => i.id);
  assert.equal(new Set(ids).size, 2);
  for (const id of ids) assert.match(id, /^[0-9A-Z]{26}$/);

  const library = await openLibrary(lib);
  try {
    const rows = library.page({ sort: 'oldest' }).items;
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((g) => g.id).sort(), [...ids].sort());
    for (const [i, g] of [...rows].sort((a, b) => a.sampleIndex - b.sampleIndex).entries()) {
      const img = report.images[i];
      assert.equal(g.id, img.id);
      assert.equal(g.prompt, prompt);
      assert.equal(g.negativePrompt, '');
      assert.equal(g.project, 'Coast');
      assert.equal(g.seed, img.seed);
      assert.equal(g.sampleIndex, i);
      assert.equal(g.samples, 2);
      assert.equal(g.steps, 2);
      assert.equal(g.cfgScale, 1);
      assert.equal(g.sampler, 'K_EULER');
      assert.deepEqual([g.width, g.height, g.format], [64, 64, 'png']);
      assert.equal(g.finishReason, 'SUCCESS');
      assert.equal(g.backend, 'local');
      assert.equal(g.device, 'cpu');
      assert.equal(g.model, 'demo (untrained)');
      assert.equal(g.fallbackReason, null);
      assert.ok(g.durationMs !== null && g.durationMs >= 0);
      // The stored file is the image that was written to --out (same pixels), with its generation embedded.
      assert.ok(fs.existsSync(g.file) && fs.existsSync(g.thumbnail));
      const stored = fs.readFileSync(g.file);
      assert.deepEqual(await pixels(stored), await pixels(img.path));
      const info = await readImageInfo(stored, g.file);
      assert.equal(info.source, 'cli');
      assert.equal(info.fields.id, g.id);
      assert.equal(info.fields.prompt, prompt);
      assert.equal(info.fields.seed, img.seed);
      assert.equal(info.fields.project, 'Coast');
      assert.equal(info.fields.backend, 'local');
      // …and the A1111 `parameters` text other tools read.
      const parameters = readPngText(stored).texts.find((t) => t.keyword === 'parameters');
      assert.ok(parameters, 'a parameters chunk');
      const a1111 = parseParameters(parameters.text, []);
      assert.equal(a1111.prompt, prompt);
      assert.equal(a1111.seed, img.seed);
      assert.equal(a1111.steps, 2);
    }
    assert.deepEqual(library.projects().map((p) => [p.name, p.count]), [['Coast', 2]]);
  } finally {
    library.close();
  }

  const list = await schnellInProcess(['library', 'list', '--library', lib, '--project', 'Coast', '--json'], { home: home() });
  assert.equal(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout).items;
  assert.deepEqual(listed.map((g: { id: string }) => g.id).sort(), [...ids].sort());
  for (const g of listed) assert.equal(g.prompt, prompt);

  // A second run adds to the same library (nothing is overwritten).
  const again = await schnell(['generate', 'a second prompt', ...small, '--seed', '7', '--model', model, '--out', out, '--library', lib], { home: home(), env: noKey });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stderr, /note: recorded 1 image in the library /);
  const all = JSON.parse((await schnellInProcess(['library', 'list', '--library', lib, '--json'], { home: home() })).stdout).items;
  assert.equal(all.length, 3);
  assert.equal(all.find((g: { prompt: string }) => g.prompt === 'a second prompt').project, null);
});

test('a bad --project, --library or --backend is one sentence, exit code 2, and nothing is generated', async () => {
  const out = path.join(root, 'out-bad') + path.sep;
  const aFile = path.join(root, 'not-a-folder');
  fs.writeFileSync(aFile, 'x');
  const cases: [string[], RegExp][] = [
    [['--project', '   '], /project name cannot be empty.*\(--project\)/],
    [['--project', 'x'.repeat(200)], /longer than 128 characters/],
    [['--library', aFile], /the library .*not-a-folder cannot be opened: .*\(--library\)/],
    [['--library', ''], /--library needs a folder/],
    [['--backend', 'gpu'], /--backend must be local, cloud or auto, got "gpu"/],
    [['--device', 'gpu'], /--device must be one of cpu, cuda/],
  ];
  for (const [extra, message] of cases) {
    const r = await schnellInProcess(['generate', 'a red barn', ...small, '--model', model, '--out', out, ...extra], { home: home(), env: noKey });
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, extra.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  assert.ok(!fs.existsSync(out), 'no image was written');
  const help = await schnellInProcess(['generate', '--help'], { home: home() });
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--backend local\|cloud\|auto/);
  assert.match(help.stdout, /--library DIR/);
  assert.match(help.stdout, /--project NAME/);
});
