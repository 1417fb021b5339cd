import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sm3, sm4 } from 'sm-crypto-v2';
import { describe, expect, it } from 'vitest';

// Published known-answer vectors (test/vectors/sm.json, sources noted there) for the SM
// primitives the software module relies on, checked against sm-crypto-v2 (what the service
// uses) and Node's OpenSSL (an independent implementation) where it has the primitive.

const vectors = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'vectors', 'sm.json'), 'utf8'));
const hex = (s: string) => Buffer.from(s, 'hex');

describe('SM3 (GB/T 32905)', () => {
  it.each(vectors.sm3 as Array<{ message_hex: string; digest_hex: string; source: string }>)('$source', (v) => {
    expect(sm3(hex(v.message_hex))).toBe(v.digest_hex);
    expect(crypto.createHash('sm3').update(hex(v.message_hex)).digest('hex')).toBe(v.digest_hex);
  });
});

describe('SM4 block cipher (GB/T 32907)', () => {
  it.each(vectors.sm4_ecb as Array<{ key_hex: string; plaintext_hex: string; ciphertext_hex: string; source: string }>)('$source', (v) => {
    expect(sm4.encrypt(hex(v.plaintext_hex), v.key_hex, { padding: 'none' })).toBe(v.ciphertext_hex);
    const c = crypto.createCipheriv('sm4-ecb', hex(v.key_hex), null);
    c.setAutoPadding(false);
    expect(Buffer.concat([c.update(hex(v.plaintext_hex)), c.final()]).toString('hex')).toBe(v.ciphertext_hex);
  });
});

describe('SM4-GCM (RFC 8998), the AEAD under SM-region CMKs', () => {
  it.each(vectors.sm4_gcm as Array<Record<string, string>>)('$source', (v) => {
    const r = sm4.encrypt(hex(v.plaintext_hex!), v.key_hex!, {
      mode: 'gcm',
      iv: hex(v.iv_hex!),
      associatedData: hex(v.aad_hex!),
      outputTag: true,
      output: 'array',
      padding: 'none',
    });
    expect(Buffer.from(r.output).toString('hex')).toBe(v.ciphertext_hex);
    expect(Buffer.from(r.tag!).toString('hex')).toBe(v.tag_hex);
    const back = sm4.decrypt(hex(v.ciphertext_hex!), v.key_hex!, {
      mode: 'gcm',
      iv: hex(v.iv_hex!),
      associatedData: hex(v.aad_hex!),
      tag: hex(v.tag_hex!),
      output: 'array',
      padding: 'none',
    });
    expect(Buffer.from(back).toString('hex')).toBe(v.plaintext_hex);
  });

  it('refuses a wrong tag or AAD instead of returning plaintext', () => {
    const v = vectors.sm4_gcm[0] as Record<string, string>;
    const badTag = hex(v.tag_hex!);
    badTag[0]! ^= 1;
    const opts = { mode: 'gcm' as const, iv: hex(v.iv_hex!), output: 'array' as const, padding: 'none' as const };
    expect(() => sm4.decrypt(hex(v.ciphertext_hex!), v.key_hex!, { ...opts, associatedData: hex(v.aad_hex!), tag: badTag })).toThrow();
    expect(() => sm4.decrypt(hex(v.ciphertext_hex!), v.key_hex!, { ...opts, associatedData: Buffer.from('other'), tag: hex(v.tag_hex!) })).toThrow();
  });
});
