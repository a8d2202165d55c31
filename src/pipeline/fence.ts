/**
 * Fencing: which units of a commit group may not be written, because the node
 * no longer holds their file's lease under the token they were made with, or
 * because their checkpoint would move back behind the committed one. Decided
 * inside the commit's transaction, with the lease rows locked (state/leases.ts),
 * so no other node can take a file over between the check and the commit.
 *
 * The decision itself is pure (`refusals`), tested without a database.
 */
import type { UnitOfWork } from './unit.js';
import { committedOffsets, lockLeases, type SqlRunner } from '../state/leases.js';

/** A unit refused by the fence: nothing of it was written, and the file is left to its lease holder. */
export class LeaseLostError extends Error {
  readonly leaseLost = true;
  constructor(
    readonly sessionFile: string,
    readonly why: 'lease' | 'regression',
    detail: string,
  ) {
    super(
      why === 'lease'
        ? `lease of ${sessionFile} lost (${detail}): not committed, left to the node holding it`
        : `checkpoint of ${sessionFile} would move backwards (${detail}): not committed`,
    );
    this.name = 'LeaseLostError';
  }
}

export function isLeaseLost(err: unknown): err is LeaseLostError {
  return (err as LeaseLostError)?.leaseLost === true;
}

/** What the fence reads of a unit. */
export interface FencedUnit {
  readonly key: string;
  readonly processorName: string;
  readonly sessionFile: string;
  readonly lease: number | null;
  readonly retracts: boolean;
  readonly checkpoint: { offset: number } | null;
}

/**
 * The units (by index) that must not be written, in group order:
 * - a leased unit whose token is not the file's valid lease of this node (`held`);
 * - a unit whose checkpoint offset is below the committed one (`committed`, keyed
 *   `processor \0 file`), unless a unit of its (processor, file) earlier in the group, or
 *   itself, retracts the file (a rewrite starts again from 0, under the current lease);
 * - every later unit of a (processor, file) once one is refused (it builds on it).
 * A unit without a lease (an operator's requeue) passes the lease check, not the offset guard.
 */
export function refusals(units: readonly FencedUnit[], held: ReadonlyMap<string, number>, committed: ReadonlyMap<string, number>): Map<number, LeaseLostError> {
  const out = new Map<number, LeaseLostError>();
  const retracted = new Set<string>();
  const refusedKeys = new Map<string, LeaseLostError>();
  units.forEach((u, i) => {
    const earlier = refusedKeys.get(u.key);
    if (earlier) {
      out.set(i, earlier);
      return;
    }
    let err: LeaseLostError | null = null;
    if (u.lease !== null) {
      const token = held.get(u.sessionFile);
      if (token !== u.lease) err = new LeaseLostError(u.sessionFile, 'lease', token === undefined ? `token ${u.lease} expired or taken` : `token ${u.lease}, now ${token}`);
    }
    if (!err) {
      if (u.retracts) retracted.add(u.key);
      const was = committed.get(`${u.processorName}\u0000${u.sessionFile}`);
      if (u.checkpoint && was !== undefined && !retracted.has(u.key) && u.checkpoint.offset < was) {
        err = new LeaseLostError(u.sessionFile, 'regression', `${u.processorName}: offset ${u.checkpoint.offset} < committed ${was}`);
      }
    }
    if (err) {
      out.set(i, err);
      refusedKeys.set(u.key, err);
    }
  });
  return out;
}

/** Asked by the committer inside each transaction, before anything is written. */
export interface CommitFence {
  refuse(units: readonly UnitOfWork[]): Promise<Map<number, LeaseLostError>>;
}

/** The lease fence of node `node` on a shared store. */
export function leaseFence(db: SqlRunner, node: string): CommitFence {
  return {
    async refuse(units) {
      const files = [...new Set(units.map((u) => u.sessionFile))];
      const leased = [...new Set(units.filter((u) => u.lease !== null).map((u) => u.sessionFile))];
      const held = leased.length > 0 ? await lockLeases(db, leased, node) : new Map<string, number>();
      const committed = await committedOffsets(db, files);
      return refusals(units, held, committed);
    },
  };
}
