/** The ACME protocol layer: our own RFC 8555 client (JWS, nonces, ARI), problem mapping, resource types. */
export * from "./actions.js";
export * from "./ari.js";
export * from "./client.js";
export * from "./problems.js";
export * from "./resources.js";
export { AccountKey, type AccountKeyAlgorithm, type FlattenedJws } from "./jws.js";
export { BadNonceError, type HttpResponse } from "./transport.js";
