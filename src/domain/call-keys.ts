import { parseBlob } from '../crypto/blob.js';

/**
 * The key ids a KMS call touches: named in its parameters (KeyId, KeyIds, DestinationKeyId) or,
 * for Decrypt and ReEncrypt, inside the ciphertext. Used by CAM and by the audit trail.
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
  return [...ids];
}
