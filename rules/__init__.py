"""Policy: department, escalation, refund eligibility and handling plan, as declarative durable-rules."""
