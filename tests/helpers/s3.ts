/**
 * Test access to the suite's S3 server: a fresh bucket per test, the
 * environment the CLI needs to reach it, and listings of what is left
 * (objects and unfinished multipart uploads).
 */
import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { inject } from 'vitest';

export function s3Server(): { endpoint: string; accessKeyId: string; secretAccessKey: string; region: string } {
  return inject('s3');
}

export function testClient(endpoint = s3Server().endpoint): S3Client {
  const server = s3Server();
  return new S3Client({
    endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A new, empty bucket with a unique name. */
export async function freshBucket(client = testClient()): Promise<string> {
  const bucket = `t-${randomBytes(6).toString('hex')}`;
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

/** Environment for the CLI: credentials and endpoint as a user would set them. */
export function s3Env(endpoint = s3Server().endpoint): NodeJS.ProcessEnv {
  const server = s3Server();
  return {
    AWS_ACCESS_KEY_ID: server.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    AWS_REGION: server.region,
    AWS_ENDPOINT_URL_S3: endpoint,
    // No ~/.aws of the machine may leak into a test.
    AWS_CONFIG_FILE: '/nonexistent',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
  };
}

export async function listKeys(bucket: string, client = testClient()): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

export async function listUploads(bucket: string, client = testClient()): Promise<string[]> {
  const out = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  return (out.Uploads ?? []).map((u) => `${u.Key} ${u.UploadId}`);
}

export async function getObject(bucket: string, key: string, client = testClient()): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function headObject(bucket: string, key: string, client = testClient()) {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}
