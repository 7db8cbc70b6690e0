import { describe, expect, it } from "@jest/globals";
import { formatServer, parseServer } from "./server.js";

describe("parseServer", () => {
  it.each([
    ["127.0.0.1", "127.0.0.1", 53],
    ["127.0.0.1:5353", "127.0.0.1", 5353],
    ["127.0.0.1:", "127.0.0.1", 53],
    [" 10.0.0.2:53 ", "10.0.0.2", 53],
    ["[::1]:5353", "::1", 5353],
    ["[2001:db8::1]", "2001:db8::1", 53],
    ["[2001:db8::1]:", "2001:db8::1", 53],
    ["2001:db8::1", "2001:db8::1", 53],
    ["ns1.example.com", "ns1.example.com", 53],
    ["ns1.example.com.:8053", "ns1.example.com.", 8053],
    ["bind.dns.svc.cluster.local:53", "bind.dns.svc.cluster.local", 53],
  ])("reads %j as host %j and port %d", (spec, host, port) => {
    expect(parseServer(spec)).toEqual({ host, port });
  });

  it.each([
    ["", /empty/],
    ["   ", /empty/],
    [":53", /no host/],
    ["127.0.0.1:0", /port "0"/],
    ["127.0.0.1:65536", /port "65536"/],
    ["127.0.0.1:dns", /port "dns"/],
    ["[::1", /unclosed/],
    ["[::1]53", /after "]"/],
    ["[not-v6]:53", /not an IPv6 address/],
    ["::1:53:x", /\[address\]:port/],
    ["bad_host!:53", /neither an IP address nor a host name/],
  ])("rejects %j with a message that says why", (spec, message) => {
    expect(() => parseServer(spec)).toThrow(message);
  });

  it("uses the default port it is given", () => {
    expect(parseServer("127.0.0.1", 8053)).toEqual({ host: "127.0.0.1", port: 8053 });
  });
});

describe("formatServer", () => {
  it("brackets IPv6 literals so that the result parses back to the same address", () => {
    for (const spec of ["127.0.0.1:53", "[::1]:5353", "ns1.example.com:53"]) {
      expect(formatServer(parseServer(spec))).toBe(spec);
    }
  });
});
