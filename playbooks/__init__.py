"""The shipped playbooks (models/, examples/) and their JSON Schema, installed as aprqa_action.playbooks so
`aprqa list` and `--model M --tier T` work from an installed package."""
