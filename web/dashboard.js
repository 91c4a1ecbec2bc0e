// The dashboard reads the same REST API as the CLI and refreshes itself. Every value is set with
// textContent, never as markup, so a cycle name or a scanner's text cannot become HTML.
const REFRESH_MS = 3000;
const $ = (selector) => document.querySelector(selector);
let selectedCycle = new URLSearchParams(location.search).get('cycle');

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function row(cells, className) {
  const tr = el('tr', undefined, className);
  for (const cell of cells) {
    const td = el('td');
    td.append(cell instanceof Node ? cell : document.createTextNode(cell ?? ''));
    tr.append(td);
  }
  return tr;
}

const chip = (value) => el('span', value.replaceAll('_', ' '), `chip ${value}`);

async function getJson(path) {
  const res = await fetch(path);
  // The session cookie is missing or no longer valid: sign in again.
  if (res.status === 401) location.assign('/login');
  const body = await res.json();
  if (!res.ok) throw new Error(body?.error?.message ?? `${path} answered ${res.status}`);
  return body;
}

async function renderWhoami() {
  const me = await getJson('/api/whoami');
  $('#whoami').textContent = `${me.userId} (${me.roles.join(', ')})`;
}

async function renderHealth() {
  try {
    const health = await fetch('/healthz').then((r) => r.json());
    $('#health').textContent = `database ${health.db} · Temporal ${health.temporal}`;
    const audit = await getJson('/api/audit/verify');
    $('#audit').textContent = audit.ok
      ? `audit trail intact (${audit.events} events)`
      : `AUDIT TRAIL BROKEN at event ${audit.brokenAt}`;
    $('#audit').classList.toggle('error', !audit.ok);
  } catch (err) {
    $('#health').textContent = `server unreachable: ${err.message}`;
  }
}

async function renderCycles() {
  const { cycles } = await getJson('/api/cycles');
  const awaiting = cycles.filter((c) => c.status === 'awaiting_approval').length;
  const inFlight = cycles.filter((c) => !c.terminal).length;
  $('#awaiting').textContent = [
    awaiting ? `${awaiting} awaiting approval` : '',
    inFlight ? `${inFlight} in flight` : '',
  ]
    .filter(Boolean)
    .join(' · ');
  $('#cycles').replaceChildren(
    ...(cycles.length
      ? cycles.map((c) => {
          const name = el('div');
          name.append(el('div', c.name), el('div', c.id, 'muted'));
          const tr = row(
            [name, chip(c.status), c.phase, c.requester, new Date(c.createdAt).toLocaleString()],
            `cycle${c.id === selectedCycle ? ' selected' : ''}`,
          );
          tr.dataset.cycleId = c.id;
          tr.addEventListener('click', () => {
            selectedCycle = c.id;
            history.replaceState(null, '', `?cycle=${encodeURIComponent(c.id)}`);
            void refresh();
          });
          return tr;
        })
      : [row([el('span', 'No cycles yet: npx patchflow cycle start --demo', 'muted')])]),
  );
}

async function renderDetail() {
  const box = $('#detail');
  if (!selectedCycle) {
    box.hidden = true;
    return;
  }
  const d = await getJson(`/api/cycles/${encodeURIComponent(selectedCycle)}`);
  const parts = [
    el('h2', d.cycle.name),
    el('p', `${d.cycle.id} · ${d.cycle.status.replaceAll('_', ' ')} · phase ${d.cycle.phase}`, 'muted'),
  ];
  if (typeof d.cycle.summary.reason === 'string') parts.push(el('p', d.cycle.summary.reason, 'error'));
  for (const a of d.approvals)
    parts.push(
      el(
        'p',
        `${a.by} ${a.decision === 'approve' ? 'approved' : 'rejected'} via ${a.channel}${a.reason ? `: ${a.reason}` : ''}`,
      ),
    );
  for (const ring of d.rings) {
    const table = el('table');
    const body = el('tbody');
    for (const h of ring.hosts) {
      const verified = h.verified === null ? '' : h.verified ? 'verified' : 'not verified';
      const tr = row([h.hostname, chip(h.status), `${h.attempts} attempt(s)`, verified, h.message]);
      tr.dataset.host = h.hostname;
      body.append(tr);
    }
    table.append(body);
    parts.push(el('h3', `Ring ${ring.ring}`), table);
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

async function renderFindings() {
  const { items } = await getJson('/api/findings/prioritized?limit=15');
  $('#findings').replaceChildren(
    ...(items.length
      ? items.map((f) => row([f.hostname, f.cveId || '—', chip(f.decision), el('span', f.explanation, 'muted')]))
      : [row([el('span', 'No open findings: npx patchflow demo seed, or import a scan', 'muted')])]),
  );
}

async function refresh() {
  await Promise.allSettled([renderHealth(), renderCycles(), renderDetail(), renderFindings()]);
  document.body.dataset.loaded = 'true';
}

await Promise.allSettled([renderWhoami(), refresh()]);
setInterval(refresh, REFRESH_MS);
