"""The public surface: what each package promises in ``__all__`` is really there."""

import importlib

import pytest


@pytest.mark.parametrize("module", ["ledgerlake", "ledgerlake.client", "ledgerlake.network"])
def test_everything_in_all_is_importable(module):
    mod = importlib.import_module(module)
    missing = [name for name in mod.__all__ if not hasattr(mod, name)]
    assert not missing
    assert len(set(mod.__all__)) == len(mod.__all__)


def test_errors_form_one_tree():
    from ledgerlake import errors
    classes = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, Exception) and c.__module__ == errors.__name__]
    assert all(issubclass(c, errors.LedgerlakeError) for c in classes)
