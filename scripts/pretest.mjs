// Prepares what `npm test` can prepare by itself (the Temporal CLI) and stops with the one
// command that installs anything it cannot (ansible-core, chromium, openssh-server, a running PostgreSQL).
import { existsSync } from 'node:fs';
import { register } from 'tsx/esm/api';

register();
const { resolveTemporalCli, which } = await import('../runtime/temporal-cli.ts');
const { resolveVcsim } = await import('../test/helpers/vcsim.ts');
const pg = (await import('pg')).default;

const problems = [];
try {
  const cli = resolveTemporalCli({ build: true, log: (l) => console.error(`pretest: ${l}`) });
  console.error(`pretest: Temporal CLI ${cli}`);
} catch (err) {
  problems.push(err.message);
}
try {
  console.error(`pretest: vcsim ${resolveVcsim({ build: true, log: (l) => console.error(`pretest: ${l}`) })}`);
} catch (err) {
  problems.push(err.message);
}
if (!which('ansible-playbook'))
  problems.push('ansible-playbook is missing; install it with: apt-get install -y ansible-core');
if (!which('chromium')) problems.push('chromium is missing (page tests); install it with: apt-get install -y chromium');
if (!existsSync('/usr/sbin/sshd'))
  problems.push('sshd is missing (Ansible over SSH tests); install it with: apt-get install -y openssh-server');
const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const client = new pg.Client({ connectionString: url });
try {
  await client.connect();
  await client.end();
} catch (err) {
  problems.push(databaseProblem(url, err));
}
/**
 * A server that answered but refused the credentials is not a server that is down: the first
 * wants TEST_DATABASE_URL with a user and password, the second wants PostgreSQL started.
 */
function databaseProblem(url, err) {
  // 28P01 wrong password, 28000 no pg_hba.conf entry; pg says "password must be a string" when the server asks for one and none was given.
  const refusedCredentials =
    err.code === '28P01' ||
    err.code === '28000' ||
    /password must be a string|password authentication failed|SCRAM/i.test(err.message);
  if (refusedCredentials) {
    return `PostgreSQL at ${url} refused the credentials (${err.message}); set TEST_DATABASE_URL to a role that may create databases, e.g. TEST_DATABASE_URL=postgres://patchflow:secret@127.0.0.1:5432/postgres npm test`;
  }
  return `PostgreSQL is not reachable at ${url} (${err.message}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or set TEST_DATABASE_URL`;
}

if (problems.length) {
  for (const p of problems) console.error(`pretest: ${p}`);
  process.exit(1);
}
