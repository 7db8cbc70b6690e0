/** The ACME protocol layer: step functions over acme-client, problem mapping, resource types. */
export * from "./client.js";
export * from "./problems.js";
export * from "./resources.js";
export { BadNonceError, type HttpResponse } from "./transport.js";
