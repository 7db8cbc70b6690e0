/**
 * The AWS credentials a Route 53 solver signs with, as cert-manager resolves them: access keys
 * from the Issuer (or its Secret), the pod's ambient credentials (the SDK's default chain:
 * environment, web identity token file, container and instance roles), or a web identity token;
 * then, when `role` is set, AssumeRole on top of them. Assumed-role credentials are cached per
 * source and role until shortly before they expire, so every present does not cost an STS call.
 */
import { createHash } from "node:crypto";
import { AssumeRoleCommand, AssumeRoleWithWebIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { TerminalError } from "../../errors.js";
import { classifyAwsError } from "./errors.js";

/** A set of AWS credentials; structurally the SDK's AwsCredentialIdentity. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Something that yields credentials when asked; the SDK accepts it as `credentials`. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** Where the credentials come from, before any role is assumed. */
export type CredentialSource =
  | { readonly kind: "static"; readonly accessKeyId: string; readonly secretAccessKey: string }
  /** The SDK's default chain. Only for ClusterIssuers unless the operator allows more (as cert-manager). */
  | { readonly kind: "ambient" }
  /**
   * A web identity token (a bound ServiceAccount token) exchanged by AssumeRoleWithWebIdentity;
   * `subject` names it without revealing it (e.g. `namespace/serviceaccount`). Needs `role`.
   */
  | { readonly kind: "webIdentity"; readonly token: () => Promise<string>; readonly subject: string };

/** The credentials to sign with, and the non-secret keys that identify them. */
export interface AwsIdentity {
  readonly credentials: AwsCredentialsProvider;
  /** Key of the AWS account's token bucket: `account:<id>` for a role ARN, `access-key:<id>`, or `ambient`. */
  readonly accountKey: string;
  /**
   * Tells sets of credentials apart (changes batched together must share one), without being one:
   * it holds a hash prefix of a secret key. Never logged.
   */
  readonly identityKey: string;
}

/** Assumed-role credentials by source and role, refreshed shortly before they expire. */
export class AssumedRoleCache {
  private readonly entries = new Map<
    string,
    { creds?: AwsCredentials; inflight?: Promise<AwsCredentials> }
  >();

  constructor(
    private readonly now: () => number = Date.now,
    /** How long before expiry credentials are refreshed. */
    private readonly marginMs = 5 * 60_000,
  ) {}

  /** The cached credentials of `key`, or those `fetch` yields (one fetch at a time per key). */
  get(key: string, fetch: () => Promise<AwsCredentials>): Promise<AwsCredentials> {
    const entry = this.entries.get(key);
    const creds = entry?.creds;
    if (
      creds &&
      (creds.expiration === undefined || creds.expiration.getTime() - this.now() > this.marginMs)
    ) {
      return Promise.resolve(creds);
    }
    if (entry?.inflight) return entry.inflight;
    const inflight = fetch().then(
      (fresh) => {
        this.entries.set(key, { creds: fresh });
        return fresh;
      },
      (err: unknown) => {
        this.entries.delete(key);
        throw err;
      },
    );
    this.prune();
    this.entries.set(key, { inflight });
    return inflight;
  }

  /** Drops expired entries, so rotated keys do not accumulate. */
  private prune(): void {
    const t = this.now();
    for (const [key, entry] of this.entries) {
      if (entry.creds?.expiration !== undefined && entry.creds.expiration.getTime() <= t) {
        this.entries.delete(key);
      }
    }
  }
}

/** The process's assumed-role credentials. */
export const assumedRoles = new AssumedRoleCache();

let defaultChain: AwsCredentialsProvider | undefined;

/** The SDK's default credential chain, created once per process (it caches and refreshes itself). */
export function ambientCredentials(): AwsCredentialsProvider {
  defaultChain ??= fromNodeProviderChain();
  return defaultChain;
}

/** The session name CloudTrail shows for our AssumeRole calls (cert-manager uses "cert-manager"). */
export const ROLE_SESSION_NAME = "dns01-operator";

/** What {@link awsIdentity} needs. */
export interface AwsIdentityOptions {
  readonly source: CredentialSource;
  /** ARN of a role to assume with the source credentials. */
  readonly role?: string | undefined;
  /** Region of the STS endpoint used for AssumeRole. */
  readonly region: string;
  /** STS endpoint override (tests, VPC endpoints). */
  readonly stsEndpoint?: string | undefined;
  /** The ambient chain; default the process-wide {@link ambientCredentials}. */
  readonly ambient?: AwsCredentialsProvider | undefined;
  readonly cache?: AssumedRoleCache | undefined;
}

function sha256Prefix(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/** The account a role ARN belongs to: Route 53's limit is per account, whoever calls. */
function accountOfRole(role: string): string | undefined {
  return /^arn:[a-z-]+:iam::([0-9]{12}):/.exec(role)?.[1];
}

/**
 * One STS call with a client made for it and closed after: STS is called once an hour or so per
 * role, so nothing is gained by keeping its sockets open.
 */
async function withSts<T>(
  opts: AwsIdentityOptions,
  credentials: AwsCredentialsProvider | undefined,
  fn: (sts: STSClient) => Promise<T>,
): Promise<T> {
  const sts = new STSClient({
    region: opts.region,
    maxAttempts: 1,
    ...(credentials !== undefined ? { credentials } : {}),
    ...(opts.stsEndpoint !== undefined ? { endpoint: opts.stsEndpoint } : {}),
  });
  try {
    return await fn(sts);
  } finally {
    sts.destroy();
  }
}

function assumeRole(
  opts: AwsIdentityOptions,
  role: string,
  base: AwsCredentialsProvider,
): AwsCredentialsProvider {
  return async () => {
    try {
      const out = await withSts(opts, base, (sts) =>
        sts.send(new AssumeRoleCommand({ RoleArn: role, RoleSessionName: ROLE_SESSION_NAME })),
      );
      return fromStsCredentials(out.Credentials, role);
    } catch (err) {
      throw classifyAwsError(err, `assume role ${role}`);
    }
  };
}

function assumeRoleWithWebIdentity(
  opts: AwsIdentityOptions,
  role: string,
  token: () => Promise<string>,
): AwsCredentialsProvider {
  return async () => {
    const webIdentityToken = await token();
    try {
      const out = await withSts(opts, undefined, (sts) =>
        sts.send(
          new AssumeRoleWithWebIdentityCommand({
            RoleArn: role,
            RoleSessionName: ROLE_SESSION_NAME,
            WebIdentityToken: webIdentityToken,
          }),
        ),
      );
      return fromStsCredentials(out.Credentials, role);
    } catch (err) {
      throw classifyAwsError(err, `assume role ${role} with a web identity`);
    }
  };
}

function fromStsCredentials(
  c:
    | {
        AccessKeyId?: string | undefined;
        SecretAccessKey?: string | undefined;
        SessionToken?: string | undefined;
        Expiration?: Date | undefined;
      }
    | undefined,
  role: string,
): AwsCredentials {
  if (!c?.AccessKeyId || !c.SecretAccessKey) {
    throw new TerminalError(`route53: STS returned no credentials for role ${role}`, "InvalidCredentials");
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    ...(c.SessionToken !== undefined ? { sessionToken: c.SessionToken } : {}),
    ...(c.Expiration instanceof Date ? { expiration: c.Expiration } : {}),
  };
}

/**
 * Resolves the credentials of one solver block. Assumed roles are cached in `opts.cache` (the
 * process-wide cache by default) by source, role, region and STS endpoint.
 */
export function awsIdentity(opts: AwsIdentityOptions): AwsIdentity {
  const cache = opts.cache ?? assumedRoles;
  const src = opts.source;
  let base: AwsCredentialsProvider | undefined;
  let sourceKey: string;
  let accountKey: string;
  switch (src.kind) {
    case "static": {
      const creds: AwsCredentials = { accessKeyId: src.accessKeyId, secretAccessKey: src.secretAccessKey };
      base = () => Promise.resolve(creds);
      sourceKey = `static:${src.accessKeyId}:${sha256Prefix(src.secretAccessKey)}`;
      accountKey = `access-key:${src.accessKeyId}`;
      break;
    }
    case "ambient":
      base = opts.ambient ?? ambientCredentials();
      sourceKey = "ambient";
      accountKey = "ambient";
      break;
    case "webIdentity":
      sourceKey = `web-identity:${src.subject}`;
      accountKey = `web-identity:${src.subject}`;
      break;
  }
  const role = opts.role;
  if (role === undefined || role === "") {
    if (base === undefined) {
      throw new TerminalError(
        "route53: a role is required with a ServiceAccount web identity (auth.kubernetes)",
        "InvalidConfiguration",
      );
    }
    return { credentials: base, accountKey, identityKey: sourceKey };
  }
  const account = accountOfRole(role);
  const key = `${opts.stsEndpoint ?? ""}|${opts.region}|${sourceKey}|${role}`;
  const fetch =
    src.kind === "webIdentity"
      ? assumeRoleWithWebIdentity(opts, role, src.token)
      : assumeRole(opts, role, base ?? ambientCredentials());
  return {
    credentials: () => cache.get(key, fetch),
    accountKey: account !== undefined ? `account:${account}` : `role:${role}`,
    identityKey: `${sourceKey}|role:${role}`,
  };
}
