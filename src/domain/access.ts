import { randomBytes } from 'node:crypto';
import { evaluate, keyResource, parsePolicy, PolicyError, presetPolicies, type AuthzContext, type Policy, type PresetPolicyName } from '../auth/policy.js';
import type { DataKeyRepo } from '../store/data-key-repo.js';
import { TtlCache, type CacheEpoch } from './cache.js';
import type { IdentityRepo } from '../store/identity-repo.js';
import type { KeyRecord } from '../model/keys.js';
import type { KeyRepo } from '../store/key-repo.js';
import type { PolicyRepo } from '../store/policy-repo.js';
import type { WhiteBoxKeyRepo } from '../store/whitebox-key-repo.js';
import { InvalidArgumentError, NotFoundError, AlreadyExistsError, UnauthorizedError } from './errors.js';

// CAM for KMS (docs/contract/cam.md, seed 004): policies are validated by the pure engine
// (src/auth/policy.ts) before they are stored; every call of a sub-account is evaluated against
// the resources it touches — the key's six-segment resource for resource-level APIs, `*` for
// operation-level ones — with qcs:ip (where the API supports it), qcs:current_time and the
// key's tags. The root account is allowed on its own resources; other accounts' keys are simply
// not found, so nothing leaks their existence.

const PRESET_PREFIX = 'preset:';

/** How CAM evaluates an action (docs/contract/actions.md#action-index, seed 004). */
export interface CamRule {
  /** 'operation': evaluated against resource `*` only, so a policy naming a resource does not grant it. */
  readonly level: 'resource' | 'operation';
  /** false where the seed marks IP restriction "not supported": evaluated without `qcs:ip`. */
  readonly ipCondition: boolean;
}

export interface KeyRef {
  readonly keyId: string;
  /** Evaluated as a region-less resource (`qcs::kms::…`): ImportDataKey's CMK (seed 004). */
  readonly regionless: boolean;
}

/** What a call touches: its CAM resources and the audit record's resource names. */
export interface CallResources {
  /** CMKs the call names or finds inside its ciphertext, in the order the audit record lists them. */
  readonly keys: readonly KeyRef[];
  /** Hosted data keys the call names; their resources are region-less (seed 004). */
  readonly dataKeys: readonly string[];
  /**
   * The CMK operation the call performs besides its own action — ImportDataKey decrypts the
   * caller's ciphertext (type 1) or encrypts the caller's plaintext (type 2) under its CMK,
   * GetDataKeyPlaintext decrypts the data key under its CMK — evaluated too, as that action on
   * the CMK's regional resource, so a policy that refuses Decrypt or Encrypt on a CMK is not
   * bypassed through hosted data keys (docs/data-keys.md#cam).
   */
  readonly performs?: 'Decrypt' | 'Encrypt';
}

export interface AccessRequest {
  /** The API's service: `kms`, or `cloudaudit` for LookUpEvents (operation-level, `*`). */
  service: string;
  action: string;
  cam: CamRule;
  resources: CallResources;
  accountUin: string;
  userUin: string;
  isRoot: boolean;
  region: string | undefined;
  sourceIp: string;
  /** The request's Tags (CreateKey, GenerateDataKey, …), for `qcs:request_tag`. */
  tags?: readonly { TagKey: string; TagValue: string }[];
  now?: Date;
}

/** The actions policies may name, from the action registry (the domain knows no action list). */
export interface KnownActions {
  /** Every KMS action: a policy naming another `kms:` action (no wildcard) is malformed. */
  readonly kms: ReadonlySet<string>;
  /** The actions the read-only preset policy grants. */
  readonly readOnly: readonly string[];
}

/** What CAM reads of a key it evaluates: a CMK or a white-box key (docs/contract/cam.md#resources: the same `key/` form). */
type KeyOwner = Pick<KeyRecord, 'keyId' | 'creatorUin' | 'tags'>;

const tagStrings = (k: KeyOwner) => k.tags.map((t) => `${t.key}&${t.value}`);

export class AccessService {
  /** userUin → the user's parsed policies: mutable, short TTL, dropped on local writes. */
  private readonly attached: TtlCache<string, Policy[]>;
  /** policy document text → parsed policy: a pure function of the text, kept until evicted. */
  private readonly parsed: TtlCache<string, Policy>;
  private readonly presets: Readonly<Record<PresetPolicyName, Policy>>;
  private readonly knownActions: ReadonlySet<string>;

