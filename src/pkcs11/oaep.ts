import { createHash } from 'node:crypto';
import { DecryptFailedError } from './errors.js';

// EME-OAEP decoding (RFC 8017 §7.1.2) with an empty label and MGF1 over the same hash,
// for tokens without CKM_RSA_PKCS_OAEP-SHA256 (SoftHSM2 2.6.1: CKR_ARGUMENTS_BAD).
// The RSA private operation stays in the token (CKM_RSA_X_509); only this padding check
// runs here. Node's crypto has no "decode an already-decrypted block" entry point.
// Every failure is the same DecryptFailedError, and the scan does not branch on secret
// bytes before the end (Manger's attack).

function mgf1(hash: string, seed: Buffer, length: number): Buffer {
  const hLen = createHash(hash).digest().length;
  const out = Buffer.alloc(Math.ceil(length / hLen) * hLen);
  const counter = Buffer.alloc(4);
  for (let i = 0; i * hLen < length; i++) {
    counter.writeUInt32BE(i);
    createHash(hash)
      .update(seed)
      .update(counter)
      .digest()
      .copy(out, i * hLen);
  }
  return out.subarray(0, length);
}

export function oaepDecode(em: Buffer, hash: 'sha1' | 'sha256'): Buffer {
  const lHash = createHash(hash).digest();
  const hLen = lHash.length;
  const k = em.length;
  if (k < 2 * hLen + 2) throw new DecryptFailedError('RSA-OAEP decrypt: failed');
  const maskedSeed = em.subarray(1, 1 + hLen);
  const maskedDB = em.subarray(1 + hLen);
  const seed = mgf1(hash, maskedDB, hLen);
  for (let i = 0; i < hLen; i++) seed[i]! ^= maskedSeed[i]!;
  const db = mgf1(hash, seed, k - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i]! ^= maskedDB[i]!;

  let bad = em[0]!; // Y must be 0
  for (let i = 0; i < hLen; i++) bad |= db[i]! ^ lHash[i]!;
  // Find the 0x01 separator after the PS zeros without an early exit.
  let index = 0;
  let looking = 1;
  for (let i = hLen; i < db.length; i++) {
    const b = db[i]!;
    const isOne = Number(b === 1);
    const isZero = Number(b === 0);
    index += looking * isOne * i;
    bad |= looking * (1 - isOne) * (1 - isZero); // a non-zero, non-one byte before the separator
    looking &= 1 - isOne;
  }
  bad |= looking;
  seed.fill(0);
  if (bad !== 0) {
    db.fill(0);
    throw new DecryptFailedError('RSA-OAEP decrypt: failed');
  }
  const message = Buffer.from(db.subarray(index + 1));
  db.fill(0);
  return message;
}
