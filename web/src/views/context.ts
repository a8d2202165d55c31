import type { State } from '../state.js';

/** What the shell hands a view on each render. */
export interface ViewContext {
  state: State;
  /** Change the state (and the URL), then render again. */
  update(patch: Partial<Omit<State, 'extra'>>, extra?: Record<string, string | null>, push?: boolean): void;
  /** The latest commit notice: generation and commits per second. */
  /** The report names the daemon serves (GET /dashboard/reports). */
  reports: string[];
  notice: { generation: number; at: number; commitsPerSecond: number } | null;
}

export type ViewRender = (ctx: ViewContext) => Promise<HTMLElement>;
