/**
 * A small dependency graph for the Elle-style checker: nodes are op ids, edges carry a
 * bitmask of relation types and the first reason recorded for each type.
 *
 * Offers Tarjan's strongly connected components (iterative, no recursion limit) and a
 * BFS for the shortest path restricted to an edge-type mask and a node set.
 */

export const WW = 1;
export const WR = 2;
export const RW = 4;
export const RT = 8;

export const EDGE_NAMES: Readonly<Record<number, string>> = { 1: 'ww', 2: 'wr', 4: 'rw', 8: 'rt' };

export interface Step {
  readonly from: number;
  readonly to: number;
  readonly type: number;
  readonly why: string;
}

export class DepGraph {
  private readonly out = new Map<number, Map<number, number>>();
  private readonly reasons = new Map<string, string>();
  private edgeCount = 0;

  addNode(n: number): void {
    if (!this.out.has(n)) this.out.set(n, new Map());
  }

  addEdge(from: number, to: number, type: number, why: string): void {
    if (from === to) return;
    this.addNode(from);
    this.addNode(to);
    const m = this.out.get(from) as Map<number, number>;
    const mask = m.get(to) ?? 0;
    if ((mask & type) === 0) {
      m.set(to, mask | type);
      this.reasons.set(`${from}>${to}>${type}`, why);
      this.edgeCount++;
    }
  }

  get edges(): number {
    return this.edgeCount;
  }

  nodes(): number[] {
    return [...this.out.keys()];
  }

  successors(n: number): ReadonlyMap<number, number> {
    return this.out.get(n) ?? new Map();
  }

  reason(from: number, to: number, type: number): string {
    return this.reasons.get(`${from}>${to}>${type}`) ?? '';
  }

  /** Strongly connected components with more than one node. */
  cycles(): number[][] {
    const index = new Map<number, number>();
    const low = new Map<number, number>();
    const onStack = new Set<number>();
    const stack: number[] = [];
    const result: number[][] = [];
    let counter = 0;
    for (const root of this.out.keys()) {
      if (index.has(root)) continue;
      const work: { node: number; it: Iterator<number> }[] = [];
      const visit = (n: number): void => {
        index.set(n, counter);
        low.set(n, counter);
        counter++;
        stack.push(n);
        onStack.add(n);
        work.push({ node: n, it: this.successors(n).keys() });
      };
      visit(root);
      while (work.length > 0) {
        const top = work[work.length - 1] as { node: number; it: Iterator<number> };
        const nx = top.it.next();
        if (!nx.done) {
          const w = nx.value;
          if (!index.has(w)) visit(w);
          else if (onStack.has(w)) {
            low.set(top.node, Math.min(low.get(top.node) as number, index.get(w) as number));
          }
          continue;
        }
        work.pop();
        const parent = work[work.length - 1];
        if (parent !== undefined) {
          low.set(
            parent.node,
            Math.min(low.get(parent.node) as number, low.get(top.node) as number),
          );
        }
        if (low.get(top.node) === index.get(top.node)) {
          const comp: number[] = [];
          for (;;) {
            const w = stack.pop() as number;
            onStack.delete(w);
            comp.push(w);
            if (w === top.node) break;
          }
          if (comp.length > 1) result.push(comp);
        }
      }
    }
    return result;
  }

  /**
   * Shortest path from `from` to `to` using only edges whose type is in `mask`, staying
   * inside `within`. Returns the steps (each with the single type used) or undefined.
   */
  path(from: number, to: number, mask: number, within: ReadonlySet<number>): Step[] | undefined {
    const prev = new Map<number, { node: number; type: number }>();
    const queue = [from];
    const seen = new Set([from]);
    for (let qi = 0; qi < queue.length; qi++) {
      const n = queue[qi] as number;
      if (n === to) break;
      for (const [w, m] of this.successors(n)) {
        if ((m & mask) === 0 || seen.has(w) || !within.has(w)) continue;
        seen.add(w);
        prev.set(w, { node: n, type: lowestBit(m & mask) });
        queue.push(w);
      }
    }
    if (!seen.has(to)) return undefined;
    const steps: Step[] = [];
    for (let n = to; n !== from;) {
      const p = prev.get(n) as { node: number; type: number };
      steps.push({ from: p.node, to: n, type: p.type, why: this.reason(p.node, n, p.type) });
      n = p.node;
    }
    return steps.reverse();
  }
}

function lowestBit(m: number): number {
  return m & -m;
}
