/**
 * The `azureDNS` DNS-01 provider: Azure DNS through `@azure/arm-dns` and `@azure/identity`.
 *
 * Azure DNS keeps all TXT values of one name in one record set (one TXT record per value). Every
 * change is a read-modify-write of that set guarded by its ETag: a new set is created with
 * `If-None-Match: *`, an existing one replaced or deleted with `If-Match: <etag>`, so that a
 * concurrent writer (the other challenge at the same name, another operator) is never overwritten:
 * on 412 the set is read again and the change retried once. Changes to one record set from this
 * process are also made one at a time. The last value's removal deletes the set.
 *
 * Credentials (a service principal's client secret, or a managed / workload identity for
 * ClusterIssuers) and clients are shared per configuration, so MSAL's token cache is used across
 * challenges; a rotated secret is a new configuration and gets a new credential.
 */
import { createHash } from "node:crypto";
import { DnsManagementClient, type RecordSet, type TxtRecord as AzureTxtRecord } from "@azure/arm-dns";
import {
  ClientSecretCredential,
  ManagedIdentityCredential,
  WorkloadIdentityCredential,
  type TokenCredential,
} from "@azure/identity";
import { TemporaryError, TerminalError } from "../../errors.js";
import { rateLimits as processRateLimits, type RateLimits } from "../limits.js";
import type { ProviderRateLimit } from "../provider.js";
import type { Dns01Solver, SolverContext, TxtRecord } from "../types.js";
import { classify } from "./errors.js";

/** The Azure clouds cert-manager names, with their ARM and Entra ID endpoints. */
export const AZURE_ENVIRONMENTS = {
  AzurePublicCloud: { arm: "https://management.azure.com", authority: "https://login.microsoftonline.com" },
  AzureChinaCloud: {
    arm: "https://management.chinacloudapi.cn",
    authority: "https://login.chinacloudapi.cn",
  },
  AzureUSGovernmentCloud: {
    arm: "https://management.usgovcloudapi.net",
    authority: "https://login.microsoftonline.us",
  },
} as const;

/** A cloud name as the CRD spells it. */
export type AzureEnvironment = keyof typeof AZURE_ENVIRONMENTS | "AzureGermanCloud";

/**
 * ARM's throttling for writes, per subscription and principal: a token bucket of 200 refilled at
 * 10 per second (reads get 250 at 25/s; every call is counted as a write here, to stay under both).
 */
export const AZURE_DNS_RATE_LIMIT: ProviderRateLimit = {
  requests: 200,
  perMs: 20_000,
  source:
    "https://learn.microsoft.com/en-us/azure/azure-resource-manager/management/request-limits-and-throttling",
};

/** TTL of the TXT record sets it creates. */
export const DEFAULT_TTL = 60;

/** How the provider authenticates. */
export type AzureCredentialConfig =
  | {
      readonly kind: "clientSecret";
      readonly tenantID: string;
      readonly clientID: string;
      readonly clientSecret: string;
    }
  | {
      /** Workload identity when AZURE_FEDERATED_TOKEN_FILE is set (AKS), else the managed identity (IMDS). */
      readonly kind: "managedIdentity";
      readonly clientID?: string | undefined;
      readonly resourceID?: string | undefined;
      readonly tenantID?: string | undefined;
    };

/** The provider's settings, with the client secret already read from its Secret. */
export interface AzureDnsConfig {
  readonly subscriptionID: string;
  readonly resourceGroupName: string;
  /** The zone; the challenge's zone (found through DNS) when absent. */
  readonly hostedZoneName?: string | undefined;
  readonly environment?: AzureEnvironment | undefined;
  readonly credential: AzureCredentialConfig;
  /** Another ARM endpoint than the environment's (tests, a proxy). */
  readonly endpoint?: string | undefined;
  /** Another Microsoft Entra ID authority host than the environment's (tests, a proxy). */
  readonly authorityHost?: string | undefined;
  readonly ttl?: number | undefined;
}

/** What the solver may be given besides its settings (tests pass their own). */
export interface AzureDnsDeps {
  readonly rateLimits?: RateLimits;
  /**
   * The CA certificates (PEM) to trust for ARM and Entra ID instead of Node's default store, e.g.
   * an emulator's or a TLS-inspecting proxy's.
   */
  readonly caPem?: string;
}

const MAX_CLIENTS = 64;

const stripDot = (n: string) => n.replace(/\.$/, "").toLowerCase();

/** The TXT values of a record set: each record's strings joined (a value over 255 bytes is split). */
function valuesOf(set: RecordSet | undefined): string[] {
  return (set?.txtRecords ?? []).map((r) => (r.value ?? []).join(""));
}

/** A value as Azure stores it: strings of at most 255 characters. */
function txtRecord(value: string): AzureTxtRecord {
  const parts: string[] = [];
  for (let i = 0; i < value.length; i += 255) parts.push(value.slice(i, i + 255));
  return { value: parts.length === 0 ? [""] : parts };
}

