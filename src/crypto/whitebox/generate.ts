import { randomBytes } from 'node:crypto';
import { aes256CipherKeys } from './aes.js';
import { WhiteboxAlgorithm, type WhiteboxAlgorithmSpec, WhiteboxDirection, algorithmSpec } from './algorithms.js';
import { aesOutputEncoding, checkIdentities, normaliseIdentity, openSlots, sealSlot, sm4OutputEncoding } from './binding.js';
import { generateChowTables, reencodeChowOutput, serializeChowTables } from './chow-aes.js';
import { RandomStream } from './drbg.js';
import { FingerprintNotBoundError, WhiteboxParameterError } from './errors.js';
import { WB_SEED_BYTES, assembleTableSet, encodeHeader, keyIdBytes, parseTableSet, tableSetBytes } from './format.js';
import { sm4RoundKeys } from './sm4.js';
import { generateXiaoLaiTables, reencodeXiaoLaiOutput, serializeXiaoLaiTables } from './xiao-lai-sm4.js';

// Table generation and re-binding. A table set is a pure function of
//   (algorithm, direction, key, KeyId, seed, bindingSeed, tableSetId, fingerprints)
// so the service can keep the key and two 32-byte seeds sealed and regenerate the same bytes
// behind a cache (docs/whitebox.md). `seed` drives every internal encoding (mixing bijections,
// nibble encodings, affine maps), `bindingSeed` only the output encoding G. Changing how the
// generator draws from its stream changes what a stored seed regenerates; that is a new format
// version, not a patch.

const TABLES_LABEL = Buffer.from('hsmkms-wb-tables-v1', 'latin1');
const TABLE_SET_ID_BYTES = 16;

export interface GenerateTablesOptions {
  readonly algorithm: WhiteboxAlgorithm;
  readonly direction: WhiteboxDirection;
  /** The raw key: 32 bytes for AES-256, 16 for SM4. Left as given; the copy made here is wiped. */
  readonly key: Uint8Array;
  /** The white-box key's id (lower-case UUID), written into the set and bound into every slot. */
  readonly keyId: string;
  /** 32 bytes driving the internal encodings; fresh random bytes (forgotten) when absent. */
  readonly seed?: Uint8Array;
  /** 32 bytes from which the output encoding G is expanded; fresh random bytes when absent. */
  readonly bindingSeed?: Uint8Array;
  /** 16 bytes; random when absent. Salt of the slot keys. */
  readonly tableSetId?: Uint8Array;
  /** Device fingerprint identities allowed to open the set; absent or empty = unbound. */
  readonly fingerprints?: readonly string[];
}

function specOf(algorithm: WhiteboxAlgorithm): WhiteboxAlgorithmSpec {
  const spec = algorithmSpec(algorithm);
  if (!spec) throw new WhiteboxParameterError(`unknown white-box algorithm ${algorithm}`);
  return spec;
}

function checkDirection(direction: WhiteboxDirection): void {
  if (direction !== WhiteboxDirection.ENCRYPT && direction !== WhiteboxDirection.DECRYPT) throw new WhiteboxParameterError(`unknown white-box direction ${direction}`);
}

function seedOrRandom(seed: Uint8Array | undefined, what: string): Buffer {
  if (seed === undefined) return randomBytes(WB_SEED_BYTES);
  if (seed.length !== WB_SEED_BYTES) throw new WhiteboxParameterError(`${what} must be ${WB_SEED_BYTES} bytes`);
  return Buffer.from(seed);
}

function tablesLabel(algorithm: WhiteboxAlgorithm, direction: WhiteboxDirection, keyId: Buffer): Buffer {
  return Buffer.concat([TABLES_LABEL, Buffer.from([algorithm, direction]), keyId]);
}

/** Header, then the seed in clear (no identities) or one slot per identity, then the trailer. */
function finish(
  spec: WhiteboxAlgorithmSpec,
  algorithm: WhiteboxAlgorithm,
  direction: WhiteboxDirection,
  keyId: string,
  tableSetId: Buffer,
  tables: Buffer,
  bindingSeed: Buffer,
  identities: string[],
): Buffer {
  const bound = identities.length > 0;
  const header = encodeHeader({
    algorithm,
    direction,
    construction: spec.construction,
    rounds: spec.rounds,
    bound,
    slotCount: identities.length,
    tableSetId,
    keyId,
    tablesLength: tables.length,
  });
  const kid = keyIdBytes(keyId);
  const region = bound ? identities.map((id) => sealSlot(spec, id, tableSetId, kid, header, bindingSeed)) : [bindingSeed];
  return assembleTableSet(header, tables, region);
}

