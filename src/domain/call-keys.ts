import { parseBlob } from '../crypto/blob.js';
import { parsePqcBlob } from '../crypto/pqc.js';

/**
 * The key ids a KMS call touches: named in its parameters (KeyId, KeyIds, DestinationKeyId) or,
 * for Decrypt, ReEncrypt and PostQuantumCryptoDecrypt, inside the ciphertext (ImportDataKey of a
 * ciphertext: inside ImportKeyMaterial). Used by CAM and by the audit trail.
 */
export function keyIdsOfCall(action: string, params: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  for (const field of ['KeyId', 'DestinationKeyId']) if (typeof params[field] === 'string' && params[field]) ids.add(params[field] as string);
  if (Array.isArray(params.KeyIds)) for (const id of params.KeyIds) ids.add(String(id));
  if ((action === 'Decrypt' || action === 'ReEncrypt') && typeof params.CiphertextBlob === 'string') {
    try {
      ids.add(parseBlob(Buffer.from(params.CiphertextBlob, 'base64')).keyId);
    } catch {
      /* an invalid blob names no key; Decrypt itself answers InvalidCiphertext */
    }
  }
  if (action === 'PostQuantumCryptoDecrypt' && typeof params.CiphertextBlob === 'string') {
    try {
      ids.add(parsePqcBlob(Buffer.from(params.CiphertextBlob, 'base64')).keyId);
    } catch {
      /* as above */
    }
  }
  if (action === 'ImportDataKey' && params.ImportType === 1 && !params.KeyId && typeof params.ImportKeyMaterial === 'string') {
    try {
      ids.add(parseBlob(Buffer.from(params.ImportKeyMaterial, 'base64')).keyId);
    } catch {
      /* ImportDataKey answers InvalidImportKeyMaterial */
    }
  }
  return [...ids];
}

/** The hosted data keys a call names (DataKeyId, DataKeyIds): their own CAM resources. */
export function dataKeyIdsOfCall(params: Record<string, unknown>): string[] {
  const ids = new Set<string>();
  if (typeof params.DataKeyId === 'string' && params.DataKeyId) ids.add(params.DataKeyId);
  if (Array.isArray(params.DataKeyIds)) for (const id of params.DataKeyIds) ids.add(String(id));
  return [...ids];
}
