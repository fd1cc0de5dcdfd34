/** dropStaleManifest deletes `root`/oclif.manifest.json when the bundle is missing or older than dist/commands or dist/src; true when it did. */
export function dropStaleManifest(root: string): boolean
