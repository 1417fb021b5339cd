import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, REPO } from './cli.js';

// `hsmkms serve` from dist/ as a child process with its log in a file: for tests that measure the
// server's memory, kill it with SIGKILL, or restart it on the same data dir.

export interface ServerProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  /** host:port, as the SDKs and the signature helpers want it */
  endpoint: string;
  url: string;
  logFile: string;
  /** Resident set size from /proc (bytes). */
  rssBytes(): number;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** A full collection in the server (needs gcOnSignal), then a pause for it to finish. */
  collectGarbage(): Promise<void>;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  port?: number;
  /** Preload a SIGUSR2 handler that runs a full garbage collection (see collectGarbage). */
  gcOnSignal?: boolean;
}

export async function spawnServer(env: NodeJS.ProcessEnv, logFile: string, opts: SpawnOptions = {}): Promise<ServerProcess> {
  const p = opts.port ?? (await freePort());
  const fd = openSync(logFile, 'a');
  const nodeArgs = opts.gcOnSignal ? ['--expose-gc', '--require', path.join(REPO, 'test', 'helpers', 'gc-on-signal.cjs')] : [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(REPO, 'bin', 'hsmkms.js'), 'serve'], {
    env: { ...env, KMS_PORT: String(p), KMS_HOST: '127.0.0.1' },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const url = `http://127.0.0.1:${p}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hsmkms serve exited ${child.exitCode}: ${readFileSync(logFile, 'utf8').slice(-2000)}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error('hsmkms serve did not start within 60 s');
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return {
    child,
    pid: child.pid!,
    port: p,
    endpoint: `127.0.0.1:${p}`,
    url,
    logFile,
    rssBytes: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return Number(m?.[1] ?? 0) * 1024;
    },
    kill,
    collectGarbage: async () => {
      child.kill('SIGUSR2');
      await new Promise((r) => setTimeout(r, 300));
    },
    stop: () => kill('SIGTERM'),
  };
}

/** The server's heap in use, from its Prometheus metrics (prom-client default metrics). */
export async function heapUsedBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^hsmkms_nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return Number(m?.[1] ?? NaN);
}
