/**
 * Node process warnings fail the test that caused them: they are how
 * deprecations, listener leaks and unhandled rejections surface. The few
 * expected ones are listed by name.
 */
import { afterEach, expect } from 'vitest';

const ALLOWED: RegExp[] = [
  // The AWS SDK announces that its 2027 releases need Node 22.
  /NodeVersionSupport|will no longer support Node\.js 20/i,
];

const seen: string[] = [];
process.on('warning', (warning) => {
  const text = `${warning.name}: ${warning.message}`;
  if (!ALLOWED.some((pattern) => pattern.test(text))) seen.push(text);
});

afterEach(() => {
  const warnings = seen.splice(0);
  expect(warnings, 'Node process warnings').toEqual([]);
});
