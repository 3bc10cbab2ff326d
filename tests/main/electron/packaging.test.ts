// Packaging cannot run here (electron-builder needs Electron's binary and the target OS), so this
// stands in for it: electron-builder's own loader and schema validator read electron-builder.yml,
// and the settings the desktop app depends on are checked: every target, native modules outside the
// asar and rebuilt for Electron, the built UI and the icon included, the entry that exists.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const require = createRequire(import.meta.url);

test('electron-builder accepts the configuration and it packs what the app needs', async () => {
  const { getConfig, validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
    getConfig(projectDir: string, configPath: string | null, fromOptions: unknown): Promise<Record<string, any>>;
    validateConfiguration(config: unknown, debugLogger: { isEnabled: boolean; add(): void }): Promise<void>;
  };
  const config = await getConfig(root, null, null);
  await validateConfiguration(config, { isEnabled: false, add: () => undefined });
  // The validator is live: a misspelt option would be refused.
  await assert.rejects(validateConfiguration({ ...config, linux: { ...config.linux, tagret: ['deb'] } }, { isEnabled: false, add: () => undefined }), /configuration\.linux/);
  assert.deepEqual(config.linux.target, ['AppImage', 'deb']);
  assert.deepEqual(config.win.target, ['nsis']);
  assert.deepEqual(config.mac.target, ['dmg']);
  for (const native of ['onnxruntime-node', 'better-sqlite3', 'sharp']) {
    assert.ok(config.asarUnpack.some((g: string) => g.startsWith(`node_modules/${native}/`)), `${native} unpacked from asar`);
  }
  assert.equal(config.npmRebuild, true, 'native modules rebuilt for Electron');
  const files = (config.files as unknown[]).flatMap((f) => (typeof f === 'string' ? [f] : ((f as { filter?: string[] }).filter ?? [])));
  for (const need of ['dist/**', 'renderer/dist/**', 'package.json']) assert.ok(files.includes(need), need);
  assert.equal(config.directories.buildResources, 'resources');
});

test('the icon is a square PNG large enough for every platform, and the entry names the compiled app', async () => {
  const meta = await sharp(path.join(root, 'resources', 'icon.png')).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, meta.height);
  assert.ok(meta.width! >= 512, 'macOS needs at least 512 px');
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { main: string };
  assert.equal(pkg.main, 'dist/main/electron/app.js');
  assert.ok(fs.existsSync(path.join(root, 'main', 'electron', 'app.ts')), 'compiled to dist/main/electron/app.js by npm run build');
  assert.ok(fs.existsSync(path.join(root, 'main', 'electron', 'preload.cts')), 'compiled to dist/main/electron/preload.cjs');
});
