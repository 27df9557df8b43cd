"""Read-only reports over the plan and the bundle: cost, plan text, plan diff."""
