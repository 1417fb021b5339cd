import type { Knex } from 'knex';
import type { Db } from './db.js';

// BYOK parameters and material fingerprints (migration 0009). Times are Unix seconds.

export interface ImportParams {
  importId: string;
  tokenHash: string;
  keyId: string;
  accountUin: string;
  region: string;
  wrappingAlgorithm: string;
  createdAt: number;
  validTo: number;
  usedAt: number | null;
  completedAt: number | null;
}

type Conn = Db | Knex.Transaction;

const fromRow = (r: Record<string, unknown>): ImportParams => ({
  importId: String(r.import_id),
  tokenHash: String(r.token_hash),
  keyId: String(r.key_id),
  accountUin: String(r.account_uin),
  region: String(r.region),
  wrappingAlgorithm: String(r.wrapping_algorithm),
  createdAt: Number(r.created_at),
  validTo: Number(r.valid_to),
  usedAt: r.used_at === null || r.used_at === undefined ? null : Number(r.used_at),
  completedAt: r.completed_at === null || r.completed_at === undefined ? null : Number(r.completed_at),
});

export class ImportRepo {
  constructor(private readonly db: Db) {}

  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insert(p: ImportParams, conn: Conn = this.db): Promise<void> {
    await conn('import_parameters').insert({
      import_id: p.importId,
      token_hash: p.tokenHash,
      key_id: p.keyId,
      account_uin: p.accountUin,
      region: p.region,
      wrapping_algorithm: p.wrappingAlgorithm,
      created_at: p.createdAt,
      valid_to: p.validTo,
      used_at: p.usedAt,
      completed_at: p.completedAt,
    });
  }

  async byTokenHash(tokenHash: string, conn: Conn = this.db): Promise<ImportParams | undefined> {
    const r = await conn('import_parameters').where('token_hash', tokenHash).first();
    return r ? fromRow(r) : undefined;
  }

  /** Unused parameters of a key (a new GetParametersForImport supersedes them). */
  async unusedForKey(keyId: string, conn: Conn = this.db): Promise<ImportParams[]> {
    return (await conn('import_parameters').where('key_id', keyId).whereNull('used_at')).map(fromRow);
  }

  /**
   * Single use, and one import of a key at a time: marks the parameters in use, true for
   * exactly one caller, while unused, unexpired and no other import of the key is under way
   * (the key's row is touched first, so PostgreSQL serialises claims per key too). The import
   * completes the claim, successful or not: a token is good for one attempt.
   */
  async claim(p: Pick<ImportParams, 'importId' | 'keyId'>, now: number): Promise<boolean> {
    return this.db.transaction(async (trx) => {
      await trx('keys')
        .where('key_id', p.keyId)
        .update({ state: trx.ref('state') });
      const busy = await trx('import_parameters').where('key_id', p.keyId).whereNot('import_id', p.importId).whereNotNull('used_at').whereNull('completed_at').first('import_id');
      if (busy) return false;
      const n = await trx('import_parameters').where('import_id', p.importId).whereNull('used_at').andWhere('valid_to', '>', now).update({ used_at: now });
      return n === 1;
    });
  }

  async complete(importId: string, now: number, conn: Conn = this.db): Promise<void> {
    await conn('import_parameters').where('import_id', importId).update({ completed_at: now });
  }

  async delete(importId: string, conn: Conn = this.db): Promise<void> {
    await conn('import_parameters').where('import_id', importId).delete();
  }

  /**
   * Parameters whose wrapping pair must go: expired, whose key is gone, or claimed longer ago
   * than staleClaimSeconds (an import that crashed midway).
   */
  async finished(now: number, staleClaimSeconds: number, conn: Conn = this.db): Promise<ImportParams[]> {
    const rows = await conn('import_parameters as p')
      .leftJoin('keys as k', 'k.key_id', 'p.key_id')
      .where((q) =>
        q
          .where('p.valid_to', '<=', now)
          .orWhereNull('k.key_id')
          .orWhere((c) => c.where('p.used_at', '<=', now - staleClaimSeconds).whereNull('p.completed_at')),
      )
      .select('p.*');
    return rows.map(fromRow);
  }

  /**
   * Of these keys, the EXTERNAL ones without material and with no import under way: a token
   * object of theirs is left over (DeleteImportedKeyMaterial or expiry crashed midway).
   */
  async materialLeftOver(keyIds: string[], conn: Conn = this.db): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < keyIds.length; i += 500) {
      const rows = await conn('keys as k')
        .whereIn('k.key_id', keyIds.slice(i, i + 500))
        .andWhere('k.origin', 'EXTERNAL')
        .andWhere('k.has_material', false)
        .whereNotExists(conn('import_parameters as p').whereRaw('p.key_id = k.key_id').whereNotNull('p.used_at').whereNull('p.completed_at'))
        .select('k.key_id');
      out.push(...rows.map((r) => String(r.key_id)));
    }
    return out;
  }

  async allIds(conn: Conn = this.db): Promise<Set<string>> {
    return new Set((await conn('import_parameters').select('import_id')).map((r) => String(r.import_id)));
  }

  async fingerprint(keyId: string, conn: Conn = this.db): Promise<string | undefined> {
    const r = await conn('key_import_fingerprints').where('key_id', keyId).first('fingerprint');
    return r ? String(r.fingerprint) : undefined;
  }

  /** The first import's fingerprint stays: later imports must match it. */
  async keepFingerprint(keyId: string, fingerprint: string, now: number, conn: Conn = this.db): Promise<void> {
    await conn('key_import_fingerprints').insert({ key_id: keyId, fingerprint, created_at: now }).onConflict('key_id').ignore();
  }
}
