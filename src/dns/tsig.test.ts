import { describe, expect, it } from "@jest/globals";
import {
  decodeTsigSecret,
  extractTsig,
  parseTsigAlgorithm,
  signMessage,
  TsigErrorCode,
  tsigErrorName,
  verifyMessage,
  type TsigAlgorithm,
  type TsigKey,
} from "./tsig.js";

/**
 * Real exchanges captured on the wire: `nsupdate -y <alg>:<name>:<secret>` adding a TXT record
 * through a recording proxy to BIND 9.18, which answered NOERROR. The keys are throwaway test keys
 * made with tsig-keygen. nsupdate and BIND computed these MACs, not this code.
 */
const CAPTURED: readonly {
  algorithm: TsigAlgorithm;
  keyName: string;
  secret: string;
  request: string;
  response: string;
}[] = [
  {
    algorithm: "HMACSHA256",
    keyName: "rig-key.",
    secret: "DrgFffthGHh2DJ6+j0NRRxBUeptdf3x/oFLPTNIt93E=",
    request:
      "afbe28000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676507766563746f7231076578616d706c65047465737400001000010000003c000f0e766563746f722d76616c75652d31077269672d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b0846e6012c00206ecff74e68d4b96d0a6fbfa68acdcefbd9e953c34e54ba16e43a7591edf27fe8afbe00000000",
    response:
      "afbea8000001000000000001076578616d706c6504746573740000060001077269672d6b65790000fa00ff00000000003d0b686d61632d7368613235360000006b0846e6012c00207ffc91ffaca3a09b4d1b2673b95de1a3512d76b57513fa04e4da4c2fbba1b7aeafbe00000000",
  },
  {
    algorithm: "HMACMD5",
    keyName: "rig-md5.",
    secret: "DnTCGvgUbq2ZSD08q1pN5g==",
    request:
      "02b328000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676507766563746f7232076578616d706c65047465737400001000010000003c000f0e766563746f722d76616c75652d32077269672d6d64350000fa00ff00000000003a08686d61632d6d6435077369672d616c670372656703696e740000006b0846e6012c0010b4943158cd83226c68c9e95e64872ba902b300000000",
    response:
      "02b3a8000001000000000001076578616d706c6504746573740000060001077269672d6d64350000fa00ff00000000003a08686d61632d6d6435077369672d616c670372656703696e740000006b0846e6012c001009df8cd02fc2d7fe1af65ec6923331af02b300000000",
  },
  {
    algorithm: "HMACSHA1",
    keyName: "rig-sha1.",
    secret: "bPt5Qlfcx6K9PEXzG+4CY2BEEuA=",
    request:
      "a3a028000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676507766563746f7233076578616d706c65047465737400001000010000003c000f0e766563746f722d76616c75652d33087269672d736861310000fa00ff00000000002f09686d61632d736861310000006b0846e6012c001406538ab140bb2b57b186642e893ee6e9a2655c2fa3a000000000",
    response:
      "a3a0a8000001000000000001076578616d706c6504746573740000060001087269672d736861310000fa00ff00000000002f09686d61632d736861310000006b0846e6012c0014bfdd39932dcf8faf6a587e5dc1290f239e28126da3a000000000",
  },
  {
    algorithm: "HMACSHA512",
    keyName: "rig-sha512.",
    secret: "XaNpTD5YwYBRjqgYeW+XkfBaFkXyA7jv6R1GKBMrp99sUI3ZwHuiLlCatX1S547RcMk1imG2Oe80cGT7xcWr3A==",
    request:
      "cf4028000001000000010001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e676507766563746f7234076578616d706c65047465737400001000010000003c000f0e766563746f722d76616c75652d340a7269672d7368613531320000fa00ff00000000005d0b686d61632d7368613531320000006b0846e6012c00409495c3e974618dd162f64e2eb63d8a08bd5420f065b83847f70f817a16afa44252967081d977c086164cfd0b350e8aab1372feda08c96527c3794b1217450602cf4000000000",
    response:
      "cf40a8000001000000000001076578616d706c65047465737400000600010a7269672d7368613531320000fa00ff00000000005d0b686d61632d7368613531320000006b0846e6012c004078f1feb75cc35f6a03c2f1e48c6bee1595412f05f53f1dcd92ae69caeb1d41785dc5e1aa58d5f1bacc200886c7df0e0f5e408d95dbd3bda5c12d103a4f8c1670cf4000000000",
  },
];

