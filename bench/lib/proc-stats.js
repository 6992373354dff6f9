// CPU time and resident memory of a process tree, read from /proc (Linux only), never estimated.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

const RSS_SAMPLE_MS = 250;

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`, 100 almost everywhere). */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Fields of /proc/<pid>/stat after the parenthesised command name (which may contain spaces). */
function statFields(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime in clock ticks (fields 14 and 15 of stat, i.e. 11 and 12 after the name). */
export function cpuTicks(pid) {
  const fields = statFields(pid);
  return Number(fields[11]) + Number(fields[12]);
}

/** VmRSS and VmHWM (peak RSS since start or since the last reset) in kB. */
export function memoryKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** Resets VmHWM to the current RSS (writing 5 to clear_refs, Linux 4.0+); false when not allowed. */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** `pid` and every live descendant (nginx's workers are children of its master). */
export function processTree(pid) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      parents.set(Number(entry), Number(statFields(entry)[1]));
    } catch {
      // The process ended between readdir and read.
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/**
 * Measures one run of a process tree: CPU ticks between start() and stop(), and peak RSS as the
 * larger of the kernel's high-water mark (reset at start()) and VmRSS sampled every 250 ms.
 * For a tree the peaks of its processes are summed.
 */
export class ProcessMeter {
  constructor(pid) {
    this.pid = pid;
  }

  start() {
    this.pids = processTree(this.pid);
    this.hwmWasReset = this.pids.every(resetPeakRss);
    this.startTicks = this.sumTicks();
    this.peakSampledKb = this.sumRss();
    this.timer = setInterval(() => {
      this.peakSampledKb = Math.max(this.peakSampledKb, this.sumRss());
    }, RSS_SAMPLE_MS);
    this.timer.unref();
  }

  /** @returns {{ cpuSeconds: number, peakRssMb: number }} */
  stop() {
    clearInterval(this.timer);
    const cpuSeconds = (this.sumTicks() - this.startTicks) / CLK_TCK;
    const hwmKb = this.hwmWasReset ? this.sum((pid) => memoryKb(pid).hwmKb) : 0;
    const peakKb = Math.max(hwmKb, this.peakSampledKb, this.sumRss());
    return { cpuSeconds, peakRssMb: peakKb / 1024 };
  }

  sumTicks() {
    return this.sum(cpuTicks);
  }

  sumRss() {
    return this.sum((pid) => memoryKb(pid).rssKb);
  }

  sum(read) {
    let total = 0;
    for (const pid of this.pids) {
      try {
        total += read(pid);
      } catch {
        // A worker that exited mid-run contributes nothing further.
      }
    }
    return total;
  }
}

/** Busy and total clock ticks of the whole machine, from the first line of /proc/stat. */
function machineTicks() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, n) => sum + n, 0);
  const idle = fields[3] + fields[4];
  return { busy: total - idle, total };
}

/**
 * How much of the machine's CPU was used by processes outside the bench during a run (the bench
 * process, its servers and gateways excluded): other work on a shared machine skews every number.
 */
export class ContentionMeter {
  start() {
    this.machine = machineTicks();
    this.ours = this.benchTicks();
  }

  /** @returns {number} percent of total machine CPU capacity used by others */
  stop() {
    const machine = machineTicks();
    const total = machine.total - this.machine.total;
    const others = machine.busy - this.machine.busy - (this.benchTicks() - this.ours);
    return total > 0 ? Math.max(0, (100 * others) / total) : 0;
  }

  benchTicks() {
    let ticks = 0;
    for (const pid of processTree(process.pid)) {
      try {
        ticks += cpuTicks(pid);
      } catch {
        // Exited since the tree was listed.
      }
    }
    return ticks;
  }
}
