import { describe, expect, it } from "@jest/globals";
import { setHostsParams, splitDomain } from "./namecheap.js";
import { decodeXml, elements, encodeXml, parseApiResponse } from "./xml.js";

describe("namecheap XML answers", () => {
  it("reads every host's attributes, entities decoded, and the domain's EmailType", () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response"><Errors /><CommandResponse Type="namecheap.domains.dns.getHosts">
<DomainDNSGetHostsResult Domain="example.com" EmailType="MX" IsUsingOurDNS="true">
<host HostId="12" Name="@" Type="CAA" Address="0 issue &quot;letsencrypt.org&quot;" MXPref="10" TTL="1800" />
<host HostId="13" Name="go" Type="URL301" Address="https://example.net/?a=1&amp;b=&lt;2&gt;" MXPref="10" TTL="60"/>
</DomainDNSGetHostsResult></CommandResponse></ApiResponse>`;
    expect(parseApiResponse(xml).ok).toBe(true);
    expect(elements(xml, "DomainDNSGetHostsResult")[0]?.["EmailType"]).toBe("MX");
    expect(elements(xml, "host").map((h) => [h["Name"], h["Type"], h["Address"], h["TTL"]])).toEqual([
      ["@", "CAA", '0 issue "letsencrypt.org"', "1800"],
      ["go", "URL301", "https://example.net/?a=1&b=<2>", "60"],
    ]);
  });

  it("reads the errors of an ERROR answer", () => {
    const xml =
      '<ApiResponse Status="ERROR"><Errors><Error Number="1011150">Invalid request IP: 1.2.3.4</Error></Errors></ApiResponse>';
    expect(parseApiResponse(xml)).toMatchObject({
      ok: false,
      errors: [{ number: "1011150", message: "Invalid request IP: 1.2.3.4" }],
    });
  });

  it("refuses what is not an ApiResponse", () => {
    expect(() => parseApiResponse("<html>502 Bad Gateway</html>")).toThrow("not a Namecheap ApiResponse");
  });

  it("round-trips text through encodeXml and decodeXml", () => {
    const text = `a&b<c>"d"'e' &#x41;`;
    expect(decodeXml(encodeXml(text))).toBe(text);
    expect(decodeXml("&#65;&#x42;")).toBe("AB");
  });
});

describe("namecheap setHosts parameters", () => {
  it("numbers every host with all its attributes and keeps the EmailType", () => {
    expect(
      setHostsParams({
        emailType: "MX",
        hosts: [
          { name: "@", type: "MX", address: "mx.example.net.", mxPref: "5", ttl: "3600" },
          { name: "_acme-challenge", type: "TXT", address: "v", mxPref: "", ttl: "60" },
        ],
      }),
    ).toEqual({
      HostName1: "@",
      RecordType1: "MX",
      Address1: "mx.example.net.",
      MXPref1: "5",
      TTL1: "3600",
      HostName2: "_acme-challenge",
      RecordType2: "TXT",
      Address2: "v",
      TTL2: "60",
      EmailType: "MX",
    });
  });

  it("splits a domain into SLD and TLD, the rest of the name being the TLD", () => {
    expect(splitDomain("Example.co.uk.")).toEqual({ sld: "example", tld: "co.uk" });
    expect(() => splitDomain("localhost")).toThrow("is not a registered domain");
  });
});
