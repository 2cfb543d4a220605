/** `~` and `~/x` as a shell would expand them (the wizard and settings.json are not a shell). Pure. */
import path from 'node:path';

export function expandHome(input: string, home: string): string {
  if (input === '~') return home;
  if (input.startsWith('~/')) return path.join(home, input.slice(2));
  return input;
}
