"""The Jinja templates of the Markdown reports, installed as aprqa_action.templates; `--templates DIR`
(action input `templates`) replaces any of them, or a partial, with a file of the same name (docs/templates.md)."""
