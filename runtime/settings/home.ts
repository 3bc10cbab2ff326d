// Where the studio keeps its files: $SCHNELL_HOME, else ~/.schnell-studio. The one place that reads
// the variable, so "set but empty" means the default everywhere (never the working directory), and
// the one list of the files and folders inside it.
import os from 'node:os';
import path from 'node:path';

/** $SCHNELL_HOME (absolute), or ~/.schnell-studio when it is unset, empty or only spaces. */
export function schnellHome(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.SCHNELL_HOME?.trim();
  return set ? path.resolve(set) : path.join(os.homedir(), '.schnell-studio');
}

/** Every file and folder the studio keeps under its home, named once. */
export const homePaths = {
  config: (home: string) => path.join(home, 'config.json'),
  secrets: (home: string) => path.join(home, 'secrets.json'),
  serverToken: (home: string) => path.join(home, 'server-token'),
  /** The studio library (image files plus the catalog). */
  library: (home: string) => path.join(home, 'library'),
  /** Installed models, one folder per model id. */
  models: (home: string) => path.join(home, 'models'),
  /** Built ONNX graphs, keyed by checkpoint identity. */
  graphCache: (home: string) => path.join(home, 'cache', 'graphs'),
  demoModel: (home: string) => path.join(home, 'demo-model'),
};

/** The catalog database's file name inside a library folder. */
export const CATALOG_FILE = 'catalog.sqlite';

export function catalogFile(libraryDir: string): string {
  return path.join(libraryDir, CATALOG_FILE);
}
