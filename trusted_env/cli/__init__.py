"""The `tre` command line: researcher commands, dummy data, and trusted-environment admin."""
