import type { IncomingMessage } from 'node:http';

/** A literal loopback address or `localhost`: a listener there is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The peer's address, an IPv4-mapped IPv6 one written as IPv4 (what CAM's qcs:ip and the audit trail hold). */
export function sourceIpOf(req: Pick<IncomingMessage, 'socket'>): string {
  const ip = req.socket.remoteAddress ?? '';
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
