import type { Knex } from 'knex';
import * as m0001 from './0001_service_meta.js';
import * as m0002 from './0002_identities.js';
import * as m0003 from './0003_keys.js';
import * as m0004 from './0004_policies.js';
import * as m0005 from './0005_audit.js';
import * as m0006 from './0006_audit_checkpoints.js';
import * as m0007 from './0007_alarms.js';
import * as m0008 from './0008_coordination.js';
import * as m0009 from './0009_imports.js';
import * as m0010 from './0010_data_keys.js';
import * as m0011 from './0011_creation_intents.js';
import * as m0012 from './0012_console_passwords.js';
import * as m0013 from './0013_cache_epoch.js';
import * as m0014 from './0014_audit_lookup_by_time.js';
import * as m0015 from './0015_service_key_schemes.js';
import * as m0016 from './0016_v1_nonces.js';
import * as m0017 from './0017_sign_in_attempts.js';
import * as m0020 from './0020_whitebox_keys.js';

// Migrations are imported, not globbed, so the same list runs from src (tests) and dist.
const all: Record<string, Knex.Migration> = {
  '0001_service_meta': m0001,
  '0002_identities': m0002,
  '0003_keys': m0003,
  '0004_policies': m0004,
  '0005_audit': m0005,
  '0006_audit_checkpoints': m0006,
  '0007_alarms': m0007,
  '0008_coordination': m0008,
  '0009_imports': m0009,
  '0010_data_keys': m0010,
  '0011_creation_intents': m0011,
  '0012_console_passwords': m0012,
  '0013_cache_epoch': m0013,
  '0014_audit_lookup_by_time': m0014,
  '0015_service_key_schemes': m0015,
  '0016_v1_nonces': m0016,
  '0017_sign_in_attempts': m0017,
  '0020_whitebox_keys': m0020,
};

export const migrations: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(all).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => all[name]!,
};
