import type { WhiteBoxAlgorithmName, WhiteBoxCustody } from '../model/whitebox-keys.js';
import type { Token } from '../pkcs11/token.js';
import type { Kek } from './kek.js';
import { generateTables, referenceEncryptCbc, WB_SEED_BYTES, WHITEBOX_ALGORITHMS, WhiteboxAlgorithm, WhiteboxDirection } from './whitebox/index.js';

// Custody of white-box keys (docs/whitebox.md#custody). A white-box key is exportable by design,
// as tables, and making tables needs the raw key in memory: so it cannot be a non-extractable token
// key. It is drawn from the token's RNG and kept only sealed under the token KEK, as software-module
// SM keys are, beside two sealed 32-byte seeds — one driving every internal encoding, one the
// output encoding of the current fingerprint binding — from which the tables regenerate byte for
// byte. Each is unsealed for one generation or one EncryptByWhiteBox and wiped after.

const TABLE_SET_ID_BYTES = 16;
const BLOCK = 16;

export const WHITEBOX_DIRECTIONS = { encrypt: WhiteboxDirection.ENCRYPT, decrypt: WhiteboxDirection.DECRYPT } as const;
export type WhiteBoxDirectionName = keyof typeof WHITEBOX_DIRECTIONS;

export interface WhiteBoxKeyRef {
  keyId: string;
  algorithm: WhiteBoxAlgorithmName;
  custody: WhiteBoxCustody;
}

// The sealing context names the secret, its key and algorithm (and the binding's version), so a
// sealed value cannot be moved to another row, role or binding and opened there.
const context = (keyId: string, algorithm: WhiteBoxAlgorithmName, what: 'key' | 'seed' | `binding:v${number}`) => `whitebox:${keyId}:${algorithm}:${what}`;

const libraryAlgorithm = (a: WhiteBoxAlgorithmName) => WhiteboxAlgorithm[a];

function wipe(...buffers: Array<Buffer | undefined>): void {
  for (const b of buffers) b?.fill(0);
}

export class WhiteboxEngine {
  constructor(
    private readonly token: Token,
    private readonly kek: Kek,
  ) {}

  /**
   * A new key: its material from the token's RNG, sealed, and its first EncryptKey and DecryptKey
   * (unbound). The caller stores `custody` and hands the two table sets out.
   */
  async create(keyId: string, algorithm: WhiteBoxAlgorithmName): Promise<{ custody: WhiteBoxCustody; encryptKey: Buffer; decryptKey: Buffer }> {
    const spec = WHITEBOX_ALGORITHMS[libraryAlgorithm(algorithm)];
    const key = await this.token.random(spec.keyBytes);
    const seed = await this.token.random(WB_SEED_BYTES);
    const bindingSeed = await this.token.random(WB_SEED_BYTES);
    try {
      const tableSetId = await this.token.random(TABLE_SET_ID_BYTES);
      const custody: WhiteBoxCustody = {
        sealedKey: await this.kek.seal(key, context(keyId, algorithm, 'key')),
        sealedSeed: await this.kek.seal(seed, context(keyId, algorithm, 'seed')),
        sealedBindingSeed: await this.kek.seal(bindingSeed, context(keyId, algorithm, 'binding:v1')),
        tableSetId,
        bindingVersion: 1,
      };
      const options = { algorithm: libraryAlgorithm(algorithm), key, keyId, seed, bindingSeed, tableSetId, fingerprints: [] };
      const encryptKey = generateTables({ ...options, direction: WhiteboxDirection.ENCRYPT });
      const decryptKey = generateTables({ ...options, direction: WhiteboxDirection.DECRYPT });
      return { custody, encryptKey, decryptKey };
    } finally {
      wipe(key, seed, bindingSeed);
    }
  }

  /**
   * One table set of the key, regenerated from its sealed key and seeds: the same bytes for the
   * same binding version and identities. `fingerprints` empty: unbound.
   */
  async tables(ref: WhiteBoxKeyRef, direction: WhiteBoxDirectionName, fingerprints: readonly string[]): Promise<Buffer> {
    const { keyId, algorithm, custody } = ref;
    let key: Buffer | undefined;
    let seed: Buffer | undefined;
    let bindingSeed: Buffer | undefined;
    try {
      key = await this.kek.open(custody.sealedKey, context(keyId, algorithm, 'key'));
      seed = await this.kek.open(custody.sealedSeed, context(keyId, algorithm, 'seed'));
      bindingSeed = await this.kek.open(custody.sealedBindingSeed, context(keyId, algorithm, `binding:v${custody.bindingVersion}`));
      return generateTables({
        algorithm: libraryAlgorithm(algorithm),
        direction: WHITEBOX_DIRECTIONS[direction],
        key,
        keyId,
        seed,
        bindingSeed,
        tableSetId: custody.tableSetId,
        fingerprints,
      });
    } finally {
      wipe(key, seed, bindingSeed);
    }
  }

  /** A fresh binding seed for the key's next binding version, sealed (OverwriteWhiteBoxDeviceFingerprints). */
  async newBinding(ref: Pick<WhiteBoxKeyRef, 'keyId' | 'algorithm'>, version: number): Promise<Buffer> {
    const bindingSeed = await this.token.random(WB_SEED_BYTES);
    try {
      return await this.kek.seal(bindingSeed, context(ref.keyId, ref.algorithm, `binding:v${version}`));
    } finally {
      wipe(bindingSeed);
    }
  }

  /**
   * EncryptByWhiteBox: AES-256-CBC / SM4-CBC with PKCS#7 under the raw key (node:crypto), which
   * the key's DecryptKey opens. The IV is the caller's, or drawn from the token's RNG.
   */
  async encrypt(ref: WhiteBoxKeyRef, plaintext: Buffer, iv?: Buffer): Promise<{ iv: Buffer; ciphertext: Buffer }> {
    const useIv = iv ?? (await this.token.random(BLOCK));
    const key = await this.kek.open(ref.custody.sealedKey, context(ref.keyId, ref.algorithm, 'key'));
    try {
      return { iv: useIv, ciphertext: referenceEncryptCbc(libraryAlgorithm(ref.algorithm), key, useIv, plaintext) };
    } finally {
      wipe(key);
    }
  }
}
