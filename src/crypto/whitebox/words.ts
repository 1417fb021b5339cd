// uint32 tables to and from their little-endian serialized form. On a little-endian host (every
// platform Node ships for in practice) that is a plain copy; loading a megabyte of tables word by
// word cost tens of milliseconds cold, which the client pays on every run.

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

export function writeWordsLE(src: Uint32Array, out: Buffer, at: number): number {
  const n = src.length * 4;
  if (LITTLE_ENDIAN) out.set(new Uint8Array(src.buffer, src.byteOffset, n), at);
  else for (let i = 0; i < src.length; i++) out.writeUInt32LE(src[i]!, at + 4 * i);
  return at + n;
}

export function readWordsLE(buf: Buffer, at: number, dst: Uint32Array): number {
  const n = dst.length * 4;
  if (LITTLE_ENDIAN) new Uint8Array(dst.buffer, dst.byteOffset, n).set(buf.subarray(at, at + n));
  else for (let i = 0; i < dst.length; i++) dst[i] = buf.readUInt32LE(at + 4 * i);
  return at + n;
}
