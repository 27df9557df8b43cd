"""Pure rendering: settings + plan → Helm values, user data, rules, dashboards, names, the bundle of objects."""
