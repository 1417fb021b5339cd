// The white-box client runtime alone: what a device needs to use the tables it was given — no
// raw key, no token, no service (docs/whitebox.md#client-runtime). Published as `hsmkms/whitebox`
// (package.json "exports"); `hsmkms whitebox encrypt|decrypt` is its command line. Generation
// stays out of this entry point: a client has no key to generate from.

export { WhiteboxAlgorithm, WhiteboxDirection } from './algorithms.js';
export { FINGERPRINT_PATTERN } from './binding.js';
export {
  FingerprintNotBoundError,
  WhiteboxError,
  WhiteboxFormatError,
  type WhiteboxFormatProblem,
  WhiteboxPaddingError,
  WhiteboxParameterError,
  WrongTableDirectionError,
} from './errors.js';
export { describeTableSet, type WhiteboxHeader } from './format.js';
export { loadTables, type WhiteboxCipher, whiteboxDecryptCbc, whiteboxEncryptCbc } from './runtime.js';
