/**
 * What the comparison reads about a server from Linux itself, so both servers are
 * measured the same way whatever they report about themselves:
 * - peak RSS: VmHWM of every process in the member's process tree, summed (and VmRSS,
 *   RssAnon now, likewise);
 * - CPU time: utime + stime of the tree (clock ticks, assumed 100/s as on Linux x86);
 * - on-disk size: allocated blocks of every file under a directory (what `du` shows,
 *   so preallocated WAL segments count for what they take).
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const CLK_TCK = 100;

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants that are alive now. */
export function processTree(rootPid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readOr(`/proc/${name}/stat`);
    if (stat === undefined) continue;
    // fields after the ")" that ends the command name: state ppid ...
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(rest[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    const pid = queue.pop() ?? 0;
    if (readOr(`/proc/${pid}/stat`) === undefined) continue;
    out.push(pid);
    for (const c of children.get(pid) ?? []) queue.push(c);
  }
  return out;
}

function kbField(status: string | undefined, field: string): number {
  const m = status?.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

function statusKb(pid: number, field: string): number {
  return kbField(readOr(`/proc/${pid}/status`), field);
}

/** Peak resident set of the tree, bytes (sum of each process's high-water mark). */
export function peakRssBytes(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + statusKb(pid, 'VmHWM') * 1024, 0);
}

export function rssBytes(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + statusKb(pid, 'VmRSS') * 1024, 0);
}

/**
 * Anonymous resident memory of the tree (RssAnon), bytes: RSS without file-backed pages,
 * so etcd's mmap'd bbolt file (part of its RSS) is not counted.
 */
export function anonBytes(rootPid: number): number {
  return processTree(rootPid).reduce((sum, pid) => sum + statusKb(pid, 'RssAnon') * 1024, 0);
}

/** RSS and RssAnon of the tree in one walk (bytes): for sampling both at a high rate. */
export function residentBytes(rootPid: number): { rss: number; anon: number } {
  let rss = 0;
  let anon = 0;
  for (const pid of processTree(rootPid)) {
    const status = readOr(`/proc/${pid}/status`) ?? '';
    rss += kbField(status, 'VmRSS') * 1024;
    anon += kbField(status, 'RssAnon') * 1024;
  }
  return { rss, anon };
}

/** User + system CPU seconds used so far by the tree's live processes. */
export function cpuSeconds(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    const stat = readOr(`/proc/${pid}/stat`);
    if (stat === undefined) continue;
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state); utime and stime are fields 14 and 15
    ticks += Number(rest[11]) + Number(rest[12]);
  }
  return ticks / CLK_TCK;
}

/** Allocated bytes of everything under `dir` (0 when it does not exist). */
export function diskBytes(dir: string): number {
  let total = 0;
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return 0;
  }
  total += st.blocks * 512;
  if (st.isDirectory()) {
    for (const name of readdirSync(dir)) total += diskBytes(join(dir, name));
  }
  return total;
}
