// The first run's sizes: GB for a real model, MB and KB for small files, never "0.0 GB".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesText } from '../../renderer/src/firstrun/bytes.js';

test('sizes read in the unit that fits them', () => {
  assert.equal(bytesText(17_380_185_444), '16.2 GB');
  assert.equal(bytesText(4_300_000), '4.1 MB');
  assert.equal(bytesText(131_072), '128 KB');
  assert.equal(bytesText(0), '0 KB');
});
