import crypto from 'node:crypto';
import { sm2 } from 'sm-crypto-v2';
import { describe, expect, it } from 'vitest';
import { sm2CiphertextToRaw, sm2Digest, sm2SignatureToDer } from '../../src/crypto/sm2.js';
import { DecryptFailedError } from '../../src/pkcs11/errors.js';

// The conversions used when SM2 runs in a token with vendor mechanisms (raw values in and out),
// checked against sm-crypto-v2's own encodings.

describe('SM2 formats for token mechanisms', () => {
  const { privateKey, publicKey } = sm2.generateKeyPairHex();

  it('raw r ‖ s → DER equals sm-crypto-v2’s DER signature and verifies', () => {
    for (let i = 0; i < 50; i++) {
      const msg = crypto.randomBytes(1 + i);
      const der = Buffer.from(sm2.doSignature(msg, privateKey, { hash: true, der: true }), 'hex');
      const raw = Buffer.from(sm2.doSignature(msg, privateKey, { hash: true, der: false }), 'hex');
      // the two calls draw different k: re-encode the raw one and verify it instead
      expect(raw).toHaveLength(64);
      const reencoded = sm2SignatureToDer(raw);
      expect(sm2.doVerifySignature(msg, reencoded.toString('hex'), publicKey, { hash: true, der: true })).toBe(true);
      expect(der[0]).toBe(0x30);
    }
  });

  it('e = SM3(Z ‖ M) matches what sm-crypto-v2 signs in RAW mode (DIGEST signature over e verifies in RAW)', () => {
    const msg = Buffer.from('message');
    const e = sm2Digest(publicKey, msg);
    expect(e).toHaveLength(32);
    const sigOverE = sm2.doSignature(e, privateKey, { hash: false, der: true });
    expect(sm2.doVerifySignature(msg, sigOverE, publicKey, { hash: true, der: true })).toBe(true);
  });

  it('ASN.1 C1C3C2 → raw 04 ‖ x ‖ y ‖ C3 ‖ C2, decryptable by sm-crypto-v2 in raw C1C3C2 mode', () => {
    for (let i = 0; i < 30; i++) {
      const pt = crypto.randomBytes(1 + i * 7);
      const asn1 = Buffer.from(sm2.doEncrypt(pt, publicKey, 1, { asn1: true }) as string, 'hex');
      const raw = sm2CiphertextToRaw(asn1);
      expect(raw[0]).toBe(0x04);
      expect(raw).toHaveLength(1 + 64 + 32 + pt.length);
      const out = sm2.doDecrypt(raw.subarray(1).toString('hex'), privateKey, 1, { output: 'array' }) as Uint8Array;
      expect(Buffer.from(out)).toEqual(pt);
    }
  });

  it('refuses malformed ASN.1 ciphertexts cleanly', () => {
    const asn1 = Buffer.from(sm2.doEncrypt(Buffer.from('x'), publicKey, 1, { asn1: true }) as string, 'hex');
    for (const bad of [Buffer.alloc(0), asn1.subarray(0, 10), Buffer.concat([asn1, Buffer.from([0])]), Buffer.from([0x30, 0x85, 1, 2, 3, 4, 5]), crypto.randomBytes(120)]) {
      expect(() => sm2CiphertextToRaw(bad)).toThrow(DecryptFailedError);
    }
  });
});
