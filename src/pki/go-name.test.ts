import { webcrypto } from "node:crypto";
import { describe, expect, it } from "@jest/globals";
import * as x509 from "@peculiar/x509";
import { goSubjectString } from "./go-name.js";

// Each expected string is what Go 1.26's `cert.Subject.String()` printed for the same subject.
const cases: [string, string][] = [
  ["CN=Test Root CA", "CN=Test Root CA"],
  ["C=US, O=Let's Encrypt, CN=R3", "CN=R3,O=Let's Encrypt,C=US"],
  [
    "C=US, O=Internet Security Research Group, CN=ISRG Root X1",
    "CN=ISRG Root X1,O=Internet Security Research Group,C=US",
  ],
  [
    "CN=a\\,b\\+c, O=x\\;y, OU=\\#hash, L= lead, ST=trail ",
    "CN=a\\,b\\+c,OU=\\#hash,O=x\\;y,L=\\ lead,ST=trail\\ ",
  ],
  ["O=One, O=Two, CN=Multi", "CN=Multi,O=One+O=Two"],
  [
    "E=admin@example.com, CN=With Email",
    "CN=With Email,1.2.840.113549.1.9.1=#0c1161646d696e406578616d706c652e636f6d",
  ],
  ['CN=Ünïcödé Root, O=Org<>"', 'CN=Ünïcödé Root,O=Org\\<\\>\\"'],
  [
    "2.5.4.5=1234, CN=With Serial, 2.5.4.17=12345, 2.5.4.9=Main St",
    "SERIALNUMBER=1234,CN=With Serial,POSTALCODE=12345,STREET=Main St",
  ],
  ["CN=first, CN=second", "CN=second"],
  [
    "DC=example, DC=com, CN=dc",
    "CN=dc,0.9.2342.19200300.100.1.25=#1303636f6d,0.9.2342.19200300.100.1.25=#13076578616d706c65",
  ],
];

describe("goSubjectString", () => {
  it.each(cases)("renders the subject %j as Go does: %j", async (name, want) => {
    const keys = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
      "sign",
      "verify",
    ]);
    const cert = await x509.X509CertificateGenerator.createSelfSigned(
      { serialNumber: "01", name, keys, signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } },
      webcrypto,
    );
    expect(goSubjectString(cert.toString("pem"))).toBe(want);
    expect(goSubjectString(Buffer.from(cert.rawData))).toBe(want);
  });
});
