/**
 * `dns01ctl renew`: asks for a reissue by setting the annotation `dns01.io/renew` to a new value
 * (the current time, RFC 3339 with milliseconds) on one Certificate, on those a label selector
 * picks, or on all of them, in one namespace or all. The Certificate controller reissues exactly
 * once per new value; this command only writes the annotation.
 */
import { Kinds, type CertificateObj } from "../controllers/kinds.js";
import { isNotFound } from "../kube/api-errors.js";
import { PatchType, type KubeClient } from "../kube/client.js";
import { collectionPath, objectPath } from "../kube/resources.js";
import type { KubeList } from "../kube/types.js";
import { UsageError } from "./args.js";
import { table } from "./output.js";

/** The annotation that requests one reissue per new value (issue 7's manual renewal). */
export const RENEW_ANNOTATION = "dns01.io/renew";

/** Which Certificates to renew. */
export type RenewTarget =
  | { readonly by: "name"; readonly name: string; readonly namespace: string }
  | { readonly by: "selector"; readonly selector: string; readonly namespace: string | undefined }
  | { readonly by: "all"; readonly namespace: string | undefined };

/** One Certificate whose annotation was set. */
export interface Renewed {
  readonly namespace: string;
  readonly name: string;
  readonly value: string;
}

/**
 * Decides the target from the command's arguments, kubectl-style: NAME, `-l`, or `--all`, exactly
 * one of them; `-A` goes with `-l` or `--all` only.
 */
export function renewTarget(
  args: readonly string[],
  opts: { selector?: string | undefined; all: boolean; allNamespaces: boolean; namespace: string },
): RenewTarget {
  const given = [args.length > 0, opts.selector !== undefined, opts.all].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError("renew needs exactly one of: a NAME, -l SELECTOR, or --all", "renew");
  }
  if (args.length > 1) throw new UsageError("renew takes one NAME; use -l to pick several", "renew");
  const [name] = args;
  if (name !== undefined) {
    if (opts.allNamespaces) throw new UsageError("-A goes with -l or --all, not with a NAME", "renew");
    return { by: "name", name, namespace: opts.namespace };
  }
  const namespace = opts.allNamespaces ? undefined : opts.namespace;
  if (opts.selector !== undefined) {
    if (opts.selector.trim() === "")
      throw new UsageError("-l needs a label selector such as app=web", "renew");
    return { by: "selector", selector: opts.selector, namespace };
  }
  return { by: "all", namespace };
}

/** Sets the annotation on every targeted Certificate; resolves with those it set. */
export async function renew(
  client: KubeClient,
  target: RenewTarget,
  now: () => Date = () => new Date(),
): Promise<Renewed[]> {
  let targets: { namespace: string; name: string }[];
  if (target.by === "name") {
    targets = [{ namespace: target.namespace, name: target.name }];
  } else {
    const list = await client.get<KubeList<CertificateObj>>(
      collectionPath(Kinds.certificates, target.namespace),
      {
        query: { labelSelector: target.by === "selector" ? target.selector : undefined },
      },
    );
    targets = list.items.map((c) => ({ namespace: c.metadata.namespace ?? "", name: c.metadata.name ?? "" }));
  }
  const done: Renewed[] = [];
  for (const t of targets) {
    // Milliseconds, so that two renewals within one second still carry two different values.
    const value = now().toISOString();
    try {
      await client.request("PATCH", objectPath(Kinds.certificates, t.namespace, t.name), {
        body: { metadata: { annotations: { [RENEW_ANNOTATION]: value } } },
        contentType: PatchType.merge,
      });
    } catch (err) {
      if (isNotFound(err)) throw new Error(`certificate ${t.name} not found in namespace ${t.namespace}`);
      throw err;
    }
    done.push({ ...t, value });
  }
  return done;
}

/** The human form of the renewals. */
export function renderRenewed(renewed: readonly Renewed[], target: RenewTarget): string {
  if (renewed.length === 0) {
    const where = target.namespace === undefined ? "in any namespace" : `in namespace ${target.namespace}`;
    return `No certificates ${target.by === "selector" ? `match ${target.selector} ` : ""}${where}.`;
  }
  return [
    table(
      ["namespace", "certificate", RENEW_ANNOTATION],
      renewed.map((r) => [r.namespace, r.name, r.value]),
    ),
    `Renewal requested for ${renewed.length} certificate${renewed.length === 1 ? "" : "s"}; watch with: kubectl get certificates.dns01.io -w`,
  ].join("\n");
}
