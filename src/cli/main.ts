import { Command, Option } from 'commander';
import { openToken } from '../app.js';
import { loadConfig, type Config } from '../config.js';
import { Kek } from '../crypto/kek.js';
import { createLogger } from '../log.js';
import { provisionSoftHsm } from '../pkcs11/softhsm.js';
import type { TokenStatus } from '../pkcs11/token.js';
import { migrate, openDatabase } from '../store/db.js';
import { startServer } from '../server.js';

// `npx hsmkms …` (../shared/interface.md). Every command that prints data takes --json;
// failures exit non-zero with one line on stderr (bin/hsmkms.js).

function print(json: boolean, data: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human()}\n`);
}

function humanStatus(s: TokenStatus): string {
  const lines = [
    `module:    ${s.module}`,
    `profile:   ${s.profile}`,
    `slot:      ${s.slot}`,
    `token:     ${s.tokenLabel} (serial ${s.serial}, ${s.manufacturer} ${s.model})`,
    `logged in: ${s.loggedIn ? 'yes' : 'no'}`,
    `objects:   ${s.objects.total} (secret ${s.objects.secret}, private ${s.objects.private}, public ${s.objects.public}, data ${s.objects.data})`,
    'mechanisms (profile expects / token offers):',
    ...s.mechanisms.map((m) => `  ${m.name.padEnd(28)} ${m.expected ? 'yes' : 'no '} / ${m.offered === null ? 'n/a' : m.offered ? 'yes' : 'no '}  ${m.use}`),
  ];
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

export async function main(argv: string[]): Promise<void> {
  const program = new Command('hsmkms')
    .description('On-premises KMS speaking the Tencent Cloud KMS API, with master keys in a PKCS#11 token.\nConfiguration comes from the environment: KMS_DATA_DIR, KMS_HOST, KMS_PORT, KMS_PKCS11_MODULE, KMS_PKCS11_TOKEN_LABEL, KMS_PKCS11_PIN(_FILE), KMS_HSM_PROFILE, KMS_REGIONS, KMS_LOG_LEVEL (see README).')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('start the API, console and health endpoints on KMS_HOST:KMS_PORT')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel);
      const running = await startServer(config, logger);
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
    .description('module, slot, token label, serial, login state, object counts and the mechanisms the profile relies on')
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }) => {
      const status = await withToken(loadConfig(), (t) => t.status());
      print(!!opts.json, status, () => humanStatus(status));
    });
  token
    .command('init')
    .description('create the SoftHSM2 token under KMS_DATA_DIR when absent (softhsm2 profile), then the KEK and the health sentinel')
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }) => {
      const config = loadConfig();
      let created = false;
      if (config.hsmProfile === 'softhsm2') {
        created = provisionSoftHsm({ dataDir: config.dataDir, conf: config.softhsmConf, label: config.tokenLabel, pin: config.pin, pinFile: config.pinFile }).created;
        process.env.SOFTHSM2_CONF ??= config.softhsmConf;
      }
      const result = await withToken(config, async (t) => {
        const kek = await Kek.ensure(t);
        return { tokenCreated: created, tokenLabel: config.tokenLabel, kekVersion: kek.version };
      });
      print(!!opts.json, result, () => `token ${result.tokenLabel}: ${created ? 'created' : 'present'}; KEK v${result.kekVersion} ready`);
    });

  program
    .command('db')
    .description('the metadata database')
    .command('migrate')
    .description('apply pending migrations')
    .addOption(new Option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }) => {
      const db = openDatabase(loadConfig());
      try {
        const applied = await migrate(db);
        print(!!opts.json, { applied }, () => (applied.length ? `applied: ${applied.join(', ')}` : 'database up to date'));
      } finally {
        await db.destroy();
      }
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    // commander reports --help and --version as "errors" with exit code 0
    const e = err as { code?: string; exitCode?: number };
    if (e.code?.startsWith('commander.')) process.exit(e.exitCode ?? 1);
    throw err;
  }
}
