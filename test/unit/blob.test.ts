import { describe, expect, it } from 'vitest';
import { aadPrefix, assembleBlob, BlobAlgorithm, canonicalContext, InvalidBlobError, InvalidContextError, parseBlob } from '../../src/crypto/blob.js';

// The CiphertextBlob format (docs/ciphertext.md): explicit offsets, unknown versions refused
// first, one canonical form of the EncryptionContext.

const keyId = '23e80852-1e38-41e9-b129-5cb9019b4b01';

describe('CiphertextBlob v1', () => {
  const prefix = aadPrefix({ algorithm: BlobAlgorithm.SM4_GCM, keyId, version: 7 });
  const blob = assembleBlob(prefix, Buffer.alloc(12, 0xaa), Buffer.alloc(21, 0xbb));

  it('lays out magic, format, algorithm, key id, version, IV, ciphertext and tag at fixed offsets', () => {
    expect(blob.subarray(0, 4)).toEqual(Buffer.from([0x48, 0x4b, 1, 2]));
    expect(blob.subarray(4, 20).toString('hex')).toBe(keyId.replace(/-/g, ''));
    expect(blob.readUInt32BE(20)).toBe(7);
    const p = parseBlob(blob);
    expect(p).toMatchObject({ algorithm: BlobAlgorithm.SM4_GCM, keyId, version: 7 });
    expect(p.iv).toEqual(Buffer.alloc(12, 0xaa));
    expect(p.sealed).toEqual(Buffer.alloc(21, 0xbb));
    expect(p.aadPrefix).toEqual(prefix);
  });

  it('refuses unknown magic, format versions and algorithms, and short input', () => {
    for (const [offset, value] of [
      [0, 0x00],
      [2, 2],
      [3, 9],
    ] as const) {
      const b = Buffer.from(blob);
      b[offset] = value;
      expect(() => parseBlob(b)).toThrow(InvalidBlobError);
    }
    expect(() => parseBlob(blob.subarray(0, 40))).toThrow(InvalidBlobError);
  });
});

describe('canonical EncryptionContext', () => {
  it('ignores key order and whitespace, at every depth', () => {
    expect(canonicalContext('{ "b": "2", "a": {"y":1, "x":[ {"q":1,"p":2} ]} }').toString()).toBe('{"a":{"x":[{"p":2,"q":1}],"y":1},"b":"2"}');
    expect(canonicalContext('{"a":"1","b":"2"}')).toEqual(canonicalContext('{"b":"2",\n"a":"1"}'));
  });

  it('distinguishes content, and treats absent and empty alike', () => {
    expect(canonicalContext('{"a":"1"}')).not.toEqual(canonicalContext('{"a":"2"}'));
    expect(canonicalContext(undefined)).toEqual(canonicalContext(''));
    expect(canonicalContext(undefined).length).toBe(0);
  });

  it('refuses repeated keys and numbers that do not read back as written: two different contexts never share a canonical form', () => {
    for (const bad of [
      '{"tenant":"B","tenant":"A"}',
      '{"a":{"x":1,"x":1}}',
      '{"a":"1","\\u0061":"2"}',
      '{"n":9007199254740993}',
      '{"n":1.0}',
      '{"n":1e2}',
      '{"n":-0}',
      '{"a":[1,{"n":0.10}]}',
    ])
      expect(() => canonicalContext(bad), bad).toThrow(InvalidContextError);
    for (const good of [
      '{"tenant":"A"}',
      '{"n":9007199254740992,"m":-1.5,"k":1e+21}',
      '{"a":{"x":1},"b":{"x":1}}',
      '{"a":[{"k":1},{"k":1}],"s":"\\"k\\":1,\\"k\\""}',
      '{"t":true,"f":false,"z":null}',
    ])
      expect(() => canonicalContext(good), good).not.toThrow();
  });

  it('refuses anything but a JSON object', () => {
    for (const bad of ['[1]', '"s"', '1', 'null', '{']) expect(() => canonicalContext(bad)).toThrow(/JSON object/);
  });
});
