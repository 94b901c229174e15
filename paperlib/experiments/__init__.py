"""One module per experiment, each declaring ``SPEC`` (an ``experiments.spec.Experiment``) and its claim checks
``check_<ID>``; ``paperlib.registry`` discovers them. Shared helpers live in ``common`` and ``info_losses``."""
