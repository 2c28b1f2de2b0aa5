// What the browser tests share: Debian's Chromium driven by playwright-core (no browser
// download), cases that record their failure with a screenshot, and the page's own controls.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const state = { browser: null, page: null, shots: "", cases: [], pageErrors: [], step: 0 };

/** Opens a page on the demo; `args` are the script's <demo URL> <screenshot dir>. */
export async function open(args, usage) {
  const [url, shots] = args;
  if (!url || !shots) {
    console.error(`usage: node ${usage} <demo URL> <screenshot dir>`);
    process.exit(2);
  }
  mkdirSync(shots, { recursive: true });
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  // As root Chromium needs --no-sandbox; without the background-networking flags it tries to
  // reach Google's hosts, which this network refuses.
  const browser = await chromium.launch({
    executablePath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => state.pageErrors.push(String(e)));
  // A refused sign-in or token is an HTTP error the page shows; the browser logs those too.
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && state.pageErrors.push(m.text()));
  Object.assign(state, { browser, page, shots, url });
  return { browser, page, url, shots, pageErrors: state.pageErrors };
}

export async function shot(name) {
  state.step += 1;
  const file = join(state.shots, `${String(state.step).padStart(2, "0")}-${name}.png`);
  await state.page.screenshot({ path: file, fullPage: true });
  return file;
}

export async function check(name, fn) {
  try {
    await fn();
    state.cases.push({ name, ok: true });
  } catch (e) {
    state.cases.push({ name, ok: false, detail: String(e?.message ?? e).slice(0, 800) });
    await shot(`failed-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 40)}`).catch(() => {});
  }
}

export function expect(cond, message) {
  if (!cond) throw new Error(message);
}

export async function choose(page, testid, option) {
  await page.locator(`[data-testid="${testid}"] button`).first().click();
  await page.getByRole("option", { name: option }).first().click();
}

/** The answer shown in `root` once it is done, and the sources panel beside it. */
export async function answerOf(root) {
  const answer = root.locator('[data-testid="answer"]');
  await answer.and(root.locator('[data-status="done"], [data-status="error"]')).first().waitFor({ timeout: 60_000 });
  expect((await answer.getAttribute("data-status")) === "done", `no answer: ${await root.innerText()}`);
  return { text: await answer.innerText(), sources: await root.locator('[data-testid="sources"]').innerText() };
}

/** Closes the browser, writes report.json, prints the report and exits 1 if a case failed. */
export async function finish(firstLoadMs, extra = {}) {
  await state.browser.close();
  const { cases, shots } = state;
  const report = { cases, passed: cases.filter((c) => c.ok).length, failed: cases.filter((c) => !c.ok).length, first_load_ms: firstLoadMs, ...extra, screenshots: shots };
  writeFileSync(join(shots, "report.json"), JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report));
  process.exit(report.failed === 0 ? 0 : 1);
}

/** Signs `user` in to `agent` (its title in the agent list) with the demo's own sign-in. */
export async function signInAs(page, agent, user) {
  await choose(page, "agent", agent);
  await choose(page, "demo-user", user);
  await page.locator('[data-testid="sign-in"]').click();
  await page.locator('[data-testid="identity"]').waitFor({ timeout: 30_000 });
}

/** Types `question` into the prompt, sends it with Enter, and waits for the whole answer. */
export async function askWithKeyboard(page, question) {
  const input = page.locator('[data-testid="prompt"] input');
  await input.fill(question);
  await input.press("Enter");
  return answerOf(page.locator("body"));
}
