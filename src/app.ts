import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express } from 'express';
import { readPin, type Config } from './config.js';
import type { Kek } from './crypto/kek.js';
import { KEK_KEY_ID } from './crypto/kek.js';
import { ensureServiceKeys as makeServiceKeys, existingServiceKeys, type ServiceKeyOrder, type ServiceKeys, DEFAULT_SERVICE_KEY_ORDER } from './crypto/service-keys.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { initArgsFor, loadProfile, type TokenProfile } from './pkcs11/profile.js';
import { Token } from './pkcs11/token.js';
import { databaseReachable, migrate, openDatabase, type Db } from './store/db.js';
import { IdentityRepo } from './store/identity-repo.js';
import { bootstrapRoot, IdentityService } from './domain/identity.js';
import { apiEndpoint, type ApiDeps, type ApiEndpoint } from './api/router.js';
import { cloudAuditActions, cloudAuditService, EVENT_CATALOGUE, KMS_ACTIONS, kmsService, READ_ONLY_KMS_ACTIONS } from './api/actions/index.js';
import { NO_RESOURCES, resourceNames } from './api/actions/resources.js';
import type { ActionDeps } from './api/actions/spec.js';
import { parseRateLimits, RateLimiter } from './api/rate-limit.js';
import { KeyMaterialService } from './crypto/key-material.js';
import { KeyReads, KeyService } from './domain/keys.js';
import { CacheEpoch, EpochWatch } from './domain/cache.js';
import { cacheEpochReader, type CacheEpochReader } from './store/cache-epoch.js';
import { KeyRepo } from './store/key-repo.js';
import { LifecycleJobs } from './domain/jobs.js';
import { CryptoService } from './domain/crypto-ops.js';
import { AsymmetricService } from './domain/asymmetric-ops.js';
import { AccessService } from './domain/access.js';
import { PolicyRepo } from './store/policy-repo.js';
import { AuditLog } from './audit/audit-log.js';
import { AuditCheckpointRepo, AuditRepo } from './store/audit-repo.js';
import { AuditTrail } from './audit/trail.js';
import { AlarmService } from './domain/alarms.js';
import { AlarmRepo } from './store/alarm-repo.js';
import { SymmetricEngine } from './crypto/symmetric.js';
import { AsymmetricEngine } from './crypto/asymmetric.js';
import { ByokEngine } from './crypto/byok.js';
import { PqcEngine } from './crypto/pqc-engine.js';
import { resolvePlacement, type KeyPlacement } from './crypto/placement.js';
import { BackgroundLeases } from './domain/coordination.js';
import { LeaseRepo } from './store/lease-repo.js';
import { V1NonceRepo } from './store/nonce-repo.js';
import { AttemptRepo } from './store/attempt-repo.js';
import { ImportService } from './domain/imports.js';
import { ImportRepo } from './store/import-repo.js';
import { DataKeyService } from './domain/data-keys.js';
import { DataKeyRepo } from './store/data-key-repo.js';
import { PqcService } from './domain/pqc-ops.js';
import { WhiteBoxKeyService } from './domain/whitebox-keys.js';
import { WhiteboxEngine } from './crypto/whitebox-engine.js';
import { WhiteBoxKeyRepo } from './store/whitebox-key-repo.js';
import { consoleRouter } from './console/router.js';
import { mapError } from './api/errors.js';

// Wiring: configuration in, services and the Express app out.

/** What KMS_TC3_STRICT_SIGNED_HEADERS=1 requires a TC3 request to sign besides content-type and host. */
const TC3_STRICT_SIGNED_HEADERS = ['x-tc-action', 'x-tc-region', 'x-tc-version'] as const;

