import { capabilitiesOf, RELIED_ON, type TokenCapabilities } from './capabilities.js';
import { Connection, type Handle } from './connection.js';
import { flagsOf } from './library.js';
import { CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS, mechanismNumber } from './mechanisms.js';
import { ObjectStore, ulong, type TokenObjectInfo } from './objects.js';
import { AsymmetricOps, type PublicKeyExport } from './ops/asymmetric.js';
import type { TokenContext } from './ops/context.js';
import { KeyGenerator, type GeneratedKey, type GenerateOptions, type GenerateSpec } from './ops/generate.js';
import { ImportOps, type ImportAesKeyRequest } from './ops/import.js';
export { StagingRefusedError, type FingerprintMac, type ImportPath } from './ops/import.js';
import { SymmetricOps, type GcmResult } from './ops/symmetric.js';
import type { TokenProfile } from './profile.js';
import { labelOf, type ObjectName } from './templates.js';
import type { RsaDecryptScheme, SignScheme } from './mechanisms.js';

// The token port: the only place the service speaks PKCS#11. Handles, CKA and CKM constants
// never leave src/pkcs11; callers name objects by service key id and version, and learn what
// the token can do from `capabilities`. This class only composes: the connection
// (connection.ts), the objects (objects.ts) and the operations (ops/).

export type { EcCurve, RsaDecryptScheme, SignScheme, UnwrapScheme } from './mechanisms.js';
export type { GcmResult } from './ops/symmetric.js';
export type { PublicKeyExport } from './ops/asymmetric.js';
export type { GenerateSpec, GeneratedKey, RsaBits } from './ops/generate.js';
export type { TokenObjectInfo } from './objects.js';
export type { TokenCapabilities } from './capabilities.js';

export interface TokenOptions {
  modulePath: string;
  tokenLabel: string;
  pin: string;
  profile: TokenProfile;
  /** Sessions for *Async calls; the profile's size when absent. */
  poolSize?: number;
  /** In-memory session copies of AES keys kept at most (profile.sessionKeyCopies). */
  maxSessionCopies?: number;
  /** How long an operation waits for the token to come back before TokenUnavailableError. */
  recoverTimeoutMs?: number;
  /** How long open() tries again when it did not find or could not read the token (default 2 s). */
  openRetryMs?: number;
  /** C_Initialize pReserved (NSS softoken's configuration string). */
  initArgs?: string;
  /**
   * An object the service keeps in the token (the KEK): the health probe looks for it, once this
   * process has seen it (finds answer "none" without an error when a token's storage is gone).
   * Tokens need keep no data object of ours: NSS softoken refuses persistent CKO_DATA objects.
   */
  healthObject?: ObjectName;
  onEvent?: (event: string, detail: Record<string, unknown>) => void;
}

export interface MechanismStatus {
  name: string;
  /** What the profile says (its `available`); null when the profile does not list it. */
  expected: boolean | null;
  /** Whether C_GetMechanismList has it; for the parameter variant CKM_RSA_PKCS_OAEP_SHA256, the profile's word. */
  offered: boolean;
  use: string;
}

export interface TokenStatus {
  module: string;
  profile: string;
  slot: string;
  tokenLabel: string;
  serial: string;
  manufacturer: string;
  model: string;
  loggedIn: boolean;
  objects: { secret: number; private: number; public: number; data: number; total: number };
  mechanisms: MechanismStatus[];
}

function trimmed(s: string): string {
  return s.replace(/[\s\0]+$/, '');
}

export class Token {
  private readonly conn: Connection;
  private readonly objects: ObjectStore;
  private readonly symmetric: SymmetricOps;
  private readonly asymmetric: AsymmetricOps;
  private readonly generator: KeyGenerator;
  private readonly imports: ImportOps;
  private caps: TokenCapabilities | undefined;
  private readonly recoverTimeoutMs: number;

