"""The day-0 bootstrap of one environment project: state backend, CI identities, GitHub trust."""
