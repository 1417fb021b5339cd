import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FingerprintLimitExceededError,
  FingerprintNotBoundError,
  InvalidFingerprintError,
  WB_HEADER_BYTES,
  WB_SLOT_BYTES,
  WhiteboxAlgorithm,
  WhiteboxDirection,
  describeTableSet,
  generateTables,
  rebindTables,
  referenceEncryptCbc,
  whiteboxDecryptCbc,
  whiteboxEncryptCbc,
} from '../../src/crypto/whitebox/index.js';

// Device-fingerprint binding (docs/whitebox.md): a bound set opens only for a listed identity,
// an empty list unbinds, and re-binding without the key equals regenerating from the seeds.

const KEY_ID = '7e1f0c2d-3b4a-4596-8a7b-6c5d4e3f2a10';

function identity(): string {
  const h = (n: number) => crypto.randomBytes(n).toString('hex').slice(0, n);
  return `${h(8)}-${h(14)}-${h(14)}-${h(14)}-${h(16)}`;
}

const cases = [
  { name: 'AES-256', algorithm: WhiteboxAlgorithm.AES_256, keyBytes: 32 },
  { name: 'SM4', algorithm: WhiteboxAlgorithm.SM4, keyBytes: 16 },
];

describe.each(cases)('$name binding', ({ algorithm, keyBytes }) => {
  const key = crypto.randomBytes(keyBytes);
  const seed = crypto.randomBytes(32);
  const tableSetId = crypto.randomBytes(16);
  const listed = [identity(), identity(), identity()];
  const iv = crypto.randomBytes(16);
  const message = Buffer.from('white-box binding check, 38 bytes....');
  let ciphertext: Buffer;
  let bound: Buffer;

  beforeAll(() => {
    ciphertext = referenceEncryptCbc(algorithm, key, iv, message);
    bound = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, seed, tableSetId, fingerprints: listed });
  });

  it('marks the set bound and carries one 60-byte slot per identity instead of the seed', () => {
    expect(describeTableSet(bound)).toMatchObject({ bound: true, slotCount: 3 });
    expect(bound[9]).toBe(1);
    expect(bound.readUInt16LE(10)).toBe(3);
    expect(bound.length).toBe(WB_HEADER_BYTES + describeTableSet(bound).tablesLength + 3 * WB_SLOT_BYTES + 32);
  });

  it('every listed fingerprint opens it (blanks and upper case forgiven)', () => {
    for (const id of listed) expect(whiteboxDecryptCbc(bound, iv, ciphertext, id).equals(message)).toBe(true);
    expect(whiteboxDecryptCbc(bound, iv, ciphertext, ` ${listed[1]!.toUpperCase()} `).equals(message)).toBe(true);
  });

  it('an unlisted fingerprint, or none, fails with FingerprintNotBoundError', () => {
    for (const fp of [identity(), undefined, '', 'garbage']) {
      let caught: unknown;
      try {
        whiteboxDecryptCbc(bound, iv, ciphertext, fp);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(FingerprintNotBoundError);
      expect((caught as FingerprintNotBoundError).code).toBe('FingerprintNotBound');
      expect((caught as Error).message).toMatch(/fingerprint not bound to this key/);
    }
  });

  it('a slot does not open when moved into another table set of the same key', () => {
    const other = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, fingerprints: [identity()] });
    const tablesEnd = other.length - 32 - WB_SLOT_BYTES;
    const grafted = Buffer.concat([other.subarray(0, tablesEnd), bound.subarray(bound.length - 32 - 3 * WB_SLOT_BYTES, bound.length - 32 - 2 * WB_SLOT_BYTES)]);
    const withTrailer = Buffer.concat([grafted, crypto.createHash('sha256').update(grafted).digest()]);
    expect(() => whiteboxDecryptCbc(withTrailer, iv, ciphertext, listed[0])).toThrow(FingerprintNotBoundError);
  });

  it('an empty list is unbound: the seed travels in clear and any fingerprint (or none) works', () => {
    const unbound = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, fingerprints: [] });
    expect(describeTableSet(unbound)).toMatchObject({ bound: false, slotCount: 0 });
    expect(whiteboxDecryptCbc(unbound, iv, ciphertext).equals(message)).toBe(true);
    expect(whiteboxDecryptCbc(unbound, iv, ciphertext, identity()).equals(message)).toBe(true);
  });

  it('binds the EncryptKey the same way', () => {
    const e = generateTables({ algorithm, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID, fingerprints: [listed[0]!] });
    expect(whiteboxEncryptCbc(e, iv, message, listed[0]).equals(ciphertext)).toBe(true);
    expect(() => whiteboxEncryptCbc(e, iv, message, listed[1])).toThrow(FingerprintNotBoundError);
  });

  it('EncryptKey and DecryptKey sharing seeds and table-set id use different slot nonces', () => {
    const bindingSeed = crypto.randomBytes(32);
    const common = { algorithm, key, keyId: KEY_ID, seed, tableSetId, bindingSeed, fingerprints: [listed[0]!] };
    const e = generateTables({ ...common, direction: WhiteboxDirection.ENCRYPT });
    const d = generateTables({ ...common, direction: WhiteboxDirection.DECRYPT });
    const nonce = (b: Buffer) => b.subarray(b.length - 32 - WB_SLOT_BYTES, b.length - 32 - WB_SLOT_BYTES + 12);
    expect(nonce(e).equals(nonce(d))).toBe(false);
    expect(nonce(generateTables({ ...common, direction: WhiteboxDirection.DECRYPT })).equals(nonce(d))).toBe(true);
  });

  it('re-binding without the key equals regenerating from the seeds with the new binding seed', () => {
    const newBinding = crypto.randomBytes(32);
    const newList = [identity(), listed[2]!];
    const rebound = rebindTables(bound, { fingerprint: listed[0], bindingSeed: newBinding, fingerprints: newList });
    const regenerated = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, seed, tableSetId, bindingSeed: newBinding, fingerprints: newList });
    expect(rebound.equals(regenerated)).toBe(true);
    expect(whiteboxDecryptCbc(rebound, iv, ciphertext, newList[0]).equals(message)).toBe(true);
    expect(() => whiteboxDecryptCbc(rebound, iv, ciphertext, listed[0])).toThrow(FingerprintNotBoundError);
    // The old set is not revoked: it still opens for its own identities.
    expect(whiteboxDecryptCbc(bound, iv, ciphertext, listed[0]).equals(message)).toBe(true);

    const unbound = rebindTables(rebound, { fingerprint: newList[1], fingerprints: [] });
    expect(describeTableSet(unbound).bound).toBe(false);
    expect(whiteboxDecryptCbc(unbound, iv, ciphertext).equals(message)).toBe(true);
    expect(() => rebindTables(bound, { fingerprint: identity(), fingerprints: [] })).toThrow(FingerprintNotBoundError);
    expect(() => rebindTables(bound, { fingerprints: [] })).toThrow(FingerprintNotBoundError);
  });

  it('the output encoding is needed: the tables alone with another binding seed give wrong output', () => {
    const unbound = generateTables({ algorithm, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID, seed, tableSetId });
    // Replace the clear seed with another one (and fix the trailer): the same tables, the wrong G⁻¹.
    const body = Buffer.concat([unbound.subarray(0, unbound.length - 64), crypto.randomBytes(32)]);
    const swapped = Buffer.concat([body, crypto.createHash('sha256').update(body).digest()]);
    let result: Buffer | undefined;
    try {
      result = whiteboxDecryptCbc(swapped, iv, ciphertext);
    } catch {
      result = undefined;
    }
    expect(result?.equals(message) ?? false).toBe(false);
  });
});

describe('identity lists', () => {
  const base = { algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.DECRYPT, key: crypto.randomBytes(16), keyId: KEY_ID };

  it('refuses an identity of the wrong shape', () => {
    let caught: unknown;
    try {
      generateTables({ ...base, fingerprints: ['0123abcd-not-a-fingerprint'] });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(InvalidFingerprintError);
    expect(() => generateTables({ ...base, fingerprints: [identity().toUpperCase()] })).toThrow(InvalidFingerprintError);
  });

  it('takes 200 identities and refuses 201; repeats count once', () => {
    const many = Array.from({ length: 200 }, identity);
    const set = generateTables({ ...base, fingerprints: [...many, many[0]!] });
    expect(describeTableSet(set).slotCount).toBe(200);
    expect(() => generateTables({ ...base, fingerprints: [...many, identity()] })).toThrow(FingerprintLimitExceededError);
  });
});
