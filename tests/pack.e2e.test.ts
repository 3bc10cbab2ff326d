// What ships runs: the project is built (`npm run build:main`) and packed (`npm pack`) as a
// release would be, the tarball is installed with production dependencies only into an empty
// folder, and the installed `schnell` makes the demo model and an image from it. No TypeScript
// loader and no source file travels: the bin must run the compiled JavaScript in dist/.
//
// Offline on purpose (CI and this machine have no general internet): the install reads npm's
// cache, which the project's own `npm ci` filled. `npm ci --offline` needs a lockfile to find the
// tarballs there without asking the registry for package metadata, so the test writes one from the
// project's package-lock.json (its production entries) plus the packed tarball. The install
// compiles better-sqlite3 from source as a user's would when no prebuilt binary can be fetched:
// about 2 minutes on two idle cores, far longer on a busy machine, hence the generous limits.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** What `npm run build:main` and `npm pack` read; node_modules is linked, not copied. */
const PROJECT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'cli', 'main', 'runtime', 'resources'];

/** Runs a command to completion; its stdout, after asserting exit code 0 (the output is in the message). */
function sh(cmd: string, args: string[], opts: SpawnSyncOptions & { cwd: string }): string {
  const r = spawnSync(cmd, args, { timeout: 1_500_000, ...opts, env: { ...process.env, ...opts.env }, encoding: 'utf8', stdio: 'pipe' });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} (in ${opts.cwd}) exited with ${r.status ?? r.signal}:\n${`${r.stdout}${r.stderr}`.slice(-4000)}`);
  return r.stdout;
}

/** A package-lock for a project whose one dependency is the tarball: the production entries of ours. */
function installLock(tarball: string): object {
  const ours = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, Record<string, unknown>> };
  const root = ours.packages['']!;
  const integrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`;
  const packages: Record<string, unknown> = {
    '': { name: 'schnell-pack-test', dependencies: { 'schnell-studio': `file:${tarball}` } },
    'node_modules/schnell-studio': { version: root.version, resolved: `file:${tarball}`, integrity, dependencies: root.dependencies, bin: root.bin },
  };
  for (const [key, entry] of Object.entries(ours.packages)) {
    if (key && !entry.dev && !entry.link) packages[key] = entry;
  }
  return { name: 'schnell-pack-test', lockfileVersion: 3, requires: true, packages };
}

test('npm pack, install with production dependencies only, then `schnell demo-model` and `schnell generate` run from there', { timeout: 1_800_000 }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-pack-'));
  try {
    // 1. A copy of the project, built and packed as a release would be.
    const project = path.join(tmp, 'project');
    fs.mkdirSync(project);
    for (const f of PROJECT_FILES) fs.cpSync(path.join(repoRoot, f), path.join(project, f), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, 'node_modules'), path.join(project, 'node_modules'), 'dir');
    sh('npm', ['run', 'build:main'], { cwd: project });
    assert.ok(fs.existsSync(path.join(project, 'dist/cli/index.js')), 'the build writes dist/cli/index.js');
    sh('npm', ['pack', '--pack-destination', tmp], { cwd: project });
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { name: string; version: string; allowScripts: Record<string, boolean> };
    const tarball = path.join(tmp, `${pkg.name}-${pkg.version}.tgz`);
    assert.ok(fs.existsSync(tarball), `npm pack wrote ${tarball}`);

    // 2. An empty project that installs the tarball, production dependencies only, offline.
    const app = path.join(tmp, 'app');
    fs.mkdirSync(app);
    const lock = installLock(tarball);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'schnell-pack-test', private: true, dependencies: { 'schnell-studio': `file:${tarball}` }, allowScripts: pkg.allowScripts }, null, 2));
    fs.writeFileSync(path.join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
    sh('npm', ['ci', '--omit=dev', '--offline', '--no-audit', '--no-fund'], { cwd: app, env: { ONNXRUNTIME_NODE_INSTALL: 'skip' } });

    const installed = path.join(app, 'node_modules/schnell-studio');
    const shipped = fs.readdirSync(installed, { recursive: true, encoding: 'utf8' });
    assert.deepEqual(shipped.filter((f) => /\.tsx?$/.test(f) && !f.endsWith('.d.ts')), [], 'no TypeScript source is packed');
    assert.ok(shipped.includes(path.join('dist', 'resources', 'models.json')), 'the model manifest ships in dist/resources');
    for (const dev of ['tsx', 'typescript', 'electron', 'fastify']) assert.ok(!fs.existsSync(path.join(app, 'node_modules', dev)), `${dev} is not installed with production dependencies`);

    // 3. The installed command, run as a user would, with its home in the temp folder.
    const schnell = path.join(app, 'node_modules/.bin/schnell');
    const env = { HOME: path.join(tmp, 'home'), SCHNELL_HOME: path.join(tmp, 'home/.schnell-studio') };
    const demo = path.join(tmp, 'demo');
    const made = sh(schnell, ['demo-model', '--out', demo], { cwd: app, env });
    assert.match(made, /demo model/);
    assert.ok(fs.existsSync(path.join(demo, 'schnell-model.json')));

    const out = path.join(tmp, 'lighthouse.png');
    const json = sh(schnell, ['generate', 'a lighthouse at dusk', '--model', demo, '--width', '64', '--height', '64', '--steps', '2', '--seed', '42', '--out', out, '--json'], { cwd: app, env });
    const result = JSON.parse(json) as { images: { seed: number; finishReason: string; width: number }[] };
    assert.deepEqual(result.images.map((i) => [i.seed, i.finishReason, i.width]), [[42, 'SUCCESS', 64]]);
    const png = fs.readFileSync(out);
    assert.deepEqual([...png.subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
    assert.equal(png.readUInt32BE(16), 64, 'the PNG is 64 pixels wide');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
