// The lease manager's own PostgreSQL connection (not one of the store's pool): heartbeats and
// renewals never queue behind the pool's work. A daemon starting a thousand agents keeps all ten
// pooled connections busy with their setup commits and schedule bookkeeping; a renewal waiting
// for a free one there can miss its deadline on a healthy database. Each query has a client-side
// timeout; a query that times out or fails drops the connection (its state is unknown) and the
// next query connects again. LISTEN channels are re-subscribed on every (re)connection.
import type pg from 'pg';

export class DedicatedConnection {
  private client: pg.Client | null = null;
  private connecting: Promise<pg.Client> | null = null;
  /** Bumped when a connection attempt is abandoned: that attempt ends its client instead of keeping it. */
  private gen = 0;
  private closed = false;
  private readonly channels = new Map<string, (payload: string) => void>();
  private connections = 0;
  private readonly reconnected: Array<() => void> = [];

  constructor(
    private readonly url: string,
    /** Server-side bound: a statement whose client gave up (timeout) does not linger, holding locks or renewing late. */
    private readonly statementTimeoutMs: number,
    private readonly onError: (err: Error) => void,
    /** Shown in pg_stat_activity (who holds this connection). */
    private readonly applicationName = 'openclaw lease',
  ) {}

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values: unknown[], timeoutMs: number): Promise<pg.QueryResult<R>> {
    // The connection (its handshake and LISTENs) counts against the same timeout: a database that
    // accepts the socket and then hangs must not hold a renewal up past the node's deadline.
    const c = await new Promise<pg.Client>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.abandonConnect();
        reject(new Error(`no connection within ${Math.round(timeoutMs)} ms`));
      }, Math.max(1, timeoutMs));
      this.connect(timeoutMs).then(
        (client) => {
          clearTimeout(timer);
          resolve(client);
        },
        (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
    return new Promise((resolve, reject) => {
      let done = false;
      // The timeout decides after the poll phase (setImmediate): when this thread's event loop was
      // blocked, an answer that arrived meanwhile sits in the socket and is read before the verdict
      // — the timer alone (timers run before I/O) would call a renewal that succeeded a failure.
      const timer = setTimeout(
        () =>
          setImmediate(() => {
            if (done) return;
            done = true;
            this.drop(c);
            reject(new Error(`no answer within ${Math.round(timeoutMs)} ms`));
          }),
        Math.max(1, timeoutMs),
      );
      c.query<R>(text, values).then(
        (res) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(res);
        },
        (err: Error) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          this.drop(c);
          reject(err);
        },
      );
    });
  }

  /** Calls `fn` with each NOTIFY payload on the channel (from the next (re)connection on). */
  async listen(channel: string, fn: (payload: string) => void): Promise<void> {
    this.channels.set(channel, fn);
    const c = this.client;
    if (c) await c.query(`LISTEN "${channel.replace(/"/g, '""')}"`);
  }

  /** Calls `fn` after each new connection but the first: notifications sent while it was down were missed. */
  onReconnect(fn: () => void): void {
    this.reconnected.push(fn);
  }

  /** A connection attempt that outlived its caller's timeout: ended when it completes; the next query starts a new one. */
  private abandonConnect(): void {
    this.gen++;
    this.connecting = null;
  }

  private connect(timeoutMs: number): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    if (this.closed) return Promise.reject(new Error('connection closed'));
    if (this.connecting) return this.connecting;
    const gen = this.gen;
    const attempt = (async () => {
      // Loaded here, not at import: a daemon on SQLite never pays for `pg`.
      const { default: pgm } = await import('pg');
      const c = new pgm.Client({ connectionString: this.url, application_name: this.applicationName.slice(0, 63), statement_timeout: this.statementTimeoutMs, connectionTimeoutMillis: Math.max(1000, Math.floor(timeoutMs)) });
      c.on('error', (err) => {
        this.onError(err);
        this.drop(c);
      });
      c.on('notification', (n) => {
        if (n.payload !== undefined) this.channels.get(n.channel)?.(n.payload);
      });
      try {
        await c.connect();
        for (const ch of this.channels.keys()) await c.query(`LISTEN "${ch.replace(/"/g, '""')}"`);
      } catch (err) {
        c.end().catch(() => undefined);
        throw err;
      }
      if (this.closed || gen !== this.gen) {
        c.end().catch(() => undefined);
        throw new Error(this.closed ? 'connection closed' : 'connection attempt abandoned (timed out)');
      }
      this.client = c;
      if (this.connections++ > 0) for (const fn of this.reconnected) fn();
      return c;
    })().finally(() => {
      if (this.connecting === attempt) this.connecting = null;
    });
    this.connecting = attempt;
    return attempt;
  }

  /** Whether a connection is up (a LISTEN on it receives notifications). */
  get connected(): boolean {
    return this.client !== null;
  }

  private drop(c: pg.Client): void {
    if (this.client === c) this.client = null;
    c.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => undefined);
  }
}
