// scripts/lib/bench-s3.mjs: the S3 side of scripts/bench, shared by the orchestrator
// (bench.mjs: preparing data, waiting until written objects are in S3, verifying them)
// and the "raw" tool (bench-raw.mjs: the same workloads done directly with the SDK).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:http';
import {
  CreateBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetObjectCommand, HeadBucketCommand,
  HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';

export const MiB = 1024 * 1024;

/** An SDK client as s3mount's peers would configure one for Ceph RGW. */
export function client(endpoint, { sockets = 64 } = {}) {
  return new S3Client({
    endpoint,
    region: process.env.AWS_REGION || 'us-east-1',
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
    requestHandler: {
      httpAgent: new Agent({ keepAlive: true, maxSockets: sockets }),
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
    },
  });
}

export async function ensureBucket(s3, Bucket) {
  try {
    await s3.send(new HeadBucketCommand({ Bucket }));
  } catch {
    try {
      await s3.send(new CreateBucketCommand({ Bucket }));
    } catch (e) {
      if (e.name !== 'BucketAlreadyOwnedByYou' && e.name !== 'BucketAlreadyExists') throw e;
    }
  }
}

/** HEAD: {size, meta} or undefined when absent. */
export async function head(s3, Bucket, Key) {
  try {
    const r = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    return { size: r.ContentLength, meta: r.Metadata ?? {} };
  } catch (e) {
    if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
    throw e;
  }
}

/** Every key under Prefix (no delimiter): [{key, size}] */
export async function listAll(s3, Bucket, Prefix, { delimiter } = {}) {
  const out = [];
  const prefixes = [];
  let ContinuationToken;
  do {
    const r = await s3.send(new ListObjectsV2Command({ Bucket, Prefix, Delimiter: delimiter, ContinuationToken, MaxKeys: 1000 }));
    for (const o of r.Contents ?? []) out.push({ key: o.Key, size: o.Size });
    for (const p of r.CommonPrefixes ?? []) prefixes.push(p.Prefix);
    ContinuationToken = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (ContinuationToken);
  return delimiter ? { objects: out, prefixes } : out;
}

export async function deletePrefix(s3, Bucket, Prefix) {
  const keys = await listAll(s3, Bucket, Prefix);
  for (let i = 0; i < keys.length; i += 1000)
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: keys.slice(i, i + 1000).map((k) => ({ Key: k.key })), Quiet: true } }));
  return keys.length;
}

/** Downloads an object and returns {size, sha256}. */
export async function hashObject(s3, Bucket, Key) {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key }));
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of r.Body) { h.update(chunk); size += chunk.length; }
  return { size, sha256: h.digest('hex') };
}

export async function deleteObject(s3, Bucket, Key) {
  await s3.send(new DeleteObjectCommand({ Bucket, Key }));
}

export async function putSmall(s3, Bucket, Key, Body) {
  await s3.send(new PutObjectCommand({ Bucket, Key, Body }));
}

/** Runs fn(i) for i in [0, n) with at most `width` in flight. */
export async function pool(n, width, fn) {
  let next = 0;
  const worker = async () => { while (next < n) { const i = next++; await fn(i); } };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/** Peak resident set size of this process, in bytes (VmHWM). */
export function selfPeakRss() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : undefined;
}
