// Opens the GraphiQL playground in headless Chromium (Debian's, driven by playwright-core),
// types a query into its editor the way a person would, runs it, and prints the text of
// the result panel. With EMAIL and PASSWORD it first logs in the same way (a logIn
// mutation typed and run in the editor; the playground keeps the session). Always leaves
// a screenshot of the page at SCREENSHOT (when given).
//
//   node tests/clients/playground.mjs http://127.0.0.1:PORT/graphql '{ servers { nodes { hostname } } }' [SCREENSHOT [EMAIL PASSWORD]]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, query, screenshot, email, password] = process.argv.slice(2);
if (!url || !query) {
  console.error('usage: node playground.mjs URL QUERY [SCREENSHOT [EMAIL PASSWORD]]');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 30_000;

const profile = mkdtempSync(join(tmpdir(), 'maestro-chromium-'));
let context;
let page;
let failed = false;
const log = [];
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: TIMEOUT,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (message) => log.push(`console.${message.type()}: ${message.text()}`));
  let pageFailed;
  const pageError = new Promise((_, reject) => (pageFailed = reject));
  pageError.catch(() => {});
  page.on('pageerror', (error) => {
    log.push(`page error: ${error.message}`);
    pageFailed(new Error(`the page failed: ${error.message}`));
  });
  // Everything the page needs comes from the gateway itself; nothing may reach out.
  const origin = new URL(url).origin;
  await context.route('**/*', (route) => {
    if (new URL(route.request().url()).origin === origin) return route.continue();
    log.push(`blocked a request off the gateway: ${route.request().url()}`);
    return route.abort('blockedbyclient');
  });
  page.on('requestfailed', (request) => log.push(`request failed: ${request.url()} ${request.failure()?.errorText}`));

  const response = await page.goto(url, { waitUntil: 'load' });
  if (!response || response.status() !== 200) {
    throw new Error(`GET ${url} answered ${response?.status()}`);
  }
  // GraphiQL has rendered once its editor is there (with the default query in it).
  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await Promise.race([editor.waitFor({ state: 'visible' }), pageError]);
  await page.waitForFunction(() => document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.getValue().length > 0);

  const resultText = () =>
    page.evaluate(() => {
      const window = document.querySelector('.graphiql-response .result-window');
      return window?.querySelector('.CodeMirror')?.CodeMirror?.getValue() ?? window?.innerText ?? '';
    });
  // Types `text` into the editor as a person would (click into it, select all, type the
  // new one; insertText types it in one go, so that closing brackets and hints do not
  // interfere), runs it, and returns the answer once the result panel shows a new one.
  async function run(text) {
    const before = await resultText();
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(text);
    const typed = await page.evaluate(() => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue());
    if (typed !== text) {
      throw new Error(`the editor holds ${JSON.stringify(typed)} instead of the text typed`);
    }
    await page.locator('.graphiql-execute-button').click();
    // The response editor fills in once the answer arrived.
    await page.waitForFunction((previous) => {
      const window = document.querySelector('.graphiql-response .result-window');
      const shown = window?.querySelector('.CodeMirror')?.CodeMirror?.getValue() ?? window?.innerText ?? '';
      return shown !== previous && /"(data|errors)"/.test(shown);
    }, before);
    await page.locator('.graphiql-response .result-window').waitFor({ state: 'visible' });
    return (await resultText()).trim();
  }

  if (email) {
    const answer = await run(`mutation { logIn(email: ${JSON.stringify(email)}, password: ${JSON.stringify(password ?? '')}) { token me { email } } }`);
    if (!/"token"/.test(answer)) throw new Error(`logging in failed: ${answer}`);
    const kept = await page.evaluate(() => window.localStorage.getItem('maestro.session'));
    if (!kept) throw new Error('the playground did not keep the session token');
  }
  process.stdout.write((await run(query)) + '\n');
} catch (error) {
  failed = true;
  console.error(`playground.mjs: ${error?.stack ?? error}`);
  for (const line of log) console.error(line);
} finally {
  if (page && screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true }).catch((error) => console.error(`no screenshot: ${error}`));
  }
  await context?.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
