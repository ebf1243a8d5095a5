"""Where triage and rules meet the outside world: the decision pipeline, CLI, HTTP API and batch jobs."""