  constructor(
    private readonly policies: PolicyRepo,
    private readonly identities: IdentityRepo,
    private readonly keys: Pick<KeyRepo, 'getMany'>,
    private readonly dataKeys: DataKeyRepo,
    actions: KnownActions,
    cache: { ttlMs: number; epoch?: CacheEpoch } = { ttlMs: 0 },
    /** White-box keys, looked up for the ids that are no CMK. */
    private readonly whiteBoxKeys?: Pick<WhiteBoxKeyRepo, 'getMany'>,
  ) {
    this.attached = new TtlCache({ ttlMs: cache.ttlMs, maxEntries: 10_000, epoch: cache.epoch });
    this.parsed = new TtlCache({ ttlMs: Infinity, maxEntries: 1_000 });
    this.presets = presetPolicies(actions.readOnly);
    this.knownActions = actions.kms;
  }

  async createPolicy(accountUin: string, name: string, document: string): Promise<{ name: string; id: string }> {
    if (!/^[A-Za-z0-9_.+=,@-]{1,128}$/.test(name)) throw new InvalidArgumentError('policy name must be 1 to 128 letters, digits or _.+=,@-');
    if (name in this.presets) throw new AlreadyExistsError(`${name} is a preset policy`);
    try {
      parsePolicy(document, { knownActions: this.knownActions });
    } catch (err) {
      if (err instanceof PolicyError) throw new InvalidArgumentError(`malformed policy: ${err.message}`);
      throw err;
    }
    if (await this.policies.findByName(accountUin, name)) throw new AlreadyExistsError(`policy ${name} already exists`);
    const id = `policy-${randomBytes(8).toString('hex')}`;
    await this.policies.insert({ policyId: id, accountUin, name, document, createdAt: Date.now() });
    return { name, id };
  }

  async listPolicies(accountUin: string): Promise<Array<{ name: string; id: string; preset: boolean }>> {
    const presets = Object.keys(this.presets).map((name) => ({ name, id: `${PRESET_PREFIX}${name}`, preset: true }));
    return [...presets, ...(await this.policies.list(accountUin)).map((p) => ({ name: p.name, id: p.policyId, preset: false }))];
  }

  private async resolve(accountUin: string, policyName: string, userName: string): Promise<{ ref: string; userUin: string }> {
    const user = await this.identities.findUserByName(accountUin, userName);
    if (!user) throw new NotFoundError(`user ${userName} not found in account ${accountUin}`);
    if (policyName in this.presets) return { ref: `${PRESET_PREFIX}${policyName}`, userUin: user.uin };
    const p = await this.policies.findByName(accountUin, policyName);
    if (!p) throw new NotFoundError(`policy ${policyName} not found in account ${accountUin}`);
    return { ref: p.policyId, userUin: user.uin };
  }

  async attach(accountUin: string, policyName: string, userName: string): Promise<{ name: string; user: string }> {
    const { ref, userUin } = await this.resolve(accountUin, policyName, userName);
    await this.policies.attach(userUin, ref);
    return { name: policyName, user: userName };
  }

  async detach(accountUin: string, policyName: string, userName: string): Promise<{ name: string; user: string }> {
    const { ref, userUin } = await this.resolve(accountUin, policyName, userName);
    if (!(await this.policies.detach(userUin, ref))) throw new NotFoundError(`policy ${policyName} is not attached to ${userName}`);
    return { name: policyName, user: userName };
  }

  private userPolicies(userUin: string): Promise<Policy[]> {
    return this.attached.getOrLoad(userUin, () => this.loadUserPolicies(userUin));
  }

  private async loadUserPolicies(userUin: string): Promise<Policy[]> {
    const out: Policy[] = [];
    for (const a of await this.policies.forUser(userUin)) {
      if (a.ref.startsWith(PRESET_PREFIX)) {
        const preset = this.presets[a.ref.slice(PRESET_PREFIX.length) as PresetPolicyName];
        if (preset) out.push(preset);
      } else if (a.document) {
        let p = this.parsed.get(a.document);
        if (!p) this.parsed.set(a.document, (p = parsePolicy(a.document, { knownActions: this.knownActions })));
        out.push(p);
      }
    }
    return out;
  }