/** The endpoints of the configured cloud, after overrides. */
function endpoints(config: AzureDnsConfig): { arm: string; authority: string } {
  const env = config.environment ?? "AzurePublicCloud";
  if (env === "AzureGermanCloud") {
    throw new TerminalError(
      "azureDNS: environment AzureGermanCloud no longer exists (Microsoft closed Azure Germany on 2021-10-29); " +
        "zones there moved to AzurePublicCloud",
      "InvalidConfiguration",
    );
  }
  const cloud = AZURE_ENVIRONMENTS[env];
  return {
    arm: (config.endpoint ?? cloud.arm).replace(/\/+$/, ""),
    authority: (config.authorityHost ?? cloud.authority).replace(/\/+$/, ""),
  };
}

function credentialFor(
  config: AzureDnsConfig,
  authority: string,
  caPem: string | undefined,
): TokenCredential {
  // The SDKs retry throttling and 5xx themselves, sleeping in between: the work queue does that.
  const common = {
    retryOptions: { maxRetries: 0 },
    ...(caPem === undefined ? {} : { tlsOptions: { ca: caPem } }),
  };
  const c = config.credential;
  if (c.kind === "clientSecret") {
    return new ClientSecretCredential(c.tenantID, c.clientID, c.clientSecret, {
      ...common,
      authorityHost: authority,
      // No instance discovery call: the authority is one of the known clouds, or an override.
      disableInstanceDiscovery: true,
    });
  }
  const authorityOverride = config.authorityHost === undefined ? {} : { authorityHost: authority };
  if (process.env["AZURE_FEDERATED_TOKEN_FILE"] !== undefined) {
    // AKS workload identity: the webhook injects AZURE_TENANT_ID, AZURE_CLIENT_ID,
    // AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST; the block may name another identity.
    return new WorkloadIdentityCredential({
      ...common,
      ...authorityOverride,
      disableInstanceDiscovery: true,
      ...(c.clientID === undefined ? {} : { clientId: c.clientID }),
      ...(c.tenantID === undefined ? {} : { tenantId: c.tenantID }),
    });
  }
  if (c.resourceID !== undefined)
    return new ManagedIdentityCredential({ ...common, resourceId: c.resourceID });
  return new ManagedIdentityCredential({
    ...common,
    ...(c.clientID === undefined ? {} : { clientId: c.clientID }),
  });
}

