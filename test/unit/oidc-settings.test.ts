import { describe, expect, it } from 'vitest';
import { InputError } from '../../kernel/errors.ts';
import { loadSettings } from '../../runtime/settings.ts';
import { identityFromClaims } from '../../security/oidc.ts';

const base = {
  PATCHFLOW_OIDC_ISSUER: 'https://login.microsoftonline.com/3c1e7f6a-0000-4000-8000-000000000000/v2.0',
  PATCHFLOW_OIDC_CLIENT_ID: '9a3c2b1e-5f4d-4c6b-8a7e-1d2f3a4b5c6d',
  PATCHFLOW_OIDC_ROLE_MAP: 'Patchflow.Approver=approver;Patchflow.Admin=admin+coordinator',
};

function refusal(env: NodeJS.ProcessEnv): InputError {
  try {
    loadSettings(env);
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('settings were accepted');
}

describe('OpenID provider settings', () => {
  it('reads the provider from PATCHFLOW_OIDC_*, role maps written as claim=role+role;…', () => {
    const { oidc } = loadSettings({ ...base, PATCHFLOW_OIDC_ROLES_CLAIM: 'roles' });
    expect(oidc).toMatchObject({
      rolesClaim: 'roles',
      userClaim: 'preferred_username',
      roleMap: { 'Patchflow.Approver': ['approver'], 'Patchflow.Admin': ['admin', 'coordinator'] },
      groupMap: {},
    });
    expect(loadSettings({}).oidc).toBeUndefined();
    expect(loadSettings({ ...base, PATCHFLOW_OIDC_ROLE_MAP: '{"cab":["approver"]}' }).oidc?.roleMap).toEqual({
      cab: ['approver'],
    });
  });

  it('refuses a bad issuer, a missing client id and an unknown role, naming the field', () => {
    expect(refusal({ ...base, PATCHFLOW_OIDC_ISSUER: 'login.example.com' }).details).toContainEqual(
      expect.objectContaining({ path: ['oidc', 'issuer'] }),
    );
    expect(refusal({ ...base, PATCHFLOW_OIDC_CLIENT_ID: undefined }).details).toContainEqual(
      expect.objectContaining({ path: ['oidc', 'clientId'] }),
    );
    expect(refusal({ ...base, PATCHFLOW_OIDC_ROLE_MAP: 'cab=superuser' }).details).toContainEqual(
      expect.objectContaining({ path: ['oidc', 'roleMap', 'cab', 0] }),
    );
  });

  it('maps claims to one user with every role and group their claim values grant', () => {
    const settings = loadSettings({
      ...base,
      PATCHFLOW_OIDC_ROLES_CLAIM: 'roles',
      PATCHFLOW_OIDC_GROUP_MAP: 'Patchflow.Approver=cab',
    }).oidc!;
    expect(
      identityFromClaims(settings, {
        preferred_username: 'dana@example.com',
        name: 'Dana',
        roles: ['Patchflow.Approver', 'Patchflow.Admin', 'Other'],
      }),
    ).toEqual({
      userId: 'dana@example.com',
      displayName: 'Dana',
      roles: ['admin', 'approver', 'coordinator'],
      groups: ['cab'],
      claimValues: ['Patchflow.Approver', 'Patchflow.Admin', 'Other'],
    });
    expect(() => identityFromClaims(settings, { roles: ['Patchflow.Admin'] })).toThrow(
      /no "preferred_username" claim to name the user/,
    );
  });
});
