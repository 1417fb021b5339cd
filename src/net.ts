import type { IncomingMessage } from 'node:http';

/** The peer's address, an IPv4-mapped IPv6 one written as IPv4 (what CAM's qcs:ip and the audit trail hold). */
export function sourceIpOf(req: Pick<IncomingMessage, 'socket'>): string {
  const ip = req.socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
