import { describe, expect, it } from 'vitest';
import { archiveRoots } from '../../src/archive/archive-roots.js';
import { UsageError } from '../../src/errors.js';

describe('archiveRoots (where each source goes inside the archive)', () => {
  it.each<[string, string[], string[]]>([
    ['one source: its base name', ['/srv/a/data'], ['data']],
    ['distinct base names stay base names', ['/srv/photos', '/home/me/notes.md'], ['photos', 'notes.md']],
    ['same base name: the shortest suffix that tells them apart', ['/srv/a/data', '/srv/b/data'], ['a/data', 'b/data']],
    ['only the clashing sources grow', ['/srv/a/data', '/srv/b/data', '/etc'], ['a/data', 'b/data', 'etc']],
    ['three levels where two levels still clash', ['/x/data', '/y/a/data', '/z/a/data'], ['x/data', 'y/a/data', 'z/a/data']],
    ['one that runs out of folders: the whole path', ['/data', '/srv/data'], ['data', 'srv/data']],
    // a/data would be the parent of a/data/foo: files of the two sources would mix on extraction.
    ['a root is never the parent of another root', ['/p/a/data', '/q/b/data', '/m/a/data/foo', '/n/data/foo'], ['p/a/data', 'b/data', 'm/a/data/foo', 'n/data/foo']],
    ['the file system root', ['/'], ['root']],
    ['trailing slashes and dots are normalised', ['/srv/a/data/', '/srv/b/./data'], ['a/data', 'b/data']],
  ])('%s', (_title, sources, roots) => {
    const plan = archiveRoots(sources);
    expect(plan.roots.map((r) => r.root)).toEqual(roots);
    expect(plan.duplicates).toEqual([]);
    // Distinct, and none inside another.
    for (const a of roots) for (const b of roots) if (a !== b) expect(b.startsWith(`${a}/`)).toBe(false);
  });

  it('records the source each root belongs to', () => {
    expect(archiveRoots(['/srv/a/data', '/srv/b/data']).roots).toEqual([
      { source: '/srv/a/data', root: 'a/data' },
      { source: '/srv/b/data', root: 'b/data' },
    ]);
  });

  it('stores a path given twice once, and says so', () => {
    const plan = archiveRoots(['/srv/data', '/etc', '/srv/data/']);
    expect(plan.roots).toEqual([
      { source: '/srv/data', root: 'data' },
      { source: '/etc', root: 'etc' },
    ]);
    expect(plan.duplicates).toEqual(['/srv/data']);
  });

  it.each([
    [['/srv', '/srv/a']],
    [['/srv/a/b', '/srv']],
    [['/', '/etc']],
  ])('refuses a source inside another (exit 2): %j', (sources) => {
    let error: unknown;
    try {
      archiveRoots(sources);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(error).toMatchObject({ code: 'SOURCE_NESTED', exitCode: 2 });
    expect((error as Error).message).toMatch(/is inside source/);
  });

  it('does not take a sibling with a common prefix for a folder inside', () => {
    expect(archiveRoots(['/srv/data', '/srv/data2']).roots.map((r) => r.root)).toEqual(['data', 'data2']);
  });
});
