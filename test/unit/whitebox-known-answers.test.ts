import crypto from 'node:crypto';
import { sm4 } from 'sm-crypto-v2';
import { describe, expect, it } from 'vitest';
import { aes256RoundKeys } from '../../src/crypto/whitebox/aes.js';
import { WhiteboxAlgorithm, WhiteboxDirection, generateTables, loadTables } from '../../src/crypto/whitebox/index.js';
import { sm4RoundKeys } from '../../src/crypto/whitebox/sm4.js';

// The tables compute exactly AES-256 and SM4: published known answers through E_K and back
// through D_K, and random keys block by block against node:crypto (OpenSSL), an implementation
// that shares nothing with the generator.

const hex = (s: string) => Buffer.from(s, 'hex');
const KEY_ID = '6f1c2a7e-0d4b-4c1e-9a55-3b2f8e7d6c10';

function block(tables: Buffer, input: Buffer): Buffer {
  const out = Buffer.alloc(16);
  loadTables(tables).block(input, 0, out, 0);
  return out;
}

function ecb(name: 'aes-256-ecb' | 'sm4-ecb', key: Buffer, data: Buffer, decrypt: boolean): Buffer {
  const c = decrypt ? crypto.createDecipheriv(name, key, null) : crypto.createCipheriv(name, key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(data), c.final()]);
}

describe('key schedules the generator starts from', () => {
  it('AES-256 expansion ends in the last round key of FIPS-197 Appendix A.3', () => {
    const w = aes256RoundKeys(hex('603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4'));
    expect(Buffer.from(w.subarray(224, 240)).toString('hex')).toBe('fe4890d1e6188d0b046df344706c631e');
  });

  it('SM4 round keys rk_0 and rk_31 of the GB/T 32907 example key', () => {
    const rk = sm4RoundKeys(hex('0123456789abcdeffedcba9876543210'));
    expect(rk[0]!.toString(16)).toBe('f12186f9');
    expect(rk[31]!.toString(16)).toBe('9124a012');
  });
});

describe('AES-256 white-box tables (Chow variant A)', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const pt = hex('00112233445566778899aabbccddeeff');
  const ct = hex('8ea2b7ca516745bfeafc49904b496089');

  it('FIPS-197 C.3 through the encryption tables E_K and back through the decryption tables D_K', () => {
    const e = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.ENCRYPT, key, keyId: KEY_ID });
    const d = generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.DECRYPT, key, keyId: KEY_ID });
    expect(block(e, pt).toString('hex')).toBe(ct.toString('hex'));
    expect(block(d, ct).toString('hex')).toBe(pt.toString('hex'));
  });

  it('random keys: 64 random blocks each way agree with node aes-256-ecb', () => {
    for (let n = 0; n < 2; n++) {
      const k = crypto.randomBytes(32);
      const blocks = crypto.randomBytes(64 * 16);
      const enc = loadTables(generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.ENCRYPT, key: k, keyId: KEY_ID }));
      const dec = loadTables(generateTables({ algorithm: WhiteboxAlgorithm.AES_256, direction: WhiteboxDirection.DECRYPT, key: k, keyId: KEY_ID }));
      const e = Buffer.alloc(blocks.length);
      const d = Buffer.alloc(blocks.length);
      for (let at = 0; at < blocks.length; at += 16) {
        enc.block(blocks, at, e, at);
        dec.block(blocks, at, d, at);
      }
      expect(e.equals(ecb('aes-256-ecb', k, blocks, false))).toBe(true);
      expect(d.equals(ecb('aes-256-ecb', k, blocks, true))).toBe(true);
    }
  });
});

describe('SM4 white-box tables (Xiao–Lai)', () => {
  const v = hex('0123456789abcdeffedcba9876543210');
  const ct = '681edf34d206965e86b3e94f536e4246';

  it('GB/T 32907 example (key = plaintext) through E_K and back through D_K, as node sm4-ecb and sm-crypto-v2 compute it', () => {
    expect(ecb('sm4-ecb', v, v, false).toString('hex')).toBe(ct);
    expect(sm4.encrypt(v, v, { padding: 'none' })).toBe(ct);
    const e = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: v, keyId: KEY_ID });
    const d = generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.DECRYPT, key: v, keyId: KEY_ID });
    expect(block(e, v).toString('hex')).toBe(ct);
    expect(block(d, hex(ct)).toString('hex')).toBe(v.toString('hex'));
  });

  it('random keys: 64 random blocks each way agree with node sm4-ecb', () => {
    for (let n = 0; n < 3; n++) {
      const k = crypto.randomBytes(16);
      const blocks = crypto.randomBytes(64 * 16);
      const enc = loadTables(generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.ENCRYPT, key: k, keyId: KEY_ID }));
      const dec = loadTables(generateTables({ algorithm: WhiteboxAlgorithm.SM4, direction: WhiteboxDirection.DECRYPT, key: k, keyId: KEY_ID }));
      const e = Buffer.alloc(blocks.length);
      const d = Buffer.alloc(blocks.length);
      for (let at = 0; at < blocks.length; at += 16) {
        enc.block(blocks, at, e, at);
        dec.block(blocks, at, d, at);
      }
      expect(e.equals(ecb('sm4-ecb', k, blocks, false))).toBe(true);
      expect(d.equals(ecb('sm4-ecb', k, blocks, true))).toBe(true);
    }
  });
});
