"""Code shared by the project's agents: who the caller is (from the token AgentCore Runtime has
already validated), which model answers, and the runtime entry point around both."""
