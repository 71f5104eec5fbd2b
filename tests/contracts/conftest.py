from tests.contracts.helpers import world

__all__ = ["world"]
