import { readFileSync, writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { closeServices, ensureServiceKeys, openServices, openToken, serviceKeyOrder, type Services } from '../app.js';
import { resolvePlacement } from '../crypto/placement.js';
import { checkServiceKeys, existingServiceKeys, planServiceKeys } from '../crypto/service-keys.js';
import { bootstrapSecretId, removeRetiredBootstrapFile, rootCredentialsFile } from '../domain/identity.js';
import { KEY_USAGES, missingMechanisms, variantFor } from '../domain/key-usages.js';
import { loadConfig, type Config } from '../config.js';
import { createLogger } from '../log.js';
import { provisionSoftHsm } from '../pkcs11/softhsm.js';
import type { Token, TokenStatus } from '../pkcs11/token.js';
import { migrate, openDatabase } from '../store/db.js';
import { startCluster, startServer } from '../server.js';
import { verifyExport } from '../audit/trail.js';
import { ConsolePasswords, generatePassword } from '../console/passwords.js';
import { IdentityRepo } from '../store/identity-repo.js';
import { addWhiteboxCommands } from './whitebox.js';

// `npx hsmkms …` (README "CLI"). Every command that prints data takes --json;
// failures exit non-zero with one line on stderr (bin/hsmkms.js).

function print(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human()}\n`);
}

interface TokenReport extends TokenStatus {
  /** The service keys exist and a round trip with each works: `serve` would start. */
  ready: boolean;
  /** CKM names the service keys need and the token lacks. */
  missing: string[];
  serviceKeys: { kek: { scheme: string | null; present: boolean }; auditSigningKey: { scheme: string | null; present: boolean }; problems: string[] };
  /** Per region standard: each key usage, and what the token lacks for it (empty: served). */
  keyUsages: Array<{ standard: string; keyUsage: string; missing: string[] }>;
  placement: { detail: string[] } | { error: string };
  /** What an operator must know about this module (its profile's declared gaps). */
  warnings: string[];
}

/** What `token status` prints: everything read from the token alone, so it works on any token. */
async function tokenReport(t: Token, config: Config): Promise<TokenReport> {
  const status = await t.status();
  const order = serviceKeyOrder(t.profile);
  const plan = planServiceKeys(t.capabilities, order);
  const keys = await existingServiceKeys(t, order);
  const problems = keys ? await checkServiceKeys(keys) : [];
  const keyUsages = (['FIPS', 'SM'] as const).flatMap((standard) =>
    KEY_USAGES.flatMap((keyUsage) => {
      const v = variantFor({ standard }, keyUsage);
      return v ? [{ standard, keyUsage, missing: missingMechanisms(v, t.capabilities) }] : [];
    }),
  );
  let placement: TokenReport['placement'];
  try {
    placement = { detail: resolvePlacement(t.capabilities, { sm: config.smEngine, pqc: config.pqcEngine }).detail };
  } catch (err) {
    placement = { error: (err as Error).message };
  }
  return {
    ...status,
    ready: keys !== undefined && problems.length === 0,
    missing: plan.missing,
    serviceKeys: {
      kek: { scheme: keys?.kek.scheme ?? plan.kek ?? null, present: keys !== undefined },
      auditSigningKey: { scheme: keys?.signer.scheme ?? plan.audit ?? null, present: keys !== undefined },
      problems,
    },
    keyUsages,
    placement,
    warnings:
      t.profile.enforcesNonExtractable === false
        ? [`${t.profile.name}: this module lets keys marked CKA_EXTRACTABLE=false be wrapped out; it is no custody boundary (docs/hsm.md)`]
        : [],
  };
}

function humanReport(s: TokenReport & { reconciliation: unknown }): string {
  const r = s.reconciliation as { orphanObjectsDestroyed?: string[]; rowsWithoutObjects?: string[]; unknownObjects?: string[] } | null;
  const lines = [
    `module:    ${s.module}`,
    `profile:   ${s.profile}`,
    `slot:      ${s.slot}`,
    `token:     ${s.tokenLabel} (serial ${s.serial}, ${s.manufacturer} ${s.model})`,
    `logged in: ${s.loggedIn ? 'yes' : 'no'}`,
    `objects:   ${s.objects.total} (secret ${s.objects.secret}, private ${s.objects.private}, public ${s.objects.public}, data ${s.objects.data})`,
    `ready:     ${s.ready ? 'yes' : 'no'}${s.missing.length ? ` (the token lacks ${s.missing.join(', ')})` : ''}`,
    `KEK:       ${s.serviceKeys.kek.scheme ?? 'none possible'}${s.serviceKeys.kek.present ? '' : ' (not made yet: npx hsmkms token init)'}`,
    `audit key: ${s.serviceKeys.auditSigningKey.scheme ?? 'none possible'}`,
    ...s.serviceKeys.problems.map((p) => `problem:   ${p}`),
    ...s.warnings.map((w) => `warning:   ${w}`),
    'mechanisms (token offers / profile says):',
    ...s.mechanisms.map((m) => `  ${m.name.padEnd(28)} ${m.offered ? 'yes' : 'no '} / ${m.expected === null ? 'n/a' : m.expected ? 'yes' : 'no '}  ${m.use}`),
    'key usages:',
    ...s.keyUsages.map((u) => `  ${u.standard.padEnd(4)} ${u.keyUsage.padEnd(34)} ${u.missing.length ? `no (lacks ${u.missing.join(', ')})` : 'yes'}`),
    `placement: ${'detail' in s.placement ? s.placement.detail.join('; ') : s.placement.error}`,
  ];
  if (r)
    lines.push(
      `orphan token objects: ${r.orphanObjectsDestroyed?.join(', ') || 'none'}`,
      `keys missing token objects: ${r.rowsWithoutObjects?.join(', ') || 'none'}`,
      `token objects this database does not know (kept; docs/hsm.md#unknown-objects): ${r.unknownObjects?.join(', ') || 'none'}`,
    );
  return lines.join('\n');
}