  private constructor(private readonly opts: TokenOptions) {
    this.recoverTimeoutMs = opts.recoverTimeoutMs ?? 5_000;
    this.conn = new Connection({
      modulePath: opts.modulePath,
      tokenLabel: opts.tokenLabel,
      pin: opts.pin,
      library: { flags: flagsOf(opts.profile.initializeFlags), initArgs: opts.initArgs },
      poolSize: opts.poolSize ?? opts.profile.sessionPoolSize,
      recoverTimeoutMs: this.recoverTimeoutMs,
      probe: (s) => this.probe(s),
      onEvent: opts.onEvent,
    });
    this.conn.onReset(() => {
      this.caps = undefined;
    });
    this.objects = new ObjectStore(this.conn, { maxCopies: opts.profile.sessionKeyCopies ? (opts.maxSessionCopies ?? 10_000) : 0, onEvent: opts.onEvent });
    const context: TokenContext = { conn: this.conn, objects: this.objects, profile: opts.profile, capabilities: () => this.capabilities };
    this.symmetric = new SymmetricOps(context);
    this.asymmetric = new AsymmetricOps(context);
    this.generator = new KeyGenerator(context, this.asymmetric);
    this.imports = new ImportOps(context);
  }

  static async open(opts: TokenOptions): Promise<Token> {
    const token = new Token(opts);
    try {
      await token.conn.open(opts.openRetryMs ?? 2_000);
      // Whether the health object is there from the start (a serving token: yes).
      if (opts.healthObject) await token.exists(opts.healthObject);
      return token;
    } catch (err) {
      token.close();
      throw err;
    }
  }

  get profile(): TokenProfile {
    return this.opts.profile;
  }

  /** What this token can do (its mechanism list read through the profile). */
  get capabilities(): TokenCapabilities {
    this.caps ??= capabilitiesOf(this.conn.offered, this.opts.profile);
    return this.caps;
  }

  close(): void {
    this.conn.close();
  }

  private healthSeen = false;

  /** The health object is there, or this process never saw it (the token answers; `token init` has not run). */
  private probe(s: Handle): boolean {
    const h = this.opts.healthObject;
    if (!h) return true;
    const found = this.objects.find(s, labelOf(h)).length > 0;
    if (found) this.healthSeen = true;
    return found || !this.healthSeen;
  }

  // Objects

  async generate(name: ObjectName, spec: GenerateSpec, opts?: GenerateOptions): Promise<GeneratedKey> {
    const made = await this.generator.generate(name, spec, opts);
    if (this.isHealthObject(name)) this.healthSeen = true;
    return made;
  }

  async exists(name: ObjectName): Promise<boolean> {
    const found = await this.objects.exists(name);
    if (found && this.isHealthObject(name)) this.healthSeen = true;
    return found;
  }

  private isHealthObject(name: ObjectName): boolean {
    const h = this.opts.healthObject;
    return h !== undefined && h.keyId === name.keyId && h.version === name.version;
  }

  /** Destroy every object carrying the name (both halves of a pair). Idempotent. */
  destroy(name: ObjectName): Promise<number> {
    return this.objects.destroy(name);
  }

  /** Every object the service named in the token; fills the handle cache (ObjectStore.list). */
  listObjects(): Promise<TokenObjectInfo[]> {
    return this.objects.list();
  }

  // Operations

  aesGcmEncrypt(name: ObjectName, plaintext: Buffer, aad?: Buffer, ivFrom?: 'service' | 'token'): Promise<GcmResult> {
    return this.symmetric.aesGcmEncrypt(name, plaintext, aad, ivFrom);
  }

  aesGcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad?: Buffer): Promise<Buffer> {
    return this.symmetric.aesGcmDecrypt(name, iv, ciphertext, aad);
  }

  sm4GcmEncrypt(name: ObjectName, plaintext: Buffer, aad: Buffer): Promise<GcmResult> {
    return this.symmetric.sm4GcmEncrypt(name, plaintext, aad);
  }

  sm4GcmDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer, aad: Buffer): Promise<Buffer> {
    return this.symmetric.sm4GcmDecrypt(name, iv, ciphertext, aad);
  }

  aesCbcPadEncrypt(name: ObjectName, iv: Buffer, plaintext: Buffer): Promise<Buffer> {
    return this.symmetric.aesCbcPadEncrypt(name, iv, plaintext);
  }

  aesCbcPadDecrypt(name: ObjectName, iv: Buffer, ciphertext: Buffer): Promise<Buffer> {
    return this.symmetric.aesCbcPadDecrypt(name, iv, ciphertext);
  }

  hmacSha256(name: ObjectName, data: Buffer): Promise<Buffer> {
    return this.symmetric.hmacSha256(name, data);
  }

  cmac(name: ObjectName, data: Buffer): Promise<Buffer> {
    return this.symmetric.cmac(name, data);
  }

  random(bytes: number): Promise<Buffer> {
    return this.symmetric.random(bytes);
  }

  rsaDecrypt(name: ObjectName, data: Buffer, scheme: RsaDecryptScheme): Promise<Buffer> {
    return this.asymmetric.rsaDecrypt(name, data, scheme);
  }

  sign(name: ObjectName, scheme: SignScheme, digest: Buffer, format: 'raw' | 'der' = 'der'): Promise<Buffer> {
    return this.asymmetric.sign(name, scheme, digest, format);
  }

  verify(name: ObjectName, scheme: SignScheme, digest: Buffer, signature: Buffer, format: 'raw' | 'der' = 'der'): Promise<boolean> {
    return this.asymmetric.verify(name, scheme, digest, signature, format);
  }

  exportPublicKey(name: ObjectName): Promise<PublicKeyExport> {
    return this.asymmetric.exportPublicKey(name);
  }

  sm2SignDigest(name: ObjectName, e: Buffer): Promise<Buffer> {
    return this.asymmetric.sm2SignDigest(name, e);
  }

  sm2Decrypt(name: ObjectName, c1c3c2: Buffer): Promise<Buffer> {
    return this.asymmetric.sm2Decrypt(name, c1c3c2);
  }

  mlDsaSign(name: ObjectName, message: Buffer): Promise<Buffer> {
    return this.asymmetric.mlDsaSign(name, message);
  }

  importAesKey(request: ImportAesKeyRequest): Promise<Buffer> {
    return this.imports.importAesKey(request);
  }

  // Diagnostics

  /**
   * /readyz: C_GetTokenInfo plus the health object. A failing probe reconnects for at most
   * `timeoutMs` (so readiness returns with the token) rather than the full back-off.
   */
  healthy(timeoutMs = Math.min(1_000, this.recoverTimeoutMs)): Promise<boolean> {
    return this.conn.healthy(timeoutMs);
  }

  async status(): Promise<TokenStatus> {
    const objects = await this.listObjects();
    return this.conn.run('token status', 'other', (s) => {
      const { slot, info, session, mechanisms: list } = this.conn.describe(s);
      const offered = new Set(list);
      const profiled = this.opts.profile.mechanisms;
      const caps = capabilitiesOf(offered, this.opts.profile);
      const mechanisms: MechanismStatus[] = RELIED_ON.map(({ name, use }) => {
        const n = mechanismNumber(name);
        return { name, expected: profiled[name]?.available ?? null, offered: name === 'CKM_RSA_PKCS_OAEP_SHA256' ? caps.rsa.oaepSha256 : n !== undefined && offered.has(n), use };
      });
      const count = (k: TokenObjectInfo['kind']) => objects.filter((o) => o.kind === k).length;
      return {
        module: this.opts.modulePath,
        profile: this.opts.profile.name,
        slot: ulong(slot).toString(),
        tokenLabel: trimmed(info.label),
        serial: trimmed(info.serialNumber),
        manufacturer: trimmed(info.manufacturerID),
        model: trimmed(info.model),
        loggedIn: session.state === CKS_RW_USER_FUNCTIONS || session.state === CKS_RO_USER_FUNCTIONS,
        objects: { secret: count('secret'), private: count('private'), public: count('public'), data: count('data'), total: objects.length },
        mechanisms,
      };
    });
  }
}
