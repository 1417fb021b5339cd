import { createCipheriv, createDecipheriv } from 'node:crypto';
import { type WhiteboxAlgorithm, algorithmSpec } from './algorithms.js';
import { WhiteboxPaddingError, WhiteboxParameterError } from './errors.js';

// The server side of EncryptByWhiteBox: plain AES-256-CBC / SM4-CBC with PKCS#7 through
// node:crypto and the raw key (unsealed by the caller, who wipes it). A white-box DecryptKey of
// the same key opens the result; runtime.ts is the client side.

function cbcName(algorithm: WhiteboxAlgorithm, key: Uint8Array, iv: Uint8Array): string {
  const spec = algorithmSpec(algorithm);
  if (!spec) throw new WhiteboxParameterError(`unknown white-box algorithm ${algorithm}`);
  if (key.length !== spec.keyBytes) throw new WhiteboxParameterError(`${spec.name} key must be ${spec.keyBytes} bytes`);
  if (iv.length !== 16) throw new WhiteboxParameterError('IV must be 16 bytes');
  return spec.cbc;
}

export function referenceEncryptCbc(algorithm: WhiteboxAlgorithm, key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv(cbcName(algorithm, key, iv), key, iv);
  return Buffer.concat([c.update(plaintext), c.final()]);
}

export function referenceDecryptCbc(algorithm: WhiteboxAlgorithm, key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer {
  const d = createDecipheriv(cbcName(algorithm, key, iv), key, iv);
  try {
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw new WhiteboxPaddingError('bad PKCS#7 padding or ciphertext length');
  }
}
