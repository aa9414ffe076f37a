"""Reading a user's YAML: every value keeps its file:line:col, so a mistake is shown where it is."""