async function withToken<T>(config: Config, fn: (token: Awaited<ReturnType<typeof openToken>>) => Promise<T>): Promise<T> {
  const token = await openToken(config);
  try {
    return await fn(token);
  } finally {
    token.close();
  }
}

/** Commands that change identities open what the server opens (token, KEK, database, root). */
async function withServices<T>(fn: (s: Services) => Promise<T>, opts: { bootstrap?: boolean } = {}): Promise<T> {
  const config = loadConfig();
  const s = await openServices(config, createLogger('silent'), opts);
  try {
    return await fn(s);
  } finally {
    await closeServices(s);
  }
}

const json = () => new Option('--json', 'print JSON');

const accountOf = (s: Services, account?: string) => account ?? s.rootUin;

export async function main(argv: string[]): Promise<void> {
  const program = new Command('hsmkms')
    .description(
      'On-premises KMS speaking the Tencent Cloud KMS API, with master keys in a PKCS#11 token.\nConfiguration comes from the environment: KMS_DATA_DIR, KMS_HOST, KMS_PORT, KMS_PKCS11_MODULE, KMS_PKCS11_TOKEN_LABEL, KMS_PKCS11_PIN(_FILE), KMS_HSM_PROFILE, KMS_REGIONS, KMS_LOG_LEVEL (see README).',
    )
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('start the API, console and health endpoints on KMS_HOST:KMS_PORT')
    .option('--workers <n>', 'worker processes sharing the port, token and database (node:cluster); default KMS_WORKERS or 1')
    .action(async (opts: { workers?: string }) => {
      const config = loadConfig();
      const cluster = (await import('node:cluster')).default;
      // Worker processes name themselves in every line, so an operator can tell them apart.
      const logger = cluster.isWorker ? createLogger(config.logLevel).child({ pid: process.pid }) : createLogger(config.logLevel);
      const workers = opts.workers === undefined ? config.workers : Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers: not a positive integer: ${opts.workers}`);
      // Workers re-run this command (cluster.fork) and land in startServer below.
      const running = workers > 1 && cluster.isPrimary ? await startCluster(config, logger, workers) : await startServer(config, logger);
      const stop = (signal: string) => {
        logger.info({ signal }, 'shutting down');
        running.close().then(
          () => process.exit(0),
          (err) => {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
      await new Promise(() => {});
    });

  const token = program.command('token').description('the PKCS#11 token');
  token
    .command('status')
    .description(
      'the token, every mechanism the service relies on and whether the token offers it, the service keys (ready, missing), the key usages each region standard can serve here, and reconciliation; exits 0 on any token, even one that cannot serve',
    )
    .addOption(json())
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      const report = await withToken(config, (t) => tokenReport(t, config));
      // Reconciliation needs the database and the service keys: only for a token that can serve.
      let reconciliation: unknown = null;
      if (report.ready) {
        try {
          reconciliation = await withServices(async (s) => s.jobs.reconcile({ dryRun: true }), { bootstrap: false });
        } catch (err) {
          reconciliation = { error: (err as Error).message };
        }
      }
      const status = { ...report, reconciliation };
      print(!!opts.json, status, () => humanReport(status));
    });
  token
    .command('init')
    .description(
      'create the SoftHSM2 token under KMS_DATA_DIR when absent (softhsm2 profile), then the service keys (KEK, audit signing key) in the schemes this token offers, with a round trip of each; fails with one line naming what the token lacks',
    )
    .addOption(json())
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      let created = false;
      if (config.hsmProfile === 'softhsm2') {
        created = provisionSoftHsm({ dataDir: config.dataDir, conf: config.softhsmConf, label: config.tokenLabel, pin: config.pin, pinFile: config.pinFile }).created;
        process.env.SOFTHSM2_CONF ??= config.softhsmConf;
      }
      const result = await withToken(config, async (t) => {
        const keys = await ensureServiceKeys(t);
        const problems = await checkServiceKeys(keys);
        if (problems.length) throw new Error(`service keys made, but their round trip failed: ${problems.join('; ')}`);
        return { tokenCreated: created, tokenLabel: config.tokenLabel, kekVersion: keys.kek.version, kekScheme: keys.kek.scheme, auditKeyScheme: keys.signer.scheme };
      });
      print(
        !!opts.json,
        result,
        () =>
          `token ${result.tokenLabel}: ${created ? 'created' : 'present'}; KEK v${result.kekVersion} (${result.kekScheme}) and the audit signing key (${result.auditKeyScheme}) ready, round trips checked`,
      );
    });

  program
    .command('db')
    .description('the metadata database')
    .command('migrate')
    .description('apply pending migrations')
    .addOption(json())
    .action(async (opts: { json?: boolean }) => {
      const db = openDatabase(loadConfig());
      try {
        const applied = await migrate(db);
        print(!!opts.json, { applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'database up to date'));
      } finally {
        await db.destroy();
      }
    });

  program
    .command('account')
    .description('root accounts')
    .command('create')
    .description('create a root account and its first API key pair (the SecretKey is shown once)')
    .option('--uin <uin>', 'the account UIN (generated when absent)')
    .addOption(json())
    .action(async (opts: { uin?: string; json?: boolean }) => {
      const r = await withServices((s) => s.identities.createAccount({ uin: opts.uin }));
      print(!!opts.json, r, () => `account ${r.uin}\nSecretId:  ${r.secretId}\nSecretKey: ${r.secretKey}  (shown once)`);
    });

  const user = program.command('user').description('sub-accounts');
  user
    .command('create')
    .description('create a sub-account (it can do nothing until a policy allows it)')
    .requiredOption('--name <name>', 'user name, unique in the account')
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .addOption(json())
    .action(async (opts: { name: string; account?: string; json?: boolean }) => {
      const r = await withServices((s) => s.identities.createUser(accountOf(s, opts.account), opts.name));
      print(!!opts.json, r, () => `user ${r.name} (uin ${r.uin}) in account ${r.account}`);
    });
  user
    .command('list')
    .description('the users of an account')
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .addOption(json())
    .action(async (opts: { account?: string; json?: boolean }) => {
      const r = await withServices((s) => s.identities.listUsers(accountOf(s, opts.account)));
      print(!!opts.json, r, () => r.map((u) => `${u.name.padEnd(24)} ${u.uin}  ${u.root ? 'root' : 'sub-account'}  ${u.status}`).join('\n'));
    });
  for (const [verb, status] of [
    ['disable', 'Disabled'],
    ['enable', 'Enabled'],
  ] as const) {
    user
      .command(verb)
      .description(`${verb} a sub-account (a disabled one's API keys are refused)`)
      .requiredOption('--name <name>', 'user name')
      .option('--account <uin>', 'root account (default: the bootstrap root)')
      .addOption(json())
      .action(async (opts: { name: string; account?: string; json?: boolean }) => {
        const r = await withServices((s) => s.identities.setUserStatus(accountOf(s, opts.account), opts.name, status));
        print(!!opts.json, r, () => `${r.name}: ${r.status}`);
      });
  }

  const policy = program.command('policy').description('CAM policies (version 2.0) and their attachment to users');
  policy
    .command('create')
    .description('create a policy from a JSON document (validated: a malformed one is refused with the reason)')
    .requiredOption('--name <name>', 'policy name, unique in the account')
    .option('--document <json>', 'the policy document')
    .option('--file <path>', 'a file holding the policy document')
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .addOption(json())
    .action(async (opts: { name: string; document?: string; file?: string; account?: string; json?: boolean }) => {
      if (!!opts.document === !!opts.file) throw new Error('give exactly one of --document and --file');
      const doc = opts.document ?? readFileSync(opts.file!, 'utf8');
      const r = await withServices((s) => s.access.createPolicy(accountOf(s, opts.account), opts.name, doc));
      print(!!opts.json, r, () => `policy ${r.name} (${r.id})`);
    });
  for (const verb of ['attach', 'detach'] as const) {
    policy
      .command(verb)
      .description(`${verb} a policy (or a preset: QcloudKMSFullAccess, QcloudKMSReadOnlyAccess) ${verb === 'attach' ? 'to' : 'from'} a user`)
      .requiredOption('--name <name>', 'policy name')
      .requiredOption('--user <name>', 'user name')
      .option('--account <uin>', 'root account (default: the bootstrap root)')
      .addOption(json())
      .action(async (opts: { name: string; user: string; account?: string; json?: boolean }) => {
        const r = await withServices((s) => s.access[verb](accountOf(s, opts.account), opts.name, opts.user));
        print(!!opts.json, r, () => `${r.name} ${verb}ed ${verb === 'attach' ? 'to' : 'from'} ${r.user}`);
      });
  }
  policy
    .command('list')
    .description("the presets and the account's policies")
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .addOption(json())
    .action(async (opts: { account?: string; json?: boolean }) => {
      const r = await withServices((s) => s.access.listPolicies(accountOf(s, opts.account)));
      print(!!opts.json, r, () => r.map((p) => `${p.name.padEnd(32)} ${p.preset ? 'preset' : p.id}`).join('\n'));
    });

  const credential = program.command('credential').description('API key pairs (at most two per user)');
  credential
    .command('create')
    .description("create an API key pair for a user (root's own: --user root); the SecretKey is shown once")
    .requiredOption('--user <name>', 'user name')
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .addOption(json())
    .action(async (opts: { user: string; account?: string; json?: boolean }) => {
      const r = await withServices((s) => s.identities.createCredential(accountOf(s, opts.account), opts.user));
      print(!!opts.json, r, () => `SecretId:  ${r.secretId}\nSecretKey: ${r.secretKey}  (shown once)`);
    });
  for (const [verb, status] of [
    ['disable', 'Disabled'],
    ['enable', 'Enabled'],
  ] as const) {
    credential
      .command(verb)
      .description(`${verb} an API key pair`)
      .requiredOption('--secret-id <id>', 'SecretId')
      .addOption(json())
      .action(async (opts: { secretId: string; json?: boolean }) => {
        const r = await withServices((s) => s.identities.setCredentialStatus(opts.secretId, status));
        print(!!opts.json, r, () => `${r.secretId}: ${r.status}`);
        if (status === 'Disabled' && bootstrapSecretId(loadConfig().dataDir) === r.secretId)
          process.stderr.write(
            `hsmkms: note: ${rootCredentialsFile(loadConfig().dataDir)} still holds this key pair's SecretKey; \`credential delete\` retires it and removes the file\n`,
          );
      });
  }
  credential
    .command('delete')
    .description('delete an API key pair')
    .requiredOption('--secret-id <id>', 'SecretId')
    .addOption(json())
    .action(async (opts: { secretId: string; json?: boolean }) => {
      const r = await withServices((s) => s.identities.deleteCredential(opts.secretId));
      // The bootstrap pair deleted: root-credentials.json holds nothing that works any more.
      const removed = removeRetiredBootstrapFile(loadConfig().dataDir, r.secretId);
      const out = removed ? { ...r, removedFile: removed } : r;
      print(!!opts.json, out, () => `${r.secretId}: deleted${removed ? `; ${removed} removed` : ''}`);
    });

  program
    .command('console')
    .description('the web console at /console')
    .command('password')
    .description("set a user's console password (kept only as a scrypt hash); without --password-stdin one is generated and shown once")
    .requiredOption('--user <name>', 'user name (root, or a sub-account)')
    .option('--account <uin>', 'root account (default: the bootstrap root)')
    .option('--password-stdin', 'read the password from standard input (first line)')
    .option('--clear', 'remove the console password (API keys still sign in)')
    .addOption(json())
    .action(async (opts: { user: string; account?: string; passwordStdin?: boolean; clear?: boolean; json?: boolean }) => {
      if (opts.clear && opts.passwordStdin) throw new Error('--clear and --password-stdin exclude each other');
      let password: string | null = null;
      if (!opts.clear) password = opts.passwordStdin ? readFileSync(0, 'utf8').split(/\r?\n/)[0]! : generatePassword();
      const r = await withServices(async (s) => {
        const account = accountOf(s, opts.account);
        await new ConsolePasswords(new IdentityRepo(s.db)).set(account, opts.user, password);
        return { user: opts.user, account, status: opts.clear ? 'cleared' : 'set', ...(password !== null && !opts.passwordStdin ? { password } : {}) };
      });
      print(!!opts.json, r, () =>
        r.status === 'cleared' ? `console password of ${r.user} removed` : `console password of ${r.user} set${r.password ? `\nPassword: ${r.password}  (shown once)` : ''}`,
      );
    });

  program
    .command('jobs')
    .description('lifecycle jobs')
    .command('run')
    .description('run the lifecycle jobs now: deletion (CMKs and hosted data keys), rotation, expiry of imported material, token/database reconciliation')
    .option('--at <iso-time>', 'pretend it is this time (drills: deletion dates and rotation times before it are due)')
    .addOption(json())
    .action(async (opts: { at?: string; json?: boolean }) => {
      const at = opts.at === undefined ? Date.now() : Date.parse(opts.at);
      if (Number.isNaN(at)) throw new Error(`--at: not an ISO time: ${opts.at}`);
      const r = await withServices(async (s) => {
        const report = await s.jobs.run(at);
        await s.trail.checkpoint(at);
        return { ...report, auditPurged: await s.trail.purge(s.config.auditRetentionDays, s.config.auditExportDir, at) };
      });
      print(!!opts.json, r, () =>
        [
          `at ${r.at}: deleted ${r.deleted.length}, data keys deleted ${r.dataKeysDeleted.length}, rotated ${r.rotated.length}, expired ${r.expired.length}, import parameters cleaned ${r.importsCleaned.length}`,
          `reconciled: ${r.reconciled.orphanObjectsDestroyed.length} orphan token objects destroyed, ${r.reconciled.rowsWithoutObjects.length} keys missing token objects, ${r.reconciled.unknownObjects.length} token objects this database does not know (kept)`,
          `audit: ${r.auditPurged} events past retention exported and removed`,
          ...r.errors.map((e) => `error (${e.job} ${e.keyId}): ${e.error}`),
        ].join('\n'),
      );
      if (r.errors.length) process.exitCode = 1;
    });

  const audit = program.command('audit').description('the audit trail');
  audit
    .command('query')
    .description('audit events, newest first')
    .option('--since <iso-time>', 'events at or after this time')
    .option('--event <name>', 'event name (the API action, e.g. Encrypt)')
    .option('--user <name>', 'user name (root, or a sub-account name)')
    .option('--request-id <id>', 'one request')
    .option('--limit <n>', 'at most this many events', '100')
    .option('--account <uin>', 'only this account')
    .addOption(json())
    .action(async (opts: { since?: string; event?: string; user?: string; requestId?: string; limit: string; account?: string; json?: boolean }) => {
      const sinceMs = opts.since === undefined ? undefined : Date.parse(opts.since);
      if (Number.isNaN(sinceMs)) throw new Error(`--since: not an ISO time: ${opts.since}`);
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new Error('--limit: a positive integer');
      const events = await withServices((s) => s.trail.query({ accountUin: opts.account, sinceMs, eventName: opts.event, userName: opts.user, requestId: opts.requestId, limit }), {
        bootstrap: false,
      });
      print(!!opts.json, events, () =>
        events
          .map(
            (e) =>
              `${new Date(e.eventTimeMs).toISOString()} ${e.eventName.padEnd(24)} ${e.result.padEnd(7)} ${(e.errorCode || '-').padEnd(36)} ${e.userName}@${e.accountUin} ${e.sourceIp} ${e.region} ${e.resourceName} ${e.requestId}`,
          )
          .join('\n'),
      );
    });
  audit
    .command('verify')
    .description('check the hash chain and the signed checkpoints; names the first altered, removed or reordered event. Offline: --export <file> --public-key <file>')
    .option('--export <file>', 'an NDJSON export (hsmkms audit export) to verify instead of the database')
    .option('--public-key <file>', 'the audit signing public key (hsmkms audit public-key), with --export')
    .addOption(json())
    .action(async (opts: { export?: string; publicKey?: string; json?: boolean }) => {
      if (!!opts.export !== !!opts.publicKey) throw new Error('--export and --public-key go together');
      const r = opts.export
        ? verifyExport(readFileSync(opts.export, 'utf8'), readFileSync(opts.publicKey!, 'utf8'))
        : await withServices((s) => s.trail.verify(), { bootstrap: false });
      print(!!opts.json, r, () =>
        r.ok
          ? `ok: ${r.events} events, ${r.checkpoints} signed checkpoints`
          : `BROKEN at event ${r.firstBad!.seq}${r.firstBad!.eventId ? ` (${r.firstBad!.eventId})` : ''}: ${r.firstBad!.reason}`,
      );
      if (!r.ok) process.exitCode = 1;
    });
  audit
    .command('export')
    .description('write audit events (and the signed checkpoints they reach) as NDJSON, for long storage and offline verification')
    .requiredOption('--out <file>', 'output file')
    .option('--since <iso-time>', 'from the first event stamped at or after this time (the chain segment: it verifies)')
    .option('--until <iso-time>', 'to the last event stamped before this time')
    .addOption(json())
    .action(async (opts: { out: string; since?: string; until?: string; json?: boolean }) => {
      const sinceMs = opts.since === undefined ? undefined : Date.parse(opts.since);
      const untilMs = opts.until === undefined ? undefined : Date.parse(opts.until);
      if (Number.isNaN(sinceMs) || Number.isNaN(untilMs)) throw new Error('--since/--until: ISO times');
      const lines = await withServices(
        async (s) => {
          await s.trail.checkpoint();
          return s.trail.exportLines({ sinceMs, untilMs });
        },
        { bootstrap: false },
      );
      writeFileSync(opts.out, `${lines.join('\n')}\n`, { mode: 0o600 });
      const r = { file: opts.out, events: lines.filter((l) => l.startsWith('{"type":"event"')).length };
      print(!!opts.json, r, () => `${r.events} events written to ${r.file}`);
    });
  audit
    .command('public-key')
    .description('the audit signing public key (PEM), for offline verification')
    .option('--out <file>', 'write it to a file instead of stdout')
    .action(async (opts: { out?: string }) => {
      const pem = await withServices(async (s) => (await s.trail.publicKey()).export({ type: 'spki', format: 'pem' }).toString(), { bootstrap: false });
      if (opts.out) writeFileSync(opts.out, pem);
      else process.stdout.write(pem);
    });

  addWhiteboxCommands(program);

  try {
    await program.parseAsync(argv);
  } catch (err) {
    // commander reports --help and --version as "errors" with exit code 0
    const e = err as { code?: unknown; exitCode?: number };
    if (typeof e.code === 'string' && e.code.startsWith('commander.')) process.exit(e.exitCode ?? 1);
    throw err;
  }
}
