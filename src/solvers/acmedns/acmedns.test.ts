import { describe, expect, it } from "@jest/globals";
import { silentLogger } from "../../log.js";
import { TemporaryError, TerminalError } from "../../errors.js";
import { memorySecretReader } from "../credentials.js";
import type { SolverContext } from "../types.js";
import type { HttpPost, HttpResponse, PostOptions } from "../webhook/http.js";
import {
  createAcmeDnsSolver,
  findAccount,
  normalizeDomain,
  parseAccounts,
  RecentUpdates,
  type AcmeDnsRecord,
} from "./acmedns.js";
import { descriptor } from "./descriptor.js";

const PASSWORD = "pbAXVjlIOE01xbut7YnAbkhMQIkcwoHO0ek2j4Q0";
const ACCOUNT = {
  username: "eabcdb41-d89f-4580-826f-3e62e9755ef2",
  password: PASSWORD,
  fulldomain: "d420c923-bbd7-4056-ab64-c3ca54c9b3cf.auth.example.org",
  subdomain: "d420c923-bbd7-4056-ab64-c3ca54c9b3cf",
  allowfrom: [],
};
const OTHER = {
  username: "0b7a7b7e-1111-4222-8333-944445555666",
  password: "X".repeat(40),
  fulldomain: "77777777-1111-4222-8333-944445555666.auth.example.org",
  subdomain: "77777777-1111-4222-8333-944445555666",
  server_url: "https://elsewhere.example.org",
};
const VALUE_A = "a".repeat(43);
const VALUE_B = "b".repeat(43);

/** The fulfilment handler of a promise that must reject. */
const unexpected = (): never => {
  throw new Error("expected a rejection");
};
const ctx = (): SolverContext => ({ signal: new AbortController().signal, log: silentLogger() });

interface Call {
  readonly url: string;
  readonly body: unknown;
  readonly opts: PostOptions;
}

/** A fake transport: answers from `replies` in turn (the last one repeats), recording each call. */
function fakePost(...replies: (HttpResponse | Error)[]): HttpPost & { calls: Call[] } {
  const calls: Call[] = [];
  const post = (url: URL, body: string, opts: PostOptions): Promise<HttpResponse> => {
    calls.push({ url: url.href, body: JSON.parse(body) as unknown, opts });
    const reply = replies[Math.min(calls.length - 1, replies.length - 1)] ?? ok();
    return reply instanceof Error ? Promise.reject(reply) : Promise.resolve(reply);
  };
  return Object.assign(post, { calls });
}

function ok(): HttpResponse {
  return { status: 200, headers: {}, body: `{"txt": "${VALUE_A}"}` };
}

function answer(status: number, body: string, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers, body };
}

function setup(accounts: unknown = { "example.com": ACCOUNT, "other.example.net": OTHER }) {
  const data = new Map([["certs/acme-dns", { "acmedns.json": JSON.stringify(accounts) }]]);
  const secrets = memorySecretReader(data);
  return {
    data,
    secrets,
    build: (post: HttpPost, host = "https://auth.example.org", recent = new RecentUpdates()) =>
      createAcmeDnsSolver(
        { host, accounts: { secrets, namespace: "certs", name: "acme-dns", key: "acmedns.json" } },
        { post, recent },
      ),
  };
}

const record = (over: Partial<AcmeDnsRecord> = {}): AcmeDnsRecord => ({
  fqdn: "_acme-challenge.example.com.",
  zone: "example.com.",
  value: VALUE_A,
  ...over,
});

describe("normalizeDomain", () => {
  it.each([
    ["Example.COM.", "example.com"],
    ["*.example.com", "*.example.com"],
    ["bücher.example", "xn--bcher-kva.example"],
    [" example.com ", "example.com"],
  ])("keys %j as %j", (input, want) => {
    expect(normalizeDomain(input)).toBe(want);
  });
});

describe("parseAccounts", () => {
  it("reads cert-manager's JSON and lego's, with server_url", () => {
    const accounts = parseAccounts(
      JSON.stringify({ "Example.com": ACCOUNT, "other.example.net": OTHER }),
      "x",
    );
    expect(accounts.get("example.com")).toEqual({
      username: ACCOUNT.username,
      password: PASSWORD,
      fulldomain: ACCOUNT.fulldomain,
      subdomain: ACCOUNT.subdomain,
    });
    expect(accounts.get("other.example.net")?.serverUrl).toBe("https://elsewhere.example.org");
  });

  it("says the text is not JSON without quoting any of it", () => {
    const text = `{"example.com": {"password": "${PASSWORD}" oops}`;
    const err = catchError(() => parseAccounts(text, 'Secret certs/acme-dns key "acmedns.json"'));
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect(err.message).toBe('acmeDNS: Secret certs/acme-dns key "acmedns.json" is not valid JSON');
    expect(err.message).not.toContain(PASSWORD.slice(0, 8));
  });

  it.each([
    ["[1, 2]", "must be a JSON object that maps each domain to its acme-dns account"],
    ['"text"', "must be a JSON object that maps each domain to its acme-dns account"],
    ['{"example.com": "x"}', 'the entry for "example.com" is not an object'],
    ['{"example.com": {"username": "u"}}', 'the account for "example.com" lacks "password", "subdomain"'],
  ])("rejects %s", (text, message) => {
    const err = catchError(() => parseAccounts(text, "the JSON"));
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect(err.message).toContain(message);
  });
});

