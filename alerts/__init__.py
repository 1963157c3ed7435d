"""What the care team sees: Slack messages, threads and interactivity."""
