import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { sm4 } from 'sm-crypto-v2';
import { WhiteboxAlgorithm, type WhiteboxAlgorithmSpec, type WhiteboxDirection } from './algorithms.js';
import { RandomStream } from './drbg.js';
import { FingerprintLimitExceededError, InvalidFingerprintError, WhiteboxParameterError } from './errors.js';
import { WB_MAX_SLOTS, WB_SEED_BYTES, WB_SLOT_BYTES } from './format.js';
import { type Affine, affineInverse, randomAffinePair, randomPermutation } from './gf2.js';

// Device-fingerprint binding (docs/whitebox.md). The tables end in an output encoding G the
// runtime must strip; G⁻¹ is expanded from a 32-byte seed s. An unbound set carries s in clear.
// A bound set carries one slot per identity: AEAD_{K_i}(s) with
//   K_i ‖ N_i = HKDF(identity, salt = table-set id, info = "hsmkms-wb-fp-v1" ‖ KeyId)
// HKDF-SHA256 and AES-256-GCM for AES keys; HKDF-SM3 (node's OpenSSL) and SM4-GCM (RFC 8998,
// sm-crypto-v2) for SM4 keys, so an SM table set uses SM primitives only for secrets. The slot
// nonce is HMAC_{N_i}("hsmkms-wb-fp-nonce-v1" ‖ header ‖ s)[0..12]: a set regenerated from the
// same seeds is byte-identical, and one K_i (shared by a key's EncryptKey and DecryptKey when they
// share a table-set id) never meets one nonce with another header or seed. The AAD is the 48-byte
// header, so a slot cannot be moved to another key, direction or table set.
// Identities are not secret; this is a deployment control, not access control.

export const FINGERPRINT_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{14}-[0-9a-f]{16}$/;

