// The SM4 pieces table generation needs (GB/T 32907-2016): the S-box, the linear transform L of
// the round function and the key schedule. Bulk SM4 encryption is node:crypto's (`sm4-cbc`); this
// file only feeds the generator and the tests, which check it against node and sm-crypto-v2.

export const SM4_SBOX = Uint8Array.from(
  Buffer.from(
    'd690e9fecce13db716b614c228fb2c052b679a762abe04c3aa44132649860699' +
      '9c4250f491ef987a33540b43edcfac62e4b31ca9c908e89580df94fa758f3fa6' +
      '4707a7fcf37317ba83593c19e6854fa8686b81b27164da8bf8eb0f4b70569d35' +
      '1e240e5e6358d1a225227c3b01217887d40046579fd327524c3602e7a0c4c89e' +
      'eabf8ad240c738b5a3f7f2cef96115a1e0ae5da49b341a55ad933230f58cb1e3' +
      '1df6e22e8266ca60c02923ab0d534e6fd5db3745defd8e2f03ff6a726d6c5b51' +
      '8d1baf92bbddbc7f11d95c411f105ad80ac13188a5cd7bbd2d74d012b8e5b4b0' +
      '8969974a0c96777e65b9f109c56ec68418f07dec3adc4d2079ee5f3ed7cb3948',
    'hex',
  ),
);

const FK = [0xa3b1bac6, 0x56aa3350, 0x677d9197, 0xb27022dc];

const rotl = (x: number, n: number) => ((x << n) | (x >>> (32 - n))) >>> 0;

/** τ: the S-box on each byte of a word. */
export function sm4Tau(x: number): number {
  return ((SM4_SBOX[x >>> 24]! << 24) | (SM4_SBOX[(x >>> 16) & 0xff]! << 16) | (SM4_SBOX[(x >>> 8) & 0xff]! << 8) | SM4_SBOX[x & 0xff]!) >>> 0;
}

/** L of the round function: B ⊕ (B<<<2) ⊕ (B<<<10) ⊕ (B<<<18) ⊕ (B<<<24). Linear over GF(2). */
export function sm4L(b: number): number {
  return (b ^ rotl(b, 2) ^ rotl(b, 10) ^ rotl(b, 18) ^ rotl(b, 24)) >>> 0;
}

/** The 32 encryption round keys rk_0..rk_31 of a 16-byte key. The caller wipes the result. */
export function sm4RoundKeys(key: Uint8Array): Uint32Array {
  const k = new Uint32Array(36);
  for (let i = 0; i < 4; i++) k[i] = (((key[4 * i]! << 24) | (key[4 * i + 1]! << 16) | (key[4 * i + 2]! << 8) | key[4 * i + 3]!) ^ FK[i]!) >>> 0;
  const rk = new Uint32Array(32);
  for (let i = 0; i < 32; i++) {
    let ck = 0;
    for (let j = 0; j < 4; j++) ck = (ck << 8) | (((4 * i + j) * 7) & 0xff);
    const t = sm4Tau((k[i + 1]! ^ k[i + 2]! ^ k[i + 3]! ^ ck) >>> 0);
    k[i + 4] = (k[i]! ^ t ^ rotl(t, 13) ^ rotl(t, 23)) >>> 0;
    rk[i] = k[i + 4]!;
  }
  k.fill(0);
  return rk;
}
