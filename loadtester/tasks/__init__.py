"""Tasks Flagger asks for through `POST /`: shell commands, tools, Concord, nGrinder, load."""
