/**
 * utilisationColor colours a utilisation (1 = the cluster mean) by its distance from the
 * mean: green within 10 %, yellow within 25 %, red beyond; grey when unknown.
 */
export function utilisationColor(u: number | null): string {
  if (u === null) return 'gray'
  const d = Math.abs(u - 1)
  return d <= 0.1 ? 'green' : d <= 0.25 ? 'yellow' : 'red'
}
