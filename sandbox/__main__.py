"""``python -m sandbox bamboo|bhn --port N``: run a provider sandbox until SIGTERM or SIGINT."""

from sandbox.cli import main

raise SystemExit(main())
