/** dropStaleManifest deletes `root`/oclif.manifest.json when the bundle is missing or older than dist/commands or dist/src; true when the CLI must not use the bundle (dropped, or no manifest). */
export function dropStaleManifest(root: string): boolean
