/**
 * Batches concurrent changes to one zone into one API call, for providers whose API takes a list
 * of changes (Route53 ChangeResourceRecordSets, Cloud DNS changes.create). Changes submitted
 * while a flush for the zone is being assembled join it; each caller's promise settles with the
 * outcome of the call that carried its change. Nothing sleeps: the batch closes at the end of the
 * current turn of the event loop plus `windowMs`, which only gathers callers already on their way.
 */
export class ZoneBatcher<C> {
  private readonly pending = new Map<
    string,
    { changes: C[]; waiters: { resolve: () => void; reject: (e: unknown) => void }[] }
  >();

  constructor(
    private readonly flush: (zone: string, changes: readonly C[]) => Promise<void>,
    private readonly windowMs = 20,
  ) {}

  /** Adds a change for `zone`; resolves when the batch that carries it succeeded. */
  submit(zone: string, change: C): Promise<void> {
    let batch = this.pending.get(zone);
    if (!batch) {
      const created = {
        changes: [] as C[],
        waiters: [] as { resolve: () => void; reject: (e: unknown) => void }[],
      };
      batch = created;
      this.pending.set(zone, created);
      setTimeout(() => {
        this.pending.delete(zone);
        this.flush(zone, created.changes).then(
          () => {
            for (const w of created.waiters) w.resolve();
          },
          (err: unknown) => {
            for (const w of created.waiters) w.reject(err);
          },
        );
      }, this.windowMs);
    }
    batch.changes.push(change);
    return new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
  }
}
