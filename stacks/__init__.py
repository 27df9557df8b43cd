"""Settings, validation, the instance-type catalog and the sizing planner: everything decided before the cloud."""
