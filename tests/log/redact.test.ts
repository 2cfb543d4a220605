import { describe, expect, it } from 'vitest';
import { REDACTED, redact, redactText } from '../../src/log/redact.js';

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