export interface Services {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  token: Token;
  /** Where SM and ML-DSA keys are made: the software module or the token (KMS_SM_ENGINE, KMS_PQC_ENGINE). */
  placement: KeyPlacement;
  kek: Kek;
  db: Db;
  /** Present when the mutable caches are on: requests wait on `fresh()` before using them. */
  epochWatch?: EpochWatch;
  epochReader?: CacheEpochReader;
  identities: IdentityService;
  keys: KeyService;
  material: KeyMaterialService;
  keyRepo: KeyRepo;
  jobs: LifecycleJobs;
  crypto: CryptoService;
  asymmetric: AsymmetricService;
  imports: ImportService;
  dataKeys: DataKeyService;
  dataKeyRepo: DataKeyRepo;
  pqc: PqcService;
  whiteBoxKeys: WhiteBoxKeyService;
  access: AccessService;
  audit: AuditLog;
  auditRepo: AuditRepo;
  trail: AuditTrail;
  alarms: AlarmService;
  leases: BackgroundLeases;
  /** Signature-v1 requests already received, in the database: shared by every worker and node. */
  nonces: V1NonceRepo;
  rootUin: string;
}

/** SoftHSM2 reads SOFTHSM2_CONF at C_Initialize; default it to the data dir's copy. */
function prepareEnvironment(config: Config): void {
  if (config.hsmProfile === 'softhsm2' && !process.env.SOFTHSM2_CONF) process.env.SOFTHSM2_CONF = config.softhsmConf;
}

export async function openToken(config: Config, onEvent?: (event: string, detail: Record<string, unknown>) => void): Promise<Token> {
  prepareEnvironment(config);
  const profile = loadProfile(config.hsmProfile);
  return Token.open({
    modulePath: config.pkcs11Module ?? profile.module,
    tokenLabel: config.tokenLabel,
    pin: readPin(config),
    profile,
    initArgs: initArgsFor(profile, { override: config.pkcs11InitArgs, dataDir: config.dataDir, label: config.tokenLabel }),
    healthObject: { keyId: KEK_KEY_ID, version: 1 },
    onEvent,
  });
}

/** Tables whose rows the data-plane caches hold (domain/cache.ts). */
const CACHED_TABLES = /\b(credentials|users|accounts|policies|user_policies|keys|key_versions|key_tags)\b/;

/**
 * Every statement this process sends that is not a read, on a table the caches draw from,
 * moves the cache epoch: the caches drop what they hold before the write can commit, and a read
 * in flight across it is not kept. (Audit, lease and alarm writes do not touch those tables.)
 */
function watchWrites(db: Db): CacheEpoch {
  const epoch = new CacheEpoch();
  db.on('query', (q: { sql?: string }) => {
    const sql = q.sql ?? '';
    if (/^\s*(select|pragma)\b/i.test(sql)) return;
    if (CACHED_TABLES.test(sql)) epoch.bump();
  });
  return epoch;
}

