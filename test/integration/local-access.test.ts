import { existsSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareLocalAccess } from '../../bin/commands/runtime.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { localTokensPath, readLocalTokens } from '../../security/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('local mode keeps tokens on disk only while no identity provider is configured', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await createTestDatabase();
  });
  afterAll(async () => t?.drop());

  it('writes the local admin’s token (0600) without a provider, and none with one', async () => {
    const local = mkdtempSync(path.join(os.tmpdir(), 'patchflow-local-'));
    const file = await prepareLocalAccess({ db: t.db, settings: loadSettings({ PATCHFLOW_DATA_DIR: local }) });
    expect(file).toBe(localTokensPath(local));
    expect(statSync(file!).mode & 0o777).toBe(0o600);
    expect(Object.keys(readLocalTokens(local))).toContain('admin');

    const withProvider = mkdtempSync(path.join(os.tmpdir(), 'patchflow-oidc-'));
    const settings = loadSettings({
      PATCHFLOW_DATA_DIR: withProvider,
      PATCHFLOW_OIDC_ISSUER: 'https://login.example.com/realms/it',
      PATCHFLOW_OIDC_CLIENT_ID: 'patchflow',
      PATCHFLOW_OIDC_ROLE_MAP: 'patchflow-admins=admin',
    });
    expect(await prepareLocalAccess({ db: t.db, settings })).toBeUndefined();
    expect(existsSync(localTokensPath(withProvider))).toBe(false);
  });
});