function keyOf(v: (typeof CAPTURED)[number]): TsigKey {
  return { name: v.keyName, algorithm: v.algorithm, secret: decodeTsigSecret(v.secret) };
}

/** The message as it was before the TSIG record was appended. */
function unsigned(packet: Buffer): Buffer {
  const tsig = extractTsig(packet);
  if (tsig === undefined) throw new Error("not signed");
  const out = Buffer.from(packet.subarray(0, tsig.offset));
  out.writeUInt16BE(out.readUInt16BE(10) - 1, 10);
  return out;
}

describe("TSIG against messages signed by nsupdate and BIND", () => {
  describe.each(CAPTURED.map((v) => [v.algorithm, v] as const))("%s", (_name, v) => {
    const key = keyOf(v);
    const request = Buffer.from(v.request, "hex");
    const response = Buffer.from(v.response, "hex");
    const requestTsig = extractTsig(request)!;

    it("reads the TSIG record nsupdate appended", () => {
      expect(requestTsig.keyName).toBe(v.keyName);
      expect(requestTsig.fudge).toBe(300);
      expect(requestTsig.error).toBe(0);
      expect(requestTsig.originalId).toBe(request.readUInt16BE(0));
      expect(requestTsig.offset).toBeLessThan(request.length);
    });

    it("signs the same message with the same time into the very bytes nsupdate sent", () => {
      const { packet, mac } = signMessage(unsigned(request), key, {
        timeSigned: requestTsig.timeSigned,
        fudge: requestTsig.fudge,
      });
      expect(mac.toString("hex")).toBe(requestTsig.mac.toString("hex"));
      expect(packet.toString("hex")).toBe(v.request);
    });

    it("verifies the request as BIND did", () => {
      expect(verifyMessage(request, key, { now: requestTsig.timeSigned }).status).toBe("ok");
    });

    it("verifies BIND's response, whose MAC chains the request MAC", () => {
      const result = verifyMessage(response, key, {
        requestMac: requestTsig.mac,
        now: requestTsig.timeSigned + 1,
      });
      expect(result.status).toBe("ok");
    });

    it("rejects the response when any byte of the message is altered", () => {
      const tsigStart = extractTsig(response)!.offset;
      for (let i = 2; i < tsigStart; i++) {
        const tampered = Buffer.from(response);
        tampered[i] = (tampered[i] ?? 0) ^ 0x01;
        let status: string;
        try {
          status = verifyMessage(tampered, key, {
            requestMac: requestTsig.mac,
            now: requestTsig.timeSigned,
          }).status;
        } catch {
          status = "malformed";
        }
        expect([i, status]).not.toEqual([i, "ok"]);
      }
    });

    it("rejects the response when it is checked against another request's MAC", () => {
      const otherMac = Buffer.from(requestTsig.mac);
      otherMac[0] = (otherMac[0] ?? 0) ^ 0xff;
      const result = verifyMessage(response, key, { requestMac: otherMac, now: requestTsig.timeSigned });
      expect(result.status).toBe("bad-mac");
    });

    it("rejects the response with a wrong secret", () => {
      const wrong = { ...key, secret: Buffer.alloc(key.secret.length, 7) };
      const result = verifyMessage(response, wrong, {
        requestMac: requestTsig.mac,
        now: requestTsig.timeSigned,
      });
      expect(result.status).toBe("bad-mac");
    });

    it("rejects a response signed outside the fudge window", () => {
      const late = requestTsig.timeSigned + 301;
      expect(verifyMessage(response, key, { requestMac: requestTsig.mac, now: late }).status).toBe(
        "bad-time",
      );
      expect(verifyMessage(response, key, { requestMac: requestTsig.mac, now: late - 1 }).status).toBe("ok");
    });

    it("reports a response signed with a key of another name as wrong-key", () => {
      const other = { ...key, name: "other-key." };
      const result = verifyMessage(response, other, {
        requestMac: requestTsig.mac,
        now: requestTsig.timeSigned,
      });
      expect(result.status).toBe("wrong-key");
    });
  });

  it("reports an unsigned message as unsigned", () => {
    const v = CAPTURED[0]!;
    expect(verifyMessage(unsigned(Buffer.from(v.response, "hex")), keyOf(v)).status).toBe("unsigned");
  });

  it("compares key names case-insensitively, as the MAC uses the canonical lower-case form", () => {
    const v = CAPTURED[0]!;
    const request = Buffer.from(v.request, "hex");
    const tsig = extractTsig(request)!;
    const upper = { ...keyOf(v), name: v.keyName.toUpperCase() };
    const { packet } = signMessage(unsigned(request), upper, { timeSigned: tsig.timeSigned });
    expect(packet.toString("hex")).toBe(v.request);
  });
});

