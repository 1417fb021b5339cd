/** A SubjectPublicKeyInfo as PEM, 64 base64 characters a line (RFC 7468). */
export function pem(spkiDer: Buffer): string {
  const b64 = spkiDer
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN PUBLIC KEY-----\n${b64}\n-----END PUBLIC KEY-----\n`;
}
