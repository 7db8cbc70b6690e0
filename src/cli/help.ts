/** The `--help` texts of dns01ctl, one per command. */
import type { CommandName } from "./args.js";

const GLOBAL = `Global flags:
  --kubeconfig FILE     kubeconfig to use (default: $KUBECONFIG, else ~/.kube/config)
  --context NAME        kubeconfig context to use (default: the current context)
  -n, --namespace NS    namespace (default: the context's namespace, else "default")
  -o, --output FORMAT   json or yaml for scripts (default: human-readable text)
  -h, --help            help for a command`;

const DNS = `  --dns01-recursive-nameservers HOST:PORT,...   resolvers for zone discovery (default: the system's)
  --dns01-recursive-nameservers-only            ask those resolvers instead of the zone's authoritative servers
  --dns01-authoritative-port PORT               port of the authoritative servers (default 53)`;

/** Help per command; `undefined` is the overview. */
export function helpText(command: CommandName | undefined): string {
  switch (command) {
    case "status":
      return `Usage: dns01ctl status certificate NAME [-n NS] [-o json|yaml]

Walks the Certificate, its Issuer, its current Order and Challenges, and asks live DNS: the TXT
values each server of the zone answers at the challenge's record. Says which step waits and why.
Exits 0 when the Certificate is Ready, 1 when it is not.

Flags:
${DNS}

${GLOBAL}`;
    case "renew":
      return `Usage: dns01ctl renew (NAME | -l SELECTOR | --all) [-A] [-n NS]

Requests a reissue: sets the annotation dns01.io/renew to the current time on each Certificate.
The operator reissues once per new value.

Flags:
  -l, --selector SELECTOR   label selector, e.g. app=web,tier!=dev
  --all                     every Certificate in the namespace
  -A, --all-namespaces      with -l or --all: in every namespace

${GLOBAL}`;
    case "check-dns":
      return `Usage: dns01ctl check-dns --issuer NAME [--kind Issuer|ClusterIssuer] DOMAIN...

The pre-flight check, with no CA involved. For each DOMAIN (a wildcard is *.example.com) it
picks the issuer's solver as the operator does, reads its credentials from the cluster, presents a
random TXT value at _acme-challenge.<domain>, waits until every authoritative server answers it,
removes it, and waits until it is gone. Prints per-server timings; exits 1 with the provider's
message when a step fails. The value is removed whatever happens, Ctrl-C included.

Flags:
  --issuer NAME                        the Issuer (in -n) or ClusterIssuer
  --kind KIND                          Issuer (default) or ClusterIssuer
  --cluster-resource-namespace NS      where a ClusterIssuer's Secrets are (default dns01-operator,
                                       as the operator's flag)
  --timeout DURATION                   how long each wait may take (default 2m)
${DNS}

${GLOBAL}`;
    case "convert":
      return `Usage: dns01ctl convert -f FILE|- [-f FILE ...] [-o json|yaml]

Turns cert-manager manifests (cert-manager.io/v1 Certificate, Issuer, ClusterIssuer; multi-
document YAML or a kubectl List) into dns01.io/v1alpha1, on stdout. Other objects pass through.
What cannot be ported (HTTP-01 solvers, ca/selfSigned/vault/venafi issuers, external issuers,
isCA) is refused by name on stderr, and the command exits 1. Fields our API lacks are dropped,
each named on stderr. The output applies with: kubectl apply -f -

Flags:
  -f, --filename FILE   a file to read, or - for stdin (repeatable)

${GLOBAL}`;
    case "inspect":
      return `Usage: dns01ctl inspect secret NAME [-n NS] [-o json|yaml]

Shows what a TLS Secret holds: the certificate's names, issuer, validity and key type, the
chain, whether tls.key belongs to the certificate, and whether the chain verifies against ca.crt.
Exits 1 when the Secret is not usable now (expired, not yet valid, or the key does not match).

${GLOBAL}`;
    case "version":
      return `Usage: dns01ctl version [--client] [-o json|yaml]

Prints dns01ctl's version and, unless --client, the cluster's Kubernetes version.

${GLOBAL}`;
    case "help":
    case undefined:
      return `dns01ctl: look into and drive dns01-operator (also runs as "kubectl dns01").

Usage: dns01ctl COMMAND [flags]

Commands:
  status certificate NAME    which step of the issuance waits and why, with live DNS
  renew NAME|-l SEL|--all    request a reissue (annotation dns01.io/renew)
  check-dns --issuer NAME D  present and remove a test TXT value through the issuer's solver
  convert -f FILE|-          turn cert-manager manifests into dns01.io ones
  inspect secret NAME        names, validity, chain and key of a TLS Secret
  version                    versions of dns01ctl and the cluster
  help COMMAND               help for a command (or: COMMAND --help)

Exit codes: 0 success, 1 the thing checked is not well (or an error), 2 bad usage.

${GLOBAL}`;
  }
}