describe("findAccount", () => {
  const accounts = parseAccounts(
    JSON.stringify({ "example.com": ACCOUNT, "*.wild.example.net": OTHER }),
    "the JSON",
  );

  it("uses the challenge's domain when the record carries it", () => {
    const r = record({ fqdn: `${OTHER.fulldomain}.`, domain: "example.com" });
    expect(findAccount(accounts, r, "the JSON").subdomain).toBe(ACCOUNT.subdomain);
  });

  it("uses the domain under _acme-challenge when the record was not followed through a CNAME", () => {
    expect(findAccount(accounts, record({ fqdn: "_acme-challenge.EXAMPLE.com." }), "j").subdomain).toBe(
      ACCOUNT.subdomain,
    );
  });

  it("falls back to a key written as a wildcard", () => {
    const r = record({ fqdn: "_acme-challenge.wild.example.net." });
    expect(findAccount(accounts, r, "j").subdomain).toBe(OTHER.subdomain);
  });

  it("finds the account whose fulldomain the CNAME led to", () => {
    const r = record({ fqdn: `${ACCOUNT.fulldomain.toUpperCase()}.` });
    expect(findAccount(accounts, r, "j").subdomain).toBe(ACCOUNT.subdomain);
  });

  it("names the domains it has accounts for when none matches", () => {
    const err = catchError(() =>
      findAccount(accounts, record({ fqdn: "_acme-challenge.nope.example." }), "j"),
    );
    expect((err as TerminalError).reason).toBe("InvalidConfiguration");
    expect(err.message).toBe(
      "acmeDNS: j has no account for nope.example (nor one whose fulldomain is _acme-challenge.nope.example); " +
        "it has accounts for *.wild.example.net, example.com",
    );
  });
});

