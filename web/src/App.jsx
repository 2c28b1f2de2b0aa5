import { useEffect, useState } from "react";
import Alert from "@cloudscape-design/components/alert";
import Box from "@cloudscape-design/components/box";
import Button from "@cloudscape-design/components/button";
import ColumnLayout from "@cloudscape-design/components/column-layout";
import Container from "@cloudscape-design/components/container";
import ContentLayout from "@cloudscape-design/components/content-layout";
import ExpandableSection from "@cloudscape-design/components/expandable-section";
import FormField from "@cloudscape-design/components/form-field";
import Grid from "@cloudscape-design/components/grid";
import Header from "@cloudscape-design/components/header";
import Input from "@cloudscape-design/components/input";
import KeyValuePairs from "@cloudscape-design/components/key-value-pairs";
import Select from "@cloudscape-design/components/select";
import SpaceBetween from "@cloudscape-design/components/space-between";
import Spinner from "@cloudscape-design/components/spinner";
import StatusIndicator from "@cloudscape-design/components/status-indicator";
import Tabs from "@cloudscape-design/components/tabs";
import Markdown from "react-markdown";
import { ask, DemoError, listAgents, scope, signIn, splitSources } from "./api.js";

/** Links in an answer: web addresses only (no javascript:, data: or relative ones), opened apart. */
function safeUrl(url) {
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : "";
  } catch {
    return "";
  }
}

/** An answer's markdown as chat pages show it: headings, emphasis, lists, code; any HTML in it
 * stays text (react-markdown renders none without a raw-HTML plugin), links only to web addresses. */
function AnswerText({ text }) {
  return (
    <Markdown
      urlTransform={safeUrl}
      components={{
        a: ({ href, children }) =>
          href ? (
            <a href={href} target="_blank" rel="noopener noreferrer nofollow">
              {children}
            </a>
          ) : (
            <span>{children}</span>
          ),
        img: ({ alt }) => <span>{alt}</span>,
        // A paragraph keeps its line breaks (the claims agent answers a claim per line).
        p: ({ children }) => <p style={{ whiteSpace: "pre-wrap", margin: "0 0 0.6em" }}>{children}</p>,
      }}
    >
      {text}
    </Markdown>
  );
}

const TITLES = {
  wrong_credentials: "Sign-in failed",
  expired: "Session expired",
  refused: "Token refused",
  busy: "Agent busy",
  resuming: "Database resuming",
  unreachable: "Agent starting",
  offline: "Demo server unreachable",
};

function ErrorAlert({ error, testid }) {
  if (!error) return null;
  return (
    <div data-testid={testid}>
      <Alert type="error" header={TITLES[error.code] ?? "Something went wrong"}>
        {error.message}
      </Alert>
    </div>
  );
}

function asError(e) {
  return e instanceof DemoError ? e : new DemoError("http", String(e?.message ?? e));
}

/** Who is signed in, as the token says. */
function Identity({ agent, session }) {
  const s = scope(agent, session.identity);
  return (
    <div data-testid="identity">
      <KeyValuePairs
        columns={3}
        items={[
          { label: "Signed in as", value: session.identity.username },
          { label: s.label, value: <span data-testid="scope">{s.value}</span> },
          {
            label: "Access token expires",
            value: new Date(session.expiresAt * 1000).toLocaleTimeString(),
          },
        ]}
      />
    </div>
  );
}