const FP_INFO = Buffer.from('hsmkms-wb-fp-v1', 'latin1');
const NONCE_LABEL = Buffer.from('hsmkms-wb-fp-nonce-v1', 'latin1');
const OUTPUT_LABEL = Buffer.from('hsmkms-wb-output-v1', 'latin1');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Checks a list to bind (at most 200, each of the collector's shape) and drops repeats, keeping
 * the first occurrence, so slots follow the caller's order.
 */
export function checkIdentities(identities: readonly string[]): string[] {
  const out: string[] = [];
  for (const id of identities) {
    if (typeof id !== 'string' || !FINGERPRINT_PATTERN.test(id)) throw new InvalidFingerprintError('device fingerprint identity has the wrong shape');
    if (!out.includes(id)) out.push(id);
  }
  if (out.length > WB_MAX_SLOTS) throw new FingerprintLimitExceededError(`at most ${WB_MAX_SLOTS} device fingerprints per white-box key`);
  return out;
}

/** What a user may type for --fingerprint: surrounding blanks and upper-case hex are forgiven. */
export function normaliseIdentity(identity: string): string {
  return identity.trim().toLowerCase();
}

function outputLabel(algorithm: WhiteboxAlgorithm, direction: WhiteboxDirection, keyId: Buffer): Buffer {
  return Buffer.concat([OUTPUT_LABEL, Buffer.from([algorithm, direction]), keyId]);
}

function checkSeed(seed: Uint8Array): void {
  if (seed.length !== WB_SEED_BYTES) throw new WhiteboxParameterError(`output-encoding seed must be ${WB_SEED_BYTES} bytes`);
}

/** AES: sixteen byte bijections. `gInv[256p + y]` undoes output byte p; `g` is what the tables apply. */
export function aesOutputEncoding(seed: Uint8Array, direction: WhiteboxDirection, keyId: Buffer): { g: Uint8Array; gInv: Uint8Array } {
  checkSeed(seed);
  const rng = new RandomStream('aes', seed, outputLabel(WhiteboxAlgorithm.AES_256, direction, keyId));
  const g = new Uint8Array(16 * 256);
  const gInv = new Uint8Array(16 * 256);
  for (let p = 0; p < 16; p++) {
    const perm = randomPermutation(256, rng);
    gInv.set(perm.p, 256 * p);
    g.set(perm.inv, 256 * p);
  }
  rng.wipe();
  return { g, gInv };
}

/**
 * SM4: one invertible affine map per output word. Byte bijections cannot be merged into the affine
 * output maps of Xiao–Lai without new table types; an affine G costs nothing and binds as well
 * (which is to say: as a deployment control only).
 */
export function sm4OutputEncoding(seed: Uint8Array, direction: WhiteboxDirection, keyId: Buffer): { g: Affine[]; gInv: Affine[] } {
  checkSeed(seed);
  const rng = new RandomStream('sm', seed, outputLabel(WhiteboxAlgorithm.SM4, direction, keyId));
  const gInv = [0, 1, 2, 3].map(() => randomAffinePair(32, rng).map);
  rng.wipe();
  return { g: gInv.map(affineInverse), gInv };
}

interface SlotKeys {
  aead: Buffer;
  nonce: Buffer;
}

function slotKeys(spec: WhiteboxAlgorithmSpec, identity: string, tableSetId: Buffer, keyId: Buffer): SlotKeys {
  const aeadBytes = spec.family === 'aes' ? 32 : 16;
  const okm = Buffer.from(hkdfSync(spec.family === 'aes' ? 'sha256' : 'sm3', Buffer.from(identity, 'utf8'), tableSetId, Buffer.concat([FP_INFO, keyId]), aeadBytes + 32));
  const keys = { aead: Buffer.from(okm.subarray(0, aeadBytes)), nonce: Buffer.from(okm.subarray(aeadBytes)) };
  okm.fill(0);
  return keys;
}

function wipeKeys(k: SlotKeys): void {
  k.aead.fill(0);
  k.nonce.fill(0);
}

/** nonce ‖ sealed seed ‖ tag, 60 bytes. */
export function sealSlot(spec: WhiteboxAlgorithmSpec, identity: string, tableSetId: Buffer, keyId: Buffer, header: Buffer, seed: Uint8Array): Buffer {
  checkSeed(seed);
  const k = slotKeys(spec, identity, tableSetId, keyId);
  try {
    const nonce = createHmac(spec.family === 'aes' ? 'sha256' : 'sm3', k.nonce)
      .update(NONCE_LABEL)
      .update(header)
      .update(seed)
      .digest()
      .subarray(0, NONCE_BYTES);
    let sealed: Buffer;
    let tag: Buffer;
    if (spec.family === 'aes') {
      const c = createCipheriv('aes-256-gcm', k.aead, nonce);
      c.setAAD(header);
      sealed = Buffer.concat([c.update(seed), c.final()]);
      tag = c.getAuthTag();
    } else {
      const r = sm4.encrypt(seed, k.aead, { mode: 'gcm', iv: nonce, associatedData: header, outputTag: true, output: 'array', padding: 'none' });
      sealed = Buffer.from(r.output);
      tag = Buffer.from(r.tag!);
    }
    const slot = Buffer.concat([nonce, sealed, tag]);
    if (slot.length !== WB_SLOT_BYTES) throw new Error('white-box slot has the wrong size');
    return slot;
  } finally {
    wipeKeys(k);
  }
}

/** The seed if one of the slots opens under this identity, else undefined. */
export function openSlots(spec: WhiteboxAlgorithmSpec, identity: string, tableSetId: Buffer, keyId: Buffer, header: Buffer, slots: Buffer[]): Buffer | undefined {
  const k = slotKeys(spec, identity, tableSetId, keyId);
  try {
    for (const slot of slots) {
      const nonce = slot.subarray(0, NONCE_BYTES);
      const sealed = slot.subarray(NONCE_BYTES, NONCE_BYTES + WB_SEED_BYTES);
      const tag = slot.subarray(NONCE_BYTES + WB_SEED_BYTES);
      if (tag.length !== TAG_BYTES) continue;
      try {
        if (spec.family === 'aes') {
          const d = createDecipheriv('aes-256-gcm', k.aead, nonce);
          d.setAAD(header);
          d.setAuthTag(tag);
          return Buffer.concat([d.update(sealed), d.final()]);
        }
        return Buffer.from(sm4.decrypt(sealed, k.aead, { mode: 'gcm', iv: nonce, associatedData: header, tag, output: 'array', padding: 'none' }));
      } catch {
        // Not this slot: the tag does not verify under this identity's key.
      }
    }
    return undefined;
  } finally {
    wipeKeys(k);
  }
}