/** One ARM client and what the solvers of one configuration share. */
class AzureDnsApi {
  private readonly client: DnsManagementClient;
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly config: AzureDnsConfig,
    readonly accountKey: string,
    private readonly limits: RateLimits,
    caPem: string | undefined,
  ) {
    const { arm, authority } = endpoints(config);
    this.client = new DnsManagementClient(credentialFor(config, authority, caPem), config.subscriptionID, {
      endpoint: arm,
      $host: arm,
      credentialScopes: `${arm}/.default`,
      retryOptions: { maxRetries: 0 },
      ...(caPem === undefined ? {} : { tlsOptions: { ca: caPem } }),
    });
  }

  /** The zone and the record set's name relative to it ("@" at the apex). */
  names(record: TxtRecord): { zone: string; relative: string } {
    const zone = stripDot(this.config.hostedZoneName ?? record.zone);
    const fqdn = stripDot(record.fqdn);
    if (fqdn === zone) return { zone, relative: "@" };
    if (!fqdn.endsWith(`.${zone}`)) {
      throw new TerminalError(
        `azureDNS: ${record.fqdn} is not in the zone ${zone}${this.config.hostedZoneName === undefined ? "" : " (hostedZoneName)"}`,
        "InvalidConfiguration",
      );
    }
    return { zone, relative: fqdn.slice(0, -(zone.length + 1)) };
  }

  /** Adds or removes one value: a read and a write (or a delete), retried once on an ETag conflict. */
  async change(op: "add" | "remove", record: TxtRecord, ctx: SolverContext): Promise<void> {
    ctx.signal.throwIfAborted();
    const { zone, relative } = this.names(record);
    const key = `${zone}/${relative}`;
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(() => this.update(op, zone, relative, record.value, ctx));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    await run;
  }

  private async update(
    op: "add" | "remove",
    zone: string,
    relative: string,
    value: string,
    ctx: SolverContext,
  ) {
    const rg = this.config.resourceGroupName;
    const abortSignal = ctx.signal;
    for (let attempt = 0; ; attempt++) {
      // The read and the write are one operation: take both tokens together, so that a drained
      // bucket can never let the read through and then refuse the write on every attempt.
      this.reserve(2, op === "add" ? "failed to create TXT record" : "failed to remove TXT record");
      const current = await this.call("failed to read TXT record", () =>
        this.client.recordSets.get(rg, zone, relative, "TXT", { abortSignal }),
      );
      const set = current === NOT_FOUND || current === CONFLICT ? undefined : current;
      const values = valuesOf(set);
      let write: () => Promise<unknown>;
      let what: string;
      if (op === "add") {
        if (values.includes(value)) return;
        what = "failed to create TXT record";
        const txtRecords = [...(set?.txtRecords ?? []), txtRecord(value)];
        write = set
          ? () =>
              this.client.recordSets.createOrUpdate(
                rg,
                zone,
                relative,
                "TXT",
                { ttl: set.ttl ?? this.config.ttl ?? DEFAULT_TTL, metadata: set.metadata ?? {}, txtRecords },
                { ifMatch: set.etag ?? "*", abortSignal },
              )
          : () =>
              this.client.recordSets.createOrUpdate(
                rg,
                zone,
                relative,
                "TXT",
                { ttl: this.config.ttl ?? DEFAULT_TTL, txtRecords },
                { ifNoneMatch: "*", abortSignal },
              );
      } else {
        if (!set || !values.includes(value)) return;
        what = "failed to remove TXT record";
        const rest = (set.txtRecords ?? []).filter((r) => (r.value ?? []).join("") !== value);
        write =
          rest.length === 0
            ? () =>
                this.client.recordSets.delete(rg, zone, relative, "TXT", {
                  ifMatch: set.etag ?? "*",
                  abortSignal,
                })
            : () =>
                this.client.recordSets.createOrUpdate(
                  rg,
                  zone,
                  relative,
                  "TXT",
                  { ttl: set.ttl ?? DEFAULT_TTL, metadata: set.metadata ?? {}, txtRecords: rest },
                  { ifMatch: set.etag ?? "*", abortSignal },
                );
      }
      ctx.log.debug(`azureDNS: writing TXT record set`, { op, zone, relative, attempt });
      const outcome = await this.call(what, write, attempt === 0);
      if (outcome !== CONFLICT) return;
    }
  }

  private reserve(n: number, what: string): void {
    const wait = this.limits.bucket(this.accountKey, AZURE_DNS_RATE_LIMIT).take(n);
    if (wait > 0) {
      throw new TemporaryError(
        `azureDNS: ${what}: client-side rate limit for this account; retrying in ${wait} ms`,
        wait,
      );
    }
  }

  /**
   * One API call (its token already reserved). A 404 of a record set returns NOT_FOUND; a 412
   * returns CONFLICT when `conflictOk`, else a TemporaryError; the rest becomes the operator's errors.
   */
  private async call<T>(
    what: string,
    fn: () => Promise<T>,
    conflictOk = false,
  ): Promise<T | typeof NOT_FOUND | typeof CONFLICT> {
    try {
      return await fn();
    } catch (err) {
      const c = classify(err, what);
      switch (c.kind) {
        case "error":
          throw c.error;
        case "notFound":
          return NOT_FOUND;
        case "throttled":
          this.limits.bucket(this.accountKey, AZURE_DNS_RATE_LIMIT).drainFor(c.retryAfterMs);
          throw new TemporaryError(
            `azureDNS: ${what}: throttled by Azure Resource Manager; retrying in ${c.retryAfterMs} ms`,
            c.retryAfterMs,
            { cause: err },
          );
        case "conflict":
          if (conflictOk) return CONFLICT;
          throw new TemporaryError(
            `azureDNS: ${what}: the record set changed while it was being updated, twice in a row`,
            undefined,
            { cause: err },
          );
      }
    }
  }
}

const NOT_FOUND = Symbol("notFound");
const CONFLICT = Symbol("conflict");

const clients = new Map<string, AzureDnsApi>();

/** The non-secret key of the account's rate-limit bucket: ARM throttles per subscription and principal. */
function accountKeyOf(config: AzureDnsConfig): string {
  const c = config.credential;
  const principal =
    c.kind === "clientSecret"
      ? `${c.tenantID}/${c.clientID}`
      : `managed/${c.clientID ?? c.resourceID ?? "default"}`;
  return `azureDNS:${config.subscriptionID}:${principal}`;
}

/**
 * Builds the Azure DNS solver. Clients (and their token caches) are shared by configuration,
 * secret included, so a rotated secret gets its own.
 */
export function createAzureDnsSolver(config: AzureDnsConfig, deps: AzureDnsDeps = {}): Dns01Solver {
  for (const [field, v] of [
    ["subscriptionID", config.subscriptionID],
    ["resourceGroupName", config.resourceGroupName],
  ] as const) {
    if (v.trim() === "") throw new TerminalError(`azureDNS: ${field} is required`, "InvalidConfiguration");
  }
  endpoints(config);
  let api: AzureDnsApi;
  if (deps.rateLimits !== undefined) {
    // Tests inject their own limiter: never share a client across limiters.
    api = new AzureDnsApi(config, accountKeyOf(config), deps.rateLimits, deps.caPem);
  } else {
    const id = createHash("sha256")
      .update(JSON.stringify([config, deps.caPem ?? null]))
      .digest("hex");
    const cached = clients.get(id);
    api = cached ?? new AzureDnsApi(config, accountKeyOf(config), processRateLimits, deps.caPem);
    if (!cached) {
      const oldest = clients.keys().next();
      if (clients.size >= MAX_CLIENTS && oldest.done !== true) clients.delete(oldest.value);
      clients.set(id, api);
    }
  }
  return {
    present: (record, ctx) => api.change("add", record, ctx),
    cleanUp: (record, ctx) => api.change("remove", record, ctx),
  };
}