/** `bootstrap: false` (read-only CLI commands) leaves the root account to the first start. */
export async function openServices(config: Config, logger: Logger, opts: { bootstrap?: boolean } = {}): Promise<Services> {
  const metrics = new Metrics();
  const token = await openToken(config, (event, detail) => {
    logger.warn({ event, ...detail }, 'token event');
    if (event === 'token.recovered') metrics.tokenRecoveries.inc();
  });
  try {
    const placement = resolvePlacement(token.capabilities, { sm: config.smEngine, pqc: config.pqcEngine });
    const db = openDatabase(config);
    try {
      await migrate(db);
      // A token has no lock of its own: processes starting together on a token without the
      // service keys would each make their own (and then sign audit checkpoints with different
      // keys). One at a time, under a lease in the shared database; the later ones find them.
      const order = serviceKeyOrder(token.profile);
      const { kek, signer } = (await existingServiceKeys(token, order)) ?? (await oneAtATime(new LeaseRepo(db), 'token-setup', () => makeServiceKeys(token, order)));
      // Mutable-state caches (KMS_CACHE_TTL_MS > 0, the default): dropped on this process's own
      // writes (watchWrites) and whenever a request finds the database's epoch moved (EpochWatch).
      const epoch = config.cacheTtlMs > 0 ? watchWrites(db) : undefined;
      const epochReader = epoch ? cacheEpochReader(db) : undefined;
      const epochWatch = epoch && epochReader ? new EpochWatch(() => epochReader.read(), epoch, epochReader.unchanged?.bind(epochReader)) : undefined;
      const cache = { ttlMs: config.cacheTtlMs, epoch };
      const identityRepo = new IdentityRepo(db);
      const identities = new IdentityService(identityRepo, kek, cache);
      const root =
        opts.bootstrap === false
          ? { uin: '', created: false }
          : await oneAtATime(new LeaseRepo(db), 'bootstrap', () =>
              bootstrapRoot(db, identities, { dataDir: config.dataDir, uin: config.rootUin, secretId: config.rootSecretId, secretKey: config.rootSecretKey }),
            );
      if (root.created)
        logger.info(
          { uin: root.uin },
          'root account created (credentials in root-credentials.json unless given in the environment: the SecretKey is in clear there; retire it with `hsmkms credential create --user root` and `hsmkms credential delete --secret-id <the bootstrap SecretId>`, README "Retiring the bootstrap root key")',
        );
      const keyRepo = new KeyRepo(db);
      const keyReads = new KeyReads(keyRepo, cache);
      const material = new KeyMaterialService(token, kek, placement);
      const alarms = new AlarmService(new AlarmRepo(db), {
        webhookUrl: config.alarmWebhookUrl,
        maxAttempts: config.alarmMaxAttempts,
        onError: (err, ctx) => logger.error({ err, ...ctx }, 'deletion alarm'),
      });
      const keys = new KeyService(keyRepo, material, {
        cmkLimit: config.cmkLimit,
        capabilities: () => token.capabilities,
        reads: keyReads,
        onPendingDeleteUse: (key, caller, operation) =>
          void alarms.pendingDeleteKeyUsed({
            accountUin: key.accountUin,
            region: key.region,
            keyId: key.keyId,
            action: operation,
            userUin: caller.userUin,
            deletionDate: key.deletionDate,
          }),
      });
      const dataKeyRepo = new DataKeyRepo(db);
      const imports = new ImportService(keys, keyRepo, new ImportRepo(db), new ByokEngine(token, kek), material);
      const jobs = new LifecycleJobs(keyRepo, keys, material, { orphanGraceMs: 2_000, alarms, imports, dataKeys: dataKeyRepo });
      const crypto = new CryptoService(keys, keyRepo, new SymmetricEngine(token, kek), { enabled: true });
      const asymmetric = new AsymmetricService(keys, keyRepo, new AsymmetricEngine(token, kek));
      const dataKeys = new DataKeyService(dataKeyRepo, keys, crypto, { dataKeyLimit: config.dataKeyLimit });
      const pqc = new PqcService(keys, keyRepo, new PqcEngine(token, kek));
      const whiteBoxKeyRepo = new WhiteBoxKeyRepo(db);
      const whiteBoxKeys = new WhiteBoxKeyService(whiteBoxKeyRepo, new WhiteboxEngine(token, kek), {
        regions: config.whiteboxRegions === '*' ? '*' : new Set(config.whiteboxRegions),
      });
      const access = new AccessService(
        new PolicyRepo(db),
        identityRepo,
        keyReads,
        dataKeyRepo,
        { kms: new Set(KMS_ACTIONS), readOnly: READ_ONLY_KMS_ACTIONS },
        cache,
        whiteBoxKeyRepo,
      );
      const auditRepo = new AuditRepo(db);
      const audit = new AuditLog(auditRepo, {
        failClosed: config.auditFailClosed,
        journalDir: config.auditJournalDir,
        journalWrites: config.auditJournal,
        journalMoveMs: config.auditJournalMoveMs,
        onError: (err) => logger.error({ err }, 'audit trail write failed'),
      });
      if (audit.journaled) metrics.watchAuditJournal(() => audit.unmovedCount);
      // A process that died with events in its journal: they move into SQL now (docs/reliability.md#audit-journal).
      await audit.settle();
      const trail = new AuditTrail(signer, auditRepo, new AuditCheckpointRepo(db), () => audit.settle());
      return {
        config,
        logger,
        metrics,
        token,
        placement,
        kek,
        db,
        epochWatch,
        epochReader,
        identities,
        keys,
        material,
        keyRepo,
        jobs,
        crypto,
        asymmetric,
        imports,
        dataKeys,
        dataKeyRepo,
        pqc,
        whiteBoxKeys,
        access,
        audit,
        auditRepo,
        trail,
        alarms,
        leases: new BackgroundLeases(new LeaseRepo(db)),
        nonces: new V1NonceRepo(db, config.v1NonceLimit),
        rootUin: root.uin,
      };
    } catch (err) {
      await db.destroy();
      throw err;
    }
  } catch (err) {
    token.close();
    throw err;
  }
}

