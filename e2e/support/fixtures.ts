import { request } from "node:https";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { queryTxt } from "../../src/dns/query.js";
import { repoRoot, rigVar } from "../../test/support/rig.js";
import { apiErrorMessage, waitFor, type TestClients } from "../../test/support/kube.js";

/** A Kubernetes object as a plain record. */
export type Obj = Record<string, unknown> & { metadata: { name: string; namespace?: string } };

/** Reads a manifest from examples/ with `${VAR}` placeholders filled from `vars` (as envsubst would). */
export function loadExample(path: string, vars: Record<string, string>): Obj {
  const text = readFileSync(resolve(repoRoot, "examples", path), "utf8").replace(
    /\$\{([A-Z0-9_]+)\}/g,
    (_, name: string) => {
      const v = vars[name];
      if (v === undefined) throw new Error(`no value for placeholder ${name} in ${path}`);
      return v;
    },
  );
  return parseYaml(text) as Obj;
}

/** The placeholder values of the rig's ClusterIssuer example. */
export function rigIssuerVars(): Record<string, string> {
  return {
    ACME_DIRECTORY_URL: rigVar("ACME_DIRECTORY_URL"),
    ACME_CA_BUNDLE_B64: readFileSync(rigVar("ACME_CA_FILE")).toString("base64"),
    DNS_SERVER: rigVar("DNS_SERVER"),
    TSIG_KEY_NAME: rigVar("TSIG_KEY_NAME"),
    TSIG_ALGORITHM: rigVar("TSIG_ALGORITHM"),
  };
}

/** Fetches Pebble's root certificate (it makes a new one at every start) over its management API. */
export async function pebbleRoot(): Promise<string> {
  return pebbleManagement("GET", "/roots/0");
}

/**
 * Moves a certificate's ARI window at Pebble (management `POST /set-renewal-info/`, see Pebble's
 * wfe.go SetRenewalInfo): from then on Pebble's renewalInfo answers for that certificate with this
 * window instead of its own (the middle third of the lifetime, two days wide).
 */
export async function setPebbleRenewalWindow(certificatePem: string, start: Date, end: Date): Promise<void> {
  const ariResponse = JSON.stringify({
    suggestedWindow: { start: start.toISOString(), end: end.toISOString() },
  });
  await pebbleManagement(
    "POST",
    "/set-renewal-info/",
    JSON.stringify({ Certificate: certificatePem, ARIResponse: ariResponse }),
  );
}

/** One request to Pebble's management API (HTTPS with the rig's CA); throws unless it answers 2xx. */
export async function pebbleManagement(method: "GET" | "POST", path: string, body?: string): Promise<string> {
  const url = new URL(path, rigVar("PEBBLE_MANAGEMENT_URL"));
  const ca = readFileSync(rigVar("ACME_CA_FILE"));
  return new Promise((resolveBody, reject) => {
    request(
      url,
      {
        ca,
        method,
        headers: {
          // Pebble refuses every request without one (RFC 8555 section 6.1), management ones too.
          "user-agent": "dns01-operator-e2e",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299)
            reject(new Error(`Pebble ${method} ${path} answered ${status}: ${text}`));
          else resolveBody(text);
        });
        res.on("error", reject);
      },
    )
      .on("error", reject)
      .end(body);
  });
}

/** The TXT values BIND serves at `_acme-challenge.<name>` right now. */
export async function challengeTxt(name: string): Promise<string[]> {
  return queryTxt(`_acme-challenge.${name.replace(/^\*\./, "")}.`, rigVar("DNS_SERVER"));
}

/** Custom-object coordinates of our kinds. */
export const dns01 = { group: "dns01.io", version: "v1alpha1" } as const;

/** Reads one of our objects, or undefined when it does not exist. */
export async function getCustom(
  c: TestClients,
  plural: string,
  name: string,
  namespace?: string,
): Promise<Obj | undefined> {
  try {
    return (await (namespace === undefined
      ? c.custom.getClusterCustomObject({ ...dns01, plural, name })
      : c.custom.getNamespacedCustomObject({ ...dns01, plural, name, namespace }))) as Obj;
  } catch (err) {
    if (apiErrorMessage(err).includes("not found")) return undefined;
    throw err;
  }
}

/** A condition of an object's status. */
export function condition(
  obj: Obj | undefined,
  type: string,
): { status: string; reason: string; message: string } | undefined {
  const conds = (
    obj?.["status"] as
      { conditions?: { type: string; status: string; reason: string; message: string }[] } | undefined
  )?.conditions;
  return conds?.find((c) => c.type === type);
}

/** Waits until a Certificate has Ready=True and returns it. */
export async function waitForReadyCertificate(
  c: TestClients,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<Obj> {
  return waitFor(
    `Certificate ${namespace}/${name} to become Ready`,
    async () => {
      const cert = await getCustom(c, "certificates", name, namespace);
      return condition(cert, "Ready")?.status === "True" ? cert : undefined;
    },
    timeoutMs,
  );
}

/** Creates an object with the generic client (kubectl create). */
export async function createObject(c: TestClients, obj: Obj): Promise<void> {
  await c.objects.create(obj);
}

/** Deletes an object, ignoring one that is gone. */
export async function deleteObject(c: TestClients, obj: Obj): Promise<void> {
  try {
    await c.objects.delete(obj);
  } catch {
    // gone already
  }
}
