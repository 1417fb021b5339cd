import type { CredentialIdentity } from '../../model/identity.js';
import { MemberAccountError } from '../errors.js';
import { isPlainObject } from '../validation.js';

// MemberAccount (and ListKeyDetail's, ListDataKeyDetail's MemberAccounts) lets an organisation's
// administrator act on a member account's keys (docs/contract/keys.md#member-account). There are no
// organisation members on premises: naming the caller's own account is the same as naming none;
// naming any other is refused, never silently answered with the caller's own keys.

function namesAnother(member: unknown, identity: CredentialIdentity): boolean {
  if (!isPlainObject(member)) return false;
  const { MemberUin: uin, MemberAppId: appId } = member;
  return (uin !== undefined && String(uin) !== identity.accountUin) || (appId !== undefined && String(appId) !== identity.appId);
}

/** Throws MemberAccountError when a validated request's MemberAccount(s) name an account other than the caller's. */
export function refuseOtherAccounts(params: Record<string, unknown>, identity: CredentialIdentity): void {
  const members = [params.MemberAccount, ...(Array.isArray(params.MemberAccounts) ? params.MemberAccounts : [])];
  if (members.some((m) => namesAnother(m, identity))) {
    throw new MemberAccountError('MemberAccount names another account: this service has no organisation members; omit it to act on your own account.');
  }
}