/** The profile's order of service-key schemes (crypto/service-keys.ts), each defaulting to all of them. */
export function serviceKeyOrder(profile: TokenProfile): ServiceKeyOrder {
  return { kek: profile.kekSchemes ?? DEFAULT_SERVICE_KEY_ORDER.kek, audit: profile.auditKeySchemes ?? DEFAULT_SERVICE_KEY_ORDER.audit };
}

/**
 * The keys the service itself keeps in the token: the KEK (seals software-module keys and
 * credentials) and the audit signing key pair (checkpoints). Made when absent, by `token init`
 * and at start; not safe for two processes at once (openServices takes a lease around it).
 */
export function ensureServiceKeys(token: Token): Promise<ServiceKeys> {
  return makeServiceKeys(token, serviceKeyOrder(token.profile));
}

/**
 * Several nodes starting together on one database: a check-then-create step (the root account's
 * bootstrap, the token's service keys) runs in one process at a time, under a short lease, so
 * the later ones find it done.
 */
async function oneAtATime<T>(leases: LeaseRepo, task: string, fn: () => Promise<T>): Promise<T> {
  const holder = `${process.pid}/${randomUUID()}`;
  const deadline = Date.now() + 60_000;
  while (!(await leases.acquire(task, holder, 30_000))) {
    if (Date.now() > deadline) throw new Error(`another process has held the ${task} lease for a minute`);
    await new Promise((r) => setTimeout(r, 50 + Math.floor(Math.random() * 100)));
  }
  try {
    return await fn();
  } finally {
    await leases.release(task, holder);
  }
}

export async function closeServices(s: Services): Promise<void> {
  await s.alarms.stop();
  await s.audit.drain();
  await s.trail.checkpoint().catch((err) => s.logger.error({ err }, 'audit checkpoint at shutdown failed'));
  await s.auditRepo.close();
  await s.nonces.close();
  await s.epochReader?.close();
  await s.db.destroy();
  s.token.close();
}

/** The API's dependencies, shared by the fast path and the Express app. */
function apiDeps(s: Services): ApiDeps {
  const rateLimits = parseRateLimits(s.config.rateLimits);
  const handlerDeps = actionDeps(s, rateLimits);
  return {
    logger: s.logger,
    regions: s.config.regions,
    identities: s.identities,
    rateLimiter: new RateLimiter(rateLimits),
    bodyLimitBytes: s.config.bodyLimitBytes,
    fresh: s.epochWatch ? () => s.epochWatch!.fresh() : undefined,
    replay: s.nonces,
    tc3SignedHeaders: s.config.tc3StrictSignedHeaders ? TC3_STRICT_SIGNED_HEADERS : undefined,
    audit: {
      get available() {
        return s.audit.available;
      },
      record: (c) =>
        s.audit.record(
          s.audit.newEvent({
            eventName: c.action ?? 'Unknown',
            requestId: c.requestId,
            accountUin: c.identity?.accountUin ?? '',
            userUin: c.identity?.userUin ?? '',
            userName: c.identity ? (c.identity.isRoot ? 'root' : c.identity.userName) : '',
            secretId: c.secretId ?? '',
            sourceIp: c.sourceIp,
            region: c.region ?? '',
            resourceType: c.resourceType,
            resourceName: resourceNames(c.resources),
            result: c.code ? 'Fail' : 'Success',
            errorCode: c.code ?? '',
            apiVersion: c.version ?? '',
          }),
        ),
    },
    authorize: (r) =>
      s.access.authorize({
        service: r.service,
        action: r.action,
        cam: r.cam,
        resources: r.resources,
        accountUin: r.identity.accountUin,
        userUin: r.identity.userUin,
        isRoot: r.identity.isRoot,
        region: r.region,
        sourceIp: r.sourceIp,
        tags: r.tags,
      }),
    services: [kmsService(handlerDeps), cloudAuditService(handlerDeps)],
  };
}

