import * as k8s from "@kubernetes/client-node";

/**
 * Loads the Kubernetes client configuration the way kubectl does: KUBECONFIG (or ~/.kube/config)
 * outside a cluster, the pod's service account inside one.
 */
export function loadKubeConfig(kubeconfigPath?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const path = kubeconfigPath ?? process.env["KUBECONFIG"];
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
