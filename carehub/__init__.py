"""The wiring: the composition root that builds a hub from its configuration (``carehub.app``),
the command line (``carehub.cli``) and the demo clinic (``carehub.demo``). The only package that
imports every other one; nothing imports it."""
