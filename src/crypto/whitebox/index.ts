// White-box AES-256 (Chow variant A) and SM4 (Xiao–Lai) table sets: generation, serialization,
// device-fingerprint binding and the CBC runtime. Pure: node built-ins, sm-crypto-v2 and this
// folder only. What the tables do and do not protect: docs/whitebox.md.

export { WHITEBOX_ALGORITHMS, WhiteboxAlgorithm, type WhiteboxAlgorithmSpec, WhiteboxConstruction, WhiteboxDirection } from './algorithms.js';
export { FINGERPRINT_PATTERN } from './binding.js';
export {
  FingerprintLimitExceededError,
  FingerprintNotBoundError,
  InvalidFingerprintError,
  WhiteboxError,
  WhiteboxFormatError,
  type WhiteboxFormatProblem,
  WhiteboxPaddingError,
  WhiteboxParameterError,
  WrongTableDirectionError,
} from './errors.js';
export { WB_FORMAT_VERSION, WB_HEADER_BYTES, WB_MAGIC, WB_MAX_SLOTS, WB_SEED_BYTES, WB_SLOT_BYTES, type WhiteboxHeader, describeTableSet } from './format.js';
export { type GenerateTablesOptions, type RebindTablesOptions, generateTables, rebindTables } from './generate.js';
export { referenceDecryptCbc, referenceEncryptCbc } from './reference.js';
export { type WhiteboxCipher, loadTables, whiteboxDecryptCbc, whiteboxEncryptCbc } from './runtime.js';
