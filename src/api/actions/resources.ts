import { parseBlob } from '../../crypto/blob.js';
import { parsePqcBlob } from '../../crypto/pqc.js';
import type { CallResources, KeyRef } from '../../domain/access.js';
import type { ActionSpec } from './spec.js';

// The resources a call touches, read from its parameters by each action's `resources` (CAM
// evaluates them, the audit record names them). The readers check types themselves: they also
// run on the raw parameters of a call refused before validation.

const NONE: readonly never[] = [];
export const NO_RESOURCES: CallResources = { keys: NONE, dataKeys: NONE };

/** The CMK a parameter names; '' and non-strings name none. */
export function cmk(id: unknown): CallResources {
  return isId(id) ? { keys: [{ keyId: id, regionless: false }], dataKeys: NONE } : NO_RESOURCES;
}

/** CMKs named by parameters, in order, without repeats. */
export function cmks(...ids: unknown[]): CallResources {
  return keysOf(ids.filter(isId), false);
}

/** The CMKs of a KeyIds list. */
export function cmkList(ids: unknown): CallResources {
  return Array.isArray(ids) ? keysOf(ids.map(String), false) : NO_RESOURCES;
}

/** A CMK whose CAM resource has an empty region segment (ImportDataKey, seed 004). */
export function regionlessCmk(id: unknown): CallResources {
  return isId(id) ? { keys: [{ keyId: id, regionless: true }], dataKeys: NONE } : NO_RESOURCES;
}

/** The data key a parameter names. */
export function dataKey(id: unknown): CallResources {
  return isId(id) ? { keys: NONE, dataKeys: [id] } : NO_RESOURCES;
}

/** The data keys of a DataKeyIds list. */
export function dataKeyList(ids: unknown): CallResources {
  return Array.isArray(ids) && ids.length > 0 ? { keys: NONE, dataKeys: unique(ids.map(String)) } : NO_RESOURCES;
}

/** The CMK named inside a CiphertextBlob; none when it is not one of ours (the action answers InvalidCiphertext). */
export function ciphertextKeyId(blob: unknown): string | undefined {
  if (typeof blob !== 'string') return undefined;
  try {
    return parseBlob(Buffer.from(blob, 'base64')).keyId;
  } catch {
    return undefined;
  }
}

/** The ML-KEM key named inside a PostQuantumCryptoEncrypt ciphertext. */
export function pqcCiphertextKeyId(blob: unknown): string | undefined {
  if (typeof blob !== 'string') return undefined;
  try {
    return parsePqcBlob(Buffer.from(blob, 'base64')).keyId;
  } catch {
    return undefined;
  }
}

/** The shape of every key and data-key id (docs/contract/keys.md#identifiers): a lower-case UUID. */
const WELL_FORMED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** No action names more ids than this (KeyIds, DataKeyIds: docs/contract/actions.md#group-lifecycle). */
export const MAX_RECORDED_IDS = 100;

/**
 * The resources an audit record names for a call refused before its parameters were validated:
 * every id field the raw parameters carry (KeyId, DestinationKeyId, KeyIds, DataKeyId,
 * DataKeyIds), then whatever the action's own `resources` finds besides (a ciphertext's key).
 * Such a call may be unsigned and its parameters anything: only well-formed ids are named, at
 * most MAX_RECORDED_IDS of each kind, so what an unauthenticated caller sends cannot grow the
 * trail beyond one small event (docs/reliability.md#audit-bounded).
 */
export function unvalidatedCallResources(spec: ActionSpec | undefined, params: Record<string, unknown>): CallResources {
  const named = [cmks(params.KeyId, params.DestinationKeyId), cmkList(params.KeyIds), dataKey(params.DataKeyId), dataKeyList(params.DataKeyIds)];
  if (spec) named.push(spec.resources(params as never));
  const keys: KeyRef[] = [];
  const seen = new Set<string>();
  for (const r of named) for (const k of r.keys) if (keys.length < MAX_RECORDED_IDS && WELL_FORMED_ID.test(k.keyId) && !seen.has(k.keyId) && seen.add(k.keyId)) keys.push(k);
  const dataKeys = unique(named.flatMap((r) => r.dataKeys).filter((id) => WELL_FORMED_ID.test(id))).slice(0, MAX_RECORDED_IDS);
  return { keys, dataKeys };
}

/** The audit record's ResourceName: the keys, then the data keys, or `*` for none. */
export function resourceNames(r: CallResources): string {
  if (r.keys.length === 0 && r.dataKeys.length === 0) return '*';
  return [...r.keys.map((k) => k.keyId), ...r.dataKeys].join(',') || '*';
}

function keysOf(ids: string[], regionless: boolean): CallResources {
  return ids.length === 0 ? NO_RESOURCES : { keys: unique(ids).map((keyId) => ({ keyId, regionless })), dataKeys: NONE };
}

function isId(id: unknown): id is string {
  return typeof id === 'string' && id !== '';
}

function unique(ids: string[]): string[] {
  return ids.length < 2 ? ids : [...new Set(ids)];
}
