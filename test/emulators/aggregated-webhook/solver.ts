/**
 * A cert-manager webhook solver for tests, as cert-manager's webhook library serves one: an
 * extension apiserver for `<groupName>/v1alpha1` whose one resource, `<solverName>`, takes
 * `create` of a ChallengePayload (`webhook.acme.cert-manager.io/v1alpha1`) and answers with its
 * `response: {uid, success, status}`. It trusts only the aggregation layer: a client certificate
 * from the rig's front-proxy CA, the caller named by X-Remote-User. Present and CleanUp write the
 * record into a DnsBackend (the rig's BIND). It counts calls, and can be told to answer
 * `success: false` with a message.
 *
 * `registerSolver` makes it reachable through the rig's apiserver: an ExternalName Service to
 * `localhost` on its port (the rig has no kube-proxy and Endpoints may not hold loopback
 * addresses; the aggregator dials an ExternalName service's name directly) and an APIService
 * `v1alpha1.<groupName>` with the CA of its serving certificate.
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { KubernetesObject } from "@kubernetes/client-node";
import { createTestCa, issueTestCertificate } from "../../../src/pki/testing.js";
import {
  CHALLENGE_PAYLOAD_API_VERSION,
  type ChallengePayload,
} from "../../../src/solvers/webhook/aggregated.js";
import type { DnsBackend } from "../bind-backend.js";
import { readBody } from "../http-emulator.js";
import { waitFor, type TestClients } from "../../support/kube.js";

/** One call the solver served. */
export interface SolverCall {
  readonly action: string;
  readonly user: string;
  readonly request: NonNullable<ChallengePayload["request"]>;
}

/** The test solver; `start` it, then `registerSolver` it. */
export class AggregatedWebhookSolver {
  readonly calls: SolverCall[] = [];
  /** Every request that reached the server, as `<status> <method> <path>` (discovery checks too). */
  readonly seen: string[] = [];
  private failures: string[] = [];
  private server: Server | undefined;
  caPem = "";
  port = 0;

  constructor(
    readonly groupName: string,
    readonly solverName: string,
    private readonly backend: DnsBackend,
    /** The Service name and namespace its certificate is for (`<name>.<namespace>.svc`). */
    readonly service: { readonly name: string; readonly namespace: string },
    private readonly frontProxyCaFile: string,
  ) {}

  /** The next `n` calls answer `success: false` with this message. */
  failNext(message: string, n = 1): void {
    for (let i = 0; i < n; i++) this.failures.push(message);
  }

