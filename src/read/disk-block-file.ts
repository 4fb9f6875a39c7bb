// The format of one disk-cache block file: a 64-byte header, then the block's bytes. The
// header names the block (the object version's identity hash and the block index) and
// carries the data's length and CRC-32, so a damaged, partial or misplaced file is found.
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('S3MDC001');
/** magic (8), identity (32), index (4), length (4), crc32 (4), reserved (12) */
export const HEADER_BYTES = 64;
/** where the header holds the data's CRC-32 */
export const CRC_AT = 48;

/** The header of block `index` of version `ident` with `length` bytes, into the start of `into`; its CRC-32 left 0. */
export function writeBlockHeader(into: Buffer, ident: Buffer, index: number, length: number): void {
  into.fill(0, 0, HEADER_BYTES); // (the memory is reused)
  MAGIC.copy(into, 0);
  ident.copy(into, 8);
  into.writeUInt32LE(index, 40);
  into.writeUInt32LE(length, 44);
}

/** Why a file's `header` and `data` are not block `index` of version `ident`, or undefined if they are. */
export function blockFileProblem(
  header: Buffer,
  data: Buffer,
  ident: Buffer,
  index: number,
): string | undefined {
  if (!header.subarray(0, 8).equals(MAGIC)) return 'bad magic';
  if (!header.subarray(8, 40).equals(ident)) return 'identity mismatch';
  if (header.readUInt32LE(40) !== index) return 'index mismatch';
  if (header.readUInt32LE(44) !== data.length) return 'length mismatch';
  if (header.readUInt32LE(CRC_AT) !== crc32(data)) return 'checksum mismatch';
  return undefined;
}
