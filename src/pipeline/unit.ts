/**
 * A unit of work: everything one processor produced for one batch of one
 * file, plus the checkpoint that batch reaches. It is the `ProcessorTx` a
 * processor writes to; nothing touches the database until the committer
 * applies whole units inside one transaction.
 */
import type { ProcessorTx } from './processor.js';
import { stagedColumns, type CellValue, type OutputTable } from '../state/table.js';
import type { Checkpoint } from '../state/checkpoint.js';

export interface Statement {
  sql: string;
  params: readonly CellValue[];
}

export class UnitOfWork implements ProcessorTx {
  readonly statements: Statement[] = [];
  readonly rows = new Map<string, CellValue[][]>();
  carry: unknown = undefined;
  carrySet = false;
  items = 0;
  private readonly onCommitted: (() => void)[] = [];
  /** Set by the runner once the batch is done: the checkpoint this unit commits. */
  checkpoint: Checkpoint | null = null;
  /** Whether this unit retracts the file (must not share a transaction with earlier rows of the file). */
  retracts = false;
  /**
   * The fencing token of the file's lease this unit was made under (a shared store, see
   * state/leases.ts); null when the store has no leases. `sessionFile` is then the stored key.
   */
  lease: number | null = null;

  constructor(
    readonly processorName: string,
    readonly sessionFile: string,
    private readonly tables: ReadonlyMap<string, OutputTable>,
  ) {}

  get key(): string {
    return `${this.processorName}\u0000${this.sessionFile}`;
  }

  insert(table: string, row: readonly CellValue[]): void {
    const spec = this.tables.get(table);
    if (!spec) throw new Error(`processor ${this.processorName} inserted into undeclared table ${table}`);
    const width = stagedColumns(spec).length;
    if (row.length !== width) {
      throw new Error(`${table}: row has ${row.length} values, table has ${width} columns`);
    }
    let list = this.rows.get(table);
    if (!list) this.rows.set(table, (list = []));
    list.push(row as CellValue[]);
  }

  run(sql: string, params: readonly CellValue[] = []): void {
    this.statements.push({ sql, params });
  }

  setCarry(carry: unknown): void {
    this.carry = carry;
    this.carrySet = true;
  }

  afterCommit(fn: () => void): void {
    this.onCommitted.push(fn);
  }

  /** Called by the committer once this unit's transaction has committed. */
  committed(): void {
    for (const fn of this.onCommitted.splice(0)) fn();
  }

  countItems(n: number): void {
    this.items += n;
  }

  get rowCount(): number {
    let n = 0;
    for (const r of this.rows.values()) n += r.length;
    return n;
  }
}
