import fs from 'node:fs/promises';
import path from 'node:path';
import { LocalDestination } from '../../src/storage/local.js';
import { listDir, tempDir } from '../helpers/fixtures.js';
import { destinationContract } from './destination-contract.js';

destinationContract('local folder', {
  async create() {
    const dest = new LocalDestination(path.join(await tempDir(), 'out'));
    await dest.prepare();
    return dest;
  },
  async sibling(of) {
    return new LocalDestination((of as LocalDestination).dir);
  },
  // Partial files included: after a commit or an abort none may remain.
  list: (of) => listDir((of as LocalDestination).dir),
  read: (of, name) => fs.readFile(path.join((of as LocalDestination).dir, name)),
});
