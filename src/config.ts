import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// The environment of README "Configuration", read in one place.

export type RegionStandard = 'FIPS' | 'SM';

export interface Region {
  name: string;
  standard: RegionStandard;
}

export interface Config {
  dataDir: string;
  host: string;
  port: number;
  databaseUrl: string | undefined;
  sqliteFile: string;
  pkcs11Module: string | undefined;
  /** C_Initialize pReserved (KMS_PKCS11_INIT_ARGS); the profile's `initArgs` when unset. */
  pkcs11InitArgs: string | undefined;
  tokenLabel: string;
  pin: string | undefined;
  pinFile: string;
  hsmProfile: string;
  /** Where SM keys live: crypto/sm-placement.ts (KMS_SM_ENGINE). */
  smEngine: 'auto' | 'software' | 'token';
  /** Where ML-DSA keys live: crypto/placement.ts (KMS_PQC_ENGINE). */
  pqcEngine: 'auto' | 'software' | 'token';
  softhsmConf: string;
  regions: Region[];
  logLevel: string;
  /** Per-action request limits (api/rate-limit.ts syntax); unset = none. */
  rateLimits: string | undefined;
  /** Request bodies above this are refused with RequestSizeLimitExceeded. */
  bodyLimitBytes: number;
  /** CMKs per account and region (GetServiceStatus CmkLimit; CreateKey refuses beyond it). */
  cmkLimit: number;
  /** Hosted data keys per account and region (GetServiceStatus.DataKeyLimit). */
  dataKeyLimit: number;
  /** Regions offering white-box keys (KMS_WHITEBOX_REGIONS); '*' every configured region. */
  whiteboxRegions: string[] | '*';
  /** Optional HTTPS listener (Tencent SDKs default to https). */
  tls: { certFile: string; keyFile: string; port: number } | undefined;
  /** KMS_METRICS_TOKEN: when set, /metrics answers only `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  /** KMS_ALLOW_PLAINTEXT_HTTP=1: plain HTTP on a non-loopback KMS_HOST (behind a TLS proxy); else refused (docs/deployment.md#tls). */
  allowPlaintextHttp: boolean;
  /** KMS_TC3_STRICT_SIGNED_HEADERS=1: TC3 requests must sign x-tc-action, x-tc-region and x-tc-version too. */
  tc3StrictSignedHeaders: boolean;
  /** Refuse requests when the audit trail cannot be written (default), or serve them unaudited. */
  auditFailClosed: boolean;
  /**
   * KMS_AUDIT_JOURNAL (on by default with SQLite, off with PostgreSQL): a call is answered once
   * its audit event is appended to the journal in auditJournalDir, and events move into SQL off
   * the request path (docs/reliability.md#audit-journal); off: answered once committed to SQL.
   */
  auditJournal: boolean;
  /** $KMS_DATA_DIR/audit-journal: written when auditJournal is on; a journal left there is recovered either way. */
  auditJournalDir: string;
  /** KMS_AUDIT_JOURNAL_MOVE_MS (50): how long an event waits in the journal before its batch moves into SQL. */
  auditJournalMoveMs: number;
  /** Audit events older than this are exported to auditExportDir and removed. */
  auditRetentionDays: number;
  auditExportDir: string;
  /** How often the server signs the audit chain head (when events were added). */
  auditCheckpointSeconds: number;
  /** Deletion alarms go to this webhook (kept but not sent when unset). */
  alarmWebhookUrl: string | undefined;
  alarmMaxAttempts: number;
  alarmDeliverySeconds: number;
  /**
   * How long the data plane may reuse mutable rows it read (credential status, attached
   * policies, key records); 0 reads them per request. Writes made by this process drop them at
   * once; a change made through another process or node is seen within this time.
   */
  cacheTtlMs: number;
  /** Worker processes of `serve` (node:cluster); 1 = the server runs in the main process. */
  workers: number;
  /** How often the server runs the lifecycle jobs; 0 = never (use `hsmkms jobs run`). */
  jobsIntervalSeconds: number;
  /** The most signature-v1 requests of one SecretId a process records within the replay window (docs/deployment.md#v1-replay). */
  v1NonceLimit: number;
  /** Console sessions end after this long without a request, and after consoleSessionMaxSeconds in any case. */
  consoleSessionIdleSeconds: number;
  consoleSessionMaxSeconds: number;
  rootUin: string | undefined;
  rootSecretId: string | undefined;
  rootSecretKey: string | undefined;
}