  async start(): Promise<void> {
    const ca = await createTestCa({ commonName: "aggregated webhook test CA" });
    const leaf = await issueTestCertificate({
      commonName: `${this.service.name}.${this.service.namespace}.svc`,
      dnsNames: [`${this.service.name}.${this.service.namespace}.svc`, "localhost"],
      issuer: ca,
    });
    this.caPem = ca.certPem;
    this.server = createServer(
      {
        key: leaf.key.pem,
        cert: leaf.certPem,
        ca: readFileSync(this.frontProxyCaFile),
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => {
        this.handle(req, res).catch((err: unknown) => {
          if (!res.headersSent) this.status(res, 500, "InternalError", String(err));
        });
      },
    );
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Only the aggregator may call: its front-proxy client certificate, as an extension apiserver checks.
    const socket = req.socket as TLSSocket;
    const peer = socket.getPeerCertificate();
    this.seen.push(
      `${socket.authorized ? "authorized" : `unauthorized (${String(socket.authorizationError)})`} ${req.method ?? ""} ${req.url ?? ""}`,
    );
    if (!socket.authorized || peer.subject.CN !== "front-proxy-client") {
      this.status(res, 401, "Unauthorized", "a front-proxy client certificate is required");
      return;
    }
    const url = new URL(req.url ?? "/", "https://localhost");
    const gv = `/apis/${this.groupName}/v1alpha1`;
    const body = await readBody(req);
    const json = (code: number, value: unknown): void => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (req.method === "GET" && (url.pathname === gv || url.pathname === `${gv}/`)) {
      json(200, {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion: `${this.groupName}/v1alpha1`,
        resources: [
          {
            name: this.solverName,
            singularName: this.solverName,
            namespaced: false,
            kind: "ChallengePayload",
            verbs: ["create"],
          },
        ],
      });
      return;
    }
    if (req.method === "GET" && url.pathname === "/apis") {
      json(200, {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [
          {
            name: this.groupName,
            versions: [{ groupVersion: `${this.groupName}/v1alpha1`, version: "v1alpha1" }],
            preferredVersion: { groupVersion: `${this.groupName}/v1alpha1`, version: "v1alpha1" },
          },
        ],
      });
      return;
    }
    if (req.method !== "POST" || url.pathname !== `${gv}/${this.solverName}`) {
      this.status(res, 404, "NotFound", `the server could not find the requested resource ${url.pathname}`);
      return;
    }
    // Parsed loosely: what came in is to be checked, not trusted to be a ChallengePayload.
    const payload = JSON.parse(body) as {
      apiVersion?: unknown;
      kind?: unknown;
      request?: ChallengePayload["request"];
    };
    const r = payload.request;
    if (
      payload.apiVersion !== CHALLENGE_PAYLOAD_API_VERSION ||
      payload.kind !== "ChallengePayload" ||
      r === undefined
    ) {
      this.status(res, 400, "BadRequest", "expected a ChallengePayload with a request");
      return;
    }
    const user = typeof req.headers["x-remote-user"] === "string" ? req.headers["x-remote-user"] : "";
    this.calls.push({ action: r.action, user, request: r });
    const failure = this.failures.shift();
    const answer = (success: boolean, message?: string): void => {
      json(201, {
        apiVersion: CHALLENGE_PAYLOAD_API_VERSION,
        kind: "ChallengePayload",
        response: {
          uid: r.uid,
          success,
          ...(message === undefined ? {} : { status: { status: "Failure", message } }),
        },
      });
    };
    if (failure !== undefined) {
      answer(false, failure);
      return;
    }
    const action: string = r.action;
    if (action === "Present") await this.backend.add(r.resolvedFQDN, r.resolvedZone, r.key);
    else if (action === "CleanUp") await this.backend.remove(r.resolvedFQDN, r.resolvedZone, r.key);
    else {
      answer(false, `unknown action ${action}`);
      return;
    }
    answer(true);
  }
}

/** The objects that make the solver an APIService of the rig, without the Service when `withoutService`. */
export function solverObjects(s: AggregatedWebhookSolver, withoutService = false): KubernetesObject[] {
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.service.name, namespace: s.service.namespace },
    spec: { type: "ExternalName", externalName: "localhost", ports: [{ name: "https", port: s.port }] },
  };
  const apiService = {
    apiVersion: "apiregistration.k8s.io/v1",
    kind: "APIService",
    metadata: { name: `v1alpha1.${s.groupName}` },
    spec: {
      group: s.groupName,
      version: "v1alpha1",
      service: { name: s.service.name, namespace: s.service.namespace, port: s.port },
      caBundle: Buffer.from(s.caPem).toString("base64"),
      groupPriorityMinimum: 1000,
      versionPriority: 15,
    },
  };
  return withoutService ? [apiService] : [service, apiService];
}

/** Creates the solver's Service and APIService, and waits until the APIService is Available. */
export async function registerSolver(c: TestClients, s: AggregatedWebhookSolver): Promise<void> {
  for (const o of solverObjects(s)) await c.objects.create(o);
  try {
    await waitForApiService(c, `v1alpha1.${s.groupName}`, "True");
  } catch (err) {
    const o = (await c.objects.read({
      apiVersion: "apiregistration.k8s.io/v1",
      kind: "APIService",
      metadata: { name: `v1alpha1.${s.groupName}` },
    })) as { status?: unknown };
    throw new Error(
      `${(err as Error).message}: status ${JSON.stringify(o.status)}; the solver saw ${JSON.stringify(s.seen.slice(-5))}`,
      { cause: err },
    );
  }
}

/** Waits for an APIService's Available condition to have this status. */
export async function waitForApiService(
  c: TestClients,
  name: string,
  status: "True" | "False",
): Promise<void> {
  await waitFor(
    `APIService ${name} Available=${status}`,
    async () => {
      const o = (await c.objects.read({
        apiVersion: "apiregistration.k8s.io/v1",
        kind: "APIService",
        metadata: { name },
      })) as {
        status?: { conditions?: { type: string; status: string }[] };
      };
      return o.status?.conditions?.some((k) => k.type === "Available" && k.status === status) === true
        ? true
        : undefined;
    },
    60_000,
    250,
  );
}

/** Deletes the APIService (and Service) of a solver, ignoring what is already gone. */
export async function unregisterSolver(c: TestClients, s: AggregatedWebhookSolver): Promise<void> {
  for (const o of solverObjects(s).reverse()) {
    try {
      await c.objects.delete(o);
    } catch {
      // Already gone.
    }
  }
}
