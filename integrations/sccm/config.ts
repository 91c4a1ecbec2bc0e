import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

/** A ConfigMgr object ID: the site code and five hex digits, e.g. PS100012 (collections, packages). */
const objectId = (what: string) => z.string().regex(/^[A-Z0-9]{3}[0-9A-F]{5}$/, `${what} such as PS100012`);

/** Package sources are read by the site server, so they are shares, never local paths. */
const uncPath = z.string().regex(/^\\\\[^\\/]+\\[^\\/]+/, 'a UNC path such as \\\\fs01\\sources\\updates');

/**
 * Where clients get the updates' files: a software updates deployment package
 * (SMS_SoftwareUpdatesPackage) on distribution points. A required deployment whose content is on
 * no distribution point only leaves clients "waiting for content" (state 402/2), so deploying
 * waits for the distribution first.
 */
const packageSchema = z
  .object({
    /** An existing package that holds (or is to hold) the updates' content, e.g. the one an ADR downloads into. */
    packageId: objectId('a package ID').optional(),
    /** Or the source share of a package Patchflow creates, named `<namePrefix> software updates`. */
    sourcePath: uncPath.optional(),
    /**
     * A share where the updates' files are already downloaded, one folder per content ID
     * (SMS_CIToContent.ContentID), e.g. `\\fs01\staging\16777530\windows10.0-kb5031356-x64.msu`.
     * Patchflow adds what the package lacks from there (AddUpdateContent); without it, content
     * missing from the package is an error. The AdminService cannot download from Microsoft Update.
     */
    contentSourcePath: uncPath.optional(),
    /** Distribution point groups the package must be on; their members get it if they do not have it yet. */
    distributionPointGroups: z.array(z.string().trim().min(1)).default([]),
  })
  .superRefine((p, ctx) => {
    if (!p.packageId === !p.sourcePath)
      ctx.addIssue({
        code: 'custom',
        path: ['packageId'],
        message:
          'set either packageId (an existing software updates package) or sourcePath (the share of a package Patchflow creates)',
      });
    if (p.sourcePath && p.distributionPointGroups.length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['distributionPointGroups'],
        message:
          'a package Patchflow creates is on no distribution point until you name the groups to distribute it to',
      });
    if (p.sourcePath && !p.contentSourcePath)
      ctx.addIssue({
        code: 'custom',
        path: ['contentSourcePath'],
        message: 'a package Patchflow creates starts empty; name the share its content is added from',
      });
  });

export const sccmConfigSchema = z
  .object({
    /** The administration service, e.g. `https://cm01.corp.example/AdminService`; it listens on HTTPS only. */
    url: z.url({ protocol: /^https?$/ }),
    /**
     * How requests authenticate. The SMS Provider speaks Windows integrated auth (Negotiate:
     * Kerberos, NTLM); `basic` needs a front that accepts Basic (a reverse proxy doing the Windows
     * auth) and is refused over http://, where it would send the password in clear.
     */
    auth: z.enum(['basic']).default('basic'),
    /** `CORP\svc-patchflow` or `svc-patchflow@corp.example`. */
    username: z.string().min(1),
    password: secret(),
    /**
     * A PEM file of CA certificates to trust besides the system's. Since version 2002 the
     * AdminService presents the site's self-signed certificate (issued by "SMS Issuing") unless a
     * PKI certificate is bound to port 443; export that root and name it here.
     */
    caFile: z.string().min(1).optional(),
    /** The device collection each ring deploys to, e.g. `{ "ring1": "PS100012" }`; targets outside it are skipped. */
    collections: z.record(z.string().min(1), objectId('a collection ID')),
    package: packageSchema,
    /** Prefix of the software update groups, packages and deployments Patchflow creates, so that they are recognisable and reused. */
    namePrefix: z.string().min(1).default('Patchflow'),
    pollInterval: durationSchema.default(d('60s')),
    maxPollInterval: durationSchema.default(d('10m')),
    /** How long the package may take to reach its distribution points before deploying gives up. */
    distributionTimeout: durationSchema.default(d('2h')),
    /** Devices install at their next evaluation cycle; those not done after this are reported failed. */
    installTimeout: durationSchema.default(d('8h')),
    requestTimeout: durationSchema.default(d('60s')),
  })
  .superRefine((c, ctx) => {
    if (c.auth === 'basic' && new URL(c.url).protocol === 'http:')
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message:
          'Basic auth over http:// sends the password in clear; use the https:// address (the AdminService listens on HTTPS only)',
      });
  });
export type SccmConfig = z.infer<typeof sccmConfigSchema>;
export type SccmPackageConfig = SccmConfig['package'];
