// The store's failures that callers react to, as types: the store throws them (translated once,
// from the driver's codes, in store/db.ts), the domain and the API catch them without knowing
// which database is underneath. `code` keeps the driver's code for logs.

/** A write refused because it conflicts with a row that exists (a unique constraint). */
export class StoreConflictError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StoreConflictError';
  }
}

/** The database stayed locked by another writer beyond the bounded waits and retries: transient, nothing was written. */
export class StoreBusyError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'StoreBusyError';
  }
}
