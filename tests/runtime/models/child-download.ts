// Run by crash.test.ts in a child process: one download with state in a SQLite file, so the test
// can SIGKILL it mid-way and start it again.
import { downloadFile } from '../../../runtime/models/download.js';
import { DownloadState, openStateDatabase } from '../../../runtime/models/state.js';

const [url, dest, dbFile, sha] = process.argv.slice(2);
const db = openStateDatabase(dbFile!);
const result = await downloadFile({ url: url!, dest: dest!, sha256: sha, state: new DownloadState(db), stallTimeoutMs: 60_000 });
db.close();
process.stdout.write(JSON.stringify(result) + '\n');
