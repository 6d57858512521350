/**
 * Batches posted to another thread and not yet acknowledged, with the wait that bounds them: the
 * producer waits while too many are in flight, and a failure of the other side wakes every waiter
 * with the error (nobody waits forever for acknowledgements that will not come).
 */
export class InFlight {
  private n = 0;
  private waiters: (() => void)[] = [];
  /** The other side's first failure, or null. */
  error: Error | null = null;

  constructor(readonly limit: number) {}

  /** At least `limit` batches are in flight. */
  get full(): boolean {
    return this.n >= this.limit;
  }

  sent(): void {
    this.n++;
  }

  acked(): void {
    this.n--;
    this.wake();
  }

  fail(e: Error): void {
    if (!this.error) this.error = e;
    this.wake();
  }

  /** Waits until at most `most` batches are in flight; throws the other side's failure. */
  async drain(most: number): Promise<void> {
    while (this.n > most && !this.error) await new Promise<void>((r) => this.waiters.push(r));
    if (this.error) throw this.error;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
