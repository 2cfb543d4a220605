/**
 * Multipart part size. The upload (s3-multipart.ts) uses one size for
 * every part, fixed before the first byte (its buffers are that size),
 * and S3 allows at most 10,000 parts of 5 MiB to 5 GiB. The archive's
 * size is not known until it is written, so the size is chosen from an
 * estimate (the source bytes, which a compressed archive rarely exceeds by
 * more than a little), with headroom. Pure.
 */
const MiB = 1024 * 1024;
export const MIN_PART_SIZE = 8 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** Parts we plan for: room for an archive up to 10% larger than the estimate. */
const PLANNED_PARTS = 9_000;

export function partSizeFor(estimatedBytes: number | undefined): number {
  if (!estimatedBytes || estimatedBytes <= 0) return MIN_PART_SIZE;
  const wanted = Math.ceil(estimatedBytes / PLANNED_PARTS / MiB) * MiB;
  return Math.min(MAX_PART_SIZE, Math.max(MIN_PART_SIZE, wanted));
}
