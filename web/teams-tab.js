// The Patchflow tab in Teams: pending approvals and running cycles for the signed-in person.
// Teams SSO gives the page a token for that person; the server checks it and the person's role,
// so the page itself holds no secret and shows only what the server returns.
const teams = window.microsoftTeams;
const REFRESH_MS = 15_000;
const $ = (selector) => document.querySelector(selector);

function element(tag, text, className) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

function renderCard(card) {
  const box = element('article', undefined, `card tone-${card.tone}`);
  box.dataset.cycleId = card.cycleId;
  box.append(element('h3', card.title));
  if (card.emergency) box.append(element('p', card.emergency, 'emergency'));
  box.append(element('p', card.status, 'status'));
  const facts = element('dl');
  for (const fact of card.facts) facts.append(element('dt', fact.label), element('dd', fact.value));
  box.append(facts);
  for (const [title, lines] of [
    ['Decisions', card.decisions],
    ['Progress', card.progress],
  ]) {
    if (lines.length === 0) continue;
    const list = element('ul');
    for (const line of lines) list.append(element('li', line));
    box.append(element('h4', title), list);
  }
  return box;
}

function renderList(target, cards, empty) {
  target.replaceChildren(...(cards.length ? cards.map(renderCard) : [element('p', empty)]));
}

function showStatus(text, isError = false) {
  $('#status').textContent = text;
  $('#status').classList.toggle('error', isError);
}

async function refresh() {
  const token = await teams.authentication.getAuthToken();
  const res = await fetch('data', { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  if (!res.ok) return showStatus(body.error?.message ?? `the server answered ${res.status}`, true);
  if (body.refused) return showStatus(body.refused, true);
  renderList($('#pending'), body.pending, 'Nothing waits for the CAB.');
  renderList($('#running'), body.running, 'No cycle is running.');
  showStatus(`Updated ${new Date().toLocaleTimeString()}`);
}

async function main() {
  const { validOrigins } = await (await fetch('config')).json();
  await teams.app.initialize(validOrigins);
  const context = await teams.app.getContext();
  document.body.dataset.theme = context.app.theme;
  $('#who').textContent = context.user?.userPrincipalName ?? '';
  await refresh();
  teams.app.notifySuccess();
  setInterval(() => refresh().catch((err) => showStatus(err.message, true)), REFRESH_MS);
}

main().catch((err) => showStatus(`Patchflow could not load: ${err.message}`, true));
