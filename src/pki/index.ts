/** The crypto layer: private keys, CSRs, certificate chains, renewal times and the extra Secret outputs (combined PEM, DER, PKCS#12, JKS), as cert-manager handles them. */
export * from "./keys.js";
export * from "./csr.js";
export * from "./certificates.js";
export * from "./renewal.js";
export * from "./webcrypto.js";
export * from "./outputs.js";
export { PKCS12_PROFILES, type Pkcs12Profile } from "./pkcs12.js";
