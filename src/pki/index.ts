/** The crypto layer: private keys, CSRs, certificate chains and renewal times, as cert-manager handles them. */
export * from "./keys.js";
export * from "./csr.js";
export * from "./certificates.js";
export * from "./renewal.js";
export * from "./webcrypto.js";
