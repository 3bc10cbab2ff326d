// The application menu: the usual roles of each platform (app menu on macOS, Edit with the
// clipboard, View with zoom and full screen, Window), plus the studio's own commands and their
// shortcuts, which the page carries out when it receives them as `shell.menu` events.
import type { MenuItemConstructorOptions } from 'electron';
import type { MenuCommand } from '../contract.js';

export interface MenuActions {
  send(command: MenuCommand): void;
  openLibraryFolder(): void;
  openHelp(): void;
}

export function menuTemplate(platform: NodeJS.Platform, actions: MenuActions, opts: { devTools?: boolean } = {}): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  const cmd = (label: string, command: MenuCommand, accelerator?: string): MenuItemConstructorOptions => ({
    label,
    ...(accelerator ? { accelerator } : {}),
    click: () => actions.send(command),
  });
  return [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    {
      label: '&File',
      submenu: [
        cmd('Generate', 'generate', 'CmdOrCtrl+Enter'),
        cmd('New Project…', 'newProject', 'CmdOrCtrl+Shift+N'),
        cmd('Import Images…', 'import', 'CmdOrCtrl+I'),
        { type: 'separator' },
        { label: 'Show Library Folder', click: () => actions.openLibraryFolder() },
        ...(mac ? [] : [{ type: 'separator' as const }, cmd('Settings…', 'openSettings', 'Ctrl+,'), { type: 'separator' as const }, { role: 'quit' as const }]),
      ],
    },
    { role: 'editMenu' },
    {
      label: '&View',
      submenu: [
        cmd('Prompt', 'focusPrompt', 'CmdOrCtrl+L'),
        cmd('Search Library', 'focusSearch', 'CmdOrCtrl+F'),
        cmd('Queue', 'toggleQueue', 'CmdOrCtrl+J'),
        cmd('Models', 'openModels', 'CmdOrCtrl+Shift+M'),
        ...(mac ? [cmd('Settings…', 'openSettings', 'Cmd+,')] : []),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
        ...(opts.devTools ? [{ role: 'reload' as const }, { role: 'toggleDevTools' as const }] : []),
      ],
    },
    { role: 'windowMenu' },
    { role: 'help', submenu: [{ label: 'Schnell Studio Help', click: () => actions.openHelp() }] },
  ];
}
