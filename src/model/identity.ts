// Accounts, users and API keys as the service holds them (types shared by store, domain, API and console).

export type CredentialStatus = 'Enabled' | 'Disabled';

export interface AccountRow {
  uin: string;
  appId: string;
  createdAt: number;
}

export type UserStatus = 'Enabled' | 'Disabled';

export interface UserRow {
  uin: string;
  accountUin: string;
  name: string;
  isRoot: boolean;
  createdAt: number;
  status?: UserStatus;
}

export interface CredentialRow {
  secretId: string;
  userUin: string;
  sealedSecretKey: Buffer;
  status: CredentialStatus;
  createdAt: number;
}

/** A credential with the identity it authenticates, as the API layer needs it per request. */
export interface CredentialIdentity extends CredentialRow {
  accountUin: string;
  appId: string;
  userName: string;
  isRoot: boolean;
  userStatus: UserStatus;
}

/** A user as the console knows it after a password sign-in (no API key involved). */
export interface ConsoleUserIdentity {
  userUin: string;
  accountUin: string;
  appId: string;
  userName: string;
  isRoot: boolean;
  userStatus: UserStatus;
}

/** The identity lookups the console makes (store/identity-repo.ts IdentityRepo has them). */
export interface ConsoleIdentityLookup {
  findCredentialIdentity(secretId: string): Promise<CredentialIdentity | undefined>;
  findConsoleUser(by: { uin: string } | { accountUin: string; name: string }): Promise<(ConsoleUserIdentity & { passwordHash: string | null }) | undefined>;
  setConsolePasswordHash(accountUin: string, name: string, hash: string | null): Promise<boolean>;
}

/**
 * A call made for an identity already authenticated by other means (the console's session):
 * what the API pipeline (src/api/router.ts) takes, and what the console hands it.
 */
export interface AuthenticatedCall {
  identity: CredentialIdentity;
  version: string;
  action: string;
  region: string | undefined;
  params: Record<string, unknown>;
  sourceIp: string;
  language?: string;
}
