// What the numbers were measured on.
import { availableParallelism, cpus, totalmem } from 'node:os';

export function machine() {
  return {
    node: process.version,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    ramGb: Number((totalmem() / 2 ** 30).toFixed(1)),
    platform: `${process.platform} ${process.arch}`,
  };
}

export function describeMachine(m) {
  return `node ${m.node}, ${m.cpus} CPUs (${m.cpuModel}), ${m.ramGb} GB RAM, ${m.platform}`;
}