describe("createAcmeDnsSolver", () => {
  it("posts the subdomain and value to {host}/update with the account's credentials", async () => {
    const post = fakePost(ok());
    await setup().build(post, "https://proxy.example.org/acme-dns/").present(record(), ctx());
    expect(post.calls).toHaveLength(1);
    const [call] = post.calls;
    expect(call?.url).toBe("https://proxy.example.org/acme-dns/update");
    expect(call?.body).toEqual({ subdomain: ACCOUNT.subdomain, txt: VALUE_A });
    expect(call?.opts.headers).toEqual({ "x-api-user": ACCOUNT.username, "x-api-key": PASSWORD });
    expect(call?.opts.timeoutMs).toBe(30_000);
  });

  it("uses the Issuer's host even when the account names another server", async () => {
    const post = fakePost(ok());
    await setup()
      .build(post)
      .present(record({ fqdn: "_acme-challenge.other.example.net." }), ctx());
    expect(post.calls[0]?.url).toBe("https://auth.example.org/update");
  });

  it("sends a value again only when it is not one of the two it sent last", async () => {
    const post = fakePost(ok());
    const solver = setup().build(post);
    await solver.present(record(), ctx());
    await solver.present(record(), ctx());
    expect(post.calls).toHaveLength(1);
    await solver.present(record({ value: VALUE_B }), ctx());
    await solver.present(record({ value: VALUE_B }), ctx());
    await solver.present(record(), ctx());
    expect(post.calls.map((c) => (c.body as { txt: string }).txt)).toEqual([VALUE_A, VALUE_B]);
    await solver.present(record({ value: "c".repeat(43) }), ctx());
    await solver.present(record(), ctx());
    expect(post.calls.map((c) => (c.body as { txt: string }).txt)).toEqual([
      VALUE_A,
      VALUE_B,
      "c".repeat(43),
      VALUE_A,
    ]);
  });

  it("forgets what it sent once an update fails, since the server may or may not have applied it", async () => {
    const post = fakePost(ok(), answer(500, '{"error": "db_error"}'), ok());
    const solver = setup().build(post);
    await solver.present(record(), ctx());
    await expect(solver.present(record({ value: VALUE_B }), ctx())).rejects.toBeInstanceOf(TemporaryError);
    await solver.present(record(), ctx());
    expect(post.calls).toHaveLength(3);
  });

  it("sends again after the memory's minute is over", async () => {
    const post = fakePost(ok());
    let t = 1_000_000;
    const { secrets } = setup();
    const solver = createAcmeDnsSolver(
      {
        host: "https://auth.example.org",
        accounts: { secrets, namespace: "certs", name: "acme-dns", key: "acmedns.json" },
      },
      { post, recent: new RecentUpdates(), now: () => t },
    );
    await solver.present(record(), ctx());
    t += 61_000;
    await solver.present(record(), ctx());
    expect(post.calls).toHaveLength(2);
  });

  it.each([
    [401, '{"error": "forbidden"}', "InvalidCredentials", "HTTP 401: forbidden (acme-dns answers this for"],
    [403, "Forbidden by proxy", "InvalidCredentials", "HTTP 403: Forbidden by proxy"],
    [
      400,
      '{"error": "bad_txt"}',
      "InvalidConfiguration",
      "HTTP 400: bad_txt (acme-dns takes only 43-character",
    ],
    [404, "404 page not found", "InvalidConfiguration", "HTTP 404: 404 page not found"],
    [301, "", "InvalidConfiguration", "HTTP 301: (empty body); redirects are not followed"],
  ])("turns HTTP %i into a terminal error, after one call", async (status, body, reason, message) => {
    const post = fakePost(answer(status, body));
    const err = await setup()
      .build(post)
      .present(record(), ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as TerminalError).reason).toBe(reason);
    expect(err.message).toContain(
      `acmeDNS: failed to update the TXT record of ${ACCOUNT.subdomain} at https://auth.example.org: ${message}`,
    );
    expect(err.message).not.toContain(PASSWORD);
    expect(err.message).not.toContain(ACCOUNT.username);
    expect(post.calls).toHaveLength(1);
  });

  it.each([
    [429, { "retry-after": "7" }, 7000],
    [503, { "retry-after": "2" }, 2000],
    [500, {}, undefined],
    [429, { "retry-after": "86400" }, 15 * 60_000],
  ])("turns HTTP %i into a temporary error with the server's delay", async (status, headers, after) => {
    const post = fakePost(answer(status, "slow down", headers));
    const err = await setup()
      .build(post)
      .present(record(), ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(TemporaryError);
    expect((err as TemporaryError).retryAfterMs).toBe(after);
  });

  it("turns a network failure into a temporary error", async () => {
    const post = fakePost(
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }),
    );
    const err = await setup()
      .build(post)
      .present(record(), ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(TemporaryError);
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("reads the Secret on every present, so a rotated password is used at once", async () => {
    const post = fakePost(ok());
    const s = setup();
    const solver = s.build(post);
    await solver.present(record(), ctx());
    s.data.set("certs/acme-dns", {
      "acmedns.json": JSON.stringify({ "example.com": { ...ACCOUNT, password: "Y".repeat(40) } }),
    });
    await solver.present(record({ value: VALUE_B }), ctx());
    expect(post.calls.map((c) => c.opts.headers?.["x-api-key"])).toEqual([PASSWORD, "Y".repeat(40)]);
    expect(s.secrets.reads).toHaveLength(2);
  });

  it("cleans up without a call and without reading the Secret", async () => {
    const post = fakePost(ok());
    const s = setup();
    s.data.clear();
    await expect(s.build(post).cleanUp(record(), ctx())).resolves.toBeUndefined();
    expect(post.calls).toHaveLength(0);
    expect(s.secrets.reads).toHaveLength(0);
  });

  it("reports a missing Secret with its reason and the field", async () => {
    const s = setup();
    s.data.clear();
    const err = await s
      .build(fakePost(ok()))
      .present(record(), ctx())
      .then(unexpected, (e: unknown) => e as Error);
    expect((err as TerminalError).reason).toBe("SecretNotFound");
    expect(err.message).toMatch(/^acmeDNS: accountSecretRef: Secret certs\/acme-dns not found/);
  });

  it.each(["ftp://auth.example.org", "not a url", "https://user:pw@auth.example.org"])(
    "refuses the host %j",
    (host) => {
      const err = catchError(() => setup().build(fakePost(ok()), host));
      expect((err as TerminalError).reason).toBe("InvalidConfiguration");
      expect(err.message).not.toContain(":pw@");
    },
  );
});

describe("the acmeDNS descriptor", () => {
  const ctxFor = () => ({
    secretNamespace: "certs",
    secrets: memorySecretReader(new Map()),
    clusterScoped: false,
  });

  it("requires the key of accountSecretRef", async () => {
    const err = await descriptor
      .create({ host: "https://auth.example.org", accountSecretRef: { name: "acme-dns" } }, ctxFor())
      .then(unexpected, (e: unknown) => e as TerminalError);
    expect(err.reason).toBe("InvalidConfiguration");
    expect(err.message).toContain("accountSecretRef.key is required");
  });

  it("builds a solver without reading the Secret yet", async () => {
    const c = ctxFor();
    const solver = await descriptor.create(
      { host: "https://auth.example.org", accountSecretRef: { name: "acme-dns", key: "acmedns.json" } },
      c,
    );
    expect(typeof solver.present).toBe("function");
    expect(c.secrets.reads).toHaveLength(0);
  });
});

function catchError(f: () => unknown): Error {
  try {
    f();
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected an error");
}
