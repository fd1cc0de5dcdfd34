/**
 * cpuBudgetText compares the copy's CPU per MiB (both nodes, client work taken out) with the
 * bare copy's (bareCopy.ts: the same bytes read, sent over loopback TCP, written and
 * fdatasync'd, no other work) and says the rate `cores` CPUs could sustain at each cost with
 * nothing else running: where the copy's own work, not the disk or the network, is what
 * bounds it.
 */
export function cpuBudgetText(copy: {srcMiBPerCpuS: number; dstMiBPerCpuS: number}, bare: {sender: number; receiver: number}, cores: number): string {
  const copyMs = 1000 / copy.srcMiBPerCpuS + 1000 / copy.dstMiBPerCpuS
  const bareMs = bare.sender + bare.receiver
  const most = (ms: number) => `${((cores * 1000) / ms).toFixed(0)} MiB/s`
  return `${copyMs.toFixed(2)} vs ${bareMs.toFixed(2)} CPU ms per MiB (${(copyMs / bareMs).toFixed(1)}x); ${cores} CPUs allow at most ${most(copyMs)} at the copy's cost, ${most(bareMs)} at the bare copy's`
}
