// First run (and the Models door later): three ways to make a first image — download FLUX.1
// schnell FP8 (with this machine's fit verdict before a byte is fetched, then progress, pause and
// resume), paste a Fireworks key, or try the untrained demo model.
import { useEffect, useState } from 'react';
import type { AvailableModelInfo, DownloadInfo, FitVerdict, ModelsOverview } from '../../../main/contract.js';
import { app, errorText, toast } from '../state/app-state.js';
import { refreshBackends, refreshSettings } from '../state/live.js';
import { studio } from '../state/studio.js';
import { useStore } from '../state/store.js';
import { Dialog } from '../ui/Dialog.js';
import { bytesText } from './bytes.js';

export function FirstRun() {
  const settings = useStore(app, (s) => s.settings);
  const [models, setModels] = useState<ModelsOverview | null>(null);
  const [fit, setFit] = useState<FitVerdict | null>(null);
  // A fit check that cannot answer must not block the download (or the resume of one) for good.
  const [fitFailed, setFitFailed] = useState(false);
  const [download, setDownload] = useState<DownloadInfo | null>(null);
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const close = () => app.set({ showFirstRun: false });

  const main: AvailableModelInfo | undefined = models?.available.find((m) => m.isDefault) ?? models?.available.find((m) => /schnell/i.test(m.id));

  // The installed list follows downloads that finish and models used or removed elsewhere.
  useEffect(() => studio.on('models.changed', () => {
    studio.call('models.list').then(setModels).catch(() => undefined);
  }), []);

  useEffect(() => {
    studio.call('models.list').then((m) => {
      setModels(m);
      const target = m.available.find((x) => x.isDefault) ?? m.available.find((x) => /schnell/i.test(x.id));
      const d = target && m.downloads.find((x) => x.modelId === target.id);
      if (d) setDownload(d);
      if (target) {
        studio.call('models.fit', { modelId: target.id }).then(setFit).catch((err) => {
          setFitFailed(true);
          setError(`The fit check failed: ${errorText(err)}`);
        });
      }
    }).catch((err) => setError(errorText(err)));
    return studio.on('models.downloadProgress', (d) => setDownload(d));
  }, []);

  async function act(what: string, fn: () => Promise<unknown>, then?: () => void) {
    setError(null);
    try {
      await fn();
      await Promise.all([refreshSettings(), refreshBackends()]);
      then?.();
    } catch (err) {
      setError(`${what}: ${errorText(err)}`);
    }
  }

  const downloading = download?.status === 'downloading';
  const pct = download?.total ? Math.round((download.bytes / download.total) * 100) : null;

  return (
    <Dialog title="Make your first image" onClose={close} wide>
      <p className="lead">Choose how images are made. You can change this any time in Settings.</p>
      {error && <p className="error-text" role="alert">{error}</p>}
      <div className="paths">
        <section className="path-card" aria-labelledby="path-download">
          <h3 id="path-download">Download FLUX.1 schnell</h3>
          <p>Runs on this machine, offline, in FP8{main ? `: ${bytesText(main.diskBytes)} to download` : ''}.</p>
          <div className={`verdict ${fit ? (fit.fits ? 'ok' : 'bad') : ''}`} aria-live="polite" data-testid="fit-verdict">
            {fit ? fit.message : models && !main ? 'No downloadable model is listed.' : fitFailed ? 'Whether it fits this machine is unknown.' : 'Checking whether it fits this machine…'}
          </div>
          {download && (
            <div>
              <div className="progress" role="progressbar" aria-label="Download" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct ?? undefined}>
                <span style={{ width: `${pct ?? 0}%` }} />
              </div>
              <span className="hint">
                {download.status} · {bytesText(download.bytes)}{download.total ? ` of ${bytesText(download.total)}` : ''}
                {downloading && download.etaSeconds ? ` · ${Math.ceil(download.etaSeconds / 60)} min left` : ''}
              </span>
              {download.status === 'failed' && download.error && <p className="error-text" role="alert">{download.error}</p>}
            </div>
          )}
          {main && (downloading ? (
            <button className="btn" onClick={() => void act('Pausing', () => studio.call('models.pauseDownload', { modelId: main.id }))}>Pause download</button>
          ) : download?.status === 'complete' || main.installed ? (
            <button className="btn primary" onClick={() => void act('Choosing the model', () => studio.call('models.use', { modelId: main.id }), close)}>Use FLUX.1 schnell</button>
          ) : (
            <button className="btn" disabled={!fit && !fitFailed && download?.status !== 'paused'} onClick={() => void act('Starting the download', () => studio.call('models.download', { modelId: main.id }))}>
              {download?.status === 'paused' ? 'Resume download' : download?.status === 'failed' ? 'Try again' : (fit && !fit.fits) || fitFailed ? 'Download anyway' : 'Download'}
            </button>
          ))}
          {main && !main.installed && (download?.status === 'paused' || (download?.status === 'failed' && download.bytes > 0)) && (
            // Changed one's mind about 17 GB: the kept bytes go, and so does the download's record.
            <button
              className="btn danger"
              onClick={() => void act('Discarding the download', () => studio.call('models.remove', { modelId: main.id }), () => {
                setDownload(null);
                toast('The partial download was deleted.');
              })}
            >
              Discard download
            </button>
          )}
        </section>

        <section className="path-card" aria-labelledby="path-cloud">
          <h3 id="path-cloud">Use the Fireworks cloud</h3>
          <p>No download, no GPU needed. Images are made on Fireworks with your API key; it is stored {settings?.secretStorage.backend === 'os' ? 'in the system keychain' : 'on this machine'} and never shown again.</p>
          {settings?.secretStorage.warning && <p className="note">{settings.secretStorage.warning}</p>}
          <form
            className="field"
            onSubmit={(e) => {
              e.preventDefault();
              void act('Saving the key', () => studio.call('settings.setFireworksKey', { key: key.trim() }), () => {
                setKey('');
                toast('Fireworks key saved.');
                close();
              });
            }}
          >
            <label htmlFor="fw-key">Fireworks API key</label>
            <input id="fw-key" className="input" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)} placeholder="fw_…" />
            <button className="btn" type="submit" disabled={!key.trim()}>Save key</button>
          </form>
        </section>

        <section className="path-card" aria-labelledby="path-demo">
          <h3 id="path-demo">Try the demo model</h3>
          <p>A tiny model with random weights: it is <strong className="untrained">untrained</strong> and makes colour noise, labelled so on every image. Good for learning the studio in seconds.</p>
          <button className="btn" onClick={() => void act('Setting up the demo model', () => studio.call('models.use', { modelId: 'demo' }), () => { toast('The untrained demo model is ready.'); close(); })}>
            Try the demo model
          </button>
        </section>
      </div>
      {models && models.installed.some((m) => m.status === 'installed') && (
        <div className="section">
          <h3>Installed</h3>
          <ul className="nav-list">
            {/* A folder still being downloaded (or left incomplete) is not a model to use yet. */}
            {models.installed.filter((m) => m.status === 'installed').map((m) => (
              <li key={m.id} className="row">
                <span className="grow">{m.name}{m.untrained ? ' (untrained)' : ''}{m.problem ? ` — ${m.problem}` : ''}</span>
                <button className="btn small" aria-label={`Use ${m.name}`} disabled={models.active === m.id} onClick={() => void act('Choosing the model', () => studio.call('models.use', { modelId: m.id }), close)}>
                  {models.active === m.id ? 'In use' : 'Use'}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </Dialog>
  );
}
