// Response shapes (SDK XxxResponse), for tests that hold a response body against the SDK model
// (response-check.ts). Generated once from kms_models.d.ts with the TypeScript compiler API, then
// hand-checked; Int vs UInt from docs/contract/keys.md and docs/contract/actions.md (Int: KeyMetadata.Type, IsSyncReplica,
// SyncStatus; GetServiceStatus.InvalidType). Optional fields may also be null (docs/contract/protocol.md#envelope: "Absent
// outputs may be omitted or null"); required ones (GenerateRandom, GetPublicKey,
// GetParametersForImport) may not.

export type FieldType = 'string' | 'int' | 'uint' | 'boolean' | { readonly list: FieldType } | { readonly struct: FieldSpec };
export interface FieldDef {
  readonly type: FieldType;
  readonly optional: boolean;
}
export type FieldSpec = { readonly [field: string]: FieldDef };

export const req = (type: FieldType): FieldDef => ({ type, optional: false });
export const opt = (type: FieldType): FieldDef => ({ type, optional: true });
export const list = (type: FieldType): FieldType => ({ list: type });
export const struct = (fields: FieldSpec): FieldType => ({ struct: fields });
