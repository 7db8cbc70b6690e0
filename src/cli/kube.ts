/**
 * The cluster connection of dns01ctl, chosen as kubectl chooses it: `--kubeconfig`, else
 * $KUBECONFIG (a list of files, merged), else ~/.kube/config, else the pod's service account;
 * `--context` picks a context; `-n` picks the namespace, else the context's, else "default".
 */
import { KubeClient } from "../kube/client.js";
import { loadKubeConfig } from "../kube/config.js";
import { UsageError, type ParsedCommandLine } from "./args.js";

/** A client and the namespace the command works in. */
export interface CliCluster {
  readonly client: KubeClient;
  readonly namespace: string;
  /** The current context's name, for messages. */
  readonly context: string;
}

/** Loads the kubeconfig and context the command line names; throws UsageError for an unknown context. */
export function loadCluster(cl: ParsedCommandLine): CliCluster {
  // Without --kubeconfig, loadKubeConfig merges every file of a $KUBECONFIG list, as kubectl does.
  const kc = loadKubeConfig(cl.kubeconfig);
  if (cl.context !== undefined) {
    if (kc.getContextObject(cl.context) === null) {
      const known = kc.getContexts().map((c) => c.name);
      throw new UsageError(
        `context "${cl.context}" is not in the kubeconfig (it has ${known.length === 0 ? "none" : known.join(", ")})`,
      );
    }
    kc.setCurrentContext(cl.context);
  }
  const context = kc.getCurrentContext();
  const namespace = cl.namespace ?? kc.getContextObject(context)?.namespace ?? "default";
  return { client: new KubeClient(kc, { userAgent: "dns01ctl/0.1" }), namespace, context };
}
