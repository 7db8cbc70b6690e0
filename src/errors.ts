/**
 * The two kinds of failure every reconciler and provider distinguishes (see DESIGN.md): a temporary
 * error is retried with backoff; a terminal one is recorded in status and waits for a spec change.
 */

/** An error worth retrying (timeouts, 5xx, throttling); `retryAfterMs` when the server said so. */
export class TemporaryError extends Error {
  override readonly name = "TemporaryError";
  constructor(
    message: string,
    readonly retryAfterMs?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** An error that will not go away by retrying (bad credentials, unknown zone): it belongs in a status condition. */
export class TerminalError extends Error {
  override readonly name = "TerminalError";
  constructor(
    message: string,
    /** CamelCase reason for the status condition, e.g. `InvalidCredentials`. */
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
