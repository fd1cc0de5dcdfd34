/**
 * loadPredatesMap tells whether a node's published load, over `loadReplicas` replicas, predates
 * the map that gives it `mapReplicas`: the count is what the summary can be checked by (it
 * carries no map revision), so a publish between a move that took one replica on and one that
 * took another off reads as current. Pure, and apart from the services so that every view of a
 * node's load (`node show`, `cluster status`, `top`) gives the same verdict.
 */
export function loadPredatesMap(loadReplicas: number, mapReplicas: number): boolean {
  return loadReplicas !== mapReplicas
}

/** STALE_MARK follows a node's load figures wherever they are stale (loadPredatesMap): `cluster status`, `stats`, `top`. Each view explains it once. */
export const STALE_MARK = '*'
