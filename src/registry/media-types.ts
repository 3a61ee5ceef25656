/** Media types Berth understands, defined once. */
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export type ManifestKind = 'image' | 'index';

/** The manifest media types accepted on PUT, and whether each is an image or an index. */
export const manifestKinds: ReadonlyMap<string, ManifestKind> = new Map([
  [MediaType.ociManifest, 'image'],
  [MediaType.dockerManifest, 'image'],
  [MediaType.ociIndex, 'index'],
  [MediaType.dockerManifestList, 'index'],
]);

/**
 * Layers that may live outside the registry (Windows base layers and their OCI
 * equivalents): not required to exist in the repository, but their URLs are checked.
 */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip' ||
    mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar' ||
    mediaType.startsWith('application/vnd.oci.image.layer.nondistributable.')
  );
}
