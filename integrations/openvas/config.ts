import { z } from 'zod';
import { secret } from '../contract/connector.ts';
import { durationSchema } from '../../kernel/duration.ts';

const d = (text: string) => durationSchema.parse(text);

/** gvmd's object ids: UUID-shaped, though not every built-in one is a valid RFC 9562 UUID. */
const gmpId = (what: string) => z.guid(`the UUID of ${what}`);

/** A flag from a config file (true/false) or an environment variable ("true", "false", "1", "0"). */
const flag = z.union([z.boolean(), z.stringbool()]);

/** gvmd's predefined alive-test selections (GMP `alive_tests` text, accepted by every gvmd from 20.08 on). */
export const aliveTests = [
  'Scan Config Default',
  'ICMP Ping',
  'TCP-ACK Service Ping',
  'TCP-SYN Service Ping',
  'ARP Ping',
  'ICMP & TCP-ACK Service Ping',
  'ICMP & ARP Ping',
  'TCP-ACK Service & ARP Ping',
  'ICMP, TCP-ACK Service & ARP Ping',
  'Consider Alive',
] as const;

/** Built-in gvmd objects a fresh Greenbone Community Edition install has. */
export const gmpDefaults = {
  /** Port list "All IANA assigned TCP". */
  portListId: '33d0cd82-57c6-11e1-8ed1-406186ea4fc5',
  /** Scan config "Full and fast". */
  scanConfigId: 'daba56c8-73ec-11df-a475-002264764cea',
  /** Scanner "OpenVAS Default". */
  scannerId: '08b69003-5fc2-4037-a479-93b440211c73',
} as const;

export const openvasConfigSchema = z
  .object({
    /** gvmd's unix socket on this host, e.g. `/run/gvmd/gvmd.sock`; Patchflow's user must be in its group. */
    socketPath: z.string().min(1).optional(),
    /** …or gvmd's TLS listener (`gvmd --listen=<address> --port=9390`). */
    host: z.string().min(1).optional(),
    port: z.coerce.number().int().min(1).max(65535).default(9390),
    /** PEM file of the CA that signed gvmd's certificate (gvm-manage-certs makes a private one); unset uses the system CAs. */
    caFile: z.string().min(1).optional(),
    /** Refusing an unverified gvmd certificate is the default; `false` accepts any certificate (test setups only). */
    rejectUnauthorized: flag.default(true),
    /** The name gvmd's certificate holds, when it differs from `host` (e.g. an IP address with a certificate for a name). */
    serverName: z.string().min(1).optional(),
    /** A client certificate and key (PEM), for a gvmd that asks for one. */
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    /** A gvmd user that may create targets and tasks, start and stop them, read their reports and delete them. */
    username: z.string().min(1),
    password: secret(),
    portListId: gmpId('a port list').default(gmpDefaults.portListId),
    scanConfigId: gmpId('a scan config').default(gmpDefaults.scanConfigId),
    scannerId: gmpId('a scanner').default(gmpDefaults.scannerId),
    aliveTest: z.enum(aliveTests).default('Scan Config Default'),
    /**
     * The result filter of `get_reports`. `c` (critical) is listed besides `hmlg`: gvmd 23 and later
     * keep results of 9.0 and above in a level of their own, which `levels=hmlg` would drop; older
     * gvmd ignores the letter and counts them as high.
     */
    reportFilter: z.string().min(1).default('apply_overrides=0 levels=chmlg rows=-1 min_qod=70 first=1'),
    /** A report larger than this is refused rather than downloaded; it is spooled to disk, so this bounds disk and time. */
    maxReportBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(4 * 1024 ** 3),
    pollInterval: durationSchema.default(d('10s')),
    /** A scan still running after this is stopped and deleted, and the scan fails. */
    scanTimeout: durationSchema.default(d('4h')),
    /** How long one GMP command may wait for gvmd to connect or to send the next bytes of its answer. */
    requestTimeout: durationSchema.default(d('60s')),
  })
  .superRefine((c, ctx) => {
    if (c.socketPath && c.host)
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message: "set either socketPath (gvmd's unix socket) or host (gvmd's TLS port), not both",
      });
    else if (!c.socketPath && !c.host)
      ctx.addIssue({
        code: 'custom',
        path: ['socketPath'],
        message:
          "set socketPath to gvmd's unix socket (OPENVAS_SOCKET_PATH, e.g. /run/gvmd/gvmd.sock) or host to its TLS listener (OPENVAS_HOST)",
      });
    if (c.socketPath)
      for (const key of ['caFile', 'serverName', 'certFile', 'keyFile'] as const)
        if (c[key])
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `${key} is a TLS setting and applies only with host; the unix socket is not TLS`,
          });
    if (!c.certFile !== !c.keyFile)
      ctx.addIssue({
        code: 'custom',
        path: [c.certFile ? 'keyFile' : 'certFile'],
        message: 'a client certificate needs both certFile and keyFile',
      });
  });
export type OpenvasConfig = z.infer<typeof openvasConfigSchema>;
