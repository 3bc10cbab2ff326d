// Settings: the Fireworks key (write-only), model folders, device, the local API server (port,
// token, on/off, whether its requests are recorded), the library location and the theme.
import { useEffect, useRef, useState } from 'react';
import type { ApiServerStatus, DeviceInfo, SettingsPatch, StudioSettings } from '../../../main/contract.js';
import { app, errorText, toast } from '../state/app-state.js';
import { refreshBackends, themeOf } from '../state/live.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { Dialog } from '../ui/Dialog.js';

export function Settings() {
  const settings = useStore(app, (s) => s.settings);
  const [devices, setDevices] = useState<DeviceInfo[]>([]);
  const [server, setServer] = useState<ApiServerStatus | null>(null);
  const [token, setToken] = useState<string | null>(null);
  const [key, setKey] = useState('');
  const keyField = useRef<HTMLInputElement>(null);
  const [folders, setFolders] = useState('');
  const [library, setLibrary] = useState('');
  const [mirror, setMirror] = useState('');
  const [port, setPort] = useState('');
  const [error, setError] = useState<string | null>(null);
  const close = () => app.set({ showSettings: false });

  useEffect(() => {
    studio.call('devices.list').then(setDevices).catch(() => setDevices([]));
    studio.call('apiServer.status').then(setServer).catch(() => setServer(null));
    return studio.on('apiServer.changed', ({ status }) => setServer(status));
  }, []);
  useEffect(() => {
    if (!settings) return;
    setFolders(settings.modelFolders.join('\n'));
    setLibrary(settings.libraryDir);
    setMirror(settings.modelMirror.saved ?? '');
    setPort(String(settings.apiServer.port));
  }, [settings]);

  async function update(patch: SettingsPatch, done?: string) {
    setError(null);
    try {
      const s: StudioSettings = await studio.call('settings.update', patch);
      app.set({ settings: s });
      document.documentElement.dataset.theme = themeOf(s.theme);
      void refreshBackends();
      if (done) toast(done);
    } catch (err) {
      setError(errorText(err));
    }
  }

  async function serverCall(fn: () => Promise<ApiServerStatus>) {
    setError(null);
    try {
      setServer(await fn());
    } catch (err) {
      setError(errorText(err));
    }
  }

  if (!settings) return null;
  return (
    <Dialog title="Settings" onClose={close} wide>
      {error && <p className="error-text" role="alert">{error}</p>}
      <div className="settings-grid">
        <fieldset>
          <legend>Appearance</legend>
          <div className="field">
            <label htmlFor="s-theme">Theme</label>
            <select id="s-theme" className="select" value={settings.theme} onChange={(e) => void update({ theme: e.target.value as StudioSettings['theme'] })}>
              <option value="dark">Dark</option>
              <option value="light">Light</option>
              <option value="system">Follow the system</option>
            </select>
          </div>
        </fieldset>

        <fieldset>
          <legend>Fireworks cloud</legend>
          <p className="hint">{settings.hasFireworksKey ? 'A key is stored. It is never shown again; paste a new one to replace it.' : 'No key is stored: the cloud is off.'}</p>
          {settings.secretStorage.warning && <p className="note">{settings.secretStorage.warning}</p>}
          <form
            className="field"
            onSubmit={async (e) => {
              e.preventDefault();
              try {
                await studio.call('settings.setFireworksKey', { key: key.trim() });
                setKey('');
                const s = await studio.call('settings.get');
                app.set({ settings: s });
                void refreshBackends();
                toast('Fireworks key saved.');
              } catch (err) {
                setError(errorText(err));
              }
            }}
          >
            <label htmlFor="s-key">Fireworks API key</label>
            <div className="row">
              <input id="s-key" ref={keyField} className="input grow" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} />
              <button className="btn small" type="submit" disabled={!key.trim()}>Save</button>
              {settings.hasFireworksKey && (
                <button className="btn small danger" type="button" onClick={async () => {
                  try {
                    await studio.call('settings.setFireworksKey', { key: null });
                    app.set({ settings: await studio.call('settings.get') });
                    void refreshBackends();
                    // The Remove button is gone: keep the keyboard in the key's field, not on <body>.
                    keyField.current?.focus();
                    toast('Fireworks key removed.');
                  } catch (err) {
                    setError(errorText(err));
                  }
                }}>Remove</button>
              )}
            </div>
          </form>
        </fieldset>

        <fieldset>
          <legend>Local model</legend>
          <div className="field">
            <label htmlFor="s-backend">Default backend</label>
            <select id="s-backend" className="select" value={settings.backend} onChange={(e) => void update({ backend: e.target.value as StudioSettings['backend'] })}>
              <option value="auto">Auto (this machine, cloud as fallback)</option>
              <option value="local">This machine only</option>
              <option value="cloud">Cloud only</option>
            </select>
          </div>
          <div className="field">
            <label htmlFor="s-device">Device</label>
            <select id="s-device" className="select" value={settings.device} onChange={(e) => void update({ device: e.target.value })}>
              {!devices.some((d) => d.provider === settings.device) && <option value={settings.device}>{settings.device}</option>}
              {devices.map((d) => (
                <option key={d.provider} value={d.provider} disabled={!d.available}>
                  {d.provider}{d.available ? '' : ' (not available)'}{d.note ? ` — ${d.note}` : ''}
                </option>
              ))}
            </select>
          </div>
          <div className="field">
            <label htmlFor="s-folders">Model folders (one a line)</label>
            <textarea id="s-folders" className="textarea" rows={2} value={folders} onChange={(e) => setFolders(e.target.value)} onBlur={() => {
              const list = folders.split('\n').map((x) => x.trim()).filter(Boolean);
              if (list.join('\n') !== settings.modelFolders.join('\n')) void update({ modelFolders: list }, 'Model folders saved.');
            }} />
          </div>
          <form
            className="field"
            onSubmit={(e) => {
              e.preventDefault();
              const next = mirror.trim() || null;
              if (next !== settings.modelMirror.saved) void update({ modelMirror: next }, next ? 'Model downloads now come from the mirror.' : 'Model downloads come from huggingface.co again.');
            }}
          >
            <label htmlFor="s-mirror">Model mirror (optional)</label>
            <div className="row">
              <input id="s-mirror" className="input grow" type="url" inputMode="url" placeholder="https://hf-mirror.example.com" aria-describedby="s-mirror-hint" value={mirror} onChange={(e) => setMirror(e.target.value)} />
              <button className="btn small" type="submit" disabled={(mirror.trim() || null) === settings.modelMirror.saved}>Save</button>
            </div>
            <span id="s-mirror-hint" className="hint">
              {settings.modelMirror.environment
                ? `Downloads use ${settings.modelMirror.environment} (set by SCHNELL_MODEL_MIRROR or HF_ENDPOINT in the environment, which wins over this setting).`
                : 'For offline or company networks: files from huggingface.co are fetched from this address instead, at the same path.'}
            </span>
          </form>
          <p className="hint">Model in use: {settings.model ?? 'none'}. <button className="btn small" onClick={() => app.set({ showSettings: false, showFirstRun: true })}>Manage models…</button></p>
        </fieldset>

        <fieldset>
          <legend>Local image API</legend>
          <p className="hint" aria-live="polite">{server ? (server.running ? `Running at ${server.url}` : 'Stopped') : 'Status unknown'}</p>
          <label htmlFor="s-port" className="field-label">Port</label>
          <div className="row field">
            <input id="s-port" className="input grow" type="number" min={0} max={65535} value={port} onChange={(e) => setPort(e.target.value)} onBlur={() => Number(port) !== settings.apiServer.port && void update({ apiServer: { port: Number(port) } })} />
            {server?.running ? (
              <button className="btn small" onClick={() => void serverCall(() => studio.call('apiServer.stop'))}>Stop</button>
            ) : (
              <button className="btn small" onClick={() => void serverCall(() => studio.call('apiServer.start', { port: Number(port) || 0 }))}>Start</button>
            )}
          </div>
          <div className="field">
            <label className="switch">
              <input type="checkbox" checked={settings.apiServer.enabled} onChange={(e) => void update({ apiServer: { enabled: e.target.checked } })} />
              Start with the studio
            </label>
            <label className="switch">
              <input type="checkbox" checked={settings.apiServer.record} onChange={(e) => void update({ apiServer: { record: e.target.checked } })} />
              Record API requests in the library
            </label>
          </div>
          <div className="row">
            <button className="btn small" onClick={async () => {
              try {
                setToken((await studio.call('apiServer.token')).token);
              } catch (err) {
                setError(errorText(err));
              }
            }}>Show token</button>
            {token && <code className="grow" style={{ overflowWrap: 'anywhere' }}>{token}</code>}
          </div>
        </fieldset>

        <fieldset>
          <legend>Library</legend>
          <div className="field">
            <label htmlFor="s-library">Library folder</label>
            <div className="row">
              <input id="s-library" className="input grow" value={library} onChange={(e) => setLibrary(e.target.value)} />
              <button className="btn small" disabled={library.trim() === settings.libraryDir} onClick={() => void update({ libraryDir: library.trim() }, 'Library location saved; it applies after a restart.')}>Change</button>
            </div>
          </div>
        </fieldset>
      </div>
    </Dialog>
  );
}
