import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

// The environment of ../shared/interface.md, read in one place.

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
  tokenLabel: string;
  pin: string | undefined;
  pinFile: string;
  hsmProfile: string;
  softhsmConf: string;
  regions: Region[];
  logLevel: string;
}

// The regions of the seed console (KMS guide, region list), each with its standard.
export const DEFAULT_REGIONS = 'ap-guangzhou:SM,ap-shanghai:SM,ap-beijing:SM,ap-hongkong:FIPS,ap-singapore:FIPS';

export class ConfigError extends Error {
  readonly code = 'ConfigError';
}

export function parseRegions(spec: string): Region[] {
  const regions: Region[] = [];
  for (const item of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = path.resolve(env.KMS_DATA_DIR || './data');
  const port = Number(env.KMS_PORT ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`KMS_PORT: not a port: ${env.KMS_PORT}`);
  return {
    dataDir,
    host: env.KMS_HOST || '127.0.0.1',
    port,
    databaseUrl: env.KMS_DATABASE_URL || undefined,
    sqliteFile: path.join(dataDir, 'hsmkms.sqlite'),
    pkcs11Module: env.KMS_PKCS11_MODULE || undefined,
    tokenLabel: env.KMS_PKCS11_TOKEN_LABEL || 'hsmkms',
    pin: env.KMS_PKCS11_PIN || undefined,
    pinFile: env.KMS_PKCS11_PIN_FILE || path.join(dataDir, 'user.pin'),
    hsmProfile: env.KMS_HSM_PROFILE || 'softhsm2',
    softhsmConf: env.SOFTHSM2_CONF || path.join(dataDir, 'softhsm2.conf'),
    regions: parseRegions(env.KMS_REGIONS || DEFAULT_REGIONS),
    logLevel: env.KMS_LOG_LEVEL || 'info',
  };
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
