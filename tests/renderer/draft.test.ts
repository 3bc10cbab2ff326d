// The editor's rules: what a submit sends, who serves and why, and what the model will ignore.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BackendAvailability } from '../../main/contract.js';
import { aspectLabel, blocker, defaultDraft, explanations, servingSummary, toSubmit, withParams } from '../../renderer/src/editor/draft.js';

const avail = (o: Partial<BackendAvailability> = {}): BackendAvailability => ({
  auto: 'local',
  local: { ok: true, reason: null, model: 'demo (untrained)', device: 'cpu', untrained: true },
  cloud: { ok: false, reason: 'no Fireworks key is set' },
  ...o,
});

test('a random seed is left to the studio; a locked one is sent', () => {
  const d = { ...defaultDraft(), prompt: 'a fox' };
  assert.equal(toSubmit(d).request.seed, undefined);
  assert.equal(toSubmit({ ...d, seedMode: 'locked', seed: 42 }).request.seed, 42);
  assert.equal(toSubmit({ ...d, negativePrompt: '  ' }).request.negativePrompt, undefined);
  assert.equal(toSubmit({ ...d, parentId: 'abc' }).parentId, 'abc');
});

test('blockers name the field', () => {
  assert.equal(blocker(defaultDraft()), 'Write a prompt first.');
  assert.match(blocker({ ...defaultDraft(), prompt: 'x', seedMode: 'locked', seed: 0 })!, /seed/);
  assert.equal(blocker({ ...defaultDraft(), prompt: 'x' }), null);
});

test('serving says which backend and why', () => {
  assert.match(servingSummary('auto', avail()).text, /runs here on cpu/);
  assert.match(servingSummary('cloud', avail()).text, /no Fireworks key/);
  const noModel = avail({ auto: 'cloud', local: { ok: false, reason: 'no model is installed', model: null, device: 'cpu', untrained: false }, cloud: { ok: true, reason: null } });
  assert.match(servingSummary('auto', noModel).text, /Fireworks, because no model is installed/);
  assert.equal(servingSummary('auto', null).servedBy, null);
});

test('explains what the model ignores', () => {
  const d = { ...defaultDraft(), prompt: 'x', negativePrompt: 'blurry' };
  assert.ok(explanations(d, avail()).some((s) => /negative prompt is ignored/.test(s)));
  assert.ok(!explanations({ ...d, cfgScale: 3 }, avail()).some((s) => /negative prompt is ignored/.test(s)));
  assert.ok(explanations({ ...d, cfgScale: 3 }, avail()).some((s) => /untrained demo model/.test(s)));
  assert.ok(explanations({ ...d, steps: 20 }, avail({ local: { ...avail().local, untrained: false } })).some((s) => /4 steps/.test(s)));
});

test('remix parameters load into the draft; unsupported sizes keep the current one', () => {
  const d = withParams(defaultDraft(), { prompt: 'p', seed: 7, width: 1152, height: 896, steps: 2 });
  assert.equal(d.seedMode, 'locked');
  assert.equal(d.seed, 7);
  assert.equal(d.width, 1152);
  assert.equal(withParams(defaultDraft(), { width: 512, height: 512 }).width, 1024);
  assert.equal(aspectLabel(1344, 768), '16:9');
  assert.equal(aspectLabel(1024, 1024), '1:1');
});
