import type { TokenCapabilities } from '../capabilities.js';
import type { Connection } from '../connection.js';
import type { ObjectStore } from '../objects.js';
import type { TokenProfile } from '../profile.js';

/** What the operation modules share: the connection, the object store, the profile and what the token offers. */
export interface TokenContext {
  readonly conn: Connection;
  readonly objects: ObjectStore;
  readonly profile: TokenProfile;
  capabilities(): TokenCapabilities;
}
