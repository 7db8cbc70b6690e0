import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { rigVar } from "./rig.js";

/** API clients for the rig's (or the given) cluster. */
export interface TestClients {
  readonly kc: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly custom: k8s.CustomObjectsApi;
  readonly objects: k8s.KubernetesObjectApi;
  readonly coordination: k8s.CoordinationV1Api;
}

/** Builds clients from the rig's KUBECONFIG. */
export function testClients(): TestClients {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(rigVar("KUBECONFIG"));
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
  };
}

/** A short random suffix for names that must not collide between tests and runs. */
export function suffix(): string {
  return randomBytes(3).toString("hex");
}

/** Creates a namespace with a unique name and returns the name. */
export async function createNamespace(core: k8s.CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${suffix()}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Deletes a namespace, ignoring one that is already gone. */
export async function deleteNamespace(core: k8s.CoreV1Api, name: string): Promise<void> {
  try {
    await core.deleteNamespace({ name });
  } catch {
    // already gone
  }
}

/**
 * Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs` with
 * the last error or value it saw. Polling with a deadline, not a fixed sleep, keeps tests fast on
 * an idle machine and tolerant on a busy one.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The message of an apiserver error (client-node's ApiException carries the Status in `body`). */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        return parsed.message ?? body;
      } catch {
        return body;
      }
    }
    if (body && typeof body === "object" && "message" in body) return String(body.message);
  }
  return err instanceof Error ? err.message : String(err);
}
