/**
 * @module session/lease
 * Exactly one process runs a session. A server process owns the sessions it runs through a lease
 * in the store (owner id, heartbeat, expiry), renewed every few seconds while it lives. Another
 * process on the same output folder sees the lease and neither runs the session (`/continue` is
 * refused naming the owner) nor marks it interrupted. A lease whose owner is gone stops counting:
 * at once when the owner was a process on this host that no longer exists (a crash, kill -9), else
 * when it expires, and the sweep of a live process marks the session interrupted. How long a lease
 * lasts and how often it is renewed are the config's `session_lease` keys; the sweep's pace follows.
 * Every lease time is the store's clock (`Store.now`), never this machine's: replicas whose clocks
 * disagree would otherwise each see the other's live lease as expired, or keep a dead one.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { errField, type Logger, silentLogger } from '../log/logger.js';
import type { SessionLease, Store } from '../store/types.js';
import { ControlError } from './types.js';

/** How long a lease lasts without a heartbeat, and how often it is renewed (config `session_lease`). */
export interface LeaseTimings {
  ttlMs: number;
  heartbeatMs: number;
}

export function leaseTimingsOf(config: { session_lease: { ttl_ms: number; heartbeat_ms: number } }): LeaseTimings {
  return { ttlMs: config.session_lease.ttl_ms, heartbeatMs: config.session_lease.heartbeat_ms };
}

/**
 * How often a process looks for sessions whose owner is gone (their lease expired, or the owner
 * was a process of this host that died). A lease expires at most one TTL after its owner's last
 * heartbeat, so a dead owner's sessions are marked within 1.5 TTL; sweeping more often would list
 * every session more often for at most half a TTL sooner.
 */
export function sweepIntervalMs(t: LeaseTimings): number {
  return Math.round(t.ttlMs / 2);
}

/** `host:pid:random`: the host and pid let a process on the same host see that the owner died. */
export function newOwnerId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** True when `owner` was a process of this host that does not exist any more. */
export function ownerDead(owner: string, self?: string): boolean {
  const [host, pidText] = owner.split(':');
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return false;
  // Our own pid under another owner id: that was an earlier process whose pid we got.
  if (pid === process.pid) return owner !== self;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The lease of a session when a live process holds it (`self`, this process's owner id, included). */
export async function liveLease(store: Store, sessionId: string, self: string): Promise<SessionLease | null> {
  const lease = await store.getLease(sessionId);
  if (!lease || lease.expires_at <= (await store.now())) return null;
  if (lease.owner !== self && ownerDead(lease.owner, self)) return null;
  return lease;
}

export interface LeaseOptions extends LeaseTimings {
  owner?: string;
  logger?: Logger;
  /**
   * A session whose lease another process now holds (this one stalled past the expiry, e.g. on a
   * full disk, and the other took over): this process must stop running it.
   */
  onLost?: (sessionId: string, holder: SessionLease) => void;
}

export class SessionLeases {
  readonly owner: string;
  private readonly ttl: number;
  private readonly heartbeatMs: number;
  private readonly log: Logger;
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    opts: LeaseOptions,
  ) {
    this.owner = opts.owner ?? newOwnerId();
    this.ttl = opts.ttlMs;
    this.heartbeatMs = opts.heartbeatMs;
    this.log = opts.logger ?? silentLogger;
    this.onLost = opts.onLost;
  }

  private readonly onLost: LeaseOptions['onLost'];

  /** Take the session's lease, or refuse naming the live process that holds it. */
  async acquire(sessionId: string): Promise<void> {
    const now = await this.store.now();
    const got = await this.store.acquireLease(sessionId, this.owner, now, now + this.ttl, (o) =>
      ownerDead(o, this.owner),
    );
    if (!got.acquired) {
      const { owner, heartbeat_at } = got.held;
      throw new ControlError(
        `session ${sessionId} is run by another server process (${owner}, last heartbeat ${new Date(heartbeat_at).toISOString()}): use that server, or stop it first`,
        'invalid_state',
      );
    }
    this.held.add(sessionId);
    this.startHeartbeat();
  }

  async release(sessionId: string): Promise<void> {
    if (!this.held.delete(sessionId)) return;
    try {
      await this.store.releaseLease(sessionId, this.owner);
    } catch (err) {
      // It expires on its own; this process will not renew it.
      this.log.warn({ session: sessionId, err: errField(err) }, 'could not release the session lease');
    }
  }

  /** Stop renewing and let go of every lease (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.all([...this.held].map((id) => this.release(id)));
  }

  private startHeartbeat(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew(), this.heartbeatMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    try {
      const now = await this.store.now();
      const still = new Set(await this.store.renewLeases(this.owner, now, now + this.ttl));
      for (const id of [...this.held]) {
        if (still.has(id)) continue;
        // Expired (or swept) while this process stalled: take it back unless another process has it.
        const again = await this.store.acquireLease(id, this.owner, now, now + this.ttl, (o) =>
          ownerDead(o, this.owner),
        );
        if (again.acquired) {
          this.log.warn({ session: id, owner: this.owner }, 'the lease of a running session had expired: taken back');
          continue;
        }
        this.held.delete(id);
        this.log.error(
          { session: id, owner: this.owner, holder: again.held.owner },
          'another server process took over a session this one was running: it stops here',
        );
        this.onLost?.(id, again.held);
      }
    } catch (err) {
      // A full disk: the lease runs on until its expiry; the next beat tries again.
      this.log.warn({ err: errField(err) }, 'could not renew the session leases');
    }
  }
}
