// The dispatcher both transports call: a command name and untrusted params in, a Reply out. The
// params are checked with the command's schema here, at the boundary, so a handler only ever sees
// valid input; any failure (bad params, an unknown command, a refusal of the core, a bug) becomes
// an error object with one sentence, never an exception that reaches the transport.
import { z } from 'zod';
import { ApiError } from '../runtime/api/index.js';
import { CatalogError } from './catalog/index.js';
import { contract, isCommandName, type CommandName, type ContractError, type Reply, type Result, type ValidParams } from './contract.js';
import { LibraryError } from './library/index.js';

/** One function per command; the type makes a missing or mistyped handler a compile error. */
export type Handlers = { [K in CommandName]: (params: ValidParams<K>) => Promise<Result<K>> | Result<K> };

/** A refusal the handler words itself (a missing id, an action the shell cannot do). */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(readonly code: ContractError['code'], message: string, readonly field?: string) {
    super(message);
  }
}

export interface Dispatcher {
  call(name: string, params: unknown): Promise<Reply<unknown>>;
}

export function createDispatcher(handlers: Handlers, opts: { log?: (line: string) => void } = {}): Dispatcher {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  return {
    async call(name, params) {
      if (typeof name !== 'string' || !isCommandName(name)) {
        return { ok: false, error: { code: 'not-found', message: `there is no command ${JSON.stringify(String(name).slice(0, 80))}` } };
      }
      const parsed = (contract[name].params as z.ZodType).safeParse(params);
      if (!parsed.success) return { ok: false, error: fromZod(name, parsed.error) };
      try {
        const handler = handlers[name] as (p: unknown) => unknown;
        const result = await handler(parsed.data);
        return { ok: true, result: result === undefined ? null : result };
      } catch (err) {
        const error = toContractError(err);
        if (error.code === 'internal') log(`studio: ${name} failed: ${(err as Error)?.stack ?? String(err)}`);
        return { ok: false, error };
      }
    },
  };
}

/** The first issue as one sentence naming the parameter. */
export function fromZod(command: string, error: z.ZodError): ContractError {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  if (issue?.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `'${k}'`).join(', ');
    const where = field ? ` in ${field}` : '';
    return { code: 'invalid', message: `${command}: unknown parameter${issue.keys.length > 1 ? 's' : ''} ${keys}${where}`, field: field ? `${field}.${issue.keys[0]}` : issue.keys[0]! };
  }
  if (!field && issue?.code === 'invalid_type') return { code: 'invalid', message: `${command}: the params must be an object (${issue.message})` };
  return { code: 'invalid', message: `${command}: ${field || 'params'} ${issue?.message ?? 'is not valid'}`, ...(field ? { field } : {}) };
}

/** Known refusals keep their sentence; anything else is an internal error with no detail leaked. */
export function toContractError(err: unknown): ContractError {
  if (err instanceof CommandError) return { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) };
  if (err instanceof ApiError) {
    const status = err.status;
    const code: ContractError['code'] = status === 404 ? 'not-found' : status === 409 ? 'conflict' : status === 429 || status >= 500 ? 'unavailable' : 'invalid';
    const field = (err as { param?: string | null }).param;
    return { code, message: err.message, ...(field ? { field } : {}) };
  }
  if (err instanceof CatalogError || err instanceof LibraryError) {
    return { code: /not in the catalog|no such|not found/i.test(err.message) ? 'not-found' : 'invalid', message: err.message };
  }
  const named = err as { name?: string; message?: string; userMessage?: boolean };
  // Errors the runtime words for users (models, downloads, settings) carry a readable name.
  if (named?.name && /^(RegistryError|ImportError|ManifestError|DownloadError|SettingsError|StudioError|UnsafePathError|BackendError)$/.test(named.name)) {
    return { code: 'invalid', message: String(named.message) };
  }
  return { code: 'internal', message: 'the studio hit an internal error; its log has the details' };
}
