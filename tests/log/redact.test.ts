import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactText, registerSecretValues } from '../../src/log/redact.js';

describe('redact', () => {
  it.each([
    ['https://user:hunter2@example.com/x', `https://user:${REDACTED}@example.com/x`],
    ['key AKIAIOSFODNN7EXAMPLE used', `key AKIA…${REDACTED} used`],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', `aws_secret_access_key = ${REDACTED}`],
    ['GET /b/k?X-Amz-Signature=abcdef&x=1', `GET /b/k?X-Amz-Signature=${REDACTED}&x=1`],
    ['nothing secret here', 'nothing secret here'],
  ])('%s', (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it('replaces values of secret-named keys at any depth, keeps the rest', () => {
    expect(
      redact({
        bucket: 'b',
        secretAccessKey: 'wJalr',
        nested: { sessionToken: 'tok', password: 'pw', list: [{ authorization: 'AWS4 x' }], region: 'eu' },
        empty: '',
      }),
    ).toEqual({
      bucket: 'b',
      secretAccessKey: REDACTED,
      nested: { sessionToken: REDACTED, password: REDACTED, list: [{ authorization: REDACTED }], region: 'eu' },
      empty: '',
    });
  });
});

describe('redactText: URL user info, env secrets, signatures', () => {
  it.each([
    ['http://u:P@ss@host:9000/b', `http://u:${REDACTED}@host:9000/b`],
    ['endpoint http://u:p@ss@w0rd@host and more', `endpoint http://u:${REDACTED}@host and more`],
    ['http://TOKEN1234@host/x', `http://${REDACTED}@host/x`],
    ['https://:onlypass@host', `https://:${REDACTED}@host`],
    // An SFTP destination's label: the login name is not a secret; a password in the URL still is.
    ['to sftp://backup@nas.lan:22/volume1/backups/a.zip', 'to sftp://backup@nas.lan:22/volume1/backups/a.zip'],
    ['sftp://root@[::1]:2222/~/backups', 'sftp://root@[::1]:2222/~/backups'],
    ['sftp://backup:hunter2pw@nas.lan/x', `sftp://backup:${REDACTED}@nas.lan/x`],
    ['ssh://git@example.com/repo', 'ssh://git@example.com/repo'],
    ['{"endpoint":"http://host:1","owner":"a@b"}', '{"endpoint":"http://host:1","owner":"a@b"}'],
    ['mail me at someone@example.com', 'mail me at someone@example.com'],
    ['GET /k?X-Amz-Credential=AK%2F2026&X-Amz-Signature=ff00', `GET /k?X-Amz-Credential=${REDACTED}&X-Amz-Signature=${REDACTED}`],
    // An Azure SAS URL (rclone's azureblob sas_url): the signature is the secret.
    [
      'PUT https://acct.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sp=rwdl&se=2030-01-01T00:00:00Z&sig=Abc%2Bdef%2FXyz%3D failed',
      `PUT https://acct.blob.core.windows.net/c/b?sv=2022-11-02&ss=b&sp=rwdl&se=2030-01-01T00:00:00Z&sig=${REDACTED} failed`,
    ],
    ['?sig=Zm9vYmFy&sv=1', `?sig=${REDACTED}&sv=1`],
    ['a design=x&signal=y', 'a design=x&signal=y'],
  ])('%s', (input, expected) => {
    expect(redactText(input)).toBe(expected);
  });

  it('redacts the values of AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN wherever they appear, not short ones', () => {
    registerSecretValues({ AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMIK7MDENG', AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEBYaDH', AWS_REGION: 'eu-west-1' });
    registerSecretValues({ AWS_SECRET_ACCESS_KEY: 'short' });
    expect(redactText('source /srv/wJalrXUtnFEMIK7MDENG/x and FwoGZXIvYXdzEBYaDH')).toBe(`source /srv/${REDACTED}/x and ${REDACTED}`);
    expect(redactText('eu-west-1 short')).toBe('eu-west-1 short');
  });
});

describe('registerSecretValue', () => {
  it('redacts a registered value (a webhook URL) wherever it appears, longest first', async () => {
    const { registerSecretValue } = await import('../../src/log/redact.js');
    const url = 'https://hooks.example.test/services/T0SECRET/B0SECRET/xyzTOKENxyz';
    registerSecretValue(url);
    registerSecretValue('/services/T0SECRET/B0SECRET/xyzTOKENxyz');
    registerSecretValue('short');
    expect(redactText(`posting to ${url} failed`)).toBe(`posting to ${REDACTED} failed`);
    expect(redactText('path /services/T0SECRET/B0SECRET/xyzTOKENxyz')).toBe(`path ${REDACTED}`);
    expect(redactText('a short word')).toBe('a short word');
    expect(redact({ note: `url=${url}` })).toEqual({ note: `url=${REDACTED}` });
  });
});
