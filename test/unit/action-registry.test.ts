import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { aadPrefix, assembleBlob, BlobAlgorithm } from '../../src/crypto/blob.js';
import { mlKem768PublicKeyPem, PqcAlgorithm, pqcEncrypt } from '../../src/crypto/pqc.js';
import { cloudAuditActions, KMS_ACTIONS, KMS_CAM, kmsActions, READ_ONLY_KMS_ACTIONS, TENCENT_QPS, validateKmsParams, type KmsAction } from '../../src/api/actions/index.js';
import { KMS_CAM as OLD_KMS_CAM } from '../../src/auth/kms-cam-table.js';
import { READ_ONLY_KMS_ACTIONS as OLD_READ_ONLY } from '../../src/auth/policy.js';
import { TENCENT_QPS as OLD_QPS } from '../../src/api/rate-limit.js';
import { kmsRequestSchemas as OLD_SCHEMAS, kmsResponseFields as OLD_RESPONSES, validateKmsParams as oldValidate } from '../../src/api/kms-schemas.js';
import { dataKeyIdsOfCall, keyIdsOfCall } from '../../src/domain/call-keys.js';
import { kmsService } from '../../src/api/router.js';
import { ParameterError } from '../../src/api/kms-schemas.js';
import { hostileValue } from '../helpers/fuzz-requests.js';

// The action registry (src/api/actions) against the tables it replaces: every view derived from
// it must equal the hand-kept table it stands for, before those tables go.

const actions = [...KMS_ACTIONS];

describe('the registry derives today’s tables', () => {
  it('describes exactly the actions of the schema table', () => {
    expect(Object.keys(kmsActions).sort()).toEqual(Object.keys(OLD_SCHEMAS).sort());
    expect([...actions].sort()).toEqual(Object.keys(OLD_SCHEMAS).sort());
  });

  it('CAM levels and IP-condition support equal KMS_CAM', () => {
    expect(KMS_CAM).toEqual({ ...OLD_KMS_CAM });
  });

  it('QPS equals TENCENT_QPS', () => {
    expect(TENCENT_QPS).toEqual(OLD_QPS);
  });

  it('the read actions are READ_ONLY_KMS_ACTIONS', () => {
    expect([...READ_ONLY_KMS_ACTIONS].sort()).toEqual([...OLD_READ_ONLY].sort());
  });

  it('the region-less actions are those the services listed', () => {
    const regionless = [...Object.entries(kmsActions), ...Object.entries(cloudAuditActions)].filter(([, s]) => 'regionless' in s && s.regionless).map(([a]) => a);
    expect(regionless.sort()).toEqual([...kmsService({}).regionless, 'LookUpEvents'].sort());
  });

  it.each(actions)('%s: response fields equal kmsResponseFields', (a) => {
    expect(kmsActions[a].response).toEqual(OLD_RESPONSES[a]);
  });

  it.each(actions)('%s: request schema has the same JSON Schema', (a) => {
    expect(z.toJSONSchema(kmsActions[a].schema, { unrepresentable: 'any' })).toEqual(z.toJSONSchema(OLD_SCHEMAS[a], { unrepresentable: 'any' }));
  });

  it.each(actions)('%s: validation answers alike (fuzzed parameters, both forms)', (a) => {
    const fields = [...Object.keys(OLD_SCHEMAS[a].shape), 'Unknown'];
    const value = fc.oneof(hostileValue, fc.uuid(), fc.constantFrom('', 'aGVsbG8=', '{"a":"b"}', '1', 'true', 'ALL', 'RAW', 'AES_256'), fc.integer({ min: -2, max: 40 }));
    const params = fc.dictionary(fc.constantFrom(...fields), value, { maxKeys: fields.length });
    const outcome = (validate: () => unknown) => {
      try {
        return { ok: validate() };
      } catch (err) {
        if (!(err instanceof ParameterError)) throw err;
        return { code: err.code, field: err.field, message: err.message };
      }
    };
    fc.assert(
      fc.property(params, fc.constantFrom('json' as const, 'flat' as const), (p, form) => {
        expect(outcome(() => validateKmsParams(a, p, form))).toEqual(outcome(() => oldValidate(a, p, form)));
      }),
      { numRuns: 200 },
    );
  });
});

const KEY_A = '11111111-1111-4111-8111-111111111111';
const KEY_B = '22222222-2222-4222-8222-222222222222';
const KEY_C = '33333333-3333-4333-8333-333333333333';
const DATA_1 = '44444444-4444-4444-8444-444444444444';
const DATA_2 = '55555555-5555-4555-8555-555555555555';

const blobOf = (keyId: string) => assembleBlob(aadPrefix({ algorithm: BlobAlgorithm.AES_256_GCM, keyId, version: 1 }), randomBytes(12), randomBytes(32)).toString('base64');
const pqcBlobOf = (keyId: string) =>
  pqcEncrypt({ algorithm: PqcAlgorithm.ML_KEM_768_AES_256_GCM, keyId, version: 1 }, mlKem768PublicKeyPem(randomBytes(64)), Buffer.from('x'), randomBytes(32), randomBytes(12)).toString('base64');

/** Sample requests of an action: its id fields filled, then each one left out in turn. */
function samples(action: KmsAction): Array<Record<string, unknown>> {
  const fill: Record<string, unknown> = {
    KeyId: KEY_A,
    DestinationKeyId: KEY_B,
    KeyIds: [KEY_A, KEY_C],
    DataKeyId: DATA_1,
    DataKeyIds: [DATA_1, DATA_2],
    CiphertextBlob: action === 'PostQuantumCryptoDecrypt' ? pqcBlobOf(KEY_C) : blobOf(KEY_C),
    ImportKeyMaterial: blobOf(KEY_C),
    ImportType: 1,
  };
  const fields = Object.keys(kmsActions[action].schema.shape).filter((f) => f in fill);
  const full = Object.fromEntries(fields.map((f) => [f, fill[f]]));
  const out = [full, ...fields.map((f) => Object.fromEntries(Object.entries(full).filter(([k]) => k !== f)))];
  if (action === 'ImportDataKey') out.push({ ...full, ImportType: 2 }, { ImportType: 2, ImportKeyMaterial: full.ImportKeyMaterial }, { ImportType: 1, ImportKeyMaterial: 'not a blob' });
  if (fields.includes('CiphertextBlob')) out.push({ ...full, CiphertextBlob: 'bm90IGEgYmxvYg==' }, { ...full, CiphertextBlob: blobOf(KEY_B) });
  return out;
}

describe('the registry’s resources are the keys today’s call-keys finds', () => {
  it.each(actions)('%s', (a) => {
    for (const params of samples(a)) {
      const r = kmsActions[a].resources(params as never);
      expect(r.keys.map((k) => k.keyId), JSON.stringify(params)).toEqual(keyIdsOfCall(a, params));
      expect(r.dataKeys).toEqual(dataKeyIdsOfCall(params));
      // ImportDataKey's resource is its CMK in the region-less form (seed 004); no other action's.
      expect(r.keys.every((k) => k.regionless === (a === 'ImportDataKey'))).toBe(true);
    }
  });
});
