"""``python -m carehub.cli``: the same as the ``carehub`` console script."""

from carehub.cli import main

main()
