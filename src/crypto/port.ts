// The token port's failures the domain reacts to, re-exported so that nothing above src/crypto
// imports src/pkcs11. They are thrown by the token layer and by the software module alike.
export { DecryptFailedError, HsmError, InvalidInputError, MaterialMismatchError, MaterialSizeError, MechanismUnsupportedError, TokenUnavailableError } from '../pkcs11/errors.js';
export type { TokenCapabilities } from '../pkcs11/capabilities.js';
export type { TokenObjectInfo } from '../pkcs11/objects.js';
export type { ObjectName } from '../pkcs11/templates.js';