// The regions of the seed console (KMS guide, region list), each with its standard.
export const DEFAULT_REGIONS = 'ap-guangzhou:SM,ap-shanghai:SM,ap-beijing:SM,ap-hongkong:FIPS,ap-singapore:FIPS';

// The regions whose API pages list the white-box actions (docs/whitebox.md#regions).
export const DEFAULT_WHITEBOX_REGIONS = 'ap-beijing,ap-guangzhou,ap-hongkong,ap-shanghai';

export class ConfigError extends Error {
  readonly code = 'ConfigError';
}

export function parseRegions(spec: string): Region[] {
  const regions: Region[] = [];
  for (const item of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, standard] = item.split(':');
    if (!name || !/^[a-z0-9-]+$/.test(name)) throw new ConfigError(`KMS_REGIONS: bad region name in "${item}"`);
    if (standard !== 'FIPS' && standard !== 'SM') {
      throw new ConfigError(`KMS_REGIONS: region ${name} needs a standard, FIPS or SM ("${name}:FIPS")`);
    }
    if (regions.some((r) => r.name === name)) throw new ConfigError(`KMS_REGIONS: region ${name} listed twice`);
    regions.push({ name, standard });
  }
  if (regions.length === 0) throw new ConfigError('KMS_REGIONS: no region configured');
  return regions;
}

/** KMS_WHITEBOX_REGIONS: names of configured regions, or `*`; the default may name regions not configured (they offer nothing). */
export function parseWhiteboxRegions(spec: string | undefined, regions: Region[]): string[] | '*' {
  if (!spec) return DEFAULT_WHITEBOX_REGIONS.split(',');
  if (spec.trim() === '*') return '*';
  const names = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of names) if (!regions.some((r) => r.name === name)) throw new ConfigError(`KMS_WHITEBOX_REGIONS: ${name} is not a configured region (KMS_REGIONS)`);
  return names;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.KMS_DATA_DIR || './data');
  const port = Number(env.KMS_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`KMS_PORT: not a port: ${env.KMS_PORT}`);
  const regions = parseRegions(env.KMS_REGIONS || DEFAULT_REGIONS);
  return {
    dataDir,
    host: env.KMS_HOST || '127.0.0.1',
    port,
    databaseUrl: env.KMS_DATABASE_URL || undefined,
    sqliteFile: path.join(dataDir, 'hsmkms.sqlite'),
    pkcs11Module: env.KMS_PKCS11_MODULE || undefined,
    pkcs11InitArgs: env.KMS_PKCS11_INIT_ARGS || undefined,
    tokenLabel: env.KMS_PKCS11_TOKEN_LABEL || 'hsmkms',
    pin: env.KMS_PKCS11_PIN || undefined,
    pinFile: env.KMS_PKCS11_PIN_FILE || path.join(dataDir, 'user.pin'),
    hsmProfile: env.KMS_HSM_PROFILE || 'softhsm2',
    smEngine: engine('KMS_SM_ENGINE', env.KMS_SM_ENGINE),
    pqcEngine: engine('KMS_PQC_ENGINE', env.KMS_PQC_ENGINE),
    softhsmConf: env.SOFTHSM2_CONF || path.join(dataDir, 'softhsm2.conf'),
    regions,
    logLevel: env.KMS_LOG_LEVEL || 'info',
    rateLimits: env.KMS_RATE_LIMITS || undefined,
    bodyLimitBytes: positiveInt(env, 'KMS_MAX_BODY_BYTES', 1024 * 1024),
    cmkLimit: positiveInt(env, 'KMS_CMK_LIMIT', 100_000),
    dataKeyLimit: positiveInt(env, 'KMS_DATA_KEY_LIMIT', 100_000),
    whiteboxRegions: parseWhiteboxRegions(env.KMS_WHITEBOX_REGIONS, regions),
    tls: tlsConfig(env),
    metricsToken: env.KMS_METRICS_TOKEN || undefined,
    allowPlaintextHttp: flag(env, 'KMS_ALLOW_PLAINTEXT_HTTP'),
    tc3StrictSignedHeaders: flag(env, 'KMS_TC3_STRICT_SIGNED_HEADERS'),
    auditFailClosed: env.KMS_AUDIT_FAIL_OPEN !== '1',
    auditJournal: auditJournal(env),
    auditJournalDir: path.join(dataDir, 'audit-journal'),
    auditJournalMoveMs: positiveInt(env, 'KMS_AUDIT_JOURNAL_MOVE_MS', 50),
    auditRetentionDays: positiveInt(env, 'KMS_AUDIT_RETENTION_DAYS', 30),
    auditExportDir: path.resolve(env.KMS_AUDIT_EXPORT_DIR || path.join(dataDir, 'audit-export')),
    auditCheckpointSeconds: positiveInt(env, 'KMS_AUDIT_CHECKPOINT_SECONDS', 60),
    alarmWebhookUrl: env.KMS_ALARM_WEBHOOK_URL || undefined,
    alarmMaxAttempts: positiveInt(env, 'KMS_ALARM_MAX_ATTEMPTS', 6),
    alarmDeliverySeconds: positiveInt(env, 'KMS_ALARM_DELIVERY_SECONDS', 10),
    cacheTtlMs: env.KMS_CACHE_TTL_MS === '0' ? 0 : positiveInt(env, 'KMS_CACHE_TTL_MS', 60_000),
    workers: positiveInt(env, 'KMS_WORKERS', 1),
    jobsIntervalSeconds: env.KMS_JOBS_INTERVAL_SECONDS === '0' ? 0 : positiveInt(env, 'KMS_JOBS_INTERVAL_SECONDS', 60),
    v1NonceLimit: positiveInt(env, 'KMS_V1_NONCE_LIMIT', 500_000),
    consoleSessionIdleSeconds: positiveInt(env, 'KMS_CONSOLE_SESSION_IDLE_SECONDS', 900),
    consoleSessionMaxSeconds: positiveInt(env, 'KMS_CONSOLE_SESSION_MAX_SECONDS', 8 * 3600),
    rootUin: env.KMS_ROOT_UIN || undefined,
    rootSecretId: env.KMS_ROOT_SECRET_ID || undefined,
    rootSecretKey: env.KMS_ROOT_SECRET_KEY || undefined,
  };
}

