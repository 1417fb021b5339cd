import pkcs11js from 'pkcs11js';
import { loadProfile } from '../../src/pkcs11/profile.js';
import { MODULE_UNDER_TEST } from './modules.js';

// Raw pkcs11js access for tests that check the token independently of the token layer
// (attributes, refused exports, sessions closed under the pool), on the module under test. The
// library is usually initialised by the Token in this process already (then C_Initialize answers
// CKR_CRYPTOKI_ALREADY_INITIALIZED); login state is per process.

export interface Raw {
  p11: pkcs11js.PKCS11;
  slot: Buffer;
  session: Buffer;
  find(label: string, cls?: number): Buffer[];
  close(): void;
}

/** `token`: a module token's settings (its KMS_PKCS11_* variables); the module under test's profile when absent. */
export function rawSession(tokenLabel = 'hsmkms', token: { KMS_PKCS11_MODULE?: string; KMS_PKCS11_INIT_ARGS?: string } = {}): Raw {
  const p11 = new pkcs11js.PKCS11();
  p11.load(token.KMS_PKCS11_MODULE ?? loadProfile(MODULE_UNDER_TEST).module);
  try {
    // pkcs11js drops the last byte of libraryParameters: a blank is what it drops.
    p11.C_Initialize(
      token.KMS_PKCS11_INIT_ARGS ? { libraryParameters: `${token.KMS_PKCS11_INIT_ARGS} `, flags: pkcs11js.CKF_OS_LOCKING_OK } : { flags: pkcs11js.CKF_OS_LOCKING_OK },
    );
  } catch (err) {
    if ((err as pkcs11js.Pkcs11Error).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
  }
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.replace(/[\s\0]+$/, '') === tokenLabel);
  if (!slot) throw new Error(`no token ${tokenLabel}`);
  const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  return {
    p11,
    slot,
    session,
    find(label, cls) {
      const t: pkcs11js.Template = [{ type: pkcs11js.CKA_LABEL, value: label }];
      if (cls !== undefined) t.push({ type: pkcs11js.CKA_CLASS, value: cls });
      p11.C_FindObjectsInit(session, t);
      const out = p11.C_FindObjects(session, 16);
      p11.C_FindObjectsFinal(session);
      return out;
    },
    close() {
      try {
        p11.C_CloseSession(session);
      } catch {
        /* gone already */
      }
    },
  };
}

/** Put an AES key of known value into the token (tests only: the service never does this). */
export function createKnownAesKey(raw: Raw, label: string, value: Buffer, usage: { encrypt?: boolean; unwrap?: boolean }): Buffer {
  return raw.p11.C_CreateObject(raw.session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_MODIFIABLE, value: true },
    { type: pkcs11js.CKA_ENCRYPT, value: !!usage.encrypt },
    { type: pkcs11js.CKA_DECRYPT, value: !!usage.encrypt },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: !!usage.unwrap },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_VALUE, value },
  ]);
}

/** The CKR name a raw call fails with, or 'OK'. */
export function ckrOfCall(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (err) {
    return (err as Error).message;
  }
}