/** Builds one table set (EncryptKey or DecryptKey) and returns it serialized. */
export function generateTables(o: GenerateTablesOptions): Buffer {
  const spec = specOf(o.algorithm);
  checkDirection(o.direction);
  if (o.key.length !== spec.keyBytes) throw new WhiteboxParameterError(`${spec.name} white-box key must be ${spec.keyBytes} bytes`);
  const kid = keyIdBytes(o.keyId);
  const identities = checkIdentities(o.fingerprints ?? []);
  if (o.tableSetId !== undefined && o.tableSetId.length !== TABLE_SET_ID_BYTES) throw new WhiteboxParameterError(`table-set id must be ${TABLE_SET_ID_BYTES} bytes`);
  const tableSetId = o.tableSetId ? Buffer.from(o.tableSetId) : randomBytes(TABLE_SET_ID_BYTES);
  const seed = seedOrRandom(o.seed, 'seed');
  const bindingSeed = seedOrRandom(o.bindingSeed, 'binding seed');
  const key = Buffer.from(o.key);
  const decrypt = o.direction === WhiteboxDirection.DECRYPT;
  const rng = new RandomStream(spec.family, seed, tablesLabel(o.algorithm, o.direction, kid));
  try {
    let tables: Buffer;
    if (o.algorithm === WhiteboxAlgorithm.AES_256) {
      const cipherKeys = aes256CipherKeys(key, decrypt);
      const { g } = aesOutputEncoding(bindingSeed, o.direction, kid);
      tables = serializeChowTables(generateChowTables(cipherKeys, decrypt, g, rng));
      cipherKeys.fill(0);
      g.fill(0);
    } else {
      const rk = sm4RoundKeys(key);
      const ordered = decrypt ? rk.slice().reverse() : rk.slice();
      const { g } = sm4OutputEncoding(bindingSeed, o.direction, kid);
      tables = serializeXiaoLaiTables(generateXiaoLaiTables(ordered, g, rng));
      rk.fill(0);
      ordered.fill(0);
    }
    return finish(spec, o.algorithm, o.direction, o.keyId, tableSetId, tables, bindingSeed, identities);
  } finally {
    key.fill(0);
    seed.fill(0);
    bindingSeed.fill(0);
    rng.wipe();
  }
}

export interface RebindTablesOptions {
  /** Needed when the set is bound now: an identity that opens one of its slots. */
  readonly fingerprint?: string;
  /** 32 bytes for the new output encoding; fresh random bytes when absent. */
  readonly bindingSeed?: Uint8Array;
  /** The new list; empty = unbound. */
  readonly fingerprints: readonly string[];
}

/**
 * The same table set under a new output encoding and identity list, without the raw key: only
 * the last-round tables (AES) or output maps (SM4) change. Equal, byte for byte, to
 * `generateTables` with the original seed, table-set id and the new binding seed, which is how
 * the service does OverwriteWhiteBoxDeviceFingerprints from its sealed seeds. Copies of the old
 * set keep working with the old encoding: tables cannot be revoked.
 */
export function rebindTables(blob: Uint8Array | string, o: RebindTablesOptions): Buffer {
  const p = parseTableSet(tableSetBytes(blob));
  const spec = specOf(p.algorithm);
  const identities = checkIdentities(o.fingerprints);
  const kid = keyIdBytes(p.keyId);
  let oldSeed: Buffer | undefined;
  if (!p.bound) oldSeed = Buffer.from(p.seed!);
  else if (o.fingerprint !== undefined) oldSeed = openSlots(spec, normaliseIdentity(o.fingerprint), p.tableSetId, kid, p.headerBytes, p.slots);
  if (!oldSeed) throw new FingerprintNotBoundError('fingerprint not bound to this key');
  const newSeed = seedOrRandom(o.bindingSeed, 'binding seed');
  const tables = Buffer.from(p.tables);
  try {
    if (p.algorithm === WhiteboxAlgorithm.AES_256) {
      const old = aesOutputEncoding(oldSeed, p.direction, kid);
      const next = aesOutputEncoding(newSeed, p.direction, kid);
      reencodeChowOutput(tables, old.gInv, next.g);
      for (const t of [old.g, old.gInv, next.g, next.gInv]) t.fill(0);
    } else {
      reencodeXiaoLaiOutput(tables, sm4OutputEncoding(oldSeed, p.direction, kid).gInv, sm4OutputEncoding(newSeed, p.direction, kid).g);
    }
    return finish(spec, p.algorithm, p.direction, p.keyId, p.tableSetId, tables, newSeed, identities);
  } finally {
    oldSeed.fill(0);
    newSeed.fill(0);
  }
}
