import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/browser.ts';
import { upsertUser } from '../../db/repositories/users.ts';
import { api, finished, inPhase, startDemoCycle, startStack, waitForCycle, type TestStack } from '../helpers/stack.ts';

describe('dashboard in headless Chromium', () => {
  let stack: TestStack;
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    stack = await startStack();
    await api(stack, 'POST', '/api/demo/seed');
    await upsertUser(stack.ctx.db, { id: 'victor', displayName: 'Victor (viewer)', roles: ['viewer'] });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  });

  it('sends a visitor without a session to sign in, refuses a wrong token, and signs in with a real one', async () => {
    await page.goto(stack.url);
    await page.waitForURL(`${stack.url}/login`);
    await page.fill('#token', 'pf_0000000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro');
    await page.click('button[type=submit]');
    await expect.poll(() => page.locator('#error').textContent()).toBe('unknown API token');
    await page.fill('#token', await stack.tokenFor('victor'));
    await page.click('button[type=submit]');
    await page.waitForURL(`${stack.url}/`);
    const [cookie] = await page.context().cookies();
    expect(cookie).toMatchObject({ name: 'patchflow_session', httpOnly: true, sameSite: 'Strict' });
    // The cookie reads; a write with it alone is refused, so another site cannot act through it.
    const write = await page.evaluate(async () => (await fetch('/api/demo/seed', { method: 'POST' })).status);
    expect(write).toBe(403);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('follows a cycle from awaiting approval to completed, host by host', async () => {
    const id = await startDemoCycle(stack, { name: 'November security updates' });
    await waitForCycle(stack, id, inPhase('approval'));
    await page.goto(stack.url);
    const cycleRow = page.locator(`tr[data-cycle-id="${id}"]`);
    await expect.poll(() => cycleRow.textContent()).toContain('awaiting approval');
    await expect.poll(() => page.locator('#awaiting').textContent()).toBe('1 awaiting approval · 1 in flight');
    expect(await page.locator('#audit').textContent()).toMatch(/^audit trail intact \(\d+ events\)$/);

    await cycleRow.click();
    await expect.poll(() => page.locator('#detail h2').textContent()).toBe('November security updates');
    expect(await page.locator('#detail tr[data-host="staging-01"]').textContent()).toContain('patched');

    await api(stack, 'POST', `/api/cycles/${id}/approve`, {}, 'alice');
    await waitForCycle(stack, id, finished);
    // The page refreshes itself; no reload.
    await expect.poll(() => cycleRow.textContent(), { timeout: 10_000 }).toContain('completed');
    // A completed cycle is terminal: nothing is left in flight.
    await expect.poll(() => page.locator('#awaiting').textContent(), { timeout: 10_000 }).toBe('');
    await expect
      .poll(() => page.locator('#detail tr[data-host="db-01"]').textContent(), { timeout: 10_000 })
      .toMatch(/patched.*verified/);
    expect(await page.locator('#detail').textContent()).toContain('alice approved via rest');
    await page.screenshot({ path: `${stack.dataDir}/dashboard.png`, fullPage: true });
  });

  it('lists what to patch first, with the reason', async () => {
    const first = page.locator('#findings tr').first();
    expect(await first.textContent()).toMatch(/web-01.*CVE-2021-44228.*Act.*KEV \(ransomware\)/);
  });

  it('shows hostile text as text: a cycle name cannot become markup', async () => {
    const id = await startDemoCycle(stack, { name: '<img src=x onerror="document.body.dataset.pwned=1">' });
    await page.goto(`${stack.url}/?cycle=${id}`);
    await expect
      .poll(() => page.locator('#detail h2').textContent())
      .toBe('<img src=x onerror="document.body.dataset.pwned=1">');
    expect(await page.locator('#detail img').count()).toBe(0);
    expect(await page.evaluate(() => document.body.dataset['pwned'])).toBeUndefined();
  });
});
