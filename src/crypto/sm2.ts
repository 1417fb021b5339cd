import { sm2 } from 'sm-crypto-v2';
import { DecryptFailedError } from '../pkcs11/errors.js';

// SM2 in the software module (GB/T 32918; SoftHSM2 has no GM/T mechanisms). The private key
// arrives unsealed from the KEK as a Buffer that the caller wipes; sm-crypto-v2 takes hex
// strings, which JavaScript cannot wipe — the one copy we cannot clear, kept as short-lived as
// the call. Signatures are DER, over SM3(Z ‖ M) with the default user id 1234567812345678.

const SM2_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a811ccf5501822d034200', 'hex');

/** The uncompressed point (hex, 04‖x‖y) from an SM2 SubjectPublicKeyInfo PEM. */
export function sm2PointFromPem(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  if (der.length !== SM2_SPKI_PREFIX.length + 65 || !der.subarray(0, SM2_SPKI_PREFIX.length).equals(SM2_SPKI_PREFIX)) throw new Error('not an SM2 public key');
  return der.subarray(SM2_SPKI_PREFIX.length).toString('hex');
}

/** DIGEST mode signs a precomputed e = SM3(Z ‖ M) (32 bytes); RAW hashes with Z itself. */
export function sm2Sign(privateKey: Buffer, message: Buffer, isDigest: boolean): Buffer {
  const sig = sm2.doSignature(message, privateKey.toString('hex'), { hash: !isDigest, der: true });
  return Buffer.from(sig, 'hex');
}

export function sm2Verify(publicPointHex: string, message: Buffer, signature: Buffer, isDigest: boolean): boolean {
  try {
    return sm2.doVerifySignature(message, signature.toString('hex'), publicPointHex, { hash: !isDigest, der: true });
  } catch {
    return false;
  }
}

/** C1C3C2 in ASN.1 (GM/T 0009), as AsymmetricSm2Decrypt takes it. */
export function sm2Decrypt(privateKey: Buffer, ciphertext: Buffer): Buffer {
  let out: Uint8Array;
  try {
    out = sm2.doDecrypt(ciphertext.toString('hex'), privateKey.toString('hex'), 1, { asn1: true, output: 'array' });
  } catch {
    throw new DecryptFailedError('SM2 decrypt: failed');
  }
  // Every SM library answers a failed decryption with empty output instead of an error (docs/contract/token-facts.md).
  if (!out || out.length === 0) throw new DecryptFailedError('SM2 decrypt: failed');
  return Buffer.from(out);
}

// ---- formats for SM2 in a token (vendor mechanisms take and give raw values) --------------

/** e = SM3(Z ‖ M) with the default user id, what a token's SM2 signing mechanism signs (RAW mode). */
export function sm2Digest(publicPointHex: string, message: Buffer): Buffer {
  return Buffer.from(sm2.getHash(message.toString('hex'), publicPointHex), 'hex');
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function derInteger(unsigned: Buffer): Buffer {
  let i = 0;
  while (i < unsigned.length - 1 && unsigned[i] === 0) i++;
  let body = unsigned.subarray(i);
  if (body[0]! & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

/** Raw r ‖ s (64 bytes) → DER SEQUENCE { r INTEGER, s INTEGER }, as the API returns SM2 signatures. */
export function sm2SignatureToDer(raw: Buffer): Buffer {
  if (raw.length !== 64) throw new Error('SM2 signature must be 64 bytes r ‖ s');
  const body = Buffer.concat([derInteger(raw.subarray(0, 32)), derInteger(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** Reads one DER TLV at `at`; returns the value and the next offset. */
function readTlv(der: Buffer, at: number, tag: number): { value: Buffer; next: number } {
  if (der[at] !== tag) throw new DecryptFailedError('SM2 ciphertext: malformed');
  let len = der[at + 1];
  let off = at + 2;
  if (len === undefined) throw new DecryptFailedError('SM2 ciphertext: malformed');
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw new DecryptFailedError('SM2 ciphertext: malformed');
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | der[off + i]!;
    off += n;
  }
  if (off + len > der.length) throw new DecryptFailedError('SM2 ciphertext: malformed');
  return { value: der.subarray(off, off + len), next: off + len };
}

/** GM/T 0009 ASN.1 C1C3C2 → raw 04 ‖ x ‖ y ‖ C3 ‖ C2, what a token's SM2 decryption takes. */
export function sm2CiphertextToRaw(asn1: Buffer): Buffer {
  const seq = readTlv(asn1, 0, 0x30);
  if (seq.next !== asn1.length) throw new DecryptFailedError('SM2 ciphertext: malformed');
  const x = readTlv(seq.value, 0, 0x02);
  const y = readTlv(seq.value, x.next, 0x02);
  const c3 = readTlv(seq.value, y.next, 0x04);
  const c2 = readTlv(seq.value, c3.next, 0x04);
  const coord = (v: Buffer) => {
    const t = v.length > 32 ? v.subarray(v.length - 32) : v;
    return Buffer.concat([Buffer.alloc(32 - t.length), t]);
  };
  if (c3.value.length !== 32 || c2.value.length === 0) throw new DecryptFailedError('SM2 ciphertext: malformed');
  return Buffer.concat([Buffer.from([0x04]), coord(x.value), coord(y.value), c3.value, c2.value]);
}
