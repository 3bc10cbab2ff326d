// The one settings module: $SCHNELL_HOME (empty means the default), config.json validated with the
// offending key named, written atomically keeping unknown keys, secrets.json at 0600 and never
// echoed — and a guard that nothing else in the product reads those variables or files.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { FileSecretStore, SettingsError, catalogFile, homePaths, readUserConfig, schnellHome, studioLibraryDir, updateUserConfig } from '../../../runtime/settings/index.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'schnell-settings-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

test('SCHNELL_HOME: set is used, set but empty or blank is the default home, never the working folder', () => {
  const def = path.join(os.homedir(), '.schnell-studio');
  assert.equal(schnellHome({ SCHNELL_HOME: '' }), def);
  assert.equal(schnellHome({ SCHNELL_HOME: '   ' }), def);
  assert.equal(schnellHome({}), def);
  assert.equal(schnellHome({ SCHNELL_HOME: 'rel/home' }), path.resolve('rel/home'));
  assert.equal(catalogFile(studioLibraryDir(dir)), path.join(dir, 'library', 'catalog.sqlite'));
});

test('config.json: a bad value names the file and the key (nested too); broken JSON names the file', () => {
  const home = fs.mkdtempSync(path.join(dir, 'cfg-'));
  const file = homePaths.config(home);
  const cases: [unknown, RegExp][] = [
    [{ backend: 'gpu' }, /config\.json: "backend" must be "local", "cloud" or "auto"/],
    [{ model: 3 }, /"model" must be a model folder/],
    [{ cloud: { baseUrl: 'ftp://x' } }, /"cloud\.baseUrl" must be an http\(s\) URL/],
    [{ cloud: { maxRetries: -1 } }, /"cloud\.maxRetries" must be 0 or more/],
    [[1, 2], /must hold a JSON object/],
  ];
  for (const [data, message] of cases) {
    fs.writeFileSync(file, JSON.stringify(data));
    assert.throws(() => readUserConfig(home), (e: unknown) => e instanceof SettingsError && message.test(e.message) && e.message.includes(file), JSON.stringify(data));
  }
  fs.writeFileSync(file, '{"backend": "local",');
  assert.throws(() => readUserConfig(home), /config\.json is not valid JSON .*fix it or delete it/);
});

test('updates are atomic, keep unknown keys, and are seen by the next read; "library" moves the studio library', () => {
  const home = fs.mkdtempSync(path.join(dir, 'upd-'));
  fs.writeFileSync(homePaths.config(home), JSON.stringify({ theme: 'dark', backend: 'auto' }));
  assert.equal(readUserConfig(home).backend, 'auto');
  const next = updateUserConfig({ backend: 'local', device: 'cpu', library: 'pictures' }, home);
  assert.deepEqual(next, { theme: 'dark', backend: 'local', device: 'cpu', library: 'pictures' });
  assert.deepEqual(JSON.parse(fs.readFileSync(homePaths.config(home), 'utf8')), next);
  assert.deepEqual(fs.readdirSync(home), ['config.json'], 'no temp file left');
  assert.equal(studioLibraryDir(home), path.join(home, 'pictures'));
  assert.throws(() => updateUserConfig({ backend: 'gpu' as never }, home), /"backend"/);
  assert.equal(readUserConfig(home).backend, 'local', 'a refused update changes nothing');
});

test('secrets.json is 0600, tightened when loosened, and a broken file is named without its content', async () => {
  const file = path.join(dir, 'secrets.json');
  const store = new FileSecretStore(file);
  await store.set('fireworks.api_key', 'fw-secret-value-123');
  if (process.platform !== 'win32') {
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    fs.chmodSync(file, 0o644);
    assert.equal(await store.get('fireworks.api_key'), 'fw-secret-value-123');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  }
  fs.writeFileSync(file, '{"fireworks.api_key": "fw-secret-value-123", ');
  await assert.rejects(store.get('x'), (e: Error) => /secrets\.json is not valid JSON/.test(e.message) && !e.message.includes('fw-secret'));
  fs.writeFileSync(file, JSON.stringify({ 'fireworks.api_key': 5 }));
  await assert.rejects(store.get('x'), /"fireworks\.api_key" must be a string/);
});

test('nothing outside runtime/settings reads $SCHNELL_HOME, the secrets or catalog file names, or /proc/meminfo', () => {
  const offenders: string[] = [];
  const rules: [RegExp, string[]][] = [
    [/env(\.|\[['"])SCHNELL_HOME/, ['runtime/settings/home.ts']],
    [/['"]secrets\.json['"]/, ['runtime/settings/home.ts']],
    [/['"]catalog\.sqlite['"]/, ['runtime/settings/home.ts']],
    [/\/proc\/meminfo['"]/, ['runtime/util/memory.ts']],
  ];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(repo, d), { withFileTypes: true })) {
      const rel = path.posix.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (/\.(ts|tsx|mts|cts|mjs)$/.test(e.name)) {
        const text = fs.readFileSync(path.join(repo, rel), 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n');
        for (const [re, allowed] of rules) if (re.test(text) && !allowed.includes(rel)) offenders.push(`${rel}: ${re}`);
      }
    }
  };
  for (const d of ['runtime', 'main', 'cli']) walk(d);
  assert.deepEqual(offenders, []);
});
