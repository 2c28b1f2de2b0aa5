// The demo server's API. Tokens are kept by the caller, in memory only: never in storage, never
// in a URL. A password goes in a POST body to the server, which sends it to Cognito.

export class DemoError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

async function problem(response) {
  try {
    const body = await response.json();
    return new DemoError(body.error ?? "http", body.message ?? `HTTP ${response.status}`);
  } catch {
    return new DemoError("http", `The demo server answered HTTP ${response.status}.`);
  }
}

export async function listAgents() {
  const r = await fetch("/api/agents");
  if (!r.ok) throw await problem(r);
  return r.json();
}

/** Signs in; `password` undefined signs in a listed demo user (password read server-side). */
export async function signIn(agent, username, password) {
  let r;
  try {
    r = await fetch("/api/sign-in", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(password === undefined ? { agent, username } : { agent, username, password }),
    });
  } catch {
    throw new DemoError("offline", "The demo server cannot be reached. Is `cargo xtask demo` still running?");
  }
  if (!r.ok) throw await problem(r);
  const s = await r.json();
  return { agent, token: s.access_token, expiresAt: s.expires_at, identity: s.identity };
}

export function expired(session) {
  return !session || Date.now() / 1000 >= session.expiresAt;
}

/** Asks the session's agent; `onText` sees the answer as it streams in. */
export async function ask(session, prompt, onText) {
  if (expired(session)) {
    throw new DemoError("expired", "Your session has expired. Sign in again.");
  }
  let r;
  try {
    r = await fetch("/api/invoke", {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.token}` },
      body: JSON.stringify({ agent: session.agent, prompt }),
    });
  } catch {
    throw new DemoError("offline", "The demo server cannot be reached. Is `cargo xtask demo` still running?");
  }
  if (!r.ok) throw await problem(r);
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let pending = "";
  let text = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += decoder.decode(value, { stream: true });
    let end;
    while ((end = pending.indexOf("\n")) >= 0) {
      const event = JSON.parse(pending.slice(0, end));
      pending = pending.slice(end + 1);
      if (event.type === "text") {
        text += event.text;
        onText(text);
      } else if (event.type === "error") {
        throw new DemoError(event.error, event.message);
      }
    }
  }
  return text;
}

/** The answer without its `Sources:` line, and that line's entries (written by the agent's code). */
export function splitSources(text) {
  const at = text.lastIndexOf("\nSources: ");
  if (at < 0) return { body: text, sources: null };
  const line = text.slice(at + "\nSources: ".length).trim();
  return {
    body: text.slice(0, at).trimEnd(),
    sources: line === "none" ? [] : line.split("; ").map((s) => s.trim()).filter(Boolean),
  };
}

/** What isolates this user, from the token: the tier group, or the tenant. */
export function scope(agent, identity) {
  if (agent.isolation === "tier") {
    const groups = identity.groups ?? [];
    return { label: "Tier (cognito:groups in the access token)", value: groups.join(", ") || "none" };
  }
  if (agent.tutorial === 4) {
    // The pool's pre token trigger copies custom:tenant_id into the access token's tenant_id,
    // which the gateway's policies compare with every tool call's tenant_id.
    return { label: "Tenant (tenant_id claim; the gateway's policies check each tool call)", value: identity.tenant ?? "unknown" };
  }
  return {
    label: "Tenant (Cognito attribute; the database maps your sub to it)",
    value: identity.tenant ?? "unknown",
  };
}
