// The desktop app's entry (package.json "main": dist/main/electron/app.js). It puts the pieces
// together: one instance, a locked-down session (every permission refused, no navigation, no new
// windows, the renderer from schnell-app://, images from schnell-image://), the studio core behind
// the contract's dispatcher, the local runtime in a utilityProcess, secrets through safeStorage,
// the window where the user left it, the menu and its shortcuts.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, ipcMain, Menu, nativeImage, protocol, safeStorage, screen, session, shell, utilityProcess, type WebContents } from 'electron';
import { setWorkerLauncher } from '../../runtime/engine/process-backend.js';
import { homePaths, SECRET_NAMES, schnellHome } from '../../runtime/settings/index.js';
import { StudioHost } from '../handlers/host.js';
import { encodeName, type Shell } from '../handlers/shell.js';
import { Studio } from '../studio.js';
import { defaultRendererDir } from '../web/headless.js';
import { registerIpc, sendEvent } from './ipc.js';
import { menuTemplate } from './menu.js';
import { appProtocolHandler, imageProtocolHandler } from './protocols.js';
import { utilityProcessLauncher } from './runtime-process.js';
import { SafeSecretStore, secretStorageInfo } from './secrets.js';
import { APP_SCHEME, APP_URL, IMAGE_ORIGIN, IMAGE_SCHEME, navigationAllowed, newWindowDecision, permissionAllowed, PREVIEW_ORIGIN, windowOptions } from './security.js';
import { loadWindowState, placeOnScreen, saveWindowState } from './window-state.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRELOAD = path.join(here, 'preload.cjs');
const HELP_URL = 'https://github.com/schnell-studio/schnell-studio#readme';
const API_TOKEN_SECRET = 'server.token';

// Custom schemes must be declared before the app is ready: standard (real origins, relative URLs),
// secure (like https), fetch and streaming allowed.
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
  { scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);

let mainWindow: BrowserWindow | null = null;
let host: StudioHost | null = null;

if (!app.requestSingleInstanceLock()) {
  // A second launch hands over to the first (which focuses its window) and ends.
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });
  app.on('web-contents-created', (_e, contents) => lockDown(contents));
  app.whenReady().then(start).catch((err: unknown) => {
    console.error(`Schnell Studio could not start: ${(err as Error)?.stack ?? String(err)}`);
    app.exit(1);
  });
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (host && BrowserWindow.getAllWindows().length === 0) createWindow();
  });
  let closing = false;
  app.on('before-quit', (event) => {
    if (closing || !host) return;
    closing = true;
    event.preventDefault();
    // Queued jobs stay in the catalog for the next start; a running one is marked interrupted.
    void host.close().finally(() => app.quit());
  });
}

/** No navigation away from the app, no new windows, no webviews: https links the user clicked open in the browser. */
function lockDown(contents: WebContents): void {
  contents.on('will-navigate', (event, url) => {
    if (!navigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event, url) => {
    if (!navigationAllowed(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler((details) => {
    if (newWindowDecision(details) === 'open-in-browser') void shell.openExternal(details.url);
    return { action: 'deny' };
  });
}

async function start(): Promise<void> {
  setWorkerLauncher(utilityProcessLauncher((file, args, options) => utilityProcess.fork(file, args, options)));
  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_contents, permission, callback) => callback(permissionAllowed(permission)));
  ses.setPermissionCheckHandler(() => false);
  ses.setDevicePermissionHandler(() => false);

  const home = schnellHome();
  const secrets = new SafeSecretStore(path.join(home, 'secrets.safe.json'), safeStorage, homePaths.secrets(home));
  const shellInfo: Shell = {
    kind: 'desktop',
    fileUrl: (name) => `${IMAGE_ORIGIN}/${encodeName(name)}`,
    previewUrl: (jobId) => `${PREVIEW_ORIGIN}/${encodeURIComponent(jobId)}`,
    reveal: (file) => shell.showItemInFolder(file),
    secretStorage: secretStorageInfo(safeStorage),
  };
  if (shellInfo.secretStorage?.warning) console.warn(`Schnell Studio: ${shellInfo.secretStorage.warning}`);

  host = await StudioHost.open({
    open: async () => {
      const apiKey = await secrets.get(SECRET_NAMES.fireworksKey);
      return Studio.open(apiKey ? { cloud: { apiKey } } : {});
    },
    shell: shellInfo,
    secrets,
    apiToken: async () => {
      let token = await secrets.get(API_TOKEN_SECRET);
      if (!token) {
        const { randomBytes } = await import('node:crypto');
        token = `sk-schnell-${randomBytes(24).toString('base64url')}`;
        await secrets.set(API_TOKEN_SECRET, token);
      }
      return token;
    },
    version: app.getVersion(),
  });
  const studioHost = host;

  protocol.handle(APP_SCHEME, appProtocolHandler(defaultRendererDir()));
  protocol.handle(IMAGE_SCHEME, imageProtocolHandler(studioHost.resolveLibraryFile, (jobId) => studioHost.preview(jobId)));
  registerIpc(ipcMain, {
    dispatcher: studioHost.dispatcher,
    fileOf: (id) => studioHost.studio.library?.get(id)?.file,
    startDrag: (sender, files) => {
      const icon = nativeImage.createFromPath(files[0]!).resize({ width: 64 });
      (sender as WebContents).startDrag({ file: files[0]!, files, icon });
    },
  });
  studioHost.subscribe((name, payload) => {
    for (const w of BrowserWindow.getAllWindows()) sendEvent(w.webContents, name, payload);
  });
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      menuTemplate(
        process.platform,
        {
          send: (command) => mainWindow && sendEvent(mainWindow.webContents, 'shell.menu', { command }),
          openLibraryFolder: () => void shell.openPath(studioHost.libraryDir()),
          openHelp: () => void shell.openExternal(HELP_URL),
        },
        { devTools: !app.isPackaged },
      ),
    ),
  );
  createWindow();
}

function createWindow(): void {
  const stateFile = path.join(app.getPath('userData'), 'window-state.json');
  const saved = placeOnScreen(loadWindowState(stateFile), screen.getAllDisplays().map((d) => d.workArea));
  const win = new BrowserWindow(windowOptions(PRELOAD, saved));
  mainWindow = win;
  if (saved.maximized) win.maximize();
  win.once('ready-to-show', () => win.show());
  win.on('close', () => {
    const b = win.getNormalBounds();
    saveWindowState(stateFile, { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() });
  });
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  // A renderer crash reloads the page; the studio (and any running job) carries on.
  win.webContents.on('render-process-gone', (_e, details) => {
    if (details.reason !== 'clean-exit') setTimeout(() => !win.isDestroyed() && win.reload(), 500);
  });
  void win.loadURL(APP_URL);
}