  /** Throws UnauthorizedError when the policies do not allow the call; the root always passes. */
  async authorize(r: AccessRequest): Promise<void> {
    if (r.isRoot) return;
    const { service, cam } = r;
    const policies = await this.userPolicies(r.userUin);
    const base: AuthzContext = { 'qcs:current_time': r.now ?? new Date(), 'qcs:ip': r.sourceIp };
    if (Array.isArray(r.tags)) base['qcs:request_tag'] = r.tags.map((t) => `${t.TagKey}&${t.TagValue}`);
    const deny = (resource: string, action = r.action): never => {
      throw new UnauthorizedError(`you are not authorized to perform operation (${service}:${action}) on resource (${resource})`);
    };

    // Hosted data keys (seed 004): resource-level on `qcs::kms::uin/$uin:key/creatorUin/$creatorUin/
    // $dataKeyId` — the region segment is empty in the seed, so only region-less (or `*`) patterns
    // match. Batch calls need every data key; a missing one is evaluated with a wildcard creator.
    const dataKeyIds = cam.level === 'resource' ? r.resources.dataKeys : [];
    if (dataKeyIds.length > 0) {
      const found = new Map((await this.dataKeys.getMany(r.accountUin, r.region ?? '', [...dataKeyIds])).map((d) => [d.dataKeyId, d]));
      for (const id of dataKeyIds) {
        const d = found.get(id);
        const resource = keyResource('', r.accountUin, d?.creatorUin ?? '*', id);
        const context: AuthzContext = { ...base, ...(d ? { 'qcs:resource_tag': d.tags.map((t) => `${t.key}&${t.value}`) } : {}) };
        if (!evaluate({ action: r.action, service, resources: [resource], context, isRoot: false, ipCondition: cam.ipCondition }, policies).allowed) deny(resource);
      }
      // The operation on the data keys' CMKs (GetDataKeyPlaintext: a Decrypt).
      const performs = r.resources.performs;
      if (performs) {
        const cmks = [...new Set([...found.values()].map((d) => d.keyId))].map((keyId) => ({ keyId, regionless: false }));
        await this.checkKeys(r, policies, base, performs, cmks, (resource) => deny(resource, performs));
      }
      return;
    }

    // Operation-level actions are evaluated against `*`; resource-level ones against each key they
    // touch, Decrypt and ReEncrypt against the key inside the ciphertext (docs/data-keys.md#cam).
    const keys = cam.level === 'operation' ? [] : r.resources.keys;
    if (keys.length === 0) {
      if (!evaluate({ action: r.action, service, resources: ['*'], context: base, isRoot: false, ipCondition: cam.ipCondition }, policies).allowed) deny('*');
      return;
    }
    await this.checkKeys(r, policies, base, r.action, keys, (resource) => deny(resource));
    // The operation on the same CMKs, on their regional resources (ImportDataKey: a Decrypt or an Encrypt).
    const performs = r.resources.performs;
    if (performs)
      await this.checkKeys(
        r,
        policies,
        base,
        performs,
        keys.map((k) => ({ keyId: k.keyId, regionless: false })),
        (resource) => deny(resource, performs),
      );
  }

  /**
   * `action` on each CMK. Batch calls need permission on every key; a key that does not exist is
   * evaluated with a wildcard creator, so only a caller allowed on it learns that it is missing
   * (docs/contract/cam.md#evaluation).
   */
  private async checkKeys(r: AccessRequest, policies: Policy[], base: AuthzContext, action: string, keys: readonly KeyRef[], deny: (resource: string) => never): Promise<void> {
    if (keys.length === 0) return;
    const found = new Map<string, KeyOwner>(
      (
        await this.keys.getMany(
          r.accountUin,
          r.region ?? '',
          keys.map((k) => k.keyId),
        )
      ).map((k) => [k.keyId, k]),
    );
    // White-box keys share the CMK's resource form (seed 004); only ids that are no CMK are looked for.
    const others = keys.filter((k) => !found.has(k.keyId)).map((k) => k.keyId);
    if (others.length > 0 && this.whiteBoxKeys) for (const w of await this.whiteBoxKeys.getMany(r.accountUin, r.region ?? '', others)) found.set(w.keyId, w);
    for (const { keyId: id, regionless } of keys) {
      // ImportDataKey's resource (seed 004) is its wrapping CMK in the region-less form.
      const region = regionless ? '' : (r.region ?? '');
      const key = found.get(id);
      const resource = key ? keyResource(region, r.accountUin, key.creatorUin, id) : keyResource(region, r.accountUin, '*', id);
      const context: AuthzContext = { ...base, ...(key ? { 'qcs:resource_tag': tagStrings(key) } : {}) };
      if (!evaluate({ action, service: r.service, resources: [resource], context, isRoot: false, ipCondition: r.cam.ipCondition }, policies).allowed) deny(resource);
    }
  }
}
