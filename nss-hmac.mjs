import pkcs11js from 'pkcs11js';
const P = pkcs11js; const p = new P.PKCS11(); p.load(process.env.LIB);
p.C_Initialize(process.env.INIT_ARGS ? { libraryParameters: process.env.INIT_ARGS + ' ', flags: P.CKF_OS_LOCKING_OK } : { flags: P.CKF_OS_LOCKING_OK });
const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.split('\0')[0].trim() === 'hsmkms');
const s = p.C_OpenSession(slot, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION);
p.C_Login(s, P.CKU_USER, process.env.PIN);
const h = p.C_GenerateKey(s, { mechanism: P.CKM_GENERIC_SECRET_KEY_GEN }, [{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_GENERIC_SECRET }, { type: P.CKA_TOKEN, value: false }, { type: P.CKA_SIGN, value: true }, { type: P.CKA_VERIFY, value: true }, { type: P.CKA_VALUE_LEN, value: 32 }]);
const msg = Buffer.from('abc');
p.C_SignInit(s, { mechanism: P.CKM_SHA256_HMAC }, h); const mac = Buffer.from(p.C_Sign(s, msg, Buffer.alloc(32)));
for (const [n, m] of [['good', mac], ['flipped first byte', Buffer.from(mac).fill(mac[0] ^ 1, 0, 1)], ['flipped last byte', Buffer.concat([mac.subarray(0, 31), Buffer.from([mac[31] ^ 1])])], ['short', mac.subarray(0, 16)]]) {
  try { p.C_VerifyInit(s, { mechanism: P.CKM_SHA256_HMAC }, h); console.log(n, p.C_Verify(s, msg, m)); } catch (e) { console.log(n, e.message.split('\n')[0]); }
}
p.C_Finalize();