/** What the actions' handlers call. */
function actionDeps(s: Services, rateLimits: ReadonlyMap<string, number>): ActionDeps {
  return {
    config: s.config,
    capabilities: () => s.token.capabilities,
    keys: s.keys,
    crypto: s.crypto,
    asymmetric: s.asymmetric,
    imports: s.imports,
    dataKeys: s.dataKeys,
    pqc: s.pqc,
    whiteBoxKeys: s.whiteBoxKeys,
    // A read of the trail first waits for the events already acknowledged to reach SQL (AuditTrail.query).
    auditEvents: s.trail,
    events: EVENT_CATALOGUE,
    rateLimits,
  };
}

/** Each app's API endpoint, so the listener and the app share one (one nonce cache, one rate limiter). */
const endpoints = new WeakMap<Express, ApiEndpoint>();

/** `Authorization: Bearer <token>` with this token; compared as digests, so neither its bytes nor its length leak through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
  if (given === undefined) return false;
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(token).digest());
}

/** Request metrics for one answered request (route label: `api`, or the first path segment). */
function observe(s: Services, route: string, res: ServerResponse, start: bigint): void {
  res.on('finish', () => {
    s.metrics.httpRequests.inc({ route, status: String(res.statusCode) });
    s.metrics.httpLatency.observe({ route }, Number(process.hrtime.bigint() - start) / 1e9);
  });
}

/**
 * The server's request listener. `/` (the API: POST and GET, bench:api's hot path) goes
 * straight to the API handler — no Express routing, no body-parser: it reads the body once with
 * the size limit and parses it once. Everything else (health, metrics, later the console) goes
 * to the Express app (health, metrics, the console). Express with its middleware chain cost about a third of the API's
 * throughput (docs/benchmarks.md).
 */
export function createRequestListener(s: Services, app: Express = createApp(s)): RequestListener {
  const endpoint = endpoints.get(app);
  if (!endpoint) throw new Error('createRequestListener: the app was not made by createApp');
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    if (url === '/' || url.startsWith('/?')) {
      observe(s, 'api', res, process.hrtime.bigint());
      endpoint.handle(req, res);
      return;
    }
    app(req, res);
  };
}

export function createApp(s: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.use((req, res, next) => {
    observe(s, req.path === '/' ? 'api' : req.path.split('/')[1] || 'other', res, process.hrtime.bigint());
    next();
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const [token, database] = await Promise.all([s.token.healthy(), databaseReachable(s.db)]);
    s.metrics.tokenUp.set(token ? 1 : 0);
    s.metrics.databaseUp.set(database ? 1 : 0);
    res.status(token && database ? 200 : 503).json({ status: token && database ? 'ready' : 'unavailable', token, database });
  });

  app.get('/metrics', async (req, res) => {
    if (s.config.metricsToken !== undefined && !bearerMatches(req.headers.authorization, s.config.metricsToken)) {
      res.status(401).set('WWW-Authenticate', 'Bearer realm="metrics"').type('text/plain').send('KMS_METRICS_TOKEN is set: send it as `Authorization: Bearer <token>`.\n');
      return;
    }
    res.type(s.metrics.registry.contentType).send(await s.metrics.registry.metrics());
  });

  // The API pipeline: `/` here for an app used on its own; the server's listener sends `/`
  // to the same endpoint without Express (createRequestListener). The console dispatches
  // through it too.
  const api = apiEndpoint(apiDeps(s));
  endpoints.set(app, api);
  app.all('/', (req, res) => api.handle(req, res));
  app.use(
    '/console',
    consoleRouter({
      config: s.config,
      logger: s.logger,
      fresh: s.epochWatch ? () => s.epochWatch!.fresh() : undefined,
      dispatch: api.dispatch,
      identities: s.identities,
      identityRepo: new IdentityRepo(s.db),
      signInAttempts: new AttemptRepo(s.db),
      mapError,
      authorizeAuditRead: (identity, sourceIp) =>
        s.access.authorize({
          service: 'cloudaudit',
          action: 'LookUpEvents',
          cam: cloudAuditActions.LookUpEvents.cam,
          resources: NO_RESOURCES,
          accountUin: identity.accountUin,
          userUin: identity.userUin,
          isRoot: identity.isRoot,
          region: undefined,
          sourceIp,
        }),
      alarms: s.alarms,
      audit: s.audit,
      rootUin: s.rootUin,
      capabilities: () => s.token.capabilities,
    }),
  );

  return app;
}
