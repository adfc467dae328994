"""One router per resource: runs, datasets, releases, users and tokens, audit."""