describe("signMessage and verifyMessage together", () => {
  const key: TsigKey = { name: "k.example.", algorithm: "HMACSHA256", secret: Buffer.alloc(32, 3) };
  const message = Buffer.from("123428000001000000000000076578616d706c650000060001", "hex");

  it("appends one additional record and keeps the original message intact", () => {
    const { packet } = signMessage(message, key, { timeSigned: 1_700_000_000 });
    expect(packet.subarray(0, 10)).toEqual(message.subarray(0, 10));
    expect(packet.readUInt16BE(10)).toBe(1);
    expect(message.readUInt16BE(10)).toBe(0);
    expect(extractTsig(packet)?.timeSigned).toBe(1_700_000_000);
  });

  it("verifies a response that a server signed with the request MAC, even after the ID changed", () => {
    const { mac } = signMessage(message, key, { timeSigned: 1_700_000_000 });
    const reply = Buffer.from(message);
    reply.writeUInt16BE(0xa800, 2);
    const signed = signMessage(reply, key, { timeSigned: 1_700_000_005, requestMac: mac }).packet;
    // Forwarders may rewrite the ID; the MAC covers the original one, carried in the TSIG record.
    signed.writeUInt16BE(0x9999, 0);
    expect(verifyMessage(signed, key, { requestMac: mac, now: 1_700_000_010 }).status).toBe("ok");
  });

  it("reports a TSIG error from the peer without trying to verify its empty MAC", () => {
    const tsigRecordError = signMessage(message, key, { timeSigned: 1 }).packet;
    // The Error field sits 4 bytes before the end (error, other len); set BADKEY.
    tsigRecordError.writeUInt16BE(TsigErrorCode.BADKEY, tsigRecordError.length - 4);
    const result = verifyMessage(tsigRecordError, key);
    expect(result.status).toBe("peer-error");
    expect(result.status === "peer-error" && tsigErrorName(result.error)).toBe("BADKEY");
  });

  it("refuses to sign something that is not a whole DNS message", () => {
    expect(() => signMessage(Buffer.from("0001", "hex"), key)).toThrow(RangeError);
  });
});

describe("decodeTsigSecret", () => {
  it("decodes the base64 text tsig-keygen prints, ignoring surrounding whitespace and newlines", () => {
    expect(decodeTsigSecret("  DnTCGvgUbq2ZSD08q1pN5g==\n")).toEqual(
      Buffer.from("DnTCGvgUbq2ZSD08q1pN5g==", "base64"),
    );
    expect(decodeTsigSecret("DnTCGvgUbq2ZSD08q1pN5g")).toHaveLength(16);
  });

  it("rejects text that is not base64, without echoing the secret", () => {
    for (const bad of ["", "   ", "not base64!", "abcde", "ab=c"]) {
      expect(() => decodeTsigSecret(bad)).toThrow(/TSIG secret/);
      try {
        decodeTsigSecret(bad);
      } catch (err) {
        if (bad.trim() !== "") expect((err as Error).message).not.toContain(bad);
      }
    }
  });
});

describe("parseTsigAlgorithm", () => {
  it("accepts cert-manager's four names in any case", () => {
    expect(parseTsigAlgorithm("HMACMD5")).toBe("HMACMD5");
    expect(parseTsigAlgorithm("hmacsha1")).toBe("HMACSHA1");
    expect(parseTsigAlgorithm("HmacSha256")).toBe("HMACSHA256");
    expect(parseTsigAlgorithm(" HMACSHA512 ")).toBe("HMACSHA512");
  });

  it("rejects anything else, including wire names and prototype keys", () => {
    for (const name of ["hmac-sha256.", "HMACSHA384", "", "toString", "__proto__"]) {
      expect(parseTsigAlgorithm(name)).toBeUndefined();
    }
  });
});
