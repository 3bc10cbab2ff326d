// Secrets in the desktop app: sealed with safeStorage (stood in here by a reversible cipher, the
// one edge Electron owns), never written in clear, with the plain-text warning on a Linux session
// without a keyring, and the 0600 file when no encryption is offered.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PLAIN_TEXT_WARNING, SafeSecretStore, secretStorageInfo, type SafeStorageLike } from '../../../main/electron/secrets.js';
import { tempDir } from '../helpers.js';

function cipher(available = true, backend = 'gnome_libsecret'): SafeStorageLike {
  return {
    isEncryptionAvailable: () => available,
    encryptString: (s) => Buffer.from([...Buffer.from(s)].map((b) => b ^ 0x5a)),
    decryptString: (b) => Buffer.from([...b].map((x) => x ^ 0x5a)).toString(),
    getSelectedStorageBackend: () => backend,
  };
}

test('keys are sealed, read back only through safeStorage, and never left in the plain file', async () => {
  const dir = tempDir();
  const plain = path.join(dir, 'secrets.json');
  fs.writeFileSync(plain, JSON.stringify({ 'fireworks.api_key': 'fw_OLDPLAINKEY123' }));
  const store = new SafeSecretStore(path.join(dir, 'secrets.safe.json'), cipher(), plain);
  assert.equal(await store.get('fireworks.api_key'), 'fw_OLDPLAINKEY123', 'an older plain key still works until replaced');
  await store.set('fireworks.api_key', 'fw_SECRETKEY12345');
  assert.equal(await store.get('fireworks.api_key'), 'fw_SECRETKEY12345');
  const sealed = fs.readFileSync(path.join(dir, 'secrets.safe.json'), 'utf8');
  assert.doesNotMatch(sealed, /SECRETKEY/);
  assert.doesNotMatch(fs.readFileSync(plain, 'utf8'), /OLDPLAINKEY|SECRETKEY/, 'the plain copy is gone');
  if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(dir, 'secrets.safe.json')).mode & 0o777, 0o600);
  await store.delete('fireworks.api_key');
  assert.equal(await store.get('fireworks.api_key'), undefined);
});

test('a sealed value that cannot be opened (another keyring) reads as absent', async () => {
  const dir = tempDir();
  const file = path.join(dir, 'secrets.safe.json');
  fs.writeFileSync(file, JSON.stringify({ 'server.token': Buffer.from('junk').toString('base64') }));
  const broken = { ...cipher(), decryptString: () => { throw new Error('Error while decrypting the ciphertext'); } };
  assert.equal(await new SafeSecretStore(file, broken, path.join(dir, 'secrets.json')).get('server.token'), undefined);
});

test('Linux without a keyring is named: basic_text and no encryption both carry the warning', async () => {
  assert.deepEqual(secretStorageInfo(cipher(true, 'gnome_libsecret'), 'linux'), { backend: 'os', warning: null });
  assert.deepEqual(secretStorageInfo(cipher(true, 'basic_text'), 'linux'), { backend: 'basic_text', warning: PLAIN_TEXT_WARNING });
  assert.deepEqual(secretStorageInfo(cipher(true, 'basic_text'), 'darwin'), { backend: 'os', warning: null });
  assert.deepEqual(secretStorageInfo(cipher(false), 'linux'), { backend: 'file', warning: PLAIN_TEXT_WARNING });
  // Without encryption the 0600 file is used.
  const dir = tempDir();
  const store = new SafeSecretStore(path.join(dir, 'secrets.safe.json'), cipher(false), path.join(dir, 'secrets.json'));
  await store.set('fireworks.api_key', 'fw_KEY_IN_FILE_1');
  assert.equal(fs.existsSync(path.join(dir, 'secrets.safe.json')), false);
  assert.equal(await store.get('fireworks.api_key'), 'fw_KEY_IN_FILE_1');
  if (process.platform !== 'win32') assert.equal(fs.statSync(path.join(dir, 'secrets.json')).mode & 0o777, 0o600);
});