/**
 * On by default with SQLite (one machine: every process sharing the database shares the data
 * dir). Off by default with PostgreSQL: a node's unmoved events live on its own disk, and a node
 * lost with its disk would lose them (docs/reliability.md#audit-journal); `on` for one node.
 */
function auditJournal(env: NodeJS.ProcessEnv): boolean {
  const v = env.KMS_AUDIT_JOURNAL || (env.KMS_DATABASE_URL ? 'off' : 'on');
  if (v !== 'on' && v !== 'off') throw new ConfigError(`KMS_AUDIT_JOURNAL: must be on or off, not "${v}"`);
  return v === 'on';
}

function engine(name: string, raw: string | undefined): Config['smEngine'] {
  const v = raw || 'auto';
  if (v !== 'auto' && v !== 'software' && v !== 'token') throw new ConfigError(`${name}: must be auto, software or token, not "${v}"`);
  return v;
}

/** `1` on, unset/empty/`0` off; anything else is a mistake worth a refusal, not a guess. */
function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '' || raw === '0') return false;
  if (raw === '1') return true;
  throw new ConfigError(`${name}: must be 1 or 0, not "${raw}"`);
}

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${name}: not a positive integer: ${raw}`);
  return n;
}

function tlsConfig(env: NodeJS.ProcessEnv): Config['tls'] {
  const certFile = env.KMS_TLS_CERT_FILE;
  const keyFile = env.KMS_TLS_KEY_FILE;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new ConfigError('set both KMS_TLS_CERT_FILE and KMS_TLS_KEY_FILE for the HTTPS listener');
  const port = Number(env.KMS_TLS_PORT ?? 8443);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`KMS_TLS_PORT: not a port: ${env.KMS_TLS_PORT}`);
  return { certFile, keyFile, port };
}

/** The user PIN: KMS_PKCS11_PIN, else the PIN file setup wrote (0600). */
export function readPin(config: Config): string {
  if (config.pin) return config.pin;
  if (!existsSync(config.pinFile)) {
    throw new ConfigError(`no PKCS#11 user PIN: set KMS_PKCS11_PIN or KMS_PKCS11_PIN_FILE (looked for ${config.pinFile}; scripts/setup writes it)`);
  }
  const pin = readFileSync(config.pinFile, 'utf8').trim();
  if (!pin) throw new ConfigError(`PIN file ${config.pinFile} is empty`);
  return pin;
}
