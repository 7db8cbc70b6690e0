/**
 * The shared DNS query helpers (src/dns) against the rig's BIND. Records are written with
 * `nsupdate`, an independent client, so that what our decoder reads was not encoded by our code.
 */
import { afterEach, describe, expect, it } from "@jest/globals";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { findZone, followCname, lookupAuthoritativeServers, queryTxt } from "../../src/dns/query.js";
import { parseServer } from "../../src/dns/server.js";
import { TerminalError } from "../../src/errors.js";
import { rigVar } from "../support/rig.js";

const server = rigVar("DNS_SERVER");
const { host, port } = parseServer(server);

/** Runs nsupdate with the rig's key; the key goes through stdin, never on a command line. */
function nsupdate(lines: string[]): void {
  const script = [
    `server ${host} ${port}`,
    `key hmac-sha256:${rigVar("TSIG_KEY_NAME")} ${rigVar("TSIG_SECRET")}`,
    ...lines,
    "send",
    "",
  ].join("\n");
  execFileSync("nsupdate", [], { input: script, stdio: ["pipe", "ignore", "inherit"], timeout: 10_000 });
}

const cleanups: string[][] = [];
afterEach(() => {
  for (const lines of cleanups.splice(0)) nsupdate(lines);
});

const label = (): string => `t${randomBytes(6).toString("hex")}`;

describe("DNS query helpers against BIND", () => {
  it("reads TXT values written by nsupdate, a long one split in two strings included, over UDP and TCP", async () => {
    const name = `_acme-challenge.${label()}.example.test.`;
    const long = "x".repeat(255);
    cleanups.push([`update delete ${name} TXT`]);
    nsupdate([`update add ${name} 60 TXT "short-value"`, `update add ${name} 60 TXT "${long}" "tail"`]);
    const expected = ["short-value", `${long}tail`].sort();
    expect((await queryTxt(name, server)).sort()).toEqual(expected);
    expect((await queryTxt(name, server, { protocol: "tcp" })).sort()).toEqual(expected);
  });

  it("returns no TXT values for a name that does not exist", async () => {
    expect(await queryTxt(`_acme-challenge.${label()}.example.test.`, server)).toEqual([]);
  });

  it("finds the zone apex of a name in each rig zone", async () => {
    expect(await findZone(`_acme-challenge.${label()}.example.test.`, [server])).toBe("example.test.");
    expect(await findZone(`_acme-challenge.a.b.${label()}.second.test.`, [server])).toBe("second.test.");
    expect(await findZone("second.test.", [server])).toBe("second.test.");
  });

  it("throws ZoneNotFound for a name in no zone the server has", async () => {
    const err = await findZone(`_acme-challenge.${label()}.elsewhere.invalid.`, [server]).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TerminalError);
    expect((err as Error).message).toMatch(
      /^no DNS zone holds _acme-challenge\.t[0-9a-f]+\.elsewhere\.invalid\./,
    );
  });

  it("follows a CNAME from one zone into another, and stops at a name that is no alias", async () => {
    const alias = `_acme-challenge.${label()}.example.test.`;
    const hop = `${label()}.example.test.`;
    const target = `_acme-challenge.${label()}.second.test.`;
    cleanups.push([`update delete ${alias} CNAME`, `update delete ${hop} CNAME`]);
    nsupdate([`update add ${alias} 60 CNAME ${hop}`, `update add ${hop} 60 CNAME ${target}`]);
    expect(await followCname(alias, [server])).toBe(target);
    expect(await followCname(target, [server])).toBe(target);
    expect(await findZone(await followCname(alias, [server]), [server])).toBe("second.test.");
  });

  it("looks up the zone's name servers from its NS records and glue", async () => {
    const found = await lookupAuthoritativeServers("example.test.", [server], { port });
    expect(found).toEqual([`127.0.0.1:${port}`]);
    // The address it found answers for the zone.
    expect(await findZone("example.test.", found)).toBe("example.test.");
  });
});
