// `schnell models list|download|import|verify|remove|fit|login|logout`: the model library from the
// command line. Downloads show a progress bar on a terminal, pause on Ctrl-C (run the same command
// to resume), and keep their state in the catalog database so a resume survives a restart. This
// module dispatches and turns errors into one sentence and an exit code (2: the command line was
// wrong, 1: it failed, 130: paused); the commands are in models-download.ts and models-manage.ts.
import { CheckpointError } from '../runtime/flux/checkpoints/checkpoint.js';
import { DownloadError } from '../runtime/models/download.js';
import { ImportError } from '../runtime/models/import.js';
import { ManifestError } from '../runtime/models/manifest.js';
import { schnellHome, UnsafePathError } from '../runtime/models/paths.js';
import { RegistryError } from '../runtime/models/registry.js';
import { FileSecretStore, redact } from '../runtime/models/secrets.js';
import { homePaths } from '../runtime/settings/index.js';
import { type ModelsContext, type ModelsIO, USAGE } from './models-context.js';
import { download } from './models-download.js';
import { fit, importModels, list, login, logout, remove, verify } from './models-manage.js';
import { UsageError } from './usage.js';

export type { ModelsIO } from './models-context.js';

const processIO = (): ModelsIO => ({
  stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env,
  onInterrupt: (h) => {
    process.on('SIGINT', h);
    return () => process.off('SIGINT', h);
  },
});

/** Plain words for the file-system errors a mistyped path or a full disk causes. */
const ERRNO_WORDS: Record<string, string> = {
  ENOTDIR: 'a folder on that path is a file', EEXIST: 'a file is in the way', EACCES: 'permission denied', EPERM: 'permission denied',
  EROFS: 'the file system is read-only', ENOSPC: 'the disk is full', EISDIR: 'it is a folder, not a file', ENOENT: 'it does not exist',
};

export async function run(argv: string[], io: ModelsIO = processIO()): Promise<number> {
  const out = (s: string) => void io.stdout.write(`${s}\n`);
  const err = (s: string) => void io.stderr.write(`${s}\n`);
  const [command, ...rest] = argv;
  const home = schnellHome(io.env);
  const ctx: ModelsContext = { io, home, secrets: new FileSecretStore(homePaths.secrets(home)), out, err };
  try {
    switch (command) {
      case 'list': return await list(ctx, rest);
      case 'download': return await download(ctx, rest);
      case 'import': return await importModels(ctx, rest);
      case 'verify': return await verify(ctx, rest);
      case 'remove': return await remove(ctx, rest);
      case 'fit': return await fit(ctx, rest);
      case 'login': return await login(ctx, rest);
      case 'logout': return await logout(ctx, rest);
      case undefined: case 'help': case '--help': case '-h':
        out(USAGE);
        return command ? 0 : 2;
      default:
        err(`schnell models: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`schnell models ${command}: ${e.message}`);
      return 2;
    }
    if (e instanceof DownloadError || e instanceof ImportError || e instanceof ManifestError || e instanceof RegistryError || e instanceof UnsafePathError || e instanceof CheckpointError) {
      const json = rest.includes('--json');
      const message = redact(e.message, [ctx.token]);
      if (json) out(JSON.stringify({ ok: false, error: message, code: (e as DownloadError).code ?? e.name, ...(e instanceof ImportError && e.plan ? { plan: e.plan } : {}) }, null, 2));
      err(`schnell models ${command}: ${message}`);
      return (e as DownloadError).code === 'paused' ? 130 : 1;
    }
    const sys = e as NodeJS.ErrnoException;
    if (typeof sys?.code === 'string' && ERRNO_WORDS[sys.code] && typeof sys.path === 'string') {
      const message = `cannot use ${sys.path}: ${ERRNO_WORDS[sys.code]} (check the path, SCHNELL_HOME or --state)`;
      if (rest.includes('--json')) out(JSON.stringify({ ok: false, error: message, code: 'io' }, null, 2));
      err(`schnell models ${command}: ${message}`);
      return 1;
    }
    throw e;
  }
}
