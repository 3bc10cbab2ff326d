// The desktop window's security as the shell applies it: web preferences, navigation and new
// windows, permissions, which IPC senders are heard, and the CSP it shares with the web studio.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  APP_ORIGIN,
  APP_URL,
  DESKTOP_CSP,
  navigationAllowed,
  newWindowDecision,
  permissionAllowed,
  senderAllowed,
  windowOptions,
} from '../../../main/electron/security.js';
import { contentSecurityPolicy } from '../../../main/web/csp.js';

test('the window isolates the page: context isolation and sandbox on, Node off, no webviews', () => {
  const o = windowOptions('/app/preload.cjs', { width: 1200, height: 800 });
  const w = o.webPreferences!;
  assert.equal(w.contextIsolation, true);
  assert.equal(w.sandbox, true);
  assert.equal(w.nodeIntegration, false);
  assert.equal(w.nodeIntegrationInWorker, false);
  assert.equal(w.nodeIntegrationInSubFrames, false);
  assert.equal(w.webSecurity, true);
  assert.equal(w.allowRunningInsecureContent, false);
  assert.equal(w.webviewTag, false);
  assert.equal(w.navigateOnDragDrop, false);
  assert.equal(w.preload, '/app/preload.cjs');
  assert.equal(o.show, false, 'shown once ready, so no white flash');
});

test('navigation stays inside the app', () => {
  assert.equal(navigationAllowed(APP_URL), true);
  assert.equal(navigationAllowed(`${APP_ORIGIN}/gallery?x=1`), true);
  for (const url of ['https://example.com/', 'file:///etc/passwd', 'schnell-app://other/index.html', 'schnell-image://library/images/a.png', 'http://127.0.0.1:8080/', 'javascript:alert(1)', 'not a url']) {
    assert.equal(navigationAllowed(url), false, url);
  }
});

test('no new windows: only https links the user clicked open, in the system browser', () => {
  assert.equal(newWindowDecision({ url: 'https://fireworks.ai/account/api-keys', disposition: 'foreground-tab' }), 'open-in-browser');
  assert.equal(newWindowDecision({ url: 'https://huggingface.co/x', disposition: 'background-tab' }), 'open-in-browser');
  // A script's window.open, other schemes and credentials in the URL are refused.
  assert.equal(newWindowDecision({ url: 'https://example.com', disposition: 'new-window' }), 'deny');
  assert.equal(newWindowDecision({ url: 'http://example.com', disposition: 'foreground-tab' }), 'deny');
  assert.equal(newWindowDecision({ url: 'file:///etc/passwd', disposition: 'foreground-tab' }), 'deny');
  assert.equal(newWindowDecision({ url: 'smb://host/share', disposition: 'foreground-tab' }), 'deny');
  assert.equal(newWindowDecision({ url: 'https://user:pw@example.com', disposition: 'foreground-tab' }), 'deny');
  assert.equal(newWindowDecision({ url: '::::', disposition: 'foreground-tab' }), 'deny');
});

test('every permission is refused', () => {
  for (const p of ['media', 'notifications', 'geolocation', 'clipboard-read', 'hid', 'serial', 'openExternal', 'fullscreen']) assert.equal(permissionAllowed(p), false, p);
});

test('IPC is heard only from the app page in the top frame', () => {
  assert.equal(senderAllowed({ url: APP_URL }), true);
  assert.equal(senderAllowed({ url: `${APP_ORIGIN}/#/detail/1` }), true);
  assert.equal(senderAllowed({ url: APP_URL, parent: { url: APP_URL } }), false, 'an iframe, even of the app');
  assert.equal(senderAllowed({ url: 'https://evil.example/' }), false);
  assert.equal(senderAllowed({ url: 'file:///tmp/x.html' }), false);
  assert.equal(senderAllowed(null), false, 'a frame that navigated away or is gone');
  assert.equal(senderAllowed(undefined), false);
});

test('the window and the web studio share one strict CSP: no inline script, no remote origins', () => {
  const web = contentSecurityPolicy();
  for (const csp of [DESKTOP_CSP, web]) {
    const d = Object.fromEntries(csp.split('; ').map((x) => [x.split(' ')[0], x.split(' ').slice(1)]));
    assert.deepEqual(d['default-src'], ["'none'"]);
    assert.deepEqual(d['script-src'], ["'self'"]);
    assert.deepEqual(d['style-src'], ["'self'"]);
    assert.deepEqual(d['connect-src'], ["'self'"]);
    assert.deepEqual(d['object-src'], ["'none'"]);
    assert.deepEqual(d['frame-ancestors'], ["'none'"]);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
  }
  assert.match(DESKTOP_CSP, /img-src 'self' blob: schnell-image:/);
  assert.equal(DESKTOP_CSP.replace(' schnell-image:', ''), web);
});
