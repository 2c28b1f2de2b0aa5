// Tutorial 4's view of the demo in a real browser (`cargo xtask demo --tutorial 4`): the tools
// agent answers from the gateway's tools for the signed-in broker's tenant only, recalls what was
// asked in the same sign-in and nothing of another broker's, and the policy engine's refusal
// reaches the page. Usage: node tests/browser-tools.mjs <demo URL> <screenshot dir> <marker>.
// Prints one JSON object on stdout; exit code 1 if any case failed.
import { askWithKeyboard, check, expect, finish, open, shot, signInAs as signIn } from "./harness.mjs";

const { page, url, pageErrors } = await open(process.argv.slice(2), "tests/browser-tools.mjs");
const marker = process.argv[4] ?? `browser-memory-${Date.now()}`;
const AGENT = "Tools agent (tutorial 4)";

const signInAs = (user) => signIn(page, AGENT, user);
const ask = (question) => askWithKeyboard(page, question);

const started = Date.now();
await page.goto(url);
await page.locator('[data-testid="sign-in"]').waitFor();
const firstLoadMs = Date.now() - started;

await check("mike-broker-a signs in to the tools agent and sees broker-a as his tenant", async () => {
  await signInAs("mike-broker-a");
  const scope = (await page.locator('[data-testid="scope"]').innerText()).trim();
  expect(scope === "broker-a", `scope on screen: ${scope}`);
});
await check("mike's claims come through the gateway's tools, only broker-a's", async () => {
  const got = await ask(`Show me all claims, reference ${marker}`);
  for (const w of ["CLM-A-001", "CLM-A-002"]) expect(got.text.includes(w), `no ${w}: ${got.text.slice(0, 300)}`);
  expect(!got.text.includes("CLM-B") && !got.text.includes("David Wilson"), `another tenant's claim: ${got.text.slice(0, 300)}`);
  expect(/AgentCore Gateway, tenant broker-a/.test(got.sources), `sources: ${got.sources}`);
  await shot("tools-mike-claims");
});
await check("in the same sign-in mike's agent recalls what he asked", async () => {
  const got = await ask("What did I ask before?");
  expect(got.text.includes(marker), `not recalled: ${got.text.slice(0, 300)}`);
  expect(/memory, tenant broker-a/.test(got.sources), `sources: ${got.sources}`);
  await shot("tools-mike-recall");
});
await check("a claim above the threshold is refused by the policy engine, and the page says so", async () => {
  const got = await ask("File a home claim of 20000 USD for Mallory");
  expect(got.text.includes("Tool call not allowed due to policy enforcement"), `not the policy engine's refusal: ${got.text.slice(0, 400)}`);
  await shot("tools-mike-refused");
});
await check("emma-broker-b, signed in after mike in the same browser, recalls nothing of his", async () => {
  await page.locator('[data-testid="sign-out"]').click();
  await signInAs("emma-broker-b");
  const got = await ask("What did I ask before?");
  expect(!got.text.includes(marker) && !got.sources.includes(marker), `mike's words reached emma: ${got.text.slice(0, 300)}`);
  expect(/memory, tenant broker-b/.test(got.sources), `recall did not run for broker-b: ${got.sources}`);
  await shot("tools-emma-recall");
});
await check("no script error on the page", async () => {
  expect(pageErrors.length === 0, pageErrors.join("\n"));
});

await finish(firstLoadMs);
