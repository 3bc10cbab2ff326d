// The catalog's refusals beyond a bad field (CatalogError, types.ts): a row that would repeat one
// already there, and a catalog file whose values are not what the studio wrote. Both carry a
// sentence meant for the user; damage always names the command that repairs it.
import { CatalogError } from './types.js';

/** The row would repeat one already there (the same image file, or the same sample of a job). */
export class DuplicateError extends CatalogError {
  override name = 'DuplicateError';
  constructor(
    message: string,
    /** The row that is already there. */
    readonly existingId: string,
    readonly kind: 'file' | 'job-sample',
  ) {
    super(message);
  }
}

/** The repair command every message about a damaged catalog names. */
export const REPAIR_COMMAND = 'schnell library repair';

/** A value in the catalog file is not what the studio wrote (edited by hand, a bad disk, a tampered file). */
export class CatalogDamageError extends CatalogError {
  override name = 'CatalogDamageError';
}
