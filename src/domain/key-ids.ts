/** CMK ids: the cloud's lower-case UUID shape (docs/contract/keys.md#identifiers). Token objects named so are CMK versions; other names are the service's own. */
export const CMK_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