/** The answer as it streams, and beside it the sources the agent's code reported. */
function AnswerView({ state }) {
  if (state.status === "idle") return null;
  const { body, sources } = splitSources(state.text);
  const status = {
    starting: <StatusIndicator type="loading">Starting the agent… a cold start can take several seconds</StatusIndicator>,
    streaming: <StatusIndicator type="loading">Answering</StatusIndicator>,
    done: <StatusIndicator type="success">Answered</StatusIndicator>,
    error: <StatusIndicator type="error">No answer</StatusIndicator>,
  }[state.status];
  return (
    <Grid gridDefinition={[{ colspan: { default: 12, m: 7 } }, { colspan: { default: 12, m: 5 } }]}>
      <Container header={<Header variant="h3" actions={status}>Answer</Header>}>
        <div data-testid="answer" data-status={state.status} style={{ overflowWrap: "anywhere" }}>
          {body ? <AnswerText text={body} /> : state.status === "error" ? "" : <Spinner />}
        </div>
      </Container>
      <Container header={<Header variant="h3" description="Written by the agent's code, not by the model">Sources</Header>}>
        <div data-testid="sources" style={{ overflowWrap: "anywhere" }}>
          {sources === null ? (
            <Box color="text-status-inactive">{state.status === "done" ? "The answer reported no sources." : "…"}</Box>
          ) : sources.length === 0 ? (
            <Box>none</Box>
          ) : (
            <ul style={{ margin: 0, paddingInlineStart: "1.2em" }}>
              {sources.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ul>
          )}
        </div>
      </Container>
    </Grid>
  );
}

/** Asks `session`'s agent and keeps the answer's state; clears the session if it was refused. */
function useAsk(setSession) {
  const [state, setState] = useState({ status: "idle", text: "" });
  const run = async (session, prompt) => {
    setState({ status: "starting", text: "" });
    try {
      const text = await ask(session, prompt, (t) => setState({ status: "streaming", text: t }));
      setState({ status: "done", text });
    } catch (e) {
      const error = asError(e);
      setState({ status: "error", text: "", error });
      // Signed out: the token expired or was refused, or the agent was deployed anew since.
      if (["expired", "refused", "not_deployed"].includes(error.code)) setSession(null);
    }
  };
  return [state, run, setState];
}

function SignIn({ agent, onSession, disabled }) {
  const options = agent.users.map((u) => ({ label: u, value: u }));
  const [user, setUser] = useState(options[0]);
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const go = async (username, pw) => {
    setBusy(true);
    setError(null);
    try {
      onSession(await signIn(agent.key, username, pw));
    } catch (e) {
      setError(asError(e));
    } finally {
      setBusy(false);
      setPassword("");
    }
  };
  return (
    <SpaceBetween size="m">
      <form onSubmit={(e) => { e.preventDefault(); go(user.value); }}>
        <SpaceBetween size="s" direction="horizontal" alignItems="end">
          <FormField label="Sign in as a demo user" description="Its generated password is read from the environment's secret, server-side.">
            <div data-testid="demo-user">
              <Select selectedOption={user} options={options} onChange={({ detail }) => setUser(detail.selectedOption)} ariaLabel="Demo user" />
            </div>
          </FormField>
          <Button variant="primary" loading={busy} disabled={disabled} data-testid="sign-in">Sign in</Button>
        </SpaceBetween>
      </form>
      <ExpandableSection headerText="Sign in with a username and password">
        <form onSubmit={(e) => { e.preventDefault(); go(name, password); }}>
          <SpaceBetween size="s" direction="horizontal" alignItems="end">
            <FormField label="Username">
              <Input value={name} onChange={({ detail }) => setName(detail.value)} autoComplete="username" data-testid="username" />
            </FormField>
            <FormField label="Password">
              <Input type="password" value={password} onChange={({ detail }) => setPassword(detail.value)} autoComplete="current-password" data-testid="password" />
            </FormField>
            <Button loading={busy} disabled={disabled || !name || !password} data-testid="sign-in-password">Sign in</Button>
          </SpaceBetween>
        </form>
      </ExpandableSection>
      <ErrorAlert error={error} testid="sign-in-error" />
    </SpaceBetween>
  );
}

function Chat({ agents }) {
  const [agentKey, setAgentKey] = useState(agents[0].key);
  const agent = agents.find((a) => a.key === agentKey);
  const [session, setSession] = useState(null);
  const [prompt, setPrompt] = useState(agent.examples[0]);
  const [state, run, setState] = useAsk(setSession);
  const choose = (key) => {
    const next = agents.find((a) => a.key === key);
    setAgentKey(key);
    setSession(null);
    setPrompt(next.examples[0]);
    setState({ status: "idle", text: "" });
  };
  const busy = state.status === "starting" || state.status === "streaming";
  return (
    <SpaceBetween size="l">
      <Container header={<Header variant="h2" description="Each agent has its own Cognito app client; its runtime accepts only that client's access tokens.">Agent</Header>}>
        <div data-testid="agent">
          <Select
            selectedOption={{ label: agent.title, value: agent.key }}
            options={agents.map((a) => ({ label: a.title, value: a.key, description: a.description }))}
            onChange={({ detail }) => choose(detail.selectedOption.value)}
            ariaLabel="Agent"
          />
        </div>
      </Container>
      <Container
        header={
          <Header variant="h2" actions={session && <Button onClick={() => { setSession(null); setState({ status: "idle", text: "" }); }} data-testid="sign-out">Sign out</Button>}>
            {session ? "Signed in" : "Sign in"}
          </Header>
        }
      >
        {session ? <Identity agent={agent} session={session} /> : <SignIn key={agent.key} agent={agent} onSession={(s) => { setSession(s); setState({ status: "idle", text: "" }); }} />}
      </Container>
      <ErrorAlert error={state.status === "error" ? state.error : null} testid="ask-error" />
      {session && (
        <Container header={<Header variant="h2">Ask</Header>}>
          <form onSubmit={(e) => { e.preventDefault(); if (prompt.trim() && !busy) run(session, prompt); }}>
            <SpaceBetween size="s">
              <FormField label="Question" stretch>
                <Input value={prompt} onChange={({ detail }) => setPrompt(detail.value)} data-testid="prompt" ariaLabel="Question" />
              </FormField>
              <SpaceBetween size="xs" direction="horizontal">
                <Button variant="primary" loading={busy} data-testid="ask">Ask</Button>
                {agent.examples.map((q) => (
                  <Button key={q} formAction="none" variant="inline-link" onClick={() => setPrompt(q)}>{q}</Button>
                ))}
              </SpaceBetween>
            </SpaceBetween>
          </form>
        </Container>
      )}
      <AnswerView state={state} />
    </SpaceBetween>
  );
}

/** One side of the comparison: a demo user, signed in for the question, and their answer. */
function Side({ agent, user, question, round }) {
  const [session, setSession] = useState(null);
  const [state, run, setState] = useAsk(setSession);
  useEffect(() => {
    if (!round) return;
    let live = true;
    (async () => {
      let s = session;
      if (!s || Date.now() / 1000 >= s.expiresAt) {
        setState({ status: "starting", text: "" });
        try {
          s = await signIn(agent.key, user);
        } catch (e) {
          if (live) setState({ status: "error", text: "", error: asError(e) });
          return;
        }
        if (!live) return;
        setSession(s);
      }
      await run(s, question);
    })();
    return () => { live = false; };
    // A new round asks again; nothing else does.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [round]);
  return (
    <div data-testid={`side-${user}`}>
      <SpaceBetween size="s">
        <Header variant="h3">{user}</Header>
        {session && <Identity agent={agent} session={session} />}
        <ErrorAlert error={state.status === "error" ? state.error : null} testid="side-error" />
        <AnswerView state={state} />
      </SpaceBetween>
    </div>
  );
}

function SideBySide({ agents }) {
  const [agentKey, setAgentKey] = useState(agents[0].key);
  const agent = agents.find((a) => a.key === agentKey);
  const [question, setQuestion] = useState(agent.examples[0]);
  const [asked, setAsked] = useState({ question: "", round: 0 });
  return (
    <SpaceBetween size="l">
      <Container header={<Header variant="h2" description="The same question, asked by two users at once: each gets only their own tier's or tenant's data.">Compare two users</Header>}>
        <form onSubmit={(e) => { e.preventDefault(); setAsked({ question, round: asked.round + 1 }); }}>
          <SpaceBetween size="s">
            <FormField label="Agent">
              <div data-testid="compare-agent">
                <Select
                  selectedOption={{ label: agent.title, value: agent.key }}
                  options={agents.map((a) => ({ label: a.title, value: a.key }))}
                  onChange={({ detail }) => {
                    const next = agents.find((a) => a.key === detail.selectedOption.value);
                    setAgentKey(next.key);
                    setQuestion(next.examples[0]);
                    setAsked({ question: "", round: 0 });
                  }}
                  ariaLabel="Agent to compare on"
                />
              </div>
            </FormField>
            <FormField label="Question" stretch>
              <Input value={question} onChange={({ detail }) => setQuestion(detail.value)} data-testid="compare-prompt" ariaLabel="Question for both users" />
            </FormField>
            <Button variant="primary" data-testid="ask-both">Ask both</Button>
          </SpaceBetween>
        </form>
      </Container>
      <ColumnLayout columns={2} variant="text-grid">
        {agent.users.slice(0, 2).map((u) => (
          <Side key={`${agent.key}-${u}`} agent={agent} user={u} question={asked.question} round={asked.round} />
        ))}
      </ColumnLayout>
    </SpaceBetween>
  );
}

export default function App() {
  const [config, setConfig] = useState(null);
  const [error, setError] = useState(null);
  const [tab, setTab] = useState("chat");
  useEffect(() => {
    listAgents().then(setConfig, (e) => setError(asError(e)));
  }, []);
  return (
    <Box padding="l">
      <ContentLayout
        header={
          <Header variant="h1" description="Cognito issues the token, AgentCore Runtime validates it, the agent takes the tier or tenant from the verified claims, and the data layer enforces it.">
            AgentCore multi-tenant demo
            {config && <Box variant="small" display="block">environment {config.env} on {config.target === "local" ? "the local cloud" : "AWS"}</Box>}
          </Header>
        }
      >
        <ErrorAlert error={error} testid="load-error" />
        {!config && !error && <StatusIndicator type="loading">Loading</StatusIndicator>}
        {config && config.agents.length === 0 && <Alert type="warning">No agent is deployed. Run {config.deploy_hint}.</Alert>}
        {config && config.agents.length > 0 && (
          <Tabs
            activeTabId={tab}
            onChange={({ detail }) => setTab(detail.activeTabId)}
            tabs={[
              { id: "chat", label: "Chat", content: <Chat agents={config.agents} /> },
              { id: "side-by-side", label: "Side by side", content: <SideBySide agents={config.agents} /> },
            ]}
          />
        )}
      </ContentLayout>
    </Box>
  );
}
